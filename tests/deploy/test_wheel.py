"""The engine as a package of its own: a wheel a bot project can depend on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import lambdagram

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_builds_as_a_wheel_with_its_version_and_nothing_of_the_project(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"  # a copy: building writes its metadata beside the sources
    shutil.copytree(
        ROOT / "lambdagram", source / "lambdagram", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("lambdagram-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    metadata = (
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    )

    changelog = (ROOT / "CHANGELOG.md").read_text()
    newest = re.search(r"^## (\S+)", changelog, re.MULTILINE)
    assert newest is not None
    assert wheel.name.startswith(f"lambdagram-{newest.group(1)}-")
    assert lambdagram.__version__ == newest.group(1)
    assert "lambdagram/function.py" in names
    assert "lambdagram/testing.py" in names  # the kit, for the project's own tests
    assert not [n for n in names if n.startswith(("tests/", "bot/", "bench/", "handler"))]
    assert "Requires-Dist: aiogram<3.32,>=3.31" in metadata
