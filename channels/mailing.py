"""The ``mailing`` channel: mass e-mail to the plan's audiences through SMTP.

Plan mode ``immediate``: ``publish`` creates the item's campaign (once per item revision;
one ledger row per recipient) and sends it, resuming where any earlier attempt stopped;
the receipt is ``campaign:<id>``. A post with ``meta["early"]`` true is the plan's early
call (``kinds.<kind>.early``, e.g. journalists 24 h before a press conference): always
sent at once, to the early rule's audiences, as a campaign of its own. Mode ``digest``: ``publish`` only records the item for
the daily bulletin (``digest:<YYYY-MM-DD>``), which ``send_daily_bulletin`` sends at the
plan's time. Resumable per recipient, so ``idempotent`` is true: re-running a delivery
never mails anyone twice (beyond one message per open connection after a crash).

Adapters are built from settings alone, but a campaign needs the ledger and the plan: the
adapter opens its own ledger engine from ``settings.resolved_database_url`` and loads the
plan on first use (tests and the dispatcher may pass their own instead).

Errors: refused credentials → ``AuthError``; a refused sender → ``PermanentError``;
unreachable server or a campaign still open → ``TransientError`` (the retry resumes it).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

import aiosmtplib

from channels.base import (
    AuthError,
    ChannelContext,
    CheckResult,
    PermanentError,
    Post,
    Receipt,
    Rejected,
    TransientError,
)

if TYPE_CHECKING:
    from dispatcher.items.plan import Plan
    from dispatcher.ledger.store import Ledger
    from dispatcher.services.mailing.campaign import CampaignSender
    from settings import Settings

BUSY_RETRY = 60.0


class MailingAdapter:
    name: ClassVar[str] = "mailing"
    idempotent: ClassVar[bool] = True
    publish_timeout: ClassVar[float | None] = None
    """A campaign to thousands takes minutes at the configured rate: no delivery timeout."""

    def __init__(
        self,
        settings: Settings,
        context: ChannelContext | None = None,
        *,
        ledger: Ledger | None = None,
        plan: Plan | None = None,
        tls_context: ssl.SSLContext | None = None,
        retry_delay: float = 1.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self._ledger, self._own_ledger = ledger, ledger is None
        self._plan = plan
        self._tls_context = tls_context
        self._retry_delay = retry_delay
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sender: CampaignSender | None = None

    async def _ready(self) -> tuple[Ledger, Plan, CampaignSender]:
        if self._ledger is None:
            import dispatcher.ledger.schema  # noqa: F401  (registers every table)
            from dispatcher.ledger.store import Ledger

            self._ledger = Ledger.from_url(self.settings.resolved_database_url)
            await self._ledger.init()
        if self._plan is None:
            from dispatcher.items.plan import load_plan
            from dispatcher.services.context import channel_names, plan_path

            self._plan = load_plan(plan_path(self.settings), channel_names())
        if self._sender is None:
            from dispatcher.services.mailing.campaign import CampaignSender

            try:
                self._sender = CampaignSender(
                    self._ledger, self.settings, tls_context=self._tls_context,
                    retry_delay=self._retry_delay,
                )  # fmt: skip
            except ValueError as exc:
                raise PermanentError(str(exc)) from exc
        return self._ledger, self._plan, self._sender

    async def _item_audiences(self, ledger: Ledger, post: Post) -> list[str] | None:
        if "audiences" in post.meta:
            given = post.meta["audiences"]
            return None if given is None else list(given)
        row = await ledger.get_item(post.item_id)
        if row is None:
            return None
        audiences = json.loads(row["front_matter"]).get("audiences")
        return None if audiences is None else list(audiences)

    async def publish(self, post: Post) -> Receipt:
        from dispatcher.ledger.schema import audience_mask
        from dispatcher.services.mailing.bulletin import add_to_digest, item_campaign, list_for
        from dispatcher.services.mailing.campaign import CampaignBusy
        from dispatcher.services.mailing.message import MailContent

        ledger, plan, sender = await self._ready()
        kind = plan.kinds.get(post.kind)
        rule = kind.mailing if kind else None
        if kind is None or rule is None:
            raise Rejected(f"el plan no envía «{post.kind}» por correo")
        early = bool(post.meta.get("early"))
        if early:  # the call sent ahead of an event (plan: kinds.<kind>.early)
            if kind.early is None or "mailing" not in kind.early.channels:
                raise Rejected(f"el plan no prevé convocatoria por correo para «{post.kind}»")
            names = list(post.meta.get("audiences") or kind.early.audiences)
        else:
            try:
                names = plan.audiences_for(post.kind, await self._item_audiences(ledger, post))
            except ValueError as exc:
                raise Rejected(str(exc)) from exc
        audiences = audience_mask(names)
        if rule.mode == "digest" and not early:
            today = self._clock().astimezone(plan.tz).date()
            day = await add_to_digest(
                ledger, item_id=post.item_id, revision=post.revision, audiences=audiences,
                today=today,
            )  # fmt: skip
            return Receipt(f"digest:{day.isoformat()}", post.url, {"day": day.isoformat()})
        html = post.parts.get("html")
        if not html:
            raise Rejected("falta la versión HTML del correo (plantilla mailing/*.html.j2)")
        content = MailContent(post.parts.get("subject") or post.title, post.text, html)
        label = str(post.meta.get("kind_label") or kind.label)
        campaign_id = await item_campaign(
            ledger, item_id=post.item_id, revision=post.revision, content=content,
            audiences=audiences, list_id=list_for(post.kind, label, sender.sender.domain),
            key_suffix=":convocatoria" if early else "",
        )  # fmt: skip
        try:
            result = await sender.run(campaign_id)
        except CampaignBusy as exc:
            raise TransientError(str(exc), retry_after=BUSY_RETRY) from exc
        if result.auth:
            raise AuthError(result.error or "credenciales SMTP rechazadas")
        if result.fatal:
            raise PermanentError(result.error or "el servidor SMTP rechazó el envío")
        if not result.complete:
            reason = result.error or f"quedan {result.left} destinatario(s) por enviar"
            raise TransientError(f"campaña {campaign_id}: {reason}")
        detail = {"sent": result.sent, "failed": result.failed, "skipped": result.skipped}
        return Receipt(f"campaign:{campaign_id}", post.url, detail)

    async def check(self) -> CheckResult:
        """Connect, greet, log in when configured, and leave: nothing is sent."""
        from dispatcher.services.mailing.campaign import smtp_client

        smtp = self.settings.smtp
        if not (smtp.host and smtp.from_):
            return CheckResult(False, "faltan PREGONERO_SMTP__HOST y PREGONERO_SMTP__FROM")
        client = smtp_client(smtp, tls_context=self._tls_context, timeout=15)
        where = f"{smtp.host}:{smtp.port}"
        try:
            await client.connect()
            await client.noop()
            await client.quit()
        except aiosmtplib.SMTPAuthenticationError as exc:
            return CheckResult(False, f"{where} rechazó el usuario o la contraseña ({exc.code})")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return CheckResult(False, f"no se pudo hablar con {where}: {exc}")
        finally:
            client.close()
        extras = {"none": "sin cifrado", "starttls": "STARTTLS", "tls": "TLS"}[smtp.security]
        login = ", con usuario" if smtp.username else ""
        return CheckResult(True, f"servidor SMTP {where} responde ({extras}{login})")

    async def aclose(self) -> None:
        if self._own_ledger and self._ledger is not None:
            await self._ledger.close()
            self._ledger = None
