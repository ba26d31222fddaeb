"""Where a campaign run takes its recipients from: the whole campaign page by page (one
sender holds the campaign's lease: SQLite), or batches claimed from a campaign that several
processes share (PostgreSQL, see ``dispatcher.ledger.claims``)."""

from __future__ import annotations

from typing import Protocol

from dispatcher.ledger.claims import claim_recipients, held_elsewhere
from dispatcher.ledger.leases import owner_alive
from dispatcher.ledger.mail import OpenRecipient, open_recipients
from dispatcher.ledger.store import Ledger

PAGE = 1000
CLAIM_MAX = 500
CLAIM_SECONDS = 2.0
"""A claimed batch holds about this many seconds of sending at the rate cap, so a slow
(rate-capped) campaign still spreads over every process that joins it."""


class Source(Protocol):
    batch: int
    resent: int

    async def next(self) -> list[OpenRecipient] | None:
        """The next recipients; ``[]``: none now, ask again shortly; ``None``: done."""


class Pages:
    """Every open recipient, in id order, a page at a time (bounded memory)."""

    def __init__(self, ledger: Ledger, campaign_id: int, *, resent: int = 0) -> None:
        self.ledger, self.campaign_id = ledger, campaign_id
        self.batch = PAGE
        self.resent = resent  # counted by the caller: rows ``sending`` before the run
        self._last = 0

    async def next(self) -> list[OpenRecipient] | None:
        rows = await open_recipients(self.ledger, self.campaign_id, after=self._last, limit=PAGE)
        if not rows:
            return None
        self._last = rows[-1].id
        return rows


class Claims:
    """Batches claimed for ``owner``. A run that must see the campaign through
    (``finish``: the delivery's own run) waits at the end for the rows other live
    processes still hold, and takes back those of dead ones; a run that only joined
    leaves as soon as nothing is left to claim."""

    def __init__(
        self, ledger: Ledger, campaign_id: int, owner: str, *, lease: float, finish: bool,
        connections: int, rate: float,
    ) -> None:  # fmt: skip
        self.ledger, self.campaign_id, self.owner = ledger, campaign_id, owner
        self.lease, self.finish = lease, finish
        self.batch = max(2 * connections, min(CLAIM_MAX, int(rate * CLAIM_SECONDS)))
        self.resent = 0

    async def next(self) -> list[OpenRecipient] | None:
        claimed = await claim_recipients(
            self.ledger, self.campaign_id, self.owner, limit=self.batch, lease=self.lease
        )
        self.resent += claimed.resent
        if claimed.rows:
            return claimed.rows
        live, freed = await held_elsewhere(
            self.ledger, self.campaign_id, self.owner, alive=owner_alive
        )
        if freed or (live and self.finish):
            return []
        return None
