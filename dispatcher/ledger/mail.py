"""The mailing's rows: subscribers, campaigns, recipients and the daily digest queue.

Every statement the mass mailing runs lives here (the per-recipient hot path, the journal's
group commit, is in :mod:`dispatcher.ledger.journal`). The services call these functions
with the process's :class:`Ledger` and get frozen dataclasses or plain values back;
statuses are the enums of :mod:`dispatcher.ledger.types` and a missing row is
:class:`NotFound`.

Digest deliveries (plan mode ``digest``): a ``mailing`` delivery that joined a day's
bulletin is ``waiting_bulletin`` until that bulletin leaves; :func:`settle_bulletins` turns
it ``sent`` (remote id ``campaign:<id>``) once every campaign of the bulletin that took the
item is done, and :func:`fail_waiting` turns it ``failed`` when the bulletin cannot be sent.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Exists,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.items.model import ContentItem
from dispatcher.ledger.schema import (
    deliveries,
    items,
    mail_campaigns,
    mail_digest,
    mail_recipients,
    meta,
    metadata,
    subscribers,
    utcnow,
)
from dispatcher.ledger.store import Ledger, content_from_row
from dispatcher.ledger.types import (
    DeliveryStatus,
    ItemStatus,
    NotFound,
    RecipientStatus,
    SubscriberStatus,
)

OPEN_RECIPIENT: tuple[RecipientStatus, ...] = (
    RecipientStatus.PENDING,
    RecipientStatus.SENDING,
    RecipientStatus.RETRY,
)
MAILING = "mailing"
DIGEST_PREFIX = "digest:"


# -- typed rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCampaign:
    """A campaign to create: its key, rendered parts and who receives it.

    Recipients are the active subscribers sharing an audience with ``audiences`` — or,
    with ``member_masks``, those whose audiences restricted to ``audiences`` equal one of
    those masks (one variant of a day's bulletin)."""

    key: str
    kind: Literal["item", "digest", "monitoring"]
    subject: str
    text: str
    html: str
    audiences: int
    list_id: str
    list_name: str
    item_id: str | None = None
    revision: int | None = None
    day: date | None = None
    item_ids: tuple[str, ...] = ()
    member_masks: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Campaign:
    """A campaign as stored: what a (resumed) run sends."""

    id: int
    key: str
    kind: str
    item_id: str | None
    revision: int | None
    day: date | None
    audiences: int
    item_ids: tuple[str, ...]
    list_id: str
    list_name: str
    subject: str
    text: str
    html: str
    nonce: str
    total: int
    done: bool
    owner: str | None
    heartbeat: datetime | None


@dataclass(frozen=True)
class OpenRecipient:
    """A recipient still to be sent, with its subscriber's address and state."""

    id: int
    subscriber_id: int
    attempts: int
    email: str | None
    subscriber_status: SubscriberStatus


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str | None
    email_hash: str
    name: str | None
    audiences: int
    consent_at: datetime | None
    consent_source: str | None
    status: SubscriberStatus
    left_at: datetime | None


@dataclass(frozen=True)
class ImportRow:
    """One good CSV row to upsert (``line`` for the report)."""

    line: int
    email: str
    email_hash: str
    name: str | None
    audiences: int
    consent_at: datetime
    consent_source: str


@dataclass(frozen=True)
class Upserted:
    """What one chunk of an import did; ``skipped`` rows had left the list: (line, email,
    status, left_at)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: tuple[tuple[int, str, SubscriberStatus, datetime | None], ...] = ()


@dataclass(frozen=True)
class DigestEntry:
    """An item recorded for a bulletin: its content and public URL (when it has one)."""

    item_id: str
    audiences: int
    item: ContentItem = field(repr=False)
    url: str | None


@dataclass(frozen=True)
class DigestJoin:
    """Where an item stands in the digest: its bulletin ``day``; ``sent_by`` is the
    campaign id once the bulletin that took it has left (nothing more to wait for)."""

    day: date
    sent_by: int | None = None


@dataclass(frozen=True)
class OutboxDigestItem:
    """A digest item whose mailing went to the outbox (mailing off) and that never joined a
    bulletin: what the service needs to record it now."""

    item_id: str
    kind: str
    revision: int
    audiences: tuple[str, ...] | None


# -- campaigns ----------------------------------------------------------------------------


async def _insert_campaign(conn: AsyncConnection, spec: NewCampaign) -> int:
    now = utcnow()
    campaign_id = (
        await conn.execute(
            insert(mail_campaigns)
            .values(
                key=spec.key, kind=spec.kind, item_id=spec.item_id, revision=spec.revision,
                day=spec.day, audiences=spec.audiences,
                items=json.dumps(list(spec.item_ids)) if spec.item_ids else None,
                list_id=spec.list_id, list_name=spec.list_name, subject=spec.subject,
                text=spec.text, html=spec.html, nonce=secrets.token_hex(6),
                total=0, status="sending", created_at=now,
            )
            .returning(mail_campaigns.c.id)
        )
    ).scalar_one()  # fmt: skip
    shared = subscribers.c.audiences.op("&")(spec.audiences)
    who = select(
        literal(campaign_id), subscribers.c.id, literal(RecipientStatus.PENDING.value), literal(0)
    ).where(subscribers.c.status == SubscriberStatus.ACTIVE.value)
    masks = spec.member_masks
    who = who.where(shared != 0) if masks is None else who.where(shared.in_(list(masks)))
    columns = ["campaign_id", "subscriber_id", "status", "attempts"]
    await conn.execute(insert(mail_recipients).from_select(columns, who))
    total = await conn.scalar(
        select(func.count()).where(mail_recipients.c.campaign_id == campaign_id)
    )
    await conn.execute(
        update(mail_campaigns).where(mail_campaigns.c.id == campaign_id).values(total=total)
    )
    return int(campaign_id)


async def _ids(ledger: Ledger, where: Any) -> list[int]:
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(select(mail_campaigns.c.id).where(where).order_by("id"))
        return [int(r) for r in rows.scalars()]


async def campaign_for(ledger: Ledger, spec: NewCampaign) -> int:
    """The id of the campaign with ``spec.key``, created (with its recipients, in one
    transaction) on first call; a concurrent creator's campaign is returned as is."""
    found = await _ids(ledger, mail_campaigns.c.key == spec.key)
    if found:
        return found[0]
    try:
        async with ledger.engine.begin() as conn:
            return await _insert_campaign(conn, spec)
    except IntegrityError:  # created concurrently by another worker
        return (await _ids(ledger, mail_campaigns.c.key == spec.key))[0]


async def day_campaigns(ledger: Ledger, day: date) -> list[int]:
    """The ids of the bulletin campaigns (one per variant) of ``day``, in order."""
    return await _ids(ledger, (mail_campaigns.c.kind == "digest") & (mail_campaigns.c.day == day))


async def create_bulletin(
    ledger: Ledger, day: date, specs: Sequence[NewCampaign], item_ids: Sequence[str]
) -> list[int]:
    """Create the day's bulletin campaigns and mark ``item_ids`` as taken by it, in one
    transaction; when another process made it first, its campaigns are returned."""
    try:
        async with ledger.engine.begin() as conn:
            created = [await _insert_campaign(conn, spec) for spec in specs]
            await conn.execute(
                update(mail_digest)
                .where(mail_digest.c.item_id.in_(list(item_ids)))
                .values(bulletin_day=day)
            )
            return created
    except IntegrityError:  # another process made it first
        return await day_campaigns(ledger, day)


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=int(row["id"]), key=row["key"], kind=row["kind"], item_id=row["item_id"],
        revision=row["revision"], day=row["day"], audiences=int(row["audiences"]),
        item_ids=tuple(json.loads(row["items"])) if row["items"] else (),
        list_id=row["list_id"], list_name=row["list_name"], subject=row["subject"],
        text=row["text"], html=row["html"], nonce=row["nonce"], total=int(row["total"]),
        done=row["status"] == "done", owner=row["owner"], heartbeat=row["heartbeat"],
    )  # fmt: skip


