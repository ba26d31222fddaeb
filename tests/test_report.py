"""``pregonero plan report`` over a seeded month (November 2026): expected frequency
against what went out, the gaps, and the HTML calendar page."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path

from sqlalchemy import insert, update

from dispatcher.ledger.schema import deliveries, mail_campaigns, mail_digest, utcnow
from dispatcher.services.context import App
from dispatcher.services.plan_report import compliance
from dispatcher.services.plan_report_view import table, write
from tests.conftest import Workspace
from tests.test_scale_support import BOGOTA, Clock, bogota, content_item, make_app, make_settings

pytest_plugins = ["tests.test_scale_support"]

NOVEMBER = date(2026, 11, 1)
WEEKENDS_AND_HOLIDAY = {1, 7, 8, 14, 15, 16}


def piece(kind: str, n: int, day: date, extra: str = "") -> str:
    return (
        f"---\nkind: {kind}\nid: {kind.replace('_', '-')}-{n:02d}\n"
        f'title: "{kind} número {n:02d}"\ndate: {day.isoformat()}\n{extra}---\n\nTexto.\n'
    )


async def published(app: App, kind: str, n: int, day: date, *, extra: str = "") -> str:
    """An item whose deliveries all went out on ``day`` at 10:00 Bogotá."""
    item = content_item(app, piece(kind, n, day, extra), f"{kind}-{n}.md")
    channels = app.plan.channels_for(kind, None)
    await app.ledger.add_item(item, channels, status="ready")
    sent_at = datetime.combine(day, time(10, 0), tzinfo=BOGOTA)
    async with app.ledger.engine.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.item_id == item.id)
            .values(status="sent", sent_at=sent_at, attempts=1)
        )
    return item.id


async def seed(app: App) -> None:
    n = 0
    for day in range(2, 21):  # bulletins on working days, 2–20 November
        if day not in WEEKENDS_AND_HOLIDAY:
            n += 1
            await published(app, "boletin", n, date(2026, 11, day))
    await published(app, "boletin", 99, date(2026, 11, 5))  # two on one day count once
    await published(app, "informe_especial", 1, date(2026, 11, 4))  # week 2–8
    await published(app, "informe_especial", 2, date(2026, 11, 19))  # week 16–22
    await published(app, "hable_con_el_alcalde", 1, date(2026, 11, 9))  # fortnight 9–22
    for m, day in ((1, 6), (2, 17)):
        starts = f"event:\n  starts_at: 2026-11-{day:02d}T10:00:00\n  place: CAM\n"
        await published(app, "rueda_de_prensa", m, date(2026, 11, day), extra=starts)
    # never published: cancelled before anything went out
    cancelled = content_item(app, piece("boletin", 50, date(2026, 11, 21)), "cancelada.md")
    await app.ledger.add_item(cancelled, ["website"], status="ready")
    await app.ledger.cancel(cancelled.id)
    # the daily bulletin mailing: recorded for every bulletin day, sent but on the 10th
    async with app.ledger.engine.begin() as conn:
        for day in range(2, 21):
            if day in WEEKENDS_AND_HOLIDAY:
                continue
            when = date(2026, 11, day)
            await conn.execute(
                insert(mail_digest).values(
                    item_id=f"boletin-{[d for d in range(2, day + 1) if d not in WEEKENDS_AND_HOLIDAY].__len__():02d}",
                    revision=1, day=when, audiences=3, bulletin_day=None if day == 10 else when,
                    created_at=utcnow(),
                )
            )  # fmt: skip
            if day != 10:
                await conn.execute(
                    insert(mail_campaigns).values(
                        key=f"digest:{when.isoformat()}:1", kind="digest", day=when, audiences=3,
                        list_id="boletin-diario.example", list_name="Boletín", subject="s",
                        text="t", html="h", nonce="n", total=1, status="done",
                        created_at=utcnow(),
                    )
                )  # fmt: skip


async def test_compliance_over_a_seeded_month(ledger_url: str, tmp_path: Path) -> None:
    app = await make_app(make_settings(tmp_path, ledger_url), Clock(bogota(2026, 12, 1, 9, 0)))
    try:
        await seed(app)
        report = await compliance(app, NOVEMBER)
        by_key = {a.key: a for a in report.activities}

        daily = by_key["boletin"]
        assert (daily.expected, daily.covered, daily.pieces) == (30, 14, 15)
        assert [g.start.day for g in daily.gaps] == [1, 7, 8, 14, 15, 16, *range(21, 31)]
        assert daily.status == "parcial" and daily.percent == 47

        weekly = by_key["informe_especial"]
        assert (weekly.expected, weekly.covered) == (4, 2)
        assert [(g.start, g.end) for g in weekly.gaps] == [
            (date(2026, 11, 9), date(2026, 11, 15)),
            (date(2026, 11, 23), date(2026, 11, 29)),
        ]
        assert by_key["mesa_publica"].status == "incumplido"

        fortnight = by_key["hable_con_el_alcalde"]
        # fortnights from the anchor (9 Nov), each in the month of its 8th day
        assert (fortnight.expected, fortnight.covered) == (2, 1)
        assert [(g.start, g.end) for g in fortnight.gaps] == [
            (date(2026, 10, 26), date(2026, 11, 8))
        ]
        assert [(r.start, r.end) for r in fortnight.running] == [
            (date(2026, 11, 23), date(2026, 12, 6))
        ]

        assert by_key["comite"].status == "en curso"  # the Nov–Dec block is not over
        press = by_key["rueda_de_prensa"]
        assert (press.expected, press.pieces, press.status) == (None, 2, "sin meta")

        mailing = by_key["boletin_diario_correo"]
        assert (mailing.expected, mailing.covered) == (14, 13)
        assert [g.start for g in mailing.gaps] == [date(2026, 11, 10)]

        assert report.by_day[date(2026, 11, 5)][0].kind == "boletin"
        assert len(report.by_day[date(2026, 11, 5)]) == 2
        assert "07:00 Mesa Pública (programa radial)" in report.programmes[date(2026, 11, 26)]

        text = table(report)
        assert "Noviembre de 2026" in text
        assert "14 de 30 días" in text and "47 %" in text
        assert "9–15 nov y 23–29 nov" in text
        assert "sin meta" in text

        path = write(app, report)
        assert path == app.settings.content_dir / "reports" / "plan-2026-11.html"
        html = path.read_text("utf-8")
        assert '<table class="calendar">' in html
        assert "falta: Boletín de prensa" in html  # the gap days are marked on the calendar
        assert "✉ boletín por correo" in html
        assert "boletin número 01" in html
    finally:
        await app.aclose()


async def test_the_current_month_counts_only_what_has_ended(tmp_path: Path) -> None:
    app = await make_app(make_settings(tmp_path), Clock(bogota(2026, 11, 12, 9, 0)))
    try:
        await published(app, "boletin", 1, date(2026, 11, 12))  # today, already out
        report = await compliance(app, date(2026, 11, 12))
        daily = next(a for a in report.activities if a.key == "boletin")
        # 1–11 gone by without bulletins, today covered, the rest still ahead
        assert (daily.expected, daily.covered, len(daily.gaps)) == (12, 1, 11)
    finally:
        await app.aclose()


async def test_an_item_counts_on_its_date_not_on_the_day_it_went_out(tmp_path: Path) -> None:
    app = await make_app(make_settings(tmp_path), Clock(bogota(2026, 12, 6, 9, 0)))
    try:
        # dated in November, taken in and sent in December (an editor's late file)
        item = content_item(app, piece("boletin", 1, date(2026, 11, 3)), "tarde.md")
        await app.ledger.add_item(item, ["website"], status="ready")
        async with app.ledger.engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.item_id == item.id)
                .values(status="sent", sent_at=bogota(2026, 12, 5, 10, 0), attempts=1)
            )
        # dated in November but never sent: not a publication
        waiting = content_item(app, piece("boletin", 2, date(2026, 11, 4)), "espera.md")
        await app.ledger.add_item(waiting, ["website"], status="ready")

        november = await compliance(app, NOVEMBER)
        daily = next(a for a in november.activities if a.key == "boletin")
        assert (daily.covered, daily.pieces) == (1, 1)
        assert [p.item_id for p in november.by_day[date(2026, 11, 3)]] == [item.id]
        assert date(2026, 11, 4) not in november.by_day
        assert not any(g.start == date(2026, 11, 3) for g in daily.gaps)

        december = await compliance(app, date(2026, 12, 1))
        assert next(a for a in december.activities if a.key == "boletin").pieces == 0
        assert december.by_day == {}
    finally:
        await app.aclose()


def _row(stdout: str, label: str) -> list[str]:
    """The cells of the report table's row for ``label`` (columns are 2+ spaces apart)."""
    line = next(line for line in stdout.splitlines() if f"  {label}  " in f"  {line}")
    return [cell.strip() for cell in re.split(r"\s{2,}", line.strip())]


