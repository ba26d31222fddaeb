"""Digest deliveries (plan mode ``digest``) against the real CLI and a real SMTP server:
a boletín's mailing is ``en espera del boletín`` until the bulletin mail leaves, and a
boletín accepted while mailing was off (outbox mode) joins its day's bulletin later."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatcher.ledger.records import DeliveryRecord
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import DeliveryStatus
from dispatcher.services.context import App
from dispatcher.services.delivery.jobs import deliver
from dispatcher.services.mailing.bulletin import send_daily_bulletin
from tests.conftest import Workspace
from tests.test_mailing_channel import NOON, _item, _plan
from tests.test_mailing_support import (
    FROM,
    PUBLIC,
    Sink,
    add_subscribers,
    make_settings,
    new_ledger,
    smtp_server,
    subscriber_rows,
)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
PARK = "2026-11-03-parque-san-pio-reabre"
TZ = ZoneInfo("America/Bogota")


def _today() -> date:
    return datetime.now(TZ).date()


def _quiet_slot(ws: Workspace) -> None:
    """Move the plan's bulletin time 8 h ahead of now, so no ``run --once`` of the test
    sends the day's bulletin by itself: only ``mail send`` does."""
    plan = ws.content / "plan.yaml"
    at = (datetime.now(TZ) + timedelta(hours=8)).strftime("%H:%M")
    plan.write_text(
        re.sub(r'at: "\d\d:\d\d"', f'at: "{at}"', plan.read_text("utf-8")), encoding="utf-8"
    )


def _live(ws: Workspace, port: int) -> None:
    ws.env.update(
        PREGONERO_SMTP__HOST="127.0.0.1",
        PREGONERO_SMTP__PORT=str(port),
        PREGONERO_SMTP__FROM=FROM,
        PREGONERO_WEB__PUBLIC_URL=PUBLIC,
    )


def _subscribe(ws: Workspace) -> None:
    lista = ws.root / "lista.csv"
    lista.write_text(
        "email,name,audiences,consent_at,consent_source\n"
        "ana@example.org,Ana,periodistas,2026-01-10,formulario web\n"
        "luis@example.org,Luis,ciudadania,2026-01-10,formulario web\n"
        "gema@example.org,Gema,gremios,2026-01-10,formulario web\n",
        encoding="utf-8",
    )
    ws.cli("subscribers", "import", str(lista), check=True)


def _mailing(ws: Workspace) -> tuple[str, str | None, str | None, int, str | None]:
    with sqlite3.connect(ws.root / "pregonero.db") as db:
        row = db.execute(
            "SELECT status, remote_id, sent_at, attempts, mode FROM deliveries "
            "WHERE item_id = ? AND channel = 'mailing'",
            (PARK,),
        ).fetchone()
    assert row is not None
    return row


def test_a_digest_mailing_waits_for_the_bulletin_until_it_leaves(workspace: Workspace) -> None:
    _quiet_slot(workspace)
    sink = Sink()
    with smtp_server(sink) as port:
        _live(workspace, port)
        _subscribe(workspace)
        workspace.drop_examples([f"{PARK}.md"])
        first = workspace.cli("run", "--once", timeout=180)
        assert first.returncode == 0, first.stderr
        day = _today().isoformat()
        status, remote_id, sent_at, attempts, _ = _mailing(workspace)
        assert (status, remote_id, sent_at) == ("waiting_bulletin", f"digest:{day}", None)
        assert sink.messages == []
        shown = workspace.cli("status", PARK, check=True).stdout
        assert re.search(r"mailing.*: en espera del boletín", shown), shown

        again = workspace.cli("run", "--once", timeout=180)  # handled: not claimed again
        assert again.returncode == 0, again.stderr
        assert _mailing(workspace)[:4] == (status, remote_id, None, attempts)

        sent = workspace.cli("mail", "send", "--date", day, timeout=180)
        assert sent.returncode == 0, sent.stderr
        assert sorted(sink.count()) == ["ana@example.org", "luis@example.org"]
        status, remote_id, sent_at, _, _ = _mailing(workspace)
        assert (status, remote_id) == ("sent", "campaign:1") and sent_at is not None
        shown = workspace.cli("status", PARK, check=True).stdout
        assert re.search(r"mailing.*: enviado", shown) and "en espera" not in shown, shown