async def get_campaign(ledger: Ledger, campaign_id: int) -> Campaign:
    """The campaign ``campaign_id``; :class:`NotFound` when there is none."""
    async with ledger.engine.connect() as conn:
        row = (
            (await conn.execute(select(mail_campaigns).where(mail_campaigns.c.id == campaign_id)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("campaña", campaign_id)
    return _campaign(row)


async def recipient_counts(ledger: Ledger, campaign_id: int) -> dict[RecipientStatus, int]:
    """How many recipients of the campaign are in each state."""
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(
            select(mail_recipients.c.status, func.count())
            .where(mail_recipients.c.campaign_id == campaign_id)
            .group_by(mail_recipients.c.status)
        )
        return {RecipientStatus(status): int(n) for status, n in rows}


async def take_lease(
    ledger: Ledger,
    campaign_id: int,
    me: str,
    *,
    stale_after: timedelta,
    alive: Callable[[str], bool],
) -> str | None:
    """Take the campaign's lease for ``me``: free, stale (no heartbeat for
    ``stale_after``), or held by an owner ``alive`` says is gone. Returns ``None`` when
    taken, else the current holder (the campaign is being sent elsewhere)."""
    now = utcnow()
    async with ledger.engine.begin() as conn:
        row = (
            await conn.execute(
                select(mail_campaigns.c.owner, mail_campaigns.c.heartbeat).where(
                    mail_campaigns.c.id == campaign_id
                )
            )
        ).first()
        if row is None:
            raise NotFound("campaña", campaign_id)
        owner, beat = row.owner, row.heartbeat
        if owner:
            fresh = beat is not None and now - beat < stale_after
            if fresh and alive(owner):
                return str(owner)
        claim = update(mail_campaigns).where(mail_campaigns.c.id == campaign_id)
        claim = claim.where(
            mail_campaigns.c.owner.is_(None) if owner is None else mail_campaigns.c.owner == owner
        )
        done = await conn.execute(claim.values(owner=me, heartbeat=now, status="sending"))
        return None if done.rowcount == 1 else str(owner or "otro proceso")


async def release_lease(ledger: Ledger, campaign_id: int, owner: str | None) -> None:
    """Release the lease (``owner`` ``None``: whoever holds it); the campaign is ``done``
    when no recipient is open."""
    async with ledger.engine.begin() as conn:
        still_open = await conn.scalar(
            select(func.count())
            .select_from(mail_recipients)
            .where(
                mail_recipients.c.campaign_id == campaign_id,
                mail_recipients.c.status.in_([s.value for s in OPEN_RECIPIENT]),
            )
        )
        values: dict[str, Any] = {"owner": None}
        if not still_open:
            values.update(status="done", finished_at=utcnow())
        query = update(mail_campaigns).where(mail_campaigns.c.id == campaign_id)
        if owner is not None:
            query = query.where(mail_campaigns.c.owner == owner)
        await conn.execute(query.values(**values))


_r, _s = mail_recipients, subscribers
_OPEN_PAGE = (
    select(_r.c.id, _r.c.subscriber_id, _r.c.attempts, _s.c.email, _s.c.status)
    .join(_s, _s.c.id == _r.c.subscriber_id)
    .where(
        _r.c.campaign_id == bindparam("campaign"),
        _r.c.status.in_([s.value for s in OPEN_RECIPIENT]),
        _r.c.id > bindparam("last"),
    )
    .order_by(_r.c.id)
    .limit(bindparam("page"))
)


async def open_recipients(
    ledger: Ledger, campaign_id: int, *, after: int, limit: int
) -> list[OpenRecipient]:
    """Up to ``limit`` open recipients of the campaign with an id above ``after``."""
    params = {"campaign": campaign_id, "last": after, "page": limit}
    async with ledger.engine.connect() as conn:
        rows = (await conn.execute(_OPEN_PAGE, params)).all()
    return [
        OpenRecipient(
            row.id, row.subscriber_id, row.attempts, row.email, SubscriberStatus(row.status)
        )
        for row in rows
    ]


# -- the digest queue ---------------------------------------------------------------------


async def add_to_digest(
    ledger: Ledger, *, item_id: str, revision: int, audiences: int, today: date
) -> DigestJoin:
    """Record an item for the bulletin of ``today`` — or of the first later day whose
    bulletin has not been made yet. Idempotent: an item already recorded keeps its day
    (and, once its bulletin has left, ``sent_by`` says which campaign carried it)."""
    async with ledger.engine.begin() as conn:
        known = (
            await conn.execute(
                select(mail_digest.c.day, mail_digest.c.bulletin_day).where(
                    mail_digest.c.item_id == item_id
                )
            )
        ).first()
        if known is not None:
            sent_by = None
            if known.bulletin_day is not None:
                sent_by = await _carried_by(conn, known.bulletin_day, item_id)
            return DigestJoin(known.day, sent_by)
        made = set(
            (
                await conn.execute(
                    select(mail_campaigns.c.day).where(
                        mail_campaigns.c.kind == "digest", mail_campaigns.c.day >= today
                    )
                )
            ).scalars()
        )
        day = today
        while day in made:
            day += timedelta(days=1)
        await conn.execute(
            insert(mail_digest).values(
                item_id=item_id, revision=revision, day=day, audiences=audiences,
                created_at=utcnow(),
            )
        )  # fmt: skip
        return DigestJoin(day)


async def _carried_by(conn: AsyncConnection, day: date, item_id: str) -> int | None:
    """The first campaign of ``day``'s bulletin carrying ``item_id`` when every campaign of
    that bulletin is done; ``None`` while any is still open."""
    rows = (
        await conn.execute(
            select(mail_campaigns.c.id, mail_campaigns.c["items"], mail_campaigns.c.status)
            .where(mail_campaigns.c.kind == "digest", mail_campaigns.c.day == day)
            .order_by(mail_campaigns.c.id)
        )
    ).all()
    if not rows or any(status != "done" for _, _, status in rows):
        return None
    for campaign_id, carried, _ in rows:
        if item_id in json.loads(carried or "[]"):
            return int(campaign_id)
    return int(rows[0][0])


def _mailing_cancelled() -> Exists:
    """The item's mailing was cancelled by an editor (``cancel`` stops a digest mailing
    that waits for its bulletin, even when other channels already carried the item)."""
    d = deliveries.alias("cancelled_mailing")
    return (
        select(d.c.id)
        .where(
            d.c.item_id == items.c.id,
            d.c.channel == MAILING,
            d.c.action != "early",
            d.c.status == DeliveryStatus.CANCELLED.value,
        )
        .exists()
    )


async def digest_entries(ledger: Ledger, day: date) -> list[DigestEntry]:
    """Items recorded for ``day`` or before that no bulletin has taken, in order (cancelled
    items left out), with their rows."""
    async with ledger.engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    select(items, mail_digest.c.audiences.label("digest_audiences"))
                    .join(mail_digest, items.c.id == mail_digest.c.item_id)
                    .where(mail_digest.c.day <= day, mail_digest.c.bulletin_day.is_(None))
                    .where(items.c.status != ItemStatus.CANCELLED.value, ~_mailing_cancelled())
                    .order_by(mail_digest.c.day, mail_digest.c.id)
                )
            )
            .mappings()
            .all()
        )
    return [
        DigestEntry(
            row["id"],
            int(row["digest_audiences"]),
            content_from_row(row),
            row["url"] if row["url"] and str(row["url"]).startswith("http") else None,
        )
        for row in rows
    ]


