"""Campaigns shared by several processes: per-recipient claims, and an index of open rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

``mail_recipients.claimed_by`` / ``claimed_until``: the process that took the row (a batch
claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and the end of its lease.
``ix_mail_recipients_open``: a partial index of the rows still open (pending, sending,
retry) by campaign and id, so paging and claiming skip what was already sent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('pending', 'sending', 'retry')")


def upgrade() -> None:
    with op.batch_alter_table("mail_recipients") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))
    op.create_index(
        "ix_mail_recipients_open",
        "mail_recipients",
        ["campaign_id", "id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_mail_recipients_open", table_name="mail_recipients")
    with op.batch_alter_table("mail_recipients") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
