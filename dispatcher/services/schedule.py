"""Slots: work due at a time of the plan — the daily bulletin mailing and the recurring
programmes' announcements — run exactly once however many schedulers run.

Every scheduler (``pregonero run``'s scheduler task, ``run --once``, each ``pregonero
worker``'s cron job) computes the same slots from the plan and the clock and races for
each one through the ledger's slot claims (:mod:`dispatcher.ledger.slots`: the INSERT of
the slot's row that wins runs it). A run holds a lease (:mod:`dispatcher.ledger.leases`),
renewed while its action runs; one whose process died (lease expired) or that asked to be
retried is taken over by the next scheduler while the slot's window is open.

Windows, all in the plan's timezone (``PREGONERO_TIMEZONE``):

- ``boletin-diario`` at the plan's digest time (``mailing.at``), for 6 hours: a bulletin
  missed while everything was down goes out once on start rather than never. Skipped while
  the mailing channel is in outbox mode.
- ``resumen-medios`` at the plan's ``monitoring.digest_at``, for 6 hours: the day's press
  clippings to the editors and by mail (:mod:`dispatcher.services.monitoring.digest`).
- ``anuncio:<recurring id>`` 12 hours before the announcement (``Recurring.announce_at``),
  until the programme starts: it creates the announcement as an item with ``publish_at`` =
  the announcement time (see :mod:`dispatcher.services.recurring`), so editors see it scheduled in
  ``status`` and the bot, can cancel it for a holiday, and the embargo releases it on time.

- ``canales`` once a day, from midnight for the whole day, when a channel of the plan is
  live: the channel canaries (see
  :mod:`dispatcher.services.canary`); it runs on the first scheduler pass of each day,
  the first day included.

Slots scheduled before the scheduler first ran on this ledger (meta ``scheduler_since``)
are not made up: a new installation does not replay yesterday's bulletin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from dispatcher.ledger import slots
from dispatcher.ledger.leases import SLOT_LEASE, kept_alive, renew_every
from dispatcher.ledger.schema import utcnow
from dispatcher.ledger.types import SlotStatus

if TYPE_CHECKING:
    from dispatcher.items.plan import Recurring
    from dispatcher.services.context import App

log = logging.getLogger("pregonero.schedule")

BULLETIN = "boletin-diario"
CANARY = "canales"
BULLETIN_GRACE = timedelta(hours=6)
MONITORING_DIGEST = "resumen-medios"
PREPARE = timedelta(hours=12)
ANNOUNCE_GRACE_MIN = timedelta(minutes=15)
RETRY_DELAY = timedelta(minutes=5)
IDLE = 60.0


@dataclass(frozen=True)
class Slot:
    name: str
    scheduled_for: datetime
    deadline: datetime
    action: str  # "bulletin" | "announcement" | "monitoring" | "canary"
    day: date | None = None
    recurring: Recurring | None = None
    starts_at: datetime | None = None


@dataclass(frozen=True)
class SlotRun:
    slot: Slot
    status: SlotStatus  # done | skipped | failed | retry
    detail: str


Action = Callable[["App", Slot], Awaitable[tuple[SlotStatus, str]]]
"""A slot's work: returns its outcome and a Spanish line for the log and ``slots``."""


def planned(app: App, now: datetime, *, ahead: timedelta = timedelta(0)) -> list[Slot]:
    """Slots whose window is open at ``now`` (with ``ahead``: also those opening by then)."""
    from dispatcher.services.mailing.bulletin import bulletin_time

    plan, tz = app.plan, app.plan.tz
    found: list[Slot] = []
    at = bulletin_time(plan)
    if at is not None:
        today = now.astimezone(tz).date()
        for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
            when = datetime.combine(day, at, tzinfo=tz)
            found.append(Slot(BULLETIN, when, when + BULLETIN_GRACE, "bulletin", day=day))
    if plan.monitoring is not None:  # the press-monitoring digest, at its own time
        today = now.astimezone(tz).date()
        for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
            when = datetime.combine(day, plan.monitoring.digest_at, tzinfo=tz)
            found.append(
                Slot(MONITORING_DIGEST, when, when + BULLETIN_GRACE, "monitoring", day=day)
            )
    today = now.astimezone(tz).date()
    live = any(app.mode(c) == "live" for c in plan.used_channels)
    for day in (today, today + timedelta(days=1)) if live else ():
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        found.append(Slot(CANARY, midnight, midnight + timedelta(days=1), "canary", day=day))
    horizon = now + ahead + PREPARE + timedelta(days=1)
    for rec in plan.recurring:
        for start in plan.next_occurrences(rec, now - timedelta(days=1), horizon):
            announce = rec.announce_at(start)
            deadline = max(start, announce + ANNOUNCE_GRACE_MIN)
            found.append(
                Slot(
                    f"anuncio:{rec.id}",
                    announce - PREPARE,
                    deadline,
                    "announcement",
                    recurring=rec,
                    starts_at=start,
                )
            )
    return sorted(
        (s for s in found if s.scheduled_for <= now + ahead and now < s.deadline),
        key=lambda s: s.scheduled_for,
    )


