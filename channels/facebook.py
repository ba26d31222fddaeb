"""Facebook Page channel: the Graph API through httpx, version from settings.

``POST /{version}/{page-id}/feed`` with ``message`` and ``link``, or, with an image,
``POST /{version}/{page-id}/photos`` with a multipart ``source`` and ``caption`` (the message
plus the link, since a photo post has no link field). The page token travels in an
``Authorization: Bearer`` header, never in a URL, except as ``input_token`` of
``debug_token`` in :meth:`FacebookAdapter.check` (redacted from every message and log line).

Graph errors are judged by their ``code``/``error_subcode``, not the HTTP status (Graph
answers 400 for most of them): see :meth:`FacebookAdapter._map_error`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from channels import _http
from channels.base import (
    AuthError,
    ChannelContext,
    ChannelError,
    CheckResult,
    PermanentError,
    Post,
    RateLimited,
    Receipt,
    Rejected,
    TransientError,
)
from settings import Settings

SERVICE = "Facebook"

_TRANSIENT = {1, 2, 341}
_THROTTLED = {4, 17, 32, 613}
_TOKEN_SUBCODES = {
    458: "la app fue retirada de la cuenta que emitió el token",
    459: "la cuenta de Facebook está bloqueada hasta que el usuario inicie sesión",
    460: "el token dejó de valer porque cambió la contraseña de la cuenta",
    464: "la cuenta de Facebook no está confirmada",
    467: "el token de Facebook no es válido (la sesión se cerró o fue revocada)",
    492: "la sesión no es válida (¿el usuario dejó de administrar la página?)",
}
_MONTHS = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip
# "Session has expired on Tuesday, 25-Nov-25 10:00:00 PST."
_EXPIRED_ON = re.compile(r"expired on (?:\w+, )?(\d{1,2}-\w{3}-\d{2} \d{2}:\d{2}:\d{2}) (P[SD]T)")


class TokenExpired(AuthError):
    """Graph error 190/463: the page token expired (``expired_at`` when Graph said when)."""

    def __init__(self, reason: str, expired_at: datetime | None = None) -> None:
        super().__init__(reason)
        self.expired_at = expired_at


class FacebookAdapter:
    """Publishes a rendered post on the page ``settings.facebook.page_id``."""

    name: ClassVar[str] = "facebook"
    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        settings: Settings,
        context: ChannelContext,
        *,
        connect_timeout: float = _http.CONNECT_TIMEOUT,
        read_timeout: float = _http.READ_TIMEOUT,
    ) -> None:
        cfg = settings.facebook
        self._clock = context.clock
        self._page_id = cfg.page_id
        self._tz = settings.tz
        self._token = cfg.page_token.get_secret_value() if cfg.page_token else None
        self._graph = f"{cfg.graph_url.rstrip('/')}/{cfg.api_version}"
        _http.protect_secrets(self._token)
        self._client = httpx.AsyncClient(
            base_url=self._graph, timeout=_http.timeout(connect_timeout, read_timeout)
        )

    def __repr__(self) -> str:
        return f"FacebookAdapter(page_id={self._page_id!r}, graph={self._graph!r})"

    async def publish(self, post: Post) -> Receipt:
        page = self._require()
        if post.image:
            try:
                data = await asyncio.to_thread(post.image.path.read_bytes)
            except OSError as exc:
                raise Rejected(f"no se pudo leer la imagen: {exc.strerror}") from exc
            caption = post.text
            if post.url and post.url not in caption:
                caption = f"{caption}\n\n{post.url}"
            body = await self._call(
                "POST",
                f"/{page}/photos",
                files={"source": (post.image.name, data, post.image.mime)},
                data={"caption": caption},
            )
            post_id = str(body.get("post_id") or body.get("id") or "")
        else:
            form = {"message": post.text}
            if post.url:
                form["link"] = post.url
            body = await self._call("POST", f"/{page}/feed", data=form)
            post_id = str(body.get("id") or "")
        if not post_id:
            raise PermanentError("Facebook no devolvió el identificador de la publicación")
        return Receipt(
            remote_id=post_id,
            url=f"https://www.facebook.com/{post_id}",
            detail={"photo_id": body["id"]} if "post_id" in body else {},
        )

    update_idempotent: ClassVar[bool] = True  # an edit to the same text is harmless

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """Edit the post in place: Graph ``POST /{post-id}`` with the new ``message`` (for a
        photo post, its caption, which carries the link)."""
        self._require()
        message = post.text
        if post.image and post.url and post.url not in message:
            message = f"{message}\n\n{post.url}"
        await self._call("POST", f"/{receipt.remote_id}", data={"message": message})
        return Receipt(
            receipt.remote_id, receipt.url or f"https://www.facebook.com/{receipt.remote_id}"
        )

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """Delete the post (``DELETE /{post-id}``) and the item's other posts in
        ``detail["related"]``; one already gone counts as deleted."""
        self._require()
        for remote_id in [*receipt.detail.get("related", ()), receipt.remote_id]:
            try:
                await self._call("DELETE", f"/{remote_id}")
            except Rejected as exc:
                if not _gone(exc):
                    raise
        return Receipt(receipt.remote_id, receipt.url, {"deleted": True})

    async def check(self) -> CheckResult:
        if not self._page_id or not self._token:
            return CheckResult(False, "Facebook no está configurado (falta la página o el token)")
        debug = await self._debug_token()
        try:
            page = await self._call("GET", f"/{self._page_id}", params={"fields": "name"})
        except AuthError as exc:
            expired = _expiry(debug)
            if expired is None and isinstance(exc, TokenExpired):
                expired = exc.expired_at
            if expired is not None and expired <= self._clock():
                return CheckResult(
                    False, f"el token de Facebook expiró el {spanish_date(expired, self._tz)}"
                )
            return CheckResult(False, f"Facebook: {exc.reason}")
        except (TransientError, PermanentError) as exc:
            return CheckResult(False, f"Facebook: {exc.reason}")
        message = f"Facebook: página «{page.get('name', '?')}» ({self._page_id})"
        expires = _expiry(debug)
        if debug is not None and expires is None:
            message += "; el token no vence"
        elif expires is not None:
            message += f"; el token vence el {spanish_date(expires, self._tz)}"
        data_access = _expiry(debug, "data_access_expires_at")
        if data_access is not None:
            message += f"; el acceso a los datos vence el {spanish_date(data_access, self._tz)}"
        soonest = min((t for t in (expires, data_access) if t is not None), default=None)
        return CheckResult(True, message, expires_at=soonest)

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- helpers -------------------------------------------------------------------------

    def _require(self) -> str:
        if not self._page_id or not self._token:
            raise AuthError(
                "Facebook no está configurado: faltan PREGONERO_FACEBOOK__PAGE_ID "
                "o PREGONERO_FACEBOOK__PAGE_TOKEN"
            )
        return self._page_id

    async def _debug_token(self) -> Mapping[str, Any] | None:
        """``debug_token``'s ``data`` for our token, or ``None`` when not permitted."""
        try:
            body = await self._call("GET", "/debug_token", params={"input_token": self._token})
        except (TransientError, PermanentError):
            return None
        data = body.get("data")
        return data if isinstance(data, dict) else None

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = await self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise self._map_error(exc, creates=method != "GET") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict) or "error" in body:
            raise self._map_error(response, creates=method != "GET")
        return body

    def _map_error(
        self, failure: httpx.Response | httpx.HTTPError, *, creates: bool
    ) -> ChannelError:
        """httpx failures and Graph error bodies → the error tree, by Graph error code.
        ``creates``: the request publishes (a POST), so a lost answer is an unknown outcome."""
        if isinstance(failure, httpx.HTTPError):
            return _http.transport_error(failure, SERVICE, creates=creates)
        try:
            body = failure.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            if failure.status_code < 400:
                return PermanentError("Facebook devolvió una respuesta que no se entiende")
            wait = _http.retry_after_seconds(failure.headers.get("retry-after"))
            return _http.status_error(
                failure.status_code, service=SERVICE, retry_after=wait, creates=creates
            )
        code = _int(error.get("code"))
        subcode = _int(error.get("error_subcode"))
        said = _http.detail(str(error.get("message") or ""), [self._token])
        tag = f"código {code}" + (f", subcódigo {subcode}" if subcode else "")
        if code in _THROTTLED or 80001 <= code <= 80014:
            wait = _regain_seconds(failure.headers)
            return RateLimited(f"Facebook pidió bajar el ritmo ({tag}): {said}", wait)
        if code in _TRANSIENT or error.get("is_transient") is True:
            return TransientError(f"Facebook falló temporalmente ({tag}): {said}")
        if code == 190:
            expired = _expired_on(said)
            if subcode == 463 or expired is not None:
                when = f" el {spanish_date(expired, self._tz)}" if expired else ""
                return TokenExpired(f"el token de página de Facebook expiró{when} ({tag})", expired)
            reason = _TOKEN_SUBCODES.get(subcode, "el token de Facebook no es válido")
            return AuthError(f"{reason} ({tag}): {said}")
        if code == 10 or 200 <= code <= 299 or code == 102:
            return AuthError(f"a la página le falta un permiso en Facebook ({tag}): {said}")
        if code == 506:
            return Rejected(f"Facebook rechazó la publicación por duplicada ({tag})")
        if code == 368:
            return Rejected(f"Facebook bloqueó la publicación por sus normas ({tag}): {said}")
        if code == 100:
            return Rejected(f"Facebook rechazó la publicación ({tag}): {said}")
        if failure.status_code >= 500:
            return _http.status_error(
                failure.status_code, service=SERVICE, message=said, creates=creates
            )
        return Rejected(f"Facebook rechazó la solicitud ({tag}): {said}")


