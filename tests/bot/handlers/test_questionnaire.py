"""The questionnaire, spoken through the Lambda handler in every event shape."""

from __future__ import annotations

import json

import redis

from lambdagram.local.events import callback_update, message_update

from tests.support.webhook import WebhookClient

STATE_KEY = "fsm:{123456789:1001}:1001:state"
DATA_KEY = "fsm:{123456789:1001}:1001:data"


def test_full_dialog_ends_with_a_summary_of_the_answers(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    assert "What's your name?" in client.say("/start").text
    assert "Nice to meet you, <b>Ada</b>!" in client.say("Ada").text
    assert "Tell me a little about yourself" in client.say("36").text

    done = client.say("I like engines")

    summary, closing = done.texts
    assert "Name: Ada" in summary
    assert "Age: 36" in summary
    assert "About: I like engines" in summary
    assert closing == "Thanks! Send /start to fill it again."
    assert redis_client.keys("fsm:*") == []  # finished dialogs leave nothing behind


def test_state_and_data_live_in_redis_between_updates(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.say("/start")
    client.say("Grace")

    assert redis_client.get(STATE_KEY) == "Form:age"
    assert json.loads(redis_client.get(DATA_KEY) or "{}") == {"name": "Grace"}


def test_an_invalid_age_is_explained_and_asked_again(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.say("/start")
    client.say("Alan")

    for wrong, reason in [
        ("forty", "must be a whole number"),
        ("-3", "between 1 and 120"),
        ("4.5", "must be a whole number"),
        ("0", "between 1 and 120"),
        ("121", "between 1 and 120"),
        ("99999", "must be a whole number"),
    ]:
        reply = client.say(wrong)
        assert reason in reply.text, wrong
        assert "How old are you?" in reply.text
        assert redis_client.get(STATE_KEY) == "Form:age"
        assert json.loads(redis_client.get(DATA_KEY) or "{}") == {"name": "Alan"}

    assert "about yourself" in client.say(" 120 ").text


def test_skip_finishes_without_the_optional_answer(client: WebhookClient) -> None:
    client.say("/start")
    client.say("Linus")
    client.say("21")

    summary, _ = client.say("/skip").texts

    assert "Name: Linus" in summary
    assert "Age: 21" in summary
    assert "About: <i>skipped</i>" in summary


def test_cancel_forgets_everything_at_any_step(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    for steps in ([], ["Barbara"], ["Barbara", "30"]):
        client.say("/start")
        for text in steps:
            client.say(text)

        reply = client.say("/cancel")

        assert "Cancelled" in reply.text
        assert redis_client.keys("fsm:*") == []

    assert "Nothing to cancel" in client.say("/cancel").text
    client.say("/start")
    assert "Cancelled" in client.say("Cancel").text


def test_anything_but_text_gets_a_polite_reask(client: WebhookClient) -> None:
    client.say("/start")
    assert client.say(None).text == "Please send your name as a text message."
    client.say("Edsger")
    assert client.say(None).text == "Please send your age as a number, like 27."
    client.say("72")
    assert "or send /skip" in client.say(None).text


def test_start_in_the_middle_begins_again(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.say("/start")
    client.say("Ken")

    assert "What's your name?" in client.say("/start").text
    assert redis_client.get(STATE_KEY) == "Form:name"
    assert redis_client.get(DATA_KEY) is None


def test_commands_are_not_taken_as_answers(client: WebhookClient) -> None:
    client.say("/start")
    assert "looks like a command" in client.say("/name").text
    client.say("Dennis")
    client.say("70")
    assert "or /skip" in client.say("/unknown").text


def test_names_are_escaped_in_html_replies(client: WebhookClient) -> None:
    client.say("/start")
    assert "<b>&lt;script&gt;</b>" in client.say("<script>").text


def test_help_and_fallback_outside_the_form(client: WebhookClient) -> None:
    assert "/cancel" in client.say("/help").text
    assert "Send /start" in client.say("hello").text


def test_users_in_different_chats_have_separate_dialogs(client: WebhookClient) -> None:
    client.say("/start", chat_id=1)
    client.say("/start", chat_id=2)
    client.say("One", chat_id=1)
    client.say("Two", chat_id=2)
    client.say("11", chat_id=1)
    client.say("22", chat_id=2)

    first = client.say("/skip", chat_id=1).texts[0]
    second = client.say("/skip", chat_id=2).texts[0]

    assert "Name: One" in first
    assert "Age: 11" in first
    assert "Name: Two" in second
    assert "Age: 22" in second


def test_a_command_sent_as_a_channel_or_anonymous_admin_is_not_an_error(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    # Given /start in a group, sent on behalf of the group's channel: no "from", a sender_chat
    update = message_update("/start", chat_id=-100777)
    del update["message"]["from"]
    update["message"]["sender_chat"] = {"id": -100777, "title": "Group", "type": "supergroup"}

    reply = client.post(update)

    assert reply.status == 200
    assert reply.body == {}  # nobody's dialog to start; not {"handled": false}
    assert redis_client.keys("fsm:*") == []


def test_the_skip_button_finishes_the_form_and_goes_away(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.say("/start")
    client.say("Ada")
    question = client.say("36")
    [skip, _] = question.body["reply_markup"]["inline_keyboard"][0]

    pressed = client.post(callback_update(skip["callback_data"], message_id=4242))

    assert (pressed.body["method"], pressed.body["text"]) == ("answerCallbackQuery", "Skipped")
    methods = [call.method for call in pressed.api_calls]
    assert methods == ["editMessageReplyMarkup", "sendMessage", "sendMessage"]
    assert "About: <i>skipped</i>" in pressed.texts[0]
    assert redis_client.get(STATE_KEY) is None


def test_the_cancel_button_forgets_the_form(
    client: WebhookClient, redis_client: redis.Redis
) -> None:
    client.say("/start")
    client.say("Ada")
    question = client.say("36")
    [_, cancel] = question.body["reply_markup"]["inline_keyboard"][0]

    pressed = client.post(callback_update(cancel["callback_data"], message_id=4242))

    assert pressed.texts == ["Cancelled. I forgot everything you typed.", "Cancelled"]
    assert redis_client.get(STATE_KEY) is None
    assert redis_client.get(DATA_KEY) is None
