"""``python -m bench``: every figure beside its reference, from one run on this machine."""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lambdagram.local import fake_scheduler
from lambdagram.local.events import lambda_event, message_update
from lambdagram.local.fake_sqs import FakeSQS, environment
from lambdagram.local.fake_telegram import FakeTelegram
from lambdagram.local.lambda_process import ROOT, LambdaProcess
from lambdagram.local.ports import free_port
from lambdagram.local.redis_server import RedisServer
from lambdagram.observability import ROUTINE, Metric

from bench import broadcast
from bench.delay_proxy import DelayProxy
from bench.workload import SECRET, TOKEN, dialogs, per_chat

GB_SECOND = 0.0000133334  # Lambda arm64, $ per GB-s
PER_REQUEST = 0.20 / 1_000_000
COLD_STARTS_PER_MILLION = 1000  # assumption: one new instance per ~1000 updates
LOGS_PER_GB = 0.50  # CloudWatch Logs ingestion (standard class)
ROUTINE_LOG_SAMPLE = "0.1"  # serverless.yml's routineLogSample
EVENT_OVERHEAD = 26  # bytes CloudWatch counts per log event besides its text (PutLogEvents)
METRIC_MONTH = 0.30  # a custom metric (name + dimensions), first 10,000
ALARM_METRIC_MONTH = 0.10  # per metric an alarm evaluates, standard resolution
DASHBOARD_MONTH = 3.00  # beyond the first three of an account
# Lambda's own lines per invocation in its text format (shapes from AWS's docs), which
# systemLogLevel=WARN drops: START, END, REPORT.
PLATFORM_LINES = [
    "START RequestId: 8f507cfc-1d2a-4697-b07a-ac58fc914c95 Version: $LATEST",
    "END RequestId: 8f507cfc-1d2a-4697-b07a-ac58fc914c95",
    "REPORT RequestId: 8f507cfc-1d2a-4697-b07a-ac58fc914c95\tDuration: 3.05 ms\t"
    "Billed Duration: 4 ms\tMemory Size: 256 MB\tMax Memory Used: 77 MB\t",
]


def deployed_memory_gb() -> float:
    """serverless.yml's default memorySize, in GB (what `serverless deploy` configures)."""
    text = (ROOT / "serverless.yml").read_text()
    return int(re.search(r"^\s+memorySize: (\d+)", text, re.M).group(1)) / 1024  # type: ignore[union-attr]


MEMORY_GB = deployed_memory_gb()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


# ---- cold start --------------------------------------------------------------------------------


def cold_once(
    mode: str, env: dict[str, str], event: dict[str, Any], packaged: Path | None
) -> dict[str, float]:
    """One fresh process; wall seconds from spawn to exit, plus what the child reported."""
    full_env = {**os.environ, **env, "POWERTOOLS_LOG_LEVEL": "ERROR"}
    if mode == "aiogram":
        full_env["LAMBDAGRAM_EAGER_TYPES"] = "1"
    command = [sys.executable, "-m", "bench.cold_child", mode]
    if packaged is not None:  # as Lambda runs it: only the task root, read-only bytecode
        full_env["PYTHONPATH"] = f"{packaged}:{ROOT}"
        full_env["PYTHONDONTWRITEBYTECODE"] = "1"
        command = [getattr(sys, "_base_executable", sys.executable), "-S", *command[1:]]
    else:
        full_env["PYTHONPATH"] = str(ROOT)
    started = time.perf_counter()
    result = subprocess.run(
        command,
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=full_env,
        cwd=packaged or ROOT,  # `-m` puts the working directory first on sys.path
        check=True,
    )
    wall = time.perf_counter() - started
    report: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall_s"] = wall
    return report


