"""The ledger's schema (SQLAlchemy 2 Core) and engine set-up for SQLite and PostgreSQL.

The ledger is the truth: every item, revision, delivery and attempt is a row. The same
tables and queries run on SQLite (WAL mode, the embedded default) and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

from dispatcher.items.audiences import AUDIENCES, audience_mask, audience_names

__all__ = ["AUDIENCES", "audience_mask", "audience_names"]  # re-exported for the mail code

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC everywhere."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("title", Text, nullable=False),
    Column("revision", Integer, nullable=False, default=1),
    Column("digest", String(64), nullable=False),
    # ready | awaiting_approval | cancelled
    Column("status", String(24), nullable=False),
    Column("publish_at", UTCDateTime, nullable=True),
    Column("item_date", Date, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("front_matter", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("archive_dir", Text, nullable=False),
    Column("source_name", Text, nullable=False, default=""),
    Column("url", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_items_created", items.c.created_at)

revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(120), ForeignKey("items.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    # new | correction | duplicate
    Column("outcome", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("archive_dir", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)
Index("ix_revisions_item", revisions.c.item_id)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(120), ForeignKey("items.id"), nullable=False),
    Column("channel", String(40), nullable=False),
    Column("revision", Integer, nullable=False),
    # publish | update | early (the plan's call ahead of an event: kinds.<kind>.early)
    Column("action", String(16), nullable=False, default="publish"),
    # pending | sending | sent | failed | retry_wait | unknown | cancelled
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", UTCDateTime, nullable=True),
    Column("idempotent", Boolean, nullable=True),
    Column("mode", String(8), nullable=True),
    Column("remote_id", Text, nullable=True),
    Column("url", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    # who holds a ``sending`` row and until when: recovery only touches expired leases
    # (or its own, after a restart), never another live worker's delivery in flight
    Column("claimed_by", String(160), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    UniqueConstraint("item_id", "channel", "revision", "action", name="uq_delivery"),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.not_before)
Index("ix_deliveries_item", deliveries.c.item_id)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, ForeignKey("deliveries.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # sent | transient | permanent | unknown | interrupted
    Column("outcome", String(16), nullable=True),
    Column("error", Text, nullable=True),
    Column("retry_after", Integer, nullable=True),
)
Index("ix_attempts_delivery", attempts.c.delivery_id)


slots = Table(
    "slots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # e.g. ``boletin-diario`` or ``anuncio:mesa-publica``; the unique key makes each slot
    # run once however many schedulers race for it (the INSERT that wins runs it)
    Column("name", String(80), nullable=False),
    Column("scheduled_for", UTCDateTime, nullable=False),
    # running | done | skipped | failed | retry (taken over after lease_until)
    Column("status", String(16), nullable=False),
    Column("owner", String(160), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("runs", Integer, nullable=False, default=1),
    Column("detail", Text, nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("name", "scheduled_for", name="uq_slot"),
)


def async_url(url: str) -> str:
    """``sqlite:///x`` → ``sqlite+aiosqlite:///x``; ``postgresql://`` → ``+asyncpg``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"base de datos no soportada: {backend!r} (use sqlite o postgresql)")
    return parsed.render_as_string(hide_password=False)


