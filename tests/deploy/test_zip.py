"""The deployment zip: what Lambda unpacks into /var/task."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

MAX_ZIP_MB = 20  # Lambda allows 50 MB zipped / 250 MB unzipped; we stay far below


def names(package: Path) -> list[str]:
    with zipfile.ZipFile(package / "lambdagram.zip") as archive:
        return archive.namelist()


def test_it_holds_the_entry_the_library_and_the_pinned_dependencies(dev_package: Path) -> None:
    inside = set(names(dev_package))

    assert "handler.py" in inside
    for module in ("function", "app", "blueprint", "updates", "delivery", "fsm", "ssm"):
        assert f"lambdagram/{module}.py" in inside
    assert "bot/__init__.py" in inside
    for dependency in ("aiogram", "redis", "mangum", "aws_lambda_powertools", "pydantic_core"):
        assert any(name.startswith(f"{dependency}/") for name in inside), dependency


def test_it_leaves_out_what_lambda_does_not_run(dev_package: Path) -> None:
    inside = names(dev_package)

    for excluded in (
        "tests/",
        "bench/",
        "node_modules/",
        "lambdagram/local/",
        "lambdagram/tools/",
        "lambdagram/cli.py",
        "lambdagram/testing.py",
        "lambdagram/webhook_cli.py",
        "lambdagram/new_project.py",
        "lambdagram/project_template/",
        "infra/",
        "scripts/",
        ".venv/",
    ):
        assert not any(name.startswith(excluded) for name in inside), excluded

    assert not any(name.startswith(("boto3/", "botocore/")) for name in inside)


def test_the_compiled_dependencies_are_for_arm64(dev_package: Path) -> None:
    binaries = [n for n in names(dev_package) if n.endswith(".so")]

    assert binaries
    assert all("aarch64" in n or "cpython" not in n for n in binaries), binaries


def test_it_is_small(dev_package: Path) -> None:
    size_mb = (dev_package / "lambdagram.zip").stat().st_size / 1024 / 1024

    assert size_mb < MAX_ZIP_MB


def test_every_module_has_bytecode_a_read_only_task_root_can_use(dev_package: Path) -> None:
    # Lambda cannot write .pyc into /var/task; timestamp-checked ones never match the zip's
    # dates there, so each module would be compiled on every cold start (PEP 552 flags:
    # 0b01 = hash-based, source not checked).
    with zipfile.ZipFile(dev_package / "lambdagram.zip") as archive:
        inside = set(archive.namelist())
        sources = [n for n in inside if n.endswith(".py") and ".dist-info/" not in n]
        pycs = [n for n in inside if n.endswith(".pyc")]
        flags = {int.from_bytes(archive.read(n)[4:8], "little") for n in pycs}

    def cached(source: str) -> str:
        folder, _, module = source.rpartition("/")
        prefix = f"{folder}/" if folder else ""
        tag = sys.implementation.cache_tag  # the packaging Python's: the runtime's (cpython-312)
        return f"{prefix}__pycache__/{module[:-3]}.{tag}.pyc"

    assert len(sources) > 1000
    assert [s for s in sources if cached(s) not in inside] == []
    assert flags == {0b01}
