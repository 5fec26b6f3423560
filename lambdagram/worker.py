"""The long-work worker: a batch of queued updates from SQS, each the way the webhook runs one.

The worker is the same function code with its own timeout and memory, fed by an SQS event
source mapping on the FIFO queue (`lambdagram.long_work` says what goes there). Each record
is one update, run through the same claim, handlers and commit as on the webhook (dedupe,
chat lock, FSM read, buffered writes, one atomic commit), with long handlers run instead of
deferred and every reply sent over the Bot API (there is no webhook answer to carry it).

SQS delivers at least once; the claim makes it exactly once. A record that cannot run yet
(the chat's lock held too long, Redis or the Bot API failing) is reported failed with every
later record of its message group (a FIFO group must not skip ahead), made visible again in
a few seconds, and counted; the other groups' records are not touched (partial batch
responses: ``ReportBatchItemFailures``). A worker killed mid-handler leaves its messages to
come back after the visibility timeout; the claim's lock expires meanwhile. An update given
back ``MAX_ATTEMPTS`` times becomes the engine's dead letter, with the queue's own DLQ
(``maxReceiveCount``) as the backstop.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lambdagram import budget, long_work
from lambdagram.delivery import forget_given_up, queued_key
from lambdagram.errors import WebhookError
from lambdagram.observability import Metric, count, logger, outcome
from lambdagram.parsing import too_deep
from lambdagram.redaction import redact
from lambdagram.runtime import BOT_API_TIMEOUT, Runtime
from lambdagram.updates import process_update

WORKER_LOCK_WAIT = 30.0
"""Seconds a queued update waits for its chat's lock (a webhook invocation holds it for
one quick update at most)."""
RETRY_PAUSES = (2, 5, 15, 30, 60)  # seconds before a record that could not run comes back
MAX_VISIBILITY = 12 * 3600  # SQS's longest visibility timeout


async def run_batch(runtime: Runtime, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run an SQS batch; the partial batch response (the records to deliver again)."""
    budget.start(context)
    failed: list[str] = []
    held: set[str] = set()  # message groups with a failed record: their later ones wait
    for record in event["Records"]:
        if not isinstance(record, dict):  # not SQS's shape: nothing to run or report
            _refuse("queue record refused: not an object", None)
            continue
        message_id = str(record.get("messageId", ""))
        group = str((record.get("attributes") or {}).get("MessageGroupId", message_id))
        dead = runtime.settings.long_work_dead_letters_arn
        if dead and record.get("eventSourceARN") == dead:  # the queue gave it up: never run
            if not await _given_up_by_the_queue(runtime, record, group):
                failed.append(message_id)
            continue
        if group in held:
            failed.append(message_id)
            await _again_soon(runtime, record)
            continue
        ran = await _run_record(runtime, record, group)
        if ran is not True:
            failed.append(message_id)
            held.add(group)
            await _again_soon(runtime, record, None if ran is False else ran)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


async def _run_record(runtime: Runtime, record: dict[str, Any], group: str) -> bool | float:
    """Run one record; False if it must come again (it could not run yet), a number if it
    must come again after that many seconds."""
    logger.remove_keys(["update_id", "update_type", "chat_id", "broadcast"])
    try:
        parsed = _message_of(str(record.get("body", "")))
        if isinstance(parsed.get("broadcast"), dict):
            return await _run_broadcast(runtime, parsed["broadcast"])
        if isinstance(parsed.get("job"), dict):
            return await _run_job(runtime, parsed["job"], group)
        if isinstance(parsed.get("album"), dict):
            return await _close_album(runtime, parsed["album"])
        raw = long_work.update_of(parsed)
    except ValueError as error:  # not ours: no attempt can go better; deleted
        _refuse(f"queue message refused: {error}", record.get("messageId"))
        return True
    logger.set_correlation_id(str(raw["update_id"]))
    logger.append_keys(update_id=raw["update_id"])
    max_wait = budget.lock_wait(
        max(runtime.settings.lock_wait, WORKER_LOCK_WAIT), after=BOT_API_TIMEOUT + 1.0
    )
    started = time.perf_counter()
    try:
        body = await process_update(
            runtime, raw, max_wait=max_wait, reply_in_webhook=False, from_queue=True
        )
    except WebhookError as error:
        count(Metric.WORKER_RETRIES)
        logger.warning(
            "queued update not run yet: the queue delivers it again",
            extra={
                "error": error.code,
                "reason": redact(error.message),
                "receive_count": _receive_count(record),
            },
        )
        return False
    except Exception:  # a bug of ours: logged, and the queue (then the poison cap) retries
        count(Metric.INTERNAL_ERRORS)
        logger.exception("queued update failed in the engine", extra={"alert": "internal"})
        return False
    if body.get("dead_letter"):
        await _dequeue(runtime, group, raw["update_id"])
    logger.info(
        "update processed",
        extra={
            "outcome": outcome(body),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "from_queue": True,
        },
    )
    return True


