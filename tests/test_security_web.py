"""Security issue #10, the mail / web / ledger-file side: findings 5, 6, 7, 11, 13 (the
SQLite half) and 14. Each test reproduces the attack or the leak against the real parts
(aiosmtpd, the ``pregonero`` command in a subprocess, uvicorn, SQLite files) and passes only
when it is closed."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import os
import re
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from channels.base import PermanentError
from dispatcher.items.parse import check_file
from dispatcher.ledger.schema import audience_mask
from dispatcher.ledger.store import Ledger
from dispatcher.services.mailing.bulletin import item_campaign, list_for
from dispatcher.services.mailing.campaign import CampaignSender
from dispatcher.services.mailing.message import MailContent
from dispatcher.services.mailing.preflight import MailConfigError
from dispatcher.services.mailing.redact import Redactor
from dispatcher.services.mailing.subscribers import defuse, restore
from dispatcher.services.mailing.tokens import (
    LEGACY_UNTIL,
    check_token,
    legacy_token,
    make_token,
    token_day,
    token_key,
)
from dispatcher.web.unsubscribe import create_app
from settings import Settings
from tests.conftest import EXAMPLES, Workspace, clean_env
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
)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

CONTENT = MailContent("Nota de prensa", "Texto.\n", "<p>Texto.</p>")
INFORME = "2026-11-24-informe-especial-alimentacion-escolar.md"


# -- helpers ----------------------------------------------------------------------------


def _cli(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A content folder with the shipped plan, the ledger beside it, nothing else set."""
    content = tmp_path / "content"
    content.mkdir(exist_ok=True)
    (content / "plan.yaml").write_bytes((ROOT / "content" / "plan.yaml").read_bytes())
    env = clean_env()
    env.update(
        PREGONERO_CONTENT_DIR=str(content),
        PREGONERO_DATABASE_URL=f"sqlite:///{tmp_path / 'pregonero.db'}",
        PREGONERO_WEBSITE__OUTPUT_DIR=str(tmp_path / "site"),
        PREGONERO_LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def _smtp_env(port: int, **extra: str) -> dict[str, str]:
    return {
        "PREGONERO_SMTP__HOST": "127.0.0.1",
        "PREGONERO_SMTP__PORT": str(port),
        "PREGONERO_SMTP__FROM": FROM,
        **extra,
    }


class Watcher(Sink):
    """A sink that also records every greeting and AUTH attempt it sees."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.greetings: list[str] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.senders: list[str] = []  # every MAIL FROM: a message was begun

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:  # fmt: skip
        self.greetings.append(hostname)
        session.host_name = hostname  # this hook's duty (aiosmtpd's EHLO contract)
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        mail_options: list[str],
    ) -> str:  # fmt: skip
        self.senders.append(address)
        envelope.mail_from = address  # this hook's duty (aiosmtpd's MAIL contract)
        envelope.mail_options.extend(mail_options)
        return "250 OK"


@contextmanager
def auth_server(
    sink: Watcher, *, echo: bool, tls_context: ssl.SSLContext | None = None
) -> Iterator[int]:
    """aiosmtpd requiring AUTH (``prensa``/``s3creta``); with ``echo`` a refused login is
    answered with a 535 that repeats the user, the password and the base64 blob sent."""
    port = free_port()

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        sink.logins.append((data.login, data.password))
        if (data.login, data.password) == (b"prensa", b"s3creta"):
            return AuthResult(success=True)
        blob = base64.b64encode(b"\0" + data.login + b"\0" + data.password).decode()
        message = (
            f"535 5.7.8 credenciales {data.login.decode()}/{data.password.decode()} "
            f"({blob}) inválidas"
        )
        return AuthResult(success=False, handled=False, message=message if echo else None)

    kwargs: dict[str, Any] = {
        "authenticator": authenticator, "auth_required": True,
        "auth_require_tls": tls_context is not None,
    }  # fmt: skip
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


def _checkpoint(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _file_bytes(db: Path) -> bytes:
    """The ledger as it sits on disk: the database and its write-ahead log."""
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def _text_values(db: Path) -> Iterator[tuple[str, str, str]]:
    """(table, column, value) for every text value of every table."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}"'):
                    if isinstance(value, str):
                        yield table, column, value
    conn.close()


def _whole(address: str) -> re.Pattern[bytes]:
    """``address`` in any case and also percent-encoded, not as the tail of a longer one."""
    local, domain = address.split("@")
    forms = [re.escape(f"{local}{at}{domain}".encode()) for at in ("@", "%40")]
    return re.compile(rb"(?<![a-z0-9._+-])(?:" + b"|".join(forms) + rb")", re.IGNORECASE)


# -- finding 5: erasure reaches every table ----------------------------------------------


async def test_erasure_leaves_the_address_nowhere_in_the_ledger_file(tmp_path: Path) -> None:
    """Finding 5 (Ley 1581): after ``subscribers remove`` the SMTP reply kept for the
    recipient (a 550 that echoes the address), a delivery's error and its attempt note no
    longer hold the address, in any case — not in any text column, not in the bytes of
    the database and its WAL. Only the keyed hash stays; other subscribers are intact
    (``mariana.perez@…`` ends with the erased address and must survive)."""
    target, neighbour = "ana.perez@example.org", "mariana.perez@example.org"
    sink = Sink(
        refuse={
            target: f"550 5.1.1 <Ana.Perez@Example.ORG>: buzón {target} inexistente",
            neighbour: f"550 5.1.1 buzón {neighbour} lleno",
        }
    )
    db = tmp_path / "pregonero.db"
    with smtp_server(sink) as port:
        settings = make_settings(tmp_path, port)
        ledger = await new_ledger(settings)
        rows = [
            [email, f"Persona {n}", "ciudadania", "2026-01-15", f"formulario ({email})"]
            for n, email in enumerate((target, neighbour, "luis@example.org"))
        ]
        await add_subscribers(ledger, settings, rows)
        campaign_id = await item_campaign(
            ledger, item_id="nota", revision=1, content=CONTENT,
            audiences=audience_mask(["ciudadania"]), list_id=list_for("boletin", "B", "x.co"),
        )  # fmt: skip
        result = await CampaignSender(ledger, settings).run(campaign_id)
        assert (result.sent, result.failed) == (1, 2)
        # an attempt note and a delivery error that quote the address (a relay's bounce)
        item = check_file(
            EXAMPLES / INFORME, tz=settings.tz, known_kinds={"informe_especial"}, max_bytes=10**6
        )
        await ledger.add_item(item, ["mailing"], status="ready")
        delivery = (await ledger.deliveries_for([item.id]))[0].id
        claim = await ledger.claim(delivery, idempotent=True, mode="live")
        assert claim is not None
        await ledger.finish(
            claim, status="failed", outcome="permanent",
            error=f"rebote: mailto%3A{target.replace('@', '%40')} y <{target.upper()}> no existe",
        )  # fmt: skip
        await ledger.close()

    whole = _whole(target)
    _checkpoint(db)
    assert whole.search(_file_bytes(db)), "the attack's precondition: the address is stored"

    env = _env(tmp_path, PREGONERO_LOG_LEVEL="WARNING")
    removed = _cli(tmp_path, env, "subscribers", "remove", "Ana.Perez@Example.org")
    assert removed.returncode == 0 and "Datos eliminados" in removed.stdout, removed.stderr

    _checkpoint(db)
    left = [(t, c, v) for t, c, v in _text_values(db) if whole.search(v.encode())]
    assert left == []
    assert whole.search(_file_bytes(db)) is None
    with sqlite3.connect(db) as conn:
        erased = conn.execute(
            "SELECT email, name, consent_source, email_hash FROM subscribers WHERE status = 'erased'"
        ).fetchall()
        kept = conn.execute(
            "SELECT s.email, r.reply FROM subscribers s JOIN mail_recipients r "
            "ON r.subscriber_id = s.id WHERE s.email = ?",
            (neighbour,),
        ).fetchone()
    conn.close()
    assert len(erased) == 1 and erased[0][:3] == (None, None, None) and len(erased[0][3]) == 64
    assert kept == (neighbour, f"550 5.1.1 buzón {neighbour} lleno")
    again = _cli(tmp_path, env, "subscribers", "import", str(_csv(tmp_path, rows[:1])))
    assert "omitida: sus datos se eliminaron" in again.stderr  # the hash still recognises it


def _csv(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "lista.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["email", "name", "audiences", "consent_at", "consent_source"])
        writer.writerows(rows)
    return path


# -- finding 6: SMTP credentials only over TLS, and never stored -------------------------


def test_credentials_are_never_sent_in_clear(tmp_path: Path) -> None:
    """Finding 6: with ``SECURITY=none`` and a user and password, ``mail send`` and
    ``channels check`` refuse with a Spanish message naming the settings, and the server
    never even sees a greeting (so no AUTH crossed the network). The explicit opt-out
    for a trusted local relay lets ``channels check`` log in."""
    sink = Watcher()
    with auth_server(sink, echo=False) as port:
        creds = {"PREGONERO_SMTP__USERNAME": "prensa", "PREGONERO_SMTP__PASSWORD": "s3creta"}
        env = _env(
            tmp_path, PREGONERO_WEB__PUBLIC_URL=PUBLIC, PREGONERO_WEBSITE__BASE_URL=SITE,
            **_smtp_env(port, **creds),
        )  # fmt: skip
        send = _cli(tmp_path, env, "mail", "send")
        assert send.returncode == 2
        for name in ("PREGONERO_SMTP__SECURITY", "starttls", "PREGONERO_SMTP__ALLOW_PLAIN_AUTH"):
            assert name in send.stderr
        assert "s3creta" not in send.stdout + send.stderr
        check = _cli(tmp_path, env, "channels", "check")
        assert check.returncode == 1
        line = next(x for x in check.stdout.splitlines() if x.startswith("mailing:"))
        assert "ERROR" in line and "PREGONERO_SMTP__SECURITY" in line
        assert sink.greetings == [] and sink.logins == []

        env["PREGONERO_SMTP__ALLOW_PLAIN_AUTH"] = "true"
        trusted = _cli(tmp_path, env, "channels", "check")
        line = next(x for x in trusted.stdout.splitlines() if x.startswith("mailing:"))
        assert "OK" in line, trusted.stdout
        assert sink.logins == [(b"prensa", b"s3creta")]


async def test_a_live_delivery_refuses_credentials_in_clear(tmp_path: Path) -> None:
    """Finding 6, the delivery path: the campaign service (what a live ``mailing``
    delivery calls) and the sender itself refuse before connecting."""
    from dispatcher.items.plan import load_plan
    from dispatcher.render.renderer import Renderer, builtin_templates_dir
    from dispatcher.services.context import App
    from dispatcher.services.mailing.service import CampaignService

    sink = Watcher()
    with auth_server(sink, echo=True) as port:
        settings = make_settings(tmp_path, port, username="prensa", password="s3creta")
        ledger = await new_ledger(settings)
        channels = ["website", "facebook", "x", "telegram", "mailing"]
        plan = load_plan(ROOT / "content" / "plan.yaml", channels)
        app = App(settings=settings, ledger=ledger, plan=plan)
        item = check_file(
            EXAMPLES / INFORME, tz=settings.tz, known_kinds={"informe_especial"}, max_bytes=10**6
        )
        await ledger.add_item(item, ["mailing"], status="ready")
        renderer = Renderer([builtin_templates_dir()], settings.tz, {"informe_especial": "I"})
        post = renderer.render(item, "mailing", url=f"{SITE}x/")
        with pytest.raises(PermanentError, match="PREGONERO_SMTP__SECURITY"):
            await CampaignService(app).publish(post)
        with pytest.raises(MailConfigError, match="PREGONERO_SMTP__ALLOW_PLAIN_AUTH"):
            CampaignSender(ledger, settings)
        assert sink.greetings == [] and sink.logins == []
        await ledger.close()


async def test_replies_that_echo_credentials_are_stored_redacted(tmp_path: Path) -> None:
    """Finding 6, the stored replies: over STARTTLS, a 535 that echoes the user, the
    password and the base64 AUTH PLAIN blob reaches the result (what becomes a delivery's
    error) redacted; a recipient refused with a reply that repeats them is stored redacted
    in ``mail_recipients.reply``; the ledger file holds neither secret."""
    server_ctx, client_ctx = _tls()
    wrong_blob = base64.b64encode(b"\0prensa\0clave-mala-123").decode()
    good_blob = base64.b64encode(b"\0prensa\0s3creta").decode()
    sink = Watcher(
        refuse={"luis@example.org": f"550 5.7.1 prensa:s3creta ({good_blob}) no puede enviar"}
    )
    with auth_server(sink, echo=True, tls_context=server_ctx) as port:
        settings = make_settings(
            tmp_path, port, security="starttls", username="prensa", password="s3creta"
        )
        ledger = await new_ledger(settings)
        row = ["luis@example.org", "Luis", "ciudadania", "2026-01-15", "web"]
        await add_subscribers(ledger, settings, [row])
        campaign_id = await item_campaign(
            ledger, item_id="nota", revision=1, content=CONTENT,
            audiences=audience_mask(["ciudadania"]), list_id=list_for("boletin", "B", "x.co"),
        )  # fmt: skip
        result = await CampaignSender(ledger, settings, tls_context=client_ctx).run(campaign_id)
        assert result.failed == 1

        wrong = make_settings(
            tmp_path, port, security="starttls", username="prensa", password="clave-mala-123"
        )
        other = await item_campaign(
            ledger, item_id="otra", revision=1, content=CONTENT,
            audiences=audience_mask(["ciudadania"]), list_id=list_for("boletin", "B", "x.co"),
        )  # fmt: skip
        refused = await CampaignSender(ledger, wrong, tls_context=client_ctx).run(other)
        await ledger.close()
    assert sink.logins[-1] == (b"prensa", b"clave-mala-123")  # the server did echo them
    assert refused.auth and refused.error is not None and "535" in refused.error
    for secret in ("clave-mala-123", wrong_blob):
        assert secret not in refused.error
    db = tmp_path / "pregonero.db"
    with sqlite3.connect(db) as conn:
        (reply,) = conn.execute("SELECT reply FROM mail_recipients WHERE campaign_id = ?",
                                (campaign_id,)).fetchone()  # fmt: skip
    conn.close()
    assert reply.startswith("550 5.7.1") and "[oculto]" in reply
    _checkpoint(db)
    raw = _file_bytes(db)
    for secret in ("s3creta", good_blob, good_blob.rstrip("=")):
        assert secret.encode() not in raw


def test_the_redactor_hides_every_form_of_the_credentials() -> None:
    """Finding 6: plain, any case, base64 (PLAIN and LOGIN forms, padded or not)."""
    redact = Redactor(["prensa@x.co", "Cl4ve!"])
    forms = [
        "prensa@x.co", "PRENSA@X.CO", "Cl4ve!", base64.b64encode(b"\0prensa@x.co\0Cl4ve!").decode(),
        base64.b64encode(b"Cl4ve!").decode(), base64.b64encode(b"prensa@x.co").decode().rstrip("="),
        base64.b64encode(b"xx prensa@x.co yy").decode(),
    ]  # fmt: skip
    for form in forms:
        assert redact(f"535 5.7.8 no: {form} fin") == "535 5.7.8 no: [oculto] fin", form
    assert redact("250 2.0.0 Ok: queued as ABCDEF123") == "250 2.0.0 Ok: queued as ABCDEF123"
    assert not Redactor([]) and Redactor([])("550 x") == "550 x"


# -- finding 7: formula injection in the CSV export --------------------------------------


def test_export_defuses_spreadsheet_formulas(tmp_path: Path) -> None:
    """Finding 7 (OWASP CSV injection): a name ``=HYPERLINK(…)`` imported and exported
    comes out as ``'=HYPERLINK(…)``, as do cells starting with ``+ - @``; the exported file
    imports back unchanged."""
    env = _env(tmp_path, PREGONERO_LOG_LEVEL="WARNING")
    hyperlink = '=HYPERLINK("http://x","y")'
    rows = [
        ["ana@example.org", hyperlink, "ciudadania", "2026-01-10", "+57 300 000 0000"],
        ["luis@example.org", "-2+3", "ciudadania", "2026-01-10", "@formulario"],
        ["gema@example.org", "Gema", "ciudadania", "2026-01-10", "web"],
    ]
    imported = _cli(tmp_path, env, "subscribers", "import", str(_csv(tmp_path, rows)))
    assert imported.returncode == 0, imported.stderr
    exported = _cli(tmp_path, env, "subscribers", "export")
    assert exported.returncode == 0
    cells = list(csv.reader(io.StringIO(exported.stdout)))
    assert cells[1][1] == "'" + hyperlink and cells[1][4] == "'+57 300 000 0000"
    assert cells[2][1] == "'-2+3" and cells[2][4] == "'@formulario"
    assert cells[3][1] == "Gema" and cells[3][4] == "web"
    for row in cells[1:]:
        assert not row[1].startswith(("=", "+", "-", "@")) and not row[4].startswith("=")

    again = tmp_path / "exportado.csv"
    again.write_text(exported.stdout, encoding="utf-8")
    reimport = _cli(tmp_path, env, "subscribers", "import", str(again))
    assert "0 nueva(s), 0 actualizada(s), 3 sin cambios" in reimport.stdout, reimport.stderr
    for cell in ("\tx", "\rx", "=1+1", "+1", "-1", "@SUM(A1)"):
        assert defuse(cell) == "'" + cell and restore(defuse(cell)) == cell
    assert defuse("Ana") == "Ana" and defuse("'quote") == "'quote"


# -- finding 11: tokens out of the access log, and a year of validity --------------------


async def _ledger_with(tmp_path: Path, settings: Settings, count: int = 2) -> tuple[Ledger, bytes]:
    ledger = await new_ledger(settings)
    rows = [
        [f"p{n}@example.org", f"P {n}", "ciudadania", "2026-01-15", "web"] for n in range(count)
    ]
    await add_subscribers(ledger, settings, rows)
    return ledger, await token_key(settings, ledger)


def test_the_access_log_of_serve_never_holds_a_token(tmp_path: Path) -> None:
    """Finding 11: ``pregonero serve`` (uvicorn, the real command) logs each request with
    its route — ``/baja/…`` — never the token, for a GET, a one-click POST, a query string
    and a WebSocket handshake; ``/salud`` is logged as is."""
    settings = make_settings(tmp_path, free_port())
    ledger, key = asyncio.run(_ledger_with(tmp_path, settings))
    asyncio.run(ledger.close())
    token = make_token(key, 1)
    port = free_port()
    env = _env(tmp_path, PREGONERO_WEB__PUBLIC_URL=PUBLIC, PREGONERO_WEBSITE__BASE_URL=SITE)
    server = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/salud", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=base) as http:
            assert http.get(f"/baja/{token}").status_code == 200
            assert http.get(f"/baja/{token}?utm=x").status_code == 200
            ws = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                  "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode()}  # fmt: skip
            http.get(f"/baja/{token}", headers=ws)
            one_click = {"List-Unsubscribe": "One-Click"}
            assert http.post(f"/baja/{token}", data=one_click).status_code == 200
            assert http.get("/baja/1.x").status_code == 400
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    logged = out + err
    signature = token.rsplit(".", 1)[1]
    assert token not in logged and signature not in logged and "1.x" not in logged
    assert '"GET /baja/… HTTP/1.1" 200' in logged
    assert '"POST /baja/… HTTP/1.1" 200' in logged
    assert '"GET /salud HTTP/1.1" 200' in logged
    assert "utm" not in logged


async def test_tokens_expire_after_a_year_and_the_page_says_what_to_do(tmp_path: Path) -> None:
    """Finding 11: a token carries its issue day and unsubscribes for a year. An expired
    link (GET) still explains, in Spanish, how to unsubscribe — a recent e-mail's link, a
    reply with «baja», the office's address — and a one-click POST with it is a clear 410
    that changes nothing. A first-release token (no date) works until ``LEGACY_UNTIL``."""
    settings = make_settings(tmp_path, free_port())
    ledger, key = await _ledger_with(tmp_path, settings, 3)
    today = datetime.now(UTC).date()
    expired = make_token(key, 1, token_day(today - timedelta(days=366)))
    fresh = make_token(key, 2, token_day(today - timedelta(days=364)))
    legacy = legacy_token(key, 3)
    app = create_app(settings, ledger)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://baja.test") as http:
            page = await http.get(f"/baja/{expired}")
            assert page.status_code == 410
            for words in ("venció", "baja", "correo reciente", "mailto:prensa@bucaramanga.gov.co"):
                assert words in page.text
            one_click = {"List-Unsubscribe": "One-Click"}
            refused = await http.post(f"/baja/{expired}", data=one_click)
            assert refused.status_code == 410 and "no se hizo ningún cambio" in refused.text
            assert (await http.post(f"/baja/{fresh}", data=one_click)).status_code == 200
            assert (await http.get(f"/baja/{legacy}")).status_code == 200
            forged = f"3.{token_day(today)}.{legacy.split('.')[1]}"  # an old signature, dated
            assert (await http.post(f"/baja/{forged}", data=one_click)).status_code == 400
    with sqlite3.connect(tmp_path / "pregonero.db") as conn:
        states = dict(conn.execute("SELECT id, status FROM subscribers").fetchall())
    conn.close()
    assert states == {1: "active", 2: "unsubscribed", 3: "active"}
    assert check_token(key, legacy, today=LEGACY_UNTIL) == check_token(key, legacy)
    late = check_token(key, legacy, today=LEGACY_UNTIL + timedelta(days=1))
    assert late is not None and late.expired and late.subscriber_id == 3
    await ledger.close()


# -- finding 13: the SQLite ledger is owner-only -----------------------------------------


async def test_the_sqlite_ledger_and_its_journal_files_are_owner_only(tmp_path: Path) -> None:
    """Finding 13 (SQLite half): under the usual umask (022) a new ledger, its ``-wal`` and
    ``-shm`` are created 0600; a world-readable ledger of an earlier version is tightened
    when it is opened."""
    old_umask = os.umask(0o022)
    try:
        new = tmp_path / "nuevo.db"
        ledger = Ledger.from_url(f"sqlite:///{new}")
        await ledger.init()
        await ledger.secret_key()  # a write: the WAL exists now
        files = [new, Path(f"{new}-wal"), Path(f"{new}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: f.stat().st_mode & 0o777 for f in files} == {f.name: 0o600 for f in files}
        await ledger.close()

        old = tmp_path / "anterior.db"
        conn = sqlite3.connect(old)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        assert old.stat().st_mode & 0o777 == 0o644
        ledger = Ledger.from_url(f"sqlite:///{old}")
        await ledger.init()
        conn.close()
        files = [old, Path(f"{old}-wal"), Path(f"{old}-shm")]
        assert {f.name: f.stat().st_mode & 0o777 for f in files if f.exists()} == {
            f.name: 0o600 for f in files if f.exists()
        }
        await ledger.close()
    finally:
        os.umask(old_umask)


# -- finding 14: no live e-mail with localhost links -------------------------------------


def test_live_mail_refuses_localhost_and_plain_http_links(tmp_path: Path) -> None:
    """Finding 14: with no public URL the links would be ``http://localhost…``: ``mail
    send`` refuses naming ``PREGONERO_WEB__PUBLIC_URL`` (and the derived unsubscribe link
    is on ``serve``'s own port, 8080); a non-https public URL is refused too; ``channels
    check`` says so; the SMTP server never sees a connection."""
    sink = Watcher()
    with smtp_server(sink) as port:
        env = _env(tmp_path, **_smtp_env(port))
        send = _cli(tmp_path, env, "mail", "send")
        assert send.returncode == 2
        assert "PREGONERO_WEB__PUBLIC_URL" in send.stderr
        assert "http://localhost:8080/baja/" in send.stderr
        assert "PREGONERO_WEBSITE__BASE_URL" in send.stderr  # the articles' links too
        check = _cli(tmp_path, env, "channels", "check")
        line = next(x for x in check.stdout.splitlines() if x.startswith("mailing:"))
        assert check.returncode == 1 and "ERROR" in line and "PREGONERO_WEB__PUBLIC_URL" in line

        env.update(PREGONERO_WEB__PUBLIC_URL="http://prensa.example.org",
                   PREGONERO_WEBSITE__BASE_URL=SITE)  # fmt: skip
        plain = _cli(tmp_path, env, "mail", "send")
        assert plain.returncode == 2 and "no usa https" in plain.stderr
        assert "PREGONERO_WEB__PUBLIC_URL" in plain.stderr
        env["PREGONERO_WEB__PUBLIC_URL"] = "https://192.168.1.20"
        private = _cli(tmp_path, env, "mail", "send")
        assert private.returncode == 2 and "red privada" in private.stderr

        env["PREGONERO_WEB__PUBLIC_URL"] = PUBLIC
        fine = _cli(tmp_path, env, "mail", "send", "--date", "2026-11-25")
        assert fine.returncode == 0 and "No hay boletines" in fine.stdout, fine.stderr
    assert sink.messages == []


def test_run_warns_at_start_and_a_live_delivery_is_refused(workspace: Workspace) -> None:
    """Finding 14: ``run`` says at start that live mail would carry localhost links (naming
    ``PREGONERO_WEB__PUBLIC_URL``), and the item's live mailing delivery fails with that
    reason instead of mailing anyone: the subscriber gets nothing."""
    sink = Watcher()
    with smtp_server(sink) as port:
        env = workspace.env
        env.pop("PREGONERO_WEBSITE__BASE_URL")  # the default: http://localhost:8000/
        env.update(_smtp_env(port))
        lista = workspace.root / "lista.csv"
        lista.write_text(
            "email,name,audiences,consent_at,consent_source\n"
            "ana@example.org,Ana,periodistas,2026-01-10,formulario web\n",
            encoding="utf-8",
        )
        workspace.cli("subscribers", "import", str(lista), check=True)
        workspace.drop_examples([INFORME])
        run = workspace.cli("run", "--once")
        assert run.returncode == 3, run.stdout + run.stderr
        start = run.stderr.splitlines()[:10]
        assert any("AVISO" in x and "PREGONERO_WEB__PUBLIC_URL" in x for x in start), run.stderr
        status = workspace.cli("status", INFORME.removesuffix(".md"))
        mailing = next(x for x in status.stdout.splitlines() if x.strip().startswith("mailing"))
        assert "falló" in mailing and "PREGONERO_WEB__PUBLIC_URL" in mailing
    # no message was even begun; the one connection allowed is the day's channel canary
    # (it checks that the server answers: EHLO, no MAIL)
    assert sink.senders == [] and sink.messages == [] and len(sink.greetings) <= 1


def test_serve_and_the_derived_unsubscribe_links_share_one_default_port() -> None:
    """Finding 14: by default ``serve`` listens on 8080 and the derived unsubscribe links
    point there; ``PREGONERO_WEB__PORT`` moves both; a public website keeps its origin."""
    from dispatcher.web.server import server_config

    default = Settings(_env_file=None)
    assert default.public_url == f"http://localhost:{default.web.port}" == "http://localhost:8080"
    assert server_config(default).port == 8080
    moved = Settings(web={"port": 9000}, _env_file=None)
    assert moved.public_url == "http://localhost:9000" and server_config(moved).port == 9000
    public = Settings(website={"base_url": SITE}, _env_file=None)
    assert public.public_url == "https://www.bucaramanga.gov.co"
