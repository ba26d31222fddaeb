"""Content files sent to the bot go through the inbox's intake, unchanged.

Every document (or photo) is downloaded with ``getFile`` into the chat's staging folder
(``content/staging/telegram/<chat id>/``). When a ``.md`` arrives, the media it names that
are staged (matched by file name: Telegram keeps no folders) move to ``content/inbox/<path
it names>``, and the ``.md`` itself is taken with :meth:`Intake.take_file` — the same
validation, archive, rejection folder and ``.error.txt`` as a file dropped in the inbox —
and recorded with :func:`dispatcher.services.ingest.record`. The editor gets the outcome: accepted
(and whether it waits for approval or a date), or rejected with each problem's field and line.

A ``.md`` whose media have not arrived is held by intake (grace period); media sent after it
are moved next to it and it is taken again. If the inbox watcher decides first (media
dropped some other way, or the grace ran out), :meth:`Documents.observe` answers the chat.

Photos lose their name (and quality) on the way: a photo is accepted when its caption gives
the name the ``.md`` uses; sending pictures as files is better, and the bot says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from telegram import Bot, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from dispatcher.bot.gate import say
from dispatcher.bot.preview import decision_buttons
from dispatcher.bot.reports import local
from dispatcher.bot.state import BotState, HeldFile
from dispatcher.items.media import UnsafeMedia, parts_of
from dispatcher.items.parse import referenced_media
from dispatcher.services.approvals import needed_approvals
from dispatcher.services.intake import Accepted, Held, IntakeEvent, Rejected

log = logging.getLogger("pregonero.bot")

DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB to bots
CONTENT_SUFFIXES = (".md", ".markdown")
PHOTO_SUFFIXES = (".jpg", ".jpeg")


def safe_name(raw: str | None) -> str | None:
    """The file name part of ``raw``, or ``None`` when it is unusable (hidden, empty)."""
    name = PurePosixPath((raw or "").replace("\\", "/")).name.strip()
    if not name or name.startswith(".") or any(_is_control(c) for c in name):
        return None
    return name


def _is_control(char: str) -> bool:
    """C0/C1 controls (newline, ESC, CSI…) and line separators: never in a file name."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


