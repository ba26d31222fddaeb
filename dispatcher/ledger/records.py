"""The ledger's rows as typed records: what every layer above the ledger reads.

Each record is built from its table's row by :meth:`from_row` (statuses and actions become
their enums); nothing above ``dispatcher.ledger`` sees a SQLAlchemy row.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy.engine import RowMapping

from dispatcher.items.model import ContentItem, FrontMatter
from dispatcher.ledger.types import AttemptOutcome, DeliveryAction, DeliveryStatus, ItemStatus


def _values(cls: type[Any], row: RowMapping) -> dict[str, Any]:
    return {f.name: row[f.name] for f in fields(cls)}


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item's row: its current revision's fields and its status."""

    id: str
    kind: str
    title: str
    revision: int
    digest: str
    status: ItemStatus
    publish_at: datetime | None
    item_date: date
    summary: str
    front_matter: str
    body: str
    archive_dir: str
    source_name: str
    url: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> Self:
        values = _values(cls, row)
        values["status"] = ItemStatus(row["status"])
        return cls(**values)

    def content(self) -> ContentItem:
        """The ContentItem of the current revision (media resolve in the archive folder).

        Built once per revision while it is recent (every channel of an item renders the
        same one; validating the front matter again per delivery was a good part of its
        cost). Treat it as read-only, like everything a renderer is handed."""
        key = (
            self.front_matter,
            self.body,
            self.id,
            self.summary,
            self.item_date,
            self.publish_at,
            self.archive_dir,
            self.digest,
            self.source_name,
        )
        if len(self.body) + len(self.front_matter) > CACHED_CONTENT_CHARS:
            return _content(*key)
        return _cached_content(*key)


CACHED_CONTENT_CHARS = 65_536
"""Larger items are rebuilt per use, so the cache stays small (at most a few MB)."""


def _content(
    front_matter: str,
    body: str,
    item_id: str,
    summary: str,
    item_date: date,
    publish_at: datetime | None,
    archive_dir: str,
    digest: str,
    source_name: str,
) -> ContentItem:
    return ContentItem(
        meta=FrontMatter.model_validate(json.loads(front_matter)),
        body=body,
        id=item_id,
        summary=summary,
        date=item_date,
        publish_at=publish_at,
        base_dir=Path(archive_dir),
        digest=digest,
        source_name=source_name,
    )


_cached_content = functools.lru_cache(maxsize=256)(_content)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery: an item's revision to one channel, for one action."""

    id: int
    item_id: str
    channel: str
    revision: int
    action: DeliveryAction
    status: DeliveryStatus
    attempts: int
    not_before: datetime | None
    idempotent: bool | None
    mode: str | None
    remote_id: str | None
    url: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    claimed_by: str | None
    lease_until: datetime | None

    @classmethod
    def from_row(cls, row: RowMapping) -> Self:
        values = _values(cls, row)
        values["action"] = DeliveryAction(row["action"])
        values["status"] = DeliveryStatus(row["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery that may be claimed now, with what a queue needs to schedule it."""

    id: int
    item_id: str
    channel: str
    action: DeliveryAction
    attempts: int
    not_before: datetime | None
    publish_at: datetime | None
    """The item's embargo."""
    has_website: bool
    """Whether the item has a website delivery (whose URL the other channels wait for)."""

    @classmethod
    def from_row(cls, row: RowMapping) -> Self:
        values = _values(cls, row)
        values["action"] = DeliveryAction(row["action"])
        values["has_website"] = bool(row["has_website"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a delivery."""

    id: int
    delivery_id: int
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome | None
    error: str | None
    retry_after: int | None

    @classmethod
    def from_row(cls, row: RowMapping) -> Self:
        values = _values(cls, row)
        if row["outcome"] is not None:
            values["outcome"] = AttemptOutcome(row["outcome"])
        return cls(**values)
