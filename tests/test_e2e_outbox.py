"""End to end on the embedded default: drop the shipped examples, ``pregonero run --once``,
and look at what a press office would look at — the static site and each channel's outbox."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml

from dispatcher.items.plan import load_plan
from tests.conftest import EXAMPLES, ROOT, Workspace

CHANNELS = ("website", "facebook", "x", "telegram", "mailing")


def _front(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    return dict(yaml.safe_load(text.split("---", 2)[1]))


def _planned() -> dict[str, list[str]]:
    """Example id → channels the plan maps it to (after its only/exclude)."""
    plan = load_plan(ROOT / "content" / "plan.yaml", CHANNELS)
    from dispatcher.items.model import FrontMatter

    out = {}
    for path in sorted(EXAMPLES.glob("*.md")):
        meta = FrontMatter.model_validate(_front(path))
        assert meta.id, f"{path.name}: examples carry an explicit id"
        out[meta.id] = plan.channels_for(meta.kind, meta.channels)
    return out


def _db(ws: Workspace) -> sqlite3.Connection:
    return sqlite3.connect(ws.root / "pregonero.db")


def test_examples_reach_every_planned_channel(workspace: Workspace) -> None:
    dropped = workspace.drop_examples()
    assert len(dropped) >= 10
    result = workspace.cli("run", "--once", check=True)
    assert "bandeja de salida" in result.stderr  # outbox mode is said loudly

    planned = _planned()
    kinds_seen = set()
    for item_id, channels in planned.items():
        meta = _front(next(p for p in EXAMPLES.glob("*.md") if _front(p).get("id") == item_id))
        kinds_seen.add(meta["kind"])
        year, month = str(meta["date"])[:4], str(meta["date"])[5:7]
        page = workspace.site / year / month / item_id / "index.html"
        if "website" in channels:
            html = page.read_text(encoding="utf-8")
            assert "<!DOCTYPE html>" in html or "<!doctype html>" in html
            assert str(meta["title"]).split()[0] in html
        else:
            assert not page.exists()
        url = f"https://www.bucaramanga.gov.co/noticias/{year}/{month}/{item_id}/"
        for channel in CHANNELS:
            if channel == "website":
                continue
            record = workspace.outbox / channel / f"{item_id}.r1.json"
            if channel not in channels:
                assert not record.exists(), f"{item_id} must not go to {channel}"
                continue
            data = json.loads(record.read_text(encoding="utf-8"))
            assert data["item_id"] == item_id
            assert data["channel"] == channel
            if "website" in channels:
                # the website went first and its URL is in every other channel's post
                assert data["url"] == url
                assert url in data["text"] or url in json.dumps(data.get("parts", {}))
    assert len(kinds_seen) >= 10

    # every input file is archived, none left in the inbox or rejected
    assert not list(workspace.inbox.glob("*.md"))
    archived = list((workspace.content / "archive").rglob("*.md"))
    assert len(archived) == len(dropped)
    assert not list((workspace.content / "rejected").iterdir())

    # the site has an index, a feed and a sitemap listing the items
    index = (workspace.site / "index.html").read_text(encoding="utf-8")
    feed = (workspace.site / "feed.xml").read_text(encoding="utf-8")
    sitemap = (workspace.site / "sitemap.xml").read_text(encoding="utf-8")
    for item_id, channels in planned.items():
        if "website" in channels:
            assert item_id in sitemap
            assert item_id in feed or item_id in index

    with _db(workspace) as db:
        states = dict(
            db.execute("select status, count(*) from deliveries group by status").fetchall()
        )
    assert states == {"sent": sum(len(c) for c in planned.values())}


def test_status_lists_items_and_modes(workspace: Workspace) -> None:
    workspace.drop_examples()
    workspace.cli("run", "--once", check=True)
    out = workspace.cli("status", check=True).stdout
    assert "bandeja de salida" in out
    some_id = next(iter(_planned()))
    assert some_id in out
    detail = workspace.cli("status", some_id, check=True).stdout
    assert "enviado" in detail and "intento 1" in detail
    missing = workspace.cli("status", "no-existe")
    assert missing.returncode == 1


def test_duplicate_and_correction(workspace: Workspace) -> None:
    source = next(p for p in sorted(EXAMPLES.glob("*.md")) if "image" not in _front(p))
    meta = _front(source)
    item_id = str(meta["id"])
    workspace.drop_examples([source.name])
    workspace.cli("run", "--once", check=True)

    # the same file again: a duplicate, archived, not republished
    workspace.drop_examples([source.name])
    out = workspace.cli("run", "--once", check=True).stdout
    assert "duplicado" in out
    with _db(workspace) as db:
        count = db.execute(
            "select count(*) from deliveries where item_id = ?", (item_id,)
        ).fetchone()[0]
    assert count == len(_planned()[item_id])

    # changed content with the same id: a correction reaches every channel that carried it
    # (the mailing only when the kind says ``corrections: mail``)
    changed = source.read_text(encoding="utf-8").replace(
        "\n\n", "\n\nFe de erratas: se corrige una cifra.\n\n", 1
    )
    workspace.write(source.name, changed)
    out = workspace.cli("run", "--once", check=True).stdout
    assert "corrección" in out
    with _db(workspace) as db:
        rows = db.execute(
            "select channel, revision, action, status from deliveries where item_id = ? and revision = 2",
            (item_id,),
        ).fetchall()
    carried = sorted(c for c in _planned()[item_id] if c != "mailing")
    assert sorted(rows) == [(c, 2, "correction", "sent") for c in carried]
    year, month = str(meta["date"])[:4], str(meta["date"])[5:7]
    page = (workspace.site / year / month / item_id / "index.html").read_text(encoding="utf-8")
    assert "Fe de erratas" in page
    archived = list((workspace.content / "archive").rglob(source.name))
    assert len(archived) == 3  # original, duplicate and correction all kept

    # the other channels got it as a correction of what they carry (issue 12)
    assert (workspace.outbox / "telegram" / f"{item_id}.r2.correccion.json").exists()
    assert not (workspace.outbox / "mailing" / f"{item_id}.r2.correccion.json").exists()


def test_cancel_stops_pending_deliveries(workspace: Workspace) -> None:
    workspace.write(
        "embargo.md",
        "---\nkind: boletin\ntitle: Anuncio bajo embargo hasta el año próximo\nid: anuncio-embargo\n"
        "date: 2026-11-20\npublish_at: 2099-01-01T08:00:00\n---\n\nTexto del anuncio.\n",
    )
    workspace.cli("run", "--once", check=True)
    status = workspace.cli("status", "anuncio-embargo", check=True).stdout
    assert "pendiente" in status and "2099-01-01 08:00" in status
    assert not (workspace.site / "2026" / "11" / "anuncio-embargo").exists()
    out = workspace.cli("cancel", "anuncio-embargo", check=True).stdout
    assert "cancelada" in out
    status = workspace.cli("status", "anuncio-embargo", check=True).stdout
    assert "cancelado" in status


def test_check_and_preview(workspace: Workspace) -> None:
    good = sorted(EXAMPLES.glob("*.md"))[0]
    result = workspace.cli("check", str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    bad = workspace.root / "malo.md"
    bad.write_text("---\nkind: boletin\ntitel: Sin título\n---\n\nCuerpo.\n", encoding="utf-8")
    result = workspace.cli("check", str(good), str(bad))
    assert result.returncode == 1
    assert "titel" in result.stdout and "línea 3" in result.stdout
    preview = workspace.cli("preview", str(good), "--channel", "x")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "/ 280" in preview.stdout


def test_rejection_is_handled_and_nothing_is_lost(workspace: Workspace) -> None:
    workspace.drop_examples(["2026-11-09-jornada-vacunacion-influenza.md"])
    workspace.write("sin-titulo.md", "---\nkind: boletin\n---\n\nCuerpo sin título.\n")
    workspace.write(
        "peligroso.md",
        "---\nkind: boletin\ntitle: <script>alert('x')</script> Alerta\nid: alerta-script\n"
        "date: 2026-11-21\n---\n\nTexto <b>con</b> marcas.\n",
    )
    result = workspace.cli("run", "--once")
    assert result.returncode == 0, result.stderr  # a rejection is a handled file
    rejected = workspace.content / "rejected"
    assert (rejected / "sin-titulo.md").exists()
    reason = (rejected / "sin-titulo.md.error.txt").read_text(encoding="utf-8")
    assert "title" in reason and "línea" in reason
    # the <script> title is inert on the website and in Telegram's HTML
    page = (workspace.site / "2026" / "11" / "alerta-script" / "index.html").read_text("utf-8")
    telegram = (workspace.outbox / "telegram" / "alerta-script.r1.html").read_text("utf-8")
    for html in (page, telegram):
        assert "<script>" not in html
        assert "&lt;script&gt;" in html


def test_bad_plan_stops_start_up_with_its_line(workspace: Workspace) -> None:
    plan = workspace.content / "plan.yaml"
    plan.write_text(
        plan.read_text(encoding="utf-8").replace("channels: [telegram]", "channels: [telegrma]"),
        encoding="utf-8",
    )
    workspace.drop_examples(["2026-11-09-jornada-vacunacion-influenza.md"])
    result = workspace.cli("run", "--once")
    assert result.returncode == 2
    assert "plan" in result.stderr.lower() and "telegrma" in result.stderr
    assert "línea" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(workspace.inbox.glob("*.md"))  # nothing was taken in
