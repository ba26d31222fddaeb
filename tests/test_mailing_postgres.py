"""The same mailing path on PostgreSQL (the ledger of multi-machine deployments): import,
a campaign with refusals and a 421, the daily bulletin's variants, unsubscribe.

Uses the ``postgres_url`` fixture (tests/conftest.py): a database of its own on the local
server, dropped afterwards; skipped without a server, failed in CI.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

from sqlalchemy import select

from dispatcher.items.parse import check_file
from dispatcher.items.plan import load_plan
from dispatcher.ledger.schema import audience_mask, mail_recipients, subscribers
from dispatcher.ledger.store import Ledger
from dispatcher.services.context import App
from dispatcher.services.mailing.bulletin import add_to_digest, send_daily_bulletin
from dispatcher.services.mailing.campaign import CampaignSender
from dispatcher.services.mailing.subscribers import csv_text, import_csv, remove, unsubscribe
from tests.test_mailing_support import ROOT, Sink, make_settings, smtp_server, subscriber_rows


async def test_campaign_and_bulletin_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    sink = Sink(refuse={"persona1@example.org": "550 5.1.1 no existe"}, reply_421_at={4})
    with smtp_server(sink) as port:
        settings = make_settings(tmp_path, port).model_copy(update={"database_url": postgres_url})
        ledger = Ledger.from_url(postgres_url)
        await ledger.init()
        header = ["email", "name", "audiences", "consent_at", "consent_source"]
        rows = subscriber_rows(6, "ciudadania") + subscriber_rows(3, "periodistas", start=10)
        report = await import_csv(ledger, io.StringIO(csv_text([header, *rows])), tz=settings.tz)
        assert report.added == 9 and not report.errors
        again = await import_csv(ledger, io.StringIO(csv_text([header, *rows])), tz=settings.tz)
        assert again.unchanged == 9
        assert await remove(ledger, "persona5@example.org") == "erased"
        assert await unsubscribe(ledger, 5) == "done"  # persona4

        plan = load_plan(
            ROOT / "content" / "plan.yaml", ["website", "facebook", "x", "telegram", "mailing"]
        )
        app = App(settings=settings, ledger=ledger, plan=plan)
        day = date(2026, 11, 25)
        examples = ROOT / "content" / "examples"
        for name, audiences in (
            ("2026-11-03-parque-san-pio-reabre.md", ["periodistas", "ciudadania"]),
            ("2026-11-09-jornada-vacunacion-influenza.md", ["periodistas"]),
        ):
            item = check_file(
                examples / name, tz=settings.tz, known_kinds=set(plan.kinds), max_bytes=10**6
            )
            await ledger.add_item(item, ["mailing"], status="ready")
            recorded = await add_to_digest(
                ledger, item_id=item.id, revision=1, audiences=audience_mask(audiences), today=day
            )
            assert recorded == day

        sender = CampaignSender(ledger, settings, retry_delay=0.02)
        result = await send_daily_bulletin(app, day, sender=sender)
        assert (result.sent, result.failed, result.left) == (6, 1, 0)
        assert len(result.campaigns) == 2
        assert set(sink.count()) == {
            "persona0@example.org", "persona2@example.org", "persona3@example.org",
            "persona10@example.org", "persona11@example.org", "persona12@example.org",
        }  # fmt: skip
        async with ledger.engine.connect() as conn:
            failed = (
                await conn.execute(
                    select(subscribers.c.email, mail_recipients.c.reply)
                    .join(subscribers, subscribers.c.id == mail_recipients.c.subscriber_id)
                    .where(mail_recipients.c.status == "failed")
                )
            ).all()
        assert [tuple(r) for r in failed] == [("persona1@example.org", "550 5.1.1 no existe")]
        rerun = await send_daily_bulletin(app, day, sender=sender)
        assert rerun.sent_now == 0 and len(sink.messages) == 6
        await ledger.close()
