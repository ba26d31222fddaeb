"""Queue payloads are JSON, never pickle: whoever can write to Redis must not run code in a
``pregonero worker`` (security review, finding 1). Real Redis, real arq workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arq.connections import create_pool
from arq.worker import Worker, func

from dispatcher.services.delivery.queue import (
    DELIVER_QUEUE,
    SERIALIZERS,
    connect,
    redis_settings,
)
from tests.test_scale_support import redis_url  # noqa: F401  (fixture)


class _Planted:
    """What an intruder pickles: unpickling it touches a file (it could run anything)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


async def test_enqueued_jobs_are_json(redis_url: str) -> None:  # noqa: F811
    redis = await connect(redis_url)
    try:
        job = await redis.enqueue_job("deliver:website", 42, "website", _job_id="j-json")
        assert job is not None
        raw = await redis.get("arq:job:j-json")
        assert raw is not None
        data = json.loads(raw)
        assert data["f"] == "deliver:website" and data["a"] == [42, "website"]
    finally:
        await redis.aclose()


async def test_a_pickled_job_is_dropped_and_the_worker_goes_on(
    redis_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    marker = tmp_path / "owned"
    ran: list[int] = []

    async def deliver(ctx: dict[str, Any], delivery_id: int, channel: str) -> str:
        ran.append(delivery_id)
        return "sent"

    # the intruder writes a pickled job straight into the queue (arq's default serializer)
    intruder = await create_pool(redis_settings(redis_url), default_queue_name=DELIVER_QUEUE)
    try:
        await intruder.enqueue_job("deliver:website", _Planted(marker), "x", _job_id="evil")
        raw = await intruder.get("arq:job:evil")
        assert raw is not None and raw[:1] == b"\x80"  # a pickle, as arq writes it by default
    finally:
        await intruder.aclose()
    # and a genuine job follows it
    redis = await connect(redis_url)
    try:
        await redis.enqueue_job("deliver:website", 7, "website", _job_id="good")
    finally:
        await redis.aclose()

    worker = Worker(
        [func(deliver, name="deliver:website")],
        redis_settings=redis_settings(redis_url),
        queue_name=DELIVER_QUEUE,
        burst=True,
        poll_delay=0,
        handle_signals=False,
        keep_result=0,
        **SERIALIZERS,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert not marker.exists(), "the pickled payload was unpickled"
    assert ran == [7]
    assert worker.jobs_failed == 1 and worker.jobs_complete == 1
