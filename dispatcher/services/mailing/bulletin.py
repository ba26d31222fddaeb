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

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin

from channels._html import clean_email
from dispatcher.items.audiences import audience_mask
from dispatcher.ledger import mail as store
from dispatcher.ledger.mail import DigestEntry, DigestJoin, NewCampaign
from dispatcher.ledger.store import Ledger
from dispatcher.render.renderer import UNSUBSCRIBE_PLACEHOLDER
from dispatcher.services.mailing.campaign import (
    CampaignResult,
    CampaignSender,
    ProgressCallback,
    campaign_counts,
    result_of,
)
from dispatcher.services.mailing.message import MailContent
from dispatcher.services.mailing.preflight import require_safe

if TYPE_CHECKING:
    from dispatcher.items.plan import Plan
    from dispatcher.services.context import App

log = logging.getLogger("pregonero.mailing")

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
    spec = NewCampaign(
        key=f"item:{item_id}:r{revision}{key_suffix}", kind="item", subject=content.subject,
        text=content.text, html=content.html, audiences=audiences, list_id=list_id[0],
        list_name=list_id[1], item_id=item_id, revision=revision,
    )  # fmt: skip
    return await store.campaign_for(ledger, spec)


async def add_to_digest(
    ledger: Ledger, *, item_id: str, revision: int, audiences: int, today: date
) -> date:
    """Record an item for the bulletin of ``today`` — or of the first later day whose
    bulletin has not been made yet. Idempotent: an item already recorded keeps its day."""
    return (await join_digest(ledger, item_id, revision, audiences, today)).day


async def join_digest(
    ledger: Ledger, item_id: str, revision: int, audiences: int, today: date
) -> DigestJoin:
    """Like :func:`add_to_digest`, also telling whether the bulletin that took the item
    has already left (``sent_by``: its campaign id)."""
    return await store.add_to_digest(
        ledger, item_id=item_id, revision=revision, audiences=audiences, today=today
    )


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


def render_digest(app: App, day: date, entries: Sequence[DigestEntry]) -> MailContent:
    """The bulletin's subject, text and HTML from ``templates/mailing/digest.*.j2``."""
    renderer = app.renderer
    env = renderer.environment
    rendered = []
    for entry in entries:
        item, url = entry.item, entry.url
        image = item.meta.image
        rendered.append(
            {
                "id": item.id, "title": item.title, "summary": item.summary, "url": url,
                "kind": item.kind, "kind_label": renderer.label(item.kind), "date": item.date,
                "dependencia": item.meta.dependencia,
                "image_src": urljoin(url, quote(image)) if image and url else None,
                "image_alt": item.meta.image_alt,
            }
        )  # fmt: skip
    context = {
        "day": day, "items": rendered, "site_name": renderer.site_name,
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
    }  # fmt: skip
    subject = env.get_template("mailing/digest.subject.txt.j2").render(context)
    return MailContent(
        subject=" ".join(subject.split())[:200],
        text=env.get_template("mailing/digest.txt.j2").render(context).strip() + "\n",
        html=clean_email(env.get_template("mailing/digest.html.j2").render(context)),
    )


async def join_outbox_items(app: App, day: date) -> int:
    """Record for ``day``'s bulletin the digest items whose mailing went to the outbox
    that day (mailing off: no SMTP, or ``PREGONERO_MAILING__MODE=outbox``).

    Why here: membership in the digest must not depend on the channel's mode when the item
    was accepted. While mailing is off, the outbox adapter writes the rendered mail and the
    delivery is done; nothing records the item for a bulletin. So when a bulletin is built
    (``mail send``, the scheduled slot, the bot) — which only happens with mailing live — the
    items of that bulletin's day whose ``mailing`` delivery went to the outbox, and that no
    bulletin has carried, join it with the audiences the live channel would have used. "Its
    day" is the local day the delivery went to the outbox, the day the live channel would
    have recorded it for; older outbox days are not swept in (a long outbox period must not
    turn into one flood of stale news). Returns how many items joined."""
    kinds = [
        name
        for name, kind in app.plan.kinds.items()
        if kind.mailing is not None and kind.mailing.mode == "digest"
    ]
    tz = app.plan.tz
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    joined = 0
    for found in await store.outbox_digest_items(app.ledger, kinds, start, end):
        try:
            names = app.plan.audiences_for(
                found.kind, None if found.audiences is None else list(found.audiences)
            )
        except ValueError as exc:  # the live channel would have refused it too
            log.warning("boletín %s: %s no entra: %s", day.isoformat(), found.item_id, exc)
            continue
        await store.add_to_digest(
            app.ledger, item_id=found.item_id, revision=found.revision,
            audiences=audience_mask(names), today=day,
        )  # fmt: skip
        joined += 1
    return joined


async def _create_bulletin(app: App, day: date, domain: str) -> list[int]:
    await join_outbox_items(app, day)
    entries = await store.digest_entries(app.ledger, day)
    if not entries:
        return []
    relevant = 0
    for entry in entries:
        relevant |= entry.audiences
    by_id = {entry.item_id: entry for entry in entries}
    specs = []
    for n, (item_ids, masks) in enumerate(
        variants([(e.item_id, e.audiences) for e in entries]), start=1
    ):
        content = render_digest(app, day, [by_id[i] for i in item_ids])
        specs.append(
            NewCampaign(
                key=f"digest:{day.isoformat()}:{n}", kind="digest", subject=content.subject,
                text=content.text, html=content.html, audiences=relevant,
                list_id=f"{DIGEST_LIST[0]}.{domain}", list_name=DIGEST_LIST[1], day=day,
                item_ids=tuple(item_ids), member_masks=tuple(masks),
            )
        )  # fmt: skip
    return await store.create_bulletin(app.ledger, day, specs, list(by_id))


async def send_daily_bulletin(
    app: App,
    day: date,
    *,
    sender: CampaignSender | None = None,
    progress: ProgressCallback | None = None,
) -> CampaignResult:
    """Send (or resume) the bulletin of ``day``: every digest item not yet sent, recorded
    for that day or before. An empty day sends nothing (an empty result).

    The items' ``mailing`` deliveries wait (``waiting_bulletin``) until this leaves: once
    every campaign of the bulletin is done they become ``sent``; when it stops for good (a
    refused sender or credentials) they become ``failed`` with the reason. Settings that
    make live mail unsafe (see ``preflight``) raise
    :class:`~dispatcher.services.mailing.preflight.MailConfigError` before anything is
    created or sent."""
    require_safe(app.settings)  # credentials only over TLS, links readers can open
    if sender is None:
        sender = CampaignSender(app.ledger, app.settings, progress=progress)
    campaign_ids = await store.day_campaigns(app.ledger, day)
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
    if result.fatal or result.auth:
        reason = f"el boletín del {day.isoformat()} no salió: {result.error}"
        await store.fail_waiting(app.ledger, day, reason)
    else:
        await store.settle_bulletins(app.ledger)
    return result
