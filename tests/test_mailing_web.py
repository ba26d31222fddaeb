"""``serve`` over real HTTP (uvicorn in a thread, httpx): one-click unsubscribe, the
confirmation page, tampered and unknown tokens, health; the next mailing skips the address."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from dispatcher.ledger.schema import audience_mask
from dispatcher.services.mailing.bulletin import item_campaign
from dispatcher.services.mailing.campaign import CampaignSender
from dispatcher.services.mailing.message import MailContent
from dispatcher.services.mailing.tokens import make_token, token_key
from tests.desk_support import serving
from tests.test_mailing_support import (
    Sink,
    add_subscribers,
    make_settings,
    new_ledger,
    smtp_server,
    subscriber_rows,
)


def _status(tmp_path: Path, subscriber_id: int) -> str:
    with sqlite3.connect(tmp_path / "pregonero.db") as db:
        row = db.execute("SELECT status FROM subscribers WHERE id = ?", (subscriber_id,))
        return str(row.fetchone()[0])


async def test_one_click_unsubscribe_over_http(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as smtp_port:
        settings = make_settings(tmp_path, smtp_port)
        ledger = await new_ledger(settings)
        await add_subscribers(ledger, settings, subscriber_rows(3))
        key = await token_key(settings, ledger)
        token = make_token(key, 2)  # persona1@example.org
        with serving(settings) as base:
            async with httpx.AsyncClient(base_url=base) as http:
                await _exercise(tmp_path, http, key, token)

        campaign_id = await item_campaign(
            ledger, item_id="nota", revision=1,
            content=MailContent("Nota", "Texto", "<p>Texto</p>"),
            audiences=audience_mask(["ciudadania"]), list_id=("nota.example", "Nota"),
        )  # fmt: skip
        result = await CampaignSender(ledger, settings).run(campaign_id)
        assert (result.total, result.sent) == (2, 2)
        assert set(sink.count()) == {"persona0@example.org", "persona2@example.org"}
        await ledger.close()


async def _exercise(tmp_path: Path, http: httpx.AsyncClient, key: bytes, token: str) -> None:
    page = await http.get(f"/baja/{token}")
    assert page.status_code == 200
    assert "Cancelar mi suscripción" in page.text and "p***@example.org" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert _status(tmp_path, 2) == "active"  # a GET never unsubscribes

    one_click = {"List-Unsubscribe": "One-Click"}
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, "2.x", "nada", make_token(b"otra-clave", 2)):
        assert (await http.post(f"/baja/{bad}", data=one_click)).status_code == 400
        assert (await http.get(f"/baja/{bad}")).status_code == 400
    unknown = make_token(key, 999)
    assert (await http.post(f"/baja/{unknown}", data=one_click)).status_code == 404
    assert (await http.get(f"/baja/{unknown}")).status_code == 404
    assert {_status(tmp_path, i) for i in (1, 2, 3)} == {"active"}

    # RFC 8058: a bare POST, no cookie, no login.
    done = await http.post(
        f"/baja/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "canceló su suscripción" in done.text
    assert not http.cookies
    assert _status(tmp_path, 2) == "unsubscribed"
    assert (await http.post(f"/baja/{token}")).status_code == 200  # twice is fine
    already = await http.get(f"/baja/{token}")
    assert already.status_code == 200 and "ya está cancelada" in already.text
    assert "Cancelar mi suscripción" not in already.text

    health = await http.get("/salud")
    assert health.status_code == 200
    assert health.json() == {"estado": "ok", "base_de_datos": "ok"}
