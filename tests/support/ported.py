"""Run one bot both ways and record its Bot API calls: under lambdagram and as aiogram polls.

``through_lambdagram`` drives the bot's composition root through ``handler.handler`` in two
OS processes (the first killed mid-dialog, as Lambda reclaims instances). ``as_polling`` runs
the same bot the way ``Dispatcher.start_polling`` does: one long-lived Dispatcher with
``MemoryStorage``, startup hooks once, each update through ``_process_update`` (which sends a
returned method, as polling does). Calls are normalised so both encodings compare equal: a
form field and its JSON value, a webhook reply and the request it stands for.
"""

from __future__ import annotations

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


def through_lambdagram(
    module: str,
    updates: list[dict[str, Any]],
    env: dict[str, str],
    telegram: FakeTelegram,
    *,
    kill_after: int,
) -> list[list[Call]]:
    """Each update's calls under lambdagram, the process killed after ``kill_after`` updates."""
    env = {**env, "LAMBDAGRAM_APP": f"{module}:app"}
    telegram.clear()
    calls: list[list[Call]] = []
    instance = LambdaProcess(env, quiet=True)
    try:
        for index, update in enumerate(updates):
            if index == kill_after:
                instance.kill()
                instance = LambdaProcess(env, quiet=True)
            before = len(telegram.calls)
            response = instance.invoke(lambda_event(update, secret=SECRET))
            assert response["statusCode"] == 200, response
            made = telegram.calls[before:]
            reply = response_json(response)
            if isinstance(reply, dict) and "method" in reply:
                made.append(ApiCall(TOKEN, reply.pop("method"), reply))
            calls.append(normalise(made))
    finally:
        instance.close()
    return calls


def as_polling(
    module: str, updates: list[dict[str, Any]], telegram: FakeTelegram
) -> list[list[Call]]:
    """Each update's calls when aiogram itself runs the bot, as ``start_polling`` would."""
    app = import_handler(module).app
    dispatcher = app.blueprint.root  # the bot's configured Dispatcher; MemoryStorage
    telegram.clear()

    async def run() -> list[list[Call]]:
        session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.url))
        bot = Bot(TOKEN, session=session, default=app.default)
        try:
            workflow = {"dispatcher": dispatcher, "bots": [bot], **dispatcher.workflow_data}
            await dispatcher.emit_startup(bot=bot, **workflow)
            calls: list[list[Call]] = []
            for raw in updates:
                before = len(telegram.calls)
                update = Update.model_validate(raw, context={"bot": bot})
                await dispatcher._process_update(bot=bot, update=update, bots=[bot])
                calls.append(normalise(telegram.calls[before:]))
            return calls
        finally:
            await session.close()

    return ensure_event_loop().run_until_complete(run())


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
