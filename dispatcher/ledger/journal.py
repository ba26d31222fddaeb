"""The recipients' journal: a group commit of ``sending`` marks and outcomes.

Every connection of a campaign run submits here; whatever arrives while one transaction
commits goes into the next, so the ledger costs one small transaction per batch instead of
one per state change. A mark's future resolves once the mark — and everything submitted
before it — is committed. Within a batch outcomes are applied before marks: a row's
outcome is always submitted before its next mark, and a mark's outcome only after the mark
was committed.

Two writers: on SQLite (the embedded default) a stdlib ``sqlite3`` connection with
hand-written statements (the hot path of a campaign: SQLAlchemy's per-statement overhead
cost more than the send itself); elsewhere the ledger's SQLAlchemy engine.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.ledger.schema import OPEN_RECIPIENT, mail_campaigns, mail_recipients, utcnow
from dispatcher.ledger.store import Ledger

HEARTBEAT = 10.0
Outcome = tuple[int, str, str | None]  # recipient id, status, reply


class _Writer(Protocol):
    lanes: int
    """How many batches may be committing at once (their waiters still resolve in order)."""

    async def commit(
        self, outcomes: Sequence[Outcome], marks: Sequence[int], beat: bool, now: datetime
    ) -> None: ...

    async def close(self) -> None: ...


class _SqlAlchemyWriter:
    """``claim_lease`` set: a campaign shared by several processes (see ``claims.py``):
    the heartbeat is the campaign's (whoever sends it) and renews this owner's claims."""

    lanes = 1

    def __init__(
        self, ledger: Ledger, campaign_id: int, owner: str, claim_lease: float | None = None
    ) -> None:
        self._ledger, self._campaign_id, self._owner = ledger, campaign_id, owner
        self._conn: AsyncConnection | None = None
        self._claim_lease = claim_lease
        r = mail_recipients
        self._mark = (
            update(r)
            .where(r.c.id.in_(bindparam("ids", expanding=True)))
            .values(status="sending", attempts=r.c.attempts + 1, updated_at=bindparam("ts"))
        )
        self._outcome = (
            update(r)
            .where(r.c.id == bindparam("rid"))
            .values(status=bindparam("st"), reply=bindparam("rp"), updated_at=bindparam("ts"))
        )
        beat = update(mail_campaigns).where(mail_campaigns.c.id == campaign_id)
        if claim_lease is None:
            beat = beat.where(mail_campaigns.c.owner == owner)
        self._beat = beat.values(heartbeat=bindparam("ts"))
        self._renew = (
            update(r)
            .where(
                r.c.campaign_id == campaign_id,
                r.c.claimed_by == owner,
                r.c.status.in_(OPEN_RECIPIENT),
            )
            .values(claimed_until=bindparam("until"))
        )

    async def commit(
        self, outcomes: Sequence[Outcome], marks: Sequence[int], beat: bool, now: datetime
    ) -> None:
        if self._conn is None:
            self._conn = await self._ledger.engine.connect()
        async with self._conn.begin():
            if outcomes:
                rows = [{"rid": i, "st": st, "rp": rp, "ts": now} for i, st, rp in outcomes]
                await self._conn.execute(self._outcome, rows)
            if marks:
                await self._conn.execute(self._mark, {"ids": list(marks), "ts": now})
            if beat:
                await self._conn.execute(self._beat, {"ts": now})
                if self._claim_lease is not None:
                    until = now + timedelta(seconds=self._claim_lease)
                    await self._conn.execute(self._renew, {"until": until})

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class _PostgresWriter:
    """PostgreSQL, the hot path (like SQLite's): the driver's own connections (asyncpg,
    taken from the ledger's pool) and one statement per batch in autocommit — one round
    trip and one WAL flush, not BEGIN, two UPDATEs and COMMIT through SQLAlchemy. Marks
    and outcomes of a batch are folded per row in submission order first (an outcome
    then its row's next mark: ``sending``, one more attempt, the outcome's reply kept).

    A commit mostly waits for the WAL flush, so ``lanes`` batches may be in flight at
    once, each on its own connection (PostgreSQL flushes concurrent commits together);
    the journal still resolves their waiters in order, so a mark is only reported
    committed once every batch before it is."""

    lanes = 3
    _BATCH = (
        f"UPDATE {mail_recipients.name} AS r SET status = v.st,"
        " reply = CASE WHEN v.keep THEN r.reply ELSE v.rp END,"
        " attempts = r.attempts + CASE WHEN v.mark THEN 1 ELSE 0 END, updated_at = $5"
        " FROM unnest($1::integer[], $2::text[], $3::text[], $4::boolean[], $6::boolean[])"
        " AS v(id, st, rp, keep, mark) WHERE r.id = v.id"
    )

    def __init__(
        self, ledger: Ledger, campaign_id: int, owner: str, claim_lease: float | None
    ) -> None:
        self._ledger, self._campaign_id, self._owner = ledger, campaign_id, owner
        self._claim_lease = claim_lease
        self._held: list[AsyncConnection] = []
        self._idle: list[Any] = []
        c, r = mail_campaigns.name, mail_recipients.name
        self._beat_sql = f"UPDATE {c} SET heartbeat = $1 WHERE id = $2" + (
            "" if claim_lease is not None else " AND owner = $3"
        )
        states = ", ".join(f"'{state}'" for state in OPEN_RECIPIENT)
        self._renew_sql = (
            f"UPDATE {r} SET claimed_until = $1 WHERE campaign_id = $2 AND claimed_by = $3"
            f" AND status IN ({states})"
        )

    async def _driver(self) -> Any:
        if self._idle:
            return self._idle.pop()
        conn = await self._ledger.engine.connect()
        self._held.append(conn)
        raw = await conn.get_raw_connection()
        return raw.driver_connection

    @staticmethod
    def _fold(outcomes: Sequence[Outcome], marks: Sequence[int]) -> list[list[Any]]:
        rows: dict[int, list[Any]] = {}  # id -> [status, reply, keep old reply, mark]
        for rid, status, reply in outcomes:
            rows[rid] = [status, reply, False, False]
        for rid in marks:
            row = rows.setdefault(rid, ["sending", None, True, True])
            row[0], row[3] = "sending", True
        columns: list[list[Any]] = [[], [], [], [], []]
        for rid, (status, reply, keep, mark) in rows.items():
            for column, value in zip(columns, (rid, status, reply, keep, mark), strict=True):
                column.append(value)
        return columns

    async def commit(
        self, outcomes: Sequence[Outcome], marks: Sequence[int], beat: bool, now: datetime
    ) -> None:
        ts = now.astimezone(UTC).replace(tzinfo=None)  # stored as naive UTC (UTCDateTime)
        driver = await self._driver()
        try:
            if outcomes or marks:
                ids, states, replies, keep, mark = self._fold(outcomes, marks)
                await driver.execute(self._BATCH, ids, states, replies, keep, ts, mark)
            if beat:
                args = [ts, self._campaign_id] + (
                    [] if self._claim_lease is not None else [self._owner]
                )
                await driver.execute(self._beat_sql, *args)
                if self._claim_lease is not None:
                    until = ts + timedelta(seconds=self._claim_lease)
                    await driver.execute(self._renew_sql, until, self._campaign_id, self._owner)
        finally:
            self._idle.append(driver)

    async def close(self) -> None:
        for conn in self._held:
            await conn.close()


class _SqliteWriter:
    """A batch is committed right on the event loop when the database is free (a batch
    takes some 50–100 µs; a thread hop costs more than that), and in a thread of its own,
    waiting up to 30 s, when another writer holds the lock. Checkpoints run in that
    thread too, so the loop never waits on an fsync."""

    MAX_VARS = 900
    CHECKPOINT_EVERY = 256
    lanes = 1

    def __init__(self, path: str, campaign_id: int, owner: str) -> None:
        self._path, self._campaign_id, self._owner = path, campaign_id, owner
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mail-journal")
        self._db: sqlite3.Connection | None = None
        self._commits = 0
        r, c = mail_recipients.name, mail_campaigns.name
        self._outcome_sql = f"UPDATE {r} SET status = ?, reply = ?, updated_at = ? WHERE id = ?"
        self._mark_sql = (
            f"UPDATE {r} SET status = 'sending', attempts = attempts + 1, updated_at = ? "
            "WHERE id IN ({})"
        )
        self._beat_sql = f"UPDATE {c} SET heartbeat = ? WHERE id = ? AND owner = ?"

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=0, isolation_level=None, check_same_thread=False)
        pragmas = (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=0",
            "wal_autocheckpoint=0",
            "secure_delete=ON",  # like every ledger connection: no stale bytes of a reply
        )
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        return db

    def _commit(
        self, outcomes: Sequence[Outcome], marks: Sequence[int], beat: bool, ts: str
    ) -> None:
        if self._db is None:
            self._db = self._open()
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # busy: raises at once, before any change
        try:
            if outcomes:
                db.executemany(self._outcome_sql, [(st, rp, ts, i) for i, st, rp in outcomes])
            for start in range(0, len(marks), self.MAX_VARS):
                chunk = marks[start : start + self.MAX_VARS]
                db.execute(self._mark_sql.format(",".join("?" * len(chunk))), (ts, *chunk))
            if beat:
                db.execute(self._beat_sql, (ts, self._campaign_id, self._owner))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _patient(self, job: Callable[[], None]) -> None:
        """Run ``job`` in the thread, waiting for the lock like every ledger connection."""
        assert self._db is not None
        self._db.execute("PRAGMA busy_timeout=30000")
        try:
            job()
        finally:
            self._db.execute("PRAGMA busy_timeout=0")

    async def commit(
        self, outcomes: Sequence[Outcome], marks: Sequence[int], beat: bool, now: datetime
    ) -> None:
        # The format SQLAlchemy's SQLite DateTime stores (naive UTC, see db.UTCDateTime).
        ts = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        loop = asyncio.get_running_loop()
        try:
            self._commit(outcomes, marks, beat, ts)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            job = functools.partial(self._commit, outcomes, marks, beat, ts)
            await loop.run_in_executor(self._pool, self._patient, job)
        self._commits += 1
        if self._commits % self.CHECKPOINT_EVERY == 0:
            await loop.run_in_executor(self._pool, self._patient, self._checkpoint)

    def _checkpoint(self) -> None:
        assert self._db is not None
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._patient(self._checkpoint)
                self._db.close()

        await asyncio.get_running_loop().run_in_executor(self._pool, shut)
        self._pool.shutdown(wait=False)


def _writer(ledger: Ledger, campaign_id: int, owner: str, claim_lease: float | None) -> _Writer:
    url = ledger.engine.url
    if claim_lease is None and (
        url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:"
    ):
        return _SqliteWriter(url.database, campaign_id, owner)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "asyncpg":
        return _PostgresWriter(ledger, campaign_id, owner, claim_lease)
    return _SqlAlchemyWriter(ledger, campaign_id, owner, claim_lease)


@dataclass
class _Batch:
    task: asyncio.Future[None]
    outcomes: list[Outcome]
    waiters: list[asyncio.Future[None]]
    wrote: bool


class Journal:
    """Group commit of recipient marks and outcomes, in submission order. With
    ``claim_lease`` (a shared campaign, see ``claims.py``) each heartbeat also renews the
    owner's claims for that many seconds."""

    def __init__(
        self, ledger: Ledger, campaign_id: int, owner: str, *, claim_lease: float | None = None
    ) -> None:
        self._writer = _writer(ledger, campaign_id, owner, claim_lease)
        self._marks: list[int] = []
        self._outcomes: list[Outcome] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.error: BaseException | None = None
        self._beat = time.monotonic()
        self.counts = {"sent": 0, "failed": 0, "skipped": 0, "retry": 0, "pending": 0}
        self.on_commit: Callable[[], None] | None = None
        self._task = asyncio.create_task(self._run(), name=f"mail-journal-{campaign_id}")

    def mark(self, recipient_id: int) -> asyncio.Future[None]:
        """Record ``sending``; the future resolves once that (and all before it) is committed."""
        self._marks.append(recipient_id)
        return self._waiter()

    def outcome(self, recipient_id: int, status: str, reply: str | None) -> None:
        """Queue an outcome; it rides with the next commit (a mark, a flush, ``close``)."""
        self._outcomes.append((recipient_id, status, reply))

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
        try:
            await self._task
        finally:
            await self._writer.close()

    async def _run(self) -> None:
        """Start a batch whenever a lane is free and something waits; settle batches in
        the order they started (a waiter resolves only when every batch before its own
        has committed, whichever commit finished first)."""
        flying: deque[_Batch] = deque()
        try:
            await self._loop(flying)
        finally:
            for batch in flying:  # cancelled, or a batch before them failed
                batch.task.cancel()

    async def _loop(self, flying: deque[_Batch]) -> None:
        while True:
            beat = time.monotonic() - self._beat >= HEARTBEAT
            if len(flying) < self._writer.lanes and (self._marks or self._outcomes or beat):
                flying.append(self._start(beat))
                continue
            if self._closing and not flying and not self._waiters:
                return
            if self._waiters and not flying:  # a flush with nothing to write
                flying.append(self._start(False))
                continue
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
            if flying:
                waits.append(flying[0].task)
            done, _ = await asyncio.wait(
                waits, timeout=HEARTBEAT, return_when=asyncio.FIRST_COMPLETED
            )
            if waits[0] not in done:
                waits[0].cancel()
            self._wake.clear()
            while flying and flying[0].task.done():
                self._settle(flying.popleft(), flying)

    def _start(self, beat: bool) -> _Batch:
        marks, outcomes, waiters = self._marks, self._outcomes, self._waiters
        self._marks, self._outcomes, self._waiters = [], [], []
        if beat:
            self._beat = time.monotonic()
        task: asyncio.Future[None]
        if marks or outcomes or beat:
            task = asyncio.ensure_future(self._writer.commit(outcomes, marks, beat, utcnow()))
        else:  # a flush with nothing to write: settles once the batches before it have
            task = asyncio.get_running_loop().create_future()
            task.set_result(None)
        return _Batch(task, outcomes, waiters, bool(marks or outcomes))

    def _settle(self, batch: _Batch, after: deque[_Batch]) -> None:
        exc = batch.task.exception()
        if exc is not None:
            self.error = exc
            for waiter in [*batch.waiters, *(w for b in after for w in b.waiters), *self._waiters]:
                if not waiter.done():
                    waiter.set_exception(exc)
                    waiter.exception()  # marked retrieved; the workers see it too
            raise exc
        for _, status, _ in batch.outcomes:
            self.counts[status] = self.counts.get(status, 0) + 1
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self.on_commit is not None and batch.wrote:
            self.on_commit()
