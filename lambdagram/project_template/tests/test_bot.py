"""The bot's dialog as Telegram and Lambda run it (README: "Testing your bot")."""

from lambdagram.testing import BotUnderTest


def test_it_remembers_a_name_across_a_cold_start(telegram_bot: BotUnderTest) -> None:
    chat = telegram_bot.chat()

    assert chat.send("/start").text == "Hello! What's your name?"
    assert "Nice to meet you, <b>Ada</b>!" in chat.send("Ada").text
    assert chat.data() == {"name": "Ada"}

    telegram_bot.restart()  # a cold instance: only Redis remembers
    assert chat.send("/whoami").text == "You are <b>Ada</b>."


def test_a_stranger_is_asked_to_start(telegram_bot: BotUnderTest) -> None:
    assert "/start" in telegram_bot.chat().send("/whoami").text
