"""The ledger under several workers, on SQLite and PostgreSQL: claims with an owner and a
lease, recovery that never touches a live worker's delivery, the due-ness guard in the
claim itself, and concurrent claiming from separate connections (separate processes)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from dispatcher.ledger.leases import (
    CAMPAIGN_LEASE,
    RUN_ROLE,
    WORKER_ROLE,
    abandoned,
    expired,
    heartbeat_deadline,
    is_expired,
    owner_alive,
    owner_id,
)
from dispatcher.ledger.schema import deliveries, utcnow
from dispatcher.ledger.store import Ledger
from tests.test_ledger import CHANNELS, NOW, item, open_ledger


async def test_recovery_takes_back_only_what_nobody_holds(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(item("a"), CHANNELS, status="ready")
        rows = {r.channel: r for r in await ledger.deliveries_for(["a"])}
        soon, gone = utcnow() + timedelta(minutes=5), utcnow() - timedelta(seconds=1)
        live = await ledger.claim(
            rows["x"].id, idempotent=False, mode="live", owner="h/worker/1", lease_until=soon
        )
        dead = await ledger.claim(
            rows["facebook"].id, idempotent=False, mode="live", owner="h/worker/2",
            lease_until=gone,
        )  # fmt: skip
        mine = await ledger.claim(
            rows["website"].id, idempotent=True, mode="live", owner="h/run", lease_until=soon
        )
        assert live and dead and mine
        # another worker's reconciler: only the expired lease is taken back
        assert await ledger.recover() == {"unknown": 1, "pending": 0}
        states = {r.channel: r.status for r in await ledger.deliveries_for(["a"])}
        assert states == {
            "website": "sending", "facebook": "unknown", "x": "sending", "telegram": "pending"
        }  # fmt: skip
        # the in-process runner restarted on this host takes back its own at once
        assert await ledger.recover("h/run") == {"unknown": 0, "pending": 1}
        states = {r.channel: r.status for r in await ledger.deliveries_for(["a"])}
        assert states["website"] == "pending" and states["x"] == "sending"
        # the live worker finishes normally
        await ledger.finish(live, status="sent", outcome="sent", remote_id="t1")
        row = (await ledger.deliveries_by_id([rows["x"].id]))[rows["x"].id]
        assert (row.status, row.claimed_by, row.lease_until) == (
            "sent", "h/worker/1", None
        )  # fmt: skip
    finally:
        await ledger.close()


async def test_a_late_outcome_never_clobbers_a_newer_attempt(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(item("a"), ["website", "x"], status="ready")
        rows = {r.channel: r for r in await ledger.deliveries_for(["a"])}
        past = utcnow() - timedelta(seconds=1)
        slow = await ledger.claim(
            rows["website"].id, idempotent=True, mode="live", lease_until=past
        )
        assert slow is not None
        await ledger.recover()  # idempotent: pending again, and claimed by someone else
        again = await ledger.claim(rows["website"].id, idempotent=True, mode="live")
        assert again is not None and again.attempt_number == 2
        await ledger.finish(slow, status="failed", outcome="permanent", error="tarde")
        row = (await ledger.deliveries_by_id([rows["website"].id]))[rows["website"].id]
        assert row.status == "sending"  # the newer attempt still owns it
        # a social post given up as unknown is settled by its own late answer
        tweet = await ledger.claim(rows["x"].id, idempotent=False, mode="live", lease_until=past)
        assert tweet is not None
        await ledger.recover()
        await ledger.finish(tweet, status="sent", outcome="sent", remote_id="t9")
        row = (await ledger.deliveries_by_id([rows["x"].id]))[rows["x"].id]
        assert (row.status, row.remote_id) == ("sent", "t9")
    finally:
        await ledger.close()


async def test_the_claim_itself_checks_due_ness(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(
            item("b", publish_at=NOW + timedelta(hours=1)), CHANNELS, status="ready"
        )
        rows = {r.channel: r for r in await ledger.deliveries_for(["b"])}
        web, x = rows["website"].id, rows["x"].id
        assert await ledger.claim(web, idempotent=True, mode="live", due_at=NOW) is None
        # the website first: X is not due while the website is open, embargo or not
        later = NOW + timedelta(hours=2)
        assert await ledger.claim(x, idempotent=False, mode="live", due_at=later) is None
        claim = await ledger.claim(web, idempotent=True, mode="live", due_at=later)
        assert claim is not None
        await ledger.finish(claim, status="sent", outcome="sent", url="https://s/b/")
        assert await ledger.claim(x, idempotent=False, mode="live", due_at=later) is not None
    finally:
        await ledger.close()


async def test_separate_connections_never_claim_the_same_delivery(ledger_url: str) -> None:
    """Two ledgers (two engines, as two worker processes have) race for 40 deliveries."""
    first = await open_ledger(ledger_url)
    second = Ledger.from_url(ledger_url)
    try:
        for n in range(10):
            await first.add_item(item(f"i{n}"), CHANNELS, status="ready")
        ids = [r.id for r in await first.deliveries_for([f"i{n}" for n in range(10)])]

        async def grab(ledger: Ledger, owner: str) -> list[int]:
            claims = await asyncio.gather(
                *(ledger.claim(i, idempotent=True, mode="live", owner=owner) for i in ids)
            )
            return [c.delivery_id for c in claims if c is not None]

        won = await asyncio.gather(grab(first, "w1"), grab(second, "w2"), grab(first, "w3"))
        flat = [i for group in won for i in group]
        assert sorted(flat) == sorted(ids)  # each delivery claimed exactly once
        owners = {
            r.id: r.claimed_by for r in await first.deliveries_for([f"i{n}" for n in range(10)])
        }
        for owner, group in zip(("w1", "w2", "w3"), won, strict=True):
            assert all(owners[i] == owner for i in group)
    finally:
        await first.close()
        await second.close()


async def test_one_expiry_rule_in_sql_and_in_python(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(item("a"), CHANNELS, status="ready")
        rows = {r.channel: r for r in await ledger.deliveries_for(["a"])}
        now = utcnow()
        leases = {
            "website": None,  # claimed without a lease
            "facebook": now - timedelta(seconds=1),
            "x": now + timedelta(minutes=5),
            "telegram": now + timedelta(minutes=5),
        }
        owners = {"website": None, "facebook": "h/worker/2", "x": "h/worker/1", "telegram": "h/run"}
        for channel, lease in leases.items():
            claim = await ledger.claim(
                rows[channel].id, idempotent=True, mode="live", owner=owners[channel],
                lease_until=lease,
            )  # fmt: skip
            assert claim is not None
        async with ledger.engine.connect() as conn:
            in_sql = set(
                (
                    await conn.execute(
                        select(deliveries.c.channel).where(expired(deliveries.c.lease_until, now))
                    )
                ).scalars()
            )
            taken_back = set(
                (
                    await conn.execute(
                        select(deliveries.c.channel).where(
                            abandoned(
                                deliveries.c.claimed_by, deliveries.c.lease_until, now, "h/run"
                            )
                        )
                    )
                ).scalars()
            )
        stored = {r.channel: r.lease_until for r in await ledger.deliveries_for(["a"])}
        in_python = {c for c, lease in stored.items() if is_expired(lease, now)}
        assert in_sql == in_python == {"website", "facebook"}
        assert taken_back == {"website", "facebook", "telegram"}  # and the caller's own
    finally:
        await ledger.close()


def test_owner_ids_and_which_owners_are_gone() -> None:
    host = socket.gethostname()
    assert owner_id(RUN_ROLE, per_process=False) == f"{host}/run"
    worker = owner_id(WORKER_ROLE, per_process=True)
    assert worker.startswith(f"{host}/worker/") and worker.rsplit("/", 1)[1].isdigit()
    one, two = (owner_id("mailing", per_process=True, unique=True) for _ in range(2))
    assert one != two and one.rsplit("/", 1)[0] == two.rsplit("/", 1)[0]
    assert owner_alive(worker) and owner_alive(one) and owner_alive(f"{host}/run")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    assert not owner_alive(f"{host}/worker/{child.pid}")
    assert not owner_alive(f"{host}/mailing/{child.pid}/ab12cd34")
    assert not owner_alive(f"{host}:{child.pid}:ab12cd34")  # the campaigns' older form
    assert owner_alive(f"otra-maquina/worker/{child.pid}")  # only its lease can tell


def test_a_heartbeat_is_a_lease_from_the_last_beat() -> None:
    now = utcnow()
    fresh = now - timedelta(seconds=CAMPAIGN_LEASE - 5)
    stale = now - timedelta(seconds=CAMPAIGN_LEASE + 5)
    assert not is_expired(heartbeat_deadline(fresh), now)
    assert is_expired(heartbeat_deadline(stale), now)
    assert is_expired(heartbeat_deadline(None), now)
    assert is_expired(now - timedelta(microseconds=1), now)
    assert not is_expired(now + timedelta(seconds=1), now)
