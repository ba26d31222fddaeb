"""Alembic's environment: run the migrations on the connection :mod:`dispatcher.ledger.migrate`
hands over in ``config.attributes["connection"]``, inside the transaction the ledger holds
(and its lock: SQLite's write lock or PostgreSQL's advisory lock)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from dispatcher.ledger.schema import UTCDateTime, metadata


def render_item(kind: str, item: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes the ledger's ``UTCDateTime`` as the column it is (a naive UTC
    ``DateTime``), so revisions never import ``schema.py``."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime()"
    return False


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "las migraciones del registro se ejecutan con 'pregonero db upgrade', no con 'alembic'"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things: batch mode copies the table ("move and copy")
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
