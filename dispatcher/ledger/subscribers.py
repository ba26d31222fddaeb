"""Read models of the subscriber list for the web desk: counts per audience and status,
and a search by address. (Imports, erasure and export are in :mod:`dispatcher.ledger.mail`.)
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from dispatcher.ledger.mail import Subscriber, _subscriber
from dispatcher.ledger.schema import audience_names, subscribers
from dispatcher.ledger.types import SubscriberStatus

if TYPE_CHECKING:
    from dispatcher.ledger.store import Ledger

SEARCH_LIMIT = 50


async def counts(ledger: Ledger) -> Counter[tuple[str, SubscriberStatus]]:
    """(audience, status) → subscribers; a subscriber counts once in each of its audiences,
    and erased ones (no audiences left) under ``""``."""
    query = select(subscribers.c.audiences, subscribers.c.status, func.count()).group_by(
        subscribers.c.audiences, subscribers.c.status
    )
    found: Counter[tuple[str, SubscriberStatus]] = Counter()
    async with ledger.engine.connect() as conn:
        for mask, status, count in await conn.execute(query):
            names = audience_names(int(mask)) or [""]
            for name in names:
                found[(name, SubscriberStatus(status))] += int(count)
    return found


async def search(ledger: Ledger, text: str, limit: int = SEARCH_LIMIT) -> list[Subscriber]:
    """Subscribers (not erased) whose address contains ``text`` (``%``/``_`` literal), by
    address; empty text finds nothing."""
    wanted = text.strip().lower()
    if not wanted:
        return []
    async with ledger.engine.connect() as conn:
        rows = await conn.execute(
            select(subscribers)
            .where(
                subscribers.c.email.contains(wanted, autoescape=True),
                subscribers.c.status != SubscriberStatus.ERASED,
            )
            .order_by(subscribers.c.email)
            .limit(limit)
        )
        return [_subscriber(row) for row in rows.mappings()]
