"""Shared pieces for the scale-out tests (no tests here): a Redis database of the test's
own, content files in bulk, waiting on the ledger, and ``pregonero worker`` processes.

Redis and PostgreSQL are real servers. Each test takes a free Redis database number
(8–15, claimed with a key so concurrent runs do not share one) and FLUSHDBs it, never
FLUSHALL. In CI (``CI`` set) a missing server fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dispatcher.items.model import ContentItem
from dispatcher.items.parse import parse
from dispatcher.run.loop import deliver_due
from dispatcher.services.context import App, build_app
from dispatcher.services.delivery.runner import InProcessRunner
from dispatcher.services.ingest import Tally, record
from dispatcher.services.intake import Accepted
from settings import Settings
from tests.conftest import REDIS_SERVER, Workspace, service_missing

TEST_DBS = range(8, 16)
LOCK_DB = 7  # holds the claims on TEST_DBS
LOCK_KEY = "pregonero:test-lock"


class Clock:
    """A settable clock for ``App(clock=…)``: tests move time, they never sleep for it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """``redis://…/<n>``: a Redis database of this test's own, flushed before and after.

    The claim on database ``n`` is a key in database ``LOCK_DB``, not in ``n`` itself: a
    test that flushes its database (to simulate a lost Redis) must not free it for another
    run while it still uses it."""
    base = REDIS_SERVER.rstrip("/")
    base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    locks = Redis.from_url(f"{base}/{LOCK_DB}", socket_connect_timeout=3)
    me = f"{os.getpid()}:{id(locks)}"
    try:
        for db in TEST_DBS:
            try:
                claimed = await locks.set(f"{LOCK_KEY}:{db}", me, nx=True, ex=900)
            except (OSError, RedisError) as exc:
                service_missing(f"Redis no disponible en {REDIS_SERVER}: {exc}")
                raise
            if not claimed:
                continue
            client = Redis.from_url(f"{base}/{db}", socket_connect_timeout=3)
            await client.flushdb()
            try:
                yield f"{base}/{db}"
            finally:
                await client.flushdb()
                await client.aclose()
                if (await locks.get(f"{LOCK_KEY}:{db}")) == me.encode():
                    await locks.delete(f"{LOCK_KEY}:{db}")
            return
    finally:
        await locks.aclose()
    pytest.fail("no hay una base de datos de Redis libre entre la 8 y la 15")


def boletin(n: int, *, publish_at: str | None = None) -> str:
    """A bulletin content file with a unique title (X refuses duplicate text)."""
    extra = f"publish_at: {publish_at}\n" if publish_at else ""
    return (
        f"---\nkind: boletin\nid: boletin-prueba-{n:03d}\n"
        f'title: "Boletín de prueba número {n:03d}"\ndate: 2026-11-26\n{extra}---\n\n'
        f"Texto del boletín de prueba número {n:03d} para la escala.\n"
    )


def scale_env(ws: Workspace, database_url: str, redis: str, **extra: str) -> None:
    ws.env.update(
        {
            "PREGONERO_DATABASE_URL": database_url,
            "PREGONERO_REDIS_URL": redis,
            "PREGONERO_WEBSITE__MODE": "outbox",
            "PREGONERO_DELIVERY__CONCURRENCY": "4",
            **extra,
        }
    )


async def deliveries(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "select id, item_id, channel, action, status, claimed_by, attempts from deliveries"
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def wait_for(
    predicate: Callable[[], Any], seconds: float = 60.0, what: str = "la condición"
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"se agotó la espera de {what}")
        await asyncio.sleep(0.1)


class Workers:
    """``pregonero worker`` processes of one test, stopped (or killed) at the end."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, n: int = 1) -> list[subprocess.Popen[str]]:
        started = []
        for _ in range(n):
            started.append(self.ws.popen("worker"))
        self.procs += started
        return started

    async def ready(self, count: int) -> None:
        """Wait until ``worker --check`` sees ``count`` live workers."""

        async def seen() -> bool:
            result = await asyncio.to_thread(self.ws.cli, "worker", "--check")
            return f"Trabajadores vivos: {count}" in result.stdout

        await wait_for(seen, 60, f"{count} trabajador(es) vivos")

    def kill(self, proc: subprocess.Popen[str]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> str:
        logs = []
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate(timeout=10)
            logs.append(err or "")
        return "\n".join(logs)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


BOGOTA = ZoneInfo("America/Bogota")


def bogota(*args: int) -> datetime:
    return datetime(*args, tzinfo=BOGOTA)  # type: ignore[misc]


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for an in-test App: outbox channels, a content folder under ``tmp_path``."""
    content = tmp_path / "content"
    for folder in ("inbox", "archive", "rejected", "outbox"):
        (content / folder).mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "content_dir": content,
        "database_url": database_url or f"sqlite:///{tmp_path / 'pregonero.db'}",
        "website": {"output_dir": tmp_path / "site", "mode": "outbox"},
        "delivery": {"backoff_base": 0.05},
        "_env_file": None,
    }
    options.update(overrides)
    return Settings(**options)


async def make_app(settings: Settings, clock: Clock) -> App:
    return await build_app(settings, clock=clock)


def content_item(app: App, text: str, name: str = "pieza.md") -> ContentItem:
    """A content file's text → a validated item, the way intake builds it."""
    folder = app.settings.content_dir / "archive" / name.removesuffix(".md")
    folder.mkdir(parents=True, exist_ok=True)
    return parse(
        text.encode("utf-8"),
        name=name,
        base_dir=folder,
        tz=app.settings.tz,
        today=app.clock().astimezone(app.settings.tz).date(),
        max_bytes=1_000_000,
        known_kinds=set(app.plan.kinds),
    )


async def take_in(app: App, text: str, name: str = "pieza.md") -> ContentItem:
    """Record a content file through the intake path (plan channels, early calls)."""
    item = content_item(app, text, name)
    await record(app, Accepted(name, item, item.base_dir), Tally())
    return item


async def deliver_all(app: App) -> None:
    """Deliver everything due now in this process (``run --once``'s delivery loop)."""
    await deliver_due(app, InProcessRunner(app, owner="test/run"))