GIVEN_UP = (
    "the long-work queue gave it up (received maxReceiveCount times, never completed: Redis "
    "or the worker failing that long); replay it with `deadletter replay` once mended"
)


async def _given_up_by_the_queue(runtime: Runtime, record: dict[str, Any], group: str) -> bool:
    """A message of the queue's DLQ: the engine's dead letter now (an update: kept, its chat's
    queue freed, the bot told; a broadcast round: the broadcast stopped, so its unconfirmed can
    be resent; a job or an album: logged, an album's parts kept). False: Redis failed, the DLQ
    delivers it again."""
    from redis.exceptions import RedisError

    from lambdagram import dispatch

    try:
        parsed = _message_of(str(record.get("body", "")))
    except ValueError as error:
        _refuse(f"dead queue message refused: {error}", record.get("messageId"))
        return True
    try:
        if isinstance(parsed.get("update"), dict):  # keep_dead_letter counts it
            raw = long_work.update_of(parsed)
            logger.set_correlation_id(str(raw["update_id"]))
            await _dequeue(runtime, group, raw["update_id"])
            if await dispatch.keep_dead_letter(runtime, raw, GIVEN_UP):
                await dispatch.tell_the_bot(runtime, raw, GIVEN_UP)
        elif isinstance(parsed.get("broadcast"), dict):
            from lambdagram import broadcasts

            await broadcasts.stopped(runtime, parsed["broadcast"], GIVEN_UP)
            count(Metric.DEAD_LETTERS)
        elif isinstance(parsed.get("album"), dict):
            from lambdagram.album_updates import give_up_album

            await give_up_album(runtime, parsed["album"], GIVEN_UP)
        elif isinstance(parsed.get("job"), dict):
            from lambdagram.job_runs import job_claim_id

            job = parsed["job"]
            await _dequeue(runtime, group, job_claim_id(job))
            count(Metric.DEAD_LETTERS)
            logger.error(
                "timer's job given up by the long-work queue",
                extra={"reason": GIVEN_UP, "event": job, "alert": "dead_letter"},
            )
        else:
            _refuse("dead queue message refused: not one of ours", record.get("messageId"))
    except (RedisError, WebhookError) as error:
        logger.warning(
            "dead queue message not kept yet: its queue delivers it again",
            extra={"reason": redact(str(error))},
        )
        return False
    except ValueError as error:
        _refuse(f"dead queue message refused: {error}", record.get("messageId"))
    return True


def _message_of(body: str) -> dict[str, Any]:
    """A queue message as the object it must be; ValueError for anything else (not JSON,
    nested deeper than any of ours, not an object)."""
    try:
        parsed = json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply to be one of ours") from None
    if not isinstance(parsed, dict) or too_deep(parsed):
        raise ValueError("not a lambdagram queue message (not an object of ours)")
    return parsed


def _refuse(reason: str, message_id: object) -> None:
    count(Metric.INTERNAL_ERRORS)
    logger.error(reason, extra={"message_id": message_id, "alert": "internal"})


async def _run_job(runtime: Runtime, event: dict[str, Any], group: str) -> bool:
    """A timer's job that found its chat busy with long work and queued behind it
    (`lambdagram.job_runs`); False: deliver it again."""
    from lambdagram.job_runs import job_claim_id, run_job

    logger.set_correlation_id(f"{event.get('timer')}@{event.get('at')}")
    answer = await _queued(
        runtime, "job", lambda wait: run_job(runtime, event, wait, from_queue=True)
    )
    if answer is None:
        return False
    if answer.get("dead_letter"):
        await _dequeue(runtime, group, job_claim_id(event))
    return True


