"""One cold process: import the Lambda entry and answer one webhook (or import aiogram only).

``python -m bench.cold_child handler`` reads a Function URL event (JSON) from stdin, imports
``handler``, invokes it once and prints ``{"import_s", "first_s", "rss_mb", "status"}``.
``python -m bench.cold_child aiogram`` only imports aiogram (the reference).
Nothing else is imported first, so the figures are the entry's own.
"""

import json
import resource
import sys
import time


class _Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
    aws_request_id = "bench-cold"
    client_context = None
    identity = None

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 20_000


def main() -> None:
    mode = sys.argv[1]
    event = json.loads(sys.stdin.read()) if mode == "handler" else None
    started = time.perf_counter()
    if mode == "aiogram":
        import aiogram  # noqa: F401

        imported = time.perf_counter()
        first, status = imported, 0
    else:
        out = sys.stdout
        sys.stdout = sys.stderr  # logs must not mix with the result line
        import handler

        imported = time.perf_counter()
        assert event is not None
        response = handler.handler(event, _Context())
        first = time.perf_counter()
        status = int(response["statusCode"])
        sys.stdout = out
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "first_s": first - imported,
                "rss_mb": rss_mb,
                "status": status,
            }
        )
    )


if __name__ == "__main__":
    main()
