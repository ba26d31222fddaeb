"""Telegram channel: posts to the journalists' group through python-telegram-bot.

The rendered post arrives as Telegram HTML: ``post.text`` alone, or, with an image, a photo
whose caption is ``parts["caption"]`` (≤ 1024 characters, trimmed by the template) followed
by ``parts["follow_up"]`` when the text did not fit. Attachments follow as documents.

The bot uses PTB's ``AIORateLimiter`` (20 messages/min per group, 30/s overall) only to
*pace* requests: it is built with ``max_retries=0``, so a flood-wait reaches the dispatcher
as :class:`~channels.base.RateLimited` instead of being retried here.

Only the first message decides whether the post exists. If a later part (follow-up text,
a document) fails, :class:`PartialDelivery` (an ``OutcomeUnknown``) is raised carrying the
receipt of what was published, so nobody re-sends the whole post blindly.
"""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from telegram import Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from channels import _http
from channels.base import (
    AuthError,
    ChannelContext,
    ChannelError,
    CheckResult,
    Media,
    OutcomeUnknown,
    PermanentError,
    Post,
    RateLimited,
    Receipt,
    Rejected,
    TransientError,
)
from settings import Settings

SERVICE = "Telegram"


class PartialDelivery(OutcomeUnknown):
    """The first message went out but a later part did not: the post exists, incomplete.

    ``receipt`` names what was published. Not retried automatically (that would repeat the
    first message); editors decide.
    """

    def __init__(self, reason: str, receipt: Receipt) -> None:
        super().__init__(reason)
        self.receipt = receipt


class _HTTPStatusError(NetworkError):
    """A 5xx (or a 429 without ``retry_after``) seen by :class:`_Request`, with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Request(HTTPXRequest):
    """PTB's httpx request, keeping the HTTP status of server errors (PTB folds every 5xx
    into a bare ``NetworkError``) so a 504 can be told from a 503."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code >= 500 or (code == 429 and b"retry_after" not in payload):
            try:
                message = str(self.parse_json_payload(payload).get("description") or "")
            except TelegramError:
                message = ""
            raise _HTTPStatusError(code, message)
        return code, payload


