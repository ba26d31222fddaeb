"""The plan's call ahead of an event (``kinds.<kind>.early``): e.g. a press conference's
convocatoria to journalists — the Telegram group and the ``periodistas`` mailing — 24 h
before it starts, while the public release waits for the item's embargo.

Design: the call is a delivery of its own (``action='early'``) next to the item's usual
ones, created at intake. It is not sent before ``starts_at - before`` (or at once when that
is past), waits for neither the item's ``publish_at`` nor its website page, and renders
with the same templates (the press-conference templates already read as a call) with
``post.meta["early"]`` set, so the mailing channel sends it at once to the rule's audiences
as a campaign of its own. It is created only when it is useful:

- the event has not started yet, and
- the call goes out before that channel's public release: the item's ``publish_at`` (or
  now), or for a mailing in ``digest`` mode the digest that would carry the release.

So an item with no embargo gets no separate Telegram call (its release goes out now
anyway), but journalists still get the mailed call at once instead of in the evening
digest. Like every delivery, the call waits for the editors' approval when the plan
requires one, and ``cancel`` cancels it with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dispatcher.items.model import ContentItem
from dispatcher.items.plan import KindPlan, Plan


def early_calls(
    plan: Plan, item: ContentItem, channels: Sequence[str], now: datetime
) -> dict[str, datetime]:
    """Channel → when the call goes out, for the item's early deliveries (often none)."""
    kind = plan.kinds.get(item.kind)
    rule = kind.early if kind else None
    event = item.meta.event
    if kind is None or rule is None or event is None:
        return {}
    tz = plan.tz
    starts = _aware(event.starts_at, tz)
    if now >= starts:
        return {}
    call = max(now, starts - rule.before)
    release = max(now, _aware(item.publish_at, tz)) if item.publish_at else now
    return {
        channel: call
        for channel in rule.channels
        if channel in channels and call < release_on(kind, channel, release, tz)
    }


def release_on(kind: KindPlan, channel: str, release: datetime, tz: ZoneInfo) -> datetime:
    """When the public release reaches ``channel``: at ``release``, or for a digest mailing
    at the first digest time (plan ``mailing.at``) from then on."""
    rule = kind.mailing
    if channel != "mailing" or rule is None or rule.mode != "digest" or rule.at is None:
        return release
    local = release.astimezone(tz)
    digest = datetime.combine(local.date(), rule.at, tzinfo=tz)
    if digest < local:
        digest = datetime.combine(local.date() + timedelta(days=1), rule.at, tzinfo=tz)
    return digest


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=tz)
