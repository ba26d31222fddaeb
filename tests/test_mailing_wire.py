"""The campaign's reply reader (``wire.py``) on real sockets: it takes over a session
aiosmtplib opened, sees whether the server offers PIPELINING, and reads every reply in
order however the server splits or batches them into packets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib
import pytest

from dispatcher.services.mailing.wire import Wire
from tests.test_mailing_support import Sink, smtp_server


async def _open(port: int) -> Wire:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
    await smtp.connect()
    if smtp.is_ehlo_or_helo_needed:
        await smtp.ehlo()
    return Wire.take_over(smtp)


@pytest.mark.parametrize("offered", [False, True])
async def test_pipelined_transaction_against_aiosmtpd(offered: bool) -> None:
    sink = Sink(pipelining=offered)
    with smtp_server(sink) as port:
        wire = await _open(port)
        assert wire.pipelining is offered
        wire.write(b"MAIL FROM:<prensa@example.org>\r\nRCPT TO:<ana@example.org>\r\nDATA\r\n")
        mail, rcpt, start = await wire.replies(3)
        assert (mail.code, rcpt.code, start.code) == (250, 250, 354)
        wire.write(b"Subject: hola\r\n\r\n..punto\r\n.\r\n")
        done = await wire.reply()
        assert done == (250, "2.0.0 Ok: queued")
        await wire.quit()
        assert not wire.open
    assert sink.count() == {"ana@example.org": 1}
    assert sink.messages[0][2].endswith(b".punto\r\n")  # dot-stuffing undone by the server


@asynccontextmanager
async def _scripted(chunks: list[bytes]) -> AsyncIterator[int]:
    """A server that greets, answers EHLO, then writes ``chunks`` one by one (pausing
    between them) once the client has sent anything, and closes."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 prueba ESMTP\r\n")
        await reader.readline()  # EHLO
        writer.write(b"250-prueba\r\n250-PIPELINING\r\n250 HELP\r\n")
        await reader.readline()
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def test_replies_split_and_batched_arrive_in_order() -> None:
    chunks = [b"250 2.1.0 O", b"k\r\n250-2.1.5 uno\r\n250-dos\r\n25", b"0 tres\r\n354 adelante\r\n"]
    async with _scripted(chunks) as port:
        wire = await _open(port)
        assert wire.pipelining
        wire.write(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        first = await wire.reply()
        assert first == (250, "2.1.0 Ok")
        rcpt, start = await wire.replies(2)
        assert rcpt == (250, "2.1.5 uno\ndos\ntres")
        assert start.code == 354
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):  # the server hung up
            await asyncio.wait_for(wire.reply(), 5)
        assert not wire.open


async def test_garbage_is_a_response_error() -> None:
    async with _scripted([b"hola\r\n"]) as port:
        wire = await _open(port)
        wire.write(b"NOOP\r\n")
        with pytest.raises(aiosmtplib.SMTPResponseException):
            await asyncio.wait_for(wire.reply(), 5)
        assert not wire.open
