from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from channels.base import Adapter, Media, Post, Rejected
from channels.outbox import OutboxAdapter, post_to_dict
from settings import Settings
from tests.channel_support import channel_context

TZ = ZoneInfo("America/Bogota")
URL = "https://prensa.example.gov.co/noticias/2026/03/boletin-001/"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(content_dir=tmp_path / "content")


def make_post(tmp_path: Path, channel: str, **changes: object) -> Post:
    image = tmp_path / "foto.png"
    image.write_bytes(b"\x89PNG")
    fields: dict[str, object] = {
        "item_id": "boletin-001",
        "channel": channel,
        "kind": "boletin",
        "title": "Alcaldía entrega 40 cuadras pavimentadas",
        "text": "La Alcaldía entregó 40 cuadras en el norte. " + URL,
        "summary": "Obras en el norte",
        "url": URL,
        "image": Media(image, alt="Cuadra pavimentada en el barrio Kennedy", mime="image/png"),
        "attachments": (Media(tmp_path / "informe.pdf", mime="application/pdf"),),
        "parts": {"caption": "<b>Obras</b>"},
        "meta": {
            "date": date(2026, 3, 10),
            "publish_at": datetime(2026, 3, 10, 8, 0, tzinfo=TZ),
            "kind_label": "Boletín",
            "tags": ["obras", "vías"],
            "dependencia": "Secretaría de Infraestructura",
            "event": None,
        },
        "published_at": datetime(2026, 3, 10, 8, 0, tzinfo=TZ),
        "revision": 2,
        "remote_id": "123",
    }
    fields.update(changes)
    return Post(**fields)  # type: ignore[arg-type]


async def test_x_writes_text_and_json_that_round_trips(tmp_path: Path, settings: Settings) -> None:
    adapter = OutboxAdapter("x", settings, channel_context(settings))
    assert isinstance(adapter, Adapter) and adapter.name == "x" and adapter.idempotent
    post = make_post(tmp_path, "x")
    receipt = await adapter.publish(post)

    folder = settings.content_dir / "outbox" / "x"
    assert receipt.remote_id == "boletin-001.r2.json"
    assert receipt.url == URL  # the website's URL passes through
    assert (folder / "boletin-001.r2.txt").read_text("utf-8") == post.text

    data = json.loads((folder / "boletin-001.r2.json").read_text("utf-8"))
    assert data == post_to_dict(post)
    assert data["meta"]["date"] == "2026-03-10"
    assert data["meta"]["publish_at"] == "2026-03-10T08:00:00-05:00"
    assert data["meta"]["tags"] == ["obras", "vías"]
    assert data["image"] == {
        "path": str(tmp_path / "foto.png"),
        "alt": "Cuadra pavimentada en el barrio Kennedy",
        "mime": "image/png",
    }
    restored = Post(
        **{
            **data,
            "published_at": datetime.fromisoformat(data["published_at"]),
            "image": Media(
                Path(data["image"]["path"]), data["image"]["alt"], data["image"]["mime"]
            ),
            "attachments": tuple(
                Media(Path(m["path"]), m["alt"], m["mime"]) for m in data["attachments"]
            ),
            "meta": {**post.meta},
        }
    )
    assert restored == post
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))


async def test_html_channels_and_mailing(tmp_path: Path, settings: Settings) -> None:
    telegram = await OutboxAdapter("telegram", settings, channel_context(settings)).publish(
        make_post(tmp_path, "telegram", text="<b>Obras</b> en el norte")
    )
    assert telegram.remote_id == "boletin-001.r2.json"
    tg = settings.content_dir / "outbox" / "telegram" / "boletin-001.r2.html"
    assert tg.read_text("utf-8") == "<b>Obras</b> en el norte"

    mail = make_post(
        tmp_path,
        "mailing",
        text="Hola.\nLas obras avanzan.",
        parts={"subject": "Boletín: 40 cuadras", "html": "<p>Hola.</p>"},
    )
    await OutboxAdapter("mailing", settings, channel_context(settings)).publish(mail)
    folder = settings.content_dir / "outbox" / "mailing"
    assert (folder / "boletin-001.r2.txt").read_text("utf-8") == (
        "Asunto: Boletín: 40 cuadras\n\nHola.\nLas obras avanzan."
    )
    assert (folder / "boletin-001.r2.html").read_text("utf-8") == "<p>Hola.</p>"
    assert json.loads((folder / "boletin-001.r2.json").read_text("utf-8"))["parts"]["subject"]


async def test_website_outbox_points_at_the_local_file(tmp_path: Path, settings: Settings) -> None:
    post = make_post(tmp_path, "website", text="<p>Artículo</p>", url=None, revision=1)
    receipt = await OutboxAdapter("website", settings, channel_context(settings)).publish(post)
    page = settings.content_dir / "outbox" / "website" / "boletin-001.r1.html"
    assert receipt.url == page.resolve().as_uri()
    assert receipt.detail["outbox"] is True
    assert page.read_text("utf-8") == "<p>Artículo</p>"


async def test_same_revision_twice_overwrites(tmp_path: Path, settings: Settings) -> None:
    adapter = OutboxAdapter("facebook", settings, channel_context(settings))
    await adapter.publish(make_post(tmp_path, "facebook", text="primera"))
    await adapter.publish(make_post(tmp_path, "facebook", text="segunda"))
    folder = settings.content_dir / "outbox" / "facebook"
    assert sorted(p.name for p in folder.iterdir()) == ["boletin-001.r2.json", "boletin-001.r2.txt"]
    assert (folder / "boletin-001.r2.txt").read_text("utf-8") == "segunda"


async def test_check_and_validation(tmp_path: Path, settings: Settings) -> None:
    result = await OutboxAdapter("telegram", settings, channel_context(settings)).check()
    assert result.ok
    assert result.message.startswith("modo bandeja de salida: no se envía nada")
    assert str(Path("outbox") / "telegram") in result.message
    with pytest.raises(ValueError):
        OutboxAdapter("../x", settings, channel_context(settings))
    with pytest.raises(Rejected):
        await OutboxAdapter("x", settings, channel_context(settings)).publish(
            make_post(tmp_path, "x", item_id="../../a")
        )
