"""Helpers every command shares: settings and logging, the app's life, failures."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from dispatcher.services.context import App
    from settings import Settings

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (an optional, CPython-on-Unix
    dependency: it sends mass mail ~15 % faster), else ``None``: asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop :func:`loop_factory` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def load() -> Settings:
    from settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        fail(str(exc))
        raise
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in (
        *("httpx", "httpcore", "telegram", "watchfiles", "aiosqlite", "apscheduler"),
        "alembic",  # the ledger logs its own schema changes
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return settings


def with_app(settings: Settings, body: Callable[[App], Awaitable[T]]) -> T:
    """Build the app (a bad plan stops here with its message), run ``body``, close."""
    from dispatcher.items.plan import PlanError
    from dispatcher.ledger.migrate import SchemaError
    from dispatcher.services.context import build_app

    async def go() -> T:
        try:
            application = await build_app(settings)
        except PlanError as exc:
            fail(f"El plan no es válido:\n{exc}")
            raise
        except SchemaError as exc:  # an out-of-date PostgreSQL ledger: 'pregonero db upgrade'
            fail(str(exc))
            raise
        try:
            return await body(application)
        finally:
            await application.aclose()

    return run_async(go())


def warn_outbox(application: App) -> None:
    from dispatcher.services.status import outbox_warnings

    for line in outbox_warnings(application):
        typer.secho(line, fg=typer.colors.YELLOW, err=True)
