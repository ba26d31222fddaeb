"""The campaign service: what the ``mailing`` channel hands a rendered post to.

It implements :class:`channels.base.MailService` on the process's :class:`App` — its
ledger, plan, settings and clock — so the channel never opens a ledger or loads the plan of
its own.

``publish(post)``, by the plan's mailing rule for the post's kind:

- mode ``immediate``: the item revision's campaign (one ledger row per recipient) is
  created once and sent, resuming where any earlier attempt stopped; the receipt is
  ``campaign:<id>``;
- the early call (``Post.meta["early"]``, plan ``kinds.<kind>.early``): always sent at
  once, to the early rule's audiences (``Post.meta["audiences"]`` when given), as a
  campaign of its own (key suffix ``:convocatoria``);
- mode ``digest``: the item joins the day's bulletin (``digest:<YYYY-MM-DD>``); nothing
  leaves now, so the receipt says ``detail["waiting_bulletin"] = True`` and the delivery is
  recorded ``waiting_bulletin`` until the bulletin leaves (see ``bulletin.py``). An item
  whose bulletin already left (a correction after it) gets that campaign's receipt.

Before anything, the settings must make live mail safe (``preflight``: credentials only
over TLS, links readers can open); if not → ``PermanentError`` naming the settings.

Errors: refused credentials → ``AuthError``; a refused sender → ``PermanentError``;
unreachable server or a campaign still open → ``TransientError`` (the retry resumes it);
a kind the plan does not mail, or bad audiences → ``Rejected``.
"""

from __future__ import annotations

import json
import ssl
from datetime import datetime
from typing import TYPE_CHECKING

import aiosmtplib

from channels.base import (
    AuthError,
    CheckResult,
    PermanentError,
    Post,
    Receipt,
    Rejected,
    TransientError,
)
from dispatcher.items.audiences import audience_mask
from dispatcher.ledger.types import NotFound
from dispatcher.render.renderer import UNSUBSCRIBE_PLACEHOLDER
from dispatcher.services.mailing.bulletin import item_campaign, join_digest, list_for
from dispatcher.services.mailing.campaign import CampaignBusy, CampaignSender, smtp_client
from dispatcher.services.mailing.invite import invitation
from dispatcher.services.mailing.message import MailContent
from dispatcher.services.mailing.preflight import (
    link_problems,
    live_mail_problems,
    plain_auth_problem,
)
from dispatcher.services.mailing.redact import Redactor

if TYPE_CHECKING:
    from dispatcher.ledger.records import ItemRecord
    from dispatcher.services.context import App

BUSY_RETRY = 60.0
WAITING = "waiting_bulletin"
"""``Receipt.detail`` key: true when the post only joined a bulletin that has not left."""


