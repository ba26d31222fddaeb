"""``pregonero monitor`` and ``pregonero monitor report`` through the real command line,
and ``pregonero run``'s monitoring task (the sources read on start, then every ``every``)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from dispatcher.ledger import monitoring as ledger_monitoring
from dispatcher.run.loop import run_forever
from dispatcher.services.monitoring.service import next_due
from tests.conftest import Workspace
from tests.doubles.feeds import Entry, FeedDouble, rss2
from tests.test_monitoring_support import (
    SHARED_NORMAL,
    check_html,
    monitoring_app,
    newsroom,
    write_plan,
)

TZ = ZoneInfo("America/Bogota")


def test_monitor_reads_every_source_and_the_report_links_each_clipping(
    workspace: Workspace,
) -> None:
    with FeedDouble() as site:
        sources = newsroom(site)
        del sources["Blu Radio"]  # the slow one: covered in test_monitoring.py
        sources["Extra"] = site.add(
            "/extra/rss",
            rss2(
                [
                    Entry(
                        'Metrolínea: tarifa < 3.000 & "más" <script>alert(1)</script>',
                        "https://extra.co/x",
                    )
                ]
            ),
        )
        write_plan(workspace.content, list(sources.items()))

        first = workspace.cli("monitor")
        assert first.returncode == 1, first.stderr  # one source failed; the others were read
        out = first.stdout
        assert "RCN Radio: FALLÓ — el servidor respondió HTTP 500" in out
        assert "Radio Limitada: FALLÓ — el servidor respondió HTTP 429" in out
        assert "Vanguardia: 6 entradas, 3 notas nuevas" in out
        assert "El Frente: 3 entradas, 1 nota nueva" in out
        assert "Listo: 7 notas nuevas; 2 fuentes fallaron." in out

        second = workspace.cli("monitor")
        assert "Vanguardia: sin cambios desde la última lectura" in second.stdout
        assert "RCN Radio: en espera hasta" in second.stdout
        assert len(site.requests_to("/rcn/rss")) == 1
        assert site.requests_to("/vanguardia/rss")[1].headers["if-none-match"] == '"v1"'

    today = datetime.now(TZ).date()
    shown = workspace.cli("monitor", "report", "--date", today.isoformat(), check=True).stdout
    with sqlite3.connect(workspace.root / "pregonero.db") as db:
        rows = db.execute("SELECT outlet, title, link FROM clippings ORDER BY id").fetchall()
    assert len(rows) == 7 and len({link for _, _, link in rows}) == 7
    assert SHARED_NORMAL in {link for _, _, link in rows}
    assert "7 notas en 5 medios" in shown
    for outlet, title, link in rows:
        assert f"{outlet} (" in shown and title in shown and link in shown
    page_path = workspace.content / "reports" / f"medios-{today.isoformat()}.html"
    assert f"Informe: {page_path}" in shown
    page = page_path.read_text(encoding="utf-8")
    parsed = check_html(page)
    assert sorted(parsed.links) == sorted(link for _, _, link in rows)
    assert "tarifa &lt; 3.000 &amp; &#34;más&#34;" in page  # shown as text, escaped
    assert "alert(1)" not in page  # the feed's script went with the markup

    empty = workspace.cli("monitor", "report", "--date", "2020-01-01", check=True)
    assert "No hay notas de prensa registradas ese día." in empty.stdout
    check_html((workspace.content / "reports" / "medios-2020-01-01.html").read_text("utf-8"))


def test_monitor_without_the_plans_section_says_how_to_turn_it_on(workspace: Workspace) -> None:
    result = workspace.cli("monitor")
    assert result.returncode == 2
    assert "no tiene la sección 'monitoring'" in result.stderr
    bad = workspace.cli("monitor", "report", "--date", "ayer")
    assert bad.returncode == 2 and "AAAA-MM-DD" in bad.stderr


async def test_run_reads_the_sources_on_start_then_every_every(tmp_path: Path) -> None:
    with FeedDouble() as site:
        url = site.add("/v", rss2([Entry("Metrolínea llega a Girón", "https://v.co/giron")]))
        app = await monitoring_app(
            tmp_path, {"Vanguardia": url}, plan={"every": "PT1M"},
            intake={"settle_seconds": 0},
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(run_forever(app, stop))
        try:
            # the pass stores its clippings, then the source's state (its next read)
            for _ in range(200):
                due = await next_due(app)
                if due is not None and due > app.clock():
                    break
                await asyncio.sleep(0.05)
            assert await ledger_monitoring.count_clippings(app.ledger) == 1
            assert due is not None and 55 <= (due - app.clock()).total_seconds() <= 60
            await asyncio.sleep(1.0)
            assert len(site.requests_to("/v")) == 1  # not again before `every`
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await app.aclose()
