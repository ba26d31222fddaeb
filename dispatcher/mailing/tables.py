"""The mailing tables, defined on the ledger's ``metadata`` so ``Ledger.init`` creates them.

- ``subscribers``: one row per address ever known. Audiences are a bit mask (see
  :data:`AUDIENCES`). Erasure (``subscribers remove``) blanks every personal field and keeps
  only ``email_hash`` (HMAC-SHA256 of the normalised address), so a later import cannot
  silently resubscribe the person.
- ``mail_campaigns``: one row per mailing (an item sent at once, or one variant of a day's
  bulletin), holding the rendered subject/text/HTML so a resumed run sends the same thing.
- ``mail_recipients``: one row per (campaign, subscriber): the per-recipient ledger.
- ``mail_digest``: items waiting for (or taken by) a daily bulletin.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from dispatcher.db import UTCDateTime, metadata

AUDIENCES: tuple[str, ...] = ("periodistas", "ciudadania", "funcionarios", "jac_jal", "gremios")
"""Mailing lists, in bit order: the order is stored in the ledger, so only append."""

SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "erased")
RECIPIENT_STATUSES = ("pending", "sending", "sent", "failed", "retry", "skipped")
OPEN_RECIPIENT = ("pending", "sending", "retry")


def audience_mask(names: Iterable[str]) -> int:
    """Bit mask of audience names (``ValueError`` on an unknown one)."""
    mask = 0
    for name in names:
        mask |= 1 << AUDIENCES.index(name)
    return mask


def audience_names(mask: int) -> list[str]:
    return [name for bit, name in enumerate(AUDIENCES) if mask & (1 << bit)]


subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=True),  # NULL once erased
    Column("email_hash", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=True),
    Column("audiences", Integer, nullable=False, default=0),
    Column("consent_at", UTCDateTime, nullable=True),
    Column("consent_source", Text, nullable=True),
    # active | unsubscribed | bounced | erased
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("left_at", UTCDateTime, nullable=True),
)
Index("ix_subscribers_status", subscribers.c.status)

mail_campaigns = Table(
    "mail_campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # item:<id>:r<revision> | digest:<YYYY-MM-DD>:<variant>
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # item | digest
    Column("item_id", String(120), nullable=True),
    Column("revision", Integer, nullable=True),
    Column("day", Date, nullable=True),
    Column("audiences", Integer, nullable=False),
    Column("items", Text, nullable=True),  # JSON list of item ids (digest)
    Column("list_id", String(200), nullable=False),
    Column("list_name", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("nonce", String(32), nullable=False),
    Column("total", Integer, nullable=False, default=0),
    # sending | done
    Column("status", String(16), nullable=False),
    Column("owner", String(200), nullable=True),
    Column("heartbeat", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
)
Index("ix_mail_campaigns_day", mail_campaigns.c.day)

mail_recipients = Table(
    "mail_recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("mail_campaigns.id"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    # pending | sending | sent | failed | retry | skipped
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("reply", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    UniqueConstraint("campaign_id", "subscriber_id", name="uq_mail_recipient"),
)
Index("ix_mail_recipients_campaign", mail_recipients.c.campaign_id)

mail_digest = Table(
    "mail_digest",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(120), ForeignKey("items.id"), nullable=False, unique=True),
    Column("revision", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("audiences", Integer, nullable=False),
    Column("bulletin_day", Date, nullable=True),  # set when a bulletin took it
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_mail_digest_day", mail_digest.c.day, mail_digest.c.bulletin_day)
