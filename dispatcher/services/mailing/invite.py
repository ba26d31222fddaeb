"""The calendar invitation carried by an item campaign whose item has an ``event`` (a press
conference's call): built when the campaign is sent, from the item as the ledger holds it,
so a resumed campaign carries the same invitation. See :mod:`channels.ics` for UID and
SEQUENCE (stable across corrections, growing with each revision)."""

from __future__ import annotations

from email.utils import parseaddr
from typing import TYPE_CHECKING

from channels.ics import Invitation, calendar_bytes
from dispatcher.ledger.types import ItemStatus

if TYPE_CHECKING:
    from dispatcher.ledger.mail import Campaign
    from dispatcher.ledger.store import ItemRecord, Ledger
    from settings import Settings


def invitation(item: ItemRecord, settings: Settings, *, revision: int) -> Invitation | None:
    """The item's invitation (``None`` when it has no event)."""
    meta = item.content().meta
    if meta.event is None:
        return None
    starts = meta.event.starts_at
    starts = starts if starts.tzinfo else starts.replace(tzinfo=settings.tz)
    name, address = parseaddr(settings.smtp.from_ or "")
    return Invitation(
        item_id=item.id,
        title=item.title,
        starts_at=starts.astimezone(settings.tz),
        place=meta.event.place,
        site_url=settings.website.base_url,
        url=item.url,
        summary=item.summary,
        speakers=tuple(meta.event.speakers),
        organizer_email=address or None,
        organizer_name=name or settings.website.site_name,
        revision=revision,
    )


async def campaign_calendar(ledger: Ledger, settings: Settings, campaign: Campaign) -> bytes | None:
    """The ``.ics`` an item campaign carries: ``METHOD:REQUEST`` for an item with an event,
    ``METHOD:CANCEL`` once the item is withdrawn; ``None`` for anything else."""
    if campaign.kind != "item" or campaign.item_id is None:
        return None
    item = await ledger.get_item(campaign.item_id)
    if item is None:
        return None
    invite = invitation(item, settings, revision=campaign.revision or item.revision)
    if invite is None:
        return None
    return calendar_bytes(invite, "CANCEL" if item.status is ItemStatus.WITHDRAWN else "REQUEST")
