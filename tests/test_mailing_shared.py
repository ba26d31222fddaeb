"""One campaign, several senders, on PostgreSQL (claims with FOR UPDATE SKIP LOCKED): two
runs side by side send each recipient once; a dead holder's rows come back at once; the
Redis token bucket caps the rate of every sender together.

Real PostgreSQL (``postgres_url``), Redis (``redis_url``) and SMTP (aiosmtpd); the runs
here share one process, ``test_mailing_workers.py`` runs them as ``pregonero worker``s.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from pathlib import Path

import asyncpg

from dispatcher.ledger.journal import Journal
from dispatcher.ledger.schema import audience_mask
from dispatcher.ledger.store import Ledger
from dispatcher.services.mailing.bulletin import item_campaign, list_for
from dispatcher.services.mailing.campaign import CampaignSender
from dispatcher.services.mailing.ratelimit import shared_limiter
from settings import Settings
from tests.test_mailing_campaign import CONTENT
from tests.test_mailing_support import (
    Sink,
    add_subscribers,
    free_port,
    make_settings,
    smtp_server,
    subscriber_rows,
)

pytest_plugins = ["tests.test_scale_support"]


async def _setup(
    tmp_path: Path, url: str, port: int, count: int, **smtp: object
) -> tuple[Settings, Ledger, int]:
    settings = make_settings(tmp_path, port, **smtp).model_copy(update={"database_url": url})
    ledger = Ledger.from_url(url)
    await ledger.init()
    await add_subscribers(ledger, settings, subscriber_rows(count))
    campaign_id = await item_campaign(
        ledger, item_id="2026-12-07-compartida", revision=1, content=CONTENT,
        audiences=audience_mask(["ciudadania"]),
        list_id=list_for("informe_especial", "Informe especial", "bucaramanga.gov.co"),
    )  # fmt: skip
    return settings, ledger, campaign_id


async def _rows(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch("SELECT id, status, attempts, claimed_by FROM mail_recipients")
    finally:
        await conn.close()


async def test_two_runs_share_a_campaign_each_recipient_once(
    tmp_path: Path, postgres_url: str
) -> None:
    sink = Sink(pipelining=True)
    with smtp_server(sink) as port:
        settings, ledger, campaign_id = await _setup(tmp_path, postgres_url, port, 600)
        first = CampaignSender(ledger, settings)
        helper = CampaignSender(ledger, settings)
        result, joined = await asyncio.gather(
            first.run(campaign_id), helper.run(campaign_id, join=True)
        )
        await ledger.close()
    assert result.complete and result.sent == 600
    assert result.sent_now + joined.sent_now == 600
    assert result.sent_now > 0 and joined.sent_now > 0  # both took part
    counts = sink.count()
    assert len(counts) == 600 and set(counts.values()) == {1}
    rows = await _rows(postgres_url)
    assert {r["status"] for r in rows} == {"sent"} and {r["attempts"] for r in rows} == {1}
    assert len({r["claimed_by"] for r in rows}) == 2


async def test_rows_of_a_dead_holder_come_back_at_once(tmp_path: Path, postgres_url: str) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        settings, ledger, campaign_id = await _setup(tmp_path, postgres_url, port, 30)
        dead = f"{socket.gethostname()}/mailing/{2**22 + 4321}/x"  # a kill -9'd process
        alive_elsewhere = "otra-maquina/mailing/77/y"
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(
                "UPDATE mail_recipients SET claimed_by = $1, claimed_until = now() + interval "
                "'1 hour', status = CASE WHEN id <= 4 THEN 'sending' ELSE status END "
                "WHERE id <= 10",
                dead,
            )
            await conn.execute(
                "UPDATE mail_recipients SET claimed_by = $1, claimed_until = now() + interval "
                "'1 hour' WHERE id > 25",
                alive_elsewhere,
            )
        finally:
            await conn.close()
        helper = await CampaignSender(ledger, settings).run(campaign_id, join=True)
        # a helper takes what is free and the dead process's rows, not a live holder's
        assert helper.sent_now == 25 and helper.resent == 4 and helper.left == 5
        conn = await asyncpg.connect(postgres_url)
        try:  # that holder's lease runs out (another machine: no pid to look at)
            await conn.execute("UPDATE mail_recipients SET claimed_until = now() WHERE id > 25")
        finally:
            await conn.close()
        result = await CampaignSender(ledger, settings).run(campaign_id)
        await ledger.close()
    assert result.complete and result.sent == 30 and result.sent_now == 5
    assert sink.count() == Counter({row[0]: 1 for row in subscriber_rows(30)})


async def test_rate_cap_holds_across_senders(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    rate, count = 100.0, 300
    sink = Sink()
    with smtp_server(sink) as port:
        settings, ledger, campaign_id = await _setup(
            tmp_path, postgres_url, port, count, rate=rate, connections=3
        )
        settings = settings.model_copy(update={"redis_url": redis_url})
        started = time.monotonic()
        results = await asyncio.gather(
            CampaignSender(ledger, settings).run(campaign_id),
            CampaignSender(ledger, settings).run(campaign_id, join=True),
            CampaignSender(ledger, settings).run(campaign_id, join=True),
        )
        elapsed = time.monotonic() - started
        await ledger.close()
    assert sum(r.sent_now for r in results) == count and len(sink.messages) == count
    assert sum(1 for r in results if r.sent_now) >= 2
    # one bucket: a second's burst, then `rate` a second for all three together (three
    # separate limiters would have taken about a third of this)
    assert elapsed >= 0.9 * (count - rate) / rate


async def test_redis_bucket_grants_rate_per_second(redis_url: str) -> None:
    server = "smtp.example:25"
    async with (
        shared_limiter(redis_url, server, 50.0) as one,
        shared_limiter(redis_url, server, 50.0) as other,
    ):
        started = time.monotonic()
        for _ in range(75):  # a full bucket (50) then 25 more at 50/s between both
            await (one if _ % 2 else other).acquire()
        assert time.monotonic() - started >= 0.4


async def test_journal_on_postgresql_folds_an_outcome_and_the_next_mark(
    tmp_path: Path, postgres_url: str
) -> None:
    _, ledger, campaign_id = await _setup(tmp_path, postgres_url, free_port(), 3)
    ids = sorted(r["id"] for r in await _rows(postgres_url))
    journal = Journal(ledger, campaign_id, "prueba")
    await journal.mark(ids[0])
    journal.outcome(ids[0], "retry", "450 4.2.1 ocupado")
    again = journal.mark(ids[0])  # rides in the same batch as its outcome
    others = [journal.mark(ids[1]), journal.mark(ids[2])]
    await asyncio.gather(again, *others)
    journal.outcome(ids[1], "sent", "250 2.0.0 Ok")
    await journal.close()
    await ledger.close()
    rows = {r["id"]: tuple(r)[1:] for r in await _query(postgres_url, ids)}
    assert rows[ids[0]] == ("sending", 2, "450 4.2.1 ocupado")
    assert rows[ids[1]] == ("sent", 1, "250 2.0.0 Ok")
    assert rows[ids[2]] == ("sending", 1, None)
    assert journal.counts["sent"] == 1 and journal.counts["retry"] == 1


async def _query(url: str, ids: list[int]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            "SELECT id, status, attempts, reply FROM mail_recipients WHERE id = ANY($1)", ids
        )
    finally:
        await conn.close()


async def test_a_run_that_stops_hands_back_the_rows_it_held(
    tmp_path: Path, postgres_url: str
) -> None:
    settings, ledger, campaign_id = await _setup(tmp_path, postgres_url, free_port(), 20)
    sender = CampaignSender(ledger, settings, retry_delay=0.01, connect_attempts=1)
    down = await sender.run(campaign_id, join=True)  # nobody listens on that port
    await ledger.close()
    assert down.error is not None and "no se pudo conectar" in down.error and down.left == 20
    conn = await asyncpg.connect(postgres_url)
    try:
        held = await conn.fetch(
            "SELECT id FROM mail_recipients WHERE claimed_until IS NOT NULL OR status <> 'pending'"
        )
        claimed = await conn.fetchval(
            "SELECT count(*) FROM mail_recipients WHERE claimed_by IS NOT NULL"
        )
    finally:
        await conn.close()
    assert held == [] and claimed > 0  # it had claimed some; none waits for a lease now
