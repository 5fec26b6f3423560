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


def test_the_slow_card_is_answered_by_the_worker_before_send_returns(
    telegram_bot: BotUnderTest,
) -> None:
    chat = telegram_bot.chat(first_name="Ada")

    reply = chat.send("/card 0")

    assert reply.webhook == {"ok": True, "queued": True}  # the webhook answered at once
    assert "Your card is ready" in reply.text  # the worker's message, in this chat


def test_a_reminder_fires_once_when_its_time_has_passed(telegram_bot: BotUnderTest) -> None:
    chat = telegram_bot.chat()

    assert "remind you in 10 min" in chat.send("/remind 10 tea").text
    assert telegram_bot.pass_time(minutes=9) == {}
    assert telegram_bot.pass_time(minutes=1) == {chat.chat_id: ["⏰ tea"]}  # fired twice, once
    assert telegram_bot.pass_time(hours=1) == {}
