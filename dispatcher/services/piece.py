"""One piece as the web desk shows it (``/piezas/{id}``): the preview of each planned
channel, rendered by the same renderer and templates that publish, its revisions, the
editors' decisions, every delivery with its attempts and receipts, and which actions make
sense now. Read-only: the actions themselves are the shared services
(:mod:`~dispatcher.services.approvals`, :mod:`~dispatcher.services.lifecycle`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from channels.base import Post
from dispatcher.ledger import queries, withdrawals
from dispatcher.ledger.approvals import Approval
from dispatcher.ledger.queries import ItemView, RevisionView
from dispatcher.ledger.types import OPEN, RETRYABLE, DeliveryStatus, ItemStatus
from dispatcher.ledger.withdrawals import Withdrawal
from dispatcher.render.renderer import (
    PART_LABELS,
    UNSUBSCRIBE_PLACEHOLDER,
    RenderError,
    measure,
)
from dispatcher.services.approvals import approvals_for, needed_approvals

if TYPE_CHECKING:
    from dispatcher.ledger.records import DeliveryRecord
    from dispatcher.services.context import App


@dataclass(frozen=True)
class Length:
    part: str
    label: str
    length: int
    limit: int | None

    @property
    def over(self) -> bool:
        return self.limit is not None and self.length > self.limit


@dataclass(frozen=True)
class ChannelPreview:
    """A channel's post as it will go out, or why it cannot be rendered."""

    channel: str
    post: Post | None
    error: str | None = None
    lengths: tuple[Length, ...] = ()
    document: str | None = None
    """A whole HTML document to show framed: the website page, the e-mail."""


@dataclass(frozen=True)
class AttemptView:
    number: int
    started_at: datetime
    outcome: str | None
    error: str | None


@dataclass(frozen=True)
class DeliveryDetail:
    id: int
    channel: str
    revision: int
    action: str
    status: DeliveryStatus
    mode: str | None
    url: str | None
    remote_id: str | None
    last_error: str | None
    not_before: datetime | None
    sent_at: datetime | None
    attempts: tuple[AttemptView, ...] = ()


@dataclass
class Piece:
    item: ItemView
    needed: int
    approvals: list[Approval]
    revisions: list[RevisionView]
    deliveries: list[DeliveryDetail]
    withdrawal: Withdrawal | None
    image: str | None = None
    """The item's image as named in its front matter (relative to its folder)."""
    image_alt: str = ""
    previews: list[ChannelPreview] = field(default_factory=list)

    @property
    def approvers_now(self) -> int:
        """Distinct people who approved the current revision."""
        return len(
            {
                a.editor_key
                for a in self.approvals
                if a.action == "approve" and a.revision == self.item.revision
            }
        )

    @property
    def withdrawal_pending(self) -> bool:
        return self.withdrawal is not None and not self.withdrawal.done

    @property
    def can_approve(self) -> bool:
        return self.item.status is ItemStatus.AWAITING_APPROVAL or self.withdrawal_pending

    @property
    def open_channels(self) -> list[str]:
        return list(dict.fromkeys(d.channel for d in self.deliveries if d.status in OPEN))

    @property
    def can_schedule(self) -> bool:
        live = self.item.status in (ItemStatus.READY, ItemStatus.AWAITING_APPROVAL)
        return live and bool(self.open_channels)

    @property
    def can_cancel(self) -> bool:
        return bool(self.open_channels) and self.item.status is not ItemStatus.WITHDRAWN

    @property
    def retry_channels(self) -> list[str]:
        return list(dict.fromkeys(d.channel for d in self.deliveries if d.status in RETRYABLE))

    @property
    def can_withdraw(self) -> bool:
        sent = any(d.status is DeliveryStatus.SENT for d in self.deliveries)
        return sent and self.item.status is not ItemStatus.WITHDRAWN and not self.withdrawal_pending


def would_be_url(app: App, item: ItemView) -> str:
    """The item's public page: known once the website delivery went out, else predicted."""
    if item.url:
        return item.url
    from channels.pages import page_url

    return page_url(app.settings.website.base_url, item.id, item.item_date)