PRIVATE_MODE = 0o600
"""The ledger holds subscribers' addresses and the signing key: owner only."""
SQLITE_FILES = ("", "-wal", "-shm", "-journal")


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (``None`` for PostgreSQL or an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return database


def make_private(path: str) -> None:
    """Create the ledger file owner-only when it does not exist yet, and make it and its
    journal files (``-wal``, ``-shm``) owner-only (0600) when they are ours.

    SQLite creates ``-wal`` and ``-shm`` with the database file's permissions, so a file
    made 0600 before its first connection keeps its journal files 0600 too; a ledger
    created by an earlier version (0644 under the usual umask) is tightened here."""
    if not os.path.exists(path) and os.path.isdir(os.path.dirname(path) or "."):
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    for suffix in SQLITE_FILES:
        name = path + suffix
        try:
            info = os.stat(name)
        except FileNotFoundError:
            continue
        if info.st_mode & 0o777 != PRIVATE_MODE and info.st_uid == os.geteuid():
            with contextlib.suppress(OSError):
                os.chmod(name, PRIVATE_MODE)


def create_engine(url: str) -> AsyncEngine:
    """The ledger's async engine. SQLite: WAL, foreign keys, ``secure_delete`` (a value
    rewritten or deleted — an erased address — leaves no old bytes in the file) and an
    owner-only file (:func:`make_private`, also after each new connection so the
    ``-wal``/``-shm`` files end 0600)."""
    full = async_url(url)
    kwargs: dict[str, Any] = {}
    if full.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    path = sqlite_path(url)
    if path is not None:
        make_private(path)
    engine = create_async_engine(full, **kwargs)
    if full.startswith("sqlite"):
        _on_connect(engine.sync_engine, path)
    return engine


def create_sync_engine(url: str) -> Engine | None:
    """A synchronous engine on the same SQLite file as :func:`create_engine` (same pragmas,
    same private file), for the delivery path's short statements: run in one worker thread,
    a whole operation costs one thread hop instead of three per statement through aiosqlite
    (see :mod:`dispatcher.ledger.transport`). ``None`` for PostgreSQL and in-memory SQLite
    (one database per connection there), which keep the async engine."""
    path = sqlite_path(url)
    if path is None:
        return None
    make_private(path)
    parsed = make_url(url).set(drivername="sqlite+pysqlite")
    # one dedicated thread uses it (check_same_thread stays on as a guard)
    engine = sa_create_engine(parsed, connect_args={"timeout": 30})
    _on_connect(engine, path)
    return engine


WAL_TRIES = 300
"""How many times a new connection tries to switch a fresh file to WAL (10 ms apart)."""


def _wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``. On a fresh file another process may be creating the
    schema: the switch then needs the lock that process holds, and SQLite answers "database
    is locked" at once instead of waiting (waiting could deadlock), so it is tried again."""
    for attempt in range(WAL_TRIES):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # sqlite3 or aiosqlite's OperationalError
            if "locked" not in str(exc) or attempt == WAL_TRIES - 1:
                raise
            time.sleep(0.01)


def _on_connect(engine: Engine, path: str | None) -> None:
    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        _wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
        if path is not None:
            make_private(path)


# -- the editors' decisions ------------------------------------------------------------
# The editors' decisions, defined on the ledger's ``metadata`` so ``Ledger.init`` creates it.
#
# ``approvals``: one row per editorial decision on an item, never updated or deleted —
# ``approve`` (counts towards the plan's ``approvers``), ``release`` (``/publicar`` of a
# scheduled item: its embargo ends now) and ``schedule`` (``/programar``: ``detail`` holds the
# new ``publish_at`` in ISO 8601). Who decided is kept twice: ``editor_key`` identifies the
# person across the bot, the desk and the CLI (``ed:<username>`` for a registered editor,
# else ``tg:<user id>``, or ``name:<name>`` when there is no Telegram id),
# ``editor_id``/``editor_name`` are what is shown.

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
    # bot | cli | desk
    Column("via", String(8), nullable=False),
    Column("detail", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_approvals_item", approvals.c.item_id)


# -- mailing ----------------------------------------------------------------------
# The mailing tables, defined on the ledger's ``metadata`` so ``Ledger.init`` creates them.
#
# - ``subscribers``: one row per address ever known. Audiences are a bit mask (see
#   :data:`AUDIENCES`). Erasure (``subscribers remove``) blanks every personal field and keeps
#   only ``email_hash`` (HMAC-SHA256 of the normalised address), so a later import cannot
#   silently resubscribe the person.
# - ``mail_campaigns``: one row per mailing (an item sent at once, or one variant of a day's
#   bulletin), holding the rendered subject/text/HTML so a resumed run sends the same thing.
# - ``mail_recipients``: one row per (campaign, subscriber): the per-recipient ledger.
# - ``mail_digest``: items waiting for (or taken by) a daily bulletin.

OPEN_RECIPIENT = ("pending", "sending", "retry")


subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=True),  # NULL once erased
    Column("email_hash", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=True),
    Column("audiences", Integer, nullable=False, default=0),
    Column("consent_at", UTCDateTime, nullable=True),
    Column("consent_source", Text, nullable=True),
    # active | unsubscribed | bounced | erased
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("left_at", UTCDateTime, nullable=True),
)
Index("ix_subscribers_status", subscribers.c.status)

