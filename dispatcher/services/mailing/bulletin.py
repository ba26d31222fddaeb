"""Campaigns from items: at once (plan mode ``immediate``) or in the daily bulletin
(mode ``digest``).

A campaign is created once per key — ``item:<id>:r<revision>`` or
``digest:<day>:<variant>`` — with its rendered parts and one recipient row per active
subscriber of its audiences, in one transaction; creating it again returns the same id, so
a retried delivery or a second ``mail send`` resumes instead of starting over.

The daily bulletin gathers every digest item not yet sent (its day or earlier). Items can
target different audiences, so subscribers are grouped by the set of items their own
audiences entitle them to; each distinct set is one variant (one campaign, one message
built once). Usually there is a single variant.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import date, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.ledger.schema import (
    items,
    mail_campaigns,
    mail_digest,
    mail_recipients,
    subscribers,
    utcnow,
)
from dispatcher.ledger.store import Ledger, content_from_row
from dispatcher.render.renderer import UNSUBSCRIBE_PLACEHOLDER
from dispatcher.services.mailing.campaign import (
    CampaignResult,
    CampaignSender,
    ProgressCallback,
    campaign_counts,
    result_of,
)
from dispatcher.services.mailing.message import MailContent

if TYPE_CHECKING:
    from dispatcher.items.plan import Plan
    from dispatcher.services.context import App

DIGEST_LIST = ("boletin-diario", "Boletín diario de prensa")


def bulletin_time(plan: Plan) -> time | None:
    """When the daily bulletin goes out: the earliest ``at`` of the plan's digest kinds
    (``None`` when no kind uses the digest)."""
    times = [
        kind.mailing.at
        for kind in plan.kinds.values()
        if kind.mailing is not None and kind.mailing.mode == "digest" and kind.mailing.at
    ]
    return min(times, default=None)


def list_for(kind: str, label: str, domain: str) -> tuple[str, str]:
    """(List-Id, list name) of a kind's immediate mailings, e.g. ``boletin.<domain>``."""
    return f"{kind.replace('_', '-')}.{domain}", label


async def insert_campaign(
    conn: AsyncConnection,
    *,
    key: str,
    kind: str,
    content: MailContent,
    audiences: int,
    list_id: tuple[str, str],
    item_id: str | None = None,
    revision: int | None = None,
    day: date | None = None,
    item_ids: Sequence[str] | None = None,
    member_masks: Sequence[int] | None = None,
) -> int:
    """Insert a campaign and its recipients: active subscribers sharing an audience with
    ``audiences`` — or, with ``member_masks``, those whose audiences restricted to
    ``audiences`` equal one of those masks (a bulletin variant)."""
    now = utcnow()
    campaign_id = (
        await conn.execute(
            insert(mail_campaigns)
            .values(
                key=key, kind=kind, item_id=item_id, revision=revision, day=day,
                audiences=audiences, items=json.dumps(list(item_ids)) if item_ids else None,
                list_id=list_id[0], list_name=list_id[1], subject=content.subject,
                text=content.text, html=content.html, nonce=secrets.token_hex(6),
                total=0, status="sending", created_at=now,
            )
            .returning(mail_campaigns.c.id)
        )
    ).scalar_one()  # fmt: skip
    shared = subscribers.c.audiences.op("&")(audiences)
    who = select(literal(campaign_id), subscribers.c.id, literal("pending"), literal(0)).where(
        subscribers.c.status == "active"
    )
    who = who.where(shared != 0) if member_masks is None else who.where(shared.in_(member_masks))
    columns = ["campaign_id", "subscriber_id", "status", "attempts"]
    await conn.execute(insert(mail_recipients).from_select(columns, who))
    total = await conn.scalar(
        select(func.count()).where(mail_recipients.c.campaign_id == campaign_id)
    )
    await conn.execute(
        update(mail_campaigns).where(mail_campaigns.c.id == campaign_id).values(total=total)
    )
    return int(campaign_id)


async def item_campaign(
    ledger: Ledger,
    *,
    item_id: str,
    revision: int,
    content: MailContent,
    audiences: int,
    list_id: tuple[str, str],
    key_suffix: str = "",
) -> int:
    """The campaign of an item's revision, created on first call (idempotent).
    ``key_suffix`` tells apart another mailing of the same revision (the early call)."""
    key = f"item:{item_id}:r{revision}{key_suffix}"
    found = await _campaign_ids(ledger, mail_campaigns.c.key == key)
    if found:
        return found[0]
    try:
        async with ledger.engine.begin() as conn:
            return await insert_campaign(
                conn, key=key, kind="item", content=content, audiences=audiences,
                list_id=list_id, item_id=item_id, revision=revision,
            )  # fmt: skip
    except IntegrityError:  # created concurrently by another worker
        return (await _campaign_ids(ledger, mail_campaigns.c.key == key))[0]


async def _campaign_ids(ledger: Ledger, where: Any) -> list[int]:
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(select(mail_campaigns.c.id).where(where).order_by("id"))
        return [int(r) for r in rows.scalars()]


