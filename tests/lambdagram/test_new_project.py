"""``python -m lambdagram new DIR``: a bot project that uses the engine without copying it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lambdagram import new_project

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_a_new_project_tests_lints_and_packages_its_bot_with_the_engine_from_its_wheel(
    tmp_path: Path,
) -> None:
    project = tmp_path / "mybot"
    said = run(sys.executable, "-m", "lambdagram", "new", str(project), cwd=ROOT)
    [wheel] = (project / "wheels").glob("lambdagram-*-py3-none-any.whl")
    engine = tmp_path / "engine"  # the wheel installed, as bootstrap.sh's pip would
    run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
        "--target", str(engine), str(wheel), cwd=tmp_path)  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(engine)}  # not this repository's tree
    env.pop("LAMBDAGRAM_APP", None)

    tests = run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, env=env
    )
    run(sys.executable, "-m", "ruff", "check", ".", cwd=project, env=env)
    run(sys.executable, "-m", "mypy", cwd=project, env=env)
    (project / ".venv").symlink_to(Path(sys.executable).parents[1])
    (project / "node_modules").symlink_to(ROOT / "node_modules")
    run("scripts/package.sh", "dev", "arm64", "dist/dev", cwd=project, env=env)

    assert f"the engine from ./wheels/{wheel.name}" in said
    assert (project / "requirements.txt").read_text().splitlines()[2] == f"./wheels/{wheel.name}"
    assert "2 passed" in tests
    assert not (project / "lambdagram").exists()  # a dependency, not a copy
    inside = zipfile.ZipFile(project / "dist" / "dev" / "lambdagram.zip").namelist()
    assert {"handler.py", "bot/handlers/start.py", "lambdagram/function.py"} <= set(inside)
    assert any(name.startswith("lambdagram-") and "dist-info" in name for name in inside)
    local_only = (
        "lambdagram/local/",
        "lambdagram/testing.py",
        "lambdagram/cli.py",
        "lambdagram/project_kit/",
        "lambdagram/project_template/",
        "wheels/",
        "tests/",
    )
    for local in local_only:
        assert not any(name.startswith(local) for name in inside), local


def test_it_writes_the_starter_bot_the_kit_and_the_engine_line(tmp_path: Path) -> None:
    wheel = tmp_path / "lambdagram-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"a wheel")

    written = new_project.create(tmp_path / "p", wheel=wheel, version="9.9.9")
    plain = new_project.create(tmp_path / "q", version="9.9.9")

    for name in ("handler.py", "bot/__init__.py", "tests/test_bot.py", "tests/conftest.py",
                 "serverless.yml", "Makefile", "scripts/package.sh", "infra/serverless/timers.yml",
                 ".gitignore", "pyproject.toml", "requirements-dev.txt"):  # fmt: skip
        assert name in written, name
    assert "wheels/lambdagram-9.9.9-py3-none-any.whl" in written
    assert not any(
        name.startswith(("lambdagram/", "bench/", "tests/lambdagram")) for name in written
    )
    assert "engine.mk" not in written  # the engine's own make targets stay here
    assert os.access(tmp_path / "p" / "scripts" / "package.sh", os.X_OK)
    requirements = (tmp_path / "q" / "requirements.txt").read_text().splitlines()
    assert requirements[2] == "lambdagram==9.9.9"
    assert "aiogram==3.31.0" in requirements  # the release's pins
    assert len(plain) == len(written) - 1


def test_it_refuses_a_directory_that_is_not_empty_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(new_project.NewProjectError, match="not empty"):
        new_project.create(tmp_path, version="1.0.0")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_kit_is_files_this_repository_has() -> None:
    tracked = set(run("git", "ls-files", cwd=ROOT).splitlines())

    kit = [path.relative_to(ROOT).as_posix() for path in new_project.kit_files(ROOT)]

    assert kit
    assert set(kit) <= tracked
