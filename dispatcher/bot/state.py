"""What the bot's handlers share: the dispatcher's app, the intake (the same instance the
inbox watcher uses, so a file is never taken by two readers at once), a way to wake the
runner, and a little memory (files held for media, long ids behind buttons)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from telegram import Bot
from telegram.constants import MessageLimit

if TYPE_CHECKING:
    from dispatcher.bot.documents import Documents
    from dispatcher.services.context import App
    from dispatcher.services.ingest import Tally
    from dispatcher.services.intake import Intake

log = logging.getLogger("pregonero.bot")

CALLBACK_LIMIT = 64  # bytes of callback_data Telegram accepts
TEXT_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH)


def _nothing() -> None:
    return None


@dataclass
class HeldFile:
    """A content file from a chat, in the inbox, held by intake until its media arrive."""

    chat_id: int
    path: Path
    missing: tuple[str, ...]


@dataclass
class BotState:
    app: App
    intake: Intake
    tally: Tally
    poke: Callable[[], None] = _nothing
    held: dict[str, HeldFile] = field(default_factory=dict)
    """Inbox file name → the chat that sent it (answered when intake decides)."""
    tokens: dict[str, str] = field(default_factory=dict)
    bulletin: asyncio.Task[None] | None = None
    bot: Bot | None = None
    documents: Documents | None = None
    """Set once the application is built (for messages not answering an update)."""

    @property
    def editors(self) -> frozenset[int]:
        return frozenset(self.app.settings.telegram.editors)

    @property
    def staging_root(self) -> Path:
        """``content/staging/telegram/``: files received, before intake takes them."""
        return self.app.settings.content_dir / "staging" / "telegram"

    def staging(self, chat_id: int) -> Path:
        folder = self.staging_root / str(chat_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def button(self, action: str, item_id: str) -> str:
        """``callback_data`` for ``action`` on ``item_id``; ids too long for Telegram's 64
        bytes travel as a short token remembered here (a button outliving a restart then
        asks the editor to use the command)."""
        data = f"{action}:{item_id}"
        if len(data.encode()) <= CALLBACK_LIMIT:
            return data
        token = "#" + hashlib.sha256(item_id.encode()).hexdigest()[:16]
        self.tokens[token] = item_id
        return f"{action}:{token}"

    def item_of(self, ref: str) -> str | None:
        if ref.startswith("#"):
            return self.tokens.get(ref)
        return ref
