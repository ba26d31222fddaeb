"""Workers lend a hand with the campaigns other processes are sending.

A campaign is sent by the process that runs its delivery (or ``mail send``); on a ledger
that shares campaigns (PostgreSQL) every ``pregonero worker`` also looks, every
``JOIN_EVERY`` seconds, for campaigns being sent (a fresh heartbeat) and joins each with
its own connection pool: its run claims batches beside the others and leaves once nothing
is left to claim (``CampaignSender.run(join=True)``). So N workers send one campaign
together, each recipient once (see ``dispatcher.ledger.claims``), under one rate cap when
Redis is configured (``ratelimit.py``).

A joined run that stopped with an error (the SMTP server refuses, is unreachable) is not
joined again for ``JOIN_REST`` seconds: the campaign's own run reports the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from dispatcher.ledger.claims import campaigns_being_sent, shared_campaigns
from dispatcher.ledger.journal import HEARTBEAT
from dispatcher.services.mailing.campaign import CampaignBusy, CampaignSender, sending_here
from dispatcher.services.mailing.preflight import live_mail_problems

if TYPE_CHECKING:
    from dispatcher.services.context import App

log = logging.getLogger("pregonero.mailing")

JOIN_EVERY = 1.0
JOIN_FRESH = 3 * HEARTBEAT
"""A campaign whose heartbeat is older than this is not being sent: nobody joins it."""
JOIN_REST = 60.0


class CampaignJoiner:
    """Joins the campaigns other processes send (see the module docstring)."""

    def __init__(self, app: App, *, every: float = JOIN_EVERY) -> None:
        self.app = app
        self.every = every
        self.joined: dict[int, asyncio.Task[None]] = {}
        self._resting: dict[int, float] = {}
        self._sender: CampaignSender | None = None

    def enabled(self) -> bool:
        """Only where campaigns are shared and this process sends live mail."""
        settings = self.app.settings
        if not shared_campaigns(self.app.ledger) or settings.channel_mode("mailing") != "live":
            return False
        return not live_mail_problems(settings)  # unsafe settings: the campaign's run says why

    async def run(self) -> None:
        """Look for campaigns to join until cancelled."""
        if not self.enabled():
            return
        try:
            while True:
                await asyncio.sleep(self.every)
                try:
                    await self.look()
                except Exception:  # the ledger is briefly unreachable: look again later
                    log.exception("no se pudieron buscar campañas en curso")
        finally:
            await self.close()

    async def look(self) -> None:
        now = time.monotonic()
        for campaign_id in await campaigns_being_sent(self.app.ledger, fresh=JOIN_FRESH):
            if campaign_id in self.joined or sending_here(campaign_id):
                continue
            if self._resting.get(campaign_id, 0.0) > now:
                continue
            self.joined[campaign_id] = asyncio.create_task(
                self._join(campaign_id), name=f"mail-join-{campaign_id}"
            )

    async def _join(self, campaign_id: int) -> None:
        try:
            if self._sender is None:
                self._sender = CampaignSender(self.app.ledger, self.app.settings)
            result = await self._sender.run(campaign_id, join=True)
            if result.sent_now:
                log.info("campaña %s: este trabajador envió %d", campaign_id, result.sent_now)
            if result.error:
                self._resting[campaign_id] = time.monotonic() + JOIN_REST
        except CampaignBusy:  # a lease-held campaign (not shared): nothing to join
            self._resting[campaign_id] = time.monotonic() + JOIN_REST
        except Exception:
            log.exception("campaña %s: falló la ayuda de este trabajador", campaign_id)
            self._resting[campaign_id] = time.monotonic() + JOIN_REST
        finally:
            self.joined.pop(campaign_id, None)

    async def close(self) -> None:
        """Stop the joined runs (their claims go back to the others)."""
        tasks = list(self.joined.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
