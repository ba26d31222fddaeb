"""The daily monitoring digest at ``digest_at``: the editors get the clippings through the
bot (the Telegram double, over real HTTP) and the plan's audiences by e-mail (a real SMTP
sink), through the scheduler's slot; an empty day sends nothing; a long day is split within
Telegram's limit."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatcher.bot.notify import notify_editors
from dispatcher.ledger import monitoring as ledger_monitoring
from dispatcher.ledger.monitoring import Clipping
from dispatcher.ledger.types import SlotStatus
from dispatcher.services.monitoring.digest import messages
from dispatcher.services.monitoring.service import read_sources
from dispatcher.services.schedule import MONITORING_DIGEST, run_due
from tests.doubles.feeds import Entry, FeedDouble, rss1, rss2
from tests.doubles.telegram import TelegramDouble
from tests.test_mailing_support import FROM, PUBLIC, Sink, add_subscribers, smtp_server
from tests.test_monitoring_support import Clock, monitoring_app

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
TZ = ZoneInfo("America/Bogota")
EDITOR = 4242
TUESDAY = date(2026, 12, 8)  # no recurring programme is announced that morning


def at(day: date, hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def test_the_digest_reaches_the_bot_and_the_mail_sink_once(
    telegram_double: TelegramDouble, tmp_path: Path
) -> None:
    clock = Clock(at(TUESDAY, "06:30"))
    sink = Sink()
    with FeedDouble() as site, smtp_server(sink) as port:
        sources = {
            "Vanguardia": site.add(
                "/v",
                rss2(
                    [
                        Entry("Alcaldía de Bucaramanga abre convocatoria", "https://v.co/1"),
                        Entry('Metrolínea: 1 < 2 & "rutas"', "https://v.co/2?utm_source=x"),
                        Entry("Deportes", "https://v.co/3"),
                    ]
                ),
            ),
            "El Frente": site.add(
                "/f", rss1([Entry("Metrolínea estrena buses", "https://f.co/a")])
            ),
        }
        tg = telegram_double.settings_overrides()["telegram"]
        app = await monitoring_app(
            tmp_path, sources, clock=clock,
            telegram={**tg, "editors": [EDITOR]},
            smtp={"host": "127.0.0.1", "port": port, "from": FROM, "rate": 1000},
            web={"public_url": PUBLIC},
        )  # fmt: skip
        try:
            await add_subscribers(
                app.ledger, app.settings,
                [
                    ["func@alcaldia.gov.co", "Funcionaria", "funcionarios", "2026-01-10", "intranet"],
                    ["prensa@medio.co", "Periodista", "periodistas", "2026-01-10", "formulario"],
                ],
            )  # fmt: skip
            async with notify_editors(app) as notifier:
                assert notifier is not None
                # 06:30: the digest is not due yet (the day's channel canary is)
                early = await run_due(app, owner="prueba")
                assert [run.slot.action for run in early] == ["canary"]
                run = await read_sources(app)
                assert len(run.clippings) == 3
                clock.now = at(TUESDAY, "07:02")
                [slot] = await run_due(app, owner="prueba")
                assert slot.slot.name == MONITORING_DIGEST and slot.status is SlotStatus.DONE
                assert "editores avisados" in slot.detail and "correo: 1 enviado" in slot.detail
                clock.now = at(TUESDAY, "07:30")
                assert await run_due(app, owner="prueba") == []  # the slot ran: not again

            [text] = [m.text or "" for m in telegram_double.sent_to(str(EDITOR))]
            assert text.startswith("📰 Monitoreo de medios")
            assert "3 notas en 2 medios" in text
            assert text.index("El Frente (1)") < text.index("Vanguardia (2)")
            assert "https://v.co/2\n" in text + "\n" and "utm_source" not in text
            assert 'Metrolínea: 1 < 2 & "rutas"' in text  # plain text: nothing interpreted
            assert "Deportes" not in text
            sent = telegram_double.requests_to("/sendMessage")
            assert all("parse_mode" not in (r.json or r.form) for r in sent)

            assert [rcpts for _, rcpts, _ in sink.messages] == [["func@alcaldia.gov.co"]]
            [mail] = sink.parsed()
            assert mail["Subject"] == "Monitoreo de medios del 8 de diciembre de 2026 · 3 notas"
            assert mail["List-Id"].endswith("<monitoreo-medios.bucaramanga.gov.co>")
            html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
            assert 'href="https://v.co/2"' in html and 'href="https://f.co/a"' in html
            assert (
                "1 &lt; 2 &amp; &#34;rutas&#34;" in html
                or "1 &lt; 2 &amp; &quot;rutas&quot;" in html
            )
            plain = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            assert "Metrolínea estrena buses" in plain and "/baja/" in plain

            digest = await ledger_monitoring.get_digest(app.ledger, TUESDAY)
            assert digest.clippings == 3 and digest.notified_at is not None
            assert digest.campaign_id is not None

            # the next day nothing new was found: nothing is sent
            clock.now = at(TUESDAY + timedelta(days=1), "07:01")
            async with notify_editors(app):
                runs = {run.slot.action: run for run in await run_due(app, owner="prueba")}
            assert sorted(runs) == ["canary", "monitoring"]  # that day's canary ran too
            empty = runs["monitoring"]
            assert empty.status is SlotStatus.DONE and "no hubo notas" in empty.detail
            assert len(telegram_double.sent_to(str(EDITOR))) == 1
            assert len(sink.messages) == 1
        finally:
            await app.aclose()


async def test_without_live_mail_only_the_editors_get_it(
    telegram_double: TelegramDouble, tmp_path: Path, ledger_url: str
) -> None:
    clock = Clock(at(TUESDAY, "06:00"))
    with FeedDouble() as site:
        url = site.add("/v", rss2([Entry("Metrolínea", "https://v.co/m")]))
        tg = telegram_double.settings_overrides()["telegram"]
        app = await monitoring_app(
            tmp_path, {"Vanguardia": url}, clock=clock, telegram={**tg, "editors": [EDITOR]},
            database_url=ledger_url,
        )  # fmt: skip
        try:
            await read_sources(app)
            from dispatcher.services.monitoring.digest import send_digest

            async with notify_editors(app):
                status, detail = await send_digest(app, TUESDAY, at(TUESDAY, "07:00"))
                again = await send_digest(app, TUESDAY, at(TUESDAY, "07:00"))
            assert status is SlotStatus.DONE and "bandeja de salida" in detail
            assert again[0] is SlotStatus.DONE
            assert len(telegram_double.sent_to(str(EDITOR))) == 1  # told once, not on a rerun
            digest = await ledger_monitoring.get_digest(app.ledger, TUESDAY)
            assert digest.clippings == 1 and digest.campaign_id is None
            # a clipping found after the digest's time waits for the next day's digest
            site.add("/v", rss2([Entry("Metrolínea de noche", "https://v.co/n")]))
            clock.now = at(TUESDAY, "20:00")
            await read_sources(app)
            async with notify_editors(app):
                _, later = await send_digest(app, TUESDAY, at(TUESDAY, "07:00"))
                _, next_day = await send_digest(
                    app, TUESDAY + timedelta(days=1), at(TUESDAY + timedelta(days=1), "07:00")
                )
            assert "1 nota" in later and "1 nota" in next_day
            texts = [m.text or "" for m in telegram_double.sent_to(str(EDITOR))]
            assert len(texts) == 2 and "Metrolínea de noche" in texts[1]
            assert "https://v.co/m" not in texts[1]
        finally:
            await app.aclose()


def clip(n: int, outlet: str) -> Clipping:
    now = at(TUESDAY, "06:00")
    return Clipping(
        id=n, link=f"https://{outlet.lower().replace(' ', '')}.co/{n}/" + "n" * 80,
        outlet=outlet, source_url="https://x.co/rss", title=f"Nota {n} " + "título largo " * 20,
        excerpt="", published_at=None, keywords=("Metrolínea",), found_at=now + timedelta(seconds=n),
        day=TUESDAY, digest_day=TUESDAY,
    )  # fmt: skip


def test_a_long_digest_is_split_within_telegrams_limit_grouped_by_outlet() -> None:
    clips = [clip(n, "Vanguardia") for n in range(40)] + [
        clip(100 + n, "Blu Radio") for n in range(5)
    ]
    texts = messages(TUESDAY, clips)
    assert len(texts) > 1
    assert all(units(t) <= 4096 for t in texts)
    joined = "\n".join(texts)
    for c in clips:
        assert joined.count(c.link) == 1
    assert texts[0].startswith("📰 Monitoreo de medios")
    assert any(t.startswith("Vanguardia (continuación)") for t in texts[1:])
    assert joined.index("Blu Radio (5)") < joined.index("Vanguardia (40)")
    # a short day is one message
    assert len(messages(TUESDAY, clips[:3])) == 1
