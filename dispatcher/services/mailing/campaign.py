"""The campaign sender: a pool of persistent aiosmtplib connections under a rate cap,
with every recipient's state in the ledger.

Crash safety ("at most one duplicate per open connection"): a connection marks its next
recipient ``sending`` and waits for that commit before the message content; outcomes are
submitted as soon as they are known, and the journal commits in submission order. So when
a ``sending`` mark is committed, that connection's previous outcome is committed too: at
any instant each connection has at most one delivered message not recorded as ``sent``.
After a kill -9 the next run re-sends only the rows not ``sent`` (≤ one per connection may
then arrive twice, with the same Message-ID).

Speed: the journal is a group commit — every connection's marks and outcomes that arrive
while one commit runs go into the next — so the ledger costs one small transaction per
batch, not per message; MAIL, RCPT and DATA go out (pipelined, see ``wire.py``) while
the mark is being committed.

Outcomes (see ``pool.py``): 2xx → ``sent``; 5xx at RCPT or DATA → ``failed`` with the
server's reply, the rest continue; 4xx, a dropped connection or a timeout → ``retry``,
re-sent in this run after a backoff, at most ``MAX_ATTEMPTS`` times, then ``failed``. A
refused sender (5xx to MAIL) or refused credentials stop the run.

On SQLite one run holds the campaign's lease (owner + heartbeat in ``mail_campaigns``),
so two processes never send the same campaign at once; a lease whose process died on this
machine (kill -9) or whose heartbeat is older than ``LEASE`` is taken over. On PostgreSQL
any number of processes share a campaign by claiming batches of recipients (see
``dispatcher.ledger.claims`` and ``sources.py``); the same per-connection bound holds for
each of them, and with Redis configured the rate cap is one bucket for all of them
(``ratelimit.py``).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosmtplib
from aiolimiter import AsyncLimiter

from dispatcher.ledger import mail as store
from dispatcher.ledger.claims import beat_shared, release_claims, shared_campaigns
from dispatcher.ledger.journal import Journal
from dispatcher.ledger.leases import CAMPAIGN_LEASE, MAILING_ROLE, owner_alive, owner_id
from dispatcher.ledger.mail import OPEN_RECIPIENT
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import RecipientStatus
from dispatcher.services.mailing.invite import campaign_calendar
from dispatcher.services.mailing.message import DkimKey, MailContent, MessageTemplate, Sender
from dispatcher.services.mailing.pool import UNLIMITED, Limiter, Stop, run_pool
from dispatcher.services.mailing.preflight import MailConfigError, plain_auth_problem
from dispatcher.services.mailing.ratelimit import shared_limiter
from dispatcher.services.mailing.redact import Redactor
from dispatcher.services.mailing.sources import Claims, Pages, Source
from dispatcher.services.mailing.tokens import token_key
from settings import Settings, SmtpSettings

log = logging.getLogger("pregonero.mailing")

LEASE = timedelta(seconds=CAMPAIGN_LEASE)
CLAIM_LEASE = 60.0
"""Seconds a shared campaign's claimed batch stays with its sender between renewals (the
journal renews it every heartbeat); a holder on another machine that stops renewing loses
its rows after this long, a killed one on this machine at once."""


@dataclass
class CampaignResult:
    """What a run did. ``left`` recipients are still open (the run stopped early);
    ``resent`` were found ``sending`` after a crash and sent again (possible duplicates)."""

    campaigns: tuple[int, ...] = ()
    total: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    left: int = 0
    resent: int = 0
    sent_now: int = 0
    elapsed: float = 0.0
    error: str | None = None
    fatal: bool = False
    auth: bool = False

    @property
    def complete(self) -> bool:
        return self.left == 0 and self.error is None

    @property
    def rate(self) -> float:
        return self.sent_now / self.elapsed if self.elapsed > 0 else 0.0

    def merge(self, other: CampaignResult) -> CampaignResult:
        return CampaignResult(
            campaigns=self.campaigns + other.campaigns,
            total=self.total + other.total, sent=self.sent + other.sent,
            failed=self.failed + other.failed, skipped=self.skipped + other.skipped,
            left=self.left + other.left, resent=self.resent + other.resent,
            sent_now=self.sent_now + other.sent_now, elapsed=self.elapsed + other.elapsed,
            error=self.error or other.error, fatal=self.fatal or other.fatal,
            auth=self.auth or other.auth,
        )  # fmt: skip

    def summary(self) -> str:
        """One Spanish line for logs and non-terminal output."""
        line = (
            f"{self.sent} enviado(s), {self.failed} fallido(s), {self.skipped} omitido(s), "
            f"{self.left} pendiente(s) de {self.total}"
        )
        if self.sent_now:
            line += f"; {self.sent_now} en esta pasada a {self.rate:,.0f} msg/s".replace(",", ".")
        if self.resent:
            line += f"; {self.resent} reenviado(s) tras una interrupción (posibles duplicados)"
        if self.error:
            line += f". Se detuvo: {self.error}"
        return line


ProgressCallback = Callable[[CampaignResult], None]


class CampaignBusy(Exception):
    """Another live process holds the campaign's lease."""


