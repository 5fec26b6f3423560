"""``python -m lambdagram new DIR``: a bot project that depends on the engine, not a copy of it.

The project gets a starter bot, its tests on the testing kit and the tools' settings (from
``lambdagram/project_template/``), and the engine release's deployment kit as it is: the
Makefile, ``serverless.yml`` and ``infra/``, the scripts, ``package*.json`` and the runtime
pins of ``requirements.txt``, to which the engine's own line is added (its wheel, put in
``wheels/``, or ``lambdagram==<version>`` from your index). In this repository the kit is read
from the tree; in the wheel, from ``lambdagram/project_kit/`` (``setup.py`` copies it there).
Standard library only: ``setup.py`` reads `KIT` from this file without importing the engine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The deployment kit, relative to the engine's repository (globs allowed).
KIT = (
    "Makefile",
    "serverless.yml",
    "package.json",
    "package-lock.json",
    "requirements.txt",
    "infra/serverless/*.yml",
    "infra/serverless/*.js",
    "infra/localstack/lambda_init.py",
    "infra/localstack/requirements.txt",
    "infra/docker-compose.yml",
    "infra/elasticache-serverless.yaml",
    "scripts/bootstrap.sh",
    "scripts/package.sh",
    "scripts/compile_pyc.py",
    "scripts/params.sh",
    "scripts/preflight.sh",
    "scripts/localstack.sh",
)
SOURCE = ("pyproject.toml", "setup.py", "README.md", "CHANGELOG.md")  # the wheel's build files
HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "project_template"
RENAMED = {"gitignore": ".gitignore"}  # a wheel would not carry a dotfile under its own name


class NewProjectError(Exception):
    """The project cannot be made where or how it was asked for; the message says why."""


def kit_files(root: Path) -> list[Path]:
    """The kit's files under ``root`` (the engine's repository or the wheel's copy)."""
    found: list[Path] = []
    for pattern in KIT:
        matches = sorted(root.glob(pattern))
        if not matches:
            raise NewProjectError(f"the deployment kit lacks {pattern} under {root}")
        found.extend(path for path in matches if path.is_file())
    return found


def _cache(relative: Path) -> bool:
    """A tool's leftovers in the template (ruff's cache, bytecode), not the template's own."""
    return any(part == "__pycache__" or part.startswith(".") for part in relative.parts)


def kit_root() -> Path:
    """Where this engine's deployment kit is: the wheel's copy, else the repository."""
    packaged = HERE / "project_kit"
    if packaged.is_dir():
        return packaged
    checkout = HERE.parent
    if (checkout / "serverless.yml").is_file():
        return checkout
    raise NewProjectError(f"no deployment kit in {packaged}: reinstall lambdagram from its wheel")


def engine_requirement(wheel: Path | None, version: str) -> str:
    """The project's ``requirements.txt`` line for the engine: its wheel, or the release."""
    return f"./wheels/{wheel.name}" if wheel is not None else f"lambdagram=={version}"


def create(target: Path, *, wheel: Path | None = None, version: str) -> list[str]:
    """Write the project into ``target`` (new or empty); the paths written, sorted.

    ``wheel``: the engine's wheel, copied into ``wheels/`` and named in ``requirements.txt``;
    without it the engine is required as ``lambdagram==<version>`` from the user's index.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise NewProjectError(f"{target} exists and is not empty: name a new directory")
    if wheel is not None and not wheel.is_file():
        raise NewProjectError(f"no wheel at {wheel}")
    root = kit_root()
    sources = [(path, path.relative_to(root).as_posix()) for path in kit_files(root)]
    sources += [
        (path, RENAMED.get(path.name, path.name) if path.parent == TEMPLATE else rel)
        for path in sorted(TEMPLATE.rglob("*"))
        if path.is_file() and not _cache(path.relative_to(TEMPLATE))
        for rel in [path.relative_to(TEMPLATE).as_posix()]
    ]
    target.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for source, name in sources:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
        written.append(name)
    if wheel is not None:
        (target / "wheels").mkdir(exist_ok=True)
        shutil.copy2(wheel, target / "wheels" / wheel.name)
        written.append(f"wheels/{wheel.name}")
    pins = (target / "requirements.txt").read_text().splitlines()
    body = [line for line in pins if not line.startswith("#")]
    (target / "requirements.txt").write_text(
        "# Runtime dependencies of the Lambda function, pinned: the engine (its wheel, or your\n"
        "# index's release), then the versions it was released with.\n"
        f"{engine_requirement(wheel, version)}\n" + "\n".join(body).lstrip("\n") + "\n"
    )
    return sorted(written)


def build_wheel(into: Path) -> Path:
    """Build this checkout's engine wheel into ``into``, from a clean copy of what goes in it
    (setuptools builds in the source tree, where a stale ``build/`` would leak into the wheel)."""
    checkout = HERE.parent
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "lambdagram"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
        shutil.copytree(checkout / "lambdagram", source / "lambdagram", ignore=ignore)
        for path in [*kit_files(checkout), *(checkout / name for name in SOURCE)]:
            destination = source / path.relative_to(checkout)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        into.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
             "--disable-pip-version-check", "-w", str(into), str(source)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    wheels = sorted(into.glob("lambdagram-*.whl"))
    if done.returncode != 0 or not wheels:
        raise NewProjectError(f"building the engine's wheel failed: {done.stderr.strip()[-600:]}")
    return wheels[-1]
