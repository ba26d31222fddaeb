"""Press monitoring's rows: each feed's fetch state, the clippings, the daily digests.

Every statement monitoring runs lives here; :mod:`dispatcher.services.monitoring` calls
these functions with the process's :class:`Ledger` and gets frozen dataclasses back.

- A source's state (:class:`SourceState`) is keyed by its feed address: ``etag`` and
  ``last_modified`` for the next conditional request, consecutive ``failures`` and
  ``next_fetch_at``, the earliest time it may be asked again (``Retry-After`` or backoff).
- A clipping is kept once per normalised link (:func:`add_clippings` inserts with
  ``ON CONFLICT DO NOTHING`` on the unique link, so two outlets, two runs or two processes
  never store it twice).
- A digest (:func:`take_for_digest`) takes every clipping found before its time that no
  digest has taken yet, so nothing is lost while the service was down and nothing is sent
  twice; its row says whether the editors were told and which campaign mailed it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from dispatcher.ledger.schema import clippings, monitor_digests, monitor_sources, utcnow
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import NotFound

ERROR_LIMIT = 500


@dataclass(frozen=True)
class SourceState:
    """What the ledger remembers of one feed between two reads."""

    url: str
    name: str
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    next_fetch_at: datetime | None = None
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class NewClipping:
    """A matching entry to keep (its ``link`` already normalised, texts already plain)."""

    link: str
    outlet: str
    source_url: str
    title: str
    excerpt: str
    published_at: datetime | None
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Clipping:
    """A clipping as stored."""

    id: int
    link: str
    outlet: str
    source_url: str
    title: str
    excerpt: str
    published_at: datetime | None
    keywords: tuple[str, ...]
    found_at: datetime
    day: date
    digest_day: date | None


@dataclass(frozen=True)
class Digest:
    """A day's digest: how many clippings it took, whether the editors were told, and the
    mail campaign (``None`` while it has none)."""

    day: date
    clippings: int
    notified_at: datetime | None
    campaign_id: int | None


# -- sources ------------------------------------------------------------------------------


def _state(row: Any) -> SourceState:
    return SourceState(**{name: row[name] for name in SourceState.__dataclass_fields__})


async def source_states(ledger: Ledger, urls: Iterable[str]) -> dict[str, SourceState]:
    """The stored state of each of ``urls`` that has one (a feed never read has none)."""
    wanted = list(urls)
    if not wanted:
        return {}
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(select(monitor_sources).where(monitor_sources.c.url.in_(wanted)))
        return {row["url"]: _state(row) for row in rows.mappings()}


async def save_source(ledger: Ledger, state: SourceState) -> None:
    """Store ``state`` as the feed's current state (insert or update by address)."""
    values = {
        name: getattr(state, name) for name in SourceState.__dataclass_fields__ if name != "url"
    }
    if values["last_error"] is not None:
        values["last_error"] = values["last_error"][:ERROR_LIMIT]
    values["updated_at"] = utcnow()
    where = monitor_sources.c.url == state.url
    for _ in range(2):  # a concurrent first insert: update it instead
        async with ledger.engine.begin() as conn:
            done = await conn.execute(update(monitor_sources).where(where).values(**values))
            if done.rowcount:
                return
            try:
                async with conn.begin_nested():
                    await conn.execute(insert(monitor_sources).values(url=state.url, **values))
                return
            except IntegrityError:
                continue


# -- clippings ----------------------------------------------------------------------------


def _clipping(row: Any) -> Clipping:
    return Clipping(
        id=int(row["id"]), link=row["link"], outlet=row["outlet"],
        source_url=row["source_url"], title=row["title"], excerpt=row["excerpt"],
        published_at=row["published_at"], keywords=tuple(json.loads(row["keywords"])),
        found_at=row["found_at"], day=row["day"], digest_day=row["digest_day"],
    )  # fmt: skip