_RUNNING: set[int] = set()
"""Campaigns a run of this process is sending now (a worker does not join its own)."""


def sending_here(campaign_id: int) -> bool:
    """Whether a run in this process is sending ``campaign_id`` now."""
    return campaign_id in _RUNNING


def smtp_client(
    smtp: SmtpSettings, *, tls_context: ssl.SSLContext | None = None, timeout: float = 30.0
) -> aiosmtplib.SMTP:
    """An aiosmtplib client per the settings: plain, STARTTLS (required) or implicit TLS,
    logging in when a user name is set. Credentials without TLS are refused
    (:class:`~dispatcher.services.mailing.preflight.MailConfigError`) unless
    ``PREGONERO_SMTP__ALLOW_PLAIN_AUTH`` allows them."""
    plain = plain_auth_problem(smtp)
    if plain is not None:
        raise MailConfigError(plain)
    return aiosmtplib.SMTP(
        hostname=smtp.host or "localhost",
        port=smtp.port,
        use_tls=smtp.security == "tls",
        start_tls=smtp.security == "starttls",
        username=smtp.username,
        password=smtp.password.get_secret_value() if smtp.password else None,
        timeout=timeout,
        tls_context=tls_context,
    )


def _limiter(rate: float) -> AsyncLimiter:
    return AsyncLimiter(rate, 1.0) if rate >= 1 else AsyncLimiter(1, 1.0 / rate)


async def campaign_counts(ledger: Ledger, campaign_id: int) -> dict[RecipientStatus, int]:
    """How many recipients of the campaign are in each state."""
    return await store.recipient_counts(ledger, campaign_id)


def result_of(campaign_id: int, counts: dict[RecipientStatus, int]) -> CampaignResult:
    return CampaignResult(
        campaigns=(campaign_id,), total=sum(counts.values()),
        sent=counts.get(RecipientStatus.SENT, 0), failed=counts.get(RecipientStatus.FAILED, 0),
        skipped=counts.get(RecipientStatus.SKIPPED, 0),
        left=sum(counts.get(s, 0) for s in OPEN_RECIPIENT),
    )  # fmt: skip


