"""The editors' commands, in Spanish. Every reply is plain text unless it shows a post.

An ``ID`` may be the whole item id or any piece of it that matches one item only (ids are
long to type on a phone); an ambiguous piece lists the candidates.
"""

from __future__ import annotations

import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.ext import ContextTypes

from dispatcher.bot.dates import DateError, parse_when
from dispatcher.bot.gate import say
from dispatcher.bot.preview import send_preview
from dispatcher.bot.reports import find_item, local, not_found, queue_report
from dispatcher.bot.state import BotState
from dispatcher.ledger import queries, reports
from dispatcher.ledger.queries import ItemView
from dispatcher.ledger.types import ItemStatus, NotFound
from dispatcher.services import approvals, lifecycle
from dispatcher.services.status import item_report, overview

log = logging.getLogger("pregonero.bot")

HELP = """Pregonero — comandos para editores

/cola — lo que espera aprobación, lo programado y lo pendiente de envío
/estado [ID] — una pieza en cada canal: estado, enlaces, errores (sin ID: resumen general)
/vista ID [canal] — cómo se verá la publicación (con botones para aprobar o cancelar)
/publicar ID — aprobar una pieza que espera aprobación, o publicar ya una programada
/programar ID FECHA — p. ej. «mañana 7:00», «hoy 15:30», «jueves 6:30», «26/11 8:00»
/cancelar ID — no enviar lo que falta de una pieza
/retirar ID motivo — quitar una pieza publicada de todos los canales (el motivo se publica)
/reintentar ID [canal] — volver a enviar lo fallido, desconocido o cancelado
/boletin — enviar ya el boletín diario por correo (pide confirmación)

Para publicar, envíeme el archivo .md como documento, y sus imágenes y adjuntos también como
documentos, con el nombre que usa el .md. Pasa por la misma revisión que la bandeja de
entrada; si algo está mal le digo qué campo y en qué línea.

En ID basta con una parte del identificador que no se repita (p. ej. «malla-vial»)."""

USAGE = {
    "estado": "/estado ID",
    "vista": "/vista ID [canal]",
    "publicar": "/publicar ID",
    "programar": "/programar ID FECHA (p. ej. /programar malla-vial mañana 7:00)",
    "cancelar": "/cancelar ID",
    "retirar": "/retirar ID motivo (p. ej. /retirar malla-vial cifra equivocada)",
    "reintentar": "/reintentar ID [canal]",
}


def editor_name(user: User | None) -> str:
    if user is None:
        return "(desconocido)"
    return user.full_name + (f" (@{user.username})" if user.username else "")


