"""Campaigns that are neither an item nor the daily bulletin (the press-monitoring digest):
created once per key with their rendered parts and recipients, then sent or resumed by the
same :class:`CampaignSender` as every other campaign.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

from dispatcher.ledger import mail as store
from dispatcher.ledger.mail import NewCampaign
from dispatcher.services.mailing.campaign import CampaignResult, CampaignSender
from dispatcher.services.mailing.message import MailContent

if TYPE_CHECKING:
    from dispatcher.services.context import App


async def send_keyed_campaign(
    app: App,
    *,
    key: str,
    kind: Literal["monitoring"],
    content: MailContent,
    audiences: int,
    list_local: str,
    list_name: str,
    day: date | None = None,
    sender: CampaignSender | None = None,
) -> CampaignResult:
    """Create the campaign ``key`` on first call (idempotent: later calls resume it) for
    the active subscribers sharing an audience with ``audiences``, and send it. The List-Id
    is ``<list_local>.<sender domain>``. Raises ``CampaignBusy`` when another live process
    is sending it, ``ValueError`` when no sender address is configured."""
    if sender is None:
        sender = CampaignSender(app.ledger, app.settings)
    spec = NewCampaign(
        key=key, kind=kind, subject=content.subject, text=content.text, html=content.html,
        audiences=audiences, list_id=f"{list_local}.{sender.sender.domain}",
        list_name=list_name, day=day,
    )  # fmt: skip
    campaign_id = await store.campaign_for(app.ledger, spec)
    return await sender.run(campaign_id)
