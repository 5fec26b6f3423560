"""Magic filters resolve on the event loop's thread; every other sync filter keeps aiogram's
thread, and the answers are aiogram's own."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

from aiogram import F
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from lambdagram import inline_filters
from lambdagram.local.events import message_update


def message(text: str) -> Message:
    return Message.model_validate(message_update(text)["message"])


class Form(StatesGroup):
    name = State()
    age = State()


def run(filter_: FilterObject, event: Message, raw_state: str | None = None) -> Any:
    result = asyncio.run(filter_.call(event, bot=None, state=None, raw_state=raw_state))
    return ("match", result.span()) if isinstance(result, re.Match) else result


def test_a_magic_filter_resolves_inline_and_a_plain_sync_filter_still_on_a_thread() -> None:
    seen: dict[str, str] = {}

    def remember(where: str) -> Any:
        def record(value: Any) -> bool:
            seen[where] = threading.current_thread().name
            return True

        return record

    class Recording(State):  # a subclass with a call of its own: not aiogram's check
        def __call__(self, event: Any, raw_state: str | None = None) -> bool:
            return bool(remember("own state")(event))

    magic = FilterObject(F.text.func(remember("magic")))
    plain = FilterObject(lambda message: remember("plain")(message))
    own = FilterObject(Recording("x"))

    assert run(magic, message("hi")) is True
    assert run(plain, message("hi")) is True
    assert run(own, message("hi")) is True
    here = threading.current_thread().name
    assert seen["magic"] == here  # the loop's thread
    assert seen["plain"] != here  # asyncio.to_thread, as aiogram does
    assert seen["own state"] != here


def test_magic_filters_answer_as_aiogram_resolves_them() -> None:
    filters = [
        F.text,
        F.text == "Paris",
        F.text.casefold() == "cancel",
        F.text.regexp(r"^\s*\d{1,3}\s*$"),
        F.chat.type == "private",
        F.photo,
        F.text.as_("name"),
        ~F.from_user,
    ]
    states: list[Any] = [Form.name, Form.age, Form(), State(state="*"), State()]
    events = [message(text) for text in ("Paris", "CANCEL", " 42 ", "")]
    raw = [None, "Form:name", "Form:age", "Other:x"]

    def answers() -> list[Any]:
        magic = [[run(FilterObject(f), e) for e in events] for f in filters]
        return magic + [[run(FilterObject(s), events[0], r) for r in raw] for s in states]

    inline = answers()
    inline_filters.uninstall()
    try:
        theirs = answers()
    finally:
        inline_filters.install()

    assert inline == theirs