async def previews(
    app: App, item: ItemView, channels: list[str], *, media_base: str = ""
) -> list[ChannelPreview]:
    """Each channel's post for the item's current revision (the publishing renderer);
    ``media_base`` is where a page's media links point (the desk serves them)."""
    content = await queries.item_content(app.ledger, item.id)
    url = would_be_url(app, item)
    found = []
    for channel in channels:
        try:
            post = app.renderer.render(
                content,
                channel,
                url=None if channel == "website" else url,
                revision=item.revision,
                media_base=media_base,
            )
        except (RenderError, OSError) as exc:
            found.append(ChannelPreview(channel, None, str(exc)))
            continue
        lengths = tuple(
            Length(part, PART_LABELS.get(part, part), length, limit)
            for part, length, limit in measure(post)
        )
        found.append(ChannelPreview(channel, post, None, lengths, _document(app, post)))
    return found


def _document(app: App, post: Post) -> str | None:
    """The website article inside the static site's page layout (the one
    ``channels.static_site`` publishes), or the e-mail's HTML (unsubscribe link inert)."""
    if post.channel == "mailing":
        return post.parts.get("html", "").replace(UNSUBSCRIBE_PLACEHOLDER, "#")
    if post.channel != "website":
        return None
    from channels._html import clean_article
    from channels.static_site import PAGE_TEMPLATE

    base_url = app.settings.website.base_url
    return app.renderer.environment.get_template(PAGE_TEMPLATE).render(
        article_html=Markup(clean_article(post.text)),
        title=post.title,
        site_name=app.settings.website.site_name,
        base_url=base_url,
        description=post.summary,
        feed_url=base_url + "feed.xml",
    )


async def preview_of(
    app: App, item_id: str, channel: str, *, media_base: str = ""
) -> ChannelPreview | None:
    """One channel's preview (``None`` when the item does not go to that channel).
    Raises :class:`~dispatcher.ledger.types.NotFound`."""
    item = await queries.item_view(app.ledger, item_id)
    channels = [d.channel for d in await queries.deliveries_of(app.ledger, [item_id])]
    if channel not in channels:
        return None
    return (await previews(app, item, [channel], media_base=media_base))[0]


def _delivery(row: DeliveryRecord, tried: list[AttemptView]) -> DeliveryDetail:
    return DeliveryDetail(
        id=int(row.id),
        channel=row.channel,
        revision=int(row.revision),
        action=row.action,
        status=DeliveryStatus(row.status),
        mode=row.mode,
        url=row.url,
        remote_id=row.remote_id,
        last_error=row.last_error,
        not_before=row.not_before,
        sent_at=row.sent_at,
        attempts=tuple(tried),
    )


async def piece(
    app: App, item_id: str, *, with_previews: bool = True, media_base: str = ""
) -> Piece:
    """Everything the piece page shows. Raises :class:`~dispatcher.ledger.types.NotFound`."""
    item = await queries.item_view(app.ledger, item_id)
    rows = await app.ledger.deliveries_for([item_id])
    tried: dict[int, list[AttemptView]] = defaultdict(list)
    for a in await app.ledger.attempts_for([r.id for r in rows]):
        tried[a.delivery_id].append(AttemptView(a.number, a.started_at, a.outcome, a.error))
    found = Piece(
        item=item,
        needed=needed_approvals(app, item.kind),
        approvals=await approvals_for(app.ledger, item_id),
        revisions=await queries.revisions_of(app.ledger, item_id),
        deliveries=[_delivery(r, tried[r.id]) for r in rows],
        withdrawal=await withdrawals.find(app.ledger, item_id),
    )
    content = await queries.item_content(app.ledger, item_id)
    found.image, found.image_alt = content.meta.image, content.meta.image_alt or ""
    if with_previews:
        channels = list(
            dict.fromkeys(d.channel for d in found.deliveries if d.action != "withdraw")
        )
        found.previews = await previews(app, item, channels, media_base=media_base)
    return found


async def media_file(app: App, item_id: str, relative: str) -> Path | None:
    """A media file of the item (its image or an attachment, as named in its front
    matter), for the desk's previews; ``None`` for anything else. Raises
    :class:`~dispatcher.ledger.types.NotFound`."""
    content = await queries.item_content(app.ledger, item_id)
    named = {content.meta.image, *content.meta.attachments} - {None, ""}
    if relative not in named:
        return None
    base = content.base_dir.resolve()
    path = content.media_path(relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path