mail_campaigns = Table(
    "mail_campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # item:<id>:r<revision> | digest:<YYYY-MM-DD>:<variant> | monitoring:<YYYY-MM-DD>
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # item | digest | monitoring
    Column("item_id", String(120), nullable=True),
    Column("revision", Integer, nullable=True),
    Column("day", Date, nullable=True),
    Column("audiences", Integer, nullable=False),
    Column("items", Text, nullable=True),  # JSON list of item ids (digest)
    Column("list_id", String(200), nullable=False),
    Column("list_name", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("nonce", String(32), nullable=False),
    Column("total", Integer, nullable=False, default=0),
    # sending | done
    Column("status", String(16), nullable=False),
    Column("owner", String(200), nullable=True),
    Column("heartbeat", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
)
Index("ix_mail_campaigns_day", mail_campaigns.c.day)

mail_recipients = Table(
    "mail_recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("mail_campaigns.id"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    # pending | sending | sent | failed | retry | skipped
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("reply", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    # who took the row in a campaign shared by several processes (PostgreSQL), and until
    # when; kept after the send as a record of which process sent it
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    UniqueConstraint("campaign_id", "subscriber_id", name="uq_mail_recipient"),
)
Index("ix_mail_recipients_campaign", mail_recipients.c.campaign_id)
# the rows still to send, in id order: what a sender pages or claims next
_open_recipient = mail_recipients.c.status.in_(OPEN_RECIPIENT)
Index(
    "ix_mail_recipients_open",
    mail_recipients.c.campaign_id,
    mail_recipients.c.id,
    postgresql_where=_open_recipient,
    sqlite_where=_open_recipient,
)

mail_digest = Table(
    "mail_digest",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(120), ForeignKey("items.id"), nullable=False, unique=True),
    Column("revision", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("audiences", Integer, nullable=False),
    Column("bulletin_day", Date, nullable=True),  # set when a bulletin took it
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_mail_digest_day", mail_digest.c.day, mail_digest.c.bulletin_day)


# -- press monitoring -----------------------------------------------------------------
# Press monitoring (the plan's ``monitoring:`` section), on the ledger's ``metadata``.
#
# - ``monitor_sources``: one row per feed address: what the conditional requests send back
#   (``etag``, ``last_modified``), consecutive ``failures`` and ``next_fetch_at`` (the
#   earliest time the feed may be asked again: its ``Retry-After``, or the backoff after a
#   failure; NULL when it is healthy);
# - ``clippings``: one row per normalised link, however many sources carry it; ``day`` is
#   the local day it was found (the report's day), ``digest_day`` the digest that took it;
# - ``monitor_digests``: one row per day's digest: when the editors were told, and its
#   mail campaign.

monitor_sources = Table(
    "monitor_sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2000), nullable=False),
    Column("name", Text, nullable=False),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("next_fetch_at", UTCDateTime, nullable=True),
    Column("last_fetch_at", UTCDateTime, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("url", name="uq_monitor_source_url"),
)

clippings = Table(
    "clippings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("link", String(2000), nullable=False),
    Column("outlet", Text, nullable=False),
    Column("source_url", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("excerpt", Text, nullable=False),
    Column("published_at", UTCDateTime, nullable=True),
    Column("keywords", Text, nullable=False),  # JSON list, as written in the plan
    Column("found_at", UTCDateTime, nullable=False),
    Column("day", Date, nullable=False),
    Column("digest_day", Date, nullable=True),
    UniqueConstraint("link", name="uq_clipping_link"),
)
Index("ix_clippings_day", clippings.c.day)
Index("ix_clippings_digest", clippings.c.digest_day, clippings.c.found_at)

monitor_digests = Table(
    "monitor_digests",
    metadata,
    Column("day", Date, primary_key=True),
    Column("clippings", Integer, nullable=False),
    Column("notified_at", UTCDateTime, nullable=True),
    Column("campaign_id", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)


# -- editors ----------------------------------------------------------------------------
# ``editors``: the people who may use the bot and the web desk (``pregonero editors add``).
# One row per username, never deleted: ``editors remove`` sets ``removed_at`` (and clears the
# password hash and the Telegram id, so the person can neither log in nor command the bot,
# and the id may be given to someone else) while old approvals keep naming the person.
# ``role`` is ``editor`` or ``admin`` (admins may also import and erase subscribers on the
# desk). ``password_hash`` is an Argon2id hash (argon2-cffi's PHC string), never a password.

editors = Table(
    "editors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(40), nullable=False),
    Column("name", Text, nullable=False),
    Column("telegram_id", BigInteger, nullable=True),
    Column("role", String(8), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime, nullable=True),
    UniqueConstraint("username", name="uq_editor_username"),
    UniqueConstraint("telegram_id", name="uq_editor_telegram_id"),
)
