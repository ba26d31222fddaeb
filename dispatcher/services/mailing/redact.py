"""SMTP credentials kept out of everything the mailing stores or prints.

A server may echo what it was sent — a ``535`` that repeats the user name, the password or
the base64 ``AUTH PLAIN``/``AUTH LOGIN`` blob. Every reply the sender keeps (per recipient,
a stopped run's reason, ``channels check``) goes through a :class:`Redactor` first, so the
ledger, the logs and the editors' messages never hold a credential.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from settings import SmtpSettings

MASK = "[oculto]"
MIN_SECRET = 3
"""Shorter values are not hidden literally (they would garble every reply); they are still
hidden inside base64 blobs."""
_BLOB = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")


def _variants(secrets: list[str]) -> list[str]:
    """The secrets as a server could echo them: as such and base64-encoded, alone and in
    the ``AUTH PLAIN`` forms (``\\0user\\0password``, ``user\\0user\\0password``)."""
    forms: list[bytes] = [s.encode("utf-8") for s in secrets]
    if len(secrets) == 2:
        user, password = forms
        forms += [b"\0" + user + b"\0" + password, user + b"\0" + user + b"\0" + password]
    encoded = [base64.b64encode(f).decode("ascii") for f in forms]
    plain = [s for s in secrets if len(s) >= MIN_SECRET]
    found = encoded + [e.rstrip("=") for e in encoded] + plain
    return sorted(set(found), key=len, reverse=True)


class Redactor:
    """Hides the configured SMTP user name and password in a text (see the module)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = [s for s in secrets if s]
        self._raw = [s.encode("utf-8") for s in self._secrets if len(s) >= MIN_SECRET]
        variants = _variants(self._secrets) if self._secrets else []
        self._pattern = (
            re.compile("|".join(re.escape(v) for v in variants), re.IGNORECASE)
            if variants
            else None
        )

    @classmethod
    def for_smtp(cls, smtp: SmtpSettings) -> Redactor:
        password = smtp.password.get_secret_value() if smtp.password else ""
        return cls([smtp.username or "", password] if (smtp.username or password) else [])

    def __bool__(self) -> bool:
        return self._pattern is not None

    def _blob(self, match: re.Match[str]) -> str:
        word = match.group(0)
        try:
            decoded = base64.b64decode(word + "=" * (-len(word) % 4), validate=True)
        except (binascii.Error, ValueError):
            return word
        return MASK if any(secret in decoded for secret in self._raw) else word

    def __call__(self, text: str) -> str:
        """``text`` with every form of the credentials replaced by ``[oculto]``."""
        if self._pattern is None or not text:
            return text
        text = _BLOB.sub(self._blob, text)  # whole blobs first, then what is left
        return self._pattern.sub(MASK, text)
