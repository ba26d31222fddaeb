"""``update`` and ``withdraw`` of each adapter against its double (issue 12): edits in place
that are harmless to repeat, a photo's caption edited with ``editMessageCaption``, deletes
where something already gone counts as gone, WordPress posts moved to the trash."""

from __future__ import annotations

from pathlib import Path

from channels.base import Media, Post, Receipt, Updatable, Withdrawable
from channels.facebook import FacebookAdapter
from channels.telegram import TelegramAdapter
from channels.wordpress import WordPressAdapter
from channels.x import XAdapter
from tests.channel_support import channel_context
from tests.doubles.config import live_settings
from tests.doubles.graph import GraphDouble
from tests.doubles.telegram import GROUP_CHAT, TelegramDouble
from tests.doubles.wordpress import WordPressDouble
from tests.doubles.x import XDouble


def post(channel: str, text: str, **kwargs: object) -> Post:
    fields: dict[str, object] = {
        "item_id": "b-12", "channel": channel, "kind": "boletin", "title": "Obras de la 27",
        "text": text, "summary": "Avanzan las obras.",
    }  # fmt: skip
    fields.update(kwargs)
    return Post(**fields)  # type: ignore[arg-type]


async def test_wordpress_updates_in_place_and_trashes(
    wordpress_double: WordPressDouble, tmp_path: Path
) -> None:
    settings = live_settings(wordpress_double, content_dir=tmp_path)
    wp = WordPressAdapter(settings, channel_context(settings))
    try:
        assert isinstance(wp, Updatable) and isinstance(wp, Withdrawable)
        first = await wp.publish(post("website", "<p>5 noches</p>"))
        fixed = await wp.update(first, post("website", "<p>3 noches</p>", revision=2))
        assert fixed.remote_id == first.remote_id and len(wordpress_double.posts) == 1
        (stored,) = wordpress_double.posts.values()
        assert "3 noches" in str(stored["content"])
        await wp.withdraw(first)
        assert stored["status"] == "trash"
        assert wordpress_double.requests_to(f"/posts/{first.remote_id}", method="DELETE")
        await wp.withdraw(first)  # already in the trash (410): withdrawn all the same
    finally:
        await wp.aclose()


async def test_telegram_edits_a_photo_caption_and_deletes_every_message(
    telegram_double: TelegramDouble, tmp_path: Path
) -> None:
    settings = live_settings(telegram_double, content_dir=tmp_path)
    tg = TelegramAdapter(settings, channel_context(settings))
    image = tmp_path / "foto.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0" + b"0" * 64)
    photo = Media(image, "Obras", "image/jpeg")
    try:
        first = await tg.publish(
            post("telegram", "<b>5 noches</b>", image=photo, parts={"caption": "<b>5 noches</b>"})
        )
        new = post("telegram", "<b>3 noches</b>", image=photo, parts={"caption": "<b>3 noches</b>"})
        await tg.update(first, new)
        await tg.update(first, new)  # "message is not modified": done already
        assert [e[2] for e in telegram_double.edits] == ["editMessageCaption"]
        assert telegram_double.sent_to()[0].text == "<b>3 noches</b>"
        other = await tg.publish(post("telegram", "convocatoria"))
        receipt = Receipt(first.remote_id, first.url, {"related": [other.remote_id]})
        await tg.withdraw(receipt)
        assert telegram_double.sent_to(GROUP_CHAT) == []
        await tg.withdraw(receipt)  # "message to delete not found": gone already
    finally:
        await tg.aclose()


async def test_facebook_and_x_delete_what_is_there_and_accept_what_is_gone(
    graph_double: GraphDouble, x_double: XDouble, tmp_path: Path
) -> None:
    fb_settings = live_settings(graph_double, content_dir=tmp_path)
    x_settings = live_settings(x_double, content_dir=tmp_path)
    fb = FacebookAdapter(fb_settings, channel_context(fb_settings))
    x = XAdapter(x_settings, channel_context(x_settings))
    try:
        fb_post = await fb.publish(post("facebook", "5 noches", url="https://s/n/"))
        await fb.update(fb_post, post("facebook", "3 noches", url="https://s/n/"))
        assert graph_double.posts[fb_post.remote_id]["message"] == "3 noches"
        await fb.withdraw(fb_post)
        await fb.withdraw(fb_post)
        assert graph_double.posts == {} and list(graph_double.deleted) == [fb_post.remote_id]

        tweet = await x.publish(post("x", "5 noches https://s/n/"))
        reply = await x.update(
            tweet, post("x", "x", parts={"correction": "Corrección: 3 noches https://s/n/"})
        )
        assert x_double.tweets[reply.remote_id]["in_reply_to"] == tweet.remote_id
        await x.withdraw(Receipt(tweet.remote_id, tweet.url, {"related": [reply.remote_id]}))
        assert x_double.tweets == {} and set(x_double.deleted) == {tweet.remote_id, reply.remote_id}
        await x.withdraw(Receipt(tweet.remote_id, tweet.url))  # 404: gone already
    finally:
        await fb.aclose()
        await x.aclose()
