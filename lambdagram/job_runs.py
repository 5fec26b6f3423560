"""A timer's job when EventBridge Scheduler fires it: run like an update, exactly once.

Scheduler invokes the function with the internal event the timer was made with
(`lambdagram.timers.job_event`, its ``at`` filled in with the firing's scheduled time) and
delivers at least once. The job is claimed under its chat's slot with the id
``job:<timer>:<time>`` (so a redelivery is a duplicate, and each firing of a recurring timer
runs once), under the chat's lock, with the chat's FSM state read with the claim; its FSM
writes and the tasks it starts end in one commit, as an update's do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from aiogram.fsm.context import FSMContext
from redis.exceptions import RedisError

from lambdagram import background, budget, timers
from lambdagram.blueprint import discard
from lambdagram.delivery import (
    AlreadyQueued,
    ChatBusy,
    ChatCrowded,
    Claim,
    Duplicate,
    InFlight,
    JoinQueue,
    Poisoned,
    chat_slot,
)
from lambdagram.dispatch import (
    RETRYABLE_BOT_API_ERRORS,
    bot_api_failed,
    broadcasting,
    commit,
    enqueue,
    handler_failed,
    out_of_time,
    patience,
    prepare,
    service_given_back,
    unavailable,
)
from lambdagram.errors import ChatLocked, UpdateInFlight
from lambdagram.failures import ServiceError
from lambdagram.fsm import BufferedStorage, UpdateStorage
from lambdagram.names import JOBS_KEY
from lambdagram.observability import Metric, count, logger
from lambdagram.parsing import Unprocessable
from lambdagram.runtime import BOT_API_TIMEOUT, Runtime
from lambdagram.session import Sends, counting
from lambdagram.storage import create_storage

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "data": dict,
    "timer": str,
    "at": str,
    "user_id": int,
    "thread_id": int,
    "business_connection_id": str,
}
"""The types of a job event's fields (`lambdagram.timers.job_event` makes them so)."""


def job_claim_id(event: dict[str, Any]) -> str:
    """A fired timer's claim id, ``job:<timer>:<time>``: one per firing (its id on the chat's
    queue too, when it waits there)."""
    return f"job:{event.get('timer')}:{event.get('at')}"


def job_message(event: dict[str, Any]) -> str:
    """The long-work queue's message for a fired timer's job (`lambdagram.worker` runs it)."""
    return json.dumps({"job": event}, separators=(",", ":"), ensure_ascii=False)


