"""FacebookAdapter through httpx against the Graph API double."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from channels.base import AuthError, Media, Post, RateLimited, Rejected, TransientError
from channels.facebook import FacebookAdapter, TokenExpired, spanish_date
from tests.channel_support import channel_context
from tests.doubles.config import live_settings
from tests.doubles.graph import GraphDouble

BOGOTA = ZoneInfo("America/Bogota")
LINK = "https://www.bucaramanga.gov.co/noticias/2026-03-02-boletin-12/"


@pytest.fixture
async def adapter(graph_double: GraphDouble, tmp_path: Path) -> AsyncIterator[FacebookAdapter]:
    settings = live_settings(graph_double, content_dir=tmp_path)
    fb = FacebookAdapter(settings, channel_context(settings))
    yield fb
    await fb.aclose()


def post(text: str, image: Media | None = None, url: str | None = LINK) -> Post:
    return Post(
        item_id="b-12",
        channel="facebook",
        kind="boletin",
        title="B",
        text=text,
        url=url,
        image=image,
    )


async def test_text_post_goes_to_the_feed_with_its_link(
    adapter: FacebookAdapter, graph_double: GraphDouble
) -> None:
    receipt = await adapter.publish(post("La Alcaldía informa sobre las obras."))

    (request,) = graph_double.requests
    assert request.method == "POST" and request.path == f"/v24.0/{graph_double.page_id}/feed"
    assert request.form == {"message": "La Alcaldía informa sobre las obras.", "link": LINK}
    assert request.headers["authorization"] == f"Bearer {graph_double.token}"
    assert graph_double.token not in request.target
    assert receipt.remote_id in graph_double.posts
    assert receipt.url == f"https://www.facebook.com/{receipt.remote_id}"


async def test_image_post_goes_to_photos_with_the_link_in_the_caption(
    adapter: FacebookAdapter, graph_double: GraphDouble, tmp_path: Path
) -> None:
    image = tmp_path / "rueda.jpg"
    image.write_bytes(b"\xff\xd8 fake")
    receipt = await adapter.publish(
        post("Rueda de prensa hoy.", Media(image, "El alcalde", "image/jpeg"))
    )

    (request,) = graph_double.requests
    assert request.path.endswith("/photos")
    assert request.files["source"].data == image.read_bytes()
    assert request.files["source"].content_type == "image/jpeg"
    assert request.form["caption"] == f"Rueda de prensa hoy.\n\n{LINK}"
    stored = graph_double.posts[receipt.remote_id]
    assert stored["kind"] == "photo"
    assert receipt.detail["photo_id"] == stored["photo_id"]


async def test_caption_does_not_repeat_a_link_already_in_the_text(
    adapter: FacebookAdapter, graph_double: GraphDouble, tmp_path: Path
) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"x")
    await adapter.publish(post(f"Lea más: {LINK}", Media(image, "alt", "image/jpeg")))
    assert graph_double.requests[0].form["caption"] == f"Lea más: {LINK}"


async def test_expired_token_is_an_auth_error_naming_the_expiry(
    adapter: FacebookAdapter, graph_double: GraphDouble
) -> None:
    expired = graph_double.expire_token(datetime(2026, 1, 15, 18, 30, tzinfo=UTC))
    with pytest.raises(TokenExpired) as info:
        await adapter.publish(post("hola"))
    assert isinstance(info.value, AuthError)
    assert "expiró el 15 de enero de 2026, 13:30" in info.value.reason
    assert "subcódigo 463" in info.value.reason
    assert info.value.expired_at == expired


async def test_invalid_token_is_an_auth_error(graph_double: GraphDouble, tmp_path: Path) -> None:
    settings = live_settings(
        graph_double, content_dir=tmp_path, facebook={"page_token": "EAAG-wrong-token"}
    )
    adapter = FacebookAdapter(settings, channel_context(settings))
    try:
        with pytest.raises(AuthError, match="no es válido") as info:
            await adapter.publish(post("hola"))
    finally:
        await adapter.aclose()
    assert "EAAG-wrong-token" not in str(info.value)


async def test_duplicate_post_is_rejected(
    adapter: FacebookAdapter, graph_double: GraphDouble
) -> None:
    await adapter.publish(post("mismo texto"))
    with pytest.raises(Rejected, match="duplicada"):
        await adapter.publish(post("mismo texto"))


@pytest.mark.parametrize(
    ("code", "subcode", "expected", "words"),
    [
        (368, None, Rejected, "bloqueó"),
        (10, None, AuthError, "permiso"),
        (200, None, AuthError, "permiso"),
        (190, 467, AuthError, "sesión se cerró"),
        (190, 460, AuthError, "contraseña"),
        (1, None, TransientError, "temporalmente"),
        (341, None, TransientError, "temporalmente"),
        (613, None, RateLimited, "ritmo"),
        (80001, None, RateLimited, "ritmo"),
    ],
)
async def test_graph_error_codes(
    adapter: FacebookAdapter,
    graph_double: GraphDouble,
    code: int,
    subcode: int | None,
    expected: type[Exception],
    words: str,
) -> None:
    graph_double.fail_next(
        status=400, json=GraphDouble.error(code, f"(#{code}) mensaje", subcode=subcode)
    )
    with pytest.raises(expected, match=words):
        await adapter.publish(post("hola"))


async def test_is_transient_flag_makes_an_unknown_code_transient(
    adapter: FacebookAdapter, graph_double: GraphDouble
) -> None:
    body = GraphDouble.error(9999, "Please retry")
    body["error"]["is_transient"] = True
    graph_double.fail_next(status=400, json=body)
    with pytest.raises(TransientError):
        await adapter.publish(post("hola"))


async def test_check_names_the_page_and_token_expiry(
    adapter: FacebookAdapter, graph_double: GraphDouble
) -> None:
    expires = graph_double.expire_token(
        datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    )
    result = await adapter.check()
    assert result.ok
    assert "Alcaldía de Bucaramanga" in result.message
    assert f"vence el {spanish_date(expires, BOGOTA)}" in result.message
    debug = graph_double.requests_to("/debug_token")[0]
    assert debug.query["input_token"] == graph_double.token  # the one place it is a parameter


async def test_check_with_expired_token_gives_the_date(
    adapter: FacebookAdapter, graph_double: GraphDouble
) -> None:
    expired = graph_double.expire_token(datetime(2026, 2, 1, 5, 0, tzinfo=UTC))
    result = await adapter.check()
    assert not result.ok
    assert result.message == f"el token de Facebook expiró el {spanish_date(expired, BOGOTA)}"
    assert "desconocido" not in result.message


async def test_check_reads_the_expiry_from_graph_when_debug_token_is_not_permitted(
    adapter: FacebookAdapter, graph_double: GraphDouble
) -> None:
    graph_double.debug_token_allowed = False
    expired = graph_double.expire_token(datetime(2026, 2, 1, 5, 0, tzinfo=UTC))
    result = await adapter.check()
    assert not result.ok
    assert result.message == f"el token de Facebook expiró el {spanish_date(expired, BOGOTA)}"


async def test_check_without_debug_token_still_names_the_page(
    adapter: FacebookAdapter, graph_double: GraphDouble
) -> None:
    graph_double.debug_token_allowed = False
    result = await adapter.check()
    assert result.ok and "Alcaldía de Bucaramanga" in result.message
    assert "vence" not in result.message


async def test_check_with_wrong_page_fails(graph_double: GraphDouble, tmp_path: Path) -> None:
    settings = live_settings(graph_double, content_dir=tmp_path, facebook={"page_id": "999"})
    adapter = FacebookAdapter(settings, channel_context(settings))
    try:
        result = await adapter.check()
    finally:
        await adapter.aclose()
    assert not result.ok and "999" in result.message


def test_spanish_date() -> None:
    moment = datetime(2026, 12, 24, 23, 5, tzinfo=UTC)
    assert spanish_date(moment, BOGOTA) == "24 de diciembre de 2026, 18:05"
