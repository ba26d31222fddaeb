"""The editors' bot, driven through the Telegram Bot API double over real HTTP: commands,
authorisation, content files from the chat, approvals and notices."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dispatcher.services.approvals import approvals_for
from tests.test_bot_support import (
    EDITOR,
    GROUP_CHAT,
    OTHER_EDITOR,
    STRANGER,
    BotDouble,
    BotRig,
    bot_double_fixture,  # noqa: F401  (the bot_double fixture)
    content_file,
    eventually,
    running_bot,
)

ROOT = Path(__file__).resolve().parent.parent
PNG = (ROOT / "content" / "examples" / "media" / "parque-san-pio.png").read_bytes()
WITH_IMAGE = "image: media/ciclo.png\nimage_alt: Ciclistas en el nuevo carril de la carrera 27\n"


async def send_file(rig: BotRig, item_id: str, *, kind: str = "boletin", extra: str = "") -> str:
    rig.double.push_document(
        content_file(item_id, kind=kind, extra=extra), f"{item_id}.md", user_id=EDITOR
    )
    return await rig.reply(f"Aceptado «{item_id}.md»")


def buttons(rig: BotRig, chat_id: int = EDITOR) -> dict[str, str]:
    markup = rig.double.last_markup(chat_id)
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


# -- authorisation -------------------------------------------------------------------------


async def test_stranger_is_refused_logged_and_nothing_is_published(
    bot_double: BotDouble, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pregonero.bot")
    async with running_bot(bot_double, tmp_path, approvals=True) as rig:
        await send_file(rig, "informe-pae", kind="informe_especial")

        rig.say("/publicar informe-pae", user_id=STRANGER)
        bot_double.push_document(content_file("intruso"), "intruso.md", user_id=STRANGER)
        bot_double.push_callback("aprobar:informe-pae", user_id=STRANGER)
        rig.say("/cola", user_id=STRANGER)

        await eventually(lambda: len(rig.texts(STRANGER)) == 3 and bot_double.callback_answers)
        for text in rig.texts(STRANGER):
            assert "solo para el equipo de prensa" in text
            assert str(STRANGER) in text  # they learn the id to ask for
        assert "solo para el equipo" in str(bot_double.callback_answers[0]["text"])
        assert (await rig.item("informe-pae")).status == "awaiting_approval"
        assert await rig.item("intruso") is None
        assert not any((rig.content / "inbox").glob("*.md"))
        assert not (rig.content / "staging" / "telegram" / str(STRANGER)).exists()
        assert await approvals_for(rig.app.ledger, "informe-pae") == []
        refused = [r for r in caplog.records if "acceso denegado" in r.getMessage()]
        assert len(refused) == 4 and all(str(STRANGER) in r.getMessage() for r in refused)


async def test_commands_in_groups_are_ignored(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        rig.say("/cola", user_id=EDITOR, chat_id=int(GROUP_CHAT))
        rig.say("/cola", user_id=STRANGER, chat_id=int(GROUP_CHAT))
        rig.say("/ayuda")  # updates are handled in order: once this is answered, so were they
        await rig.reply("/programar")
        assert rig.sent(GROUP_CHAT) == []
        assert rig.texts(STRANGER) == []


# -- commands ------------------------------------------------------------------------------


async def test_ayuda_and_unknown_input(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        rig.say("/ayuda")
        help_text = await rig.reply("/cola")
        for command in (
            "/estado",
            "/vista",
            "/publicar",
            "/programar",
            "/cancelar",
            "/reintentar",
            "/boletin",
        ):
            assert command in help_text
        rig.say("/nada")
        await rig.reply("No conozco ese comando")
        rig.say("hola")
        await rig.reply("envíeme el archivo .md")


async def test_cola_shows_waiting_scheduled_and_pending(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    async with running_bot(bot_double, tmp_path, approvals=True) as rig:
        rig.say("/cola")
        await rig.reply("La cola está vacía")
        later = (datetime.now(rig.app.settings.tz) + timedelta(days=2)).replace(microsecond=0)
        await send_file(rig, "informe-pae", kind="informe_especial")
        await send_file(rig, "boletin-luces", extra=f"publish_at: {later.isoformat()}\n")
        await send_file(rig, "boletin-vias")

        rig.say("/cola")
        text = await rig.reply("Esperan aprobación")
        waiting, scheduled, pending = (
            text.index("Esperan aprobación"),
            text.index("Programadas"),
            text.index("Pendientes"),
        )
        assert waiting < text.index("informe-pae") < scheduled
        assert scheduled < text.index("boletin-luces") < pending < text.index("boletin-vias")
        assert f"sale el {later:%Y-%m-%d %H:%M}" in text


async def test_estado_shows_channels_links_and_errors(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        await send_file(rig, "boletin-vias")
        bot_double.kicked_from.add(GROUP_CHAT)
        await rig.deliver()

        rig.say("/estado vias")  # a unique piece of the id is enough
        text = await rig.reply("boletin-vias — ")
        assert "website (outbox)" in text or "website (live)" in text
        assert "telegram (live) r1: falló" in text and "el bot no puede escribir" in text
        assert "https://www.bucaramanga.gov.co/noticias/" in text  # the page's link

        rig.say("/estado")
        await rig.reply("Piezas recientes")
        rig.say("/estado no-existe")
        await rig.reply("No encuentro la pieza «no-existe»")


async def test_ambiguous_piece_of_id_lists_candidates(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        await send_file(rig, "boletin-vias-norte")
        await send_file(rig, "boletin-vias-sur")
        rig.say("/estado vias")
        text = await rig.reply("coincide con varias piezas")
        assert "boletin-vias-norte" in text and "boletin-vias-sur" in text


async def test_vista_shows_the_post_as_it_will_look(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        bot_double.push_document(PNG, "ciclo.png", user_id=EDITOR, mime="image/png")
        await rig.reply("Recibí «ciclo.png»")
        await send_file(rig, "ciclorruta", extra=WITH_IMAGE)
        before = len(rig.sent())

        rig.say("/vista ciclorruta")
        await rig.reply("Vista de ciclorruta")
        shown = rig.sent()[before:]
        photo = next(m for m in shown if m.method == "sendPhoto")
        assert photo.file is not None and photo.file.data == PNG
        assert photo.params["parse_mode"] == "HTML" and "Nueva ciclorruta" in (photo.text or "")
        page = next(m for m in shown if m.method == "sendDocument")
        assert page.file is not None and page.file.filename == "ciclorruta.html"
        assert b"Nueva ciclorruta" in page.file.data
        x_post = next(m for m in shown if (m.text or "").startswith("═══ x ═══"))
        assert "/280" in (x_post.text or "")
        assert "🚫 Cancelar" in buttons(rig)

        rig.say("/vista ciclorruta x")
        await eventually(lambda: sum("═══ x ═══" in t for t in rig.texts()) == 2)
        rig.say("/vista ciclorruta tiktok")
        await rig.reply("no va a «tiktok»")


async def test_programar_then_publicar_releases_it(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        await send_file(rig, "boletin-luces")
        tz = rig.app.settings.tz
        tomorrow = datetime.now(tz).date() + timedelta(days=1)

        rig.say("/programar boletin-luces mañana 7:00")
        await rig.reply(f"programada para el {tomorrow:%Y-%m-%d} 07:00")
        row = await rig.item("boletin-luces")
        assert row.publish_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 7, tzinfo=tz)
        await rig.deliver()
        assert rig.sent(GROUP_CHAT) == []  # embargoed

        rig.say("/programar boletin-luces ayer")
        await rig.reply("No entiendo la fecha «ayer»")
        rig.say("/programar boletin-luces 2020-01-01T08:00")
        await rig.reply("ya pasó")

        rig.say("/publicar boletin-luces")
        await rig.reply("se publica ya")
        assert (await rig.item("boletin-luces")).publish_at <= datetime.now(tz)
        assert rig.pokes
        await rig.deliver()
        assert [m.method for m in rig.sent(GROUP_CHAT)] == ["sendMessage"]
        decisions = await approvals_for(rig.app.ledger, "boletin-luces")
        assert [d.action for d in decisions] == ["schedule", "release"]
        assert {d.editor_id for d in decisions} == {EDITOR}

        rig.say("/publicar boletin-luces")
        await rig.reply("no tiene fecha futura")


async def test_cancelar_then_reintentar(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        await send_file(rig, "boletin-vias")
        rig.say("/cancelar boletin-vias")
        await rig.reply("boletin-vias cancelada: 5 entrega(s)")
        await rig.deliver()
        assert rig.sent(GROUP_CHAT) == []

        rig.say("/reintentar boletin-vias tiktok")
        await rig.reply("no va a «tiktok»")
        rig.say("/reintentar boletin-vias telegram")
        await rig.reply("Reintento programado para: telegram")
        await rig.deliver()
        assert len(rig.sent(GROUP_CHAT)) == 1
        rig.say("/reintentar boletin-vias telegram")
        await rig.reply("No hay entregas fallidas")


async def test_unknown_outcome_is_told_and_only_reintentar_resends(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        await send_file(rig, "boletin-vias")
        bot_double.fail_next(path="/sendMessage", reset=True, commit=True)
        await rig.deliver()
        assert len(rig.sent(GROUP_CHAT)) == 1  # it did go out; the answer was lost

        for editor in (EDITOR, OTHER_EDITOR):
            notice = await rig.reply("resultado desconocido", chat_id=editor)
            assert "boletin-vias · telegram" in notice
        await rig.deliver()
        assert len(rig.sent(GROUP_CHAT)) == 1  # never re-sent on its own

        rig.say("/reintentar boletin-vias telegram")
        await rig.reply("Reintento programado para: telegram")
        await rig.deliver()
        assert len(rig.sent(GROUP_CHAT)) == 2


async def test_failure_notification_reaches_every_editor(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        await send_file(rig, "boletin-vias")
        bot_double.kicked_from.add(GROUP_CHAT)
        await rig.deliver()
        for editor in (EDITOR, OTHER_EDITOR):
            notice = await rig.reply("falló sin remedio", chat_id=editor)
            assert "boletin-vias · telegram" in notice
        await eventually(lambda: rig.handle.notifier.sent == 2)


# -- content files from the chat -----------------------------------------------------------


async def test_document_goes_through_intake_and_is_published(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        bot_double.push_document(PNG, "ciclo.png", user_id=EDITOR, mime="image/png")
        bot_double.push_document(
            content_file("ciclorruta", extra=WITH_IMAGE), "ciclorruta.md", user_id=EDITOR
        )
        text = await rig.reply("Aceptado «ciclorruta.md»")
        assert "Canales: website, facebook, x, telegram, mailing" in text and "Sale ya" in text

        row = await rig.item("ciclorruta")
        assert row.status == "ready"
        archive = Path(row.archive_dir)
        assert (archive / "ciclorruta.md").is_file() and (
            archive / "media" / "ciclo.png"
        ).read_bytes() == PNG
        assert not any((rig.content / "inbox").rglob("*.*"))
        assert rig.pokes

        await rig.deliver()
        (post,) = rig.sent(GROUP_CHAT)
        assert post.method == "sendPhoto" and post.file is not None and post.file.data == PNG
        assert list((tmp_path / "site").rglob("ciclorruta/index.html"))

        bot_double.push_document(
            content_file("ciclorruta", extra=WITH_IMAGE), "otra-vez.md", user_id=EDITOR
        )
        await rig.reply("duplicado ciclorruta")


async def test_media_after_the_md_is_waited_for(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        bot_double.push_document(
            content_file("ciclorruta", extra=WITH_IMAGE), "ciclorruta.md", user_id=EDITOR
        )
        held = await rig.reply("queda en espera")
        assert "«ciclo.png»" in held
        bot_double.push_photo(PNG, user_id=EDITOR)  # no name: explained, not used
        await rig.reply("Telegram la comprime")
        bot_double.push_document(PNG, "ciclo.png", user_id=EDITOR, mime="image/png")
        await rig.reply("Aceptado «ciclorruta.md»")
        assert (Path((await rig.item("ciclorruta")).archive_dir) / "media" / "ciclo.png").is_file()


async def test_photo_named_by_its_caption_is_used(bot_double: BotDouble, tmp_path: Path) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    async with running_bot(bot_double, tmp_path) as rig:
        bot_double.push_photo(jpeg, user_id=EDITOR, caption="foto.jpg")
        await rig.reply("Recibí «foto.jpg»")
        extra = "image: foto.jpg\nimage_alt: Un parque recién abierto\n"
        await send_file(rig, "parque", extra=extra)
        assert (Path((await rig.item("parque")).archive_dir) / "foto.jpg").read_bytes() == jpeg


async def test_bad_document_is_answered_with_field_and_line(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    bad = b"---\nkind: boletin\ntitle: Obras en la 27\nimage: foto.png\nfecha: 2026-11-20\n---\ntexto\n"
    async with running_bot(bot_double, tmp_path) as rig:
        bot_double.push_document(bad, "obras.md", user_id=EDITOR)
        text = await rig.reply("No se aceptó «obras.md»")
        assert "línea 4, campo 'image_alt'" in text
        assert "línea 5, campo 'fecha'" in text and "¿quiso decir 'date'?" in text
        assert (rig.content / "rejected" / "obras.md").read_bytes() == bad
        assert (rig.content / "rejected" / "obras.md.error.txt").is_file()
        assert await rig.app.ledger.list_items() == []


async def test_media_clashing_with_the_inbox_is_not_overwritten(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        other = b"\x89PNG\r\n\x1a\n otra imagen"
        (rig.content / "inbox" / "media").mkdir(parents=True)
        (rig.content / "inbox" / "media" / "ciclo.png").write_bytes(other)
        bot_double.push_document(PNG, "ciclo.png", user_id=EDITOR, mime="image/png")
        bot_double.push_document(
            content_file("ciclorruta", extra=WITH_IMAGE), "ciclorruta.md", user_id=EDITOR
        )
        await rig.reply("Ya hay otro archivo «media/ciclo.png»")
        assert (rig.content / "inbox" / "media" / "ciclo.png").read_bytes() == other
        assert await rig.item("ciclorruta") is None


# -- approvals -----------------------------------------------------------------------------


async def test_approval_by_button(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path, approvals=True) as rig:
        text = await send_file(rig, "informe-pae", kind="informe_especial")
        assert "Espera aprobación de 1 editor(es): /publicar informe-pae" in text
        choices = buttons(rig)
        assert choices["✅ Aprobar"] == "aprobar:informe-pae"
        await rig.deliver()
        assert rig.sent(GROUP_CHAT) == []  # waits for the approval

        bot_double.push_callback(choices["✅ Aprobar"], user_id=EDITOR)
        await rig.reply("informe-pae: aprobada por Usuario 111")
        assert (await rig.item("informe-pae")).status == "ready"
        assert bot_double.callback_answers[-1]["text"] == "Registrado."
        (approval,) = await approvals_for(rig.app.ledger, "informe-pae")
        assert (approval.action, approval.editor_id, approval.via) == ("approve", EDITOR, "bot")
        assert approval.editor_name == "Usuario 111"
        await rig.deliver()
        assert len(rig.sent(GROUP_CHAT)) == 1

        rig.say("/estado informe-pae")
        report = await rig.reply("aprobaciones: 1 de 1")
        assert "Usuario 111 [111] aprobó · r1 · vía bot" in report


async def test_two_distinct_editors_must_approve(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path, approvals=True) as rig:
        text = await send_file(rig, "licitacion-vias", kind="contratacion")
        assert "Espera aprobación de 2 editor(es)" in text

        rig.say("/publicar licitacion-vias")
        await rig.reply("aprobación registrada (1 de 2)")
        rig.say("/publicar licitacion-vias")
        await rig.reply("usted ya la había aprobado (1 de 2)")
        assert (await rig.item("licitacion-vias")).status == "awaiting_approval"

        rig.say("/publicar licitacion-vias", user_id=OTHER_EDITOR)
        await rig.reply("aprobada por Usuario 111, Usuario 222", chat_id=OTHER_EDITOR)
        assert (await rig.item("licitacion-vias")).status == "ready"
        decisions = await approvals_for(rig.app.ledger, "licitacion-vias")
        assert [d.editor_id for d in decisions] == [EDITOR, OTHER_EDITOR]

        rig.say("/publicar licitacion-vias")
        await rig.reply("no tiene fecha futura")


async def test_cancel_button_asks_first(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path, approvals=True) as rig:
        await send_file(rig, "informe-pae", kind="informe_especial")
        bot_double.push_callback(buttons(rig)["🚫 Cancelar"], user_id=EDITOR)
        await rig.reply("¿Cancelar informe-pae?")
        bot_double.push_callback(buttons(rig)["No"], user_id=EDITOR)
        await rig.reply("no se hizo nada")
        assert (await rig.item("informe-pae")).status == "awaiting_approval"

        bot_double.push_callback("cancelar:informe-pae", user_id=EDITOR)
        await eventually(lambda: sum("¿Cancelar" in t for t in rig.texts()) == 2)
        bot_double.push_callback(buttons(rig)["Sí, cancelar"], user_id=EDITOR)
        await rig.reply("informe-pae cancelada")
        assert (await rig.item("informe-pae")).status == "cancelled"

        # resumed, it still needs its approval
        rig.say("/reintentar informe-pae")
        await rig.reply("Sigue esperando aprobación")
        assert (await rig.item("informe-pae")).status == "awaiting_approval"


async def test_long_ids_travel_behind_a_token(bot_double: BotDouble, tmp_path: Path) -> None:
    long_id = "informe-" + "muy-largo-" * 8 + "fin"
    async with running_bot(bot_double, tmp_path, approvals=True) as rig:
        await send_file(rig, long_id, kind="informe_especial")
        data = buttons(rig)["✅ Aprobar"]
        assert len(data.encode()) <= 64 and long_id not in data
        bot_double.push_callback(data, user_id=EDITOR)
        await rig.reply("aprobada por")
        bot_double.push_callback("aprobar:#0000000000000000", user_id=EDITOR)
        await eventually(
            lambda: any("ya no sirve" in str(a["text"]) for a in bot_double.callback_answers)
        )
