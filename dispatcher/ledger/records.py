"""The ledger's rows as typed records: what every layer above the ledger reads.

Each record is built from its table's row by :meth:`from_row` (statuses and actions become
their enums); nothing above ``dispatcher.ledger`` sees a SQLAlchemy row.
"""

from __future__ import annotations

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
        """The ContentItem of the current revision (media resolve in the archive folder)."""
        return ContentItem(
            meta=FrontMatter.model_validate(json.loads(self.front_matter)),
            body=self.body,
            id=self.id,
            summary=self.summary,
            date=self.item_date,
            publish_at=self.publish_at,
            base_dir=Path(self.archive_dir),
            digest=self.digest,
            source_name=self.source_name,
        )


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
