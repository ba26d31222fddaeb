"""``/vista ID [canal]``: the stored item rendered by the real renderer, channel by channel.

Telegram's post is sent as it will appear in the group (HTML, photo with caption, follow-up);
X and Facebook as their plain text with the length against the limit; the website page as
an ``.html`` document the editor can open; the e-mail as subject and plain-text body. Under
the last message, buttons to approve (when the item waits for approval) and to cancel
(while something is left to send).
"""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import TelegramError

from channels.base import Post
from dispatcher.bot.gate import chunks
from dispatcher.bot.state import BotState
from dispatcher.ledger import queries
from dispatcher.ledger.queries import ItemView
from dispatcher.ledger.types import OPEN, ItemStatus
from dispatcher.render.renderer import RenderError, measure
from dispatcher.services.piece import would_be_url

log = logging.getLogger("pregonero.bot")


def _lengths(post: Post) -> str:
    shown = []
    for part, length, limit in measure(post):
        if post.channel == "website" or (post.channel == "mailing" and part == "html"):
            continue
        shown.append(f"{part} {length}" + (f"/{limit}" if limit else ""))
    return ", ".join(shown)


async def send_preview(
    state: BotState, message: Message, item: ItemView, channel: str | None
) -> None:
    app = state.app
    content = await queries.item_content(app.ledger, item.id)
    rows = await queries.deliveries_of(app.ledger, [item.id])
    channels = list(dict.fromkeys(d.channel for d in rows))
    if channel is not None:
        if channel not in channels:
            await message.reply_text(
                f"{item.id} no va a «{channel}». Canales: {', '.join(channels) or '—'}."
            )
            return
        channels = [channel]
    url = would_be_url(app, item)
    for name in channels:
        try:
            post = app.renderer.render(
                content, name, url=None if name == "website" else url, revision=item.revision
            )
        except (RenderError, OSError) as exc:
            await message.reply_text(f"═══ {name} ═══\nERROR: {exc}")
            continue
        try:
            await _send_channel(message, post)
        except TelegramError as exc:
            log.warning("bot: no se pudo mostrar la vista de %s en %s: %s", item.id, name, exc)
            await message.reply_text(f"═══ {name} ═══\nTelegram no aceptó la vista: {exc.message}")
    await message.reply_text(
        f"Vista de {item.id} ({', '.join(channels)}).",
        reply_markup=await decision_buttons(state, item),
    )


async def decision_buttons(state: BotState, item: ItemView | str) -> InlineKeyboardMarkup | None:
    """Under a preview or an accepted file: approve (while the item waits for approval)
    and cancel (while something is left to send). ``item`` may be given by its id."""
    if isinstance(item, str):
        item = await queries.item_view(state.app.ledger, item)
    buttons = []
    if item.status is ItemStatus.AWAITING_APPROVAL:
        buttons.append(
            InlineKeyboardButton("✅ Aprobar", callback_data=state.button("aprobar", item.id))
        )
    deliveries = await queries.deliveries_of(state.app.ledger, [item.id])
    if item.status is not ItemStatus.CANCELLED and any(d.status in OPEN for d in deliveries):
        buttons.append(
            InlineKeyboardButton("🚫 Cancelar", callback_data=state.button("cancelar", item.id))
        )
    return InlineKeyboardMarkup([buttons]) if buttons else None


async def _send_channel(message: Message, post: Post) -> None:
    name = post.channel
    header = f"═══ {name} ═══ ({_lengths(post)})" if name != "website" else "═══ website ═══"
    if name == "telegram":
        await message.reply_text(f"{header}\nAsí se verá en el grupo:")
        if post.image is not None:
            data = await asyncio.to_thread(post.image.path.read_bytes)
            caption = post.parts.get("caption")
            await message.reply_photo(
                data, caption=caption or None, parse_mode=ParseMode.HTML, filename=post.image.name
            )
            follow_up = post.parts.get("follow_up") if caption is not None else post.text
            if follow_up:
                await message.reply_text(follow_up, parse_mode=ParseMode.HTML)
        else:
            await message.reply_text(post.text, parse_mode=ParseMode.HTML)
        if post.attachments:
            names = ", ".join(m.name for m in post.attachments)
            await message.reply_text(f"(y los adjuntos: {names})")
        return
    if name == "website":
        await message.reply_document(
            post.text.encode("utf-8"),
            filename=f"{post.item_id}.html",
            caption=f"{header}\nLa página tal como quedará (ábrala en el navegador).",
        )
        return
    if name == "mailing":
        body = f"Asunto: {post.parts.get('subject', '')}\n\n{post.text}"
    else:
        body = post.text
    for piece in chunks(f"{header}\n{body}"):
        await message.reply_text(piece)
