"""Local stand-ins for the cloud: a throwaway redis-server, a fake Bot API, Lambda events.

Used by the testing kit bot developers import (`lambdagram.testing`), the developer tools
(`lambdagram.tools`: demo, chat, poll), this repository's tests and the benchmarks. Not part
of the deployed function.
"""

from pathlib import Path


def log_file(tool: str) -> Path:
    """``.tmp/<tool>.log`` under the current directory: where every local tool keeps the
    function's logs (one place, gitignored, replaced by the tool's next run)."""
    directory = Path.cwd() / ".tmp"
    directory.mkdir(exist_ok=True)
    return directory / f"{tool}.log"