async def add_to_digest(
    ledger: Ledger, *, item_id: str, revision: int, audiences: int, today: date
) -> date:
    """Record an item for the bulletin of ``today`` — or of the first later day whose
    bulletin has not been made yet. Idempotent: an item already recorded keeps its day."""
    async with ledger.engine.begin() as conn:
        known = await conn.scalar(select(mail_digest.c.day).where(mail_digest.c.item_id == item_id))
        if known is not None:
            return known
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
        return day


def variants(entries: Sequence[tuple[str, int]]) -> list[tuple[list[str], list[int]]]:
    """Group audience combinations by the items they receive: ``[(item ids, masks)]``.

    ``entries`` are (item id, audience mask). A subscriber whose audiences, restricted to
    the union of the entries' audiences, equal one of a variant's masks gets that variant.
    """
    relevant = 0
    for _, mask in entries:
        relevant |= mask
    groups: dict[tuple[str, ...], list[int]] = {}
    for combo in range(1, relevant + 1):
        if combo & relevant != combo:
            continue
        chosen = tuple(item_id for item_id, mask in entries if mask & combo)
        groups.setdefault(chosen, []).append(combo)
    return [(list(ids), masks) for ids, masks in groups.items() if ids]


def render_digest(
    app: App, day: date, item_ids: Sequence[str], rows: dict[str, Any]
) -> MailContent:
    """The bulletin's subject, text and HTML from ``templates/mailing/digest.*.j2``."""
    renderer = app.renderer
    env = renderer.environment
    entries = []
    for item_id in item_ids:
        row = rows[item_id]
        item = content_from_row(row)
        url = row["url"] if row["url"] and str(row["url"]).startswith("http") else None
        image = item.meta.image
        entries.append(
            {
                "id": item.id, "title": item.title, "summary": item.summary, "url": url,
                "kind": item.kind, "kind_label": renderer.label(item.kind), "date": item.date,
                "dependencia": item.meta.dependencia,
                "image_src": urljoin(url, quote(image)) if image and url else None,
                "image_alt": item.meta.image_alt,
            }
        )  # fmt: skip
    context = {
        "day": day, "items": entries, "site_name": renderer.site_name,
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
    }  # fmt: skip
    subject = env.get_template("mailing/digest.subject.txt.j2").render(context)
    return MailContent(
        subject=" ".join(subject.split())[:200],
        text=env.get_template("mailing/digest.txt.j2").render(context).strip() + "\n",
        html=env.get_template("mailing/digest.html.j2").render(context),
    )


async def _create_bulletin(app: App, day: date, domain: str) -> list[int]:
    ledger = app.ledger
    async with ledger.engine.connect() as conn:
        entries = (
            await conn.execute(
                select(mail_digest.c.item_id, mail_digest.c.audiences)
                .join(items, items.c.id == mail_digest.c.item_id)
                .where(mail_digest.c.day <= day, mail_digest.c.bulletin_day.is_(None))
                .where(items.c.status != "cancelled")
                .order_by(mail_digest.c.day, mail_digest.c.id)
            )
        ).all()
        if not entries:
            return []
        rows = {
            row["id"]: row
            for row in (
                await conn.execute(select(items).where(items.c.id.in_([e[0] for e in entries])))
            ).mappings()
        }
    groups = variants([(e[0], e[1]) for e in entries])
    relevant = 0
    for entry in entries:
        relevant |= entry[1]
    list_id = (f"{DIGEST_LIST[0]}.{domain}", DIGEST_LIST[1])
    try:
        async with ledger.engine.begin() as conn:
            created = []
            for n, (item_ids, masks) in enumerate(groups, start=1):
                created.append(
                    await insert_campaign(
                        conn, key=f"digest:{day.isoformat()}:{n}", kind="digest",
                        content=render_digest(app, day, item_ids, rows), audiences=relevant,
                        list_id=list_id, day=day, item_ids=item_ids, member_masks=masks,
                    )
                )  # fmt: skip
            await conn.execute(
                update(mail_digest)
                .where(mail_digest.c.item_id.in_([e[0] for e in entries]))
                .values(bulletin_day=day)
            )
            return created
    except IntegrityError:  # another process made it first
        return await _day_campaigns(ledger, day)


async def _day_campaigns(ledger: Ledger, day: date) -> list[int]:
    return await _campaign_ids(
        ledger, (mail_campaigns.c.kind == "digest") & (mail_campaigns.c.day == day)
    )


async def send_daily_bulletin(
    app: App,
    day: date,
    *,
    sender: CampaignSender | None = None,
    progress: ProgressCallback | None = None,
) -> CampaignResult:
    """Send (or resume) the bulletin of ``day``: every digest item not yet sent, recorded
    for that day or before. An empty day sends nothing (an empty result)."""
    if sender is None:
        sender = CampaignSender(app.ledger, app.settings, progress=progress)
    campaign_ids = await _day_campaigns(app.ledger, day)
    if not campaign_ids:
        campaign_ids = await _create_bulletin(app, day, sender.sender.domain)
    result = CampaignResult()
    for campaign_id in campaign_ids:
        if result.error:  # stopped early: count what is left of the other variants
            result = result.merge(
                result_of(campaign_id, await campaign_counts(app.ledger, campaign_id))
            )
        else:
            result = result.merge(await sender.run(campaign_id))
    return result
