"""X-Ray spans around Redis and Bot API calls, at no cost while tracing is off.

Tracing is off by default: Powertools' Tracer needs the X-Ray SDK (in maintenance mode,
and ~40 ms of imports on every cold start), which is not among the pinned dependencies.
To turn it on, add ``aws-xray-sdk`` to requirements.txt and deploy with
``--param="tracing=true"`` (which sets ``POWERTOOLS_TRACE_DISABLED=false`` and X-Ray active
tracing). Off, `span` returns one shared do-nothing context manager.
"""

from __future__ import annotations

import contextlib
import os
from contextlib import AbstractAsyncContextManager
from typing import Any

_NULL: AbstractAsyncContextManager[None] = contextlib.nullcontext()
_tracer: Any = None


class TracingUnavailable(RuntimeError):
    """Tracing was asked for, but the X-Ray SDK is not installed."""


def enabled(environ: dict[str, str] | None = None) -> bool:
    """Whether tracing was turned on (``POWERTOOLS_TRACE_DISABLED=false``)."""
    value = (environ if environ is not None else os.environ).get("POWERTOOLS_TRACE_DISABLED")
    return (value or "true").strip().lower() in {"false", "0", "no"}


def tracer() -> Any:
    """Powertools' Tracer, made on first use (only when tracing is on)."""
    global _tracer
    if _tracer is None:
        try:
            from aws_lambda_powertools import Tracer

            _tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "lambdagram"))
        except ModuleNotFoundError as error:  # aws_xray_sdk
            msg = (
                "POWERTOOLS_TRACE_DISABLED=false asks for X-Ray tracing, but "
                f"{error.name} is not installed: add aws-xray-sdk to requirements.txt"
            )
            raise TracingUnavailable(msg) from None
    return _tracer


def span(name: str) -> AbstractAsyncContextManager[Any]:
    """An X-Ray subsegment around an awaited block, or nothing when tracing is off."""
    if _tracer is None:
        return _NULL
    subsegment: AbstractAsyncContextManager[Any] = _tracer.provider.in_subsegment_async(name)
    return subsegment