class Commands:
    def __init__(self, state: BotState) -> None:
        self.state = state

    async def _item(self, message: Message, args: list[str], command: str) -> ItemView | None:
        """The item named by the first argument, or ``None`` after telling the editor why."""
        if not args:
            await message.reply_text(f"Uso: {USAGE[command]}")
            return None
        lookup = await find_item(self.state.app, args[0])
        if lookup.item is None:
            await message.reply_text(not_found(args[0], lookup))
        return lookup.item

    async def ayuda(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message:
            await update.effective_message.reply_text(HELP)

    async def cola(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat:
            await say(context.bot, update.effective_chat.id, await queue_report(self.state.app))

    async def estado(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, app = update.effective_message, self.state.app
        if message is None:
            return
        if not context.args:
            await say(context.bot, message.chat_id, await overview(app))
            return
        item = await self._item(message, context.args, "estado")
        if item is None:
            return
        text = await item_report(app, item.id) or ""
        extra = [line for line in await approvals.approval_lines(app, item.id) if line not in text]
        await say(context.bot, message.chat_id, "\n".join([text, *extra]))

    async def vista(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        args = context.args or []
        item = await self._item(message, args, "vista")
        if item is None:
            return
        channel = args[1].lower() if len(args) > 1 else None
        await send_preview(self.state, message, item, channel)

    async def publicar(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        item = await self._item(message, context.args or [], "publicar")
        if item is None:
            return
        await self.decide(context.bot, message.chat_id, item.id, update.effective_user)

    async def decide(self, bot: Bot, chat_id: int, item_id: str, user: User | None) -> str:
        """``/publicar`` and the approve button (which also approve a pending withdrawal);
        returns the outcome."""
        app = self.state.app
        try:
            withdrawal = await lifecycle.approve_withdrawal(
                app, item_id, user.id if user else None, editor_name(user), "bot"
            )
            if withdrawal is not None:
                if withdrawal.outcome == "withdrawn":
                    self.state.poke()
                text = lifecycle.withdraw_text(item_id, withdrawal, approve=f"/publicar {item_id}")
                await bot.send_message(chat_id, text)
                return withdrawal.outcome
            result = await approvals.publish(
                app, item_id, user.id if user else None, editor_name(user), "bot"
            )
        except NotFound:
            await bot.send_message(chat_id, f"La pieza {item_id} ya no existe.")
            return "missing"
        if result.changed:
            log.info(
                "bot: %s %s por el editor %s", result.outcome, item_id, user.id if user else "?"
            )
            self.state.poke()
        text = result.message(app.settings.tz, app.clock())
        if result.outcome == "cancelled":
            text += f" Use /reintentar {item_id}."
        elif result.outcome == "approved" and result.publish_at and result.publish_at > app.clock():
            text += f" Para publicarla antes, envíe /publicar {item_id} otra vez."
        await bot.send_message(chat_id, text)
        return result.outcome

    async def programar(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, app, user = update.effective_message, self.state.app, update.effective_user
        if message is None:
            return
        args = context.args or []
        if len(args) < 2:
            await message.reply_text(f"Uso: {USAGE['programar']}")
            return
        item = await self._item(message, args, "programar")
        if item is None:
            return
        item_id, now = item.id, app.clock()
        try:
            when = parse_when(" ".join(args[1:]), now, app.settings.tz)
        except DateError as exc:
            await message.reply_text(str(exc))
            return
        if when <= now:
            await message.reply_text(
                f"El {local(app, when)} ya pasó. Para publicar ya, use /publicar {item_id}."
            )
            return
        result = await approvals.schedule(
            app, item_id, when, user.id if user else None, editor_name(user), "bot"
        )
        text = result.message(app.settings.tz, now)
        if result.outcome == "scheduled" and item.status is ItemStatus.AWAITING_APPROVAL:
            text += f" Además espera aprobación: /publicar {item_id}."
        if result.changed:
            self.state.poke()
        await message.reply_text(text)

    async def cancelar(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        item = await self._item(message, context.args or [], "cancelar")
        if item is None:
            return
        await self.cancel(context.bot, message.chat_id, item.id, update.effective_user)

    async def cancel(self, bot: Bot, chat_id: int, item_id: str, user: User | None) -> None:
        try:
            result = await lifecycle.cancel(self.state.app, item_id)
        except NotFound:
            await bot.send_message(chat_id, f"La pieza {item_id} ya no existe.")
            return
        log.info("bot: %s cancelada por el editor %s", item_id, user.id if user else "?")
        text = lifecycle.cancel_text(item_id, result, resume=f"/reintentar {item_id}")
        await bot.send_message(chat_id, text)

    async def retirar(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/retirar ID motivo``: withdraw a published item (with approval when its kind
        needs it: ``/publicar ID`` approves the withdrawal)."""
        message, app, user = update.effective_message, self.state.app, update.effective_user
        if message is None:
            return
        args = context.args or []
        if len(args) < 2:
            await message.reply_text(f"Uso: {USAGE['retirar']}")
            return
        item = await self._item(message, args, "retirar")
        if item is None:
            return
        try:
            result, needed = await lifecycle.withdraw(
                app,
                item.id,
                " ".join(args[1:]),
                editor_id=user.id if user else None,
                editor_name=editor_name(user),
                via="bot",
            )
        except NotFound:
            await message.reply_text(f"La pieza {item.id} ya no existe.")
            return
        except ValueError as exc:
            await message.reply_text(f"No se retiró: {exc}.")
            return
        log.info("bot: retiro de %s (%s) por %s", item.id, result.outcome, user.id if user else "?")
        if result.outcome == "withdrawn":
            self.state.poke()
        text = lifecycle.withdraw_text(
            item.id, result, approve=f"/publicar {item.id}", needed=needed
        )
        await message.reply_text(text)

    async def reintentar(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, app = update.effective_message, self.state.app
        if message is None:
            return
        args = context.args or []
        item = await self._item(message, args, "reintentar")
        if item is None:
            return
        channel = args[1].lower() if len(args) > 1 else None
        deliveries = await queries.deliveries_of(app.ledger, [item.id])
        channels = list(dict.fromkeys(d.channel for d in deliveries))
        if channel is not None and channel not in channels:
            await message.reply_text(
                f"{item.id} no va a «{channel}». Canales: {', '.join(channels) or '—'}."
            )
            return
        touched, waiting = await approvals.retry(app, item.id, channel)
        if not touched:
            await message.reply_text(
                "No hay entregas fallidas, desconocidas o canceladas para reintentar "
                f"(vea /estado {item.id})."
            )
            return
        note = f" Sigue esperando aprobación: /publicar {item.id}." if waiting else ""
        log.info("bot: reintento de %s (%s)", item.id, ", ".join(touched))
        self.state.poke()
        await message.reply_text(f"🔁 Reintento programado para: {', '.join(touched)}.{note}")

    async def boletin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, app = update.effective_message, self.state.app
        if message is None:
            return
        day = app.clock().astimezone(app.settings.tz).date()
        waiting = await reports.digest_waiting(app.ledger, day)
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        "📧 Enviar el boletín", callback_data=f"boletin:{day.isoformat()}"
                    ),
                    InlineKeyboardButton("No", callback_data="no"),
                ]
            ]
        )
        await message.reply_text(
            f"¿Enviar ya el boletín del {day:%d/%m/%Y} por correo? "
            f"Reúne {waiting} pieza(s) aún no enviada(s) en un boletín.",
            reply_markup=markup,
        )

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message:
            await update.effective_message.reply_text(
                "No conozco ese comando. Envíe /ayuda para ver los que hay."
            )

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message:
            await update.effective_message.reply_text(
                "Para publicar, envíeme el archivo .md como documento. Los comandos: /ayuda"
            )
