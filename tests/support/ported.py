"""Run one bot both ways and record its Bot API calls: under lambdagram and as aiogram polls.

`LambdaDriver` sends updates to the bot's composition root through ``handler.handler`` in an
OS process of its own, which `LambdaDriver.restart` SIGKILLs and replaces (as Lambda
reclaims instances). `PollingDriver` runs the same bot the way ``Dispatcher.start_polling``
does: one long-lived Dispatcher with ``MemoryStorage``, startup hooks once, each update
through ``_process_update`` (which sends a returned method, as polling does). Calls are
normalised so both encodings compare equal: a form field and its JSON value, a webhook reply
and the request it stands for.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Update

from lambdagram.local.events import lambda_event, response_json
from lambdagram.local.fake_telegram import ApiCall, FakeTelegram
from lambdagram.local.lambda_process import LambdaProcess
from lambdagram.runtime import ensure_event_loop

from tests.conftest import SECRET, TOKEN, import_handler

Call = tuple[str, Any]
IGNORED = {"getMe"}  # cached per process: a restarted process asks once more


class LambdaDriver:
    """The bot under lambdagram, one update at a time, in a killable Lambda process."""

    def __init__(self, module: str, env: dict[str, str], telegram: FakeTelegram) -> None:
        self.env = {**env, "LAMBDAGRAM_APP": f"{module}:app"}
        self.telegram = telegram
        self.process = LambdaProcess(self.env, quiet=True)

    def send(self, update: dict[str, Any]) -> list[ApiCall]:
        """Deliver ``update``; the calls it made, its webhook reply last."""
        before = len(self.telegram.calls)
        response = self.process.invoke(lambda_event(update, secret=SECRET))
        assert response["statusCode"] == 200, response
        made = self.telegram.calls[before:]
        reply = response_json(response)
        if isinstance(reply, dict) and "method" in reply:
            made.append(ApiCall(TOKEN, reply.pop("method"), reply))
        return made

    def restart(self) -> None:
        """SIGKILL the instance; the next update lands on a cold one."""
        self.process.kill()
        self.process = LambdaProcess(self.env, quiet=True)

    def close(self) -> None:
        self.process.close()


class PollingDriver:
    """The bot as aiogram's own polling loop runs it, one update (or batch) at a time."""

    def __init__(self, module: str, telegram: FakeTelegram) -> None:
        app = import_handler(module).app
        self.dispatcher = app.blueprint.root  # the bot's configured Dispatcher; MemoryStorage
        self.telegram = telegram
        self.loop = ensure_event_loop()
        self.session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.url))
        self.bot = Bot(TOKEN, session=self.session, default=app.default)
        workflow = {"dispatcher": self.dispatcher, "bots": [self.bot]}
        workflow.update(self.dispatcher.workflow_data)
        self.loop.run_until_complete(self.dispatcher.emit_startup(bot=self.bot, **workflow))

    def send(self, *updates: dict[str, Any]) -> list[ApiCall]:
        """Process ``updates`` as one ``getUpdates`` batch: concurrent tasks, as polling does."""
        before = len(self.telegram.calls)
        parsed = [Update.model_validate(raw, context={"bot": self.bot}) for raw in updates]
        process = self.dispatcher._process_update
        self.loop.run_until_complete(
            asyncio.gather(*(process(bot=self.bot, update=u, bots=[self.bot]) for u in parsed))
        )
        return self.telegram.calls[before:]

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())


def through_lambdagram(
    module: str,
    updates: list[dict[str, Any]],
    env: dict[str, str],
    telegram: FakeTelegram,
    *,
    kill_after: int,
) -> list[list[Call]]:
    """Each update's calls under lambdagram, the process killed after ``kill_after`` updates."""
    telegram.clear()
    driver = LambdaDriver(module, env, telegram)
    calls: list[list[Call]] = []
    try:
        for index, update in enumerate(updates):
            if index == kill_after:
                driver.restart()
            calls.append(normalise(driver.send(update)))
    finally:
        driver.close()
    return calls


def as_polling(
    module: str, updates: list[dict[str, Any]], telegram: FakeTelegram, *, together: bool = False
) -> list[list[Call]]:
    """Each update's calls when aiogram itself runs the bot, as ``start_polling`` would.

    ``together``: the updates came in one ``getUpdates`` batch; their calls are one list.
    """
    telegram.clear()
    driver = PollingDriver(module, telegram)
    try:
        if together:
            return [normalise(driver.send(*updates))]
        return [normalise(driver.send(update)) for update in updates]
    finally:
        driver.close()


def normalise(calls: list[ApiCall]) -> list[Call]:
    """Calls as (method, params) with one spelling for every value; uploads by content."""
    out: list[Call] = []
    for call in calls:
        if call.method in IGNORED:
            continue
        params: dict[str, Any] = {}
        files: list[bytes] = []
        for name, value in call.params.items():
            if isinstance(value, bytes):
                files.append(value)
            else:
                params[name] = _value(value)
        if files:
            params["<files>"] = sorted(files)
        out.append((call.method, params))
    return out


def _value(value: Any) -> Any:
    if isinstance(value, str):
        if value[:1] in {"{", "["}:
            try:
                return _value(json.loads(value))
            except ValueError:
                return value
        return "attach://" if value.startswith("attach://") else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def as_polling_apart(
    module: str, updates: list[dict[str, Any]], env: dict[str, str]
) -> list[list[Call]]:
    """`as_polling` in a Python process of its own, with a fake Bot API of its own: for bots
    whose folders import by bare name (``handlers``, ``config``), which would meet another
    bot's module of the same name in this process."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [sys.executable, "-m", "tests.support.ported", module],
        input=json.dumps(updates), capture_output=True, text=True, timeout=300, check=False,
        cwd=Path(__file__).resolve().parents[2], env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    calls: list[list[Call]] = [
        [(method, params) for method, params in step] for step in json.loads(done.stdout)
    ]
    return calls


if __name__ == "__main__":
    import sys

    with FakeTelegram() as fake:
        polled = as_polling(sys.argv[1], json.loads(sys.stdin.read()), fake)
    print(json.dumps(polled))