async def add_clippings(
    ledger: Ledger, found: Sequence[NewClipping], *, now: datetime, day: date
) -> list[Clipping]:
    """Keep each of ``found`` whose link is not stored yet (the first of two with the same
    link wins); returns the clippings stored now, in order."""
    fresh: dict[str, NewClipping] = {}
    for clip in found:
        fresh.setdefault(clip.link, clip)
    if not fresh:
        return []
    stored: list[Clipping] = []
    async with ledger.engine.begin() as conn:
        known = set(
            (
                await conn.execute(
                    select(clippings.c.link).where(clippings.c.link.in_(list(fresh)))
                )
            ).scalars()
        )
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        for clip in fresh.values():
            if clip.link in known:
                continue
            statement = (
                dialect.insert(clippings)
                .values(
                    link=clip.link,
                    outlet=clip.outlet,
                    source_url=clip.source_url,
                    title=clip.title,
                    excerpt=clip.excerpt,
                    published_at=clip.published_at,
                    keywords=json.dumps(list(clip.keywords), ensure_ascii=False),
                    found_at=now,
                    day=day,
                    digest_day=None,
                )
                .on_conflict_do_nothing(index_elements=["link"])
                .returning(*clippings.c)
            )
            row = (await conn.execute(statement)).mappings().first()
            if row is not None:
                stored.append(_clipping(row))
    return stored


async def clippings_of_day(ledger: Ledger, day: date) -> list[Clipping]:
    """The clippings found on ``day`` (local), by outlet then time found."""
    query = (
        select(clippings)
        .where(clippings.c.day == day)
        .order_by(clippings.c.outlet, clippings.c.found_at, clippings.c.id)
    )
    async with ledger.engine.connect() as conn:
        return [_clipping(row) for row in (await conn.execute(query)).mappings()]


async def count_clippings(ledger: Ledger) -> int:
    """How many clippings the ledger holds."""
    async with ledger.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(clippings)) or 0)


# -- digests ------------------------------------------------------------------------------


def _digest(row: Any) -> Digest:
    return Digest(
        day=row["day"], clippings=int(row["clippings"]), notified_at=row["notified_at"],
        campaign_id=row["campaign_id"],
    )  # fmt: skip


async def take_for_digest(
    ledger: Ledger, day: date, before: datetime
) -> tuple[Digest, list[Clipping]]:
    """The digest of ``day`` and its clippings: on first call, every clipping found before
    ``before`` that no digest took (marked as taken by this one, in one transaction); on
    later calls, the same clippings again (a resumed digest sends the same thing)."""
    try:
        return await _take(ledger, day, before)
    except IntegrityError:  # another process made it first: read what it took
        return await _take(ledger, day, before)


async def _take(ledger: Ledger, day: date, before: datetime) -> tuple[Digest, list[Clipping]]:
    async with ledger.engine.begin() as conn:
        row = (
            (await conn.execute(select(monitor_digests).where(monitor_digests.c.day == day)))
            .mappings()
            .first()
        )
        if row is None:
            taken = await conn.execute(
                update(clippings)
                .where(clippings.c.digest_day.is_(None), clippings.c.found_at < before)
                .values(digest_day=day)
            )
            await conn.execute(
                insert(monitor_digests).values(
                    day=day,
                    clippings=taken.rowcount,
                    notified_at=None,
                    campaign_id=None,
                    created_at=utcnow(),
                )
            )
        query = (
            select(clippings)
            .where(clippings.c.digest_day == day)
            .order_by(clippings.c.outlet, clippings.c.found_at, clippings.c.id)
        )
        found = [_clipping(r) for r in (await conn.execute(query)).mappings()]
        digest = (
            (await conn.execute(select(monitor_digests).where(monitor_digests.c.day == day)))
            .mappings()
            .one()
        )
    return _digest(digest), found


async def get_digest(ledger: Ledger, day: date) -> Digest:
    """The digest of ``day``; :class:`NotFound` when it has not been made."""
    async with ledger.engine.connect() as conn:
        row = (
            (await conn.execute(select(monitor_digests).where(monitor_digests.c.day == day)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("resumen de medios", day.isoformat())
    return _digest(row)


async def mark_notified(ledger: Ledger, day: date, when: datetime) -> None:
    """Record that the editors got the digest of ``day``."""
    async with ledger.engine.begin() as conn:
        await conn.execute(
            update(monitor_digests).where(monitor_digests.c.day == day).values(notified_at=when)
        )


async def set_campaign(ledger: Ledger, day: date, campaign_id: int) -> None:
    """Record the mail campaign of the digest of ``day``."""
    async with ledger.engine.begin() as conn:
        await conn.execute(
            update(monitor_digests)
            .where(monitor_digests.c.day == day)
            .values(campaign_id=campaign_id)
        )
