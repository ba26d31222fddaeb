"""Shared pieces for the bot tests (no tests here): the Telegram double with photos and
webhooks, a running bot on a throw-away content folder and ledger, and polling helpers."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatcher.bot.app import BotHandle, BotOptions, start_bot
from dispatcher.services.context import App, build_app
from dispatcher.services.delivery.runner import InProcessRunner
from settings import Settings, load_settings
from tests.doubles.base import Request
from tests.doubles.config import live_settings
from tests.doubles.telegram import GROUP_CHAT, SentMessage, TelegramDouble

ROOT = Path(__file__).resolve().parent.parent
EDITOR, OTHER_EDITOR, STRANGER = 111, 222, 999


class BotDouble(TelegramDouble):
    """The Bot API double plus what only the bot needs: incoming photos and setWebhook."""

    def __init__(self) -> None:
        super().__init__()
        self.webhooks: list[dict[str, Any]] = []

    def push_message(self, text: str, *, user_id: int, chat_id: int | None = None) -> int:
        """Like Telegram, mark a leading ``/command`` with a ``bot_command`` entity (PTB's
        ``CommandHandler`` goes by the entity, not by the slash)."""
        extra: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            extra["entities"] = [
                {
                    "type": "bot_command",
                    "offset": 0,
                    "length": len(command.encode("utf-16-le")) // 2,
                }
            ]
        return self._push({"message": self._incoming(user_id, chat_id, extra)})

    def push_photo(self, data: bytes, *, user_id: int, caption: str | None = None) -> int:
        file_id = self.add_file(data, "photo.jpg", "image/jpeg")
        size = {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 800, "height": 600}
        extra: dict[str, Any] = {"photo": [size | {"file_size": len(data)}]}
        if caption:
            extra["caption"] = caption
        return self._push({"message": self._incoming(user_id, None, extra)})

    def _m_setwebhook(self, request: Request) -> Any:
        with self.lock:
            self.webhooks.append(
                {k: request.arg(k) for k in ("url", "secret_token", "allowed_updates")}
            )
        return True

    def texts_to(self, chat_id: int | str) -> list[str]:
        return [m.text or "" for m in self.sent_to(str(chat_id))]

    def last_markup(self, chat_id: int | str) -> dict[str, Any]:
        for message in reversed(self.sent_to(str(chat_id))):
            markup = message.params.get("reply_markup")
            if markup:
                return dict(json.loads(markup) if isinstance(markup, str) else markup)
        raise AssertionError(f"no message with buttons sent to {chat_id}")


@pytest.fixture(name="bot_double")
def bot_double_fixture() -> Iterator[BotDouble]:
    """Import ``bot_double_fixture`` into a test module to get the ``bot_double`` fixture."""
    with BotDouble() as double:
        yield double
    assert not double.errors, "telegram double crashed:\n" + "\n".join(double.errors)


async def eventually(check: Callable[[], Any], within: float = 5.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy (or fail after ``within`` seconds)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


def plan_with_approvals(target: Path) -> Path:
    """The shipped plan, with ``informe_especial`` needing one approval and
    ``contratacion`` two distinct editors."""
    data = yaml.safe_load((ROOT / "content" / "plan.yaml").read_text(encoding="utf-8"))
    data["kinds"]["informe_especial"]["approval"] = "required"
    data["kinds"]["contratacion"]["approval"] = "required"
    data["kinds"]["contratacion"]["approvers"] = 2
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@asynccontextmanager
async def approvals_app(tmp_path: Path, ledger_url: str, **overrides: Any) -> AsyncIterator[App]:
    """An app on ``ledger_url`` with :func:`plan_with_approvals`'s plan and an intake that
    does not wait (settings ``overrides`` on top)."""
    content = tmp_path / "content"
    content.mkdir()
    plan_with_approvals(content / "plan.yaml")
    settings = load_settings(
        content_dir=content,
        database_url=ledger_url,
        intake={"settle_seconds": 0, "media_grace_seconds": 0},
        **overrides,
    )
    app = await build_app(settings)
    try:
        yield app
    finally:
        await app.aclose()


def content_file(
    item_id: str,
    *,
    kind: str = "boletin",
    title: str = "Nueva ciclorruta en la carrera 27",
    extra: str = "",
    body: str = "La Alcaldía abrió hoy la ciclorruta de la carrera 27, con 4 km de carril.",
) -> bytes:
    return (f"---\nkind: {kind}\nid: {item_id}\ntitle: {title}\n{extra}---\n{body}\n").encode()


@dataclass
class BotRig:
    """A running bot on its own content folder and ledger, and what it talks to."""

    app: App
    handle: BotHandle
    double: BotDouble
    root: Path
    stop: asyncio.Event
    pokes: list[int] = field(default_factory=list)

    @property
    def content(self) -> Path:
        return self.root / "content"

    def say(self, text: str, user_id: int = EDITOR, chat_id: int | None = None) -> None:
        self.double.push_message(text, user_id=user_id, chat_id=chat_id)

    def texts(self, chat_id: int = EDITOR) -> list[str]:
        return self.double.texts_to(chat_id)

    async def reply(self, contains: str, chat_id: int = EDITOR, within: float = 5.0) -> str:
        """The first message to ``chat_id`` containing ``contains`` (waits for it)."""

        def find() -> str | None:
            return next((t for t in self.texts(chat_id) if contains in t), None)

        return str(await eventually(find, within, f"a reply with {contains!r}"))

    def sent(self, chat_id: int | str = EDITOR) -> list[SentMessage]:
        return self.double.sent_to(str(chat_id))

    async def deliver(self) -> None:
        """Run everything due now, as ``pregonero run`` would."""
        runner = InProcessRunner(self.app)
        while await runner.pump():
            await runner.drain()
        await runner.drain()

    async def item(self, item_id: str) -> Any:
        return await self.app.ledger.get_item(item_id)


def bot_settings(
    double: BotDouble, root: Path, *, approvals: bool = False, **overrides: Any
) -> Settings:
    """Settings for a bot on ``root/content`` (a copy of the plan) and ``root/pregonero.db``,
    Telegram pointing at ``double``, two editors."""
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    if approvals:
        plan_with_approvals(content / "plan.yaml")
    else:
        shutil.copy2(ROOT / "content" / "plan.yaml", content / "plan.yaml")
    sections: dict[str, Any] = {
        "telegram": {"editors": [EDITOR, OTHER_EDITOR]},
        "intake": {"settle_seconds": 0, "media_grace_seconds": 5},
        "website": {
            "output_dir": root / "site",
            "base_url": "https://www.bucaramanga.gov.co/noticias/",
        },
        "delivery": {"backoff_base": 0.05, "max_attempts": 2},
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            sections.setdefault(section, {}).update(values)
        else:
            sections[section] = values
    return live_settings(
        double, content_dir=content, database_url=f"sqlite:///{root / 'pregonero.db'}", **sections
    )


FAST = BotOptions(summary_at=None, poll_timeout=1.0, shutdown_grace=1.0)


@asynccontextmanager
async def running_bot(
    double: BotDouble,
    root: Path,
    *,
    approvals: bool = False,
    options: BotOptions | None = None,
    **overrides: Any,
) -> AsyncIterator[BotRig]:
    app = await build_app(bot_settings(double, root, approvals=approvals, **overrides))
    stop = asyncio.Event()
    pokes: list[int] = []
    handle = await start_bot(app, stop, poke=lambda: pokes.append(1), options=options or FAST)
    rig = BotRig(app, handle, double, root, stop, pokes)
    try:
        assert handle.started.is_set(), handle.error
        yield rig
    finally:
        stop.set()
        await handle.stop()
        await app.aclose()


__all__ = [
    "EDITOR",
    "FAST",
    "GROUP_CHAT",
    "OTHER_EDITOR",
    "STRANGER",
    "BotDouble",
    "BotRig",
    "bot_double_fixture",
    "bot_settings",
    "content_file",
    "eventually",
    "running_bot",
]
