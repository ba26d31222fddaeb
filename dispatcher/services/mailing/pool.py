"""One pass over a campaign's open recipients: ``connections`` workers, each with one
persistent aiosmtplib connection, fed from the ledger page by page.

Per message: mark the recipient ``sending`` (journal), MAIL and RCPT while that commits,
wait for the commit, DATA. The message bytes are the campaign's template with this
recipient's slots filled, already on the wire's form (see ``message.py``), written to the
connection's protocol without aiosmtplib's per-message line-ending and dot-stuffing passes.

A recipient refused with 5xx fails with the server's reply; a 4xx, a 421, a dropped
connection or a timeout counts an attempt and the recipient comes back after the shared
backoff (from ``retry_delay``, doubling, with jitter), up to ``MAX_ATTEMPTS``. A worker that cannot connect
(after ``connect_attempts``) hands its recipient back and leaves; when none is left the
pass stops and the rest stays pending for the next run.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import aiosmtplib
from aiosmtplib import SMTPResponse

from dispatcher.ledger.journal import Journal
from dispatcher.ledger.types import SubscriberStatus
from dispatcher.services.delivery.backoff import backoff
from dispatcher.services.mailing.message import MessageTemplate
from dispatcher.services.mailing.sources import Source
from dispatcher.services.mailing.tokens import make_token, token_day
from dispatcher.services.mailing.wire import Wire

if TYPE_CHECKING:
    from dispatcher.services.mailing.campaign import CampaignSender

log = logging.getLogger("pregonero.mailing")

MAX_ATTEMPTS = 3
RECIPIENT_BACKOFF_MAX = 300.0
CONNECT_BACKOFF_MAX = 60.0
TAIL_POLL = 0.5
"""Seconds between looks at a shared campaign's last rows, while others still hold them."""
REPLY_MAX = 300
UNLIMITED = 1e9
"""A rate cap at or above this many messages/s is no cap: the limiter is skipped."""


