"""SnapStart hooks: warm without I/O before the snapshot, fresh clients after a restore."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import snapshot_restore_py

from lambdagram import snapstart
from lambdagram.local.events import Shape
from lambdagram.runtime import ensure_event_loop

from tests.support.webhook import WebhookClient


@pytest.fixture
def shape() -> Shape:
    return "function_url"


def test_the_handler_registers_both_hooks(lambda_handler: ModuleType) -> None:
    befores = snapshot_restore_py.get_before_snapshot()
    afters = snapshot_restore_py.get_after_restore()

    assert befores
    assert afters


def test_the_warm_up_needs_no_network(lambda_handler: ModuleType) -> None:
    app = lambda_handler.app

    snapstart.warm(app)  # with Redis and Telegram unreachable it would raise

    assert app.runtime_if_made() is None  # nothing was connected


def test_after_a_restore_the_next_update_uses_new_clients(
    client: WebhookClient, lambda_handler: ModuleType
) -> None:
    app = lambda_handler.app
    client.say("/start")
    before = app.runtime_if_made()
    assert before is not None

    entry: Any = snapshot_restore_py.get_after_restore()[-1]  # this import's (func, args, kw)
    callback, args, kwargs = entry
    callback(*args, **kwargs)  # what Lambda runs after restoring the snapshot
    assert app.runtime_if_made() is None
    reply = client.say("Ada")

    assert "Nice to meet you" in reply.text  # the dialog goes on from Redis
    after = app.runtime_if_made()
    assert after is not None
    assert after is not before
    ensure_event_loop().run_until_complete(before.close())  # the fixture closes `after`


def test_after_a_restore_random_draws_differ_from_the_snapshots(
    lambda_handler: ModuleType,
) -> None:
    """Two instances restored from one snapshot share its random state until reseeded."""
    import random

    entry: Any = snapshot_restore_py.get_after_restore()[-1]
    callback, args, kwargs = entry
    snapshot = random.getstate()
    callback(*args, **kwargs)  # one restored instance
    first = [random.random() for _ in range(4)]
    random.setstate(snapshot)
    callback(*args, **kwargs)  # another, from the same snapshot
    second = [random.random() for _ in range(4)]

    assert first != second