def cold_start(env: dict[str, str], runs: int, packaged: Path | None) -> dict[str, Any]:
    """Median wall time and peak RSS of `runs` fresh processes of each kind, after a warm-up.

    The two kinds take turns (ours, the reference, ours, ...), so a slow spell of this shared
    machine lands on both sides of a ratio instead of on one side's whole series.
    """
    modes = ("handler", "aiogram")
    samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for i in range(runs + 1):
        for mode in modes:
            event = lambda_event(dialogs(1, 900_000 + i)[0], secret=SECRET)
            report = cold_once(mode, env, event, packaged)
            if mode == "handler" and report["status"] != 200:
                raise SystemExit(f"the cold handler answered {report['status']}")
            if i:  # the first run warms the page cache (and, in the source tree, writes .pyc)
                samples[mode].append(report)
    out: dict[str, Any] = {}
    for mode in modes:
        out[mode] = {
            key: statistics.median(s[key] for s in samples[mode])
            for key in ("wall_s", "import_s", "first_s", "rss_mb")
        }
        out[mode]["rss_max_mb"] = max(s["rss_mb"] for s in samples[mode])
        out[mode]["walls"] = [s["wall_s"] for s in samples[mode]]
        out[mode]["rss"] = [s["rss_mb"] for s in samples[mode]]
    return out


def spread(values: list[float], unit: str = "", digits: int = 2) -> str:
    """min / median / max of repeated measurements, so a change can be told from noise."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{low:.{digits}f} / {mid:.{digits}f} / {high:.{digits}f}{unit}"


# ---- Redis traffic -----------------------------------------------------------------------------


@contextmanager
def redis_monitor(port: int) -> Iterator[list[str]]:
    """Every command Redis executes meanwhile (MONITOR), as raw lines."""
    lines: list[str] = []
    monitor = subprocess.Popen(
        ["redis-cli", "-p", str(port), "monitor"], stdout=subprocess.PIPE, text=True
    )
    assert monitor.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(monitor.stdout or []), daemon=True)
    reader.start()
    time.sleep(0.2)
    try:
        yield lines
    finally:
        time.sleep(0.3)
        monitor.terminate()
        monitor.wait()
        reader.join(timeout=2)


def redis_counts(lines: list[str], updates: int) -> dict[str, float]:
    """Round trips (commands a client sent) and commands (including those inside scripts)."""
    commands = [line for line in lines if line[:1].isdigit()]
    round_trips = [line for line in commands if "[0 lua]" not in line]
    return {"round_trips": len(round_trips) / updates, "commands": len(commands) / updates}


def counting_sample(updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fresh copies (new update ids) of the first 25 chats' dialogs, for counting commands."""
    chats = {u["message"]["chat"]["id"] for u in updates[:25]}
    return [
        {**u, "update_id": u["update_id"] + 10_000_000}
        for u in updates
        if u["message"]["chat"]["id"] in chats
    ]


# ---- warm latency ------------------------------------------------------------------------------


def warm_lambda(
    env: dict[str, str], updates: list[dict[str, Any]], warmup: list[dict[str, Any]], port: int
) -> dict[str, Any]:
    """handler.handler in one warm process: time inside the handler per update."""
    process = LambdaProcess(env, quiet=True)
    pin(process.pid, MEASURED_CPU)
    try:
        for update in warmup:
            process.invoke(lambda_event(update, secret=SECRET))
        inside, outside = [], []
        for update in updates:
            event = lambda_event(update, secret=SECRET)
            started = time.perf_counter()
            response = process.invoke(event)
            outside.append((time.perf_counter() - started) * 1000)
            if response["statusCode"] != 200:
                raise SystemExit(f"handler answered {response['statusCode']}")
            inside.append(float(response["ms"]))
        counted = counting_sample(updates)
        with redis_monitor(port) as lines:  # a separate pass: MONITOR slows Redis down
            for update in counted:
                process.invoke(lambda_event(update, secret=SECRET))
    finally:
        process.close()
    return {"inside": inside, "outside": outside, "redis": redis_counts(lines, len(counted))}


SQS_FIFO_PER_REQUEST = 0.50 / 1_000_000
WORKER_MEMORY_GB = 0.5  # serverless.yml's workerMemory


