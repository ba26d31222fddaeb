"""Editors: the people who may use the bot and the web desk.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

A new table only (nothing existing changes): ``editors`` (see ``dispatcher/ledger/schema.py``,
"editors").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "editors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(40), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("username", name="uq_editor_username"),
        sa.UniqueConstraint("telegram_id", name="uq_editor_telegram_id"),
    )


def downgrade() -> None:
    op.drop_table("editors")
