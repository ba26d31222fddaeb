"""Channel canaries (issue 12): the scheduler's daily ``canales`` slot checks every live
channel and tells the editors — once a day, not on every check — when a check fails or a
token expires within 7 days (Facebook's ``debug_token`` ``expires_at``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dispatcher.services import schedule
from tests.doubles.graph import GraphDouble
from tests.doubles.telegram import TelegramDouble
from tests.test_scale_support import Clock, make_app, make_settings

pytest_plugins = ["tests.test_scale_support"]


async def test_an_expiring_facebook_token_reaches_the_editors_once_a_day(
    tmp_path: Path, graph_double: GraphDouble
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    graph_double.expire_token(now + timedelta(days=3))
    settings = make_settings(tmp_path, **graph_double.settings_overrides())
    clock = Clock(now)
    app = await make_app(settings, clock)
    told: list[str] = []

    async def notifier(text: str) -> None:
        told.append(text)

    app.notifiers.append(notifier)
    try:
        await schedule.run_due(app, owner="test/a")  # at start
        await schedule.run_due(app, owner="test/b")  # another scheduler, same day
        clock.advance(hours=5)
        await schedule.run_due(app, owner="test/a")
        assert len(told) == 1, told
        assert "facebook" in told[0] and "vence el" in told[0]
        clock.advance(days=1)  # the next day: told again
        await schedule.run_due(app, owner="test/a")
        assert len(told) == 2
    finally:
        await app.aclose()


async def test_a_bot_removed_from_the_group_is_reported(
    tmp_path: Path, telegram_double: TelegramDouble, graph_double: GraphDouble
) -> None:
    overrides = telegram_double.settings_overrides()
    overrides.update(graph_double.settings_overrides())  # a healthy, never-expiring token
    settings = make_settings(tmp_path, **overrides)
    app = await make_app(settings, Clock(datetime.now(UTC)))
    told: list[str] = []

    async def notifier(text: str) -> None:
        told.append(text)

    app.notifiers.append(notifier)
    try:
        telegram_double.kicked_from.add(str(settings.telegram.chat_id))
        await schedule.run_due(app, owner="test/a")
        (text,) = told
        assert "telegram" in text and "facebook" not in text
    finally:
        await app.aclose()
