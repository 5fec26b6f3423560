"""Lazy aiogram models: the same models as an eager import, built on first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from typing import Any

import pytest
from aiogram.types import Update

from lambdagram import lazy_types
from lambdagram.local.lambda_process import ROOT

from tests.test_corpus import EVENTS, load


def python(*args: str, eager: bool = False) -> str:
    """The output of ``python *args`` in a new process from the repository, with lazy types
    (the default) or with the switch that imports aiogram eagerly."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(lazy_types.OFF_SWITCH, None)
    if eager:
        env[lazy_types.OFF_SWITCH] = "1"
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return result.stdout


@cache
def schemas(eager: bool) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(python("-m", "tests.support.model_schemas", eager=eager))
    return loaded


def test_every_type_and_method_has_the_same_schemas_as_an_eager_import() -> None:
    lazy, eager = schemas(eager=False)["models"], schemas(eager=True)["models"]

    assert set(lazy) == set(eager)
    assert len(lazy) > 550  # ~440 types and ~170 methods
    assert all(model["complete"] for model in lazy.values())  # each built on first use
    with_json_schema = [name for name, model in lazy.items() if "validation" in model]
    assert len(with_json_schema) > 500  # methods taking uploads (InputFile) have none
    mismatched = [name for name in lazy if lazy[name] != eager[name]]
    assert mismatched == []


def test_models_are_left_unbuilt_at_import_and_eager_mode_builds_them() -> None:
    lazy = schemas(eager=False)["complete_at_import"]
    eager = schemas(eager=True)["complete_at_import"]

    assert sum(lazy.values()) < len(lazy) / 10  # almost nothing built up front
    assert eager["aiogram.types.Update"]
    assert not lazy["aiogram.types.Update"]


@pytest.mark.parametrize("path", [p for p in EVENTS if load(p)["expect"] != "dead_letter"])
def test_real_updates_validate_and_round_trip(path: Any) -> None:
    raw = load(path)["update"]

    update = Update.model_validate(raw)
    again = Update.model_validate(update.model_dump(mode="json", exclude_none=True, by_alias=True))

    assert again == update


def test_an_unchecked_aiogram_version_refuses_to_start() -> None:
    code = (  # `import lambdagram` skips the trick (switch on), then install() runs as on a 9.9.9
        "from lambdagram import lazy_types; "
        "lazy_types.aiogram_version = lambda: '9.9.9'; "
        "lazy_types.install({})"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), lazy_types.OFF_SWITCH: "1"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "checked with aiogram 3.31.0, but 9.9.9 is installed" in result.stderr
    assert "LAMBDAGRAM_EAGER_TYPES=1" in result.stderr


def test_the_version_is_read_without_importing_aiogram() -> None:
    assert lazy_types.aiogram_version() == "3.31.0"


def test_it_does_nothing_when_aiogram_is_already_imported() -> None:
    assert lazy_types.install({}) is False  # this process imported it (lazily) long ago
    assert lazy_types.install({lazy_types.OFF_SWITCH: "1"}) is False


def fresh_process(code: str) -> Any:
    """What ``code`` prints (JSON) in a new process that imported lambdagram and aiogram."""
    prelude = "import json, sys; import lambdagram; from aiogram import Bot, Dispatcher; "
    return json.loads(python("-c", prelude + code))


def test_an_import_runs_the_types_an_update_can_hold_and_no_method_or_http_client() -> None:
    loaded = fresh_process(
        "from lambdagram.session import BotApiSession; Bot('1:a', session=BotApiSession()); "
        "print(json.dumps({'types': [m for m in sys.modules if m.startswith('aiogram.types.')],"
        " 'methods': [m for m in sys.modules if m.startswith('aiogram.methods.')],"
        " 'aiohttp': 'aiohttp' in sys.modules, 'aiofiles': 'aiofiles.os' in sys.modules}))"
    )

    assert "aiogram.types.message" in loaded["types"]
    assert "aiogram.types.input_media_photo" not in loaded["types"]  # only methods take it
    assert len(loaded["types"]) < 300  # of ~440
    assert loaded["methods"] == ["aiogram.methods.base", "aiogram.methods.get_updates"]
    assert not loaded["aiohttp"]  # until the first Bot API call
    assert not loaded["aiofiles"]  # until a file is read or downloaded


