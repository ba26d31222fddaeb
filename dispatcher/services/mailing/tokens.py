"""HMAC-signed unsubscribe tokens and the keyed hash that remembers erased addresses.

A token is ``<subscriber id>.<signature>``: the id in decimal and the first 15 bytes of
HMAC-SHA256(key, ``"baja:<id>"``) in unpadded base64url (20 characters). It is all
URL-safe ASCII with no ``=``, so it can be spliced into quoted-printable bodies as is.
The token alone identifies the subscriber: RFC 8058's one-click POST carries no cookie.

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatcher.ledger.store import Ledger
    from settings import Settings

_SIG_BYTES = 15
_TOKEN = re.compile(r"^([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{20})$")


def make_token(key: bytes, subscriber_id: int) -> str:
    mac = hmac.digest(key, b"baja:%d" % subscriber_id, "sha256")[:_SIG_BYTES]
    return f"{subscriber_id}.{base64.urlsafe_b64encode(mac).decode('ascii')}"


def read_token(key: bytes, token: str) -> int | None:
    """The subscriber id of a genuine token; ``None`` if malformed or tampered."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    subscriber_id = int(match[1])
    expected = make_token(key, subscriber_id)
    if not hmac.compare_digest(expected.encode("ascii"), token.encode("ascii")):
        return None
    return subscriber_id


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
