"""``pregonero worker`` processes on real Redis and PostgreSQL: every delivery exactly once
with two workers, a worker killed mid-delivery, and a Redis flush in the middle of a run.

Website, Telegram, Facebook and mailing run in outbox mode (idempotent); X is live against
the X double, which counts what reached "X".
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import pytest
from redis.asyncio import Redis

from tests.conftest import Workspace
from tests.doubles.x import XDouble
from tests.test_scale_support import Workers, boletin, deliveries, scale_env, wait_for

pytestmark = pytest.mark.slow

pytest_plugins = ["tests.test_scale_support"]

OPEN = {"pending", "sending", "retry_wait"}


def tweets_per_item(x: XDouble) -> Counter[str]:
    counts: Counter[str] = Counter()
    for tweet in x.tweets.values():
        match = re.search(r"número (\d{3})", tweet["text"])
        assert match, tweet["text"]
        counts[f"boletin-prueba-{match[1]}"] += 1
    return counts


def drop(ws: Workspace, count: int) -> None:
    for n in range(count):
        ws.write(f"boletin-{n:03d}.md", boletin(n))


async def settled(url: str, total: int) -> list[dict[str, object]] | None:
    rows = await deliveries(url)
    if len(rows) == total and not any(r["status"] in OPEN for r in rows):
        return rows
    return None


async def all_settled(url: str, total: int, workers: Workers) -> list[dict[str, object]]:
    """Wait for every delivery to be final; on a timeout, say which are not and why."""
    try:
        rows: list[dict[str, object]] = await wait_for(
            lambda: settled(url, total), 120, "todas las entregas"
        )
        return rows
    except AssertionError:
        left = [r for r in await deliveries(url) if r["status"] in OPEN]
        raise AssertionError(f"sin terminar: {left}\n{workers.stop()}") from None


async def test_two_workers_send_every_delivery_exactly_once(
    workspace: Workspace, postgres_url: str, redis_url: str, x_double: XDouble
) -> None:
    scale_env(workspace, postgres_url, redis_url)
    workspace.env.update(x_double.settings_env())
    drop(workspace, 50)
    workers = Workers(workspace)
    try:
        workers.start(2)
        await workers.ready(2)
        run = await asyncio.to_thread(workspace.cli, "run", "--once", check=True)
        # it enqueues the websites; workers enqueue the other channels once the URL exists
        assert "puestas en la cola para los trabajadores" in run.stdout, run.stdout
        rows = await all_settled(postgres_url, 250, workers)
    finally:
        logs = workers.stop()
    assert {r["status"] for r in rows} == {"sent"}, logs
    assert all(r["attempts"] == 1 for r in rows)
    # both workers took part, and the status guard let each delivery through once
    assert len({r["claimed_by"] for r in rows}) == 2
    assert len(x_double.requests_to(r"/2/tweets$", "POST")) == 50
    assert tweets_per_item(x_double) == Counter({f"boletin-prueba-{n:03d}": 1 for n in range(50)})
    assert not x_double.errors


async def test_worker_killed_mid_delivery_loses_nothing(
    workspace: Workspace, postgres_url: str, redis_url: str, x_double: XDouble
) -> None:
    scale_env(workspace, postgres_url, redis_url, PREGONERO_DELIVERY__TIMEOUT="8")
    workspace.env.update(x_double.settings_env())
    # the first tweet hangs far longer than the test: its worker dies while sending it
    x_double.fail_next(1, path=r"/2/tweets$", method="POST", delay=120)
    drop(workspace, 12)
    workers = Workers(workspace)
    try:
        workers.start(2)
        await workers.ready(2)
        await asyncio.to_thread(workspace.cli, "run", "--once", check=True)
        hung = await wait_for(
            lambda: [r for r in x_double.requests_to(r"/2/tweets$") if r.fault == "delay"],
            60,
            "el tuit colgado",
        )
        number = re.search(r"número (\d{3})", hung[0].json["text"])
        assert number
        hung_item = f"boletin-prueba-{number[1]}"

        async def holder() -> str | None:
            rows = await deliveries(postgres_url)
            row = next(r for r in rows if r["item_id"] == hung_item and r["channel"] == "x")
            return str(row["claimed_by"]) if row["status"] == "sending" else None

        owner = await wait_for(holder, 10, "la reserva del tuit colgado")
        victim = next(p for p in workers.procs if owner.endswith(f"/{p.pid}"))
        workers.kill(victim)
        workers.start(1)  # a restart; the surviving worker carries on meanwhile
        rows = await all_settled(postgres_url, 60, workers)
    finally:
        logs = workers.stop()

    by_key = {(r["item_id"], r["channel"]): r for r in rows}
    stuck = by_key[(hung_item, "x")]
    assert stuck["status"] == "unknown", logs
    # only the dead worker's non-idempotent sends in flight became unknown; the rest went out
    for row in rows:
        if row["status"] == "unknown":
            assert row["claimed_by"] == owner and row["channel"] == "x"
        else:
            assert row["status"] == "sent", row
    # never a second tweet: sent ones went out once; an unknown one went out at most once
    # (the worker may have died after X created it), the hung one not yet
    counts = tweets_per_item(x_double)
    for (item_id, channel), row in by_key.items():
        if channel == "x":
            assert (counts[item_id] == 1) if row["status"] == "sent" else (counts[item_id] <= 1)
    assert counts[hung_item] == 0
    status = await asyncio.to_thread(workspace.cli, "status", hung_item, check=True)
    assert "DESCONOCIDO" in status.stdout


async def test_redis_flush_mid_run_is_rebuilt_from_the_ledger(
    workspace: Workspace, postgres_url: str, redis_url: str, x_double: XDouble
) -> None:
    scale_env(workspace, postgres_url, redis_url, PREGONERO_DELIVERY__CONCURRENCY="1")
    workspace.env.update(x_double.settings_env())
    x_double.fail_next(1000, path=r"/2/tweets$", method="POST", delay=0.15)  # a slow X
    drop(workspace, 30)
    workers = Workers(workspace)
    run = None
    redis = Redis.from_url(redis_url)
    try:
        workers.start(1)
        await workers.ready(1)
        run = workspace.popen("run")  # intake, scheduling and enqueueing; the worker delivers
        await wait_for(lambda: len(x_double.tweets) >= 3, 60, "los primeros tuits")
        queued = await redis.zcard("pregonero:deliver")
        await redis.flushdb()
        assert await redis.zcard("pregonero:deliver") == 0
        rows = await all_settled(postgres_url, 150, workers)
    finally:
        if run is not None:
            run.terminate()
            run.communicate(timeout=30)
        logs = workers.stop()
        await redis.aclose()
    assert queued > 0  # there was work in Redis when it was flushed
    assert {r["status"] for r in rows} == {"sent"}, logs
    assert tweets_per_item(x_double) == Counter({f"boletin-prueba-{n:03d}": 1 for n in range(30)})