async def outbox_digest_items(
    ledger: Ledger, kinds: Sequence[str], start: datetime, end: datetime
) -> list[OutboxDigestItem]:
    """Items of the digest ``kinds`` whose ``mailing`` delivery went to the outbox between
    ``start`` and ``end`` (the bulletin's day) and that never joined a bulletin."""
    if not kinds:
        return []
    d = deliveries
    async with ledger.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(items.c.id, items.c.kind, items.c.revision, items.c.front_matter)
                .where(
                    items.c.kind.in_(list(kinds)),
                    items.c.status != ItemStatus.CANCELLED.value,
                    ~_mailing_cancelled(),
                    ~select(mail_digest.c.id).where(mail_digest.c.item_id == items.c.id).exists(),
                    select(d.c.id)
                    .where(
                        d.c.item_id == items.c.id,
                        d.c.channel == MAILING,
                        d.c.mode == "outbox",
                        d.c.status == DeliveryStatus.SENT.value,
                        d.c.action != "early",
                        d.c.sent_at >= start,
                        d.c.sent_at < end,
                    )
                    .exists(),
                )
                .order_by(items.c.created_at, items.c.id)
            )
        ).all()
    found = []
    for row in rows:
        audiences = json.loads(row.front_matter).get("audiences")
        found.append(
            OutboxDigestItem(
                row.id, row.kind, int(row.revision), None if audiences is None else tuple(audiences)
            )
        )
    return found