def long_work(env: dict[str, str], count: int) -> dict[str, Any]:
    """The long-work path (tests/support/bots/long.py, the stand-in queue on loopback): the
    webhook's answer to a quick update and to a long-flagged one, and the worker's own time
    for a long update whose handler does nothing (its overhead)."""
    with FakeSQS() as queue:
        process = LambdaProcess(
            {**env, **environment(queue), "LAMBDAGRAM_APP": "tests.support.bots.long:app"},
            quiet=True,
        )
        try:
            quick, called, long_, worker = [], [], [], []
            for chat in range(900_000, 900_000 + 20):  # warm-up
                process.invoke(lambda_event(message_update("/count", chat_id=chat), secret=SECRET))
            for n in range(count):
                chat = 910_000 + n
                answer = process.invoke(
                    lambda_event(message_update("/count", chat_id=chat), secret=SECRET)
                )
                quick.append(float(answer["ms"]))
                answer = process.invoke(
                    lambda_event(message_update("/ping", chat_id=chat), secret=SECRET)
                )
                called.append(float(answer["ms"]))
                answer = process.invoke(
                    lambda_event(message_update("/draw 0", chat_id=chat), secret=SECRET)
                )
                long_.append(float(answer["ms"]))

                def run(event: dict[str, Any]) -> dict[str, Any]:
                    answered = process.invoke(event)
                    worker.append(float(answered.pop("ms")))
                    return answered

                queue.drain(run)
        finally:
            process.close()
    return {
        "quick": quick,
        "called": called,
        "long": long_,
        "worker": worker,
        "sent": queue.sent,
    }


SCHEDULER_PER_FIRING = 1.00 / 1_000_000  # EventBridge Scheduler, past 14 million a month free


def timer_jobs(env: dict[str, str], count: int) -> dict[str, Any]:
    """The timer path (tests/support/bots/reminders.py, the stand-in Scheduler on loopback):
    the function's time for a handler that makes a timer, and for the job when it fires."""
    with fake_scheduler.FakeScheduler() as scheduler:
        process = LambdaProcess(
            {
                **env,
                **fake_scheduler.environment(scheduler),
                "AWS_REGION": "local",
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "LAMBDAGRAM_APP": "tests.support.bots.reminders:app",
            },
            quiet=True,
        )
        try:
            make, fire = [], []
            for n in range(count + 10):  # the first 10 warm up
                chat = 920_000 + n
                answer = process.invoke(
                    lambda_event(message_update("/remind 1", chat_id=chat), secret=SECRET)
                )
                if n >= 10:
                    make.append(float(answer["ms"]))
            due = scheduler.due(
                datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)
            )
            for i, event in enumerate(due):
                answer = process.invoke(event)
                if i >= 10:
                    fire.append(float(answer["ms"]))
        finally:
            process.close()
    return {"make": make, "fire": fire}


def report_timers(timers: dict[str, Any]) -> None:
    """The timer path's figures: the function's time per timer made and per job run, the cost."""
    m50, m99 = percentile(timers["make"], 50), percentile(timers["make"], 99)
    f50, f99 = percentile(timers["fire"], 50), percentile(timers["fire"], 99)
    table(
        f"Timers ({len(timers['fire'])} reminders through the stand-in Scheduler on loopback)",
        ["", "p50", "p99"],
        [
            ["a handler that makes a timer (CreateSchedule over loopback HTTP)", f"{m50:.2f} ms",
             f"{m99:.2f} ms"],
            ["the job when it fires (claim, the chat's state, one Bot API call, commit)",
             f"{f50:.2f} ms", f"{f99:.2f} ms"],
        ],
    )  # fmt: skip
    firing = 1_000_000 * SCHEDULER_PER_FIRING
    requests = 1_000_000 * PER_REQUEST
    duration = 1_000_000 * MEMORY_GB * math.ceil(f50) / 1000 * GB_SECOND
    table(
        "Cost per million jobs fired (the job's own Bot API and handler time included above)",
        ["item", "per million"],
        [
            ["EventBridge Scheduler firings ($1.00 per million past the free 14 million)",
             f"${firing:.2f}"],
            ["the function's requests", f"${requests:.2f}"],
            [f"the job's duration: {math.ceil(f50)} ms x {MEMORY_GB:g} GB", f"${duration:.2f}"],
            ["**total**", f"**${firing + requests + duration:.2f}**"],
        ],
    )  # fmt: skip


