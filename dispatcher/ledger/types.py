"""The ledger's vocabulary: every status and action as an enum (``StrEnum``, so a value is
stored and compared as its plain string), and the one "not found" error.

The meaning of each state, in one place:

- an item is ``ready`` (its deliveries may go out once due), ``awaiting_approval`` (the
  plan's approvals for its current revision are missing) or ``cancelled`` (an editor
  stopped what had not gone out);
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


class ItemStatus(StrEnum):
    READY = "ready"
    AWAITING_APPROVAL = "awaiting_approval"
    CANCELLED = "cancelled"


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


class Via(StrEnum):
    BOT = "bot"
    CLI = "cli"
    DESK = "desk"


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
