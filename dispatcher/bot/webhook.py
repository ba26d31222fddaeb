"""Optional webhook mode: Telegram POSTs updates to a URL instead of the bot polling.

PTB's own webhook server needs tornado (its ``webhooks`` extra), which Pregonero does not
depend on; this is the same thing on starlette + uvicorn, which it does. The server listens
on ``listen:port`` (put it behind the office's HTTPS reverse proxy) at the path of ``url``,
checks Telegram's ``X-Telegram-Bot-Api-Secret-Token`` header, and hands each update to the
application's queue — from there on, everything is as with polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update

log = logging.getLogger("pregonero.bot")

ALLOWED_UPDATES = ["message", "callback_query"]


@dataclass(frozen=True)
class Webhook:
    """Where Telegram sends updates (``url``, public HTTPS) and where we listen for them."""

    url: str
    listen: str = "127.0.0.1"
    port: int = 8443
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


def webhook_app(application: Any, secret: str, path: str) -> Starlette:
    async def receive(request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("bot: petición al webhook sin el secreto correcto desde %s", request.client)
            return Response(status_code=403)
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except Exception:
            return Response(status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    return Starlette(routes=[Route(path, receive, methods=["POST"])])


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: SIGTERM belongs to ``pregonero run``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebhookServer:
    """Registers the webhook with Telegram and serves it until :meth:`stop`."""

    def __init__(self, application: Any, webhook: Webhook) -> None:
        self.application = application
        self.webhook = webhook
        config = uvicorn.Config(
            webhook_app(application, webhook.secret, webhook.path),
            host=webhook.listen,
            port=webhook.port,
            log_level="warning",
            lifespan="off",
        )
        self.server = _Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(), name="bot-webhook")
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raises why it could not listen
                raise RuntimeError("el servidor del webhook no arrancó")
            await asyncio.sleep(0.02)
        await self.application.bot.set_webhook(
            self.webhook.url, secret_token=self.webhook.secret, allowed_updates=ALLOWED_UPDATES
        )
        log.info(
            "bot: webhook en %s (escucha en %s:%s)",
            self.webhook.url,
            self.webhook.listen,
            self.webhook.port,
        )

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
