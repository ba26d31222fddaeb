"""End to end with every live channel: ``pregonero run --once`` against local doubles of
WordPress, Facebook's Graph API, X and the Telegram Bot API, over real HTTP.

Each item reaches each planned service exactly once, with the WordPress post's link in the
social posts and the image where there is one; a permanent failure on one channel leaves
the others delivered; a response lost after the service committed the post leaves the
delivery ``unknown``, and it is not posted twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, Workspace
from tests.doubles.graph import GraphDouble
from tests.doubles.telegram import TelegramDouble
from tests.doubles.wordpress import WordPressDouble
from tests.doubles.x import XDouble

# A handful of examples (Telegram allows 20 messages a minute in a group): with and without
# an image, with an attachment, a press conference, and a kind that skips Telegram.
NAMES = [
    "2026-11-03-parque-san-pio-reabre.md",
    "2026-11-04-medidas-movilidad-fin-de-ano.md",
    "2026-11-17-rueda-de-prensa-plan-navidad-segura.md",
    "2026-11-25-licitacion-mantenimiento-malla-vial.md",
]


def front(name: str) -> dict[str, object]:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    return dict(yaml.safe_load(text.split("---", 2)[1]))


def states(ws: Workspace) -> dict[tuple[str, str], str]:
    with sqlite3.connect(ws.root / "pregonero.db") as db:
        rows = db.execute("select item_id, channel, status from deliveries").fetchall()
    return {(item, channel): status for item, channel, status in rows}


@pytest.fixture
def live(
    workspace: Workspace,
    wordpress_double: WordPressDouble,
    graph_double: GraphDouble,
    x_double: XDouble,
    telegram_double: TelegramDouble,
) -> Iterator[Workspace]:
    for double in (wordpress_double, graph_double, x_double, telegram_double):
        workspace.env.update(double.settings_env())
    workspace.drop_examples(NAMES)
    yield workspace


def wp_links(wp: WordPressDouble) -> dict[str, str]:
    """WordPress post title → its public link, as the REST API reports it."""
    out = {}
    for post in wp.posts.values():
        rendered = wp._render(post)
        out[str(post.get("title"))] = rendered["link"]
    return out


def test_every_item_reaches_every_planned_service_once(
    live: Workspace,
    wordpress_double: WordPressDouble,
    graph_double: GraphDouble,
    x_double: XDouble,
    telegram_double: TelegramDouble,
) -> None:
    result = live.cli("run", "--once", timeout=300)
    assert result.returncode == 0, result.stderr
    final = states(live)
    assert set(final.values()) == {"sent"}, final

    links = wp_links(wordpress_double)
    tweets = list(x_double.tweets.values())
    fb_posts = list(graph_double.posts.values())
    group = telegram_double.sent_to(live.env["PREGONERO_TELEGRAM__CHAT_ID"])
    for name in NAMES:
        meta = front(name)
        title = str(meta["title"])
        channels = {c for (item, c) in final if item == meta["id"]}
        # the website is WordPress: one post per item, with its featured image
        assert title in links, f"{title} not on WordPress"
        link = links[title]
        post = next(p for p in wordpress_double.posts.values() if p.get("title") == title)
        assert bool(post.get("featured_media")) == ("image" in meta)
        assert post["status"] == "publish"
        # media links point at WordPress's media library, not at local relative paths
        content = str(post.get("content"))
        assert 'src="media/' not in content and 'href="media/' not in content
        if "image" in meta:
            assert wordpress_double.base_url in content.split("<img", 1)[1].split(">", 1)[0]
        # X: exactly one tweet with the link whole, and the image uploaded with alt text
        mine = [t for t in tweets if link in t["text"]]
        assert len(mine) == ("x" in channels)
        if mine and "image" in meta:
            (media_id,) = mine[0]["media_ids"]
            assert x_double.media[media_id].alt_text == meta["image_alt"]
        # Facebook: exactly one post linking to the article (a photo post when there is one)
        on_fb = [p for p in fb_posts if link in (str(p.get("link")) + str(p.get("caption")))]
        assert len(on_fb) == ("facebook" in channels)
        if on_fb:
            assert (on_fb[0]["kind"] == "photo") == ("image" in meta)
        # Telegram group: the first message carries the link (photo + caption with image)
        firsts = [m for m in group if m.text and link in m.text]
        assert bool(firsts) == ("telegram" in channels)
        if firsts and "image" in meta:
            assert firsts[0].method == "sendPhoto"
        if "telegram" in channels and "attachments" in meta:
            assert any(m.method == "sendDocument" for m in group)
    # the ledger's receipts point at the real remote objects
    with sqlite3.connect(live.root / "pregonero.db") as db:
        urls = dict(
            db.execute("select item_id, url from deliveries where channel = 'website'").fetchall()
        )
    assert set(urls.values()) == set(links.values())


def test_permanent_failure_on_one_channel_leaves_the_others(
    live: Workspace, x_double: XDouble, graph_double: GraphDouble
) -> None:
    x_double.fail_next(
        50,
        path=r"^/2/tweets$",
        method="POST",
        status=403,
        json=x_double.problem(403, "Forbidden", "You are not permitted to perform this action."),
    )
    result = live.cli("run", "--once", timeout=300)
    # a delivery failed for good in this pass: exit 3, so a cron job sees it
    assert result.returncode == 3, result.stderr
    assert "ATENCIÓN" in result.stderr and "· x: falló" in result.stderr
    final = states(live)
    assert {s for (_, c), s in final.items() if c == "x"} == {"failed"}
    assert {s for (_, c), s in final.items() if c != "x"} == {"sent"}
    assert not x_double.tweets
    item_id = str(front(NAMES[0])["id"])
    report = live.cli("status", item_id, check=True).stdout
    assert "falló" in report and "permit" in report.lower()
    # one attempt only: a 403 is not retried
    with sqlite3.connect(live.root / "pregonero.db") as db:
        count = db.execute(
            "select count(*) from attempts a join deliveries d on d.id = a.delivery_id "
            "where d.channel = 'x' and d.item_id = ?",
            (item_id,),
        ).fetchone()[0]
    assert count == 1


def test_lost_response_after_commit_is_unknown_and_not_reposted(
    live: Workspace, graph_double: GraphDouble
) -> None:
    graph_double.fail_next(1, path=r"/(feed|photos)$", method="POST", reset=True, commit=True)
    result = live.cli("run", "--once", timeout=300)
    assert result.returncode == 3, result.stderr  # an unknown outcome needs a human
    final = states(live)
    unknown = [key for key, s in final.items() if s == "unknown"]
    assert len(unknown) == 1 and unknown[0][1] == "facebook"
    assert "resultado desconocido" in result.stderr
    posts_before = len(graph_double.posts)
    # the post exists on Facebook (it was committed before the connection dropped)
    assert posts_before == sum(1 for (_, c) in final if c == "facebook")
    # running again does not post it a second time
    again = live.cli("run", "--once", timeout=300)
    assert again.returncode == 0  # nothing ended badly in this pass: the unknown is old news
    assert len(graph_double.posts) == posts_before
    assert states(live)[unknown[0]] == "unknown"
    report = live.cli("status", check=True).stdout
    assert "DESCONOCIDO" in report


def test_channels_check_reports_each_service(
    live: Workspace, graph_double: GraphDouble, tmp_path: Path
) -> None:
    ok = live.cli("channels", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for channel in ("website", "facebook", "x", "telegram"):
        assert f"{channel}: OK" in ok.stdout
    assert "mailing: bandeja de salida" in ok.stdout
    graph_double.expire_token()
    expired = live.cli("channels", "check")
    assert expired.returncode == 1
    line = next(x for x in expired.stdout.splitlines() if x.startswith("facebook"))
    assert "expiró" in line
    # no secret in what the command printed
    secrets = [v for k, v in live.env.items() if k.endswith(("TOKEN", "SECRET", "PASSWORD"))]
    for secret in secrets:
        assert secret not in expired.stdout + expired.stderr
