"""HMAC-signed unsubscribe tokens and the keyed hash that remembers erased addresses.

A token is ``<subscriber id>.<issue day>.<signature>``: the id in decimal, the day it was
minted as days since 1970-01-01 (UTC) in decimal, and the first 15 bytes of
HMAC-SHA256(key, ``"baja:<id>:<day>"``) in unpadded base64url (20 characters). It is all
URL-safe ASCII with no ``=`` and starts with a digit, so it can be spliced into
quoted-printable bodies as is. The token alone identifies the subscriber: RFC 8058's
one-click POST carries no cookie.

A token is valid for :data:`VALID_DAYS` (a year) after its issue day: a link that leaked
(a forwarded bulletin, a log, a mail archive) stops working, while every bulletin keeps
bringing a fresh one. An expired link is recognised as such — the page then explains the
other ways to unsubscribe — and never unsubscribes anyone.

Tokens of the first release (``<id>.<signature>``, HMAC of ``"baja:<id>"``) carry no date.
They are accepted until :data:`LEGACY_UNTIL` and expired after it. Why a fixed grace and
not "expired at once": such a link may be in a bulletin delivered the day before the
upgrade, and the unsubscribe link is legally required to work (Ley 1581, RFC 8058);
refusing it at once would strand readers who did nothing wrong. After the grace every such
token is more than a year old, like any expired one. The two formats sign different
strings, so an old signature can never be turned into a dated token.

Keys:

- token key: ``PREGONERO_SECRET_KEY`` when set, else the key kept in the ledger;
- address-hash key: always the ledger's key, so setting ``PREGONERO_SECRET_KEY`` later
  does not make erased addresses unrecognisable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatcher.ledger.store import Ledger
    from settings import Settings

VALID_DAYS = 365
"""How long after its issue day a token unsubscribes."""
LEGACY_UNTIL = date(2027, 12, 31)
"""Last day an undated token of the first release is accepted (see the module)."""
_EPOCH = date(1970, 1, 1)
_SIG_BYTES = 15
_TOKEN = re.compile(r"^([1-9][0-9]{0,17})\.(?:([1-9][0-9]{0,5})\.)?([A-Za-z0-9_-]{20})$")


def token_day(day: date) -> int:
    """``day`` as a token's issue day (days since 1970-01-01)."""
    return (day - _EPOCH).days


def _today() -> date:
    return datetime.now(UTC).date()


def _sign(key: bytes, message: bytes) -> str:
    mac = hmac.digest(key, message, "sha256")[:_SIG_BYTES]
    return base64.urlsafe_b64encode(mac).decode("ascii")


def make_token(key: bytes, subscriber_id: int, issued: int | None = None) -> str:
    """The token of ``subscriber_id`` issued on day ``issued`` (:func:`token_day`; by
    default today, UTC). The sender computes the day once per pass."""
    day = token_day(_today()) if issued is None else issued
    return f"{subscriber_id}.{day}.{_sign(key, b'baja:%d:%d' % (subscriber_id, day))}"


def legacy_token(key: bytes, subscriber_id: int) -> str:
    """An undated token as the first release minted it (tests and migration checks)."""
    return f"{subscriber_id}.{_sign(key, b'baja:%d' % subscriber_id)}"


@dataclass(frozen=True)
class TokenCheck:
    """A genuine token: whose it is, when it was issued (``None``: first-release format)
    and whether it has expired."""

    subscriber_id: int
    issued: date | None
    expired: bool


def check_token(key: bytes, token: str, *, today: date | None = None) -> TokenCheck | None:
    """Read a token: ``None`` when malformed or tampered, else who and whether expired."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    subscriber_id, day, signature = int(match[1]), match[2], match[3]
    message = b"baja:%d" % subscriber_id if day is None else b"baja:%d:%s" % (
        subscriber_id, day.encode("ascii"),
    )  # fmt: skip
    if not hmac.compare_digest(_sign(key, message).encode("ascii"), signature.encode("ascii")):
        return None
    now = today or _today()
    if day is None:
        return TokenCheck(subscriber_id, None, now > LEGACY_UNTIL)
    issued = date.fromordinal(_EPOCH.toordinal() + int(day))
    return TokenCheck(subscriber_id, issued, (now - issued).days > VALID_DAYS)


def read_token(key: bytes, token: str, *, today: date | None = None) -> int | None:
    """The subscriber id of a genuine, unexpired token; ``None`` otherwise."""
    found = check_token(key, token, today=today)
    return None if found is None or found.expired else found.subscriber_id


async def token_key(settings: Settings, ledger: Ledger) -> bytes:
    """The key that signs unsubscribe tokens (the same in the sender and in ``serve``)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    return await hash_key(ledger)


async def hash_key(ledger: Ledger) -> bytes:
    return (await ledger.secret_key()).encode("utf-8")


def email_hash(key: bytes, normalised_email: str) -> str:
    """HMAC-SHA256 of a normalised address, hex: what survives an erasure."""
    return hmac.new(key, normalised_email.encode("utf-8"), hashlib.sha256).hexdigest()
