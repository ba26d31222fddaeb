"""After publishing, end to end through ``pregonero`` against the doubles over real HTTP
(issue 12): a correction reaches every channel that carried the item — the static site's
page, the Facebook post and the Telegram message edited in place, a reply "Corrección:" on
X — exactly once each, through a transient error; a withdrawal takes the item down from
every channel and from the site's index, feed and sitemap; ``status`` shows it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.conftest import Workspace
from tests.doubles.graph import GraphDouble
from tests.doubles.telegram import TelegramDouble
from tests.doubles.x import XDouble

ITEM = "2026-11-30-cierre-via-la-cumbre"
ORIGINAL = f"""---
kind: boletin
id: {ITEM}
title: Cierre nocturno de la vía a La Cumbre por obras
summary: La vía estará cerrada de 10 p. m. a 4 a. m. durante 5 noches.
date: 2026-11-30
tags: [movilidad]
---
La Secretaría de Infraestructura cerrará la vía a La Cumbre durante **5 noches**.
"""
CORRECTED = ORIGINAL.replace("5 noches", "3 noches").replace(
    "tags: [movilidad]\n",
    "tags: [movilidad]\ncorreccion: El cierre dura 3 noches, no 5.\n",
)


def deliveries(ws: Workspace) -> list[tuple[str, str, int, str]]:
    with sqlite3.connect(ws.root / "pregonero.db") as db:
        return db.execute(
            "select channel, action, revision, status from deliveries where item_id = ? "
            "order by id",
            (ITEM,),
        ).fetchall()


@pytest.fixture
def live(
    workspace: Workspace,
    graph_double: GraphDouble,
    x_double: XDouble,
    telegram_double: TelegramDouble,
) -> Iterator[Workspace]:
    for double in (graph_double, x_double, telegram_double):
        workspace.env.update(double.settings_env())
    workspace.write(f"{ITEM}.md", ORIGINAL)
    workspace.cli("run", "--once", timeout=120, check=True)
    assert {status for *_, status in deliveries(workspace)} == {"sent"}
    yield workspace


def test_a_correction_edits_in_place_and_replies_on_x_once_each(
    live: Workspace,
    graph_double: GraphDouble,
    x_double: XDouble,
    telegram_double: TelegramDouble,
) -> None:
    (post_id,) = graph_double.posts
    (tweet_id,) = x_double.tweets
    (message,) = telegram_double.sent_to()
    # a transient failure on each edit: retried, and still done exactly once
    graph_double.fail_next(status=503, path=rf"/{post_id}$", method="POST")
    telegram_double.fail_next(status=502, path="/editMessageText")
    live.write(f"{ITEM}.md", CORRECTED)
    result = live.cli("run", "--once", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "corrección" in result.stdout

    corrections = [d for d in deliveries(live) if d[1] == "correction"]
    # every channel that carried it but the mailing (the plan's kind says no mail)
    assert sorted(c for c, *_ in corrections) == ["facebook", "telegram", "website", "x"]
    assert {(rev, status) for _, _, rev, status in corrections} == {(2, "sent")}
    with sqlite3.connect(live.root / "pregonero.db") as db:
        tries = dict(
            db.execute(
                "select channel, attempts from deliveries where action = 'correction'"
            ).fetchall()
        )
    assert tries == {"facebook": 2, "telegram": 2, "website": 1, "x": 1}
    # Facebook: the same post, edited once (after the 503), with the new text and the note
    assert list(graph_double.posts) == [post_id]
    post = graph_double.posts[post_id]
    assert post["edits"] == 1
    assert "3 noches" in post["message"] and "5 noches" not in post["message"]
    assert "Corrección: El cierre dura 3 noches, no 5." in post["message"]
    # Telegram: the same message, edited in place once (the 502 was retried)
    assert [m.message_id for m in telegram_double.sent_to()] == [message.message_id]
    edits = [e for e in telegram_double.edits if e[1] == message.message_id]
    assert len(edits) == 1 and "3 noches" in str(edits[0][3])
    # X: one reply to the original, beginning "Corrección:", with the link
    replies = [t for t in x_double.tweets.values() if t.get("in_reply_to") == tweet_id]
    assert len(replies) == 1
    assert replies[0]["text"].startswith("Corrección: El cierre dura 3 noches, no 5.")
    assert "https://www.bucaramanga.gov.co/noticias/" in replies[0]["text"]
    assert len(x_double.tweets) == 2
    # the website page carries the new text and the note
    (page,) = live.site.glob(f"**/{ITEM}/index.html")
    html = page.read_text("utf-8")
    assert "3 noches" in html and "El cierre dura 3 noches, no 5." in html
    # a second pass sends nothing again
    live.cli("run", "--once", timeout=120, check=True)
    assert len(x_double.tweets) == 2 and graph_double.posts[post_id]["edits"] == 1
    status = live.cli("status", ITEM, check=True).stdout
    assert "[corrección]" in status


def test_an_unknown_reply_on_x_is_not_sent_twice(live: Workspace, x_double: XDouble) -> None:
    """The reply's answer is lost after X stored it: the delivery is ``unknown`` and the
    editors decide; a second pass posts no second reply."""
    x_double.fail_next(path=r"/2/tweets$", method="POST", reset=True, commit=True)
    live.write(f"{ITEM}.md", CORRECTED)
    result = live.cli("run", "--once", timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    x_rows = [d for d in deliveries(live) if d[0] == "x" and d[1] == "correction"]
    assert [status for *_, status in x_rows] == ["unknown"]
    live.cli("run", "--once", timeout=120)
    assert len(x_double.tweets) == 2  # the original and the one reply X stored


def test_a_withdrawal_takes_the_item_down_everywhere(
    live: Workspace,
    graph_double: GraphDouble,
    x_double: XDouble,
    telegram_double: TelegramDouble,
) -> None:
    (page,) = live.site.glob(f"**/{ITEM}/index.html")
    url_path = page.parent.relative_to(live.site).as_posix()
    for name in ("index.html", "feed.xml", "sitemap.xml"):
        assert url_path in (live.site / name).read_text("utf-8")
    result = live.cli("withdraw", ITEM, "--reason", "Cifras sin confirmar", check=True)
    assert "retirada" in result.stdout
    live.cli("run", "--once", timeout=120, check=True)

    withdrawals = [d for d in deliveries(live) if d[1] == "withdraw"]
    assert sorted(c for c, *_ in withdrawals) == ["facebook", "telegram", "website", "x"]
    assert {status for *_, status in withdrawals} == {"sent"}
    assert graph_double.posts == {} and len(graph_double.deleted) == 1
    assert x_double.tweets == {} and len(x_double.deleted) == 1
    assert telegram_double.sent_to() == [] and len(telegram_double.deleted) == 1
    html = page.read_text("utf-8")
    assert "Esta publicación fue retirada el" in html and "Motivo: Cifras sin confirmar" in html
    assert "La Secretaría de Infraestructura" not in html
    for name in ("index.html", "feed.xml", "sitemap.xml"):
        assert url_path not in (live.site / name).read_text("utf-8"), name
    status = live.cli("status", ITEM, check=True).stdout
    assert "estado: retirada" in status and "Cifras sin confirmar" in status
    # a correction of a withdrawn item is refused with the reason, not published
    live.write(f"{ITEM}.md", CORRECTED)
    live.cli("run", "--once", timeout=120)
    (error,) = live.content.glob("rejected/*.error.txt")
    assert "fue retirada" in error.read_text("utf-8")
    assert graph_double.posts == {} and x_double.tweets == {}


@pytest.mark.parametrize("how", ["kicked", "left"])
def test_channels_check_reports_a_bot_removed_from_the_group(
    workspace: Workspace, telegram_double: TelegramDouble, how: str
) -> None:
    """``channels check`` asks Telegram whether the bot still reaches the chat
    (``getChat`` and its own ``getChatMember``), not only whether the token works."""
    workspace.env.update(telegram_double.settings_env())
    ok = workspace.cli("channels", "check")
    assert "telegram: OK" in ok.stdout, ok.stdout + ok.stderr
    chat = workspace.env["PREGONERO_TELEGRAM__CHAT_ID"]
    if how == "kicked":
        telegram_double.kicked_from.add(chat)  # Telegram then answers 403 to the chat
    else:
        telegram_double.member_status[chat] = "left"
    result = workspace.cli("channels", "check")
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("telegram:"))
    assert "ERROR" in line and chat in line
