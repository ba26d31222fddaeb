"""One mail campaign sent by two ``pregonero worker`` processes (real PostgreSQL, Redis and
an aiosmtpd server): the worker running the item's mailing delivery sends it, the other
joins it by claiming batches; each subscriber gets one message, the rate cap holds for
the two together, and SIGKILLing the helper again and again loses no one and repeats at
most one message per open connection of each killed process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from tests.conftest import Workspace
from tests.test_mailing_support import FROM, PUBLIC, Sink, smtp_server, subscriber_rows
from tests.test_scale_support import Workers, scale_env, wait_for

pytestmark = pytest.mark.slow

pytest_plugins = ["tests.test_scale_support"]

CONNECTIONS = 4
ITEM = "informe-compartido"
REPORT = f"""---
kind: informe_especial
id: {ITEM}
title: "Informe especial para toda la lista"
date: 2026-12-07
channels:
  only: [website, mailing]
---

Un informe que sale por correo a todos los suscriptores a la vez.
"""


def _prepare(
    ws: Workspace, postgres_url: str, redis_url: str, port: int, n: int, rate: int
) -> None:
    scale_env(
        ws, postgres_url, redis_url,
        PREGONERO_SMTP__HOST="127.0.0.1", PREGONERO_SMTP__PORT=str(port),
        PREGONERO_SMTP__FROM=FROM, PREGONERO_SMTP__CONNECTIONS=str(CONNECTIONS),
        PREGONERO_SMTP__RATE=str(rate), PREGONERO_WEB__PUBLIC_URL=PUBLIC,
    )  # fmt: skip
    csv = ws.root / "lista.csv"
    lines = ["email,name,audiences,consent_at,consent_source"]
    lines += [",".join(row) for row in subscriber_rows(n)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws.cli("subscribers", "import", str(csv), check=True)
    ws.write(f"{ITEM}.md", REPORT)


async def _query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _recipients(url: str) -> list[asyncpg.Record]:
    return await _query(url, "SELECT status, claimed_by FROM mail_recipients")


def _pid(owner: str | None) -> int | None:
    """The process id in a claim's owner (``host/mailing/pid/token``)."""
    return int(owner.split("/")[2]) if owner else None


async def _mailing_done(url: str) -> str | None:
    rows = await _query(
        url, "SELECT status FROM deliveries WHERE item_id = $1 AND channel = 'mailing'", ITEM
    )
    return rows[0]["status"] if rows and rows[0]["status"] not in ("pending", "sending") else None


async def _run_once(ws: Workspace) -> None:
    run = await asyncio.to_thread(ws.cli, "run", "--once", check=True)
    assert "puestas en la cola para los trabajadores" in run.stdout, run.stdout


async def _first_message(sink: Sink, seconds: float = 90) -> float:
    await wait_for(lambda: sink.messages, seconds, "el primer correo")
    return time.monotonic()


async def test_two_workers_share_one_campaign_under_one_rate_cap(
    workspace: Workspace, postgres_url: str, redis_url: str
) -> None:
    n, rate = 2000, 400
    sink = Sink(pipelining=True)
    workers = Workers(workspace)
    with smtp_server(sink) as port:
        _prepare(workspace, postgres_url, redis_url, port, n, rate)
        try:
            workers.start(2)
            await workers.ready(2)
            await _run_once(workspace)
            first = await _first_message(sink)
            await wait_for(lambda: len(sink.messages) >= n, 120, "todos los correos")
            elapsed = time.monotonic() - first
            status = await wait_for(lambda: _mailing_done(postgres_url), 60, "la entrega")
        finally:
            logs = workers.stop()
    assert status == "sent", logs
    counts = sink.count()
    assert set(counts) == {row[0] for row in subscriber_rows(n)}
    assert set(counts.values()) == {1}, logs  # nobody twice
    rows = await _recipients(postgres_url)
    assert {r["status"] for r in rows} == {"sent"}
    senders = {_pid(r["claimed_by"]) for r in rows}
    assert senders == {p.pid for p in workers.procs}, logs  # both workers sent part of it
    # one bucket for both: a second's burst, then `rate` a second (with a limiter each they
    # would have taken about half of this)
    assert elapsed >= 0.9 * (n - rate) / rate, elapsed


async def test_helper_killed_again_and_again_loses_no_one(
    workspace: Workspace, postgres_url: str, redis_url: str
) -> None:
    n, rate, kills = 6000, 300, 3
    sink = Sink(pipelining=True)
    workers = Workers(workspace)
    with smtp_server(sink) as port:
        _prepare(workspace, postgres_url, redis_url, port, n, rate)
        try:
            workers.start(2)
            await workers.ready(2)
            await _run_once(workspace)
            await _first_message(sink)
            owner = await wait_for(
                lambda: _query(
                    postgres_url,
                    "SELECT claimed_by FROM deliveries WHERE item_id = $1 "
                    "AND channel = 'mailing' AND status = 'sending'",
                    ITEM,
                ),
                60,
                "la entrega de correo en curso",
            )
            primary = int(str(owner[0]["claimed_by"]).rsplit("/", 1)[1])
            killed = []
            for _ in range(kills):
                victim = next(p for p in workers.procs if p.poll() is None and p.pid != primary)

                def has_sent(pid: int = victim.pid) -> Callable[[], Any]:
                    async def check() -> bool:
                        rows = await _recipients(postgres_url)
                        return any(
                            r["status"] == "sent" and _pid(r["claimed_by"]) == pid for r in rows
                        )

                    return check

                await wait_for(has_sent(), 60, f"que el trabajador {victim.pid} envíe")
                workers.kill(victim)
                killed.append(victim.pid)
                workers.start(1)  # a restart: it joins the campaign again
            status = await wait_for(lambda: _mailing_done(postgres_url), 120, "la entrega")
        finally:
            logs = workers.stop()
    assert status == "sent", logs
    rows = await _recipients(postgres_url)
    assert len(rows) == n and {r["status"] for r in rows} == {"sent"}
    campaigns = await _query(postgres_url, "SELECT status FROM mail_campaigns")
    assert [c["status"] for c in campaigns] == ["done"]
    counts = sink.count()
    assert set(counts) == {row[0] for row in subscriber_rows(n)}  # nobody lost
    duplicates = sum(c - 1 for c in counts.values())
    assert duplicates <= CONNECTIONS * kills, duplicates  # ≤ one per open connection killed
    assert len(killed) == kills and primary not in killed