class Stop(Exception):
    """The run cannot go on: ``retryable`` when a later run may succeed."""

    def __init__(self, reason: str, *, auth: bool = False, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.auth, self.retryable = reason, auth, retryable


class _Recipient(NamedTuple):
    id: int
    subscriber_id: int
    email: str
    attempts: int


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"[:REPLY_MAX]


class _NoConnection(Exception):
    pass


class Limiter(Protocol):
    async def acquire(self) -> None: ...


async def run_pool(
    sender: CampaignSender, journal: Journal, template: MessageTemplate, key: bytes,
    campaign_id: int, source: Source, limiter: Limiter,
) -> Stop | None:  # fmt: skip
    """Send what ``source`` gives; ``Stop`` (not raised) says why the pass ended early."""
    return await _Run(sender, journal, template, key, campaign_id, source, limiter).go()


class _Run:
    """One pass over a campaign's open recipients with ``connections`` workers."""

    def __init__(
        self, sender: CampaignSender, journal: Journal, template: MessageTemplate, key: bytes,
        campaign_id: int, source: Source, limiter: Limiter,
    ) -> None:  # fmt: skip
        self.s, self.journal, self.template, self.key = sender, journal, template, key
        self.campaign_id, self.source, self.limiter = campaign_id, source, limiter
        self.issued = token_day(datetime.now(UTC).date())  # the tokens' issue date, per pass
        self.redact = sender.redact  # credentials never reach a stored reply
        self.queue: asyncio.Queue[_Recipient | None] = asyncio.Queue()
        self.stopping = False
        self.stop: Stop | None = None
        self.connect_error: str | None = None
        self.requeues: set[asyncio.Task[None]] = set()
        self.room = asyncio.Event()  # the feeder waits for it when the queue is full
        self.mail_from = b"MAIL FROM:<" + sender.sender.address.encode("ascii") + b">\r\n"
        self.limited = sender.settings.smtp.rate < UNLIMITED

    async def go(self) -> Stop | None:
        workers = [
            asyncio.create_task(self.work(), name=f"mail-{self.campaign_id}-{i}")
            for i in range(self.s.settings.smtp.connections)
        ]
        feeder = asyncio.create_task(self.feed())
        finished = asyncio.create_task(self.finish(feeder))
        alive: set[asyncio.Task[Any]] = set(workers)
        try:
            while True:
                done, _ = await asyncio.wait(
                    alive | {finished}, return_when=asyncio.FIRST_COMPLETED
                )
                if finished in done:
                    finished.result()
                    break
                alive -= done
                for task in done:
                    task.result()  # an unexpected error propagates
                if self.stop is not None:
                    break
                if not alive:
                    self.stop = Stop(
                        self.connect_error or "no quedó ninguna conexión SMTP", retryable=True
                    )
                    break
        finally:
            self.stopping = True
            for task in (feeder, finished, *self.requeues):
                task.cancel()
            for _ in workers:
                self.queue.put_nowait(None)
            outcomes = await asyncio.gather(*workers, feeder, finished, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return self.stop

    async def finish(self, feeder: asyncio.Task[None]) -> None:
        await feeder
        await self.queue.join()

    async def feed(self) -> None:
        """Take recipients from the source a batch at a time, keeping about one batch
        queued (bounded memory; a shared campaign's claims not hoarded); skip those no
        longer active."""
        batch = self.source.batch
        while not self.stopping:
            if self.queue.qsize() >= batch // 2:
                self.room.clear()
                await self.room.wait()
            rows = await self.source.next()
            if rows is None:
                return
            if not rows:  # the rest is held by other processes: wait for them
                await asyncio.sleep(TAIL_POLL)
                continue
            for row in rows:
                if row.subscriber_status != SubscriberStatus.ACTIVE or not row.email:
                    reason = f"suscripción {row.subscriber_status.value}"
                    self.journal.outcome(row.id, "skipped", reason)
                else:
                    self.queue.put_nowait(
                        _Recipient(row.id, row.subscriber_id, row.email, row.attempts)
                    )

    async def work(self) -> None:
        wire: Wire | None = None
        try:
            while True:
                rec = await self.queue.get()
                if self.queue.qsize() < self.source.batch // 2:
                    self.room.set()
                if rec is None:
                    return
                if self.stopping:
                    self.queue.task_done()
                    continue
                try:
                    if wire is None or not wire.open:
                        wire = await self.connect()
                    if self.limited:
                        await self.limiter.acquire()
                    await self.send(wire, rec)
                except _NoConnection:
                    self.queue.put_nowait(rec)  # another connection may still take it
                    self.queue.task_done()
                    return
                except Stop as stop:
                    self.stop = self.stop or stop
                    self.stopping = True
                    self.queue.task_done()
                    return
                except BaseException:
                    self.queue.task_done()
                    raise
        finally:
            if wire is not None:
                await wire.quit()

    async def connect(self) -> Wire:
        where = f"{self.s.settings.smtp.host}:{self.s.settings.smtp.port}"
        for attempt in range(self.s.connect_attempts):
            if self.stopping:
                raise _NoConnection
            if attempt:
                await asyncio.sleep(
                    backoff(attempt, base=self.s.retry_delay, cap=CONNECT_BACKOFF_MAX)
                )
            smtp = self.s.client()
            try:
                await smtp.connect()
                if smtp.is_ehlo_or_helo_needed:
                    try:
                        await smtp.ehlo()
                    except aiosmtplib.SMTPHeloError:
                        await smtp.helo()
                return Wire.take_over(smtp)
            except aiosmtplib.SMTPAuthenticationError as exc:
                reply = self.reply(exc.code, exc.message)
                raise Stop(
                    f"el servidor SMTP rechazó el usuario o la contraseña ({reply})", auth=True
                ) from exc
            except (ssl.SSLError, ssl.CertificateError) as exc:
                raise Stop(self.redact(f"falló TLS con {where}: {exc}")) from exc
            except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected,
                    aiosmtplib.SMTPTimeoutError, OSError) as exc:  # fmt: skip
                if isinstance(exc.__cause__, ssl.SSLError):
                    raise Stop(self.redact(f"falló TLS con {where}: {exc.__cause__}")) from exc
                self.connect_error = self.redact(f"no se pudo conectar a {where}: {exc}")
            except aiosmtplib.SMTPException as exc:
                reason = f"no se pudo abrir la sesión SMTP con {where}: {exc}"
                raise Stop(self.redact(reason)) from exc
            smtp.close()
        log.warning("%s", self.connect_error)
        raise _NoConnection

    async def send(self, wire: Wire, rec: _Recipient) -> None:
        """One SMTP transaction. MAIL, RCPT and DATA go out (pipelined when the server
        offers it) while the ``sending`` mark commits; the message waits for that commit.
        One deadline per phase, not one timer per command."""
        ticket = self.journal.mark(rec.id)
        limit = self.s.command_timeout
        mail: SMTPResponse | None = None
        rcpt: SMTPResponse | None = None
        start: SMTPResponse | None = None
        try:
            to = rec.email.encode("ascii")  # no SMTPUTF8: such an address fails, alone
            if b"\r" in to or b"\n" in to or b">" in to:
                raise ValueError(to)
            async with asyncio.timeout(limit):
                rcpt_line = b"RCPT TO:<" + to + b">\r\n"
                if wire.pipelining:
                    wire.write(self.mail_from + rcpt_line + b"DATA\r\n")
                    mail, rcpt, start = await wire.replies(3)
                else:
                    wire.write(self.mail_from)
                    mail = await wire.reply()
                    if mail.code == 250:
                        wire.write(rcpt_line)
                        rcpt = await wire.reply()
                        if rcpt.code in (250, 251):
                            wire.write(b"DATA\r\n")
                            start = await wire.reply()
                if 421 in (mail.code, getattr(rcpt, "code", 0), getattr(start, "code", 0)):
                    wire.close()  # the server is closing the session
                elif (
                    start is None
                    or start.code != 354
                    or mail.code != 250
                    or (rcpt is None or rcpt.code not in (250, 251))
                ):
                    await self.reset(wire, start)
            await ticket
            failed = next(
                (r for r in (mail, rcpt) if r is not None and r.code not in (250, 251)), None
            )
            if failed is mail:
                if mail.code >= 500:
                    self.journal.outcome(rec.id, "pending", self.reply(*mail))
                    raise Stop(f"el servidor rechazó el remitente: {self.reply(*mail)}")
                return self.resolve(rec, False, self.reply(*mail))
            if failed is not None:
                return self.resolve(rec, failed.code >= 500, self.reply(*failed))
            assert start is not None
            if start.code != 354:
                return self.resolve(rec, start.code >= 500, self.reply(*start))
            token = make_token(self.key, rec.subscriber_id, self.issued)
            # Already CRLF, dot-stuffed and terminated (see message.py): written as is.
            wire.write(self.template.wire(rec.email, rec.id, token))
            async with asyncio.timeout(limit * 2):
                done = await wire.reply()
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException,
                OSError) as exc:  # fmt: skip
            wire.close()
            await ticket
            reason = "sin respuesta" if isinstance(exc, TimeoutError) else str(exc)
            return self.resolve(rec, False, self.redact(f"conexión perdida: {reason}"[:REPLY_MAX]))
        except (ValueError, UnicodeEncodeError):
            await ticket
            return self.resolve(rec, True, "dirección inválida para SMTP")
        if done.code != 250:
            return self.resolve(rec, done.code >= 500, self.reply(*done))
        self.journal.outcome(rec.id, "sent", self.reply(*done))
        self.queue.task_done()

    def reply(self, code: int, message: str) -> str:
        """The server's reply as stored: one line, bounded, credentials hidden."""
        text = _reply(code, message)
        return self.redact(text) if self.redact else text

    async def reset(self, wire: Wire, start: SMTPResponse | None) -> None:
        """Leave the transaction: an empty message if the server already said 354 (it
        has no valid recipient, so nothing is delivered), then RSET."""
        try:
            if start is not None and start.code == 354:
                wire.write(b".\r\n")
                await wire.reply()
            wire.write(b"RSET\r\n")
            await wire.reply()
        except (aiosmtplib.SMTPException, OSError):
            wire.close()

    def resolve(self, rec: _Recipient, permanent: bool, reply: str) -> None:
        """A refusal or a dropped connection: fail it, or retry it later in this run."""
        attempts = rec.attempts + 1
        if permanent or attempts >= MAX_ATTEMPTS:
            if not permanent:
                reply = f"{reply} (tras {attempts} intentos)"[:REPLY_MAX]
            self.journal.outcome(rec.id, "failed", reply)
            self.queue.task_done()
            return
        self.journal.outcome(rec.id, "retry", reply)
        task = asyncio.create_task(
            self.requeue(
                rec._replace(attempts=attempts),
                backoff(attempts, base=self.s.retry_delay, cap=RECIPIENT_BACKOFF_MAX),
            )
        )
        self.requeues.add(task)
        task.add_done_callback(self.requeues.discard)

    async def requeue(self, rec: _Recipient, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            self.queue.put_nowait(rec)
        finally:
            self.queue.task_done()
