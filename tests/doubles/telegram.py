"""Telegram Bot API double: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``.

Answers like the Bot API (``{"ok": true, "result": …}`` or ``{"ok": false, "error_code",
"description"[, "parameters"]}``), validates HTML parse mode the way Telegram does (only its
tag set; ``<p>``/``<br>`` fail with "can't parse entities") and the 4096/1024 limits, and keeps
what was sent in :attr:`TelegramDouble.sent`. Updates for a bot are queued with
:meth:`push_message` / :meth:`push_document` / :meth:`push_callback`; ``getUpdates``
long-polls for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response, UploadedFile

TOKEN = "123456789:AAH-test-token_do-not-leak"
GROUP_CHAT = "-1001234567890"

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>")


class EntityError(ValueError):
    """Telegram's "can't parse entities" (the message after the prefix)."""


def parse_html(text: str) -> str:
    """The plain text Telegram would show for ``text`` in HTML mode, or :class:`EntityError`."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            offset = len(text[:pos].encode())
            match = _TAG.match(text, pos)
            if not match:
                raise EntityError(f"Unexpected end of name token at byte offset {offset}")
            closing, name, _attrs = match.group(1), match.group(2).lower(), match.group(3)
            if closing:
                if not stack or stack[-1] != name:
                    raise EntityError(
                        f"Unmatched end tag at byte offset {offset}, expected "
                        f'"</{stack[-1] if stack else ""}>", found "</{name}>"'
                    )
                stack.pop()
            else:
                if name not in ALLOWED_TAGS:
                    raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
                stack.append(name)
            pos = match.end()
            continue
        if char == "&":
            end = text.find(";", pos)
            entity = text[pos + 1 : end] if end != -1 else ""
            if entity in NAMED_ENTITIES:
                out.append(NAMED_ENTITIES[entity])
                pos = end + 1
                continue
            if entity.startswith("#") and end != -1:
                out.append(html.unescape(f"&{entity};"))
                pos = end + 1
                continue
        out.append(char)
        pos += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


@dataclass
class SentMessage:
    chat_id: str
    message_id: int
    method: str
    text: str | None = None
    """The message text or caption as sent (HTML)."""
    file: UploadedFile | None = None
    params: dict[str, Any] = field(default_factory=dict)


class TelegramDouble(DoubleServer):
    service = "telegram"

    def __init__(self, token: str = TOKEN, *, username: str = "pregonero_bot") -> None:
        super().__init__()
        self.token = token
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Pregonero",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.sent: list[SentMessage] = []
        self.kicked_from: set[str] = set()
        """Chats where the bot was removed: sends there answer 403."""
        self.member_status: dict[str, str] = {}
        """The bot's own ``getChatMember`` status per chat: ``member`` (default), ``left`` or
        ``kicked``."""
        self.edits: list[tuple[str, int, str, str | None]] = []
        """(chat, message id, method, new text) of every edit."""
        self.deleted: list[SentMessage] = []
        """Messages removed with ``deleteMessage`` (gone from :attr:`sent`)."""
        self.poll_cap = 1.0
        """Longest ``getUpdates`` wait in seconds, whatever ``timeout`` the client asks."""
        self.callback_answers: list[dict[str, Any]] = []
        self._files: dict[str, tuple[str, UploadedFile]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._new_update: asyncio.Event | None = None
        self.route("POST", r"/bot(?P<token>[^/]+)/(?P<method>\w+)", self._api)
        self.route("GET", r"/bot(?P<token>[^/]+)/(?P<method>\w+)", self._api)
        self.route("GET", r"/file/bot(?P<token>[^/]+)/(?P<path>.+)", self._download)

    # -- for tests -----------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.base_url}/file/bot"

    def settings_overrides(self, chat_id: str = GROUP_CHAT) -> dict[str, Any]:
        return {
            "telegram": {
                "bot_token": self.token,
                "chat_id": chat_id,
                "api_url": self.api_url,
                "file_url": self.file_url,
                "mode": "live",
            }
        }

    def settings_env(self, chat_id: str = GROUP_CHAT) -> dict[str, str]:
        return {
            "PREGONERO_TELEGRAM__BOT_TOKEN": self.token,
            "PREGONERO_TELEGRAM__CHAT_ID": chat_id,
            "PREGONERO_TELEGRAM__API_URL": self.api_url,
            "PREGONERO_TELEGRAM__FILE_URL": self.file_url,
            "PREGONERO_TELEGRAM__MODE": "live",
        }

    @staticmethod
    def error(code: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
        """A Bot API error body, e.g. ``error(429, "Too Many Requests: retry after 5", 5)``."""
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return body

    def add_file(self, data: bytes, name: str, mime: str = "application/octet-stream") -> str:
        """Register a file the bot can ``getFile`` and download; returns its ``file_id``."""
        return self._store_file(UploadedFile(name, mime, data), "documents")

    def push_message(self, text: str, *, user_id: int, chat_id: int | None = None) -> int:
        return self._push({"message": self._incoming(user_id, chat_id, {"text": text})})

    def push_document(
        self, data: bytes, name: str, *, user_id: int, mime: str = "text/markdown"
    ) -> int:
        file_id = self.add_file(data, name, mime)
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": mime,
            "file_size": len(data),
        }
        return self._push({"message": self._incoming(user_id, None, {"document": document})})

    def push_callback(self, data: str, *, user_id: int, message_id: int = 1) -> int:
        message = self._incoming(user_id, None, {"text": "…"}) | {"message_id": message_id}
        query = {
            "id": f"cb{next(self._update_ids)}",
            "from": _user(user_id),
            "chat_instance": "1",
            "data": data,
            "message": message,
        }
        return self._push({"callback_query": query})

    def sent_to(self, chat_id: str = GROUP_CHAT) -> list[SentMessage]:
        with self.lock:
            return [m for m in self.sent if m.chat_id == str(chat_id)]

    # -- Bot API -------------------------------------------------------------------------

    def not_found(self, request: Request) -> Response:
        return Response.json(self.error(404, "Not Found"), 404)

    async def _api(self, request: Request, token: str, method: str) -> Response:
        if token != self.token:
            return Response.json(self.error(401, "Unauthorized"), 401)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return Response.json(self.error(404, "Not Found"), 404)
        try:
            result = handler(request)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            return Response.json(
                self.error(exc.code, exc.description, (exc.parameters or {}).get("retry_after")),
                exc.code,
            )
        return Response.json({"ok": True, "result": result})

    def _download(self, request: Request, token: str, path: str) -> Response:
        if token != self.token:
            return Response.json(self.error(401, "Unauthorized"), 401)
        with self.lock:
            for file_path, upload in self._files.values():
                if file_path == path:
                    return Response.raw(
                        upload.data, upload.content_type or "application/octet-stream"
                    )
        return Response.json(self.error(404, "Not Found"), 404)

    def _m_getme(self, request: Request) -> Any:
        return self.bot_user

    def _m_sendmessage(self, request: Request) -> Any:
        chat_id = self._chat(request)
        text = str(request.arg("text") or "")
        shown = self._parse(text, request)
        if not shown.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(shown) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._record(request, chat_id, "sendMessage", text, None, {"text": shown})

    def _m_sendphoto(self, request: Request) -> Any:
        chat_id = self._chat(request)
        upload = self._upload(request, "photo")
        caption = self._caption(request)
        sizes = [
            {
                "file_id": self._store_file(upload, "photos"),
                "file_unique_id": "p1",
                "width": 1280,
                "height": 720,
                "file_size": len(upload.data),
            },
        ]
        extra = {"photo": sizes} | ({"caption": caption[1]} if caption else {})
        return self._record(request, chat_id, "sendPhoto", caption and caption[0], upload, extra)

    def _m_senddocument(self, request: Request) -> Any:
        chat_id = self._chat(request)
        upload = self._upload(request, "document")
        caption = self._caption(request)
        document = {
            "file_id": self._store_file(upload, "documents"),
            "file_unique_id": "d1",
            "file_name": upload.filename,
            "mime_type": upload.content_type,
            "file_size": len(upload.data),
        }
        extra = {"document": document} | ({"caption": caption[1]} if caption else {})
        return self._record(request, chat_id, "sendDocument", caption and caption[0], upload, extra)

    def _m_editmessagetext(self, request: Request) -> Any:
        chat_id = self._chat(request)
        text = str(request.arg("text") or "")
        shown = self._parse(text, request)
        message_id = int(request.arg("message_id") or 0)
        with self.lock:
            sent = self._own_message(chat_id, message_id)
            if sent is not None:  # a message of the bot's own: edited in place
                sent.text = text
            self.edits.append((chat_id, message_id, "editMessageText", text))
        return self._message(chat_id, message_id, {"text": shown, "edit_date": int(time.time())})

    def _m_editmessagecaption(self, request: Request) -> Any:
        chat_id = self._chat(request)
        message_id = int(request.arg("message_id") or 0)
        caption = self._caption(request)
        with self.lock:
            sent = self._own_message(chat_id, message_id)
            if sent is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if caption and sent.text == caption[0]:
                raise ApiError(400, "Bad Request: message is not modified")
            sent.text = caption[0] if caption else None
            self.edits.append((chat_id, message_id, "editMessageCaption", sent.text))
        extra = {"caption": caption[1]} if caption else {}
        return self._message(chat_id, message_id, extra | {"edit_date": int(time.time())})

    def _m_deletemessage(self, request: Request) -> Any:
        chat_id = self._chat(request)
        message_id = int(request.arg("message_id") or 0)
        with self.lock:
            sent = self._own_message(chat_id, message_id)
            if sent is None:
                raise ApiError(400, "Bad Request: message to delete not found")
            self.sent.remove(sent)
            self.deleted.append(sent)
        return True

    async def _m_getupdates(self, request: Request) -> Any:
        offset = int(request.arg("offset") or 0)
        wait = min(float(request.arg("timeout") or 0), self.poll_cap)
        limit = int(request.arg("limit") or 100)
        if self._new_update is None:
            self._new_update = asyncio.Event()
        deadline = time.monotonic() + wait
        while True:
            with self.lock:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                pending = list(self._updates[:limit])
            remaining = deadline - time.monotonic()
            if pending or remaining <= 0:
                return pending
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), remaining)

    def _m_getfile(self, request: Request) -> Any:
        file_id = str(request.arg("file_id") or "")
        with self.lock:
            found = self._files.get(file_id)
        if found is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, upload = found
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(upload.data),
            "file_path": path,
        }

    def _m_answercallbackquery(self, request: Request) -> Any:
        if not request.arg("callback_query_id"):
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        with self.lock:
            self.callback_answers.append({k: request.arg(k) for k in ("callback_query_id", "text")})
        return True

    def _m_getchat(self, request: Request) -> Any:
        # a ChatFullInfo: the chat plus the fields Bot API 7.3+ always sends
        return _chat(self._chat(request)) | {"accent_color_id": 0, "max_reaction_count": 11}

    def _m_getchatmember(self, request: Request) -> Any:
        chat_id = self._chat(request)
        user_id = int(request.arg("user_id") or 0)
        status = (
            self.member_status.get(chat_id, "member")
            if user_id == self.bot_user["id"]
            else "member"
        )
        member: dict[str, Any] = {"status": status, "user": _user(user_id)}
        if user_id == self.bot_user["id"]:
            member["user"] = self.bot_user
        if status == "kicked":
            member["until_date"] = 0
        return member

    def _m_deletewebhook(self, request: Request) -> Any:
        return True

    def _m_getwebhookinfo(self, request: Request) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _m_setmycommands(self, request: Request) -> Any:
        return True

    def _m_getmycommands(self, request: Request) -> Any:
        return []

    def _m_sendchataction(self, request: Request) -> Any:
        self._chat(request)
        return True

    # -- helpers -------------------------------------------------------------------------

    def _chat(self, request: Request) -> str:
        chat_id = request.arg("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if str(chat_id) in self.kicked_from:
            raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
        return str(chat_id)

    def _own_message(self, chat_id: str, message_id: int) -> SentMessage | None:
        """The bot's own message ``message_id`` in ``chat_id`` (call with :attr:`lock` held)."""
        return next(
            (m for m in self.sent if m.chat_id == chat_id and m.message_id == message_id), None
        )

    def _parse(self, text: str, request: Request) -> str:
        if str(request.arg("parse_mode") or "").upper() != "HTML":
            return text
        try:
            return parse_html(text)
        except EntityError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc

    def _caption(self, request: Request) -> tuple[str, str] | None:
        caption = request.arg("caption")
        if not caption:
            return None
        shown = self._parse(str(caption), request)
        if utf16_len(shown) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        return str(caption), shown

    def _upload(self, request: Request, name: str) -> UploadedFile:
        if name in request.files:
            return request.files[name]
        ref = request.arg(name)
        if isinstance(ref, str) and ref.startswith("attach://"):
            ref_name = ref.removeprefix("attach://")
            if ref_name in request.files:
                return request.files[ref_name]
        with self.lock:
            if isinstance(ref, str) and ref in self._files:
                return self._files[ref][1]
        raise ApiError(400, f"Bad Request: there is no {name} in the request")

    def _store_file(self, upload: UploadedFile, folder: str) -> str:
        with self.lock:
            file_id = f"FILE{next(self._file_ids)}"
            name = upload.filename or "file"
            self._files[file_id] = (f"{folder}/{file_id}_{name}", upload)
        return file_id

    def _record(
        self,
        request: Request,
        chat_id: str,
        method: str,
        text: str | None,
        upload: UploadedFile | None,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        with self.lock:
            message_id = next(self._message_ids)
            params = {k: v for k, v in {**request.query, **request.form}.items()}
            if isinstance(request.json, dict):
                params.update(request.json)
            self.sent.append(SentMessage(chat_id, message_id, method, text, upload, params))
        return self._message(chat_id, message_id, extra)

    def _message(self, chat_id: str, message_id: int, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": _chat(chat_id),
            "date": int(time.time()),
            **extra,
        }

    def _incoming(self, user_id: int, chat_id: int | None, extra: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            message_id = next(self._message_ids)
        chat = _chat(str(chat_id if chat_id is not None else user_id))
        if chat["type"] == "private":
            chat |= {"first_name": f"Usuario {user_id}"}
        return {
            "message_id": message_id,
            "from": _user(user_id),
            "chat": chat,
            "date": int(time.time()),
            **extra,
        }

    def _push(self, update: dict[str, Any]) -> int:
        with self.lock:
            update_id = next(self._update_ids)
            self._updates.append({"update_id": update_id, **update})

        def wake() -> None:
            if self._new_update is not None:
                self._new_update.set()

        self.call_in_loop(wake)
        return update_id


def _user(user_id: int) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": f"Usuario {user_id}",
        "language_code": "es",
    }


def _chat(chat_id: str) -> dict[str, Any]:
    try:
        numeric: int | str = int(chat_id)
    except ValueError:
        return {"id": -1009999999999, "type": "channel", "title": chat_id, "username": chat_id[1:]}
    if chat_id.startswith("-100"):
        return {"id": numeric, "type": "supergroup", "title": "Periodistas"}
    if chat_id.startswith("-"):
        return {"id": numeric, "type": "group", "title": "Periodistas"}
    return {"id": numeric, "type": "private"}


__all__ = ["GROUP_CHAT", "TOKEN", "TelegramDouble"]
