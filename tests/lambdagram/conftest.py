"""Fixtures of the engine's own tests beside the suite's: a real AWS API on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sqs import MotoServer


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """moto's server (SQS, EventBridge Scheduler) in its own process, for the whole session."""
    with MotoServer() as server:
        yield server
