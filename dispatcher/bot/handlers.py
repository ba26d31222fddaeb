"""The python-telegram-bot ``Application`` and its handlers, in the order they are tried:
the gate (group -1), the commands, documents and photos, buttons, then the fallbacks."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from channels import _http
from dispatcher.bot.buttons import Buttons
from dispatcher.bot.commands import Commands
from dispatcher.bot.documents import Documents
from dispatcher.bot.gate import Gate
from dispatcher.bot.state import BotState

if TYPE_CHECKING:
    from dispatcher.bot.app import BotOptions

log = logging.getLogger("pregonero.bot")

PTBApp = Application[Any, Any, Any, Any, Any, Any]

MENU = [
    ("cola", "Pendientes, programadas y por aprobar"),
    ("estado", "Estado de una pieza: /estado ID"),
    ("vista", "Cómo se verá: /vista ID [canal]"),
    ("publicar", "Aprobar o publicar ya: /publicar ID"),
    ("programar", "Programar: /programar ID FECHA"),
    ("cancelar", "Cancelar lo que falta: /cancelar ID"),
    ("retirar", "Retirar de todos los canales: /retirar ID motivo"),
    ("reintentar", "Reintentar: /reintentar ID [canal]"),
    ("boletin", "Enviar ya el boletín diario por correo"),
    ("ayuda", "Qué puedo hacer"),
]


def build_application(state: BotState, options: BotOptions) -> PTBApp:
    tg = state.app.settings.telegram
    if tg.bot_token is None:
        raise ValueError("falta PREGONERO_TELEGRAM__BOT_TOKEN")
    token = tg.bot_token.get_secret_value()
    _http.protect_secrets(token)
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(tg.api_url)
        .base_file_url(tg.resolved_file_url)
        .rate_limiter(AIORateLimiter(max_retries=2))
        .job_queue(None)
    )
    if options.webhook is not None:
        builder = builder.updater(None)
    application: PTBApp = builder.build()
    _register(application, state)
    return application


def _register(application: PTBApp, state: BotState) -> None:
    application.add_handler(TypeHandler(Update, Gate(state)), group=-1)
    commands = Commands(state)
    table: dict[str, Callable[..., Any]] = {
        "ayuda": commands.ayuda,
        "start": commands.ayuda,
        "help": commands.ayuda,
        "cola": commands.cola,
        "estado": commands.estado,
        "vista": commands.vista,
        "publicar": commands.publicar,
        "programar": commands.programar,
        "cancelar": commands.cancelar,
        "retirar": commands.retirar,
        "reintentar": commands.reintentar,
        "boletin": commands.boletin,
    }
    for name, callback in table.items():
        application.add_handler(CommandHandler(name, callback))
    documents = Documents(state)
    state.documents = documents
    application.add_handler(MessageHandler(filters.Document.ALL, documents.on_document))
    application.add_handler(MessageHandler(filters.PHOTO, documents.on_photo))
    application.add_handler(CallbackQueryHandler(Buttons(state, commands).on_callback))
    application.add_handler(MessageHandler(filters.COMMAND, commands.unknown))
    application.add_handler(MessageHandler(filters.TEXT, commands.text))
    application.add_error_handler(_on_error)


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    log.error(
        "bot: error al atender una actualización: %s",
        _http.strip_bot_token(f"{type(error).__name__}: {error}"),
        exc_info=error if not isinstance(error, TelegramError) else None,
    )
    if isinstance(update, Update) and update.effective_chat is not None:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(
                update.effective_chat.id,
                "Ocurrió un error inesperado y quedó registrado. Intente de nuevo en un momento.",
            )
