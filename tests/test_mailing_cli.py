"""The mailing commands in a subprocess (``python -m dispatcher.cli.mail``; the main
``pregonero`` CLI mounts the same sub-apps), including kill -9 in the middle of
``mail send`` and the run after it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from dispatcher.items.parse import check_file
from dispatcher.ledger.schema import audience_mask
from dispatcher.services.mailing.bulletin import add_to_digest
from settings import Settings
from tests.conftest import clean_env
from tests.test_mailing_support import (
    FROM,
    PUBLIC,
    ROOT,
    SITE,
    Sink,
    add_subscribers,
    free_port,
    make_settings,
    new_ledger,
    smtp_server,
    subscriber_rows,
)

DAY = "2026-11-25"


def _env(tmp_path: Path, smtp_port: int | None = None, **extra: str) -> dict[str, str]:
    content = tmp_path / "content"
    content.mkdir(exist_ok=True)
    shutil.copy2(ROOT / "content" / "plan.yaml", content / "plan.yaml")
    env = clean_env()
    env.update(
        PREGONERO_CONTENT_DIR=str(content),
        PREGONERO_DATABASE_URL=f"sqlite:///{tmp_path / 'pregonero.db'}",
        PREGONERO_WEB__PUBLIC_URL=PUBLIC,
        PREGONERO_WEBSITE__BASE_URL=SITE,
        PREGONERO_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    if smtp_port is not None:
        env.update(
            PREGONERO_SMTP__HOST="127.0.0.1",
            PREGONERO_SMTP__PORT=str(smtp_port),
            PREGONERO_SMTP__FROM=FROM,
        )
    env.update(extra)
    return env


def _cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_subscribers_import_export_remove(tmp_path: Path) -> None:
    env = _env(tmp_path)
    csv = tmp_path / "lista.csv"
    csv.write_text(
        "\ufeffemail,name,audiences,consent_at,consent_source\n"
        "ana@example.org,Ana Pérez,periodistas,2026-01-10,formulario web\n"
        "malo@,Malo,ciudadania,2026-01-10,formulario web\n"
        "luis@example.org,Luis,,2026-02-01,Mesa Pública\n",
        encoding="utf-8",
    )
    first = _cli(tmp_path, env, "subscribers", "import", str(csv), "--audience", "gremios")
    assert first.returncode == 1, first.stderr
    assert "línea 3: correo electrónico inválido 'malo@'" in first.stderr
    assert "Importación: 2 nueva(s)" in first.stdout and "1 con errores" in first.stdout

    exported = _cli(tmp_path, env, "subscribers", "export")
    assert exported.returncode == 0
    assert exported.stdout.splitlines() == [
        "email,name,audiences,consent_at,consent_source,status",
        "ana@example.org,Ana Pérez,periodistas;gremios,2026-01-10T00:00:00-05:00,formulario web,active",
        "luis@example.org,Luis,gremios,2026-02-01T00:00:00-05:00,Mesa Pública,active",
    ]

    removed = _cli(tmp_path, env, "subscribers", "remove", "Ana@Example.org")
    assert removed.returncode == 0 and "Datos eliminados" in removed.stdout
    again = _cli(tmp_path, env, "subscribers", "import", str(csv), "--audience", "gremios")
    assert "línea 2: ana@example.org omitida: sus datos se eliminaron" in again.stderr
    assert "1 omitida(s)" in again.stdout

    csv.write_text("correo;nombre\nx@example.org;X\n", encoding="utf-8")
    header = _cli(tmp_path, env, "subscribers", "import", str(csv))
    assert header.returncode == 2 and "encabezado inválido" in header.stderr
    bad_audience = _cli(tmp_path, env, "subscribers", "import", str(csv), "--audience", "todos")
    assert bad_audience.returncode == 2 and "público desconocido 'todos'" in bad_audience.stderr


def test_mail_send_needs_smtp_and_says_so_for_an_empty_day(tmp_path: Path) -> None:
    outbox = _cli(tmp_path, _env(tmp_path), "mail", "send")
    assert outbox.returncode == 1 and "modo bandeja de salida" in outbox.stderr
    empty = _cli(tmp_path, _env(tmp_path, free_port()), "mail", "send", "--date", DAY)
    assert empty.returncode == 0 and "No hay boletines" in empty.stdout
    bad = _cli(tmp_path, _env(tmp_path, free_port()), "mail", "send", "--date", "25/11/2026")
    assert bad.returncode == 2 and "AAAA-MM-DD" in bad.stderr


async def _bulletin_ledger(tmp_path: Path, port: int, count: int) -> Settings:
    """A ledger with ``count`` subscribers and one bulletin item waiting for ``DAY``."""
    settings = make_settings(tmp_path, port)
    ledger = await new_ledger(settings)
    await add_subscribers(ledger, settings, subscriber_rows(count))
    example = ROOT / "content" / "examples" / "2026-11-03-parque-san-pio-reabre.md"
    item = check_file(example, tz=settings.tz, known_kinds={"boletin"}, max_bytes=10**6)
    await ledger.add_item(item, ["mailing"], status="ready")
    await add_to_digest(
        ledger, item_id=item.id, revision=1, audiences=audience_mask(["ciudadania"]),
        today=date.fromisoformat(DAY),
    )  # fmt: skip
    await ledger.close()
    return settings


@pytest.mark.slow
def test_kill_9_mid_campaign_then_run_again(tmp_path: Path) -> None:
    count, connections = 3000, 4
    sink = Sink()
    with smtp_server(sink) as port:
        asyncio.run(_bulletin_ledger(tmp_path, port, count))
        env = _env(
            tmp_path, port,
            PREGONERO_SMTP__CONNECTIONS=str(connections), PREGONERO_SMTP__RATE="1500",
        )  # fmt: skip
        first = subprocess.Popen(
            [sys.executable, "-m", "dispatcher.cli", "mail", "send", "--date", DAY],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while len(sink.messages) < 600:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run sent nothing"
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        delivered_before = len(sink.messages)
        with sqlite3.connect(tmp_path / "pregonero.db") as db:
            states = dict(
                db.execute("SELECT status, count(*) FROM mail_recipients GROUP BY status")
            )
        assert 0 < states.get("sent", 0) < count
        assert states.get("sending", 0) <= connections
        # Everything delivered is recorded as sent, except at most one per connection.
        assert delivered_before - states.get("sent", 0) <= connections

        second = subprocess.run(
            [sys.executable, "-m", "dispatcher.cli", "mail", "send", "--date", DAY],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert f"{count} enviado(s), 0 fallido(s), 0 omitido(s), 0 pendiente(s)" in second.stdout

    received = sink.count()
    assert set(received) == {row[0] for row in subscriber_rows(count)}
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= connections
    with sqlite3.connect(tmp_path / "pregonero.db") as db:
        assert db.execute("SELECT status FROM mail_campaigns").fetchall() == [("done",)]
        assert db.execute(
            "SELECT count(*) FROM mail_recipients WHERE status = 'sent'"
        ).fetchone() == (count,)
