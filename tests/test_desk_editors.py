"""Editors as one identity: the roster (``pregonero editors …``), Argon2 hashes, and the
two-editor rule counting people whichever way each one approved (bot, desk, CLI)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dispatcher.services import editors
from dispatcher.services.approvals import approvals_for, approve
from dispatcher.services.context import App
from dispatcher.services.editors import EditorError
from tests.conftest import Workspace
from tests.desk_support import PASSWORD, take
from tests.test_bot_support import (
    STRANGER,
    BotDouble,
    approvals_app,
    bot_double_fixture,  # noqa: F401  (the bot_double fixture)
    content_file,
    eventually,
    plan_with_approvals,
    running_bot,
)


@pytest.fixture
async def app(tmp_path: Path, ledger_url: str) -> AsyncIterator[App]:
    async with approvals_app(tmp_path, ledger_url, telegram={"editors": [999]}) as application:
        yield application


async def test_one_person_counts_once_whichever_way_they_approve(app: App) -> None:
    await editors.add(app.ledger, "ana", name="Ana Gómez", password=PASSWORD, telegram_id=111)
    await editors.add(app.ledger, "luis", name="Luis Díaz", password=PASSWORD)
    await take(app, "licitacion-vias")

    by_bot = await approve(app, "licitacion-vias", 111, "Ana G. (Telegram)", "bot")
    assert (by_bot.outcome, by_bot.missing) == ("recorded", 1)
    by_desk = await approve(app, "licitacion-vias", None, "Ana Gómez", "desk", username="ana")
    assert by_desk.outcome == "already"
    by_cli_user = await approve(app, "licitacion-vias", None, "ana", "cli")
    assert by_cli_user.outcome == "already"
    by_cli_name = await approve(app, "licitacion-vias", None, "  ana  GÓMEZ", "cli")
    assert by_cli_name.outcome == "already"

    second = await approve(app, "licitacion-vias", None, "Luis Díaz", "desk", username="luis")
    assert second.outcome == "approved"
    assert second.approvers == ("Ana Gómez", "Luis Díaz")
    recorded = await approvals_for(app.ledger, "licitacion-vias")
    assert [(a.key, a.via) for a in recorded] == [("ed:ana", "bot"), ("ed:luis", "desk")]
    assert [a.username for a in recorded] == ["ana", "luis"]


async def test_unregistered_editors_keep_their_old_keys(app: App) -> None:
    await editors.add(app.ledger, "ana", name="Ana Gómez", password=PASSWORD, telegram_id=111)
    await take(app, "licitacion-vias")
    first = await approve(app, "licitacion-vias", 999, "Bot-only", "bot")
    assert first.outcome == "recorded"
    # a bot-only editor (PREGONERO_TELEGRAM__EDITORS) and a registered one: two people
    second = await approve(app, "licitacion-vias", 111, "Ana", "bot")
    assert second.outcome == "approved"
    keys = [a.key for a in await approvals_for(app.ledger, "licitacion-vias")]
    assert keys == ["tg:999", "ed:ana"]

    await take(app, "licitacion-puentes")
    await approve(app, "licitacion-puentes", None, "Marta", "cli")
    assert (await approve(app, "licitacion-puentes", None, "marta", "cli")).outcome == "already"
    with pytest.raises(EditorError, match="No existe el editor"):
        await approve(app, "licitacion-puentes", None, "X", "desk", username="nadie")


async def test_roster_rules_and_hashes(app: App) -> None:
    ana = await editors.add(
        app.ledger, "Ana.Gomez", name=" Ana   Gómez ", password=PASSWORD, role="admin"
    )
    assert (ana.username, ana.name, ana.admin) == ("ana.gomez", "Ana Gómez", True)
    with pytest.raises(EditorError, match="Ya existe"):
        await editors.add(app.ledger, "ana.gomez", name="Otra", password=PASSWORD)
    with pytest.raises(EditorError, match="al menos 10"):
        await editors.add(app.ledger, "pedro", name="Pedro", password="corta")
    with pytest.raises(EditorError, match="Usuario no válido"):
        await editors.add(app.ledger, "1 pedro", name="Pedro", password=PASSWORD)
    with pytest.raises(EditorError, match="Rol no válido"):
        await editors.add(app.ledger, "pedro", name="Pedro", password=PASSWORD, role="jefe")
    await editors.add(app.ledger, "pedro", name="Pedro", password=PASSWORD, telegram_id=5)
    with pytest.raises(EditorError, match="ya es de otro editor"):
        await editors.add(app.ledger, "rosa", name="Rosa", password=PASSWORD, telegram_id=5)

    assert await editors.authenticate(app.ledger, "ANA.GOMEZ", PASSWORD) == ana
    assert await editors.authenticate(app.ledger, "ana.gomez", PASSWORD + "x") is None
    assert await editors.authenticate(app.ledger, "nadie", PASSWORD) is None
    assert await editors.may_use_bot(app, 5) and await editors.may_use_bot(app, 999)
    assert not await editors.may_use_bot(app, 6)

    assert await editors.remove(app.ledger, "pedro")
    assert not await editors.remove(app.ledger, "pedro")
    assert await editors.authenticate(app.ledger, "pedro", PASSWORD) is None
    assert not await editors.may_use_bot(app, 5)
    assert [e.username for e in await editors.listing(app.ledger)] == ["ana.gomez"]
    # the id is free again, and a removed username can be registered anew
    await editors.add(app.ledger, "rosa", name="Rosa", password=PASSWORD, telegram_id=5)
    again = await editors.add(app.ledger, "pedro", name="Pedro P.", password=PASSWORD)
    assert again.name == "Pedro P."


def _hashes(workspace: Workspace) -> list[str]:
    with sqlite3.connect(workspace.root / "pregonero.db") as db:
        return [row[0] for row in db.execute("SELECT password_hash FROM editors")]


def test_editors_cli(workspace: Workspace) -> None:
    added = workspace.cli(
        "editors", "add", "ana", "--name", "Ana Gómez", "--telegram-id", "111",
        "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n", check=True,
    )  # fmt: skip
    assert "Editor ana registrado (Ana Gómez, administrador, Telegram 111)" in added.stdout
    workspace.cli(
        "editors", "add", "luis", "--name", "Luis", "--password-stdin", stdin=PASSWORD, check=True
    )
    (hash_ana, hash_luis) = _hashes(workspace)
    assert hash_ana.startswith("$argon2id$") and hash_luis.startswith("$argon2id$")

    listed = workspace.cli("editors", "list", check=True).stdout
    assert "ana" in listed and "administrador" in listed and "111" in listed
    assert "luis" in listed and "$argon2" not in listed and PASSWORD not in listed

    no_stdin = workspace.cli("editors", "add", "rosa", "--name", "Rosa")
    assert no_stdin.returncode == 2 and "--password-stdin" in no_stdin.stderr
    short = workspace.cli(
        "editors", "add", "rosa", "--name", "Rosa", "--password-stdin", stdin="corta\n"
    )
    assert short.returncode == 1 and "al menos 10" in short.stderr
    assert "corta" not in short.stderr + short.stdout
    twice = workspace.cli(
        "editors", "add", "ana", "--name", "Ana", "--password-stdin", stdin=PASSWORD
    )
    assert twice.returncode == 1 and "Ya existe el editor 'ana'" in twice.stderr

    removed = workspace.cli("editors", "remove", "luis", check=True)
    assert "ya no puede entrar" in removed.stdout
    assert "luis" not in workspace.cli("editors", "list", check=True).stdout
    assert workspace.cli("editors", "remove", "luis").returncode == 1


def test_cli_approve_by_username_counts_the_person_once(workspace: Workspace) -> None:
    plan_with_approvals(workspace.content / "plan.yaml")
    for user, tg in (("ana", "111"), ("luis", "222")):
        workspace.cli(
            "editors", "add", user, "--name", user.title(), "--telegram-id", tg,
            "--password-stdin", stdin=PASSWORD, check=True,
        )  # fmt: skip
    workspace.write("licitacion.md", content_file("licitacion-vias", kind="contratacion"))
    workspace.cli("run", "--once", check=True)

    first = workspace.cli("approve", "licitacion-vias", "--editor-id", "111", "--editor", "A.")
    assert "aprobación registrada (1 de 2)" in first.stdout
    again = workspace.cli("approve", "licitacion-vias", "--editor", "ana")
    assert "ya la había aprobado" in again.stdout
    done = workspace.cli("approve", "licitacion-vias", "--editor", "luis", check=True)
    assert "aprobada por Ana, Luis" in done.stdout


async def test_registered_editor_may_use_the_bot(bot_double: BotDouble, tmp_path: Path) -> None:
    """A registered editor's Telegram id passes the bot's gate though it is not in
    ``PREGONERO_TELEGRAM__EDITORS``; their bot approval and their desk approval count once."""
    async with running_bot(bot_double, tmp_path, approvals=True) as rig:
        await editors.add(
            rig.app.ledger, "marta", name="Marta", password=PASSWORD, telegram_id=STRANGER
        )
        await take(rig.app, "licitacion-vias")
        rig.say("/publicar licitacion-vias", user_id=STRANGER)
        await rig.reply("aprobación registrada (1 de 2)", chat_id=STRANGER)
        desk = await approve(rig.app, "licitacion-vias", None, "Marta", "desk", username="marta")
        assert desk.outcome == "already"
        assert [a.key for a in await approvals_for(rig.app.ledger, "licitacion-vias")] == [
            "ed:marta"
        ]
        await rig.app.notify("Aviso de prueba para los editores")  # notices reach her too
        await rig.reply("Aviso de prueba para los editores", chat_id=STRANGER)
        await rig.reply("Aviso de prueba para los editores")  # and the bot-only editors
        await editors.remove(rig.app.ledger, "marta")
        rig.say("/cola", user_id=STRANGER)
        await eventually(
            lambda: any("solo para el equipo" in t for t in rig.texts(STRANGER)), 5, "refusal"
        )
