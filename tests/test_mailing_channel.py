"""The ``mailing`` channel: an ``immediate`` kind becomes a campaign, a ``digest`` kind
goes into the daily bulletin, which ``send_daily_bulletin`` sends per audience."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from channels.base import AuthError, ChannelContext, Post, Rejected
from channels.mailing import MailingAdapter
from dispatcher.items.model import ContentItem
from dispatcher.items.parse import check_file
from dispatcher.items.plan import Plan, load_plan
from dispatcher.ledger.mail import get_campaign, recipient_counts
from dispatcher.ledger.store import Ledger
from dispatcher.ledger.types import RecipientStatus
from dispatcher.services.context import App
from dispatcher.services.mailing.bulletin import bulletin_time, send_daily_bulletin, variants
from dispatcher.services.mailing.campaign import CampaignSender
from dispatcher.services.mailing.service import CampaignService
from settings import Settings
from tests.test_mailing_support import (
    ROOT,
    Sink,
    add_subscribers,
    free_port,
    make_settings,
    new_ledger,
    smtp_server,
    subscriber_rows,
)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
EXAMPLES = ROOT / "content" / "examples"
CHANNELS = ["website", "facebook", "x", "telegram", "mailing"]
NOON = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # 12:00 in Bogotá
SITE = "https://www.bucaramanga.gov.co/noticias/"


def _plan() -> Plan:
    return load_plan(ROOT / "content" / "plan.yaml", CHANNELS)


def _item(name: str, plan: Plan, **changes: object) -> ContentItem:
    item = check_file(EXAMPLES / name, tz=Settings(_env_file=None).tz,  # type: ignore[call-arg]
                      known_kinds=set(plan.kinds), max_bytes=10**6)  # fmt: skip
    if changes:
        meta = item.meta.model_copy(update=changes)
        item = replace(item, meta=meta, id=str(changes.get("id", item.id)))
    return item


async def _publish(app: App, adapter: MailingAdapter, item: ContentItem) -> Post:
    """What the dispatcher does: the item in the ledger, rendered, handed to the adapter."""
    await app.ledger.add_item(item, CHANNELS, status="ready")
    url = f"{SITE}{item.date:%Y/%m}/{item.id}/"
    with sqlite3.connect(app.settings.resolved_database_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE items SET url = ? WHERE id = ?", (url, item.id))
    return app.renderer.render(item, "mailing", url=url)


def _adapter(app: App, retry_delay: float = 1.0) -> MailingAdapter:
    """The mailing adapter as the App builds it: handed the campaign service on its ledger."""
    service = CampaignService(app, retry_delay=retry_delay)
    context = ChannelContext(site_name="Alcaldía", clock=app.clock, mail=service)
    return MailingAdapter(app.settings, context)


async def _setup(tmp_path: Path, port: int) -> tuple[App, MailingAdapter]:
    settings = make_settings(tmp_path, port)
    ledger = await new_ledger(settings)
    plan = _plan()
    app = App(settings=settings, ledger=ledger, plan=plan, clock=lambda: NOON)
    adapter = _adapter(app, retry_delay=0.02)
    await add_subscribers(ledger, settings, subscriber_rows(3, "periodistas", start=0))
    await add_subscribers(ledger, settings, subscriber_rows(3, "ciudadania", start=10))
    await add_subscribers(ledger, settings, subscriber_rows(2, "periodistas;ciudadania", start=20))
    await add_subscribers(ledger, settings, subscriber_rows(2, "gremios", start=30))
    return app, adapter


async def test_immediate_kind_is_sent_at_once_and_only_once(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        app, adapter = await _setup(tmp_path, port)
        post = await _publish(
            app, adapter, _item("2026-11-24-informe-especial-alimentacion-escolar.md", app.plan)
        )
        receipt = await adapter.publish(post)
        assert receipt.remote_id == "campaign:1"
        assert dict(receipt.detail) == {"sent": 10, "failed": 0, "skipped": 0}
        assert len(sink.count()) == 10  # every audience of informe_especial, gremios too
        msg = sink.parsed()[0]
        assert msg["Subject"] == post.parts["subject"]
        assert str(msg["List-Id"]).endswith("<informe-especial.bucaramanga.gov.co>")
        html = msg.get_body(("html",))
        assert html is not None and "Cancelar la suscripción" in html.get_content()
        assert "%%PREGONERO_BAJA%%" not in html.get_content()

        again = await adapter.publish(post)  # a retried delivery: nothing new goes out
        assert again.remote_id == "campaign:1" and len(sink.messages) == 10
        await app.ledger.close()


async def test_digest_kind_waits_for_the_daily_bulletin(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        app, adapter = await _setup(tmp_path, port)
        park = _item("2026-11-03-parque-san-pio-reabre.md", app.plan)
        flu = _item(
            "2026-11-09-jornada-vacunacion-influenza.md", app.plan, audiences=["periodistas"]
        )
        for item in (park, flu):
            receipt = await adapter.publish(await _publish(app, adapter, item))
            assert receipt.remote_id == "digest:2026-11-25"
        assert sink.messages == []

        sender = CampaignSender(app.ledger, app.settings, retry_delay=0.02)
        result = await send_daily_bulletin(app, date(2026, 11, 25), sender=sender)
        assert result.complete and result.sent == 8 and len(result.campaigns) == 2
        by_rcpt = {str(m["To"]): m for m in sink.parsed()}
        assert set(by_rcpt) == {
            *(f"persona{i}@example.org" for i in (0, 1, 2, 10, 11, 12, 20, 21))
        }  # gremios get no bulletin
        for to, msg in by_rcpt.items():
            plain = msg.get_body(("plain",))
            assert plain is not None
            text = plain.get_content()
            assert park.title in text and "Leer más: https://www.bucaramanga.gov.co/" in text
            journalist = to.startswith(("persona0", "persona1@", "persona2", "persona20"))
            journalist = journalist or to == "persona21@example.org"
            assert (flu.title in text) == journalist, to  # the flu item is for journalists only
            assert str(msg["Subject"]).startswith("Boletín de prensa del 25 de noviembre de 2026")
            assert "Para dejar de recibirlo: https://pregonero.bucaramanga.gov.co/baja/" in text

        again = await send_daily_bulletin(app, date(2026, 11, 25), sender=sender)
        assert again.sent == 8 and again.sent_now == 0 and len(sink.messages) == 8

        # After the day's bulletin exists, a new digest item waits for the next one.
        late = _item("2026-11-16-balance-seguridad-puente-festivo.md", app.plan)
        receipt = await adapter.publish(await _publish(app, adapter, late))
        assert receipt.remote_id == "digest:2026-11-26"
        empty = await send_daily_bulletin(app, date(2026, 11, 24), sender=sender)
        assert empty.campaigns == () and len(sink.messages) == 8
        await app.ledger.close()


def test_variants_group_audiences_by_the_items_they_get() -> None:
    p, c = 1, 2  # periodistas, ciudadania bits
    assert variants([("a", p | c), ("b", p)]) == [(["a", "b"], [p, p | c]), (["a"], [c])]
    assert variants([("a", p | c)]) == [(["a"], [p, c, p | c])]
    assert variants([]) == []


async def test_adapter_errors(tmp_path: Path) -> None:
    app, adapter = await _setup(tmp_path, free_port())
    notice = _item("2026-11-10-aviso-agenda-de-medios.md", app.plan)
    post = app.renderer.render(notice, "telegram")
    with pytest.raises(Rejected, match="no envía"):
        await adapter.publish(replace(post, channel="mailing"))
    bad = _item("2026-11-03-parque-san-pio-reabre.md", app.plan, audiences=["gremios"], id="otra")
    with pytest.raises(Rejected, match="gremios"):
        await adapter.publish(await _publish(app, adapter, bad))
    check = await adapter.check()
    assert not check.ok and "no se pudo hablar" in check.message
    await app.ledger.close()


async def test_refused_credentials_are_an_auth_error(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink, auth=("prensa", "clave")) as port:
        settings = make_settings(
            tmp_path, port, username="prensa", password="mala", allow_plain_auth=True
        )
        ledger: Ledger = await new_ledger(settings)
        await add_subscribers(ledger, settings, subscriber_rows(2, "funcionarios"))
        app = App(settings=settings, ledger=ledger, plan=_plan())
        adapter = _adapter(app)
        post = await _publish(
            app, adapter, _item("2026-11-24-informe-especial-alimentacion-escolar.md", app.plan)
        )
        with pytest.raises(AuthError) as caught:
            await adapter.publish(post)
        assert "mala" not in str(caught.value) and sink.messages == []
        assert not (await adapter.check()).ok
        await ledger.close()


async def test_the_app_builds_the_adapter_on_its_own_ledger_and_plan(tmp_path: Path) -> None:
    """The registry's adapter (``App.adapter``) sends through the App's ledger: the campaign
    and its recipients are rows of that ledger, and closing the App closes the only one."""
    sink = Sink()
    with smtp_server(sink) as port:
        app, _ = await _setup(tmp_path, port)
        post = await _publish(
            app, _, _item("2026-11-24-informe-especial-alimentacion-escolar.md", app.plan)
        )
        plain = app.adapter("mailing")  # as the dispatcher builds it
        assert isinstance(plain, MailingAdapter)
        assert (await plain.check()).ok
        receipt = await plain.publish(post)
        assert receipt.remote_id == "campaign:1" and len(sink.messages) == 10
        assert app.channel_context().mail is app.channel_context().mail  # one service
        await app.aclose()
        with sqlite3.connect(app.settings.resolved_database_url.removeprefix("sqlite:///")) as db:
            assert db.execute("SELECT count(*) FROM mail_recipients").fetchone() == (10,)


async def test_mailing_uses_the_apps_ledger_not_one_from_the_settings(tmp_path: Path) -> None:
    """Handed an App whose ledger is one SQLite file while the settings name another, the
    mailing channel sends from and records into the App's ledger; the settings' database is
    never created (a second ledger opened from the settings would create it and find no
    subscribers there)."""
    sink = Sink()
    with smtp_server(sink) as port:
        elsewhere = tmp_path / "otro" / "no-usar.db"
        elsewhere.parent.mkdir()
        settings = make_settings(tmp_path, port).model_copy(
            update={"database_url": f"sqlite:///{elsewhere}"}
        )
        ledger = Ledger.from_url(f"sqlite:///{tmp_path / 'propio.db'}")
        await ledger.init()
        app = App(settings=settings, ledger=ledger, plan=_plan(), clock=lambda: NOON)
        await add_subscribers(ledger, settings, subscriber_rows(4, "periodistas"))
        item = _item("2026-11-24-informe-especial-alimentacion-escolar.md", app.plan)
        await ledger.add_item(item, CHANNELS, status="ready")
        post = app.renderer.render(item, "mailing", url=f"{SITE}{item.id}/")
        adapter = app.adapter("mailing")
        assert (await adapter.check()).ok
        receipt = await adapter.publish(post)
        assert receipt.remote_id == "campaign:1" and dict(receipt.detail)["sent"] == 4
        assert len(sink.messages) == 4
        campaign = await get_campaign(ledger, 1)
        assert campaign.item_id == item.id and campaign.total == 4
        assert await recipient_counts(ledger, 1) == {RecipientStatus.SENT: 4}
        await app.aclose()
        assert list(elsewhere.parent.iterdir()) == []


async def test_early_call_goes_at_once_to_the_early_audiences(tmp_path: Path) -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        app, adapter = await _setup(tmp_path, port)
        item = _item("2026-11-17-rueda-de-prensa-plan-navidad-segura.md", app.plan)
        post = await _publish(app, adapter, item)
        call = await adapter.publish(replace(post, meta={**post.meta, "early": True}))
        assert call.remote_id == "campaign:1"
        assert set(sink.count()) == {
            f"persona{i}@example.org" for i in (0, 1, 2, 20, 21)
        }  # periodistas only
        public = await adapter.publish(post)  # the release itself: the day's bulletin
        assert public.remote_id == "digest:2026-11-25" and len(sink.messages) == 5
        again = await adapter.publish(replace(post, meta={**post.meta, "early": True}))
        assert again.remote_id == "campaign:1" and len(sink.messages) == 5
        assert bulletin_time(app.plan) == time(17, 0)
        await app.ledger.close()
