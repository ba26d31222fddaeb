"""The ``mailing`` channel: mass e-mail to the plan's audiences.

The adapter is thin: it hands the rendered post to the mail service of its
:class:`~channels.base.ChannelContext` (the core's campaign service, which owns the
subscribers, the per-recipient ledger rows, the plan's audiences and the SMTP pool) and
passes its receipt and errors through. It never opens a ledger or loads the plan.

Plan mode ``immediate``: the item's campaign is sent at once (receipt ``campaign:<id>``);
``Post.meta["early"]`` is the plan's early call, sent at once to the early rule's
audiences. Mode ``digest``: the item joins the daily bulletin (receipt
``digest:<YYYY-MM-DD>`` with ``detail["waiting_bulletin"]`` true: nothing has left yet).
Resumable per recipient, so ``idempotent`` is true: re-running a delivery never mails
anyone twice (beyond one message per open connection after a crash).

Errors (raised by the service): refused credentials → ``AuthError``; a refused sender →
``PermanentError``; unreachable server or a campaign still open → ``TransientError``.
"""

from __future__ import annotations

from typing import ClassVar

from channels.base import ChannelContext, CheckResult, MailService, Post, Receipt
from settings import Settings


class MailingAdapter:
    name: ClassVar[str] = "mailing"
    idempotent: ClassVar[bool] = True
    publish_timeout: ClassVar[float | None] = None
    """A campaign to thousands takes minutes at the configured rate: no delivery timeout."""

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        if context.mail is None:
            raise ValueError("el canal 'mailing' necesita el servicio de correo del núcleo")
        self.settings = settings
        self._mail: MailService = context.mail

    async def publish(self, post: Post) -> Receipt:
        return await self._mail.publish(post)

    update_idempotent: ClassVar[bool] = True  # the notice's campaign resumes, never repeats

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """A correction notice, sent only when the plan's kind says ``corrections: mail``."""
        return await self._mail.update(receipt, post)

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """The cancellation of a withdrawn press call (its invitation's ``METHOD:CANCEL``) to
        those invited; see the mail service. Resumable: never mails anyone twice."""
        return await self._mail.withdraw(receipt)

    async def check(self) -> CheckResult:
        """Connect, greet, log in when configured, and leave: nothing is sent."""
        return await self._mail.check()

    async def aclose(self) -> None:
        """Nothing to close: the ledger and the connections belong to the service."""