def next_opening(app: App, now: datetime) -> datetime | None:
    """When the next slot's window opens (for the scheduler loop's sleep)."""
    later = [s.scheduled_for for s in planned(app, now, ahead=timedelta(days=2))]
    return min((t for t in later if t > now), default=None)


async def run_due(
    app: App, *, owner: str, actions: Mapping[str, Action] | None = None
) -> list[SlotRun]:
    """Run every slot due now that this scheduler wins (normally none). Never raises for
    a slot's failure: the slot is retried later within its window."""
    now = app.clock()
    since = await slots.scheduler_since(app.ledger, now)
    runs = []
    for slot in planned(app, now):
        if slot.scheduled_for < since and slot.action != "canary":
            continue  # not made up — but the channels are checked on the first day too
        if not await slots.take(app.ledger, slot.name, slot.scheduled_for, owner, lease=SLOT_LEASE):
            continue
        runs.append(await _run(app, slot, owner, {**ACTIONS, **(actions or {})}))
    return runs


async def loop(app: App, stop: asyncio.Event, *, owner: str) -> None:
    """``pregonero run``'s scheduler task: slots, and taking back expired leases."""
    from dispatcher.services.delivery.recovery import recover

    while not stop.is_set():
        try:
            await run_due(app, owner=owner)
            await recover(app, None)
        except Exception:
            log.exception("el programador falló; se reintenta en un minuto")
        now = app.clock()
        opening = next_opening(app, now)
        wait = IDLE if opening is None else min(IDLE, (opening - now).total_seconds() + 0.5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.5, wait))


async def _run(app: App, slot: Slot, owner: str, actions: Mapping[str, Action]) -> SlotRun:
    ledger, key = app.ledger, (slot.name, slot.scheduled_for, owner)

    async def renew() -> bool:
        return await slots.renew(ledger, *key, lease=SLOT_LEASE)

    log.info("franja %s (%s): en curso", slot.name, slot.scheduled_for.isoformat())
    try:
        async with kept_alive(renew, renew_every(SLOT_LEASE)):
            outcome, detail = await actions[slot.action](app, slot)
        status = SlotStatus(outcome)
    except Exception as exc:
        log.exception("la franja %s falló", slot.name)
        status, detail = SlotStatus.RETRY, f"error: {exc}"
    retry_at = None
    if status is SlotStatus.RETRY:
        retry_at = utcnow() + RETRY_DELAY
        await app.notify(f"⚠️ {slot.name}: no se completó ({detail}); se reintenta en 5 min.")
    elif status is SlotStatus.FAILED:
        await app.notify(f"❌ {slot.name}: {detail}")
    await slots.finish(ledger, *key, status, detail, retry_at=retry_at)
    log.info("franja %s: %s — %s", slot.name, status, detail)
    return SlotRun(slot, status, detail)


async def bulletin(app: App, slot: Slot) -> tuple[SlotStatus, str]:
    """The day's bulletin mailing (``send_daily_bulletin``), resumable."""
    assert slot.day is not None
    if app.mode("mailing") != "live":
        return SlotStatus.SKIPPED, "correo en modo bandeja de salida: no se envía el boletín"
    from dispatcher.services.mailing.bulletin import send_daily_bulletin
    from dispatcher.services.mailing.preflight import live_mail_problems

    problems = live_mail_problems(app.settings)
    if problems:  # a setting to fix, not a moment to wait for
        return SlotStatus.FAILED, f"boletín del {slot.day.isoformat()}: " + " ".join(problems)
    result = await send_daily_bulletin(app, slot.day)
    if not result.campaigns:
        return SlotStatus.DONE, f"boletín del {slot.day.isoformat()}: no hubo boletines ese día"
    if result.fatal or result.auth:  # retrying every few minutes would not help
        return SlotStatus.FAILED, f"boletín del {slot.day.isoformat()}: {result.summary()}"
    status = SlotStatus.DONE if result.complete else SlotStatus.RETRY
    return status, result.summary()


async def announcement(app: App, slot: Slot) -> tuple[SlotStatus, str]:
    from dispatcher.services.recurring import announce

    assert slot.recurring is not None and slot.starts_at is not None
    return SlotStatus.DONE, await announce(app, slot.recurring, slot.starts_at)


async def monitoring_digest(app: App, slot: Slot) -> tuple[SlotStatus, str]:
    """The day's press clippings to the editors (bot) and by mail (see
    :mod:`dispatcher.services.monitoring.digest`)."""
    from dispatcher.services.monitoring.digest import send_digest

    assert slot.day is not None
    return await send_digest(app, slot.day, slot.scheduled_for)


async def canary(app: App, slot: Slot) -> tuple[SlotStatus, str]:
    from dispatcher.services.canary import canary as check_channels

    return await check_channels(app, slot)


ACTIONS: dict[str, Action] = {
    "bulletin": bulletin,
    "announcement": announcement,
    "monitoring": monitoring_digest,
    "canary": canary,
}
