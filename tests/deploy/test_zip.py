"""The deployment zip: what Lambda unpacks into /var/task."""

from __future__ import annotations

import zipfile
from pathlib import Path

MAX_ZIP_MB = 20  # Lambda allows 50 MB zipped / 250 MB unzipped; we stay far below


def names(package: Path) -> list[str]:
    with zipfile.ZipFile(package / "lambdagram.zip") as archive:
        return archive.namelist()


def test_it_holds_the_entry_the_library_and_the_pinned_dependencies(dev_package: Path) -> None:
    inside = set(names(dev_package))

    assert "handler.py" in inside
    for module in ("app", "updates", "delivery", "fsm", "settings", "ssm", "routers/__init__"):
        assert f"bot/{module}.py" in inside
    for dependency in ("aiogram", "redis", "mangum", "aws_lambda_powertools", "pydantic_core"):
        assert any(name.startswith(f"{dependency}/") for name in inside), dependency


def test_it_leaves_out_what_lambda_does_not_run(dev_package: Path) -> None:
    inside = names(dev_package)

    for excluded in (
        "tests/",
        "bench/",
        "node_modules/",
        "bot/local/",
        "infra/",
        "scripts/",
        ".venv/",
    ):
        assert not any(name.startswith(excluded) for name in inside), excluded
    ours = [name for name in inside if name.startswith("bot/") or "/" not in name]
    assert not any("__pycache__" in name for name in ours)  # no stale caches of our own
    assert not any(name.startswith(("boto3/", "botocore/")) for name in inside)


def test_the_compiled_dependencies_are_for_arm64(dev_package: Path) -> None:
    binaries = [n for n in names(dev_package) if n.endswith(".so")]

    assert binaries
    assert all("aarch64" in n or "cpython" not in n for n in binaries), binaries


def test_it_is_small(dev_package: Path) -> None:
    size_mb = (dev_package / "lambdagram.zip").stat().st_size / 1024 / 1024

    assert size_mb < MAX_ZIP_MB
