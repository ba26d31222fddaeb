"""The campaign's message, built once and spliced per recipient.

Building and flattening a stdlib ``EmailMessage`` costs ~2 ms, ten times the whole send;
so the MIME is produced once per campaign as one bytes template with three slots — the
recipient's address (``To``), the recipient row id (``Message-ID``) and the unsubscribe
token (``List-Unsubscribe`` and the visible link in both bodies) — filled with a single
``bytes % dict``. The bodies are quoted-printable; each chunk between two unsubscribe
links is encoded on its own and the link sits on its own soft-broken line, so a token
never lands inside an encoded sequence or past the 76-character line limit.

Message-IDs are deterministic (``<nonce.recipient@domain>``): a message re-sent after a
crash carries the same id as the first copy, and mail clients can fold the duplicate.
"""

from __future__ import annotations

import base64
import email.policy
import email.quoprimime
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from dispatcher.render.renderer import UNSUBSCRIBE_PLACEHOLDER

if TYPE_CHECKING:
    from settings import Settings

LINE = 76
TOKEN_ROOM = 48
DKIM_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
    b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type",
)  # fmt: skip
"""Signed with DKIM; RFC 8058 requires both List-Unsubscribe headers to be covered."""
TEXT_FOOTER = "\n\nPara dejar de recibir estos correos: " + UNSUBSCRIBE_PLACEHOLDER + "\n"
HTML_FOOTER = (
    '<p style="font-size:12px;color:#555">¿No desea recibir más correos? '
    f'<a href="{UNSUBSCRIBE_PLACEHOLDER}">Cancelar la suscripción</a>.</p>'
)


@dataclass(frozen=True)
class MailContent:
    """A campaign's rendered parts; bodies carry ``UNSUBSCRIBE_PLACEHOLDER``."""

    subject: str
    text: str
    html: str
    calendar: bytes | None = None
    """An iCalendar invitation (``METHOD:REQUEST``/``CANCEL``): a third alternative part,
    ``text/calendar; method=…``, that mail clients show as an invitation (RFC 6047)."""


@dataclass(frozen=True)
class Sender:
    """Who the mail is from, and the addresses derived from it."""

    header: str  # "Prensa <prensa@x.gov.co>" as configured
    address: str  # envelope sender
    domain: str

    @classmethod
    def parse(cls, value: str) -> Sender:
        name, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(f"PREGONERO_SMTP__FROM inválido: {value!r}")
        header = str(Address(display_name=name, addr_spec=address)) if name else address
        return cls(header=header, address=address, domain=address.rpartition("@")[2].lower())


@dataclass(frozen=True)
class DkimKey:
    selector: str
    domain: str
    private_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimKey | None:
        """``PREGONERO_SMTP__DKIM_SELECTOR``/``__DKIM_DOMAIN``/``__DKIM_KEY`` (PEM or a
        path to it), when the settings define them; else ``None`` (no signing)."""
        smtp = settings.smtp
        selector = getattr(smtp, "dkim_selector", None)
        key = getattr(smtp, "dkim_key", None)
        if not selector or key is None:
            return None
        raw = key.get_secret_value() if hasattr(key, "get_secret_value") else str(key)
        pem = raw.encode() if "-----BEGIN" in raw else Path(raw).read_bytes()
        domain = getattr(smtp, "dkim_domain", None) or Sender.parse(smtp.from_ or "").domain
        return cls(selector=selector, domain=domain, private_key=pem)


def _qp(text: str) -> str:
    return email.quoprimime.body_encode(
        text.encode("utf-8").decode("latin-1"), maxlinelen=LINE, eol="\r\n"
    )


def _escape(raw: str) -> bytes:
    return raw.encode("ascii").replace(b"%", b"%%")


def _body(text: str, link_prefix: str) -> bytes:
    """Quoted-printable body with ``%(token)s`` slots where the unsubscribe URL goes."""
    prefix = _qp(link_prefix)
    last = prefix.rsplit("\r\n", 1)[-1]
    # room for the longest token (18 + 1 + 6 + 1 + 20 characters, see tokens.py) and "="
    link = prefix + ("=\r\n" if len(last) + TOKEN_ROOM > LINE else "")
    chunks = text.replace("\r\n", "\n").split(UNSUBSCRIBE_PLACEHOLDER)
    out = [_escape(_qp(chunks[0]))]
    for chunk in chunks[1:]:
        out += [b"=\r\n", _escape(link), b"%(token)s=\r\n", _escape(_qp(chunk))]
    return b"".join(out)