class CampaignService:
    """Mass e-mail for the ``mailing`` channel, on the App's ledger and plan.

    ``tls_context`` overrides the system trust store (tests, private CAs); ``retry_delay``
    is the sender's first backoff for a recipient or a connection."""

    def __init__(
        self, app: App, *, tls_context: ssl.SSLContext | None = None, retry_delay: float = 1.0
    ) -> None:
        self.app = app
        self._tls_context = tls_context
        self._retry_delay = retry_delay
        self._sender: CampaignSender | None = None

    def sender(self) -> CampaignSender:
        """The campaign sender, built on first use (a missing sender address is permanent);
        refused while the settings make live mail unsafe (credentials in clear, links to
        localhost): nothing starts."""
        problems = live_mail_problems(self.app.settings)
        if problems:
            raise PermanentError(" ".join(problems))
        if self._sender is None:
            try:
                self._sender = CampaignSender(
                    self.app.ledger, self.app.settings, tls_context=self._tls_context,
                    retry_delay=self._retry_delay,
                )  # fmt: skip
            except ValueError as exc:
                raise PermanentError(str(exc)) from exc
        return self._sender

    async def _item_audiences(self, post: Post) -> list[str] | None:
        if "audiences" in post.meta:
            given = post.meta["audiences"]
            return None if given is None else list(given)
        row = await self.app.ledger.get_item(post.item_id)
        return None if row is None else _audiences_of(row)

    async def publish(self, post: Post) -> Receipt:
        """Send (or record for the bulletin) one rendered mailing post; see the module."""
        plan = self.app.plan
        kind = plan.kinds.get(post.kind)
        rule = kind.mailing if kind else None
        if kind is None or rule is None:
            raise Rejected(f"el plan no envía «{post.kind}» por correo")
        sender = self.sender()
        early = bool(post.meta.get("early"))
        if early:  # the call sent ahead of an event (plan: kinds.<kind>.early)
            if kind.early is None or "mailing" not in kind.early.channels:
                raise Rejected(f"el plan no prevé convocatoria por correo para «{post.kind}»")
            names = list(post.meta.get("audiences") or kind.early.audiences)
        else:
            try:
                names = plan.audiences_for(post.kind, await self._item_audiences(post))
            except ValueError as exc:
                raise Rejected(str(exc)) from exc
        audiences = audience_mask(names)
        if rule.mode == "digest" and not early:
            today = self.app.clock().astimezone(plan.tz).date()
            joined = await join_digest(
                self.app.ledger, post.item_id, post.revision, audiences, today
            )
            day = joined.day.isoformat()
            if joined.sent_by is not None:  # its bulletin already left: nothing to wait for
                return Receipt(f"campaign:{joined.sent_by}", post.url, {"day": day})
            return Receipt(f"digest:{day}", post.url, {"day": day, WAITING: True})
        html = post.parts.get("html")
        if not html:
            raise Rejected("falta la versión HTML del correo (plantilla mailing/*.html.j2)")
        content = MailContent(post.parts.get("subject") or post.title, post.text, html)
        label = str(post.meta.get("kind_label") or kind.label)
        campaign_id = await item_campaign(
            self.app.ledger, item_id=post.item_id, revision=post.revision, content=content,
            audiences=audiences, list_id=list_for(post.kind, label, sender.sender.domain),
            key_suffix=":convocatoria" if early else "",
        )  # fmt: skip
        return await self._run(sender, campaign_id, post.url)

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """A correction notice (the plan's ``corrections: mail``): the corrected piece, its
        subject beginning "Corrección:", sent at once (never joining a bulletin) to the
        audiences the piece went to — the kind's (or the item's) and its call's — as a
        campaign of its own (key suffix ``:correccion``), carrying the updated invitation
        when the item has an event."""
        plan = self.app.plan
        kind = plan.kinds.get(post.kind)
        if kind is None or kind.mailing is None or kind.corrections != "mail":
            raise Rejected(f"el plan no envía correcciones de «{post.kind}» por correo")
        sender = self.sender()
        names = self._invited(post.kind, await self._item_audiences(post))
        html = post.parts.get("html")
        if not html:
            raise Rejected("falta la versión HTML del correo (plantilla mailing/*.html.j2)")
        subject = f"Corrección: {post.parts.get('subject') or post.title}"
        content = MailContent(subject[:250], post.text, html)
        label = str(post.meta.get("kind_label") or kind.label)
        return await self._notice(
            sender, post.item_id, post.revision, post.kind, label, content, names,
            key_suffix=":correccion", url=post.url,
        )  # fmt: skip

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """The cancellation of a withdrawn press call: a short notice carrying the calendar
        invitation's ``METHOD:CANCEL`` (:mod:`dispatcher.services.mailing.invite`), sent at
        once to the audiences that were invited (the kind's, or the item's, and its call's),
        as a campaign of its own (key suffix ``:retiro``). Only an item with an ``event`` has
        a mailing withdrawal (:mod:`dispatcher.ledger.withdrawals`): any other e-mail that
        left cannot be taken back."""
        detail = receipt.detail or {}
        item = await self.app.ledger.item(str(detail.get("item_id") or ""))
        plan = self.app.plan
        kind = plan.kinds.get(item.kind)
        invite = invitation(item, self.app.settings, revision=item.revision)
        if kind is None or kind.mailing is None or invite is None:
            raise Rejected(f"«{item.id}» no tiene una convocatoria que cancelar por correo")
        sender = self.sender()
        names = self._invited(item.kind, _audiences_of(item))
        when = detail.get("withdrawn_at")
        values = {
            "title": item.title,
            "reason": str(detail.get("reason") or ""),
            "withdrawn_at": datetime.fromisoformat(str(when)) if when else self.app.clock(),
            "starts_at": invite.starts_at,
            "place": invite.place,
            "site_name": self.app.settings.website.site_name,
            "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        }
        environment = self.app.renderer.environment
        content = MailContent(
            f"Convocatoria cancelada: {item.title}"[:250],
            environment.get_template("mailing/_retiro.txt.j2").render(values),
            environment.get_template("mailing/_retiro.html.j2").render(values),
        )
        return await self._notice(
            sender, item.id, item.revision, item.kind, kind.label, content, names,
            key_suffix=":retiro", url=receipt.url,
        )  # fmt: skip

    def _invited(self, kind_name: str, item_audiences: list[str] | None) -> set[str]:
        """The audiences a piece went to: the kind's (or the item's) and its call's."""
        plan = self.app.plan
        try:
            names = set(plan.audiences_for(kind_name, item_audiences))
        except ValueError as exc:
            raise Rejected(str(exc)) from exc
        early = plan.kinds[kind_name].early
        if early is not None and "mailing" in early.channels:
            names |= set(early.audiences)
        return names

    async def _notice(
        self, sender: CampaignSender, item_id: str, revision: int, kind_name: str, label: str,
        content: MailContent, names: set[str], *, key_suffix: str, url: str | None,
    ) -> Receipt:  # fmt: skip
        """A notice about a piece (its correction, its cancellation) sent at once as a
        campaign of its own to ``names``."""
        campaign_id = await item_campaign(
            self.app.ledger, item_id=item_id, revision=revision, content=content,
            audiences=audience_mask(sorted(names)),
            list_id=list_for(kind_name, label, sender.sender.domain), key_suffix=key_suffix,
        )  # fmt: skip
        return await self._run(sender, campaign_id, url)

    async def _run(self, sender: CampaignSender, campaign_id: int, url: str | None) -> Receipt:
        try:
            result = await sender.run(campaign_id)
        except CampaignBusy as exc:
            raise TransientError(str(exc), retry_after=BUSY_RETRY) from exc
        except NotFound as exc:  # cannot happen: the campaign was just found or made
            raise TransientError(str(exc)) from exc
        if result.auth:
            raise AuthError(result.error or "credenciales SMTP rechazadas")
        if result.fatal:
            raise PermanentError(result.error or "el servidor SMTP rechazó el envío")
        if not result.complete:
            reason = result.error or f"quedan {result.left} destinatario(s) por enviar"
            raise TransientError(f"campaña {campaign_id}: {reason}")
        detail = {"sent": result.sent, "failed": result.failed, "skipped": result.skipped}
        return Receipt(f"campaign:{campaign_id}", url, detail)

    async def check(self) -> CheckResult:
        """Connect, greet, log in when configured, and leave: nothing is sent."""
        smtp = self.app.settings.smtp
        if not (smtp.host and smtp.from_):
            return CheckResult(False, "faltan PREGONERO_SMTP__HOST y PREGONERO_SMTP__FROM")
        plain = plain_auth_problem(smtp)
        if plain is not None:  # never log in to see whether it works: that would leak them
            return CheckResult(False, plain)
        client = smtp_client(smtp, tls_context=self._tls_context, timeout=15)
        where = f"{smtp.host}:{smtp.port}"
        redact = Redactor.for_smtp(smtp)
        try:
            await client.connect()
            await client.noop()
            await client.quit()
        except aiosmtplib.SMTPAuthenticationError as exc:
            return CheckResult(False, f"{where} rechazó el usuario o la contraseña ({exc.code})")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return CheckResult(False, redact(f"no se pudo hablar con {where}: {exc}"))
        finally:
            client.close()
        links = link_problems(self.app.settings)
        if links:
            return CheckResult(False, f"servidor SMTP {where} responde. " + " ".join(links))
        extras = {"none": "sin cifrado", "starttls": "STARTTLS", "tls": "TLS"}[smtp.security]
        login = ", con usuario" if smtp.username else ""
        return CheckResult(True, f"servidor SMTP {where} responde ({extras}{login})")


def _audiences_of(item: ItemRecord) -> list[str] | None:
    """The audiences the item's front matter names (``None``: the kind's)."""
    audiences = json.loads(item.front_matter).get("audiences")
    return None if audiences is None else list(audiences)
