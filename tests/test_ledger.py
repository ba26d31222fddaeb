"""The ledger on SQLite and PostgreSQL alike: the status guard, due-ness (embargo, website
first, retry time), recovery after a crash, retry and cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dispatcher.items.model import ContentItem, FrontMatter
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import NotFound

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
CHANNELS = ["website", "facebook", "x", "telegram"]


def item(item_id: str, *, publish_at: datetime | None = None, digest: str = "d1") -> ContentItem:
    meta = FrontMatter(kind="boletin", title=f"Boletín {item_id}", id=f"item-{item_id}")
    return ContentItem(
        meta=meta,
        body="Texto.",
        id=item_id,
        summary="Texto.",
        date=date(2026, 11, 26),
        publish_at=publish_at,
        base_dir=Path("/tmp/archivo"),
        digest=digest,
    )


async def open_ledger(url: str) -> Ledger:
    ledger = Ledger.from_url(url)
    await ledger.init()
    return ledger


async def test_status_guard_claims_once(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(item("a"), CHANNELS, status="ready")
        website = next(r for r in await ledger.deliveries_for(["a"]) if r.channel == "website")
        claims = await asyncio.gather(
            *(ledger.claim(website.id, idempotent=True, mode="live") for _ in range(5))
        )
        assert sum(c is not None for c in claims) == 1
        claim = next(c for c in claims if c is not None)
        # a delivery being sent, or sent, is never claimed again
        assert await ledger.claim(website.id, idempotent=True, mode="live") is None
        await ledger.finish(
            claim, status="sent", outcome="sent", remote_id="r1", url="https://sitio/a/"
        )
        assert await ledger.claim(website.id, idempotent=True, mode="live") is None
        row = await ledger.get_item("a")
        assert row is not None and row.url == "https://sitio/a/"
        attempts = await ledger.attempts_for([website.id])
        assert [(a.number, a.outcome) for a in attempts] == [(1, "sent")]
    finally:
        await ledger.close()


async def test_due_honours_website_first_embargo_and_retry_time(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(item("a"), CHANNELS, status="ready")
        await ledger.add_item(
            item("b", publish_at=NOW + timedelta(hours=2)), CHANNELS, status="ready"
        )
        await ledger.add_item(item("c"), CHANNELS, status="awaiting_approval")
        due = await ledger.due(NOW)
        # only a's website: the others wait for it, b is embargoed, c awaits approval
        assert [(r.item_id, r.channel) for r in due] == [("a", "website")]
        claim = await ledger.claim(due[0].id, idempotent=True, mode="live")
        assert claim is not None
        await ledger.finish(claim, status="sent", outcome="sent", remote_id="p", url="https://s/a/")
        due = await ledger.due(NOW)
        assert sorted(r.channel for r in due) == ["facebook", "telegram", "x"]
        # a transient failure waits for its retry time
        x = next(r for r in due if r.channel == "x")
        claim = await ledger.claim(x.id, idempotent=False, mode="live")
        assert claim is not None
        retry_at = NOW + timedelta(seconds=30)
        await ledger.finish(
            claim, status="retry_wait", outcome="transient", error="429", retry_at=retry_at
        )
        assert "x" not in [r.channel for r in await ledger.due(NOW)]
        assert "x" in [r.channel for r in await ledger.due(retry_at)]
        assert await ledger.next_retry(NOW) == retry_at
        assert await ledger.next_embargo(NOW) == NOW + timedelta(hours=2)
        # the embargo lifts at publish_at
        later = await ledger.due(NOW + timedelta(hours=2))
        assert ("b", "website") in [(r.item_id, r.channel) for r in later]
    finally:
        await ledger.close()


async def test_recover_after_crash(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(item("a"), CHANNELS, status="ready")
        rows = {r.channel: r for r in await ledger.deliveries_for(["a"])}
        web = await ledger.claim(rows["website"].id, idempotent=True, mode="live")
        social = await ledger.claim(rows["x"].id, idempotent=False, mode="live")
        assert web and social
        # the process dies here: both rows are left 'sending'
        result = await ledger.recover()
        assert result == {"unknown": 1, "pending": 1}
        states = {r.channel: r.status for r in await ledger.deliveries_for(["a"])}
        assert states["website"] == "pending"  # idempotent: simply sent again
        assert states["x"] == "unknown"  # a tweet is never re-sent blindly
        attempts = await ledger.attempts_for([rows["x"].id])
        assert [a.outcome for a in attempts] == ["interrupted"]
        # only an explicit retry puts the unknown one back
        assert await ledger.retry("a", "x") == ["x"]
        states = {r.channel: r.status for r in await ledger.deliveries_for(["a"])}
        assert states["x"] == "pending"
    finally:
        await ledger.close()


async def test_cancel_and_correction(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(item("a"), CHANNELS, status="ready")
        result = await ledger.cancel("a")
        assert (result.cancelled, result.published) == (len(CHANNELS), ())
        assert result.item_status == "cancelled"
        assert await ledger.due(NOW) == []
        row = await ledger.get_item("a")
        assert row is not None and row.status == "cancelled"
        revision = await ledger.add_correction(
            item("a", digest="d2"), ["website"], needs_approval=False
        )
        assert revision == 2
        rows = [r for r in await ledger.deliveries_for(["a"]) if r.revision == 2]
        assert [(r.channel, r.action, r.status) for r in rows] == [
            ("website", "correction", "pending")
        ]
        content = (await ledger.item("a")).content()
        assert content.digest == "d2"
        with pytest.raises(NotFound):
            await ledger.item("nope")
        with pytest.raises(NotFound):
            await ledger.cancel("nope")
        assert len(await ledger.secret_key()) >= 32
        assert await ledger.secret_key() == await ledger.secret_key()
    finally:
        await ledger.close()


async def test_rows_come_back_as_typed_records(ledger_url: str) -> None:
    """Nothing above the ledger sees a SQLAlchemy row: items, deliveries, due rows and
    attempts are frozen records whose statuses and actions are the ledger's enums."""
    import dataclasses

    from dispatcher.ledger.records import AttemptRecord, DeliveryRecord, DueDelivery, ItemRecord
    from dispatcher.ledger.types import (
        AttemptOutcome,
        DeliveryAction,
        DeliveryStatus,
        ItemStatus,
    )

    ledger = await open_ledger(ledger_url)
    try:
        await ledger.add_item(item("a"), CHANNELS, status="ready")
        stored = await ledger.get_item("a")
        assert isinstance(stored, ItemRecord) and stored.status is ItemStatus.READY
        assert stored.content().id == "a" and stored.content().digest == "d1"
        assert [i.id for i in await ledger.list_items()] == ["a"]
        due = await ledger.due(NOW)
        assert [type(d) for d in due] == [DueDelivery]
        assert due[0].action is DeliveryAction.PUBLISH and due[0].has_website is True
        claim = await ledger.claim(due[0].id, idempotent=True, mode="live")
        assert claim is not None
        await ledger.finish(claim, status="sent", outcome="sent", remote_id="r1", url="u")
        rows = {d.channel: d for d in await ledger.deliveries_for(["a"])}
        assert all(isinstance(d, DeliveryRecord) for d in rows.values())
        assert rows["website"].status is DeliveryStatus.SENT
        assert rows["x"].status is DeliveryStatus.PENDING
        by_id = await ledger.deliveries_by_id([rows["website"].id])
        assert by_id[rows["website"].id] == rows["website"]
        (attempt,) = await ledger.attempts_for([rows["website"].id])
        assert isinstance(attempt, AttemptRecord) and attempt.outcome is AttemptOutcome.SENT
        with pytest.raises(dataclasses.FrozenInstanceError):
            stored.status = ItemStatus.CANCELLED  # type: ignore[misc]
        assert await ledger.get_item("no-existe") is None
        with pytest.raises(NotFound):
            await ledger.item("no-existe")
    finally:
        await ledger.close()


def test_the_delivery_path_statements_keep_their_compiled_form() -> None:
    """The statements run for every delivery (due, claim, finish) carry no expanding
    ``IN`` parameter: SQLAlchemy renders those into the SQL again at every execution (a
    third of a claim's cost), so their fixed status lists are bound equalities."""
    from sqlalchemy.dialects import postgresql, sqlite

    from dispatcher.ledger import store

    finish = store._finish_statement(("status", "updated_at"))
    for statement in (store._DUE, store._DUE_FOR_ITEM, store._CLAIM, store._CLAIM_DUE, finish):
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            sql = str(statement.compile(dialect=dialect))
            assert "POSTCOMPILE" not in sql, sql
            assert " IN (" not in sql.upper(), sql