def test_plan_report_command(workspace: Workspace) -> None:
    workspace.drop_examples()
    workspace.cli("run", "--once", check=True)
    result = workspace.cli("plan", "report", "--month", "2026-11", check=True)
    assert "Cumplimiento del plan de comunicaciones — Noviembre de 2026" in result.stdout
    assert "Boletín de prensa" in result.stdout and "diaria" in result.stdout
    # the four shipped bulletins of November (3, 4, 9 and 16 Nov) count in November,
    # whatever day this test took them in
    bulletins = _row(result.stdout, "Boletín de prensa")
    assert bulletins[1:3] == ["Boletín de prensa", "diaria"]
    assert bulletins[3].startswith("4 de ") and bulletins[5] == "4", bulletins
    assert "3 nov" not in bulletins[6] and "16 nov" not in bulletins[6]
    # nor in the month they were processed and sent
    this_month = datetime.now(BOGOTA).strftime("%Y-%m")
    if this_month != "2026-11":
        now = workspace.cli("plan", "report", "--month", this_month, check=True)
        assert _row(now.stdout, "Boletín de prensa")[5] == "0"
    path = workspace.content / "reports" / "plan-2026-11.html"
    assert str(path) in result.stdout and path.exists()
    bad = workspace.cli("plan", "report", "--month", "noviembre")
    assert bad.returncode == 2 and "AAAA-MM" in bad.stderr
