"""The built deployment package (``make package package-native``), or a clear skip."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

DIST = Path(__file__).resolve().parents[2] / "dist"
TEST_BOT = "lambdagram_ci_form"  # tests/support/bots/form.py, as a top-level module


def built(name: str) -> Path:
    """``dist/<name>``; skipped (or failed, under ``make test``) if it was not built."""
    path = DIST / name
    if not (path / "lambdagram.zip").exists():
        message = f"{path} is not built: run `make package package-native` first"
        if os.environ.get("LAMBDAGRAM_REQUIRE_PACKAGE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def dev_package() -> Path:
    """The arm64 package `serverless deploy --stage dev` would upload."""
    return built("dev")


@pytest.fixture(scope="session")
def native_package() -> Path:
    """The same package built for this machine's architecture."""
    return built("native")


@pytest.fixture(scope="session")
def template(dev_package: Path) -> dict[str, Any]:
    """The generated CloudFormation template."""
    loaded: dict[str, Any] = json.loads(
        (dev_package / "cloudformation-template-update-stack.json").read_text()
    )
    return loaded


@pytest.fixture(scope="module")
def task_root(native_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The native zip unpacked as Lambda's /var/task, with the engine's test bot beside it."""
    root = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(native_package / "lambdagram.zip") as archive:
        archive.extractall(root)
    shutil.copy(DIST.parent / "tests" / "support" / "bots" / "form.py", root / f"{TEST_BOT}.py")
    return root
