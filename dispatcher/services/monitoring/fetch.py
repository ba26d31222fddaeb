"""Reading one feed: an httpx GET with timeouts, a size cap and the conditional headers
the last answer allowed, then feedparser on the bytes and the response's headers.

Outcomes (:class:`Fetched`): ``ok`` with the parsed entries, ``not_modified`` (304: nothing
new, nothing parsed), or ``failed`` with a Spanish reason and, when the server said how long
to wait (``Retry-After`` on a 429/503), ``retry_after`` in seconds. Nothing here raises for
what a server does: a failing source is an outcome, reported by the caller.

feedparser is always handed a byte stream, never a string or bytes it could take for a
file name or a URL to fetch by itself.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import feedparser
import httpx

from dispatcher.ledger.monitoring import SourceState

USER_AGENT = "Pregonero/0.1 (monitoreo de medios; +https://www.bucaramanga.gov.co)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, */*;q=0.5"
)
HEADER_LIMIT = 512
RETRY_AFTER_MAX = 24 * 3600.0


@dataclass(frozen=True)
class FetchOptions:
    """How feeds are read: per-operation ``timeout`` and a ``deadline`` for the whole
    request (a server that drips bytes cannot hold a reader), ``max_bytes`` of body,
    ``concurrency`` sources at once, at most ``max_entries`` entries per feed."""

    timeout: float = 20.0
    deadline: float = 60.0
    max_bytes: int = 5 * 1024 * 1024
    concurrency: int = 4
    max_entries: int = 200


@dataclass(frozen=True)
class Fetched:
    """One read of one source."""

    outcome: Literal["ok", "not_modified", "failed"]
    status: int | None = None
    entries: list[Any] = field(default_factory=list, repr=False)
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    retry_after: float | None = None
    malformed: bool = False


class TooLarge(Exception):
    pass


def conditional_headers(state: SourceState | None) -> dict[str, str]:
    """``If-None-Match``/``If-Modified-Since`` from the last answer (none on a first read)."""
    headers: dict[str, str] = {}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _header(value: str | None) -> str | None:
    """A validator to send back later: printable ASCII, bounded, or nothing."""
    if not value or len(value) > HEADER_LIMIT:
        return None
    if not all(32 <= ord(c) < 127 for c in value):
        return None
    return value


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), capped a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, seconds), RETRY_AFTER_MAX)


def client(options: FetchOptions) -> httpx.AsyncClient:
    """The HTTP client every source of a run shares (redirects followed, at most 5)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(options.timeout),
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
        limits=httpx.Limits(max_connections=max(1, options.concurrency) * 2),
    )


async def _body(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch(
    http: httpx.AsyncClient, url: str, state: SourceState | None, options: FetchOptions
) -> Fetched:
    """Read the feed at ``url`` (conditionally when ``state`` has validators) and parse it."""
    mb = options.max_bytes / (1024 * 1024)
    try:
        async with asyncio.timeout(options.deadline):
            async with http.stream("GET", url, headers=conditional_headers(state)) as response:
                status = response.status_code
                if status == 304:
                    etag = _header(response.headers.get("etag"))
                    modified = _header(response.headers.get("last-modified"))
                    return Fetched(
                        "not_modified", status,
                        etag=etag or (state.etag if state else None),
                        last_modified=modified or (state.last_modified if state else None),
                    )  # fmt: skip
                if status >= 400:
                    wait = retry_after(response.headers.get("retry-after"))
                    return Fetched(
                        "failed", status, error=f"el servidor respondió HTTP {status}",
                        retry_after=wait if status in (429, 503) else None,
                    )  # fmt: skip
                if status != 200:
                    return Fetched("failed", status, error=f"respuesta inesperada HTTP {status}")
                body = await _body(response, options.max_bytes)
                headers = {k.lower(): v for k, v in response.headers.items()}
                final = str(response.url)
    except TooLarge:
        return Fetched("failed", None, error=f"el canal supera el límite de {mb:g} MB")
    except TimeoutError:
        return Fetched("failed", None, error=f"sin respuesta en {options.deadline:g} s")
    except httpx.TimeoutException:
        return Fetched("failed", None, error=f"sin respuesta en {options.timeout:g} s")
    except httpx.TooManyRedirects:
        return Fetched("failed", None, error="demasiadas redirecciones")
    except (httpx.HTTPError, OSError, ValueError) as exc:
        return Fetched("failed", None, error=f"no se pudo conectar: {type(exc).__name__}")
    # a large feed takes a while to parse: off the event loop, so deliveries keep going
    return await asyncio.to_thread(parse, body, headers, final, options, status=status)


def parse(
    body: bytes, headers: dict[str, str], url: str, options: FetchOptions, *, status: int = 200
) -> Fetched:
    """Parse a feed's bytes (RSS 0.9x/1.0/2.0, Atom; broken ones as far as they go)."""
    response_headers = {**headers, "content-location": url}
    parsed = feedparser.parse(
        io.BytesIO(body), response_headers=response_headers, sanitize_html=True,
        resolve_relative_uris=True,
    )  # fmt: skip
    entries = list(parsed.get("entries") or [])[: options.max_entries]
    etag = _header(headers.get("etag"))
    modified = _header(headers.get("last-modified"))
    if not entries and parsed.get("bozo") and not parsed.get("version"):
        reason = type(parsed.get("bozo_exception")).__name__
        return Fetched(
            "failed", status, error=f"no es un canal RSS/Atom legible ({reason})",
            etag=etag, last_modified=modified,
        )  # fmt: skip
    return Fetched(
        "ok", status, entries, etag=etag, last_modified=modified,
        malformed=bool(parsed.get("bozo")),
    )  # fmt: skip
