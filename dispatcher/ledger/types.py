"""The ledger's vocabulary: every status and action as an enum (``StrEnum``, so a value is
stored and compared as its plain string), and the one "not found" error.

The meaning of each state, in one place:

- an item is ``ready`` (its deliveries may go out once due), ``awaiting_approval`` (the
  plan's approvals for its current revision are missing), ``cancelled`` (an editor
  stopped what had not gone out) or ``withdrawn`` (taken down from every channel that
  carried it: its ``withdraw`` deliveries take it down);
- a delivery's action is ``publish``, ``early`` (the call ahead of an event), ``update``
  (a website rewrite of a newer revision), ``correction`` (a newer revision reaching a
  channel that already carried the item: an edit in place, or X's reply) or ``withdraw``;
- a delivery is ``pending`` → ``sending`` (claimed under a lease) → ``sent`` | ``failed`` |
  ``retry_wait`` (due again at ``not_before``) | ``unknown`` (may have reached the service:
  never re-sent blindly) | ``cancelled``; a mailing ``digest`` delivery is
  ``waiting_bulletin`` between joining a day's bulletin and that bulletin leaving.
"""

from __future__ import annotations

from enum import StrEnum


class NotFound(LookupError):
    """No row with that key (an item id, a subscriber address…)."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} no existe")
        self.what = what
        self.key = key


class Withdrawn(Exception):
    """The item was withdrawn: it takes no correction (publish it again under a new id)."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"la pieza {item_id!r} fue retirada")
        self.item_id = item_id


class ItemStatus(StrEnum):
    READY = "ready"
    AWAITING_APPROVAL = "awaiting_approval"
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    RETRY_WAIT = "retry_wait"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    WAITING_BULLETIN = "waiting_bulletin"


SENDABLE: tuple[DeliveryStatus, ...] = (DeliveryStatus.PENDING, DeliveryStatus.RETRY_WAIT)
OPEN: tuple[DeliveryStatus, ...] = (*SENDABLE, DeliveryStatus.SENDING)
NEEDS_ATTENTION: tuple[DeliveryStatus, ...] = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN)
RETRYABLE: tuple[DeliveryStatus, ...] = (*NEEDS_ATTENTION, DeliveryStatus.CANCELLED)


class DeliveryAction(StrEnum):
    PUBLISH = "publish"
    UPDATE = "update"
    EARLY = "early"
    CORRECTION = "correction"
    WITHDRAW = "withdraw"


class AttemptOutcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"
    INTERRUPTED = "interrupted"


class RevisionOutcome(StrEnum):
    NEW = "new"
    CORRECTION = "correction"
    DUPLICATE = "duplicate"


class ApprovalAction(StrEnum):
    APPROVE = "approve"
    RELEASE = "release"
    SCHEDULE = "schedule"
    WITHDRAW = "withdraw"  # a withdrawal requested (``detail``: the reason)
    APPROVE_WITHDRAW = "approve_withdraw"  # an editor approved the pending withdrawal


class Via(StrEnum):
    BOT = "bot"
    CLI = "cli"
    DESK = "desk"


class EditorRole(StrEnum):
    EDITOR = "editor"
    ADMIN = "admin"


class SlotStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    RETRY = "retry"


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    ERASED = "erased"


class RecipientStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"
    SKIPPED = "skipped"