def log_volume(env: dict[str, str], updates: list[dict[str, Any]], log: Path) -> dict[str, Any]:
    """What a warm function writes for CloudWatch per update at the deployed log level.

    The same figure every run: the updates get fixed ids (the sample is chosen by the id's
    hash), and the routine lines count at the deployed share of them, each as long as the
    sampled ones measured, instead of at however many of these ~200 the hash picked.
    """
    log.parent.mkdir(parents=True, exist_ok=True)  # .tmp/ is not in a fresh clone
    updates = [{**update, "update_id": 900_000_000 + i} for i, update in enumerate(updates)]
    with log.open("w") as sink:
        deployed = {"POWERTOOLS_LOG_LEVEL": "INFO", "ROUTINE_LOG_SAMPLE": ROUTINE_LOG_SAMPLE}
        process = LambdaProcess({**env, **deployed}, log=sink)
        try:
            process.invoke(lambda_event(updates[0], secret=SECRET))  # the cold one
            sink.flush()
            start = log.stat().st_size
            for update in updates[1:]:
                process.invoke(lambda_event(update, secret=SECRET))
        finally:
            process.close()
    text = log.read_bytes()[start:].decode()
    parsed = [(line, _fields(line)) for line in text.splitlines() if line.strip()]
    n = len(updates) - 1
    share = float(ROUTINE_LOG_SAMPLE)
    sampled = [event_size(line) for line, fields in parsed if fields.get("outcome") in ROUTINE]
    always = [event_size(line) for line, fields in parsed if fields.get("outcome") not in ROUTINE]
    # every update writes one line with its outcome, unless it is routine and not sampled
    routine = n - sum(1 for _, f in parsed if "outcome" in f and f["outcome"] not in ROUTINE)
    each = statistics.mean(sampled) if sampled else 0.0
    app = (sum(always) + routine * share * each) / n
    platform = sum(map(event_size, PLATFORM_LINES))
    emf = sum(1 for line, _ in parsed if line.startswith('{"_aws"'))
    names = sorted({fields["message"] for _, fields in parsed if "message" in fields})
    return {"app": app, "platform": platform, "lines": (len(always) + routine * share) / n,
            "emf": emf / n, "messages": names}  # fmt: skip


def event_size(line: str) -> int:
    """The bytes CloudWatch Logs counts for one log line."""
    return len(line.encode()) + EVENT_OVERHEAD


def _fields(line: str) -> dict[str, Any]:
    """A log line's JSON fields ({} for a line that is not a JSON object)."""
    try:
        fields = json.loads(line)
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


def warm_reference(
    env: dict[str, str], updates: list[dict[str, Any]], warmup: list[dict[str, Any]], port: int
) -> dict[str, Any]:
    """aiogram's aiohttp server: time inside the server per update, and as a client sees it."""
    http_port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.reference_server", str(http_port)],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT), "LAMBDAGRAM_EAGER_TYPES": "1"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pin(server.pid, MEASURED_CPU)
    try:
        connection = _connect(http_port)
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}

        def post(update: dict[str, Any]) -> None:
            connection.request("POST", "/webhook", body=json.dumps(update), headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"the reference server answered {response.status}")

        for update in warmup:
            post(update)
        connection.request("GET", "/stats")
        connection.getresponse().read()
        outside = []
        for update in updates:
            started = time.perf_counter()
            post(update)
            outside.append((time.perf_counter() - started) * 1000)
        connection.request("GET", "/stats")
        inside = json.loads(connection.getresponse().read())["ms"]
        counted = counting_sample(updates)
        with redis_monitor(port) as lines:  # a separate pass: MONITOR slows Redis down
            for update in counted:
                post(update)
        connection.close()
    finally:
        server.terminate()
        server.wait()
    return {"inside": inside, "outside": outside, "redis": redis_counts(lines, len(counted))}


def _connect(port: int) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/stats")
            connection.getresponse().read()
            return connection
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# ---- throughput --------------------------------------------------------------------------------


def throughput(env: dict[str, str], workers: int, chats_per_worker: int, first_chat: int) -> float:
    """Updates per second with `workers` warm Lambda processes and many chats at once."""
    with ThreadPoolExecutor(workers) as pool:
        instances = list(pool.map(lambda _: LambdaProcess(env, quiet=True), range(workers)))
    free: queue.Queue[LambdaProcess] = queue.Queue()
    for instance in instances:
        instance.invoke(lambda_event(dialogs(1, first_chat - 1)[0], secret=SECRET))  # warm
        free.put(instance)
    conversations = per_chat(workers * chats_per_worker, first_chat)

    def talk(updates: list[dict[str, Any]]) -> int:
        for update in updates:
            while True:
                instance = free.get()
                try:
                    status = instance.invoke(lambda_event(update, secret=SECRET))["statusCode"]
                finally:
                    free.put(instance)
                if status == 200:
                    break
        return len(updates)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(conversations)) as pool:
        total = sum(pool.map(talk, conversations))
    elapsed = time.perf_counter() - started
    for instance in instances:
        instance.close()
    return total / elapsed


