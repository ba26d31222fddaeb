"""The recipients' journal: a group commit of ``sending`` marks and outcomes.

Every connection of a campaign run submits here; whatever arrives while one transaction
commits goes into the next, so the ledger costs one small transaction per batch (about
one per message per connection at most) instead of one per state change. Within a batch
outcomes are applied before marks: a row's outcome is always submitted before its next
``sending`` mark, and a mark's outcome only after the mark was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.db import utcnow
from dispatcher.mailing.tables import mail_campaigns, mail_recipients

HEARTBEAT = 10.0


class Journal:
    """Group commit of recipient marks and outcomes, in submission order."""

    def __init__(self, conn: AsyncConnection, campaign_id: int, owner: str) -> None:
        self._conn, self._campaign_id, self._owner = conn, campaign_id, owner
        self._sending: list[int] = []
        self._outcomes: list[dict[str, Any]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.error: BaseException | None = None
        self._beat = time.monotonic()
        self.counts = {"sent": 0, "failed": 0, "skipped": 0, "retry": 0, "pending": 0}
        self.on_commit: Callable[[], None] | None = None
        self._task = asyncio.create_task(self._run(), name=f"mail-journal-{campaign_id}")
        self._mark = (
            update(mail_recipients)
            .where(mail_recipients.c.id.in_(bindparam("ids", expanding=True)))
            .values(
                status="sending",
                attempts=mail_recipients.c.attempts + 1,
                updated_at=bindparam("ts"),
            )
        )
        self._outcome = (
            update(mail_recipients)
            .where(mail_recipients.c.id == bindparam("rid"))
            .values(status=bindparam("st"), reply=bindparam("rp"), updated_at=bindparam("ts"))
        )

    def mark(self, recipient_id: int) -> asyncio.Future[None]:
        """Record ``sending``; the future resolves once that (and all before it) is committed."""
        self._sending.append(recipient_id)
        return self._waiter()

    def outcome(self, recipient_id: int, status: str, reply: str | None) -> None:
        self._outcomes.append({"rid": recipient_id, "st": status, "rp": reply})
        self._wake.set()

    def _waiter(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.error is not None:
            future.set_exception(self.error)
            return future
        self._waiters.append(future)
        self._wake.set()
        return future

    async def flush(self) -> None:
        await self._waiter()

    async def close(self) -> None:
        """Commit what is left and stop; re-raises a failed commit."""
        self._closing = True
        self._wake.set()
        await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), HEARTBEAT)
            self._wake.clear()
            sending, outcomes, waiters = self._sending, self._outcomes, self._waiters
            self._sending, self._outcomes, self._waiters = [], [], []
            try:
                await self._commit(sending, outcomes)
            except BaseException as exc:
                self.error = exc
                for waiter in waiters + self._waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                        waiter.exception()  # retrieved here; workers also see it
                raise
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            if self.on_commit and (sending or outcomes):
                self.on_commit()
            if self._closing and not (self._sending or self._outcomes or self._waiters):
                return

    async def _commit(self, sending: list[int], outcomes: list[dict[str, Any]]) -> None:
        now = utcnow()
        beat = time.monotonic() - self._beat >= HEARTBEAT
        if not (sending or outcomes or beat):
            return
        async with self._conn.begin():
            # Outcomes first: a row's outcome is always submitted before its next mark.
            if outcomes:
                for row in outcomes:
                    row["ts"] = now
                await self._conn.execute(self._outcome, outcomes)
            if sending:
                await self._conn.execute(self._mark, {"ids": sending, "ts": now})
            if beat:
                await self._conn.execute(
                    update(mail_campaigns)
                    .where(
                        mail_campaigns.c.id == self._campaign_id,
                        mail_campaigns.c.owner == self._owner,
                    )
                    .values(heartbeat=now)
                )
                self._beat = time.monotonic()
        for row in outcomes:
            self.counts[row["st"]] = self.counts.get(row["st"], 0) + 1
