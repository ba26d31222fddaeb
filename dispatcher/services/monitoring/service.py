"""Reading the plan's sources: ``pregonero monitor`` (every source now) and the loop that
``pregonero run`` keeps (each source every ``every``).

:func:`read_sources` reads the sources in parallel, at most ``FetchOptions.concurrency`` at
once (an ``asyncio.Semaphore``), keeps the matching entries as clippings (once per link,
the plan's first source winning when two carry the same link) and stores each source's new
state. A source that fails — refused, timed out, too large, not a feed — is a
:class:`SourceReport` with its reason; it never stops the others. A source still inside its
``Retry-After`` or backoff window is not asked (``waiting``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from dispatcher.items.monitoring import MonitoringPlan, Source
from dispatcher.ledger import monitoring as ledger_monitoring
from dispatcher.ledger.monitoring import Clipping
from dispatcher.services.monitoring.fetch import Fetched, FetchOptions, client, fetch
from dispatcher.services.monitoring.match import Matcher
from dispatcher.services.monitoring.store import clippings_from, due_at, next_state

if TYPE_CHECKING:
    from dispatcher.services.context import App

log = logging.getLogger("pregonero.monitoring")

LOOP_MAX_SLEEP = 300.0
FAILURES_TO_WARN = 3
"""Consecutive failures after which the editors are told a source stopped answering."""


class NotConfigured(Exception):
    """The plan has no ``monitoring:`` section."""

    def __init__(self) -> None:
        super().__init__(
            "El plan no tiene la sección 'monitoring' (monitoreo de medios): agréguela en "
            "content/plan.yaml con 'keywords' y 'sources' (hay un ejemplo comentado)."
        )


@dataclass(frozen=True)
class SourceReport:
    """What happened to one source in a run."""

    name: str
    url: str
    outcome: Literal["ok", "not_modified", "failed", "waiting"]
    entries: int = 0
    new: int = 0
    error: str | None = None
    waiting_until: datetime | None = None
    failures: int = 0
    malformed: bool = False


@dataclass
class MonitorRun:
    """A run over the sources: one report per source (plan order) and the new clippings."""

    sources: list[SourceReport] = field(default_factory=list)
    clippings: list[Clipping] = field(default_factory=list)

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.outcome == "failed"]


def monitoring_plan(app: App) -> MonitoringPlan:
    """The plan's ``monitoring:`` section, or :class:`NotConfigured`."""
    if app.plan.monitoring is None:
        raise NotConfigured
    return app.plan.monitoring


async def read_sources(
    app: App,
    *,
    options: FetchOptions | None = None,
    due_only: bool = False,
    sources: Sequence[Source] | None = None,
) -> MonitorRun:
    """Read the sources now (``due_only``: those whose ``every`` has passed) and keep the
    matching entries. Sources in their wait window are skipped and reported ``waiting``."""
    plan = monitoring_plan(app)
    options = options or FetchOptions()
    chosen = list(sources if sources is not None else plan.sources)
    states = await ledger_monitoring.source_states(app.ledger, (s.url for s in chosen))
    now = app.clock()
    reports: dict[str, SourceReport] = {}
    to_read: list[Source] = []
    for source in chosen:
        state = states.get(source.url)
        if due_only:
            due = due_at(state, plan.every)
            if due is not None and due > now:
                continue
        if state is not None and state.next_fetch_at is not None and state.next_fetch_at > now:
            reports[source.url] = SourceReport(
                source.name, source.url, "waiting", error=state.last_error,
                waiting_until=state.next_fetch_at, failures=state.failures,
            )  # fmt: skip
            continue
        to_read.append(source)
    gate = asyncio.Semaphore(max(1, options.concurrency))
    async with client(options) as http:

        async def one(source: Source) -> Fetched:
            async with gate:
                try:
                    return await fetch(http, source.url, states.get(source.url), options)
                except Exception as exc:  # a parser bug must not stop the other sources
                    log.exception("monitoreo: error inesperado al leer %s", source.name)
                    return Fetched("failed", None, error=f"error inesperado: {type(exc).__name__}")

        results = await asyncio.gather(*(one(s) for s in to_read))
    matcher = Matcher(plan.keywords)
    found = []
    per_source: dict[str, int] = {}
    for source, fetched in zip(to_read, results, strict=True):
        clips = clippings_from(fetched.entries, source, matcher)
        per_source[source.url] = len(clips)
        found.extend(clips)
    finished = app.clock()
    day = finished.astimezone(app.plan.tz).date()
    stored = await ledger_monitoring.add_clippings(app.ledger, found, now=finished, day=day)
    new_by_source: dict[str, int] = {}
    for clip in stored:
        new_by_source[clip.source_url] = new_by_source.get(clip.source_url, 0) + 1
    for source, fetched in zip(to_read, results, strict=True):
        state = next_state(states.get(source.url), source, fetched, finished, plan.every)
        await ledger_monitoring.save_source(app.ledger, state)
        reports[source.url] = SourceReport(
            source.name, source.url, fetched.outcome, entries=len(fetched.entries),
            new=new_by_source.get(source.url, 0), error=fetched.error,
            waiting_until=state.next_fetch_at if fetched.outcome == "failed" else None,
            failures=state.failures, malformed=fetched.malformed,
        )  # fmt: skip
        if fetched.outcome == "failed":
            log.warning("monitoreo: %s (%s) falló: %s", source.name, source.url, fetched.error)
            if state.failures == FAILURES_TO_WARN:
                await app.notify(
                    f"⚠️ Monitoreo de medios: {source.name} no responde "
                    f"({state.failures} lecturas seguidas): {fetched.error}"
                )
    ordered = [reports[s.url] for s in chosen if s.url in reports]
    return MonitorRun(ordered, stored)


async def next_due(app: App) -> datetime | None:
    """When the periodic loop should next read a source (``None``: no sources)."""
    plan = app.plan.monitoring
    if plan is None:
        return None
    states = await ledger_monitoring.source_states(app.ledger, (s.url for s in plan.sources))
    now = app.clock()
    times = [due_at(states.get(s.url), plan.every) or now for s in plan.sources]
    return min(times, default=None)


async def monitor_loop(
    app: App, stop: asyncio.Event, *, options: FetchOptions | None = None
) -> None:
    """``pregonero run``'s monitoring task: each source every ``every`` (failing ones on
    their backoff), until ``stop`` is set. Never raises: a bad pass is logged and retried."""
    while not stop.is_set():
        try:
            run = await read_sources(app, options=options, due_only=True)
            if run.clippings:
                log.info("monitoreo: %d nota(s) nueva(s)", len(run.clippings))
            due = await next_due(app)
        except Exception:
            log.exception("monitoreo: la lectura de fuentes falló; se reintenta")
            due = None
        now = app.clock()
        wait = LOOP_MAX_SLEEP if due is None else (due - now).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(LOOP_MAX_SLEEP, max(1.0, wait)))
