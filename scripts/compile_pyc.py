"""Put bytecode Lambda can use into a deployment zip: unchecked-hash .pyc for every module.

Lambda runs code from a read-only /var/task, so Python cannot write .pyc there: modules
without usable bytecode are compiled from source on every cold start. The .pyc files pip
writes are timestamp-checked, and the packaging plugin stamps every file in the zip with
one fixed date, so on Lambda they never match and are recompiled each time. This replaces
them with unchecked-hash .pyc files (PEP 552), which Python loads without looking at the
source's date. Run it with the Python version the function runs (its ``pythonVersion``).

It also leaves out the engine's local tools where the engine came in as an installed package
(a project made with ``python -m lambdagram new``): the same files ``serverless.yml``'s
patterns keep out of the zip when the engine is a directory of the project.

    python scripts/compile_pyc.py dist/dev/lambdagram.zip
"""

from __future__ import annotations

import compileall
import fnmatch
import py_compile
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

RUNTIMES = {(3, 12), (3, 13)}  # Lambda's python3.12 and python3.13
SERVERLESS = Path(__file__).resolve().parents[1] / "serverless.yml"


def local_only_patterns(serverless: Path = SERVERLESS) -> list[str]:
    """What the deployed function never imports, as ``serverless.yml``'s package patterns
    exclude it from the project's tree (``"!lambdagram/..."``), for the engine installed as a
    package, which those patterns do not reach; ``**`` as fnmatch's ``*`` (it crosses ``/``)."""
    found = re.findall(r'^\s*- "!(lambdagram/[^"]+)"', serverless.read_text(), re.MULTILINE)
    if not found:
        raise SystemExit(f"no '!lambdagram/...' package patterns in {serverless}")
    return [pattern.replace("**", "*") for pattern in found]


def local_only(name: str, patterns: list[str]) -> bool:
    """Whether the zip entry ``name`` is one of the engine's local tools."""
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def compile_zip(path: Path) -> int:
    """Rewrite ``path`` with fresh unchecked-hash bytecode; the number of modules compiled."""
    if sys.version_info[:2] not in RUNTIMES:
        msg = f"compile with Python 3.12 or 3.13 (a Lambda runtime), not {sys.version}"
        raise SystemExit(msg)
    patterns = local_only_patterns()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "task"
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            kept = [n for n in archive.namelist() if not local_only(n, patterns)]
            archive.extractall(root, kept)
        for cache in list(root.rglob("__pycache__")):
            shutil.rmtree(cache)
        ok = compileall.compile_dir(
            root,
            quiet=1,
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        if not ok:
            raise SystemExit(f"some modules in {path} do not compile")
        compiled = 0
        rewritten = path.with_suffix(".tmp.zip")
        with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                name = file.relative_to(root).as_posix()
                info = infos.get(name) or zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                if name not in infos:
                    info.external_attr = 0o644 << 16
                compiled += name.endswith(".pyc")
                out.writestr(info, file.read_bytes())
        rewritten.replace(path)
    return compiled


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        count = compile_zip(Path(argument))
        print(f"{argument}: {count} modules with unchecked-hash bytecode", file=sys.stderr)
