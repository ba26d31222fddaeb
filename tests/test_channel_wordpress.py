"""WordPressAdapter through httpx against the WordPress REST double."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from channels.base import AuthError, Media, OutcomeUnknown, Post, Rejected, TransientError
from channels.wordpress import WordPressAdapter, slugify
from tests.channel_support import channel_context
from tests.doubles.config import live_settings
from tests.doubles.wordpress import WordPressDouble

BOGOTA = ZoneInfo("America/Bogota")


@pytest.fixture
async def adapter(
    wordpress_double: WordPressDouble, tmp_path: Path
) -> AsyncIterator[WordPressAdapter]:
    settings = live_settings(wordpress_double, content_dir=tmp_path)
    wp = WordPressAdapter(settings, channel_context(settings))
    yield wp
    await wp.aclose()


def article(**kwargs: Any) -> Post:
    fields: dict[str, Any] = {
        "item_id": "2026-03-02-boletin-12",
        "channel": "website",
        "kind": "boletin",
        "title": "Avanzan las obras del puente de la 27",
        "text": "<p>La Alcaldía informa que <strong>avanzan</strong> las obras.</p>",
        "summary": "Avanzan las obras.",
        "meta": {"kind_label": "Boletín de prensa", "tags": ["obras", "Movilidad"]},
    }
    fields.update(kwargs)
    return Post(**fields)


async def test_article_with_image_category_and_tags(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble, tmp_path: Path
) -> None:
    image = tmp_path / "puente-27.jpg"
    image.write_bytes(b"\xff\xd8 fake jpeg")
    alt = "Obreros en el puente de la carrera 27"

    receipt = await adapter.publish(article(image=Media(image, alt, "image/jpeg")))

    upload = wordpress_double.requests_to(r"/media$", "POST")[0]
    assert upload.body == image.read_bytes()
    assert upload.headers["content-type"] == "image/jpeg"
    assert 'filename="puente-27.jpg"' in upload.headers["content-disposition"]
    user, _, password = (
        base64.b64decode(upload.headers["authorization"][6:]).decode().partition(":")
    )
    assert (user, password) == (wordpress_double.user, wordpress_double.app_password)
    (media_id,) = wordpress_double.media
    assert wordpress_double.media[media_id]["alt_text"] == alt

    post = wordpress_double.posts[int(receipt.remote_id)]
    assert post["featured_media"] == media_id
    assert post["status"] == "publish"
    assert post["title"] == "Avanzan las obras del puente de la 27"
    assert post["content"].startswith("<p>La Alcaldía informa")
    assert post["excerpt"] == "Avanzan las obras."
    assert wordpress_double.term_names("categories", post["categories"]) == ["Boletín de prensa"]
    assert wordpress_double.term_names("tags", post["tags"]) == ["obras", "Movilidad"]
    assert receipt.url is not None and receipt.url.endswith(
        "/avanzan-las-obras-del-puente-de-la-27/"
    )


async def test_existing_terms_are_reused_not_created(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    category = wordpress_double.add_term("categories", "Boletín de prensa")
    tag = wordpress_double.add_term("tags", "Obras & Proyectos")  # stored HTML-escaped

    receipt = await adapter.publish(
        article(meta={"kind_label": "Boletín de prensa", "tags": ["Obras & Proyectos"]})
    )

    assert wordpress_double.requests_to(r"/(categories|tags)$", "POST") == []
    post = wordpress_double.posts[int(receipt.remote_id)]
    assert (post["categories"], post["tags"]) == ([category], [tag])


async def test_term_created_meanwhile_is_taken_from_term_exists(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    category = wordpress_double.add_term("categories", "Boletín de prensa")
    wordpress_double.fail_next(path="/categories$", method="GET", status=200, json=[])

    receipt = await adapter.publish(article(meta={"kind_label": "Boletín de prensa"}))

    assert wordpress_double.posts[int(receipt.remote_id)]["categories"] == [category]


async def test_future_publish_at_schedules_the_post(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    when = datetime.now(BOGOTA).replace(microsecond=0, second=0) + timedelta(days=2)

    receipt = await adapter.publish(article(meta={"publish_at": when}, published_at=when))

    request = wordpress_double.requests_to(r"/posts$", "POST")[0]
    assert request.json["status"] == "future"
    assert request.json["date_gmt"] == when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    post = wordpress_double.posts[int(receipt.remote_id)]
    assert post["status"] == "future"
    assert receipt.url == f"{wordpress_double.base_url}/?p={receipt.remote_id}"


async def test_naive_publish_at_is_read_in_the_press_office_zone(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    local = (datetime.now(BOGOTA) + timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    await adapter.publish(article(meta={"publish_at": local.isoformat()}))
    request = wordpress_double.requests_to(r"/posts$", "POST")[0]
    expected = local.replace(tzinfo=BOGOTA).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert request.json["date_gmt"] == expected


async def test_past_publish_at_publishes_now(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    past = datetime.now(UTC) - timedelta(hours=3)
    receipt = await adapter.publish(article(published_at=past))
    request = wordpress_double.requests_to(r"/posts$", "POST")[0]
    assert request.json["status"] == "publish" and "date_gmt" not in request.json
    assert wordpress_double.posts[int(receipt.remote_id)]["status"] == "publish"


async def test_correction_updates_the_same_post(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    first = await adapter.publish(article())

    second = await adapter.publish(
        article(
            text="<p>Corrección: las obras terminan en mayo.</p>",
            revision=2,
            remote_id=first.remote_id,
        )
    )

    assert second.remote_id == first.remote_id
    assert len(wordpress_double.posts) == 1
    assert wordpress_double.requests_to(rf"/posts/{first.remote_id}$", "POST")
    post = wordpress_double.posts[int(first.remote_id)]
    assert post["content"] == "<p>Corrección: las obras terminan en mayo.</p>"
    assert post["revisions"] == 1


async def test_correction_of_a_deleted_post_is_rejected(adapter: WordPressAdapter) -> None:
    with pytest.raises(Rejected, match="404"):
        await adapter.publish(article(revision=2, remote_id="4040"))


async def test_non_ascii_file_name_survives_the_upload(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble, tmp_path: Path
) -> None:
    image = tmp_path / "niños en el parque.png"
    image.write_bytes(b"\x89PNG")
    await adapter.publish(article(image=Media(image, "Niños jugando", "image/png")))
    (media,) = wordpress_double.media.values()
    # WordPress reads only the plain ``filename`` parameter: it gets the ASCII fallback.
    assert media["upload"].filename == "ninos-en-el-parque.png"
    upload = wordpress_double.requests_to(r"/media$")[0]
    assert (
        "filename*=UTF-8''ni%C3%B1os%20en%20el%20parque.png"
        in upload.headers["content-disposition"]
    )


async def test_rest_error_message_reaches_the_editor(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    wordpress_double.fail_next(
        path="/posts$",
        status=400,
        json=WordPressDouble.error("rest_invalid_param", "Invalid parameter(s): title", 400),
    )
    with pytest.raises(Rejected, match=r"Invalid parameter\(s\): title \[rest_invalid_param\]"):
        await adapter.publish(article())


async def test_forbidden_user_is_an_auth_error(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    wordpress_double.fail_next(
        path="/posts$",
        status=403,
        json=WordPressDouble.error(
            "rest_cannot_create", "Sorry, you are not allowed to create posts as this user.", 403
        ),
    )
    with pytest.raises(AuthError, match="rest_cannot_create"):
        await adapter.publish(article())


async def test_check_names_the_user(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    result = await adapter.check()
    assert result.ok and "Oficina de Prensa" in result.message
    assert [r.path for r in wordpress_double.requests] == ["/wp-json/wp/v2/users/me"]


async def test_check_with_wrong_password_fails_without_showing_it(
    wordpress_double: WordPressDouble, tmp_path: Path
) -> None:
    settings = live_settings(
        wordpress_double, content_dir=tmp_path, website={"wordpress_app_password": "zzzz yyyy xxxx"}
    )
    adapter = WordPressAdapter(settings, channel_context(settings))
    try:
        result = await adapter.check()
    finally:
        await adapter.aclose()
    assert not result.ok and "incorrect_password" in result.message
    assert "zzzz" not in result.message


async def test_html_instead_of_the_api_is_a_clear_error(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble
) -> None:
    wordpress_double.fail_next(
        status=200, body="<html>Inicio</html>", headers={"Content-Type": "text/html"}
    )
    result = await adapter.check()
    assert not result.ok and "WORDPRESS_URL" in result.message


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Boletín de prensa", "boletin-de-prensa"),
        ("Obras & Proyectos", "obras-proyectos"),
        ("  Año 2026 ", "ano-2026"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


async def test_lost_answer_before_the_post_is_only_transient(
    adapter: WordPressAdapter, wordpress_double: WordPressDouble, tmp_path: Path
) -> None:
    """Media and terms are harmless to repeat; only the post itself is an unknown outcome."""
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    wordpress_double.fail_next(path=r"/media$", reset=True, commit=True)
    with pytest.raises(TransientError) as info:
        await adapter.publish(article(image=Media(image, "alt", "image/png")))
    assert not isinstance(info.value, OutcomeUnknown)
    assert wordpress_double.posts == {}

    wordpress_double.fail_next(path=r"/posts$", delay=1.0)
    settings = live_settings(wordpress_double)
    slow = WordPressAdapter(settings, channel_context(settings), read_timeout=0.3)
    try:
        with pytest.raises(OutcomeUnknown):
            await slow.publish(article())
    finally:
        await slow.aclose()