def _gone(exc: Rejected) -> bool:
    """Graph's answer for a post that no longer exists (code 100, subcode 33)."""
    return "subcódigo 33" in exc.reason or "does not exist" in exc.reason


def spanish_date(moment: datetime, tz: ZoneInfo) -> str:
    """``25 de noviembre de 2025, 13:00`` in the press office's time zone."""
    local = moment.astimezone(tz)
    return f"{local.day} de {_MONTHS[local.month - 1]} de {local.year}, {local:%H:%M}"


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _expiry(debug: Mapping[str, Any] | None, key: str = "expires_at") -> datetime | None:
    """``debug_token``'s ``expires_at`` (or ``data_access_expires_at``; 0 means never) as an
    aware datetime."""
    if not debug:
        return None
    stamp = _int(debug.get(key))
    return datetime.fromtimestamp(stamp, UTC) if stamp > 0 else None


def _expired_on(message: str) -> datetime | None:
    """The expiry moment Graph writes into a 190/463 message (Pacific time)."""
    match = _EXPIRED_ON.search(message)
    if not match:
        return None
    try:
        naive = datetime.strptime(match.group(1), "%d-%b-%y %H:%M:%S")
    except ValueError:
        return None
    offset = timezone(timedelta(hours=-8 if match.group(2) == "PST" else -7))
    return naive.replace(tzinfo=offset)


def _regain_seconds(headers: httpx.Headers) -> float | None:
    """Seconds until access returns, from ``Retry-After`` or the usage headers' ``
    estimated_time_to_regain_access`` (minutes)."""
    wait = _http.retry_after_seconds(headers.get("retry-after"))
    if wait is not None:
        return wait
    minutes = 0
    for name in ("x-page-usage", "x-business-use-case-usage", "x-app-usage", "x-ad-account-usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            minutes = max(minutes, _max_regain(json.loads(raw)))
        except ValueError:
            continue
    return minutes * 60.0 if minutes else None


def _max_regain(value: object) -> int:
    if isinstance(value, dict):
        own = _int(value.get("estimated_time_to_regain_access", 0))
        return max([own, *(_max_regain(v) for v in value.values())])
    if isinstance(value, list):
        return max([0, *(_max_regain(v) for v in value)])
    return 0
