"""Starting and stopping the bot: quick stops, Telegram unreachable or refusing the token,
the webhook mode, the daily summary, the bulletin mailing, and ``pregonero run`` + SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from dispatcher.bot.app import BotOptions, start_bot
from dispatcher.bot.notify import notify_editors, summary_loop
from dispatcher.bot.webhook import Webhook
from dispatcher.ledger.schema import audience_mask
from dispatcher.services.context import build_app
from dispatcher.services.mailing.bulletin import add_to_digest
from settings import load_settings
from tests.conftest import Workspace
from tests.doubles.telegram import GROUP_CHAT, TOKEN
from tests.test_bot_support import (
    EDITOR,
    FAST,
    OTHER_EDITOR,
    BotDouble,
    bot_double_fixture,  # noqa: F401  (the bot_double fixture)
    bot_settings,
    content_file,
    eventually,
    running_bot,
)
from tests.test_mailing_support import (
    FROM,
    PUBLIC,
    Sink,
    add_subscribers,
    smtp_server,
    subscriber_rows,
)

TZ = ZoneInfo("America/Bogota")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_stop_is_quick_during_a_long_poll(bot_double: BotDouble, tmp_path: Path) -> None:
    bot_double.poll_cap = 30.0  # like Telegram: getUpdates holds the request
    options = BotOptions(summary_at=None, poll_timeout=25.0, shutdown_grace=1.0)
    async with running_bot(bot_double, tmp_path, options=options) as rig:
        rig.say("/ayuda")
        await rig.reply("/cola")
        await eventually(lambda: len(bot_double.requests_to("/getUpdates")) >= 2)
        started = time.monotonic()
        await rig.handle.stop()
        assert time.monotonic() - started < 3.0
        assert rig.handle.notifier not in rig.app.notifiers


async def test_unreachable_telegram_at_start_is_retried(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    app = await build_app(bot_settings(bot_double, tmp_path))
    bot_double.fail_next(2, path="/getMe", status=502, json=bot_double.error(502, "Bad Gateway"))
    stop = asyncio.Event()
    options = BotOptions(summary_at=None, poll_timeout=1.0, shutdown_grace=1.0, retry_start=0.05)
    handle = await start_bot(app, stop, options=options)
    try:
        assert not handle.started.is_set()  # the rest of `run` goes on meanwhile
        await eventually(handle.started.is_set, what="the bot to start after retrying")
        bot_double.push_message("/ayuda", user_id=EDITOR)
        await eventually(lambda: any("/cola" in t for t in bot_double.texts_to(EDITOR)))
    finally:
        stop.set()
        await handle.stop()
        await app.aclose()


async def test_refused_token_turns_the_bot_off_without_leaking_it(
    bot_double: BotDouble, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "42:AAwrong-token-for-the-test_xyz"
    app = await build_app(bot_settings(bot_double, tmp_path, telegram={"bot_token": wrong}))
    stop = asyncio.Event()
    handle = await start_bot(app, stop, options=FAST)
    try:
        assert not handle.started.is_set()
        assert handle.error is not None and "token" in handle.error
        assert "rechazó el token" in caplog.text
        assert wrong not in caplog.text and "AAwrong" not in caplog.text
    finally:
        stop.set()
        await handle.stop()
        await app.aclose()


async def test_webhook_mode(bot_double: BotDouble, tmp_path: Path) -> None:
    port = free_port()
    hook = Webhook(url="https://pregonero.example.org/telegram/hook", port=port, secret="s3creto")
    options = BotOptions(summary_at=None, webhook=hook, shutdown_grace=1.0)
    async with running_bot(bot_double, tmp_path, options=options) as rig:
        (registered,) = bot_double.webhooks
        assert registered["url"] == hook.url and registered["secret_token"] == "s3creto"
        assert not bot_double.requests_to("/getUpdates")
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": EDITOR, "type": "private", "first_name": "Ana"},
                "from": {"id": EDITOR, "is_bot": False, "first_name": "Ana"},
                "text": "/ayuda",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        url = f"http://127.0.0.1:{port}/telegram/hook"
        async with httpx.AsyncClient() as client:
            refused = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "no"}
            )
            assert refused.status_code == 403
            accepted = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3creto"}
            )
            assert accepted.status_code == 200
        await rig.reply("/cola")
        assert len(rig.texts()) == 1


async def test_daily_summary_reaches_the_editors(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        bot_double.push_document(content_file("boletin-vias"), "vias.md", user_id=EDITOR)
        await rig.reply("Aceptado")
        await rig.deliver()
        soon = (datetime.now(TZ) + timedelta(seconds=0.2)).time()
        loop = asyncio.create_task(summary_loop(rig.handle.state, rig.handle.notifier, soon))
        try:
            for editor in (EDITOR, OTHER_EDITOR):
                summary = await rig.reply("Resumen del", chat_id=editor)
                assert "Piezas recibidas hoy: 1" in summary
                assert "Publicado hoy:" in summary and "telegram 1" in summary
            assert sum("Resumen del" in t for t in rig.texts()) == 1  # once a day
        finally:
            loop.cancel()


async def test_boletin_in_outbox_mode_sends_nothing(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        rig.say("/boletin")
        await rig.reply("¿Enviar ya el boletín")
        bot_double.push_callback(f"boletin:{datetime.now(TZ).date().isoformat()}", user_id=EDITOR)
        await rig.reply("modo bandeja de salida")


async def test_boletin_sends_the_days_mailing_after_confirmation(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        smtp = {"host": "127.0.0.1", "port": port, "from": FROM, "rate": 100000}
        async with running_bot(bot_double, tmp_path, smtp=smtp, web={"public_url": PUBLIC}) as rig:
            settings = rig.app.settings
            await add_subscribers(rig.app.ledger, settings, subscriber_rows(3))
            bot_double.push_document(content_file("boletin-vias"), "vias.md", user_id=EDITOR)
            await rig.reply("Aceptado")
            today = datetime.now(settings.tz).date()
            await add_to_digest(
                rig.app.ledger,
                item_id="boletin-vias",
                revision=1,
                audiences=audience_mask(["ciudadania"]),
                today=today,
            )

            rig.say("/boletin")
            question = await rig.reply("¿Enviar ya el boletín")
            assert "1 pieza(s)" in question
            assert sink.messages == []  # nothing before the confirmation
            markup = bot_double.last_markup(EDITOR)
            data = markup["inline_keyboard"][0][0]["callback_data"]
            assert data == f"boletin:{today.isoformat()}"
            bot_double.push_callback(data, user_id=EDITOR)
            done = await rig.reply("Boletín del", within=10)
            assert done.startswith("✅") and "3 enviado(s)" in done
            assert len(sink.messages) == 3


def test_sigterm_ends_pregonero_run_within_seconds(workspace: Workspace) -> None:
    with BotDouble() as double:
        double.poll_cap = 30.0
        workspace.env.update(double.settings_env())
        workspace.env["PREGONERO_TELEGRAM__EDITORS"] = str(EDITOR)
        process = workspace.popen("run")
        try:
            deadline = time.monotonic() + 20
            while not double.requests_to("/getUpdates"):
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the bot never polled"
                time.sleep(0.05)
            double.push_message("/ayuda", user_id=EDITOR)
            # a file sent to the bot is published by `run` like one dropped in the inbox
            double.push_document(content_file("boletin-vias"), "vias.md", user_id=EDITOR)
            while not (
                double.sent_to(GROUP_CHAT)
                and any("/cola" in t for t in double.texts_to(EDITOR))
                and any("Aceptado" in t for t in double.texts_to(EDITOR))
            ):
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the file was never published"
                time.sleep(0.05)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=10)
            assert time.monotonic() - started < 6.0
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, stderr
        assert "Pregonero detenido" in stderr
        assert TOKEN not in stderr


async def test_worker_side_notices_reach_the_editors(bot_double: BotDouble, tmp_path: Path) -> None:
    """Where deliveries run without the bot (``pregonero worker``), notices still go out."""
    app = await build_app(bot_settings(bot_double, tmp_path))
    try:
        async with notify_editors(app) as notifier:
            assert notifier is not None and notifier in app.notifiers
            await app.notify("❌ boletin-vias · x: falló sin remedio")
        assert notifier not in app.notifiers
        for editor in (EDITOR, OTHER_EDITOR):
            assert bot_double.texts_to(editor) == ["❌ boletin-vias · x: falló sin remedio"]
        assert not bot_double.requests_to("/getUpdates")  # send-only: never competes with run
    finally:
        await app.aclose()


async def test_worker_side_notices_need_a_token(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    app = await build_app(load_settings(content_dir=tmp_path / "content"))
    try:
        async with notify_editors(app) as notifier:
            assert notifier is None and app.notifiers == []
    finally:
        await app.aclose()
