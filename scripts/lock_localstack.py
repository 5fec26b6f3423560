"""Write ``infra/localstack/requirements.txt``: LocalStack's whole dependency set, pinned, hashed.

`scripts/localstack.sh` installs LocalStack (setting b) from that file alone with
``--require-hashes --no-deps``: pip resolves nothing, so it never backtracks (an open set of
LocalStack's ~115 packages once made pip try 201 versions of boto3 for 23 minutes), and every
file it downloads is checked. Run this after changing LocalStack's version or the top-level
pins below, with a Python 3.13 (LocalStack's functions fail on 3.12):

    python3.13 scripts/lock_localstack.py

It resolves once in a throwaway venv (``pip install --dry-run --report``), then asks PyPI for
the hashes of every file of each pinned release that a Linux x86_64 or aarch64 machine can
install (sdists, pure wheels, manylinux and musllinux wheels), so the file serves both.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "infra" / "localstack" / "requirements.txt"
TOP_LEVEL = [
    "localstack-core[runtime]==4.13.1",  # the last release without an auth token
    "cbor2<6",  # cbor2 6 dropped what plux loads LocalStack's plugins with
    "pyopenssl==25.3.0",  # pyOpenSSL 26 and cryptography 47 broke its TLS stack
    "cryptography>=45.0.7,<47",
    "service_identity",
    "awscli<2",  # for the parameters and the tests
]
INSTALLABLE = re.compile(
    r"(\.tar\.gz|\.zip|-none-any\.whl|(many|musl)linux\w*_(x86_64|aarch64)\.whl)$"
)


def resolve() -> list[tuple[str, str]]:
    """(name, version) of everything pip would install for `TOP_LEVEL` on this Python."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        report = Path(tmp) / "report.json"
        subprocess.run(
            [venv / "bin" / "pip", "install", "-q", "--dry-run", "--ignore-installed",
             "--report", str(report), *TOP_LEVEL],
            check=True,
        )  # fmt: skip
        installed = json.loads(report.read_text())["install"]
    return sorted({(i["metadata"]["name"], i["metadata"]["version"]) for i in installed})


def hashes(name: str, version: str) -> list[str]:
    """The sha256 of each file of ``name==version`` on PyPI that Linux can install."""
    url = f"https://pypi.org/pypi/{name}/json"  # (the per-release URL 404s for some projects)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            files = json.load(response)["releases"].get(version, [])
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{name}=={version}: PyPI answered {error.code} ({url})") from None
    found = sorted({f["digests"]["sha256"] for f in files if INSTALLABLE.search(f["filename"])})
    if not found:
        raise SystemExit(f"{name}=={version}: PyPI lists no file Linux can install")
    return found


def main() -> int:
    if sys.version_info[:2] != (3, 13):
        raise SystemExit("run it with Python 3.13 (LocalStack's Python)")
    lines = [
        "# LocalStack 4.13.1 and everything it needs, pinned and hashed: written by",
        "# scripts/lock_localstack.py (run it again after changing a pin there), installed by",
        "# scripts/localstack.sh with --require-hashes --no-deps (nothing to resolve).",
    ]
    for name, version in resolve():
        lines.append(f"{name}=={version} \\")
        lines.extend(f"    --hash=sha256:{digest} \\" for digest in hashes(name, version))
        lines[-1] = lines[-1].removesuffix(" \\")
    LOCK.write_text("\n".join(lines) + "\n")
    print(f"{LOCK.relative_to(ROOT)}: {sum(1 for line in lines if '==' in line)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