# ---- report ------------------------------------------------------------------------------------


def placement() -> tuple[set[int], set[int]]:
    """The CPU each measured warm process runs on, and the CPUs Redis runs on: apart, as on
    Lambda (where Redis is another machine). Left to the scheduler, the measured process
    shared Redis's core in some runs and not in others, and the warm p50 moved by a third from
    run to run. Two empty sets (no pinning) on a machine with one CPU or no affinity calls."""
    if not hasattr(os, "sched_getaffinity"):
        return set(), set()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(), set()
    return {cpus[-1]}, set(cpus[:-1])


MEASURED_CPU, SERVICE_CPUS = placement()


def pinned() -> str:
    """How the warm runs were placed, for the table's title."""
    if not MEASURED_CPU:
        return ""
    return f"the measured process on CPU {min(MEASURED_CPU)}, Redis on the others; "


def pin(pid: int, cpus: set[int]) -> None:
    """Run process ``pid`` on ``cpus`` only (nothing if empty)."""
    if cpus:
        os.sched_setaffinity(pid, cpus)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import aiogram

    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"aiogram {aiogram.__version__}, {datetime.date.today().isoformat()}"
    )


def alarm_counts() -> tuple[int, int]:
    """The alarms in the packaged template, and the metrics they evaluate (each is billed)."""
    template = json.loads(
        (ROOT / "dist" / "native" / "cloudformation-template-update-stack.json").read_text()
    )
    alarms = [r["Properties"] for r in template["Resources"].values()
              if r["Type"] == "AWS::CloudWatch::Alarm"]  # fmt: skip
    metrics = sum(
        len([m for m in a["Metrics"] if "MetricStat" in m]) if "Metrics" in a else 1
        for a in alarms
    )
    return len(alarms), metrics


