"""The ledger's read models (``ledger/queries.py``, ``ledger/reports.py``) on SQLite and
PostgreSQL: typed records with the ledger's enums, ``NotFound`` for a missing item, finding
an item from a piece of its id, the editors' queue, and the day and bulletin aggregates."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from dispatcher.ledger import queries, reports
from dispatcher.ledger.schema import mail_campaigns, mail_digest, utcnow
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import DeliveryAction, DeliveryStatus, ItemStatus, NotFound
from tests.test_ledger import CHANNELS, NOW, item, open_ledger


async def _add(ledger: Ledger, item_id: str, status: str = "ready", **kw: object) -> None:
    await ledger.add_item(item(item_id, **kw), CHANNELS, status=status)  # type: ignore[arg-type]
    await asyncio.sleep(0.01)  # distinct creation times: "most recent first" is well defined


async def test_items_are_found_by_id_or_a_unique_piece_of_it(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        for item_id in ("malla-vial", "malla-vial-norte", "parque-500"):
            await _add(ledger, item_id)
        assert [i.id for i in await queries.find_items(ledger, "malla-vial")] == ["malla-vial"]
        assert [i.id for i in await queries.find_items(ledger, " MALLA ")] == [
            "malla-vial-norte",
            "malla-vial",
        ]  # newest first
        assert [i.id for i in await queries.find_items(ledger, "norte")] == ["malla-vial-norte"]
        # LIKE's wildcards are taken literally (ids never contain them)
        assert await queries.find_items(ledger, "parque%") == []
        assert await queries.find_items(ledger, "malla_vial") == []
        assert await queries.find_items(ledger, "   ") == []
        assert await queries.find_items(ledger, "no-existe") == []
        assert len(await queries.find_items(ledger, "a", limit=3)) == 3

        view = await queries.item_view(ledger, "malla-vial")
        assert (view.kind, view.title, view.revision) == ("boletin", "Boletín malla-vial", 1)
        assert view.status is ItemStatus.READY and view.item_date == date(2026, 11, 26)
        assert view.url is None and view.publish_at is None
        content = await queries.item_content(ledger, "malla-vial")
        assert (content.id, content.title, content.body) == (
            "malla-vial",
            "Boletín malla-vial",
            "Texto.",
        )
        for missing in (queries.item_view, queries.item_content):
            with pytest.raises(NotFound) as raised:
                await missing(ledger, "no-existe")
            assert raised.value.key == "no-existe"
    finally:
        await ledger.close()


async def test_the_queue_and_what_needs_attention(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        await _add(ledger, "espera", status="awaiting_approval")
        await _add(ledger, "programada", publish_at=NOW + timedelta(days=1))
        await _add(ledger, "salida")
        await _add(ledger, "cancelada")
        await ledger.cancel("cancelada")
        out = await queries.deliveries_of(ledger, ["salida"])
        for delivery in out:
            claim = await ledger.claim(delivery.id, idempotent=True, mode="live")
            assert claim is not None
            if delivery.channel == "x":
                await ledger.finish(claim, status="failed", outcome="permanent", error="no")
            else:
                await ledger.finish(claim, status="sent", outcome="sent", remote_id="r")

        queue = await queries.open_items(ledger)
        assert [i.id for i in queue] == ["espera", "programada"]  # oldest first
        assert queue[1].scheduled_after(NOW) and not queue[1].scheduled_after(NOW + timedelta(2))

        rows = await queries.deliveries_of(ledger, ["salida", "espera"])
        assert [(d.item_id, d.channel) for d in rows][:2] == [
            ("espera", "website"),
            ("espera", "facebook"),
        ]
        assert all(isinstance(d.status, DeliveryStatus) for d in rows)
        assert {d.action for d in rows} == {DeliveryAction.PUBLISH}
        sent = [d for d in rows if d.item_id == "salida" and d.status is DeliveryStatus.SENT]
        assert len(sent) == 3 and all(d.sent_at is not None for d in sent)
        assert await queries.deliveries_of(ledger, []) == []

        attention = await queries.needing_attention(ledger)
        assert [(d.item_id, d.channel, d.status, d.last_error) for d in attention] == [
            ("salida", "x", DeliveryStatus.FAILED, "no")
        ]
    finally:
        await ledger.close()


async def test_day_and_bulletin_aggregates(ledger_url: str) -> None:
    ledger = await open_ledger(ledger_url)
    try:
        for item_id in ("a", "b", "c", "d"):
            await _add(ledger, item_id)
        await ledger.cancel("c")
        website = next(
            d for d in await queries.deliveries_of(ledger, ["a"]) if d.channel == "website"
        )
        claim = await ledger.claim(website.id, idempotent=True, mode="live")
        assert claim is not None
        await ledger.finish(claim, status="sent", outcome="sent", remote_id="r")
        now = utcnow()
        today = await reports.day_activity(
            ledger, now - timedelta(hours=1), now + timedelta(hours=1)
        )
        assert today == reports.DayActivity(received=4, sent=(("website", 1),))
        tomorrow = await reports.day_activity(
            ledger, now + timedelta(hours=1), now + timedelta(days=1)
        )
        assert tomorrow == reports.DayActivity(received=0, sent=())

        day = date(2026, 11, 26)
        async with ledger.engine.begin() as conn:
            for item_id, when, taken in (
                ("a", day, None),  # waiting for the bulletin of the 26th
                ("b", day, day),  # already in the bulletin of the 26th
                ("c", day, None),  # cancelled
                ("d", day + timedelta(days=1), None),  # for the next day's bulletin
            ):
                await conn.execute(
                    insert(mail_digest).values(
                        item_id=item_id, revision=1, day=when, audiences=1,
                        bulletin_day=taken, created_at=now,
                    )
                )  # fmt: skip
            await conn.execute(
                insert(mail_campaigns).values(
                    key=f"digest:{day.isoformat()}:1", kind="digest", day=day, audiences=1,
                    list_id="l", list_name="L", subject="s", text="t", html="h", nonce="n",
                    total=1, status="done", created_at=now,
                )
            )  # fmt: skip
        assert await reports.digest_waiting(ledger, day) == 1
        assert await reports.digest_waiting(ledger, day + timedelta(days=1)) == 2
        days = await reports.bulletin_days(ledger, date(2026, 11, 1), date(2026, 11, 30))
        assert days == reports.BulletinDays(
            recorded=frozenset({day, day + timedelta(days=1)}), sent=frozenset({day})
        )
        assert await reports.bulletin_days(ledger, date(2026, 12, 1), date(2026, 12, 31)) == (
            reports.BulletinDays(frozenset(), frozenset())
        )
    finally:
        await ledger.close()