class MessageTemplate:
    """One campaign's message. ``render`` is the per-recipient hot path (~2 µs)."""

    def __init__(
        self,
        content: MailContent,
        *,
        sender: Sender,
        list_id: str,
        list_name: str,
        unsubscribe_base: str,
        nonce: str,
        date: datetime,
        dkim: DkimKey | None = None,
    ) -> None:
        self.sender = sender
        self.dkim = dkim
        link_prefix = unsubscribe_base.rstrip("/") + "/baja/"
        head = EmailMessage(policy=email.policy.SMTP)
        head["From"] = sender.header
        head["Subject"] = content.subject
        head["Date"] = format_datetime(date)
        head["List-Id"] = f"{list_name} <{list_id}>"
        head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        head["Precedence"] = "bulk"
        head["MIME-Version"] = "1.0"
        boundary = "=_pregonero_" + secrets.token_hex(12)
        static = b"".join(head.policy.fold_binary(name, value) for name, value in head.items())
        static += f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'.encode()
        text, html = content.text, content.html
        if UNSUBSCRIBE_PLACEHOLDER not in text:
            text += TEXT_FOOTER
        if UNSUBSCRIBE_PLACEHOLDER not in html:
            html += HTML_FOOTER
        mailto = f"mailto:{sender.address}?subject=baja"
        part = (
            '--{b}\r\nContent-Type: text/{t}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        self._template = b"".join(
            [
                _escape(static.decode("ascii")),
                b"To: %(to)s\r\n",
                _escape(f"Message-ID: <{nonce}."), b"%(rid)d", _escape(f"@{sender.domain}>\r\n"),
                _escape(f"List-Unsubscribe: <{link_prefix}"), b"%(token)s",
                _escape(f">,\r\n <{mailto}>\r\n"),
                b"\r\n",
                _escape(part.format(b=boundary, t="plain")), _body(text, link_prefix), b"\r\n",
                _escape(part.format(b=boundary, t="html")), _body(html, link_prefix), b"\r\n",
                _calendar_part(boundary, content.calendar),
                _escape(f"--{boundary}--\r\n"),
            ]
        )  # fmt: skip

        # On the wire: lines starting with "." doubled (RFC 5321 §4.5.2) and the end-of-data
        # line added, once. No slot can start a line with ".": the To and Message-ID
        # values sit after a header name, and a token starts with a digit.
        self._wire = self._template.replace(b"\r\n.", b"\r\n..") + b".\r\n"

    def render(self, to: str, recipient_id: int, token: str) -> bytes:
        """The message as a mail client will see it."""
        message = self._template % {
            b"to": to.encode("ascii"),
            b"rid": recipient_id,
            b"token": token.encode("ascii"),
        }
        if self.dkim is not None:
            message = sign(message, self.dkim) + message
        return message

    def wire(self, to: str, recipient_id: int, token: str) -> bytes:
        """The DATA payload: the message dot-stuffed and ending with the ``.`` line."""
        if self.dkim is not None:
            message = self.render(to, recipient_id, token)
            return message.replace(b"\r\n.", b"\r\n..") + b".\r\n"
        return self._wire % {
            b"to": to.encode("ascii"),
            b"rid": recipient_id,
            b"token": token.encode("ascii"),
        }


def _calendar_part(boundary: str, calendar: bytes | None) -> bytes:
    """The invitation as a ``text/calendar`` alternative (base64: no ``%`` to escape)."""
    if not calendar:
        return b""
    match = re.search(rb"^METHOD:(\w+)", calendar, re.MULTILINE)
    method = match.group(1).decode("ascii") if match else "PUBLISH"
    encoded = base64.encodebytes(calendar).replace(b"\n", b"\r\n")
    head = (
        f'--{boundary}\r\nContent-Type: text/calendar; charset="utf-8"; method={method}\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return _escape(head) + encoded + b"\r\n"


def sign(message: bytes, key: DkimKey) -> bytes:
    """The ``DKIM-Signature`` header line for ``message`` (dkimpy, relaxed/relaxed)."""
    import dkim

    header: bytes = dkim.sign(
        message,
        key.selector.encode("ascii"),
        key.domain.encode("ascii"),
        key.private_key,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(DKIM_HEADERS),
        linesep=b"\r\n",
    )
    return header