def cost_per_million(warm_ms: float, cold_s: float) -> dict[str, float]:
    duration = 1_000_000 * MEMORY_GB * math.ceil(warm_ms) / 1000 * GB_SECOND
    init = COLD_STARTS_PER_MILLION * MEMORY_GB * cold_s * GB_SECOND
    requests = 1_000_000 * PER_REQUEST
    return {
        "requests": requests,
        "duration": duration,
        "init": init,
        "total": requests + duration + init,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--runs", type=int, default=7, help="fresh processes per cold-start figure"
    )
    parser.add_argument(
        "--chats", type=int, default=120, help="chats in the warm run (5 updates each)"
    )
    parser.add_argument("--workers", default="1,2,4", help="process counts for throughput")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved warm runs of each side (the spread)"
    )
    parser.add_argument(
        "--redis-delay-ms",
        type=float,
        default=0.5,
        help="each way, through a delaying proxy, for the managed-Redis comparison (0: none)",
    )
    parser.add_argument(
        "--broadcast",
        type=int,
        default=10_000,
        help="recipients of the broadcast run (about 6 minutes for 10,000; 0: none)",
    )
    args = parser.parse_args(argv)

    packaged_zip = ROOT / "dist" / "native" / "lambdagram.zip"
    with RedisServer() as redis_server, FakeTelegram() as telegram:
        assert redis_server.process is not None
        pin(redis_server.process.pid, SERVICE_CPUS)
        env = {
            "BOT_TOKEN": TOKEN,
            "WEBHOOK_SECRET": SECRET,
            "REDIS_URL": redis_server.url,
            "TELEGRAM_API_URL": telegram.url,
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        print(f"# lambdagram benchmark\n{machine()}\n", flush=True)
        cold = cold_start(env, args.runs, None)
        packaged = None
        if packaged_zip.exists():
            task = ROOT / "dist" / "bench-task"
            stamp = task / ".from-zip"
            built = str(packaged_zip.stat().st_mtime_ns)
            if not stamp.exists() or stamp.read_text() != built:  # the zip was rebuilt
                shutil.rmtree(task, ignore_errors=True)
                with zipfile.ZipFile(packaged_zip) as archive:
                    archive.extractall(task)
                stamp.write_text(built)
            packaged = cold_start(env, args.runs, task)
        updates = dialogs(args.chats, 100_000)
        ours_runs, reference_runs = [], []
        for round_ in range(args.rounds):  # interleaved: the machine's drift hits both sides
            step = 20_000 * round_
            mine = dialogs(args.chats, 100_000 + step), dialogs(10, 700_000 + step)
            theirs = dialogs(args.chats, 300_000 + step), dialogs(10, 710_000 + step)
            ours_runs.append(warm_lambda(env, *mine, redis_server.port))
            reference_runs.append(warm_reference(env, *theirs, redis_server.port))
        logs = log_volume(env, dialogs(40, 800_000), ROOT / ".tmp" / "bench-logs.log")
        delayed = None
        if args.redis_delay_ms:
            with DelayProxy(redis_server.port, args.redis_delay_ms / 1000) as proxy:
                far = {**env, "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"}
                delayed = (
                    warm_lambda(far, dialogs(40, 200_000), dialogs(4, 720_000), redis_server.port),
                    warm_reference(far, dialogs(40, 400_000), dialogs(4, 730_000),
                                   redis_server.port),
                )  # fmt: skip
        rates = {
            int(n): throughput(env, int(n), 8, 500_000 + 10_000 * int(n))
            for n in args.workers.split(",")
        }
        longs = long_work(env, 200)
        jobs = timer_jobs(env, 200)
        cast = broadcast.run(args.broadcast, env) if args.broadcast else None

    report(cold, packaged, ours_runs, reference_runs, rates, len(updates), logs)
    if delayed is not None:
        report_delayed(*delayed, args.redis_delay_ms)
    report_long_work(longs)
    report_timers(jobs)
    if cast is not None:
        broadcast.report(cast)
    return 0


def report_delayed(ours: dict[str, Any], reference: dict[str, Any], delay_ms: float) -> None:
    """Both sides with Redis across a (simulated) network: each round trip costs 2 x delay."""
    o50, o99 = percentile(ours["inside"], 50), percentile(ours["inside"], 99)
    r50, r99 = percentile(reference["inside"], 50), percentile(reference["inside"], 99)
    table(
        f"Warm latency with Redis across a network ({delay_ms} ms each way through a delaying "
        f"proxy on loopback, {len(ours['inside'])} updates each)",
        ["", "p50", "p99", "p50 ratio", "p99 ratio", "Redis round trips per update"],
        [
            ["lambdagram `handler.handler`, inside the process", f"{o50:.2f} ms",
             f"{o99:.2f} ms", f"{o50 / r50:.2f}", f"{o99 / r99:.2f}",
             f"{ours['redis']['round_trips']:.2f}"],
            ["aiogram aiohttp server with RedisStorage, inside the server", f"{r50:.2f} ms",
             f"{r99:.2f} ms", "1.00", "1.00", f"{reference['redis']['round_trips']:.2f}"],
        ],
    )  # fmt: skip


def report_long_work(longs: dict[str, Any]) -> None:
    """The long-work figures: the webhook's answer, the worker's overhead, the cost."""
    q50, q99 = percentile(longs["quick"], 50), percentile(longs["quick"], 99)
    c50, c99 = percentile(longs["called"], 50), percentile(longs["called"], 99)
    l50, l99 = percentile(longs["long"], 50), percentile(longs["long"], 99)
    w50, w99 = percentile(longs["worker"], 50), percentile(longs["worker"], 99)
    table(
        f"Long work ({len(longs['long'])} long updates through the stand-in queue on loopback)",
        ["", "p50", "p99", "p50 ratio", "target"],
        [
            ["webhook: a quick update, one awaited Bot API call (loopback HTTP)",
             f"{c50:.2f} ms", f"{c99:.2f} ms", "1.00", ""],
            ["webhook: a long-flagged update (claim, route, SQS send over loopback HTTP, mark "
             "queued)", f"{l50:.2f} ms", f"{l99:.2f} ms", f"{l50 / c50:.2f}", "<= 1.2"],
            ["webhook: a quick update replying in the webhook answer (no HTTP call)",
             f"{q50:.2f} ms", f"{q99:.2f} ms", f"{q50 / c50:.2f}", ""],
            ["worker: the same update, its handler doing nothing (the worker's overhead)",
             f"{w50:.2f} ms", f"{w99:.2f} ms", "", ""],
        ],
    )  # fmt: skip
    sqs = 3 * 1_000_000 * SQS_FIFO_PER_REQUEST  # send, receive, delete
    worker_requests = 1_000_000 * PER_REQUEST
    overhead = 1_000_000 * WORKER_MEMORY_GB * math.ceil(w50) / 1000 * GB_SECOND
    table(
        "Cost per million long updates, besides the webhook's own (as for a quick update) and "
        "the handler's own time",
        ["item", "per million"],
        [
            ["SQS FIFO: send, receive, delete ($0.50 per million requests)", f"${sqs:.2f}"],
            ["worker requests", f"${worker_requests:.2f}"],
            [f"worker overhead: {math.ceil(w50)} ms x {WORKER_MEMORY_GB:g} GB",
             f"${overhead:.2f}"],
            ["**total**", f"**${sqs + worker_requests + overhead:.2f}**"],
            ["the handler itself, per second it runs (512 MB)",
             f"${1_000_000 * WORKER_MEMORY_GB * GB_SECOND:.2f}"],
        ],
    )  # fmt: skip


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print a Markdown table under a title line."""
    print(title)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def report(
    cold: dict[str, Any],
    packaged: dict[str, Any] | None,
    ours_runs: list[dict[str, Any]],
    reference_runs: list[dict[str, Any]],
    rates: dict[int, float],
    updates: int,
    logs: dict[str, Any],
) -> None:
    """Print every figure beside its reference and target, with the spread of repeated runs
    (min / median / max) where the figure was measured more than once."""
    kinds = [("source tree", cold)]
    if packaged is not None:
        kinds.append(("packaged zip, read-only (as in /var/task)", packaged))
    rows = []
    for name, data in kinds:
        h, a = data["handler"], data["aiogram"]
        ratios = [mine / theirs for mine, theirs in zip(h["walls"], a["walls"], strict=True)]
        rows.append(
            [
                name,
                f"{h['wall_s']:.2f} s (import {h['import_s']:.2f} s, "
                f"first update {h['first_s'] * 1000:.0f} ms)",
                spread(h["walls"], " s"),
                f"{a['wall_s']:.2f} s",
                f"{h['wall_s'] / a['wall_s']:.2f}",
                spread(ratios),
                "<= 0.20",
            ]
        )
    table(
        "Cold start: a fresh process, spawn to exit (median of the runs after a warm-up run; "
        "spread min / median / max)",
        ["", "lambdagram: `import handler` + first webhook answered", "spread",
         "reference: bare `import aiogram`", "ratio", "ratio spread (run i vs run i)", "target"],
        rows,
    )  # fmt: skip
    table(
        "Peak RSS of the cold process",
        ["", "lambdagram", "spread", "reference: bare `import aiogram`", "target"],
        [
            [name, f"{d['handler']['rss_max_mb']:.0f} MB", spread(d["handler"]["rss"], " MB", 0),
             f"{d['aiogram']['rss_max_mb']:.0f} MB", "<= 64 MB"]
            for name, d in kinds
        ],
    )  # fmt: skip

    def p(runs: list[dict[str, Any]], where: str, q: float) -> list[float]:
        return [percentile(run[where], q) for run in runs]

    o50, o99 = p(ours_runs, "inside", 50), p(ours_runs, "inside", 99)
    r50, r99 = p(reference_runs, "inside", 50), p(reference_runs, "inside", 99)
    c50, c99 = p(ours_runs, "outside", 50), p(ours_runs, "outside", 99)
    s50, s99 = p(reference_runs, "outside", 50), p(reference_runs, "outside", 99)
    ratio50 = [x / y for x, y in zip(o50, r50, strict=True)]
    ratio99 = [x / y for x, y in zip(o99, r99, strict=True)]
    med = statistics.median
    table(
        f"Warm latency per update ({updates} updates of questionnaire dialogs per run, "
        f"{len(ours_runs)} runs of each side interleaved; same Redis, same fake Bot API; "
        f"{pinned()}each cell the median run, then min / median / max over the runs)",
        ["", "p50", "p99", "p50 ratio", "p99 ratio", "target"],
        [
            ["lambdagram `handler.handler`, inside the process",
             f"{med(o50):.2f} ms ({spread(o50)})", f"{med(o99):.2f} ms ({spread(o99)})",
             f"{med(ratio50):.2f} ({spread(ratio50)})", f"{med(ratio99):.2f} ({spread(ratio99)})",
             "p50 <= 1.1, p99 <= 1.5"],
            ["aiogram aiohttp server, inside the server", f"{med(r50):.2f} ms ({spread(r50)})",
             f"{med(r99):.2f} ms ({spread(r99)})", "1.00", "1.00", ""],
            ["lambdagram, as its caller sees it (pipe)", f"{med(c50):.2f} ms",
             f"{med(c99):.2f} ms", "", "", ""],
            ["aiogram server, as a client sees it (HTTP keep-alive)", f"{med(s50):.2f} ms",
             f"{med(s99):.2f} ms", "", "", ""],
        ],
    )  # fmt: skip
    ours, reference = ours_runs[0], reference_runs[0]
    round_trips = {run["redis"]["round_trips"] for run in ours_runs}
    if len(round_trips) > 1:  # the same workload must give the same count every time
        print(f"NOTE: Redis round trips differ between runs: {sorted(round_trips)}\n")
    table(
        "Redis per update",
        ["", "round trips", "commands (including those inside Lua scripts)"],
        [
            ["lambdagram (dedupe + chat lock + atomic commit)",
             f"{ours['redis']['round_trips']:.2f}", f"{ours['redis']['commands']:.2f}"],
            ["aiogram RedisStorage (no dedupe, no lock)",
             f"{reference['redis']['round_trips']:.2f}", f"{reference['redis']['commands']:.2f}"],
        ],
    )  # fmt: skip
    table(
        "Throughput: warm Lambda processes against one Redis, 8 chats per process at once",
        ["processes", "updates/s"],
        [[str(workers), f"{rate:.0f}"] for workers, rate in rates.items()],
    )
    cold_s = (packaged or cold)["handler"]["wall_s"]
    cost = cost_per_million(med(o50), cold_s)
    app_gb, platform_gb = logs["app"] / 1e3, logs["platform"] / 1e3  # per million, in GB
    log_cost = app_gb * LOGS_PER_GB
    table(
        "Log volume per warm update, as CloudWatch Logs counts it (text + 26 bytes per event)",
        ["", "bytes per update", "lines", "per million updates"],
        [
            [f"the function's own lines at INFO ({', '.join(logs['messages'])})",
             f"{logs['app']:.0f}", f"{logs['lines']:.2f} (EMF {logs['emf']:.2f})",
             f"${log_cost:.3f}"],
            ["Lambda's START/END/REPORT (systemLogLevel=WARN drops them: 0)",
             f"0 (at INFO: {logs['platform']:.0f})", "0 (3)",
             f"$0 (at INFO: ${platform_gb * LOGS_PER_GB:.3f})"],
        ],
    )  # fmt: skip
    compute = cost["total"]
    table(
        f"All-in cost per million updates at {MEMORY_GB * 1024:.0f} MB arm64 "
        f"(${GB_SECOND}/GB-s, $0.20 per million requests; duration billed per ms at the warm "
        f"p50; {COLD_STARTS_PER_MILLION} cold starts of {cold_s:.2f} s; logs ${LOGS_PER_GB}/GB)",
        ["requests", "duration", "init", "compute", "logs", "total", "logs vs compute"],
        [[f"${cost['requests']:.2f}", f"${cost['duration']:.4f}", f"${cost['init']:.4f}",
          f"${compute:.2f}", f"${log_cost:.3f}", f"${compute + log_cost:.2f}",
          f"{log_cost / compute:.2f}x" + (" (below)" if log_cost < compute else " (ABOVE)")]],
    )  # fmt: skip
    metrics = len(Metric) + 1  # every count, and LockWait
    alarms, alarm_metrics = alarm_counts()
    fixed = metrics * METRIC_MONTH + alarm_metrics * ALARM_METRIC_MONTH + DASHBOARD_MONTH
    table(
        "Fixed monthly cost of operating a stage (whatever the traffic)",
        ["custom metrics (only those emitted)", f"alarms ({alarms}, {alarm_metrics} metrics)",
         "dashboard", "total"],
        [[f"up to ${metrics * METRIC_MONTH:.2f} ({metrics} x ${METRIC_MONTH})",
          f"${alarm_metrics * ALARM_METRIC_MONTH:.2f}",
          f"$0 (first 3) or ${DASHBOARD_MONTH:.2f}",
          f"up to ${fixed:.2f}"]],
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
