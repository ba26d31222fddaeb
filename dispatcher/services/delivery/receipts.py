"""What a correction or a withdrawal needs beside the rendered post: the receipt of what
the channel already carries (from the ledger) and, for a correction, its notice.

A correction edits the channel's original publication (its ``publish`` delivery, or the
website's ``update`` of an older ledger); X, which cannot edit, replies to it with the
notice rendered from ``<channel>/<kind>.correction.txt.j2`` (or
``<channel>/default.correction.txt.j2``) into ``post.parts["correction"]``. A withdrawal
takes down the original and everything else the channel carries of the item (the call
ahead of an event, X's correction replies), named in the receipt's ``detail["related"]``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import jinja2

from channels.base import Post, Receipt, Rejected
from dispatcher.ledger import withdrawals
from dispatcher.ledger.store import SentReceipt
from dispatcher.ledger.types import DeliveryAction
from dispatcher.render.renderer import X_LIMIT, x_length

if TYPE_CHECKING:
    from dispatcher.items.model import ContentItem
    from dispatcher.services.context import App

ORIGINAL = (DeliveryAction.PUBLISH, DeliveryAction.UPDATE)


class NoReceipt(Rejected):
    """The channel's original publication is not known (its outcome was unknown, or it was
    never recorded): nothing can be edited or deleted automatically; a human must."""


async def original_receipt(app: App, item_id: str, channel: str) -> Receipt:
    """The receipt of the channel's publication of the item; :class:`NoReceipt` if none."""
    _, original = await _sent(app, item_id, channel, "corregir", "corríjala")
    return Receipt(original.remote_id, original.url)


async def withdrawal_receipt(app: App, item_id: str, channel: str) -> Receipt:
    """The receipt a withdrawal takes down: the original, with the item's other messages on
    the channel in ``detail["related"]`` and the reason, title and moment of withdrawal."""
    sent, original = await _sent(app, item_id, channel, "borrar", "retírela")
    related: list[str] = []
    for receipt in sent:
        if receipt.remote_id != original.remote_id and receipt.remote_id not in related:
            related.append(receipt.remote_id)
    item = await app.ledger.item(item_id)
    request = await withdrawals.find(app.ledger, item_id)
    when = request.requested_at if request is not None else app.clock()
    detail = {
        "item_id": item_id,
        "title": item.title,
        "reason": request.reason if request is not None else "",
        "withdrawn_at": _aware(when).astimezone(app.plan.tz).isoformat(),
        "related": related,
    }
    return Receipt(original.remote_id, original.url, detail)


def with_correction_notice(app: App, item: ContentItem, post: Post) -> Post:
    """``post`` with the channel's correction notice in ``parts["correction"]`` when the
    channel has a correction template (X's reply), and the editor's note in
    ``meta["correction_note"]``. The note is dropped from the notice when it would not fit
    X's 280 characters."""
    note = item.meta.correccion
    meta = {**post.meta, "correction_note": note}
    names = [
        f"{post.channel}/{item.kind}.correction.txt.j2",
        f"{post.channel}/default.correction.txt.j2",
    ]
    try:
        template = app.renderer.environment.select_template(names)
    except jinja2.TemplatesNotFound:
        return dataclasses.replace(post, meta=meta)
    context = {"item": item, "meta": item.meta, "url": post.url, "revision": post.revision}
    text = template.render(context, note=note).strip()
    if post.channel == "x" and x_length(text) > X_LIMIT:
        text = template.render(context, note=None).strip()
    return dataclasses.replace(post, meta=meta, parts={**post.parts, "correction": text})


async def _sent(
    app: App, item_id: str, channel: str, verb: str, by_hand: str
) -> tuple[list[SentReceipt], SentReceipt]:
    """What the channel carries of the item, and its original publication (else the call
    ahead of the event); :class:`NoReceipt`, saying what cannot be done (``verb``) and what
    the editor must do by hand (``by_hand``), if nothing was recorded as sent."""
    sent = await app.ledger.sent_receipts(item_id, channel)
    original = _original(sent) or next(iter(sent), None)
    if original is None:
        raise NoReceipt(
            f"no se sabe qué publicación {verb} en {channel} (su envío no quedó registrado "
            f"como enviado): {by_hand} a mano en el canal"
        )
    return sent, original


def _original(sent: list[SentReceipt]) -> SentReceipt | None:
    return next((r for r in sent if r.action in ORIGINAL), None)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