async def settle_bulletins(ledger: Ledger) -> int:
    """Digest deliveries whose bulletin has left become ``sent``: every ``mailing``
    delivery ``waiting_bulletin`` (or ``failed`` by an earlier failure of that bulletin,
    remote id ``digest:…``) of an item taken by a bulletin whose campaigns are all done.
    A waiting delivery of an item cancelled before any bulletin took it (bulletins leave
    cancelled items out) becomes ``cancelled``. Returns how many changed."""
    d = deliveries
    stuck = or_(
        d.c.status == DeliveryStatus.WAITING_BULLETIN.value,
        and_(d.c.status == DeliveryStatus.FAILED.value, d.c.remote_id.like(f"{DIGEST_PREFIX}%")),
    )
    now = utcnow()
    changed = 0
    async with ledger.engine.begin() as conn:
        waiting = (
            await conn.execute(
                select(d.c.id, d.c.item_id, mail_digest.c.bulletin_day)
                .join(mail_digest, mail_digest.c.item_id == d.c.item_id)
                .where(d.c.channel == MAILING, d.c.action != "early", stuck)
                .where(mail_digest.c.bulletin_day.is_not(None))
            )
        ).all()
        carriers: dict[tuple[date, str], int | None] = {}
        for row in waiting:
            key = (row.bulletin_day, row.item_id)
            if key not in carriers:
                carriers[key] = await _carried_by(conn, row.bulletin_day, row.item_id)
            campaign_id = carriers[key]
            if campaign_id is None:
                continue
            result = await conn.execute(
                update(d)
                .where(d.c.id == row.id, stuck)
                .values(
                    status=DeliveryStatus.SENT.value, remote_id=f"campaign:{campaign_id}",
                    sent_at=now, updated_at=now, last_error=None, not_before=None,
                )
            )  # fmt: skip
            changed += int(result.rowcount or 0)
        # a cancelled item is left out of every bulletin: its wait is over
        untaken = select(mail_digest.c.item_id).where(mail_digest.c.bulletin_day.is_(None))
        gone = select(items.c.id).where(items.c.status == ItemStatus.CANCELLED.value)
        result = await conn.execute(
            update(d)
            .where(
                d.c.channel == MAILING,
                d.c.status == DeliveryStatus.WAITING_BULLETIN.value,
                d.c.item_id.in_(untaken),
                d.c.item_id.in_(gone),
            )
            .values(
                status=DeliveryStatus.CANCELLED.value, updated_at=now,
                last_error="cancelado por un editor: no entra en el boletín",
            )
        )  # fmt: skip
        changed += int(result.rowcount or 0)
    return changed


