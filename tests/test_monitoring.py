"""Reading the press sources (``read_sources``) against a local newsroom on 127.0.0.1 —
RSS 2.0, RSS 1.0, Atom, a malformed feed, a feed declared UTF-8 and sent in cp1252, a 500, a
slow source, a 429 with ``Retry-After`` — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from dispatcher.ledger import monitoring as ledger_monitoring
from dispatcher.services.monitoring.fetch import FetchOptions
from dispatcher.services.monitoring.service import read_sources
from tests.doubles.feeds import Entry, FeedDouble, rss2
from tests.test_monitoring_support import SHARED_NORMAL, Clock, monitoring_app, newsroom

FAST = FetchOptions(timeout=0.5, deadline=1.5)


@pytest.fixture
def site() -> object:
    with FeedDouble() as double:
        yield double
    assert not double.errors, double.errors


async def test_matching_entries_are_kept_once_and_broken_sources_are_reported(
    site: FeedDouble, tmp_path: Path, ledger_url: str
) -> None:
    app = await monitoring_app(tmp_path, newsroom(site), database_url=ledger_url)
    try:
        run = await read_sources(app, options=FAST)
        by_name = {s.name: s for s in run.sources}
        # every format is read, broken and mis-encoded ones included
        for name in ("Vanguardia", "El Frente", "Extra", "Gente de Cabecera"):
            assert by_name[name].outcome == "ok", by_name[name]
        assert by_name["Caracol Radio Bucaramanga"].outcome == "ok"
        assert by_name["Gente de Cabecera"].malformed
        # the failing ones are reported with their reason, and did not stop the others
        assert by_name["RCN Radio"].outcome == "failed"
        assert "HTTP 500" in (by_name["RCN Radio"].error or "")
        assert by_name["Blu Radio"].outcome == "failed"
        assert "sin respuesta" in (by_name["Blu Radio"].error or "")
        assert by_name["Radio Limitada"].outcome == "failed"

        links = sorted(c.link for c in run.clippings)
        assert links == sorted(
            [
                SHARED_NORMAL,  # Vanguardia and El Frente carry it: kept once, tracking gone
                "https://www.vanguardia.com/local/obras-27",  # keyword in the summary only
                "https://www.vanguardia.com/local/metrolinea-rutas",
                "https://www.elfrente.com.co/metrolinea-buses",
                "https://extra.com.co/parque",
                "https://gentedecabecera.com/metrolinea",
                "https://caracol.com.co/bucaramanga/1",
            ]
        )
        shared = next(c for c in run.clippings if c.link == SHARED_NORMAL)
        assert shared.outlet == "Vanguardia"  # the plan's first source carrying it
        assert shared.keywords == ("Alcaldía de Bucaramanga",)
        caracol = next(c for c in run.clippings if c.outlet == "Caracol Radio Bucaramanga")
        assert caracol.title == "Alcaldía de Bucaramanga y la Ñ"  # cp1252 read right
        # untrusted text is plain: no markup, no control or bidi characters
        rutas = next(c for c in run.clippings if c.link.endswith("metrolinea-rutas"))
        assert rutas.title == "Metrolínea amplía rutas"
        assert rutas.excerpt == "Nuevas rutas desde enero"
        assert all("<" not in c.title + c.excerpt for c in run.clippings)
        assert all(c.link.startswith(("http://", "https://")) for c in run.clippings)

        stored = await ledger_monitoring.clippings_of_day(app.ledger, run.clippings[0].day)
        assert sorted(c.link for c in stored) == links
        assert await ledger_monitoring.count_clippings(app.ledger) == len(links)

        # a second read: conditional requests, nothing kept twice, failing sources wait
        again = await read_sources(app, options=FAST)
        assert again.clippings == []
        second = {s.name: s for s in again.sources}
        assert second["Vanguardia"].outcome == "not_modified"
        assert second["El Frente"].outcome == "not_modified"
        vanguardia = site.requests_to("/vanguardia/rss")
        assert "if-none-match" not in vanguardia[0].headers
        assert vanguardia[1].headers["if-none-match"] == '"v1"'
        frente = site.requests_to("/elfrente/rss.rdf")
        assert frente[1].headers["if-modified-since"] == "Sun, 06 Dec 2026 12:00:00 GMT"
        for name, path in (("RCN Radio", "/rcn/rss"), ("Radio Limitada", "/limitada/rss")):
            assert second[name].outcome == "waiting"
            assert len(site.requests_to(path)) == 1  # backed off: not asked again
        assert await ledger_monitoring.count_clippings(app.ledger) == len(links)
    finally:
        await app.aclose()


async def test_retry_after_is_respected_and_a_failing_source_backs_off(
    site: FeedDouble, tmp_path: Path
) -> None:
    clock = Clock()
    limited = site.add("/limitada/rss", b"", status=429, headers={"Retry-After": "120"})
    failing = site.add("/rcn/rss", b"", status=503)
    app = await monitoring_app(
        tmp_path, {"Limitada": limited, "RCN": failing}, clock=clock, plan={"every": "PT10M"}
    )
    try:
        await read_sources(app, options=FAST)
        states = await ledger_monitoring.source_states(app.ledger, [limited, failing])
        limited_state, failing_state = states[limited], states[failing]
        assert limited_state.next_fetch_at is not None
        # never sooner than the server asked (backoff may add to it)
        assert limited_state.next_fetch_at - clock.now >= timedelta(seconds=120)
        assert failing_state.failures == 1
        assert failing_state.next_fetch_at is not None
        assert failing_state.next_fetch_at > clock.now

        clock.now += timedelta(seconds=60)
        run = await read_sources(app, options=FAST)
        assert {s.outcome for s in run.sources} == {"waiting"}
        assert len(site.requests) == 2

        # once the wait is over the source is read again; it recovers
        site.add("/limitada/rss", rss2([Entry("Metrolínea hoy", "https://x.co/a")]))
        clock.now = max(limited_state.next_fetch_at, failing_state.next_fetch_at) + timedelta(
            seconds=1
        )
        run = await read_sources(app, options=FAST)
        outcomes = {s.name: s.outcome for s in run.sources}
        assert outcomes == {"Limitada": "ok", "RCN": "failed"}
        states = await ledger_monitoring.source_states(app.ledger, [limited, failing])
        assert states[limited].failures == 0 and states[limited].next_fetch_at is None
        assert states[failing].failures == 2
        # the second failure waits longer than the first could (doubling from `every`)
        assert states[failing].next_fetch_at - clock.now >= timedelta(minutes=10)
    finally:
        await app.aclose()


async def test_a_source_is_read_with_a_size_cap_and_never_as_a_local_file(
    site: FeedDouble, tmp_path: Path
) -> None:
    secret = tmp_path / "secreto.xml"
    secret.write_bytes(rss2([Entry("Metrolínea secreta", "https://intranet/secreto")]))
    big = site.add("/big", rss2([Entry("Metrolínea " + "x" * 400, "https://x.co/1")] * 300))
    path = site.add("/path", str(secret).encode())  # a body that names a local file
    app = await monitoring_app(tmp_path, {"Grande": big, "Ruta": path})
    try:
        run = await read_sources(app, options=FetchOptions(max_bytes=50_000))
        by_name = {s.name: s for s in run.sources}
        assert by_name["Grande"].outcome == "failed"
        assert "límite" in (by_name["Grande"].error or "")
        assert by_name["Ruta"].outcome == "failed"  # not a feed; the file was not read
        assert run.clippings == []
    finally:
        await app.aclose()


async def test_sources_are_read_in_parallel_within_the_bound(
    site: FeedDouble, tmp_path: Path
) -> None:
    sources = {
        f"Medio {n}": site.add(
            f"/m{n}", rss2([Entry(f"Metrolínea {n}", f"https://m{n}.co/a")]), delay=0.3
        )
        for n in range(6)
    }
    app = await monitoring_app(tmp_path, sources)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        run = await read_sources(app, options=FetchOptions(concurrency=3))
        elapsed = loop.time() - started
        assert len(run.clippings) == 6
        assert 0.55 <= elapsed < 1.5  # two waves of three, not six in a row nor all at once
    finally:
        await app.aclose()


async def test_clippings_store_outlet_title_link_time_keywords_and_excerpt(
    site: FeedDouble, tmp_path: Path
) -> None:
    url = site.add(
        "/v",
        rss2(
            [
                Entry(
                    "Metrolínea y la Alcaldía de Bucaramanga",
                    "HTTPS://WWW.Example.COM:443/a/b?b=2&utm_campaign=x&a=1#top",
                    "palabra " * 200,
                )
            ]
        ),
    )
    app = await monitoring_app(tmp_path, {"Vanguardia": url})
    try:
        [clip] = (await read_sources(app)).clippings
        assert clip.outlet == "Vanguardia"
        assert clip.link == "https://www.example.com/a/b?b=2&a=1"
        assert clip.keywords == ("Alcaldía de Bucaramanga", "Metrolínea")
        assert clip.published_at is not None and clip.published_at.year == 2026
        assert len(clip.excerpt) <= 400 and clip.excerpt.endswith("…")
        assert json.loads(json.dumps(clip.keywords)) == list(clip.keywords)
    finally:
        await app.aclose()
