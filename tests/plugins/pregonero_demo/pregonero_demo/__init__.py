"""``demo``: a plugin channel that "publishes" by appending each post it receives, with the
settings and context it was built with, to ``PREGONERO_DEMO__OUTPUT`` as one JSON line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from channels.base import AuthError, ChannelContext, CheckResult, Post, Receipt
from settings import PluginSection, Settings


class DemoAdapter:
    name: ClassVar[str] = "demo"
    idempotent: ClassVar[bool] = False

    @staticmethod
    def has_credentials(section: PluginSection) -> bool:
        """Live only with a token (an output file alone does not make it live)."""
        return section.get("token") is not None

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        section = settings.plugin("demo")
        self._token = section.get("token")
        self._output = Path(section.get("output") or "demo.jsonl")
        self._context = context

    async def publish(self, post: Post) -> Receipt:
        if not self._token:
            raise AuthError("demo: falta PREGONERO_DEMO__TOKEN")
        record: dict[str, Any] = {
            "item_id": post.item_id,
            "channel": post.channel,
            "title": post.title,
            "text": post.text,
            "url": post.url,
            "token": self._token,
            "site_name": self._context.site_name,
            "at": self._context.clock().isoformat(),
        }
        with self._output.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        return Receipt(f"demo:{post.item_id}:r{post.revision}", post.url)

    async def check(self) -> CheckResult:
        return CheckResult(bool(self._token), f"demo escribe en {self._output}")

    async def aclose(self) -> None:
        return None
