"""TelegramAdapter through python-telegram-bot against the Bot API double."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from channels.base import AuthError, Media, OutcomeUnknown, PermanentError, Post, Rejected
from channels.telegram import PartialDelivery, TelegramAdapter, message_url
from tests.channel_support import channel_context
from tests.doubles.config import live_settings
from tests.doubles.telegram import GROUP_CHAT, TelegramDouble, parse_html


@pytest.fixture
async def adapter(
    telegram_double: TelegramDouble, tmp_path: Path
) -> AsyncIterator[TelegramAdapter]:
    settings = live_settings(telegram_double, content_dir=tmp_path)
    tg = TelegramAdapter(settings, channel_context(settings))
    yield tg
    await tg.aclose()


@pytest.fixture
def photo(tmp_path: Path) -> Media:
    path = tmp_path / "obra-puente.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg")
    return Media(path, alt="Obreros en el puente de la carrera 27", mime="image/jpeg")


def post(text: str, **kwargs: Any) -> Post:
    return Post(
        item_id="b-1", channel="telegram", kind="boletin", title="Boletín", text=text, **kwargs
    )


async def test_text_goes_to_the_group_in_html_mode(
    adapter: TelegramAdapter, telegram_double: TelegramDouble
) -> None:
    receipt = await adapter.publish(post("<b>Boletín 12</b> — obras en la <i>carrera 27</i>"))

    (sent,) = telegram_double.sent_to(GROUP_CHAT)
    assert sent.method == "sendMessage"
    assert sent.text == "<b>Boletín 12</b> — obras en la <i>carrera 27</i>"
    assert sent.params["parse_mode"] == "HTML"
    assert receipt.remote_id == str(sent.message_id)
    assert receipt.url == f"https://t.me/c/1234567890/{sent.message_id}"


async def test_photo_with_caption_then_follow_up(
    adapter: TelegramAdapter, telegram_double: TelegramDouble, photo: Media
) -> None:
    receipt = await adapter.publish(
        post(
            "texto completo",
            image=photo,
            parts={"caption": "<b>Obras</b> en el puente", "follow_up": "El resto del boletín…"},
        )
    )

    first, second = telegram_double.sent_to(GROUP_CHAT)
    assert first.method == "sendPhoto"
    assert first.file is not None and first.file.data == photo.path.read_bytes()
    assert first.file.filename == "obra-puente.jpg"
    assert first.text == "<b>Obras</b> en el puente"
    assert second.method == "sendMessage" and second.text == "El resto del boletín…"
    assert receipt.remote_id == str(first.message_id)
    assert receipt.detail["message_ids"] == [first.message_id, second.message_id]


async def test_caption_that_fits_sends_one_message(
    adapter: TelegramAdapter, telegram_double: TelegramDouble, photo: Media
) -> None:
    await adapter.publish(post("corto", image=photo, parts={"caption": "corto"}))
    assert [m.method for m in telegram_double.sent] == ["sendPhoto"]


async def test_photo_without_rendered_caption_sends_the_text_after_it(
    adapter: TelegramAdapter, telegram_double: TelegramDouble, photo: Media
) -> None:
    await adapter.publish(post("<b>todo</b> el texto", image=photo))
    photo_msg, text_msg = telegram_double.sent
    assert photo_msg.method == "sendPhoto" and photo_msg.text is None
    assert text_msg.text == "<b>todo</b> el texto"


async def test_attachments_go_as_documents(
    adapter: TelegramAdapter, telegram_double: TelegramDouble, tmp_path: Path
) -> None:
    pdf = tmp_path / "contrato-042.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    receipt = await adapter.publish(
        post("Contrato 042", attachments=(Media(pdf, mime="application/pdf"),))
    )

    text_msg, doc = telegram_double.sent
    assert doc.method == "sendDocument"
    assert doc.file is not None and doc.file.filename == "contrato-042.pdf"
    assert doc.file.data == b"%PDF-1.4 fake"
    assert receipt.detail["message_ids"] == [text_msg.message_id, doc.message_id]


async def test_html_telegram_does_not_support_is_rejected(
    adapter: TelegramAdapter, telegram_double: TelegramDouble
) -> None:
    with pytest.raises(
        Rejected, match="(?i)" + re.escape('unsupported start tag "p" at byte offset 0')
    ):
        await adapter.publish(post("<p>Párrafo</p>"))
    assert telegram_double.sent == []


async def test_failed_follow_up_is_a_partial_delivery(
    adapter: TelegramAdapter, telegram_double: TelegramDouble, photo: Media
) -> None:
    telegram_double.fail_next(
        path="/sendMessage$",
        status=400,
        json=TelegramDouble.error(400, "Bad Request: message is too long"),
    )
    with pytest.raises(PartialDelivery) as info:
        await adapter.publish(post("x", image=photo, parts={"caption": "c", "follow_up": "resto"}))

    (photo_msg,) = telegram_double.sent
    assert isinstance(info.value, OutcomeUnknown)
    assert info.value.receipt.remote_id == str(photo_msg.message_id)
    assert "message is too long" in info.value.reason.lower()


async def test_bot_removed_from_group_is_an_auth_error(
    adapter: TelegramAdapter, telegram_double: TelegramDouble
) -> None:
    telegram_double.kicked_from.add(GROUP_CHAT)
    with pytest.raises(AuthError, match="no puede escribir"):
        await adapter.publish(post("hola"))


async def test_group_migrated_names_the_new_chat_id(
    adapter: TelegramAdapter, telegram_double: TelegramDouble
) -> None:
    telegram_double.fail_next(
        status=400,
        json={
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -1009876543210},
        },
    )
    with pytest.raises(PermanentError, match="-1009876543210"):
        await adapter.publish(post("hola"))


async def test_unreadable_image_is_rejected_before_sending(
    adapter: TelegramAdapter, telegram_double: TelegramDouble, tmp_path: Path
) -> None:
    missing = Media(tmp_path / "no-existe.jpg", alt="x", mime="image/jpeg")
    with pytest.raises(Rejected, match=r"no-existe\.jpg"):
        await adapter.publish(post("hola", image=missing))
    assert telegram_double.requests == []


async def test_check_reports_the_bot(
    adapter: TelegramAdapter, telegram_double: TelegramDouble
) -> None:
    result = await adapter.check()
    assert result.ok
    assert "@pregonero_bot" in result.message and GROUP_CHAT in result.message
    # harmless calls only: who the bot is, and whether it still reaches the chat (issue 12)
    calls = [r.path.rsplit("/", 1)[1] for r in telegram_double.requests]
    assert calls == ["getMe", "getChat", "getChatMember"]


async def test_check_with_a_revoked_token_fails_without_showing_it(
    telegram_double: TelegramDouble, tmp_path: Path
) -> None:
    settings = live_settings(
        telegram_double,
        content_dir=tmp_path,
        telegram={"bot_token": "123456789:revoked-token-value"},
    )
    adapter = TelegramAdapter(settings, channel_context(settings))
    try:
        result = await adapter.check()
    finally:
        await adapter.aclose()
    assert not result.ok
    assert "token" in result.message and "revoked-token-value" not in result.message


async def test_token_never_reaches_log_lines(
    adapter: TelegramAdapter, telegram_double: TelegramDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await adapter.publish(post("hola"))
    telegram_double.fail_next(reset=True)
    with pytest.raises(OutcomeUnknown):
        await adapter.publish(post("otra"))
    assert "sendMessage" in caplog.text  # httpx logged the requests…
    assert telegram_double.token not in caplog.text  # …with the token redacted
    assert telegram_double.token not in repr(adapter)


@pytest.mark.parametrize(
    ("chat_id", "url"),
    [
        ("-1001234567890", "https://t.me/c/1234567890/7"),
        ("@prensabga", "https://t.me/prensabga/7"),
        ("-4567", None),
        ("12345", None),
    ],
)
def test_message_url(chat_id: str, url: str | None) -> None:
    assert message_url(chat_id, 7) == url


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("hola<br>mundo", 'Unsupported start tag "br" at byte offset 4'),
        ("ñandú <p>x</p>", 'Unsupported start tag "p" at byte offset 8'),
        ("<b>sin cerrar", 'Can\'t find end tag corresponding to start tag "b"'),
    ],
)
def test_double_rejects_html_like_telegram(html: str, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        parse_html(html)
    assert parse_html("<b>a</b> &amp; <a href='x'>b</a> &#241;") == "a & b ñ"


# -- the double's bot-facing side (used by the editors' bot) ------------------------------


async def test_double_serves_polling_files_and_callbacks_to_a_ptb_application(
    telegram_double: TelegramDouble,
) -> None:
    from telegram import Update
    from telegram.ext import (
        ApplicationBuilder,
        CallbackQueryHandler,
        ContextTypes,
        MessageHandler,
        filters,
    )

    telegram_double.poll_cap = 0.2  # keeps the updater's shutdown quick
    seen: list[str] = []
    done = asyncio.Event()

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.effective_chat is not None
        seen.append(f"text:{update.message.text}")
        await context.bot.send_message(
            update.effective_chat.id, "<b>recibido</b>", parse_mode="HTML"
        )

    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.document is not None
        file = await update.message.document.get_file()
        seen.append(f"doc:{(await file.download_as_bytearray()).decode()}")

    async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        seen.append(f"cb:{update.callback_query.data}")
        await update.callback_query.answer("hecho")
        done.set()

    app = (
        ApplicationBuilder()
        .token(telegram_double.token)
        .base_url(telegram_double.api_url)
        .base_file_url(telegram_double.file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, on_text))
    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    app.add_handler(CallbackQueryHandler(on_callback))

    telegram_double.push_message("/cola", user_id=4242)
    telegram_double.push_document(b"---\nkind: boletin\n---\n", "nota.md", user_id=4242)
    telegram_double.push_callback("publicar:b-1", user_id=4242)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await asyncio.wait_for(done.wait(), 10)
        await app.updater.stop()
        await app.stop()

    assert seen == ["text:/cola", "doc:---\nkind: boletin\n---\n", "cb:publicar:b-1"]
    (reply,) = telegram_double.sent_to("4242")
    assert reply.text == "<b>recibido</b>"
    assert telegram_double.callback_answers[0]["text"] == "hecho"
    assert {r.path.rsplit("/", 1)[-1] for r in telegram_double.requests} >= {
        "getMe",
        "deleteWebhook",
        "getUpdates",
        "getFile",
        "answerCallbackQuery",
    }


async def test_check_timeout_is_not_called_a_possible_publication(
    telegram_double: TelegramDouble, tmp_path: Path
) -> None:
    settings = live_settings(telegram_double, content_dir=tmp_path)
    adapter = TelegramAdapter(settings, channel_context(settings), read_timeout=0.3)
    telegram_double.fail_next(path="/getMe$", delay=1.0)
    try:
        result = await adapter.check()
    finally:
        await adapter.aclose()
    assert not result.ok and "pudo haberse publicado" not in result.message