async def fail_waiting(ledger: Ledger, day: date, reason: str) -> int:
    """The bulletin of ``day`` cannot be sent: the ``waiting_bulletin`` deliveries of the
    items it took become ``failed`` with ``reason`` (they turn ``sent`` if that bulletin
    leaves later, see :func:`settle_bulletins`). Returns how many changed."""
    d = deliveries
    now = utcnow()
    taken = select(mail_digest.c.item_id).where(mail_digest.c.bulletin_day == day)
    async with ledger.engine.begin() as conn:
        result = await conn.execute(
            update(d)
            .where(
                d.c.channel == MAILING,
                d.c.status == DeliveryStatus.WAITING_BULLETIN.value,
                d.c.item_id.in_(taken),
            )
            .values(status=DeliveryStatus.FAILED.value, last_error=reason, updated_at=now)
        )
        return int(result.rowcount or 0)


# -- subscribers --------------------------------------------------------------------------


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=int(row["id"]), email=row["email"], email_hash=row["email_hash"], name=row["name"],
        audiences=int(row["audiences"]), consent_at=row["consent_at"],
        consent_source=row["consent_source"], status=SubscriberStatus(row["status"]),
        left_at=row["left_at"],
    )  # fmt: skip


async def upsert_subscribers(ledger: Ledger, rows: Sequence[ImportRow]) -> Upserted:
    """Upsert one chunk of an import in one transaction: new addresses are added, active
    ones get the union of audiences and the latest consent, and an address that left the
    list (unsubscribed, bounced, erased) is skipped, never resubscribed."""
    now = utcnow()
    by_hash = {row.email_hash: row for row in rows}
    added = updated = unchanged = 0
    skipped: list[tuple[int, str, SubscriberStatus, datetime | None]] = []
    async with ledger.engine.begin() as conn:
        found = {
            old.email_hash: old
            for old in map(
                _subscriber,
                (
                    await conn.execute(
                        select(subscribers).where(subscribers.c.email_hash.in_(list(by_hash)))
                    )
                ).mappings(),
            )
        }
        new = []
        for digest, row in by_hash.items():
            old = found.get(digest)
            if old is None:
                new.append(
                    {
                        "email": row.email, "email_hash": digest, "name": row.name,
                        "audiences": row.audiences, "consent_at": row.consent_at,
                        "consent_source": row.consent_source,
                        "status": SubscriberStatus.ACTIVE.value,
                        "created_at": now, "updated_at": now,
                    }
                )  # fmt: skip
                continue
            if old.status != SubscriberStatus.ACTIVE:
                skipped.append((row.line, row.email, old.status, old.left_at))
                continue
            values = {
                "name": row.name or old.name,
                "audiences": old.audiences | row.audiences,
                "consent_at": row.consent_at,
                "consent_source": row.consent_source,
            }
            current = {
                "name": old.name, "audiences": old.audiences, "consent_at": old.consent_at,
                "consent_source": old.consent_source,
            }  # fmt: skip
            if current == values:
                unchanged += 1
                continue
            await conn.execute(
                update(subscribers)
                .where(subscribers.c.id == old.id)
                .values(**values, updated_at=now)
            )
            updated += 1
        if new:
            await conn.execute(insert(subscribers), new)
            added = len(new)
    return Upserted(added, updated, unchanged, tuple(skipped))


