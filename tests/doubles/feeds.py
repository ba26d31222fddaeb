"""A local news site double: RSS 2.0, RSS 1.0 and Atom feeds (and broken ones) on 127.0.0.1.

Each feed is a :class:`Feed` at a path; the double answers conditional requests the way a
real server does (``If-None-Match`` against the feed's ETag, ``If-Modified-Since`` against
its Last-Modified → 304 with no body), can be slow (``delay``) or fail (``status`` with
headers, e.g. a 429 with ``Retry-After``). Builders write the three formats::

    with FeedDouble() as site:
        site.add("/rss", rss2([Entry("Título", "https://…")]), etag='"v1"')
        site.url("/rss")               # "http://127.0.0.1:PORT/rss"
        site.requests_to("/rss")       # what arrived (headers included)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from tests.doubles.base import DoubleServer, Request, Response

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
RDF = "application/rdf+xml; charset=utf-8"


@dataclass
class Entry:
    """One article: what the feed builders write."""

    title: str
    link: str
    summary: str = ""
    published: datetime | None = None


@dataclass
class Feed:
    body: bytes
    content_type: str = RSS
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def _when(entry: Entry) -> datetime:
    return entry.published or datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def rss2(entries: list[Entry], *, title: str = "Noticias", encoding: str = "utf-8") -> bytes:
    """An RSS 2.0 document (titles and summaries escaped as XML text)."""
    items = "".join(
        f"<item><title>{escape(e.title)}</title><link>{escape(e.link)}</link>"
        f"<description>{escape(e.summary)}</description>"
        f'<pubDate>{format_datetime(_when(e))}</pubDate><guid isPermaLink="false">{i}</guid></item>'
        for i, e in enumerate(entries)
    )
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link>"
        f"<description>{escape(title)}</description>{items}</channel></rss>"
    )
    return text.encode(encoding)


def rss1(entries: list[Entry], *, title: str = "Noticias") -> bytes:
    """An RSS 1.0 (RDF) document."""
    refs = "".join(f'<rdf:li rdf:resource="{escape(e.link)}"/>' for e in entries)
    items = "".join(
        f'<item rdf:about="{escape(e.link)}"><title>{escape(e.title)}</title>'
        f"<link>{escape(e.link)}</link><description>{escape(e.summary)}</description>"
        f"<dc:date>{_when(e).isoformat()}</dc:date></item>"
        for e in entries
    )
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="https://example.org/"><title>{escape(title)}</title>'
        f"<link>https://example.org/</link><description>{escape(title)}</description>"
        f"<items><rdf:Seq>{refs}</rdf:Seq></items></channel>{items}</rdf:RDF>"
    )
    return text.encode("utf-8")


def atom(entries: list[Entry], *, title: str = "Noticias") -> bytes:
    """An Atom 1.0 document (summaries as ``type="html"``)."""
    items = "".join(
        f"<entry><title>{escape(e.title)}</title>"
        f'<link rel="alternate" href="{escape(e.link)}"/><id>urn:uuid:{i}</id>'
        f"<updated>{_when(e).isoformat()}</updated>"
        f'<summary type="html">{escape(e.summary)}</summary></entry>'
        for i, e in enumerate(entries)
    )
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:uuid:feed</id>"
        f"<updated>2026-12-06T12:00:00Z</updated>{items}</feed>"
    )
    return text.encode("utf-8")


class FeedDouble(DoubleServer):
    """News sites' feeds on one local server (any path added with :meth:`add`)."""

    service = "feeds"

    def __init__(self) -> None:
        super().__init__()
        self.feeds: dict[str, Feed] = {}
        self.route("GET", r"/(?P<name>.*)", self._serve)

    def add(self, path: str, body: bytes, content_type: str = RSS, **options: Any) -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        with self.lock:
            self.feeds[path] = Feed(body, content_type, **options)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    async def _serve(self, request: Request, name: str) -> Response:
        with self.lock:
            feed = self.feeds.get(request.path)
        if feed is None:
            return Response(404, b"no existe", {"Content-Type": "text/plain"})
        if feed.delay:
            await asyncio.sleep(feed.delay)
        if feed.status != 200:
            return Response(feed.status, b"error", {"Content-Type": "text/plain", **feed.headers})
        validators = {}
        if feed.etag:
            validators["ETag"] = feed.etag
        if feed.last_modified:
            validators["Last-Modified"] = feed.last_modified
        match = request.headers.get("if-none-match")
        since = request.headers.get("if-modified-since")
        if (feed.etag and match == feed.etag) or (
            feed.last_modified and not match and since == feed.last_modified
        ):
            return Response(304, b"", validators)
        return Response(200, feed.body, {"Content-Type": feed.content_type, **validators})

    def settings_overrides(self) -> dict[str, Any]:
        return {}

    def settings_env(self) -> dict[str, str]:
        return {}