class Documents:
    def __init__(self, state: BotState) -> None:
        self.state = state

    # -- handlers ------------------------------------------------------------------------

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.document is None:
            return
        doc = message.document
        name = safe_name(doc.file_name) or f"documento-{doc.file_unique_id}"
        path = await self._download(message, doc.file_id, doc.file_size, name, context)
        if path is None:
            return
        if name.lower().endswith(CONTENT_SUFFIXES) or doc.mime_type == "text/markdown":
            await self.submit(message, path)
        else:
            await self.media_arrived(message, path)

    async def on_photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.photo:
            return
        name = safe_name(message.caption)
        if name is None or not name.lower().endswith(PHOTO_SUFFIXES):
            await message.reply_text(
                "📷 Recibí una foto, pero Telegram la comprime y le quita el nombre. Envíe las "
                "imágenes como archivo (📎 → Archivo), con el nombre que usa el .md, o escriba "
                "ese nombre como pie de foto (p. ej. «obra.jpg»; la foto llega como JPEG)."
            )
            return
        photo = message.photo[-1]
        path = await self._download(message, photo.file_id, photo.file_size, name, context)
        if path is not None:
            await self.media_arrived(message, path)

    # -- intake --------------------------------------------------------------------------

    async def submit(self, message: Message, path: Path) -> None:
        """Move the staged media a ``.md`` names into the inbox, then take the ``.md``."""
        chat_id = message.chat_id
        data = await asyncio.to_thread(path.read_bytes)
        for rel in referenced_media(data):
            conflict = await asyncio.to_thread(self._place, chat_id, rel)
            if conflict:
                await message.reply_text(conflict)
                return
        event = await asyncio.to_thread(self.state.intake.take_file, path)
        await self._record_and_answer(message, event)

    async def media_arrived(self, message: Message, path: Path) -> None:
        chat_id = message.chat_id
        for held in [h for h in self.state.held.values() if h.chat_id == chat_id]:
            wanted = [rel for rel in held.missing if PurePosixPath(rel).name == path.name]
            if not wanted:
                continue
            conflict = await asyncio.to_thread(self._place, chat_id, wanted[0])
            if conflict:
                await message.reply_text(conflict)
                return
            if not held.path.exists():
                return  # the inbox watcher took it meanwhile; observe() answers
            try:
                event = await asyncio.to_thread(self.state.intake.take_file, held.path)
            except FileNotFoundError:  # taken by the watcher between the check and now
                return
            await self._record_and_answer(message, event)
            return
        await message.reply_text(
            f"📎 Recibí «{path.name}». Se usará cuando llegue el archivo .md que lo nombre."
        )

    def _place(self, chat_id: int, rel: str) -> str | None:
        """Move the staged file for ``rel`` to ``inbox/rel``; a conflict message, or None.

        Every folder on the way must be a real folder inside the inbox (created if absent):
        a symlinked folder in the inbox must never let an upload land outside it."""
        try:
            parts = parts_of(rel)
        except UnsafeMedia:
            return None  # intake refuses such a path with its own message
        staged = self.state.staging(chat_id) / parts[-1]
        if not staged.is_file() or staged.is_symlink():
            return None  # not sent (yet): intake holds the file or finds it in the inbox
        folder = self.state.intake.inbox
        for part in parts[:-1]:
            folder = folder / part
            if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
                return (
                    f"⚠️ «{rel}» pasa por «{part}», que en la bandeja no es una carpeta normal "
                    "(¿un enlace?). Cambie la ruta en el .md y envíelo de nuevo."
                )
            folder.mkdir(exist_ok=True)
        target = folder / parts[-1]
        if os.path.lexists(target):
            if not target.is_symlink() and target.is_file() and _same_bytes(staged, target):
                staged.unlink()  # an identical copy is already there
                return None
            return (
                f"⚠️ Ya hay otro archivo «{rel}» en la bandeja de entrada, distinto del que "
                "envió. Cambie el nombre de su archivo (y en el .md) y envíelos de nuevo."
            )
        os.replace(staged, target)
        return None

    async def _record_and_answer(self, message: Message, event: IntakeEvent) -> None:
        from dispatcher.services.ingest import record

        tally = self.state.tally
        before = (tally.duplicates, tally.corrections)
        event = await record(self.state.app, event, tally)
        if isinstance(event, Accepted | Rejected):
            self.state.held.pop(event.name, None)
            self.state.poke()
        if isinstance(event, Held):
            held = HeldFile(message.chat_id, self.state.intake.inbox / event.name, event.missing)
            self.state.held[event.name] = held
        if isinstance(event, Accepted) and before != (tally.duplicates, tally.corrections):
            await message.reply_text(f"📄 «{event.name}»: {tally.messages[-1]}.")
            return
        await self.answer(message.get_bot(), message.chat_id, event)

    async def answer(self, bot: Bot, chat_id: int, event: IntakeEvent) -> None:
        """Tell the chat what intake decided."""
        if isinstance(event, Rejected):
            await say(
                bot,
                chat_id,
                f"❌ No se aceptó «{event.name}»:\n{event.reason_text}\n\n"
                "Corrija el archivo y envíelo de nuevo (quedó en content/rejected/).",
            )
            return
        if isinstance(event, Held):
            missing = ", ".join(f"«{PurePosixPath(m).name}»" for m in event.missing)
            await bot.send_message(
                chat_id,
                f"⏳ «{event.name}» queda en espera: {event.reason}. Envíe {missing} como archivo.",
            )
            return
        app = self.state.app
        row = await app.ledger.get_item(event.item.id)
        if row is None:  # pragma: no cover - record() just wrote it
            return
        rows = await app.ledger.deliveries_for([row.id])
        channels = ", ".join(dict.fromkeys(d.channel for d in rows))
        text = f"✅ Aceptado «{event.name}»: {row.id}\n{row.title}\nCanales: {channels}\n"
        if row.status == "awaiting_approval":
            needed = needed_approvals(app, row.kind) or 1
            text += f"Espera aprobación de {needed} editor(es): /publicar {row.id}"
        elif row.publish_at is not None and row.publish_at > app.clock():
            text += f"Programada para el {local(app, row.publish_at)}."
        else:
            text += "Sale ya."
        markup = await decision_buttons(self.state, row.id)
        await bot.send_message(chat_id, text, reply_markup=markup)

    async def observe(self, events: Iterable[IntakeEvent]) -> None:
        """Events the inbox watcher recorded: answer the chats whose held files they decide."""
        bot = self.state.bot
        for event in events:
            if not isinstance(event, Accepted | Rejected):
                continue
            held = self.state.held.pop(event.name, None)
            if held is None or bot is None:
                continue
            try:
                await self.answer(bot, held.chat_id, event)
            except TelegramError as exc:
                log.warning("bot: no se pudo avisar al chat %s: %s", held.chat_id, exc)

    # -- files ---------------------------------------------------------------------------

    async def _download(
        self,
        message: Message,
        file_id: str,
        size: int | None,
        name: str,
        context: ContextTypes.DEFAULT_TYPE,
    ) -> Path | None:
        if size is not None and size > DOWNLOAD_LIMIT:
            await message.reply_text(
                f"«{name}» pesa más de 20 MB: Telegram no deja que los bots lo descarguen. "
                "Déjelo directamente en la carpeta content/inbox/."
            )
            return None
        folder = self.state.staging(message.chat_id)
        target = folder / name
        partial = folder / f".{name}.part"
        try:
            remote = await context.bot.get_file(file_id)
            await remote.download_to_drive(partial)
        except TelegramError as exc:
            partial.unlink(missing_ok=True)
            log.warning("bot: no se pudo descargar %s: %s", name, exc)
            await message.reply_text(f"No pude descargar «{name}» de Telegram: {exc.message}")
            return None
        os.replace(partial, target)
        return target