async def subscriber_page(ledger: Ledger, *, after: int, limit: int) -> list[Subscriber]:
    """Up to ``limit`` subscribers not erased with an id above ``after``, by id."""
    async with ledger.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(subscribers)
                .where(
                    subscribers.c.id > after,
                    subscribers.c.status != SubscriberStatus.ERASED.value,
                )
                .order_by(subscribers.c.id)
                .limit(limit)
            )
        ).mappings()
        return [_subscriber(row) for row in rows]


ERASED_MARK = "[dirección suprimida]"
"""What an erased address becomes wherever the ledger had written it."""


def _text_columns() -> list[tuple[Table, Column[Any]]]:
    """Every text column of every table that may hold an address: all but keys (primary,
    foreign, unique), the ledger's own secrets (``meta``) and the subscribers' addresses
    (the erased person's row is blanked; the others are other people's)."""
    found = []
    for table in metadata.sorted_tables:
        if table.name == meta.name or not table.primary_key.columns:
            continue
        for column in table.columns:
            if not isinstance(column.type, String | Text):
                continue
            if column.primary_key or column.foreign_keys or column.unique:
                continue
            if column is subscribers.c.email:  # the person's own row is blanked instead
                continue
            found.append((table, column))
    return found


def _like_any(column: Column[Any], needles: Sequence[str]) -> Any:
    escaped = [n.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for n in needles]
    lowered = func.lower(column)
    return or_(*(lowered.like(f"%{n}%", escape="\\") for n in escaped))


async def _scrub(conn: AsyncConnection, email: str) -> int:
    """Replace ``email`` (any case, also percent-encoded) in every text column of the
    ledger by :data:`ERASED_MARK`; returns how many values changed."""
    needles = [email.lower(), email.lower().replace("@", "%40")]
    # whole addresses only: "a@b.co" is not erased from "xa@b.co" or "a@b.co.uk" (but it
    # is after a percent-encoded character: "mailto%3Aa%40b.co")
    pattern = re.compile(
        r"(?:(?<![\w.+-])|(?<=%[0-9A-Fa-f]{2}))(?:"
        + "|".join(re.escape(n) for n in needles)
        + r")(?![\w-]|\.[\w-])",
        re.IGNORECASE,
    )
    changed = 0
    for table, column in _text_columns():
        keys = list(table.primary_key.columns)
        rows = (await conn.execute(select(*keys, column).where(_like_any(column, needles)))).all()
        for row in rows:
            value = row[-1]
            cleaned = pattern.sub(ERASED_MARK, value) if isinstance(value, str) else value
            if cleaned == value:
                continue
            where = [key == row[i] for i, key in enumerate(keys)]
            await conn.execute(update(table).where(*where).values({column.name: cleaned}))
            changed += 1
    return changed


