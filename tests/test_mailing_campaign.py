"""The campaign sender against a real SMTP server (aiosmtpd in a thread): personal
messages, partial refusals, 421 and hang-ups, STARTTLS + AUTH, resuming, the lease."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import sqlite3
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import SecretStr

from dispatcher.ledger.journal import Journal
from dispatcher.ledger.schema import audience_mask
from dispatcher.ledger.store import Ledger
from dispatcher.render.renderer import UNSUBSCRIBE_PLACEHOLDER as P
from dispatcher.services.mailing.bulletin import item_campaign, list_for
from dispatcher.services.mailing.campaign import CampaignBusy, CampaignSender
from dispatcher.services.mailing.message import MailContent
from dispatcher.services.mailing.subscribers import unsubscribe
from dispatcher.services.mailing.tokens import read_token, token_key
from settings import Settings
from tests.test_mailing_support import (
    Sink,
    add_subscribers,
    free_port,
    make_settings,
    new_ledger,
    smtp_server,
    subscriber_rows,
)

CONTENT = MailContent(
    "Informe especial: alimentación escolar",
    f"Hola.\n\nEl informe completo está en la web.\n\nBaja: {P}\n",
    f'<p>Hola.</p><p>El informe completo está en la web.</p><p><a href="{P}">Baja</a></p>',
)


async def _campaign(ledger: Ledger, audiences: list[str] | None = None) -> int:
    return await item_campaign(
        ledger, item_id="2026-11-24-informe", revision=1, content=CONTENT,
        audiences=audience_mask(audiences or ["ciudadania"]),
        list_id=list_for("informe_especial", "Informe especial", "bucaramanga.gov.co"),
    )  # fmt: skip


def _statuses(tmp_path: Path) -> dict[str, tuple[str, int, str | None]]:
    with sqlite3.connect(tmp_path / "pregonero.db") as db:
        rows = db.execute(
            "SELECT s.email, r.status, r.attempts, r.reply FROM mail_recipients r "
            "JOIN subscribers s ON s.id = r.subscriber_id"
        ).fetchall()
    return {email_: (status, attempts, reply) for email_, status, attempts, reply in rows}


async def _setup(
    tmp_path: Path, port: int, count: int = 40, **smtp: Any
) -> tuple[Settings, Ledger]:
    settings = make_settings(tmp_path, port, **smtp)
    ledger = await new_ledger(settings)
    await add_subscribers(ledger, settings, subscriber_rows(count))
    return settings, ledger


async def test_each_subscriber_gets_one_personal_message(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        settings, ledger = await _setup(tmp_path, port, 30)
        await add_subscribers(ledger, settings, subscriber_rows(5, "periodistas", start=100))
        await unsubscribe(ledger, 3)  # persona2 leaves before the campaign
        campaign_id = await _campaign(ledger)
        await unsubscribe(ledger, 4)  # persona3 leaves after it was created: skipped too
        snapshots: list[int] = []
        sender = CampaignSender(ledger, settings, progress=lambda r: snapshots.append(r.sent))
        result = await sender.run(campaign_id)

        assert (result.total, result.sent, result.skipped, result.left) == (29, 28, 1, 0)
        assert result.complete and snapshots[-1] == 28
        counts = sink.count()
        assert len(counts) == 28 and set(counts.values()) == {1}
        assert "persona2@example.org" not in counts and "persona3@example.org" not in counts
        assert "persona100@example.org" not in counts  # another audience
        key = await token_key(settings, ledger)
        ids = {row: i + 1 for i, row in enumerate(r[0] for r in subscriber_rows(30))}
        for msg in sink.parsed():
            to = str(msg["To"])
            link = str(msg["List-Unsubscribe"]).split(">")[0].lstrip("<")
            assert link.startswith("https://pregonero.bucaramanga.gov.co/baja/")
            assert read_token(key, link.rsplit("/", 1)[1]) == ids[to]
            plain = msg.get_body(("plain",))
            assert plain is not None and link in plain.get_content()
        statuses = _statuses(tmp_path)
        assert statuses["persona0@example.org"][:2] == ("sent", 1)
        assert statuses["persona0@example.org"][2] == "250 2.0.0 Ok: queued"
        assert statuses["persona3@example.org"][0] == "skipped"

        again = await sender.run(campaign_id)
        assert again.sent_now == 0 and again.sent == 28 and len(sink.messages) == 28
        await ledger.close()


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
async def test_partial_refusals_fail_only_those_recipients(
    tmp_path: Path, pipelining: bool
) -> None:
    sink = Sink(
        refuse={
            "persona1@example.org": "550 5.1.1 el buzón no existe",
            "persona7@example.org": "553 5.1.3 dirección rechazada",
        },
        soft_refuse={"persona2@example.org": 1, "persona3@example.org": 99},
        pipelining=pipelining,
    )
    with smtp_server(sink) as port:
        settings, ledger = await _setup(tmp_path, port, 20)
        sender = CampaignSender(ledger, settings, retry_delay=0.02)
        result = await sender.run(await _campaign(ledger))
        assert (result.sent, result.failed, result.left) == (17, 3, 0)
        statuses = _statuses(tmp_path)
        assert statuses["persona1@example.org"] == ("failed", 1, "550 5.1.1 el buzón no existe")
        assert statuses["persona7@example.org"][0] == "failed"
        assert statuses["persona2@example.org"][:2] == ("sent", 2)  # 450 once, then accepted
        status, attempts, reply = statuses["persona3@example.org"]
        assert (status, attempts) == ("failed", 3)
        assert reply is not None and reply.startswith("450") and "tras 3 intentos" in reply
        assert set(sink.count()) == {f"persona{i}@example.org" for i in range(20)} - {
            "persona1@example.org", "persona3@example.org", "persona7@example.org",
        }  # fmt: skip
        await ledger.close()


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
async def test_421_and_hang_ups_mid_campaign_are_retried(tmp_path: Path, pipelining: bool) -> None:
    # Transactions are counted at MAIL: 421 on the 5th and 33rd, the server hangs up on
    # the 20th, and on the 50th it keeps the message but drops the line before replying.
    sink = Sink(
        reply_421_at={5, 33}, drop_mail_at={20}, hangup_after_data_at={50},
        pipelining=pipelining,
    )  # fmt: skip
    with smtp_server(sink) as port:
        settings, ledger = await _setup(tmp_path, port, 120, connections=3)
        result = await CampaignSender(ledger, settings, retry_delay=0.02).run(
            await _campaign(ledger)
        )
        assert (result.sent, result.failed, result.left) == (120, 0, 0)
        counts = sink.count()
        assert set(counts) == {f"persona{i}@example.org" for i in range(120)}
        duplicates = sum(n - 1 for n in counts.values())
        assert duplicates == 1  # the message whose reply was lost with the connection
        assert duplicates <= settings.smtp.connections
        retried = [v for v in _statuses(tmp_path).values() if v[1] > 1]
        assert len(retried) == 4  # 421 twice, the hang-up, the lost reply
        await ledger.close()


async def test_starttls_and_auth(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    sink = Sink()
    with smtp_server(sink, tls_context=server_ctx, auth=("prensa", "s3creta")) as port:
        settings, ledger = await _setup(
            tmp_path, port, 10, security="starttls", username="prensa", password="s3creta"
        )
        campaign_id = await _campaign(ledger)
        result = await CampaignSender(ledger, settings, tls_context=client_ctx).run(campaign_id)
        assert result.sent == 10 and len(sink.messages) == 10

        wrong = settings.model_copy(
            update={"smtp": settings.smtp.model_copy(update={"password": SecretStr("otra")})}
        )
        other = await _campaign_for(ledger, "r2")
        bad = await CampaignSender(ledger, wrong, tls_context=client_ctx).run(other)
        assert bad.auth and bad.fatal and bad.sent == 0 and bad.left == 10
        assert bad.error is not None and "rechazó el usuario o la contraseña" in bad.error
        assert "otra" not in bad.error

        # Without the CA the certificate is refused: a configuration error, not a retry.
        untrusted = await CampaignSender(ledger, settings).run(other)
        assert untrusted.fatal and not untrusted.auth and untrusted.error is not None
        assert "TLS" in untrusted.error
        assert len(sink.messages) == 10
        await ledger.close()


async def _campaign_for(ledger: Ledger, revision: str) -> int:
    return await item_campaign(
        ledger, item_id=f"otro-{revision}", revision=1, content=CONTENT,
        audiences=audience_mask(["ciudadania"]), list_id=("x.example", "X"),
    )  # fmt: skip


async def test_server_down_leaves_everyone_pending_then_resumes(tmp_path: Path) -> None:
    port = free_port()
    settings, ledger = await _setup(tmp_path, port, 15)
    campaign_id = await _campaign(ledger)
    sender = CampaignSender(ledger, settings, retry_delay=0.01, connect_attempts=2)
    down = await sender.run(campaign_id)
    assert down.left == 15 and down.sent == 0 and not down.fatal
    assert down.error is not None and "no se pudo conectar" in down.error
    assert {v[0] for v in _statuses(tmp_path).values()} == {"pending"}

    sink = Sink()
    with smtp_server_on(sink, port):
        up = await sender.run(campaign_id)
    assert up.complete and up.sent == 15 and len(sink.messages) == 15
    await ledger.close()


def smtp_server_on(sink: Sink, port: int) -> Any:
    from aiosmtpd.controller import Controller

    class _Running:
        def __enter__(self) -> None:
            self.controller = Controller(sink, hostname="127.0.0.1", port=port)
            self.controller.start()

        def __exit__(self, *exc: object) -> None:
            self.controller.stop()

    return _Running()


async def test_lease_keeps_a_second_sender_out_until_its_owner_is_gone(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        settings, ledger = await _setup(tmp_path, port, 5)
        campaign_id = await _campaign(ledger)
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        with sqlite3.connect(tmp_path / "pregonero.db") as db:
            alive = f"{os.uname().nodename}:{os.getpid()}:x"
            db.execute("UPDATE mail_campaigns SET owner = ?, heartbeat = ?", (alive, now))
        sender = CampaignSender(ledger, settings)
        with pytest.raises(CampaignBusy):
            await sender.run(campaign_id)
        assert sink.messages == []
        with sqlite3.connect(tmp_path / "pregonero.db") as db:  # a kill -9'd process
            dead = f"{os.uname().nodename}:{2**22 + 12345}:x"
            db.execute("UPDATE mail_campaigns SET owner = ?", (dead,))
        result = await sender.run(campaign_id)
        assert result.sent == 5
        with sqlite3.connect(tmp_path / "pregonero.db") as db:
            owner, status = db.execute("SELECT owner, status FROM mail_campaigns").fetchone()
        assert (owner, status) == (None, "done")
        await ledger.close()


def test_sink_parses_what_it_receives() -> None:
    raw = b"Subject: hola\r\n\r\ncuerpo\r\n"
    assert email.message_from_bytes(raw, policy=email.policy.default)["Subject"] == "hola"


async def test_journal_waits_off_the_loop_when_another_writer_holds_the_lock(
    tmp_path: Path,
) -> None:
    _, ledger = await _setup(tmp_path, free_port(), 3)
    campaign_id = await _campaign(ledger)
    other = sqlite3.connect(tmp_path / "pregonero.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. the dispatcher recording a delivery
    journal = Journal(ledger, campaign_id, "test")
    ticket = journal.mark(1)
    ticks = 0

    async def loop_is_alive() -> None:
        nonlocal ticks
        while not ticket.done():
            ticks += 1
            await asyncio.sleep(0.01)

    asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
    await asyncio.gather(ticket, loop_is_alive())
    assert ticks >= 10  # the event loop kept running while the commit waited
    journal.outcome(1, "sent", "250 ok")
    await journal.close()
    other.close()
    assert _statuses(tmp_path)["persona0@example.org"] == ("sent", 1, "250 ok")
    await ledger.close()
