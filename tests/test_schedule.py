"""Slots on SQLite and PostgreSQL, with time moved by the App's clock (never slept):
each slot runs once however many schedulers race for it, a missed slot runs once on start
within its grace window, an abandoned run is taken over, and the recurring programmes'
announcements are created ahead and released by the embargo at the announcement time."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from dispatcher.ledger import slots as slot_claims
from dispatcher.ledger.schema import slots, utcnow
from dispatcher.ledger.slots import SlotRecord
from dispatcher.ledger.types import NotFound, SlotStatus
from dispatcher.services.schedule import Slot, run_due
from tests.test_scale_support import (
    Clock,
    bogota,
    deliver_all,
    make_app,
    make_settings,
)

pytest_plugins = ["tests.test_scale_support"]


def counting() -> tuple[list[str], dict[str, object]]:
    calls: list[str] = []

    async def action(app: object, slot: Slot) -> tuple[str, str]:
        calls.append(f"{slot.name}@{slot.scheduled_for.isoformat()}")
        await asyncio.sleep(0.05)  # long enough for a racing scheduler to try too
        return "done", "hecho"

    return calls, {"bulletin": action, "announcement": action}


async def slot_rows(app: object) -> list[SlotRecord]:
    return await slot_claims.slot_records(app.ledger)  # type: ignore[attr-defined]


async def test_a_slot_runs_once_with_two_schedulers(ledger_url: str, tmp_path: Path) -> None:
    clock = Clock(bogota(2026, 11, 26, 16, 0))
    settings = make_settings(tmp_path, ledger_url)
    first, second = await make_app(settings, clock), await make_app(settings, clock)
    calls, actions = counting()
    try:
        assert await run_due(first, owner="a", actions=actions) == []  # 16:00: nothing yet
        clock.now = bogota(2026, 11, 26, 17, 1)
        runs = await asyncio.gather(
            run_due(first, owner="a", actions=actions),
            run_due(second, owner="b", actions=actions),
            run_due(first, owner="c", actions=actions),
        )
        assert calls == ["boletin-diario@2026-11-26T17:00:00-05:00"]
        assert sum(len(r) for r in runs) == 1
        clock.advance(minutes=30)
        assert await run_due(second, owner="b", actions=actions) == []
        rows = await slot_rows(first)
        assert [(r.name, r.status, r.runs) for r in rows] == [("boletin-diario", "done", 1)]
        assert rows[0].status is SlotStatus.DONE and rows[0].lease_until is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_missed_slot_runs_once_on_start_within_grace(
    ledger_url: str, tmp_path: Path
) -> None:
    clock = Clock(bogota(2026, 11, 25, 10, 0))
    app = await make_app(make_settings(tmp_path, ledger_url), clock)
    calls, actions = counting()
    try:
        assert await run_due(app, owner="a", actions=actions) == []
        # everything was down from the 25th at 10:00 until the 26th at 19:30: the bulletin
        # of the 25th (17:00, 6 h of grace) is lost, the one of the 26th still goes
        clock.now = bogota(2026, 11, 26, 19, 30)
        runs = await run_due(app, owner="a", actions=actions)
        assert [(r.slot.name, r.slot.day) for r in runs] == [("boletin-diario", date(2026, 11, 26))]
        assert await run_due(app, owner="a", actions=actions) == []
        # past the grace window a slot is not made up
        clock.now = bogota(2026, 11, 27, 23, 30)
        assert await run_due(app, owner="a", actions=actions) == []
        assert len(calls) == 1
    finally:
        await app.aclose()


async def test_a_failed_or_abandoned_run_is_taken_over(ledger_url: str, tmp_path: Path) -> None:
    clock = Clock(bogota(2026, 11, 26, 16, 0))
    app = await make_app(make_settings(tmp_path, ledger_url), clock)
    attempts: list[str] = []

    async def flaky(app: object, slot: Slot) -> tuple[str, str]:
        attempts.append(slot.name)
        if len(attempts) == 1:
            raise ConnectionError("SMTP caído")
        return "done", "enviado"

    try:
        await run_due(app, owner="a", actions={"bulletin": flaky})
        clock.now = bogota(2026, 11, 26, 17, 5)
        runs = await run_due(app, owner="a", actions={"bulletin": flaky})
        assert [r.status for r in runs] == ["retry"]
        # the retry waits for its delay: another scheduler does not jump in
        assert await run_due(app, owner="b", actions={"bulletin": flaky}) == []
        # the delay passes (leases are real time: they are about live processes)
        async with app.ledger.engine.begin() as conn:
            await conn.execute(update(slots).values(lease_until=utcnow() - timedelta(minutes=1)))
        runs = await run_due(app, owner="b", actions={"bulletin": flaky})
        assert [r.status for r in runs] == ["done"]
        rows = await slot_rows(app)
        assert [(r.status, r.runs, r.owner) for r in rows] == [("done", 2, "b")]
    finally:
        await app.aclose()


async def test_slot_claims_in_the_ledger(ledger_url: str, tmp_path: Path) -> None:
    """The ledger side of a slot: one winner, renewal only by the holder, a retry that
    keeps the slot until its time, a finished slot never taken again."""
    app = await make_app(make_settings(tmp_path, ledger_url), Clock(bogota(2026, 11, 26, 17, 0)))
    ledger, when = app.ledger, bogota(2026, 11, 26, 17, 0)
    try:
        with pytest.raises(NotFound):
            await slot_claims.slot_record(ledger, "boletin-diario", when)
        assert await slot_claims.take(ledger, "boletin-diario", when, "a")
        assert not await slot_claims.take(ledger, "boletin-diario", when, "b")
        taken = await slot_claims.slot_record(ledger, "boletin-diario", when)
        assert (taken.status, taken.owner, taken.runs) == (SlotStatus.RUNNING, "a", 1)
        assert taken.lease_until is not None and taken.lease_until > utcnow()
        assert not await slot_claims.renew(ledger, "boletin-diario", when, "b")
        assert await slot_claims.renew(ledger, "boletin-diario", when, "a", lease=600)
        renewed = await slot_claims.slot_record(ledger, "boletin-diario", when)
        assert renewed.lease_until is not None and renewed.lease_until > taken.lease_until
        with pytest.raises(ValueError):
            await slot_claims.finish(ledger, "boletin-diario", when, "a", SlotStatus.RETRY, "x")
        retry_at = utcnow() + timedelta(minutes=5)
        await slot_claims.finish(
            ledger, "boletin-diario", when, "a", SlotStatus.RETRY, "SMTP caído", retry_at=retry_at
        )
        assert not await slot_claims.take(ledger, "boletin-diario", when, "b")  # not yet
        async with ledger.engine.begin() as conn:  # the retry delay passes
            await conn.execute(update(slots).values(lease_until=utcnow() - timedelta(seconds=1)))
        assert await slot_claims.take(ledger, "boletin-diario", when, "b")
        # a late finish by the first holder does not overwrite the new run
        await slot_claims.finish(ledger, "boletin-diario", when, "a", SlotStatus.FAILED, "tarde")
        await slot_claims.finish(ledger, "boletin-diario", when, "b", SlotStatus.DONE, "x" * 3000)
        done = await slot_claims.slot_record(ledger, "boletin-diario", when)
        assert (done.status, done.owner, done.runs) == (SlotStatus.DONE, "b", 2)
        assert done.lease_until is None and done.finished_at is not None
        assert done.detail == "x" * slot_claims.DETAIL_LIMIT
        assert not await slot_claims.take(ledger, "boletin-diario", when, "c")
        first = await slot_claims.scheduler_since(ledger, bogota(2026, 11, 1, 8, 0))
        assert first == bogota(2026, 11, 1, 8, 0)
        assert await slot_claims.scheduler_since(ledger, bogota(2026, 12, 1, 8, 0)) == first
    finally:
        await app.aclose()


async def test_mesa_publica_is_announced_ahead_and_released_at_its_time(tmp_path: Path) -> None:
    clock = Clock(bogota(2026, 11, 25, 18, 0))  # Wednesday evening
    app = await make_app(make_settings(tmp_path), clock)
    try:
        await run_due(app, owner="run")
        clock.now = bogota(2026, 11, 25, 19, 0)  # 12 h before the 06:30 announcement
        runs = await run_due(app, owner="run")
        assert [r.slot.name for r in runs] == ["anuncio:mesa-publica"]
        item = await app.ledger.get_item("mesa-publica-2026-11-26")
        assert item is not None
        assert item.kind == "mesa_publica"
        assert item.title.startswith("Mesa Pública")
        assert item.publish_at == bogota(2026, 11, 26, 6, 30)
        archived = Path(item.archive_dir) / "mesa-publica-2026-11-26.md"
        assert archived.exists()
        assert json.loads(item.front_matter)["channels"] == {
            "only": ["facebook", "x", "telegram"],
            "exclude": [],
        }

        # embargoed until 06:30: nothing goes out the evening before
        await deliver_all(app)
        rows = await app.ledger.deliveries_for(["mesa-publica-2026-11-26"])
        assert sorted(r.channel for r in rows) == ["facebook", "telegram", "x"]
        assert {r.status for r in rows} == {"pending"}
        clock.now = bogota(2026, 11, 26, 6, 29)
        await deliver_all(app)
        assert {r.status for r in await app.ledger.deliveries_for([item.id])} == {"pending"}
        clock.now = bogota(2026, 11, 26, 6, 31)
        await deliver_all(app)
        assert {r.status for r in await app.ledger.deliveries_for([item.id])} == {"sent"}
        outbox = app.settings.content_dir / "outbox" / "telegram"
        post = json.loads((outbox / "mesa-publica-2026-11-26.r1.json").read_text("utf-8"))
        assert "110.7" in post["text"]
        assert await run_due(app, owner="run") == []  # announced once
    finally:
        await app.aclose()


async def test_bulletin_slot_is_skipped_in_outbox_mode(tmp_path: Path) -> None:
    clock = Clock(bogota(2026, 11, 26, 12, 0))
    app = await make_app(make_settings(tmp_path), clock)
    try:
        await run_due(app, owner="run")
        clock.now = bogota(2026, 11, 26, 17, 0, 30)
        runs = await run_due(app, owner="run")
        assert [(r.slot.name, r.status) for r in runs] == [("boletin-diario", "skipped")]
        assert "bandeja de salida" in runs[0].detail
    finally:
        await app.aclose()


async def test_bulletin_slot_sends_the_days_bulletin(tmp_path: Path) -> None:
    """At the plan's digest time the slot calls the mailing's ``send_daily_bulletin``."""
    from dispatcher.items.parse import check_file
    from dispatcher.ledger.schema import audience_mask
    from dispatcher.services.context import build_app
    from dispatcher.services.mailing.bulletin import add_to_digest
    from tests.test_mailing_support import (
        ROOT,
        Sink,
        add_subscribers,
        smtp_server,
        subscriber_rows,
    )
    from tests.test_mailing_support import make_settings as mail_settings

    sink = Sink()
    with smtp_server(sink) as port:
        settings = mail_settings(tmp_path, port)
        clock = Clock(bogota(2026, 11, 26, 12, 0))
        app = await build_app(settings, clock=clock)
        try:
            await add_subscribers(app.ledger, settings, subscriber_rows(3))
            example = ROOT / "content" / "examples" / "2026-11-03-parque-san-pio-reabre.md"
            item = check_file(example, tz=settings.tz, known_kinds={"boletin"}, max_bytes=10**6)
            await app.ledger.add_item(item, ["mailing"], status="ready")
            await add_to_digest(
                app.ledger, item_id=item.id, revision=1,
                audiences=audience_mask(["ciudadania"]), today=date(2026, 11, 26),
            )  # fmt: skip
            await run_due(app, owner="run")
            assert sink.messages == []
            clock.now = bogota(2026, 11, 26, 17, 0, 10)
            runs = await run_due(app, owner="run")
            assert [(r.slot.name, r.status) for r in runs] == [("boletin-diario", "done")]
            assert "3 enviado(s)" in runs[0].detail
            assert len(sink.messages) == 3
            assert await run_due(app, owner="run") == []  # sent once
        finally:
            await app.aclose()
