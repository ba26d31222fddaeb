"""Outbox mode for any channel: the rendered post is written to
``<content_dir>/outbox/<channel>/`` instead of being sent, so editors can read exactly what
would have gone out.

For each delivery two files, ``<item_id>.r<revision>.<ext>`` with the channel's main text
(``.html`` for ``website``/``telegram``; ``.txt`` otherwise — for ``mailing`` the subject and
the plain text, plus ``<item_id>.r<revision>.html`` with the HTML part) and
``<item_id>.r<revision>.json`` with every field of the ``Post`` (dates as ISO 8601 strings).
Writing the same revision again overwrites the same files: idempotent. A correction of a
channel that already carried the item is written as ``<item_id>.r<revision>.correccion.*``
and a withdrawal as ``<item_id>.retirada.json``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from collections.abc import Mapping
from datetime import date, datetime, time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from channels._fs import FileWorker, atomic_write, map_os_error
from channels.base import ChannelContext, CheckResult, Media, Post, Receipt, Rejected
from channels.pages import SAFE_ID

if TYPE_CHECKING:
    from settings import Settings

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
HTML_CHANNELS = frozenset({"website", "telegram"})


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Media):
        return _media(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _media(media: Media) -> dict[str, str]:
    return {"path": str(media.path), "alt": media.alt, "mime": media.mime}


def post_to_dict(post: Post) -> dict[str, Any]:
    """Every field of ``post`` as JSON-ready values (what the ``.json`` file holds)."""
    result: dict[str, Any] = json.loads(_record(_post_fields(post)))
    return result


def _record(data: dict[str, Any]) -> str:
    """What the ``.json`` file holds: :func:`post_to_dict`'s values, encoded once."""
    return json.dumps(data, default=_json_default, ensure_ascii=False, indent=2, sort_keys=True)


def _post_fields(post: Post) -> dict[str, Any]:
    data = {f.name: getattr(post, f.name) for f in dataclasses.fields(post)}
    data["image"] = _media(post.image) if post.image else None
    data["attachments"] = [_media(m) for m in post.attachments]
    data["parts"] = dict(post.parts)
    data["meta"] = dict(post.meta)
    return data


class OutboxAdapter:
    """Writes the rendered post for ``channel`` under the outbox instead of sending it.

    Built like every adapter, with the settings and the :class:`ChannelContext` (plus the
    channel it stands in for), whose file thread does its writing."""

    idempotent: ClassVar[bool] = True

    def __init__(self, channel: str, settings: Settings, context: ChannelContext) -> None:
        if not _NAME.match(channel):
            raise ValueError(f"nombre de canal inválido: {channel!r}")
        self.name = channel
        self._dir = settings.content_dir / "outbox" / channel
        # the app's file thread (shared by every file-writing channel); else its own
        self._own_files = context.files is None
        self._files = context.files or FileWorker(f"pregonero-{channel}")

    async def publish(self, post: Post) -> Receipt:
        if not SAFE_ID.match(post.item_id):
            raise Rejected(f"identificador inválido: {post.item_id!r}")
        try:
            return await self._files.run(self._write, post)
        except OSError as exc:
            raise map_os_error(exc, f"escribir «{post.item_id}» en {self._dir}") from exc

    update_idempotent: ClassVar[bool] = True

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """A correction: the new revision's files, named ``….r<revision>.correccion.*``, with
        the receipt it corrects in the ``.json`` (``corrects``)."""
        corrected = dataclasses.replace(
            post, meta={**post.meta, "correction_of": receipt.remote_id}
        )
        return await self.publish(corrected)

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """A withdrawal: ``<item_id>.retirada.json`` with what would have been taken down."""
        item_id = str(receipt.detail.get("item_id") or "")
        if not SAFE_ID.match(item_id):
            raise Rejected(f"identificador inválido: {item_id!r}")
        record = {"remote_id": receipt.remote_id, "url": receipt.url, **dict(receipt.detail)}
        data = json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True, default=str)
        path = self._dir / f"{item_id}.retirada.json"
        try:
            await self._files.run(atomic_write, path, (data + "\n").encode("utf-8"))
        except OSError as exc:
            raise map_os_error(exc, f"escribir «{item_id}» en {self._dir}") from exc
        return Receipt(receipt.remote_id, receipt.url, {"outbox": True, "files": [str(path)]})

    def _write(self, post: Post) -> Receipt:
        stem = f"{post.item_id}.r{post.revision}"
        if post.meta.get("early"):  # the call to journalists ahead of the public release
            stem += ".convocatoria"
        if post.meta.get("correction_of") is not None:
            stem += ".correccion"
        ext = "html" if self.name in HTML_CHANNELS else "txt"
        main = self._dir / f"{stem}.{ext}"
        text = post.text
        files = [main]
        if self.name == "mailing":
            text = f"Asunto: {post.parts.get('subject', post.title)}\n\n{post.text}"
            if post.parts.get("html"):
                atomic_write(self._dir / f"{stem}.html", post.parts["html"].encode("utf-8"))
                files.append(self._dir / f"{stem}.html")
        atomic_write(main, text.encode("utf-8"))
        record = _record(_post_fields(post))  # as json.dumps(post_to_dict(post), …), once
        atomic_write(self._dir / f"{stem}.json", (record + "\n").encode("utf-8"))
        files.append(self._dir / f"{stem}.json")
        detail = {"outbox": True, "files": [str(f) for f in files]}
        if self.name == "website":
            # No public page exists: point at the local file. The dispatcher must not put a
            # non-http(s) URL into posts that go out live on other channels.
            return Receipt(f"{stem}.json", main.resolve().as_uri(), detail)
        return Receipt(f"{stem}.json", post.url, detail)

    async def check(self) -> CheckResult:
        def probe() -> None:
            self._dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self._dir):
                pass

        try:
            await self._files.run(probe)
        except OSError as exc:
            return CheckResult(False, map_os_error(exc, f"escribir en {self._dir}").reason)
        return CheckResult(
            True,
            f"modo bandeja de salida: no se envía nada, se escribe en {self._dir}/",
        )

    async def aclose(self) -> None:
        if self._own_files:
            await self._files.aclose()