async def run_job(
    runtime: Runtime, event: dict[str, Any], max_wait: float, *, from_queue: bool = False
) -> dict[str, Any]:
    """Run the fired timer ``event`` once; `Unprocessable` if it is not one this bot can run.
    A job whose chat has long work queued or running goes on the queue behind it (the worker
    runs it in the chat's order, ``from_queue``) instead of waiting out its lock."""
    await prepare(runtime)
    jobs = runtime.blueprint.root.workflow_data.get(JOBS_KEY)
    name = str(event.get("name"))
    callback = jobs.callbacks.get(name) if isinstance(jobs, timers.Jobs) else None
    chat_id = event.get("chat_id")
    if callback is None or not isinstance(chat_id, int):
        msg = f"no job named {name!r} in this bot (or no chat id): was it renamed or removed?"
        raise Unprocessable(msg)
    malformed = [
        field
        for field, kinds in _FIELDS.items()
        if event.get(field) is not None and not isinstance(event.get(field), kinds)
    ]
    if malformed or isinstance(chat_id, bool):
        msg = f"the job's event has malformed {', '.join(malformed) or 'chat_id'}: not one we made"
        raise Unprocessable(msg)
    assert isinstance(jobs, timers.Jobs)
    target = timers.Target(
        chat_id, event.get("user_id"), event.get("thread_id"), event.get("business_connection_id")
    )
    timer, at = str(event.get("timer")), str(event.get("at"))
    logger.append_keys(job=name, timer=timer, chat_id=chat_id)
    bot = runtime.bot
    storage = BufferedStorage(create_storage(runtime.redis, runtime.settings))
    dispatcher = runtime.blueprint.dispatcher(storage)
    try:
        context = dispatcher.fsm.resolve_context(
            bot=bot,
            chat_id=chat_id,
            user_id=target.user_id or chat_id,
            thread_id=target.thread_id,
            business_connection_id=target.business_connection_id,
        )
        assert context is not None  # a chat id is given: the strategy always makes a key
        key = context.key
        build = storage.key_builder.build
        claim = Claim(
            runtime.scripts,
            chat_slot(bot.id, key),
            job_claim_id(event),
            fsm_keys=(build(key, "state"), build(key, "data")),
            ttl_ms=int(runtime.settings.lock_ttl * 1000),
            max_attempts=runtime.settings.max_attempts,
            max_waiters=runtime.settings.chat_waiters if not from_queue else 1000,
            queue_mode="work" if from_queue else "web" if runtime.queue is not None else "",
        )
        try:
            await claim.acquire(max_wait, patience(runtime, after=BOT_API_TIMEOUT + 1.0))
        except AlreadyQueued:
            count(Metric.DUPLICATES)
            logger.info("timer fired again: its job is on the chat's queue already")
            return {"ok": True, "duplicate": True}
        except JoinQueue:  # the chat's long work goes first: the job runs after it, in order
            return await enqueue(runtime, claim, job_message(event), locked=False)
        except Duplicate:
            count(Metric.DUPLICATES)
            logger.info("timer fired again: its job ran already, nothing done")
            return {"ok": True, "duplicate": True}
        except Poisoned as poisoned:
            count(Metric.DEAD_LETTERS)
            logger.error(
                f"the job was given back {poisoned.attempts} times without completing: given up",
                extra={"alert": "dead_letter", "event": event},
            )
            return {"ok": True, "dead_letter": True}
        except InFlight:
            raise UpdateInFlight("the job is running in another invocation") from None
        except (ChatBusy, ChatCrowded):
            raise ChatLocked("the job's chat stayed busy; Scheduler or Lambda retries") from None
        except RedisError as error:
            await claim.abandon()
            raise unavailable(error) from None
        storage.preload(key, claim.state, claim.data)
        origin = "j" + hashlib.sha256(f"{timer}|{at}".encode()).hexdigest()[:12]
        arguments = {
            **dispatcher.workflow_data,
            "bot": bot,
            "state": FSMContext(storage, key),
            "chat_id": chat_id,
            "user_id": target.user_id,
            "thread_id": target.thread_id,
            "data": dict(event.get("data") or {}),
            "timers": timers.Timers(jobs, runtime.timers, target, origin),
            "scheduled_at": at,
            "timer": timer,
        }
        if runtime.blueprint.broadcasts:  # a daily digest, say: a job may start a broadcast
            from lambdagram import broadcasts

            arguments["broadcasts"] = broadcasts.Broadcasts(broadcasts.service_of(runtime), origin)
        left = budget.left()
        sends = Sends()
        try:
            with (
                timers.serving(runtime.timers),
                UpdateStorage.serving(storage),
                broadcasting(runtime),
                counting(sends),
            ):
                async with claim.renewing(), asyncio.timeout(left):
                    async with background.noted() as tasks:
                        await callback.call(**arguments)
                    await background.settle(tasks, budget.left())
        except RedisError as error:
            await claim.abandon()
            raise unavailable(error) from None
        except TimeoutError as error:
            fix = "make the job shorter, or start long work from it (a broadcast)"
            raise await out_of_time(claim, error, " in a timer's job", fix) from None
        except RETRYABLE_BOT_API_ERRORS as error:
            doing, what = "during the job", f"job {name}: "
            return await bot_api_failed(runtime, claim, [], sends, error, doing, what)
        except ServiceError as error:
            raise await service_given_back(claim, error, "during the job") from None
        except Exception:
            return await handler_failed(runtime, claim, [], f"job {name} failed")
        await commit(runtime, claim, storage.writes())
    finally:
        discard(dispatcher)
    return {"ok": True, "job": name}
