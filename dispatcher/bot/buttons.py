"""Inline buttons: approve and cancel under previews, and the confirmations.

``callback_data`` is ``<action>:<item id or token>``: ``aprobar`` (same as ``/publicar``),
``cancelar`` (asks first), ``cancelar!`` (confirmed), ``boletin:<YYYY-MM-DD>`` (the
bulletin mailing, confirmed) and ``no`` (dismiss). The bulletin runs as a task of its own
(a mailing takes minutes); the editor is told when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from dispatcher.bot.commands import Commands
from dispatcher.bot.state import BotState

log = logging.getLogger("pregonero.bot")

STALE = "Este botón ya no sirve (el bot se reinició). Use el comando con el ID."


class Buttons:
    def __init__(self, state: BotState, commands: Commands) -> None:
        self.state = state
        self.commands = commands

    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, chat = update.callback_query, update.effective_chat
        if query is None or chat is None:
            return
        action, _, ref = (query.data or "").partition(":")
        bot, user = context.bot, update.effective_user
        if action == "no":
            await query.answer("De acuerdo.")
            await bot.send_message(chat.id, "De acuerdo: no se hizo nada.")
            return
        if action == "boletin":
            await query.answer()
            await self.bulletin(bot, chat.id, ref)
            return
        item_id = self.state.item_of(ref)
        if item_id is None or action not in ("aprobar", "cancelar", "cancelar!"):
            await query.answer(STALE, show_alert=True)
            return
        if action == "aprobar":
            outcome = await self.commands.decide(bot, chat.id, item_id, user)
            await query.answer("Registrado." if outcome in ("approved", "recorded") else "Hecho.")
        elif action == "cancelar":
            await query.answer()
            keyboard = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            "Sí, cancelar", callback_data=self.state.button("cancelar!", item_id)
                        ),
                        InlineKeyboardButton("No", callback_data="no"),
                    ]
                ]
            )
            await bot.send_message(
                chat.id,
                f"¿Cancelar {item_id}? Lo que falta por enviar no saldrá "
                "(se puede reanudar con /reintentar).",
                reply_markup=keyboard,
            )
        else:
            await query.answer("Cancelada.")
            await self.commands.cancel(bot, chat.id, item_id, user)

    async def bulletin(self, bot: Bot, chat_id: int, ref: str) -> None:
        app = self.state.app
        try:
            day = date.fromisoformat(ref)
        except ValueError:
            await bot.send_message(chat_id, STALE)
            return
        if app.mode("mailing") != "live":
            await bot.send_message(
                chat_id,
                "El correo masivo está en modo bandeja de salida (faltan PREGONERO_SMTP__HOST y "
                "PREGONERO_SMTP__FROM, o PREGONERO_MAILING__MODE=outbox): no se envía nada.",
            )
            return
        running = self.state.bulletin
        if running is not None and not running.done():
            await bot.send_message(chat_id, "Ya se está enviando un boletín; le aviso al terminar.")
            return
        await bot.send_message(chat_id, f"📧 Enviando el boletín del {day:%d/%m/%Y}…")
        self.state.bulletin = asyncio.create_task(
            self._send_bulletin(bot, chat_id, day), name="bot-boletin"
        )

    async def _send_bulletin(self, bot: Bot, chat_id: int, day: date) -> None:
        from dispatcher.services.mailing.bulletin import send_daily_bulletin

        try:
            result = await send_daily_bulletin(self.state.app, day)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the editor must hear about any failure
            log.exception("bot: el boletín del %s falló", day)
            await bot.send_message(chat_id, f"❌ No se pudo enviar el boletín: {exc}")
            return
        if not result.campaigns:
            text = "No hay boletines de prensa para ese día: no se envió nada."
        else:
            mark = "✅" if result.complete else "⚠️"
            text = f"{mark} Boletín del {day:%d/%m/%Y}: {result.summary()}."
        log.info("bot: boletín del %s: %s", day, text)
        await bot.send_message(chat_id, text)