class CampaignSender:
    """Sends campaigns from the ledger. One instance may run many campaigns, one at a time.

    ``tls_context`` overrides the system trust store (tests, private CAs); ``retry_delay``
    is the first backoff (doubled per attempt) for a recipient that got a 4xx or a dropped
    connection, and for reconnecting. Credentials without TLS are refused here
    (:class:`~dispatcher.services.mailing.preflight.MailConfigError`, a ``ValueError``);
    the links are checked by the callers that send live mail (``preflight``).
    """

    def __init__(
        self,
        ledger: Ledger,
        settings: Settings,
        *,
        tls_context: ssl.SSLContext | None = None,
        dkim: DkimKey | None = None,
        retry_delay: float = 1.0,
        command_timeout: float = 30.0,
        connect_attempts: int = 3,
        progress: ProgressCallback | None = None,
    ) -> None:
        if not settings.smtp.from_:
            raise ValueError("falta PREGONERO_SMTP__FROM (el remitente de los correos)")
        plain = plain_auth_problem(settings.smtp)
        if plain is not None:
            raise MailConfigError(plain)
        self.ledger, self.settings = ledger, settings
        self.sender = Sender.parse(settings.smtp.from_)
        self.tls_context = tls_context
        self.dkim = dkim if dkim is not None else DkimKey.from_settings(settings)
        self.retry_delay = retry_delay
        self.command_timeout = command_timeout
        self.connect_attempts = connect_attempts
        self.progress = progress
        self.limiter = _limiter(settings.smtp.rate)
        self.redact = Redactor.for_smtp(settings.smtp)
        """Applied to every reply and reason the sender keeps (credentials never stored)."""
        self._reported = 0.0

    def client(self) -> aiosmtplib.SMTP:
        return smtp_client(
            self.settings.smtp, tls_context=self.tls_context, timeout=self.command_timeout
        )

    async def run(self, campaign_id: int, *, join: bool = False) -> CampaignResult:
        """Send every open recipient of the campaign; safe to call again after any stop.

        On a ledger that shares campaigns (PostgreSQL, see ``dispatcher.ledger.claims``)
        the run claims batches beside any other process sending the same campaign, and
        waits at the end for the rows those still hold; ``join`` (a worker lending a
        hand) leaves instead as soon as nothing is left to claim, and never waits. On
        SQLite the run holds the campaign's lease (:class:`CampaignBusy` when another live
        process does)."""
        started = time.monotonic()
        campaign = await store.get_campaign(self.ledger, campaign_id)
        before = await campaign_counts(self.ledger, campaign_id)
        if not any(before.get(s) for s in OPEN_RECIPIENT):
            await self._finish(campaign_id, None)
            return result_of(campaign_id, before)
        calendar = await campaign_calendar(self.ledger, self.settings, campaign)
        template = MessageTemplate(
            MailContent(campaign.subject, campaign.text, campaign.html, calendar),
            sender=self.sender, list_id=campaign.list_id, list_name=campaign.list_name,
            unsubscribe_base=self.settings.public_url, nonce=campaign.nonce,
            date=datetime.now(self.settings.tz), dkim=self.dkim,
        )  # fmt: skip
        key = await token_key(self.settings, self.ledger)
        owner = owner_id(MAILING_ROLE, per_process=True, unique=True)
        shared = shared_campaigns(self.ledger)
        source: Source
        if shared:
            smtp = self.settings.smtp
            source = Claims(
                self.ledger, campaign_id, owner, lease=CLAIM_LEASE, finish=not join,
                connections=smtp.connections, rate=smtp.rate,
            )  # fmt: skip
            await beat_shared(self.ledger, campaign_id)
        else:
            await self._acquire(campaign_id, owner)
            source = Pages(self.ledger, campaign_id, resent=before.get(RecipientStatus.SENDING, 0))
        error: Stop | None = None
        journal = Journal(
            self.ledger, campaign_id, owner, claim_lease=CLAIM_LEASE if shared else None
        )
        base = result_of(campaign_id, before)
        if self.progress is not None:
            journal.on_commit = lambda: self._report(base, journal, started)
        _RUNNING.add(campaign_id)
        try:
            async with self._limiter(shared) as limiter:
                error = await run_pool(self, journal, template, key, campaign_id, source, limiter)
        finally:
            _RUNNING.discard(campaign_id)
            try:
                await journal.close()
            finally:
                if shared:
                    await release_claims(self.ledger, campaign_id, owner)
                await self._finish(campaign_id, None if shared else owner)
        if self.progress is not None:
            self._report(base, journal, started, final=True)
        result = result_of(campaign_id, await campaign_counts(self.ledger, campaign_id))
        result.resent = source.resent
        result.sent_now = journal.counts["sent"]
        result.elapsed = time.monotonic() - started
        if error is not None:
            reason = self.redact(error.reason)
            result.error, result.fatal, result.auth = reason, not error.retryable, error.auth
        log.info("campaña %s: %s", campaign_id, result.summary())
        return result

    @contextlib.asynccontextmanager
    async def _limiter(self, shared: bool) -> AsyncIterator[Limiter]:
        """The rate cap: this sender's own, or — for a shared campaign with Redis
        configured — one token bucket in Redis for every process sending through the same
        SMTP server, so ``PREGONERO_SMTP__RATE`` holds for the campaign as a whole."""
        smtp = self.settings.smtp
        url = self.settings.redis_url
        if not shared or not url or smtp.rate >= UNLIMITED:
            yield self.limiter
            return
        async with shared_limiter(url, f"{smtp.host}:{smtp.port}", smtp.rate) as limiter:
            yield limiter

    def _report(
        self, base: CampaignResult, journal: Journal, started: float, *, final: bool = False
    ) -> None:
        assert self.progress is not None
        now = time.monotonic()
        if not final and now - self._reported < 0.1:
            return
        self._reported = now
        done = journal.counts
        snapshot = CampaignResult(
            campaigns=base.campaigns, total=base.total, sent=base.sent + done["sent"],
            failed=base.failed + done["failed"], skipped=base.skipped + done["skipped"],
            sent_now=done["sent"], elapsed=time.monotonic() - started,
        )  # fmt: skip
        snapshot.left = snapshot.total - snapshot.sent - snapshot.failed - snapshot.skipped
        self.progress(snapshot)

    async def _acquire(self, campaign_id: int, me: str) -> None:
        """Take the campaign's lease: free, stale (no heartbeat for LEASE), or held by a
        process of this machine that no longer exists (a kill -9)."""
        holder = await store.take_lease(
            self.ledger, campaign_id, me, stale_after=LEASE, alive=owner_alive
        )
        if holder is not None:
            raise CampaignBusy(f"la campaña {campaign_id} ya se está enviando ({holder})")

    async def _finish(self, campaign_id: int, owner: str | None) -> None:
        """Release the lease; the campaign is ``done`` when no recipient is open."""
        await store.release_lease(self.ledger, campaign_id, owner)
