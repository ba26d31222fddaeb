"""From parsed entries to clippings, and from one read to a source's next state.

:func:`clippings_from` keeps the entries of a feed that mention a keyword in their title or
summary, as :class:`NewClipping` rows with plain, capped texts and a normalised http(s) link
(an entry without one is skipped). :func:`next_state` is the source's state after a read:
new validators on success, consecutive failures counted, and ``next_fetch_at`` — the
earliest time the source may be asked again — from its ``Retry-After`` or the backoff
(:func:`dispatcher.services.delivery.backoff.backoff`, doubling from the plan's ``every``).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dispatcher.items.monitoring import Source
from dispatcher.ledger.monitoring import NewClipping, SourceState
from dispatcher.services.delivery.backoff import backoff
from dispatcher.services.monitoring.clean import (
    EXCERPT_LIMIT,
    MATCH_LIMIT,
    TITLE_LIMIT,
    normalise_link,
    plain_text,
)
from dispatcher.services.monitoring.fetch import Fetched
from dispatcher.services.monitoring.match import Matcher

BACKOFF_CAP = timedelta(hours=12)


def _published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _summary(entry: Any) -> str:
    summary = entry.get("summary") or entry.get("description") or ""
    if not summary:
        for part in entry.get("content") or []:
            if isinstance(part, dict) and part.get("value"):
                summary = part["value"]
                break
    return summary if isinstance(summary, str) else ""


def _link(entry: Any) -> str | None:
    link = normalise_link(entry.get("link"))
    if link is not None:
        return link
    for candidate in entry.get("links") or []:
        if isinstance(candidate, dict) and candidate.get("rel", "alternate") == "alternate":
            link = normalise_link(candidate.get("href"))
            if link is not None:
                return link
    return normalise_link(entry.get("id"))  # a guid is often the article's address


def clippings_from(entries: Iterable[Any], source: Source, matcher: Matcher) -> list[NewClipping]:
    """The entries of ``source`` that mention a keyword, as clippings to keep."""
    found: list[NewClipping] = []
    for entry in entries:
        if not hasattr(entry, "get"):
            continue
        title = plain_text(entry.get("title"), MATCH_LIMIT)
        summary = plain_text(_summary(entry), MATCH_LIMIT)
        keywords = matcher.find(title, summary)
        if not keywords:
            continue
        link = _link(entry)
        if link is None:
            continue
        found.append(
            NewClipping(
                link=link, outlet=source.name, source_url=source.url,
                title=plain_text(title, TITLE_LIMIT) or "(sin título)",
                excerpt=plain_text(summary, EXCERPT_LIMIT),
                published_at=_published(entry), keywords=keywords,
            )
        )  # fmt: skip
    return found


def next_state(
    state: SourceState | None, source: Source, fetched: Fetched, now: datetime, every: timedelta
) -> SourceState:
    """The source's state after ``fetched``."""
    base = state or SourceState(url=source.url, name=source.name)
    base = replace(base, name=source.name, last_fetch_at=now, last_status=fetched.status)
    if fetched.outcome != "failed":
        return replace(
            base, etag=fetched.etag, last_modified=fetched.last_modified, failures=0,
            next_fetch_at=None, last_success_at=now, last_error=None,
        )  # fmt: skip
    failures = base.failures + 1
    wait = backoff(
        failures,
        base=every.total_seconds(),
        cap=max(every, BACKOFF_CAP).total_seconds(),
        retry_after=fetched.retry_after,
    )
    return replace(
        base, failures=failures, next_fetch_at=now + timedelta(seconds=wait),
        last_error=fetched.error,
    )  # fmt: skip


def due_at(state: SourceState | None, every: timedelta) -> datetime | None:
    """When the source should next be read by the periodic loop (``None``: now)."""
    if state is None or state.last_fetch_at is None:
        return state.next_fetch_at if state else None
    regular = state.last_fetch_at + every
    return max(regular, state.next_fetch_at) if state.next_fetch_at else regular
