"""The example bot tested as a bot developer tests theirs: with ``lambdagram.testing``.

Each step goes through ``handler.handler`` as a Function URL event, with a real redis-server
and the fake Bot API (README "Testing your bot").
"""

from __future__ import annotations

from lambdagram.testing import BotUnderTest


def test_a_whole_questionnaire_across_a_cold_start_with_a_button(
    telegram_bot: BotUnderTest,
) -> None:
    chat = telegram_bot.chat(first_name="Ada")

    assert "What's your name?" in chat.send("/start").text
    assert "Nice to meet you, <b>Ada</b>!" in chat.send("Ada").text
    assert chat.state() == "Form:age"
    assert chat.data() == {"name": "Ada"}

    telegram_bot.restart()  # a cold instance: only Redis remembers the dialog
    question = chat.send("36")
    assert "about yourself" in question.text
    assert question.buttons == ["Skip", "Cancel"]

    done = chat.press("Skip")
    assert "Name: Ada" in done.texts[0]
    assert done.alerts == ["Skipped"]
    assert chat.state() is None


def test_a_redelivered_update_runs_once(telegram_bot: BotUnderTest) -> None:
    from lambdagram.local.events import message_update

    chat = telegram_bot.chat()
    update = message_update("/start", chat_id=chat.chat_id)

    first = chat.deliver(update)
    again = chat.deliver(update)  # Telegram retrying a delivery it did not see answered

    assert "What's your name?" in first.text
    assert again.webhook == {"ok": True, "duplicate": True}
    assert again.messages == []
