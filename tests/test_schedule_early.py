"""The press conference's call to journalists ahead of the public release
(``kinds.rueda_de_prensa.early``: Telegram + the ``periodistas`` mailing 24 h before the
event), with time moved by the App's clock."""

from __future__ import annotations

import json
from pathlib import Path

from dispatcher.items.early import early_calls
from tests.test_scale_support import (
    Clock,
    bogota,
    content_item,
    deliver_all,
    make_app,
    make_settings,
    take_in,
)

pytest_plugins = ["tests.test_scale_support"]


def rueda(*, publish_at: str | None, starts_at: str = "2026-11-28T10:00:00") -> str:
    embargo = f"publish_at: {publish_at}\n" if publish_at else ""
    return (
        "---\nkind: rueda_de_prensa\nid: rueda-balance\n"
        'title: "Rueda de prensa: balance de seguridad"\ndate: 2026-11-28\n'
        f"{embargo}event:\n  starts_at: {starts_at}\n  place: CAM, salón de prensa\n---\n\n"
        "El Alcalde presenta el balance de seguridad del puente festivo.\n"
    )


async def test_the_call_goes_ahead_and_the_release_waits_for_the_embargo(
    tmp_path: Path,
) -> None:
    clock = Clock(bogota(2026, 11, 26, 9, 0))
    app = await make_app(make_settings(tmp_path), clock)
    try:
        await take_in(app, rueda(publish_at="2026-11-28T12:00:00"))
        rows = await app.ledger.deliveries_for(["rueda-balance"])
        early = {r.channel: r.not_before for r in rows if r.action == "early"}
        assert early == {
            "telegram": bogota(2026, 11, 27, 10, 0),
            "mailing": bogota(2026, 11, 27, 10, 0),
        }
        await deliver_all(app)
        assert {r.status for r in await app.ledger.deliveries_for(["rueda-balance"])} == {"pending"}

        clock.now = bogota(2026, 11, 27, 10, 0, 5)  # 24 h before: only the call
        await deliver_all(app)
        states = {
            (r.channel, r.action): r.status
            for r in await app.ledger.deliveries_for(["rueda-balance"])
        }
        assert states[("telegram", "early")] == states[("mailing", "early")] == "sent"
        assert {s for (_, action), s in states.items() if action == "publish"} == {"pending"}
        outbox = app.settings.content_dir / "outbox"
        call_file = outbox / "telegram" / "rueda-balance.r1.convocatoria.json"
        call = json.loads(call_file.read_text("utf-8"))
        assert call["meta"]["early"] is True and call["url"] is None
        assert "Rueda de prensa" in call["text"] and "CAM" in call["text"]
        mail = json.loads(
            (outbox / "mailing" / "rueda-balance.r1.convocatoria.json").read_text("utf-8")
        )
        assert mail["meta"]["audiences"] == ["periodistas"]

        clock.now = bogota(2026, 11, 28, 12, 0, 5)  # the embargo lifts: the public release
        await deliver_all(app)
        rows = await app.ledger.deliveries_for(["rueda-balance"])
        assert len(rows) == 7 and {r.status for r in rows} == {"sent"}
        # the public release has its own outbox record; the call's record is kept
        release = json.loads((outbox / "telegram" / "rueda-balance.r1.json").read_text("utf-8"))
        assert not release["meta"].get("early")
        assert json.loads(call_file.read_text("utf-8"))["meta"]["early"] is True
        # a retry of the whole item does not repeat the call (it is not failed)
        assert await app.ledger.retry("rueda-balance") == []
    finally:
        await app.aclose()


async def test_when_the_call_is_useful(tmp_path: Path) -> None:
    clock = Clock(bogota(2026, 11, 26, 9, 0))
    app = await make_app(make_settings(tmp_path), clock)
    channels = ["website", "facebook", "x", "telegram", "mailing"]
    try:
        # no embargo: the release goes out now anyway, so Telegram gets no separate call,
        # but the mailing release would wait for the 17:00 digest: the call goes at once
        item = content_item(app, rueda(publish_at=None, starts_at="2026-11-26T15:00:00"))
        assert early_calls(app.plan, item, channels, clock()) == {"mailing": clock()}
        # event two days away, no embargo: the call (tomorrow) would come after the release
        item = content_item(app, rueda(publish_at=None))
        assert early_calls(app.plan, item, channels, clock()) == {}
        # the event is over: no call at all
        item = content_item(
            app, rueda(publish_at="2026-11-28T12:00:00", starts_at="2026-11-25T10:00:00")
        )
        assert early_calls(app.plan, item, channels, clock()) == {}
        # channels the item excludes get no call either
        item = content_item(app, rueda(publish_at="2026-11-28T12:00:00"))
        assert set(early_calls(app.plan, item, ["website", "telegram"], clock())) == {"telegram"}
    finally:
        await app.aclose()
