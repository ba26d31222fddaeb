"""The arq path in-process (real Redis, real PostgreSQL, arq workers in burst mode) with
time moved by the App's clock: an embargoed item is not sent before its time — not even by
a stale job that runs early — and is sent after it; a Redis flush loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.run.worker import JOB_MARGIN, WorkerProcess, delivery_functions
from dispatcher.services.delivery.queue import (
    DELIVER_QUEUE,
    LONG_QUEUE,
    Enqueuer,
    connect,
    job_id,
    queue_for,
)
from tests.test_scale_support import Clock, bogota, boletin, make_app, make_settings, take_in

pytest_plugins = ["tests.test_scale_support"]

# arq 0.28 closes its pool with redis-py's deprecated close()
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def burst(app: object) -> None:
    """Run ``pregonero worker``'s two arq workers until their queues are empty."""
    process = WorkerProcess(app, "test/worker", burst=True)  # type: ignore[arg-type]
    await process.start()
    try:
        await process.run()
    finally:
        await process.close()


async def test_embargo_holds_under_arq_and_lifts_on_time(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    clock = Clock(bogota(2026, 11, 26, 9, 0))
    app = await make_app(make_settings(tmp_path, postgres_url, redis_url=redis_url), clock)
    redis = await connect(redis_url)
    enqueuer = Enqueuer(app, redis)
    try:
        await take_in(app, boletin(1, publish_at="2026-11-26T10:00:00"))
        rows = await app.ledger.deliveries_for(["boletin-prueba-001"])
        assert (await enqueuer.reconcile()).enqueued == 0  # nothing is due before 10:00

        # a stale job for the website (say, from before /programar moved the embargo)
        website = next(r for r in rows if r.channel == "website")
        assert await enqueuer.enqueue(website.id, "website", 0)
        assert not await enqueuer.enqueue(website.id, "website", 0)  # the id is taken
        await burst(app)
        after = await app.ledger.deliveries_for(["boletin-prueba-001"])
        assert {(r.status, r.attempts) for r in after} == {("pending", 0)}

        clock.now = bogota(2026, 11, 26, 10, 0, 1)
        assert (await enqueuer.reconcile()).enqueued == 1  # the website first
        assert await redis.zcard(DELIVER_QUEUE) == 1
        await burst(app)  # the website's job enqueues the other channels when it is done
        after = await app.ledger.deliveries_for(["boletin-prueba-001"])
        assert {r.status for r in after} == {"sent"}
        assert {r.claimed_by for r in after} == {"test/worker"}
        # each attempt has its own job id, so a finished job frees nothing that matters:
        # enqueueing a sent delivery again runs a job that sends nothing
        assert await enqueuer.enqueue(website.id, "website", 1)
        await burst(app)
        again = await app.ledger.deliveries_for(["boletin-prueba-001"])
        assert [r.attempts for r in again] == [r.attempts for r in after]
        assert job_id(website.id, 1) == f"pregonero:deliver:{website.id}:1"
    finally:
        await redis.aclose(close_connection_pool=True)
        await app.aclose()


async def test_flushed_queue_is_rebuilt_from_the_ledger(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    clock = Clock(bogota(2026, 11, 26, 9, 0))
    app = await make_app(make_settings(tmp_path, postgres_url, redis_url=redis_url), clock)
    redis = await connect(redis_url)
    enqueuer = Enqueuer(app, redis)
    try:
        for n in range(5):
            await take_in(app, boletin(n), name=f"b{n}.md")
        assert (await enqueuer.reconcile()).enqueued == 5
        await redis.flushdb()
        assert await redis.zcard(DELIVER_QUEUE) == 0
        await burst(app)  # a worker's start reconciles: the queue comes back from the ledger
        rows = await app.ledger.deliveries_for([f"boletin-prueba-{n:03d}" for n in range(5)])
        assert len(rows) == 25 and {r.status for r in rows} == {"sent"}
    finally:
        await redis.aclose(close_connection_pool=True)
        await app.aclose()


async def test_long_sends_have_a_queue_of_their_own(tmp_path: Path) -> None:
    """A live mailing campaign (no publish timeout) goes to ``pregonero:long``, so a dead
    worker's social jobs are not held for the campaign's hours-long job timeout."""
    smtp = {"host": "127.0.0.1", "port": 2525, "from": "Prensa <prensa@example.org>"}
    app = await make_app(make_settings(tmp_path, smtp=smtp), Clock(bogota(2026, 11, 26, 9, 0)))
    try:
        assert queue_for(app, "mailing") == LONG_QUEUE
        assert queue_for(app, "x") == queue_for(app, "website") == DELIVER_QUEUE
        short = {f.name: f.timeout_s for f in delivery_functions(app, long=False)}
        assert "deliver:mailing" not in short
        assert short["deliver:x"] == app.settings.delivery.timeout + JOB_MARGIN
        long = {f.name for f in delivery_functions(app, long=True)}
        assert "deliver:mailing" in long
    finally:
        await app.aclose()