def test_the_lazy_packages_list_and_give_every_name_an_eager_import_has() -> None:
    lazy = fresh_process(
        "import aiogram.types as t, aiogram.methods as m; "
        "names = {p.__name__: sorted(p.__all__) for p in (t, m)}; "
        "assert all(hasattr(p, n) for p in (t, m) for n in p.__all__); "
        "assert set(t.__all__) <= set(dir(t)); "
        "print(json.dumps(names))"
    )
    eager = python(
        "-c",
        "import json, aiogram.types as t, aiogram.methods as m; "
        "print(json.dumps({p.__name__: sorted(p.__all__) for p in (t, m)}))",
        eager=True,
    )

    assert lazy == json.loads(eager)


def test_the_bots_methods_and_session_are_the_real_ones_from_their_first_use() -> None:
    seen = fresh_process(
        "import aiogram.client.bot as b, aiogram.methods as m; "
        "before = repr(b.SendMessage); "
        "call = b.SendMessage(chat_id=1, text='hi'); "
        "print(json.dumps({'before': before, 'real': b.SendMessage is m.SendMessage, "
        "'call': type(call) is m.SendMessage, 'isinstance': isinstance(call, b.GetMe) is False,"
        " 'session': type(b.AiohttpSession()).__module__, 'aiohttp': 'aiohttp' in sys.modules}))"
    )

    assert seen["before"] == "<stand-in for aiogram.methods.SendMessage>"
    assert seen["real"]  # the stand-in put the class in its place
    assert seen["call"]
    assert seen["isinstance"]
    assert seen["session"] == "aiogram.client.session.aiohttp"  # run once a name is used
    assert seen["aiohttp"]


@pytest.mark.parametrize("threads", [1, 8])
def test_models_built_methods_first_and_by_threads_at_once_are_complete(threads: int) -> None:
    """Each thread builds every model, from its own starting point, switching threads as often
    as Python can: first builds of the same model and of models that refer to it overlap
    (pydantic's rebuild is not thread-safe; this found it 5 to 11 times a run before the fix)."""
    code = (
        f"THREADS = {threads}"
        + """
import threading
import aiogram.methods as m, aiogram.types as t
from pydantic import BaseModel
sys.setswitchinterval(1e-6)
names = [(p, n) for p in (m, t) for n in p.__all__]
built, failed = [], []
def work(part):
    for package, name in part:
        try:
            model = getattr(package, name)
            if isinstance(model, type) and issubclass(model, BaseModel):
                getattr(model.__pydantic_validator__, "validate_python")
                built.append(name)
        except Exception as error:
            failed.append(f"{name}: {type(error).__name__}: {error}"[:200])
start = len(names) // THREADS
parts = [names[i * start:] + names[:i * start] for i in range(THREADS)]
threads = [threading.Thread(target=work, args=(part,)) for part in parts]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(json.dumps({"built": len(built), "models": len(set(built)), "failed": failed}))
"""
    )
    result = fresh_process(code)

    assert result["failed"] == []
    assert result["models"] > 550
    assert result["built"] == threads * result["models"]


def test_a_deferred_build_still_finds_the_names_where_the_model_is_first_used() -> None:
    """The first build runs under lazy_types' lock, one frame deeper than pydantic's own: the
    caller's names it resolves forward references with are still the caller's."""
    built = fresh_process(
        "from aiogram.types import TelegramObject\n"
        "def first_use():\n"
        "    class Outer(TelegramObject, defer_build=True):\n"
        "        inner: 'Inner'\n"
        "    class Inner(TelegramObject):\n"
        "        x: int\n"
        "    return Outer(inner={'x': 1}).inner\n"
        "print(json.dumps(type(first_use()).__name__))"
    )

    assert built == "Inner"