def test_a_boletin_accepted_while_mailing_was_off_joins_its_days_bulletin(
    workspace: Workspace,
) -> None:
    _quiet_slot(workspace)
    _subscribe(workspace)
    workspace.drop_examples([f"{PARK}.md"])
    first = workspace.cli("run", "--once", timeout=180)  # no SMTP: mailing in outbox mode
    assert first.returncode == 0, first.stderr
    assert _mailing(workspace)[0] == "sent" and _mailing(workspace)[4] == "outbox"
    assert list((workspace.outbox / "mailing").iterdir())

    sink = Sink()
    with smtp_server(sink) as port:
        _live(workspace, port)
        sent = workspace.cli("mail", "send", "--date", _today().isoformat(), timeout=180)
        assert sent.returncode == 0, sent.stderr + sent.stdout
        assert "2 enviado(s)" in sent.stdout
        assert sorted(sink.count()) == ["ana@example.org", "luis@example.org"]
        body = sink.parsed()[0].get_body(("plain",))
        assert body is not None
        assert "El parque San Pío reabre" in body.get_content()
        # only its own day: the same items are not swept into another day's bulletin
        other = (_today() + timedelta(days=1)).isoformat()
        later = workspace.cli("mail", "send", "--date", other, timeout=180)
        assert later.returncode == 0 and "No hay boletines" in later.stdout
        assert len(sink.messages) == 2


async def _waiting_app(tmp_path: Path, port: int, **smtp: object) -> tuple[App, int]:
    settings = make_settings(tmp_path, port, **smtp)
    ledger = await new_ledger(settings)
    app = App(settings=settings, ledger=ledger, plan=_plan(), clock=lambda: NOON)
    await add_subscribers(ledger, settings, subscriber_rows(3, "ciudadania"))
    item = _item(f"{PARK}.md", app.plan)
    await ledger.add_item(item, ["website", "mailing"], status="ready")
    rows = await ledger.deliveries_for([item.id])
    mailing = next(row.id for row in rows if row.channel == "mailing")
    with sqlite3.connect(settings.resolved_database_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE deliveries SET status = 'sent' WHERE channel = 'website'")
        db.execute(
            "UPDATE items SET url = 'https://www.bucaramanga.gov.co/p/' WHERE id = ?", (PARK,)
        )
    return app, mailing


async def _delivery(ledger: Ledger, delivery_id: int) -> DeliveryRecord:
    return (await ledger.deliveries_by_id([delivery_id]))[delivery_id]


async def test_waiting_is_handled_not_open_and_a_failed_bulletin_fails_it(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink, auth=("prensa", "clave")) as port:
        app, mailing = await _waiting_app(
            tmp_path, port, username="prensa", password="mala", allow_plain_auth=True
        )
        ctx = {"app": app}
        assert await deliver(ctx, mailing) == "waiting_bulletin"
        row = await _delivery(app.ledger, mailing)
        assert row.status == DeliveryStatus.WAITING_BULLETIN and row.sent_at is None
        assert row.remote_id == "digest:2026-11-25"
        # neither claimed again, nor open work, nor recovered as stuck
        assert await deliver(ctx, mailing) == "skipped"
        assert await app.ledger.count_open() == 0
        assert await app.ledger.recover() == {"unknown": 0, "pending": 0}
        assert (await _delivery(app.ledger, mailing)).status == "waiting_bulletin"

        refused = await send_daily_bulletin(app, date(2026, 11, 25))
        assert refused.auth and sink.messages == []
        row = await _delivery(app.ledger, mailing)
        assert row.status == "failed" and "no salió" in str(row.last_error)
        assert "mala" not in str(row.last_error)
        await app.aclose()

        # the same bulletin, resumed with the right password, leaves: the delivery is sent
        fixed = make_settings(
            tmp_path, port, username="prensa", password="clave", allow_plain_auth=True
        )
        ledger = await new_ledger(fixed)
        app = App(settings=fixed, ledger=ledger, plan=_plan(), clock=lambda: NOON)
        done = await send_daily_bulletin(app, date(2026, 11, 25))
        assert done.complete and len(sink.messages) == 3
        row = await _delivery(ledger, mailing)
        assert row.status == "sent" and row.remote_id == "campaign:1"
        assert isinstance(row.sent_at, datetime) and row.sent_at <= datetime.now(UTC)
        await app.aclose()


async def test_a_cancelled_item_stops_waiting_for_the_bulletin(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        app, mailing = await _waiting_app(tmp_path, port)
        assert await deliver({"app": app}, mailing) == "waiting_bulletin"
        await app.ledger.cancel(PARK)
        result = await send_daily_bulletin(app, date(2026, 11, 25))
        assert result.campaigns == () and sink.messages == []
        row = await _delivery(app.ledger, mailing)
        assert row.status == "cancelled" and "cancelado" in str(row.last_error)
        await app.aclose()
