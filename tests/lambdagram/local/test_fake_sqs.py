"""The local tools' stand-in queue keeps SQS FIFO's rules, as the function's client sees them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lambdagram.local.fake_sqs import FakeSQS
from lambdagram.sqs import Queue, QueueError


@pytest.fixture
def fake() -> Iterator[FakeSQS]:
    with FakeSQS(visibility=0.2) as queue:
        yield queue


@pytest.fixture
def client(fake: FakeSQS) -> Queue:
    environ = {"AWS_ENDPOINT_URL_SQS": fake.url, "AWS_REGION": "local"}
    return Queue(
        fake.queue_url, {**environ, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    )


def texts(event: dict[str, Any]) -> list[str]:
    return [json.loads(r["body"])["t"] for r in event["Records"]]


def test_a_group_is_delivered_in_order_one_in_flight_and_a_dedupe_id_once(
    fake: FakeSQS, client: Queue, run: Any
) -> None:
    async def send() -> None:
        for text, group, dedupe in [("a1", "a", "1"), ("a2", "a", "2"), ("b1", "b", "3")]:
            await client.send(json.dumps({"t": text}), group, dedupe)
        await client.send(json.dumps({"t": "a1 again"}), "a", "1")  # same id: dropped
        await client.close()

    run(send())

    first = fake.receive(most=1)
    assert texts(first) == ["a1"]
    assert texts(fake.receive()) == ["b1"]  # a2 waits while a1 is in flight
    fake.settle(first, {"batchItemFailures": []})
    assert texts(fake.receive()) == ["a2"]


def test_a_record_named_failed_comes_back_after_its_visibility_and_is_handed_back_early(
    fake: FakeSQS, client: Queue, run: Any
) -> None:
    run(client.send(json.dumps({"t": "x"}), "g", "1"))
    event = fake.receive()
    fake.settle(
        event, {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    )
    assert fake.receive()["Records"] == []  # still invisible

    run(client.change_visibility(event["Records"][0]["receiptHandle"], 0))
    again = fake.receive()
    assert texts(again) == ["x"]
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    run(client.close())


def test_a_wrong_queue_url_is_the_error_sqs_gives(fake: FakeSQS, run: Any) -> None:
    wrong = Queue(fake.queue_url + "-nope", {"AWS_ENDPOINT_URL_SQS": fake.url})
    with pytest.raises(QueueError, match="QueueDoesNotExist"):
        run(wrong.send("{}", "g", "1"))
    run(wrong.close())
