"""Reply in webhook: the handler's Bot API method becomes the response body."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)

from lambdagram.reply import webhook_reply


@pytest.fixture
def bot() -> Bot:
    return Bot(
        "42:TOKEN",
        default=DefaultBotProperties(
            parse_mode=ParseMode.MARKDOWN_V2,
            link_preview_is_disabled=True,
            protect_content=True,
        ),
    )


def test_defaults_are_resolved_from_the_bot_properties(bot: Bot) -> None:
    body = webhook_reply(bot, SendMessage(chat_id=1, text="hi"))

    assert body == {
        "method": "sendMessage",
        "chat_id": 1,
        "text": "hi",
        "parse_mode": "MarkdownV2",
        "link_preview_options": {"is_disabled": True},
        "disable_web_page_preview": True,  # aiogram fills the legacy field too, as over HTTP
        "protect_content": True,
    }


def test_explicit_values_win_over_defaults(bot: Bot) -> None:
    body = webhook_reply(bot, SendMessage(chat_id=1, text="hi", parse_mode=None))

    assert body is not None
    assert "parse_mode" not in body


def test_nested_objects_are_plain_json(bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="yes")]]
    )

    body = webhook_reply(bot, SendMessage(chat_id="@channel", text="?", reply_markup=keyboard))

    assert body is not None
    assert body["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    assert body["chat_id"] == "@channel"


def test_an_upload_cannot_ride_in_the_response(bot: Bot) -> None:
    photo = BufferedInputFile(b"\x89PNG", filename="p.png")

    assert webhook_reply(bot, SendPhoto(chat_id=1, photo=photo)) is None


def test_a_file_id_can(bot: Bot) -> None:
    body = webhook_reply(bot, SendPhoto(chat_id=1, photo="AgACAgIAAxkBAAIB"))

    assert body is not None
    assert body["photo"] == "AgACAgIAAxkBAAIB"
