"""The editors' decisions, defined on the ledger's ``metadata`` so ``Ledger.init`` creates it.

``approvals``: one row per editorial decision on an item, never updated or deleted —
``approve`` (counts towards the plan's ``approvers``), ``release`` (``/publicar`` of a
scheduled item: its embargo ends now) and ``schedule`` (``/programar``: ``detail`` holds the
new ``publish_at`` in ISO 8601). Who decided is kept twice: ``editor_key`` identifies the
person across bot and CLI (``tg:<user id>``, or ``name:<name>`` when there is no Telegram
id), ``editor_id``/``editor_name`` are what is shown.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from dispatcher.db import UTCDateTime, metadata

ACTIONS = ("approve", "release", "schedule")
VIA = ("bot", "cli")

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(120), ForeignKey("items.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    # approve | release | schedule
    Column("action", String(16), nullable=False, default="approve"),
    Column("editor_key", String(200), nullable=False),
    Column("editor_id", BigInteger, nullable=True),
    Column("editor_name", Text, nullable=False),
    # bot | cli
    Column("via", String(8), nullable=False),
    Column("detail", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_approvals_item", approvals.c.item_id)
