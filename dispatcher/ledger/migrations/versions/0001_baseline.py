"""Baseline: the schema the first release (commit 1152cf6) wrote with ``create_all``.

Revision ID: 0001
Revises:
Create Date: 2026-12-06

Frozen: written out here (not imported from ``schema.py``) so that it stays what the
first release created, whatever ``schema.py`` becomes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("publish_at", sa.DateTime(), nullable=True),
        sa.Column("item_date", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("front_matter", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("archive_dir", sa.Text(), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_items_created", "items", ["created_at"])
    op.create_table(
        "revisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(120), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("archive_dir", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_revisions_item", "revisions", ["item_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(120), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=True),
        sa.Column("idempotent", sa.Boolean(), nullable=True),
        sa.Column("mode", sa.String(8), nullable=True),
        sa.Column("remote_id", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(160), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("item_id", "channel", "revision", "action", name="uq_delivery"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "not_before"])
    op.create_index("ix_deliveries_item", "deliveries", ["item_id"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer(), sa.ForeignKey("deliveries.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("retry_after", sa.Integer(), nullable=True),
    )
    op.create_index("ix_attempts_delivery", "attempts", ["delivery_id"])
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(160), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("name", "scheduled_for", name="uq_slot"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(120), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("editor_key", sa.String(200), nullable=False),
        sa.Column("editor_id", sa.BigInteger(), nullable=True),
        sa.Column("editor_name", sa.Text(), nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_approvals_item", "approvals", ["item_id"])
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("audiences", sa.Integer(), nullable=False),
        sa.Column("consent_at", sa.DateTime(), nullable=True),
        sa.Column("consent_source", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("left_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_subscribers_status", "subscribers", ["status"])
    op.create_table(
        "mail_campaigns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("item_id", sa.String(120), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("audiences", sa.Integer(), nullable=False),
        sa.Column("items", sa.Text(), nullable=True),
        sa.Column("list_id", sa.String(200), nullable=False),
        sa.Column("list_name", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("heartbeat", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_mail_campaigns_day", "mail_campaigns", ["day"])
    op.create_table(
        "mail_recipients",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("mail_campaigns.id"), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscribers.id"), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("campaign_id", "subscriber_id", name="uq_mail_recipient"),
    )
    op.create_index("ix_mail_recipients_campaign", "mail_recipients", ["campaign_id"])
    op.create_table(
        "mail_digest",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "item_id", sa.String(120), sa.ForeignKey("items.id"), nullable=False, unique=True
        ),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("audiences", sa.Integer(), nullable=False),
        sa.Column("bulletin_day", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_mail_digest_day", "mail_digest", ["day", "bulletin_day"])


def downgrade() -> None:
    for table in (
        "mail_digest",
        "mail_recipients",
        "mail_campaigns",
        "subscribers",
        "approvals",
        "slots",
        "attempts",
        "deliveries",
        "revisions",
        "items",
        "meta",
    ):
        op.drop_table(table)
