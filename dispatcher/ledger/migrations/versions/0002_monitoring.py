"""Press monitoring: feed sources' fetch state, clippings, the daily digests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

New tables only (nothing existing changes): ``monitor_sources``, ``clippings`` and
``monitor_digests`` (see ``dispatcher/ledger/schema.py``, "press monitoring").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_sources",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_fetch_at", sa.DateTime(), nullable=True),
        sa.Column("last_fetch_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("url", name="uq_monitor_source_url"),
    )
    op.create_table(
        "clippings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("link", sa.String(2000), nullable=False),
        sa.Column("outlet", sa.Text(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("found_at", sa.DateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("digest_day", sa.Date(), nullable=True),
        sa.UniqueConstraint("link", name="uq_clipping_link"),
    )
    op.create_index("ix_clippings_day", "clippings", ["day"])
    op.create_index("ix_clippings_digest", "clippings", ["digest_day", "found_at"])
    op.create_table(
        "monitor_digests",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("clippings", sa.Integer(), nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitor_digests")
    op.drop_index("ix_clippings_digest", table_name="clippings")
    op.drop_index("ix_clippings_day", table_name="clippings")
    op.drop_table("clippings")
    op.drop_table("monitor_sources")
