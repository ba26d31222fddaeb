"""Shared pieces for the mailing tests (no tests here): a real aiosmtpd server in a thread
with a scriptable handler, a throw-away SQLite ledger, settings and subscribers."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

import dispatcher.ledger.schema  # noqa: F401  (registers every table)
from dispatcher.ledger.store import Ledger
from dispatcher.services.mailing.subscribers import csv_text, import_csv
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FROM = "Prensa Alcaldía <prensa@bucaramanga.gov.co>"
PUBLIC = "https://pregonero.bucaramanga.gov.co"
SITE = "https://www.bucaramanga.gov.co/noticias/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sink:
    """An aiosmtpd handler that keeps every accepted message and can misbehave on cue.

    ``refuse``: address → reply at RCPT (e.g. ``"550 5.1.1 no existe"``). ``soft_refuse``
    address → how many times to answer 450 first. ``drop_mail_at`` / ``reply_421_at``:
    transaction numbers (1-based, counted at MAIL) to hang up on / answer 421 to.
    ``hangup_after_data_at``: transaction numbers whose message is kept but whose
    connection is closed before the reply (the client cannot know it arrived).
    ``pipelining``: offer ``PIPELINING`` (RFC 2920) in the EHLO reply; aiosmtpd reads
    commands line by line, so pipelined commands work either way.
    """

    refuse: dict[str, str] = field(default_factory=dict)
    soft_refuse: dict[str, int] = field(default_factory=dict)
    drop_mail_at: set[int] = field(default_factory=set)
    reply_421_at: set[int] = field(default_factory=set)
    hangup_after_data_at: set[int] = field(default_factory=set)
    pipelining: bool = False
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    transactions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:  # fmt: skip
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.transactions += 1
            number = self.transactions
        if number in self.drop_mail_at:
            assert server.transport is not None
            server.transport.close()
            return "421 4.4.2 adiós"  # never reaches the client
        if number in self.reply_421_at:
            return "421 4.3.2 servicio no disponible, cierre la conexión"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        session.extra = number  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        with self.lock:
            left = self.soft_refuse.get(address, 0)
            if left:
                self.soft_refuse[address] = left - 1
                return "450 4.2.1 buzón ocupado, intente más tarde"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.lock:
            self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        if getattr(session, "extra", None) in self.hangup_after_data_at:
            assert server.transport is not None
            server.transport.close()
        return "250 2.0.0 Ok: queued"

    def count(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for _, rcpts, _ in self.messages for rcpt in rcpts)

    def parsed(self) -> list[EmailMessage]:
        with self.lock:
            raw = [content for _, _, content in self.messages]
        return [email.message_from_bytes(r, policy=email.policy.default) for r in raw]  # type: ignore[misc]


@contextmanager
def smtp_server(
    sink: Sink,
    *,
    tls_context: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = None,
) -> Iterator[int]:
    """Run aiosmtpd on a free port (``Controller(port=0)`` does not work); yield the port."""
    port = free_port()
    kwargs: dict[str, Any] = {}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    if auth is not None:

        def authenticator(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (data.login.decode(), data.password.decode()) == auth
            return AuthResult(success=ok, handled=False)

        kwargs.update(
            authenticator=authenticator, auth_required=True,
            auth_require_tls=tls_context is not None,
        )  # fmt: skip
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def make_settings(tmp_path: Path, port: int, **smtp: Any) -> Settings:
    options: dict[str, Any] = {
        "host": "127.0.0.1", "port": port, "from": FROM, "connections": 4, "rate": 100000,
    }  # fmt: skip
    options.update(smtp)
    content = tmp_path / "content"
    content.mkdir(exist_ok=True)
    return Settings(
        content_dir=content,
        database_url=f"sqlite:///{tmp_path / 'pregonero.db'}",
        smtp=options,  # type: ignore[arg-type]
        web={"public_url": PUBLIC},  # type: ignore[arg-type]
        website={"base_url": SITE},  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )


async def new_ledger(settings: Settings) -> Ledger:
    ledger = Ledger.from_url(settings.resolved_database_url)
    await ledger.init()
    return ledger


def subscriber_rows(
    count: int, audiences: str = "ciudadania", start: int = 0, domain: str = "example.org"
) -> list[list[str]]:
    return [
        [f"persona{i}@{domain}", f"Persona {i}", audiences, "2026-01-15", "formulario web"]
        for i in range(start, start + count)
    ]


async def add_subscribers(ledger: Ledger, settings: Settings, rows: list[list[str]]) -> None:
    import io

    header = ["email", "name", "audiences", "consent_at", "consent_source"]
    report = await import_csv(ledger, io.StringIO(csv_text([header, *rows])), tz=settings.tz)
    assert not report.errors and not report.fatal, report.lines()