async def erase_subscriber(
    ledger: Ledger, email_hash: str, email: str
) -> tuple[Literal["erased", "already", "unknown"], int]:
    """Erase a person (Ley 1581): blank every personal field of the subscriber with
    ``email_hash``, keeping the hash (recorded even for an unknown address, so a later
    import is refused), and replace the normalised address ``email`` wherever else the
    ledger wrote it — SMTP replies kept per recipient, delivery errors and attempt notes,
    campaigns, items, any text column (see :func:`_scrub`) — by :data:`ERASED_MARK`.
    Returns the outcome and how many other values were scrubbed.

    On SQLite every connection runs with ``secure_delete`` (old bytes of a rewritten value
    are zeroed, see ``schema.create_engine``) and the write-ahead log is checkpointed and
    truncated afterwards, so the address is not left in the database files either."""
    now = utcnow()
    blank = {
        "email": None, "name": None, "audiences": 0, "consent_at": None,
        "consent_source": None, "status": SubscriberStatus.ERASED.value, "updated_at": now,
        "left_at": now,
    }  # fmt: skip
    outcome: Literal["erased", "already", "unknown"]
    async with ledger.engine.begin() as conn:
        row = (
            await conn.execute(
                select(subscribers.c.id, subscribers.c.status).where(
                    subscribers.c.email_hash == email_hash
                )
            )
        ).first()
        if row is None:
            await conn.execute(
                insert(subscribers).values(email_hash=email_hash, created_at=now, **blank)
            )
            outcome = "unknown"
        elif row.status == SubscriberStatus.ERASED.value:
            outcome = "already"
        else:
            await conn.execute(
                update(subscribers).where(subscribers.c.id == row.id).values(**blank)
            )
            outcome = "erased"
        scrubbed = await _scrub(conn, email)
    if ledger.engine.url.get_backend_name() == "sqlite":
        async with ledger.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return outcome, scrubbed


async def unsubscribe(ledger: Ledger, subscriber_id: int) -> Literal["done", "already"]:
    """One-click unsubscribe: ``done``, or ``already`` (not active before);
    :class:`NotFound` when there is no such subscriber."""
    now = utcnow()
    async with ledger.engine.begin() as conn:
        result = await conn.execute(
            update(subscribers)
            .where(
                subscribers.c.id == subscriber_id,
                subscribers.c.status == SubscriberStatus.ACTIVE.value,
            )
            .values(status=SubscriberStatus.UNSUBSCRIBED.value, left_at=now, updated_at=now)
        )
        if result.rowcount:
            return "done"
        found = await conn.scalar(select(subscribers.c.id).where(subscribers.c.id == subscriber_id))
    if found is None:
        raise NotFound("suscriptor", subscriber_id)
    return "already"


async def subscriber_contact(
    ledger: Ledger, subscriber_id: int
) -> tuple[str | None, SubscriberStatus]:
    """(address, status) of a subscriber (the address is ``None`` once erased);
    :class:`NotFound` when there is no such subscriber."""
    async with ledger.engine.connect() as conn:
        row = (
            await conn.execute(
                select(subscribers.c.email, subscribers.c.status).where(
                    subscribers.c.id == subscriber_id
                )
            )
        ).first()
    if row is None:
        raise NotFound("suscriptor", subscriber_id)
    return row.email, SubscriberStatus(row.status)


async def ping(ledger: Ledger) -> None:
    """A trivial query: raises when the database does not answer (``/salud``)."""
    async with ledger.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


__all__ = [
    "Campaign",
    "DigestEntry",
    "DigestJoin",
    "ImportRow",
    "NewCampaign",
    "OpenRecipient",
    "OutboxDigestItem",
    "Subscriber",
    "Upserted",
]
