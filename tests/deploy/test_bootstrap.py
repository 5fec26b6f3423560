"""scripts/bootstrap.sh where Node.js is too old (Debian 12 and Ubuntu 24.04 ship 18)."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def old_node_first(tmp_path: Path) -> dict[str, str]:
    """An environment whose `node` and `npm` are those of Debian 12 (18.20.4)."""
    shadow = tmp_path / "apt-bin"
    shadow.mkdir()
    for tool, version in (("node", "v18.20.4"), ("npm", "9.2.0")):
        (shadow / tool).write_text(f"#!/bin/sh\necho {version}\n")
        (shadow / tool).chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{shadow}:{os.environ['PATH']}",
        "LAMBDAGRAM_NODE_DIR": str(tmp_path / "node"),
    }


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.skipif(
    os.environ.get("LAMBDAGRAM_REQUIRE_PACKAGE") != "1",
    reason="installs Node.js from PyPI and packages (about a minute): `make test` runs it",
)
def test_a_too_old_node_is_replaced_by_one_from_pypi_and_the_package_still_builds(
    old_node_first: dict[str, str], tmp_path: Path
) -> None:
    bootstrap = run(["scripts/bootstrap.sh", "--deploy-tools"], old_node_first)

    assert bootstrap.returncode == 0, bootstrap.stderr
    assert "Node.js v18.20.4 is too old" in bootstrap.stderr
    node = tmp_path / "node" / "bin" / "node"
    version = run([str(node), "--version"], old_node_first).stdout
    assert version.startswith("v22."), version
    npm = run([str(node.with_name("npm")), "--version"], old_node_first)
    assert npm.returncode == 0, npm.stderr
    assert npm.stdout.strip()

    package = run(["scripts/package.sh", "ci", "x86_64", str(tmp_path / "dist")], old_node_first)

    assert package.returncode == 0, package.stderr
    with zipfile.ZipFile(tmp_path / "dist" / "lambdagram.zip") as archive:
        assert "handler.py" in archive.namelist()


def test_a_second_bootstrap_does_nothing() -> None:
    again = run(["scripts/bootstrap.sh"], dict(os.environ))

    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