async def _close_album(runtime: Runtime, raw: dict[str, Any]) -> bool:
    """An album whose closer found its chat busy with long work and queued it behind that
    (`lambdagram.album_updates`); False: deliver it again."""
    from lambdagram.album_updates import close_album

    logger.set_correlation_id(str(raw.get("update_id")))

    def closing(wait: float) -> Awaitable[dict[str, Any]]:
        return close_album(runtime, raw, max_wait=wait, wait=False, from_queue=True)

    return await _queued(runtime, "album", closing) is not None


async def _queued(
    runtime: Runtime, kind: str, running: Callable[[float], Awaitable[dict[str, Any]]]
) -> dict[str, Any] | None:
    """Run queued work of ``kind`` (a job, an album) with the worker's lock wait: its answer;
    refused (`Unprocessable`: no attempt can go better) answers ``{}`` and it is deleted; None
    if it must come again."""
    from lambdagram.parsing import Unprocessable

    wait = budget.lock_wait(
        max(runtime.settings.lock_wait, WORKER_LOCK_WAIT), after=BOT_API_TIMEOUT + 1.0
    )
    try:
        answer = await running(wait)
    except Unprocessable as error:
        count(Metric.INTERNAL_ERRORS)
        logger.error(f"queued {kind} refused", extra={"reason": str(error), "alert": "internal"})
        return {}
    except WebhookError as error:
        count(Metric.WORKER_RETRIES)
        logger.warning(
            f"queued {kind} not run yet: the queue delivers it again",
            extra={"error": error.code, "reason": redact(error.message)},
        )
        return None
    logger.info(f"{kind} processed", extra={"outcome": outcome(answer), "from_queue": True})
    return answer


async def _run_broadcast(runtime: Runtime, round_: dict[str, Any]) -> bool | float:
    """One round of a broadcast (`lambdagram.broadcasts.run`); False or a pause: deliver it
    again (after the pause)."""
    from lambdagram import broadcasts

    try:
        again = await broadcasts.run(runtime, round_)
    except Exception:  # Redis or the queue failing: the round comes again, nothing sent twice
        count(Metric.WORKER_RETRIES)
        logger.exception("broadcast round failed: the queue delivers it again")
        return False
    if again is None:
        return True
    count(Metric.WORKER_RETRIES)
    return False if again.after is None else again.after


async def _again_soon(
    runtime: Runtime, record: dict[str, Any], after: float | None = None
) -> None:
    """Make a record that could not run visible again soon, or ``after`` seconds from now
    (best effort: otherwise it comes back after the queue's whole visibility timeout)."""
    if runtime.queue is None or not record.get("receiptHandle"):
        return
    attempt = _receive_count(record)
    pause = RETRY_PAUSES[min(attempt, len(RETRY_PAUSES)) - 1]
    if after is not None:
        pause = min(MAX_VISIBILITY, max(pause, math.ceil(after)))
    try:
        await runtime.queue.change_visibility(str(record["receiptHandle"]), pause)
    except Exception as error:
        logger.warning(
            "could not hand the record back early; it comes back after the visibility timeout",
            extra={"reason": redact(str(error))},
        )


async def _dequeue(runtime: Runtime, group: str, update_id: int | str) -> None:
    """Take a dead-lettered update (or job) off its chat's queue (its group is the chat's
    slot), and its ``q:`` mark with it (a replay then runs it)."""
    if group.startswith("{") and group.endswith("}"):
        try:
            await runtime.redis.zrem(queued_key(group), str(update_id))
            await forget_given_up(runtime.scripts, group, update_id)
        except Exception as error:
            logger.warning(
                "could not take the update off the chat's queue", extra={"reason": str(error)}
            )


def _receive_count(record: dict[str, Any]) -> int:
    raw = (record.get("attributes") or {}).get("ApproximateReceiveCount", "1")
    return int(raw) if str(raw).isdigit() and int(raw) > 0 else 1