class TelegramAdapter:
    """Delivers a rendered post to ``settings.telegram.chat_id``."""

    name: ClassVar[str] = "telegram"
    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        settings: Settings,
        context: ChannelContext,
        *,
        connect_timeout: float = _http.CONNECT_TIMEOUT,
        read_timeout: float = _http.READ_TIMEOUT,
    ) -> None:
        cfg = settings.telegram
        self._chat_id = cfg.chat_id
        self._api_url = cfg.api_url
        self._token = cfg.bot_token.get_secret_value() if cfg.bot_token else None
        self._requests: tuple[HTTPXRequest, ...] = ()
        self._bot: ExtBot[Any] | None = None
        if self._token:
            _http.protect_secrets(self._token)
            request = _Request(
                connection_pool_size=8,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                write_timeout=read_timeout,
                media_write_timeout=read_timeout,
                pool_timeout=connect_timeout,
            )
            updates = _Request(connection_pool_size=1, connect_timeout=connect_timeout)
            self._requests = (request, updates)
            self._bot = ExtBot(
                self._token,
                base_url=cfg.api_url,
                base_file_url=cfg.resolved_file_url,
                request=request,
                get_updates_request=updates,
                rate_limiter=AIORateLimiter(max_retries=0),
            )

    def __repr__(self) -> str:
        return f"TelegramAdapter(chat_id={self._chat_id!r}, api_url={self._api_url!r})"

    async def publish(self, post: Post) -> Receipt:
        bot, chat_id = self._require()
        image = await _read(post.image) if post.image else None
        documents = [(m, await _read(m)) for m in post.attachments]
        try:
            if post.image and image is not None:
                has_caption = "caption" in post.parts
                first = await bot.send_photo(
                    chat_id,
                    photo=image,
                    filename=post.image.name,
                    caption=post.parts.get("caption") or None,
                    parse_mode=ParseMode.HTML,
                )
                # Without a rendered caption the whole text follows the photo.
                follow_up = post.parts.get("follow_up") if has_caption else post.text
            else:
                first = await bot.send_message(chat_id, post.text, parse_mode=ParseMode.HTML)
                follow_up = None
        except TelegramError as exc:
            raise self._map_error(exc) from exc

        ids = [first.message_id]
        try:
            if follow_up:
                sent = await bot.send_message(chat_id, follow_up, parse_mode=ParseMode.HTML)
                ids.append(sent.message_id)
            for media, data in documents:
                sent = await bot.send_document(chat_id, document=data, filename=media.name)
                ids.append(sent.message_id)
        except TelegramError as exc:
            error = self._map_error(exc)
            raise PartialDelivery(
                f"se publicó el mensaje {first.message_id} en Telegram, pero no el resto "
                f"de la publicación: {error.reason}",
                self._receipt(first, ids),
            ) from exc
        return self._receipt(first, ids)

    update_idempotent: ClassVar[bool] = True  # an edit to the same text is harmless

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """Edit the message in place: ``editMessageCaption`` for a photo (its rendered
        caption), ``editMessageText`` otherwise. "Message is not modified" (the edit already
        happened) counts as done."""
        bot, chat_id = self._require()
        message_id = int(receipt.remote_id)
        try:
            if post.image:
                await bot.edit_message_caption(
                    chat_id=chat_id,
                    message_id=message_id,
                    caption=post.parts.get("caption") or post.text,
                    parse_mode=ParseMode.HTML,
                )
            else:
                await bot.edit_message_text(
                    post.text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML
                )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise self._map_error(exc) from exc
        except TelegramError as exc:
            raise self._map_error(exc) from exc
        return Receipt(receipt.remote_id, receipt.url or message_url(chat_id, message_id))

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """Delete the message (``deleteMessage``) and the item's other messages in
        ``detail["related"]``; one already gone counts as deleted. Telegram lets a bot delete
        its group messages only within 48 hours: older ones are refused (:class:`Rejected`)."""
        bot, chat_id = self._require()
        for remote_id in [*receipt.detail.get("related", ()), receipt.remote_id]:
            try:
                await bot.delete_message(chat_id, int(remote_id))
            except BadRequest as exc:
                if "not found" not in exc.message.lower():
                    raise self._map_error(exc) from exc
            except TelegramError as exc:
                raise self._map_error(exc) from exc
        return Receipt(receipt.remote_id, receipt.url, {"deleted": True})

    async def check(self) -> CheckResult:
        if self._bot is None or not self._chat_id:
            return CheckResult(False, "Telegram no está configurado (falta el token o el chat)")
        try:
            me = await self._bot.get_me()
        except TelegramError as exc:
            return CheckResult(False, f"Telegram: {self._map_error(exc, creates=False).reason}")
        problem = await self._membership(me.id)
        if problem:
            return CheckResult(False, f"Telegram: bot @{me.username}: {problem}")
        return CheckResult(
            True,
            f"Telegram: bot @{me.username} ({me.first_name}) conectado; "
            f"publica en el chat {self._chat_id}",
        )

    async def _membership(self, bot_id: int) -> str | None:
        """Why the bot cannot post in the configured chat (``getChat`` and its own
        ``getChatMember``), or ``None`` when it can."""
        assert self._bot is not None and self._chat_id
        try:
            chat = await self._bot.get_chat(self._chat_id)
            member = await self._bot.get_chat_member(self._chat_id, bot_id)
        except (Forbidden, BadRequest) as exc:
            said = _http.strip_bot_token(_http.detail(exc.message, [self._token]))
            return f"no llega al chat {self._chat_id} (¿lo sacaron del grupo?): {said}"
        except TelegramError as exc:
            return f"no se pudo revisar el chat: {self._map_error(exc, creates=False).reason}"
        status = str(member.status)
        if status in ("left", "kicked", "banned"):
            return f"ya no es miembro del chat {self._chat_id} ({status})"
        if chat.type == "channel" and not getattr(member, "can_post_messages", False):
            return f"no es administrador con permiso de publicar en el canal {self._chat_id}"
        if status == "restricted" and not getattr(member, "can_send_messages", True):
            return f"no tiene permiso de escribir en el chat {self._chat_id}"
        return None

    async def aclose(self) -> None:
        for request in self._requests:
            await request.shutdown()

    # -- helpers -------------------------------------------------------------------------

    def _require(self) -> tuple[ExtBot[Any], str]:
        if self._bot is None or not self._chat_id:
            raise AuthError(
                "Telegram no está configurado: faltan PREGONERO_TELEGRAM__BOT_TOKEN "
                "o PREGONERO_TELEGRAM__CHAT_ID"
            )
        return self._bot, self._chat_id

    def _receipt(self, first: Message, ids: list[int]) -> Receipt:
        return Receipt(
            remote_id=str(first.message_id),
            url=message_url(self._chat_id or "", first.message_id),
            detail={"message_ids": list(ids), "chat_id": self._chat_id},
        )

    def _map_error(self, exc: TelegramError, *, creates: bool = True) -> ChannelError:
        """PTB's errors → the error tree. Specific classes first: ``BadRequest`` and
        ``TimedOut`` are ``NetworkError`` subclasses. ``creates``: the call sends a message,
        so a lost answer is an unknown outcome (``getMe`` is only transient)."""
        said = _http.strip_bot_token(_http.detail(exc.message, [self._token]))
        if isinstance(exc, RetryAfter):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            return RateLimited(
                f"Telegram pidió esperar {seconds:g} s (límite de mensajes)", seconds
            )
        if isinstance(exc, InvalidToken):
            return AuthError("Telegram rechazó el token del bot (no es válido o fue revocado)")
        if isinstance(exc, Forbidden):
            return AuthError(f"el bot no puede escribir en el chat de Telegram: {said}")
        if isinstance(exc, ChatMigrated):
            return PermanentError(
                "el grupo de Telegram pasó a supergrupo: actualice PREGONERO_TELEGRAM__CHAT_ID "
                f"a {exc.new_chat_id}"
            )
        if isinstance(exc, BadRequest):
            return Rejected(f"Telegram rechazó el mensaje: {said}")
        if isinstance(exc, EndPointNotFound):
            return PermanentError("la dirección de la API de Telegram no es válida")
        if isinstance(exc, Conflict):
            return TransientError(f"Telegram informó un conflicto: {said}")
        if isinstance(exc, _HTTPStatusError):
            return _http.status_error(exc.status, service=SERVICE, message=said, creates=creates)
        cause = exc.__cause__
        if isinstance(exc, TimedOut):
            if isinstance(cause, httpx.TimeoutException):
                return _http.transport_error(cause, SERVICE, creates=creates)
            return OutcomeUnknown(
                "Telegram no respondió a tiempo después de recibir el mensaje; "
                "pudo haberse publicado"
            )
        if isinstance(cause, httpx.HTTPError):
            return _http.transport_error(cause, SERVICE, creates=creates)
        return TransientError(f"error de red con Telegram: {said}")


def message_url(chat_id: str, message_id: int) -> str | None:
    """Public link to a message: ``t.me/<username>/<id>`` or, for a supergroup or channel
    (``-100…``), the members-only ``t.me/c/<internal id>/<id>``; ``None`` otherwise."""
    if chat_id.startswith("@"):
        return f"https://t.me/{chat_id[1:]}/{message_id}"
    if chat_id.startswith("-100") and chat_id[4:].isdigit():
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    return None


async def _read(media: Media) -> bytes:
    try:
        return await asyncio.to_thread(media.path.read_bytes)
    except OSError as exc:
        raise Rejected(f"no se pudo leer el archivo {media.name}: {exc.strerror}") from exc
