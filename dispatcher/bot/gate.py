"""Who may talk to the bot: editors, in private chats — the ids in
``PREGONERO_TELEGRAM__EDITORS`` (bot-only editors) and every registered editor's Telegram id
(``pregonero editors add … --telegram-id N``).

The gate runs before every other handler (group -1). Updates from groups and channels are
ignored without a word (the bot may sit in the journalists' group); anyone else writing in
private gets a polite refusal with their user id (so a new editor knows what to ask for),
and the attempt is logged with that id. Nothing after the gate runs for them.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from dispatcher.bot.state import TEXT_LIMIT, BotState
from dispatcher.services.editors import may_use_bot

log = logging.getLogger("pregonero.bot")

REFUSAL = (
    "Lo siento: este bot es solo para el equipo de prensa de la Alcaldía de Bucaramanga. "
    "Si usted hace parte del equipo, pida que agreguen su ID de usuario ({user_id}) a la "
    "configuración de Pregonero."
)


class Gate:
    def __init__(self, state: BotState) -> None:
        self.state = state

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat, user = update.effective_chat, update.effective_user
        if chat is None or chat.type != ChatType.PRIVATE:
            raise ApplicationHandlerStop  # groups and channels: not a place for commands
        if user is not None and await may_use_bot(self.state.app, user.id):
            return
        user_id = user.id if user is not None else "?"
        what = "botón" if update.callback_query else "mensaje"
        log.warning(
            "bot: acceso denegado al usuario %s (chat %s, %s)",
            user_id,
            chat.id,
            what,
        )
        text = REFUSAL.format(user_id=user_id)
        if update.callback_query is not None:
            await update.callback_query.answer(text[:190], show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(text)
        raise ApplicationHandlerStop


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split ``text`` at line breaks into pieces Telegram accepts (≤ ``limit`` characters)."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines() or [""]:
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip() or not pieces:
        pieces.append(current or "—")
    return pieces


async def say(bot: Bot, chat_id: int, text: str, **kwargs: Any) -> list[Message]:
    """Send ``text`` to ``chat_id`` split as needed (``kwargs`` go with the last piece)."""
    sent = []
    pieces = chunks(text)
    for n, piece in enumerate(pieces):
        extra = kwargs if n == len(pieces) - 1 else {}
        sent.append(await bot.send_message(chat_id, piece, **extra))
    return sent
