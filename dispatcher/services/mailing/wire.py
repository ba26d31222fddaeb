"""The campaign's SMTP transactions on a connection that aiosmtplib opened.

aiosmtplib opens the session (connect, STARTTLS or TLS, EHLO, AUTH: the parts where its
checks matter); then :class:`Wire` takes the transport over (``transport.set_protocol``)
for the per-message commands. aiosmtplib reads exactly one reply per command it writes
and drops bytes that arrive while no reply is awaited, so it cannot pipeline; this reader
keeps every reply in order however the server batches or splits them, which lets a
transaction go out as two writes when the server offers ``PIPELINING`` (RFC 2920):
``MAIL``+``RCPT``+``DATA`` in one, the message in the other — half the system calls and
wake-ups of four command/reply round trips. Without ``PIPELINING`` the same transaction is
sent one command at a time.

Failures surface as aiosmtplib's own exceptions (``SMTPServerDisconnected``,
``SMTPResponseException``), so the sender keeps one error vocabulary.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import cast

import aiosmtplib
from aiosmtplib import SMTPResponse

MAX_LINE = 8192
"""A reply line longer than this is not SMTP (aiosmtplib uses the same bound)."""
QUIT_WAIT = 2.0


class Wire(asyncio.Protocol):
    """Replies in order on a taken-over transport; see the module docstring."""

    def __init__(self, transport: asyncio.WriteTransport, *, pipelining: bool) -> None:
        self.transport = transport
        self.pipelining = pipelining
        self._buffer = bytearray()
        self._replies: deque[SMTPResponse] = deque()
        self._want = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._lines: list[bytes] = []

    @classmethod
    def take_over(cls, smtp: aiosmtplib.SMTP) -> Wire:
        """Move an open aiosmtplib session's transport to a new ``Wire``. The ``smtp``
        object must not send anything afterwards (close it with :meth:`close`)."""
        transport = smtp.transport
        if transport is None or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("conexión cerrada")
        # uvloop's transports do not subclass asyncio's classes, but have their methods
        wire = cls(
            cast(asyncio.WriteTransport, transport),
            pipelining=smtp.supports_extension("pipelining"),
        )
        transport.set_protocol(wire)
        return wire

    @property
    def open(self) -> bool:
        return self._error is None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        if self.transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("conexión cerrada")
        self.transport.write(data)

    async def replies(self, count: int) -> list[SMTPResponse]:
        """The next ``count`` replies (waiting for them as needed)."""
        if len(self._replies) < count:
            if self._error is not None:
                raise self._error
            self._want = count
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return [self._replies.popleft() for _ in range(count)]

    async def reply(self) -> SMTPResponse:
        return (await self.replies(1))[0]

    async def quit(self) -> None:
        """Say goodbye politely when possible (waiting ``QUIT_WAIT`` s), then close."""
        with contextlib.suppress(Exception):
            if self.open:
                self.write(b"QUIT\r\n")
                async with asyncio.timeout(QUIT_WAIT):
                    await self.reply()
        self.close()

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()
        self._fail(aiosmtplib.SMTPServerDisconnected("conexión cerrada"))

    # -- asyncio.Protocol -------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except aiosmtplib.SMTPResponseException as exc:
            self.transport.close()
            self._fail(exc)
            return
        waiter = self._waiter
        if waiter is not None and len(self._replies) >= self._want and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("el servidor cerró la conexión"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"conexión perdida: {exc}" if exc else "el servidor cerró la conexión"
        self._fail(aiosmtplib.SMTPServerDisconnected(reason))

    def _fail(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self._error)
            waiter.exception()  # retrieved: the awaiting task raises it

    def _parse(self) -> None:
        buffer = self._buffer
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end == -1:
                break
            line = bytes(buffer[start : end + 1])
            start = end + 1
            if len(line) > MAX_LINE or not line[:3].isdigit():
                raise aiosmtplib.SMTPResponseException(
                    -1, f"respuesta SMTP inválida: {line[:80]!r}"
                )
            self._lines.append(line)
            if line[3:4] != b"-":  # the last line of this reply
                text = b"\n".join(part[4:].strip(b" \t\r\n") for part in self._lines)
                self._replies.append(
                    SMTPResponse(int(line[:3]), text.decode("utf-8", "surrogateescape"))
                )
                self._lines = []
        del buffer[:start]
        if len(buffer) > MAX_LINE:
            raise aiosmtplib.SMTPResponseException(-1, "respuesta SMTP demasiado larga")
