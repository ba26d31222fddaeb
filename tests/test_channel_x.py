"""XAdapter through tweepy (and its requests session) against the X API v2 double."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from requests_oauthlib import OAuth1

from channels.base import AuthError, Media, OutcomeUnknown, Post, Rejected, TransientError
from channels.x import XAdapter
from tests.channel_support import channel_context
from tests.doubles.config import live_settings
from tests.doubles.x import XDouble


@pytest.fixture
async def adapter(x_double: XDouble, tmp_path: Path) -> AsyncIterator[XAdapter]:
    settings = live_settings(x_double, content_dir=tmp_path)
    x = XAdapter(settings, channel_context(settings))
    yield x
    await x.aclose()


def post(text: str, image: Media | None = None) -> Post:
    return Post(item_id="b-1", channel="x", kind="boletin", title="Boletín", text=text, image=image)


async def test_image_upload_alt_text_then_tweet(
    adapter: XAdapter, x_double: XDouble, tmp_path: Path
) -> None:
    image = tmp_path / "puente.png"
    image.write_bytes(b"\x89PNG fake image")
    alt = "Obreros pintando el puente peatonal de la carrera 27"

    receipt = await adapter.publish(
        post("Obras en la 27 https://bga.gov.co/n/1", Media(image, alt, "image/png"))
    )

    upload, metadata, tweet = x_double.requests
    assert (upload.path, metadata.path, tweet.path) == (
        "/2/media/upload",
        "/2/media/metadata",
        "/2/tweets",
    )
    assert upload.form["media_category"] == "tweet_image"
    assert upload.files["media"].data == image.read_bytes()
    assert upload.files["media"].filename == "puente.png"
    (media_id,) = x_double.media
    assert metadata.json == {"id": media_id, "metadata": {"alt_text": {"text": alt}}}
    assert x_double.media[media_id].alt_text == alt
    assert tweet.json == {
        "text": "Obras en la 27 https://bga.gov.co/n/1",
        "media": {"media_ids": [media_id]},
    }
    assert receipt.remote_id in x_double.tweets
    assert receipt.url == f"https://x.com/i/web/status/{receipt.remote_id}"
    assert all(r.headers["authorization"].startswith("OAuth ") for r in x_double.requests)


async def test_text_only_tweet(adapter: XAdapter, x_double: XDouble) -> None:
    receipt = await adapter.publish(post("Mesa Pública este jueves"))
    assert x_double.tweets[receipt.remote_id]["text"] == "Mesa Pública este jueves"
    assert [r.path for r in x_double.requests] == ["/2/tweets"]


async def test_duplicate_content_is_rejected(adapter: XAdapter, x_double: XDouble) -> None:
    await adapter.publish(post("Mismo texto"))
    with pytest.raises(Rejected, match="duplicado"):
        await adapter.publish(post("Mismo texto"))
    assert len(x_double.tweets) == 1


async def test_forbidden_for_other_reasons_is_an_auth_error(
    adapter: XAdapter, x_double: XDouble
) -> None:
    x_double.fail_next(
        status=403,
        json=XDouble.problem(403, "Forbidden", "You are not permitted to perform this action."),
    )
    with pytest.raises(AuthError, match="not permitted"):
        await adapter.publish(post("hola"))


async def test_requests_are_signed_for_the_host_they_reach(x_double: XDouble) -> None:
    """The double verifies OAuth signatures against its own URL, as X does: a request signed
    for tweepy's hard-coded host and merely sent elsewhere is refused."""
    auth = OAuth1(
        x_double.consumer_key,
        x_double.consumer_secret,
        x_double.access_token,
        x_double.access_secret,
    )
    signed = auth(requests.Request("GET", "https://api.twitter.com/2/users/me").prepare())
    signed.url = f"{x_double.base_url}/2/users/me"
    with requests.Session() as session:
        assert session.send(signed, timeout=5).status_code == 401
        good = requests.Request("GET", f"{x_double.base_url}/2/users/me", auth=auth).prepare()
        assert session.send(good, timeout=5).status_code == 200


async def test_check_names_the_account(adapter: XAdapter, x_double: XDouble) -> None:
    result = await adapter.check()
    assert result.ok and "@AlcaldiaBGA" in result.message
    assert [r.path for r in x_double.requests] == ["/2/users/me"]


async def test_check_with_wrong_secret_fails(x_double: XDouble, tmp_path: Path) -> None:
    settings = live_settings(
        x_double, content_dir=tmp_path, x={"access_secret": "wrong-secret-value"}
    )
    adapter = XAdapter(settings, channel_context(settings))
    try:
        result = await adapter.check()
    finally:
        await adapter.aclose()
    assert not result.ok and "credenciales" in result.message
    assert "wrong-secret-value" not in result.message


async def test_secrets_never_reach_log_lines(
    adapter: XAdapter, x_double: XDouble, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    await adapter.publish(post("hola", Media(image, "alt", "image/png")))
    assert "/2/tweets" in caplog.text
    for secret in (x_double.consumer_secret, x_double.access_secret, x_double.access_token):
        assert secret not in caplog.text
        assert secret not in repr(adapter)


async def test_lost_media_upload_is_only_transient(
    adapter: XAdapter, x_double: XDouble, tmp_path: Path
) -> None:
    """An upload whose answer is lost is harmless to repeat: no tweet exists yet."""
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    x_double.fail_next(path="/2/media/upload", reset=True, commit=True)
    with pytest.raises(TransientError) as info:
        await adapter.publish(post("hola", Media(image, "alt", "image/png")))
    assert not isinstance(info.value, OutcomeUnknown)
    assert x_double.tweets == {}
