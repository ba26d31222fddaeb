"""X (Twitter) channel: tweepy's v2 ``Client`` with OAuth 1.0a user context.

tweepy hard-codes ``https://api.twitter.com`` and 4.17 has no v2 media upload, so:

* a ``requests`` adapter mounted on that host (:class:`_Rebase`) sends every request to
  ``settings.x.api_url`` instead, with explicit timeouts, and **re-signs** it: the OAuth 1.0a
  signature covers scheme, host and path, so it must be computed over the URL that is
  actually requested, not over tweepy's;
* the image goes through ``POST /2/media/upload`` (multipart ``media`` +
  ``media_category``) and its alt text through ``POST /2/media/metadata``, on the same signed
  session, before ``POST /2/tweets`` with the media id.

tweepy is synchronous: every call runs in ``asyncio.to_thread``. Nothing here retries or
sleeps (``wait_on_rate_limit`` stays off).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import requests
import tweepy
from requests.adapters import HTTPAdapter
from requests.utils import resolve_proxies
from requests_oauthlib import OAuth1
from urllib3.exceptions import MaxRetryError, NewConnectionError

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

SERVICE = "X"
TWEEPY_HOST = "https://api.twitter.com"
DUPLICATE = "duplicate content"


class _Rebase(HTTPAdapter):
    """Sends requests meant for tweepy's host to the configured base URL, re-signed."""

    def __init__(self, base_url: str, auth: OAuth1, timeout: tuple[float, float]) -> None:
        super().__init__(max_retries=0)
        self._base = base_url.rstrip("/")
        self._auth = auth
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        if url.startswith(TWEEPY_HOST):
            request.url = self._base + url[len(TWEEPY_HOST) :]
            if str(request.headers.get("Authorization", "")).startswith("OAuth "):
                request = self._auth(request)
            proxies = resolve_proxies(request, None)
        return super().send(
            request,
            stream=stream,
            timeout=timeout if timeout is not None else self._timeout,
            verify=verify,
            cert=cert,
            proxies=dict(proxies or {}),
        )


class XAdapter:
    """Publishes ``post.text`` (already ≤ 280 weighted characters) with an optional image."""

    name: ClassVar[str] = "x"
    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        settings: Settings,
        context: ChannelContext,
        *,
        connect_timeout: float = _http.CONNECT_TIMEOUT,
        read_timeout: float = _http.READ_TIMEOUT,
    ) -> None:
        cfg = settings.x
        self._api_url = cfg.api_url
        creds = (cfg.api_key, cfg.api_secret, cfg.access_token, cfg.access_secret)
        self._secrets = [c.get_secret_value() for c in creds if c is not None]
        self._client: tweepy.Client | None = None
        self._auth: OAuth1 | None = None
        if cfg.configured:
            _http.protect_secrets(*self._secrets)
            key, secret, token, token_secret = self._secrets
            self._client = tweepy.Client(
                consumer_key=key,
                consumer_secret=secret,
                access_token=token,
                access_token_secret=token_secret,
            )
            self._auth = tweepy.OAuth1UserHandler(key, secret, token, token_secret).apply_auth()
            self._client.session.mount(
                TWEEPY_HOST, _Rebase(cfg.api_url, self._auth, (connect_timeout, read_timeout))
            )

    def __repr__(self) -> str:
        return f"XAdapter(api_url={self._api_url!r})"

    async def publish(self, post: Post) -> Receipt:
        client = self._require()
        media_ids = [await self._media(post.image)] if post.image else []
        return await self._tweet(
            client, {"media_ids": media_ids}, text=post.text, media_ids=media_ids or None
        )

    update_idempotent: ClassVar[bool] = False  # a reply posted twice is two tweets

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """X cannot edit through the API: reply to the original tweet with the rendered
        correction notice (``parts["correction"]``, "Corrección: …" with the link)."""
        client = self._require()
        text = post.parts.get("correction")
        if not text:
            raise Rejected("falta el aviso de corrección para X (plantilla correction.txt)")
        return await self._tweet(
            client,
            {"in_reply_to": receipt.remote_id},
            text=text,
            in_reply_to_tweet_id=receipt.remote_id,
        )

    async def _tweet(self, client: tweepy.Client, detail: dict[str, Any], **kwargs: Any) -> Receipt:
        """Post a tweet (``create_tweet(**kwargs)``); its receipt carries ``detail``."""
        try:
            response = await asyncio.to_thread(client.create_tweet, **kwargs)
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise self._map_error(exc) from exc
        tweet_id = str(response.data["id"])
        return Receipt(
            remote_id=tweet_id,
            url=f"https://x.com/i/web/status/{tweet_id}",
            detail=detail,
        )

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """Delete the tweet and the item's other tweets in ``detail["related"]`` (the
        correction replies); one already gone counts as deleted."""
        client = self._require()
        for remote_id in [*receipt.detail.get("related", ()), receipt.remote_id]:
            try:
                await asyncio.to_thread(client.delete_tweet, remote_id, user_auth=True)
            except tweepy.NotFound:
                continue
            except (tweepy.TweepyException, requests.RequestException) as exc:
                raise self._map_error(exc, creates=False) from exc
        return Receipt(receipt.remote_id, receipt.url, {"deleted": True})

    async def check(self) -> CheckResult:
        if self._client is None:
            return CheckResult(False, "X no está configurado (faltan las claves de la app)")
        try:
            response = await asyncio.to_thread(self._client.get_me, user_auth=True)
        except (tweepy.TweepyException, requests.RequestException) as exc:
            return CheckResult(False, f"X: {self._map_error(exc, creates=False).reason}")
        user = response.data
        return CheckResult(True, f"X: conectado como @{user.username} ({user.name})")

    async def aclose(self) -> None:
        if self._client is not None:
            self._client.session.close()

    # -- media (not in tweepy 4.17) ------------------------------------------------------

    async def _media(self, image: Media) -> str:
        """Upload the image and set its alt text; returns the media id. Harmless to repeat
        (an unused upload expires), so a lost answer here is only transient."""
        try:
            data = await asyncio.to_thread(image.path.read_bytes)
        except OSError as exc:
            raise Rejected(f"no se pudo leer la imagen {image.name}: {exc.strerror}") from exc
        try:
            media_id = await asyncio.to_thread(self._upload, data, image.name, image.mime)
            if image.alt:
                await asyncio.to_thread(self._alt_text, media_id, image.alt)
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise self._map_error(exc, creates=False) from exc
        return media_id

    def _upload(self, data: bytes, filename: str, mime: str) -> str:
        category = "tweet_gif" if mime == "image/gif" else "tweet_image"
        body = self._post(
            "/2/media/upload",
            files={"media": (filename, data, mime)},
            data={"media_category": category},
        )
        data_part = body.get("data")
        inner: dict[str, Any] = data_part if isinstance(data_part, dict) else body
        media_id = inner.get("id") or inner.get("media_id_string") or inner.get("media_id")
        if not media_id:
            raise PermanentError("X no devolvió el identificador de la imagen subida")
        return str(media_id)

    def _alt_text(self, media_id: str, alt: str) -> None:
        self._post(
            "/2/media/metadata", json={"id": media_id, "metadata": {"alt_text": {"text": alt}}}
        )

    def _post(self, route: str, **kwargs: Any) -> dict[str, Any]:
        client = self._require()
        with client.session.post(
            TWEEPY_HOST + route,
            auth=self._auth,
            headers={"User-Agent": client.user_agent},
            **kwargs,
        ) as response:
            _raise_for_status(response)
            try:
                body = response.json()
            except ValueError:
                body = {}
        return body if isinstance(body, dict) else {}

    # -- helpers -------------------------------------------------------------------------

    def _require(self) -> tweepy.Client:
        if self._client is None:
            raise AuthError(
                "X no está configurado: faltan PREGONERO_X__API_KEY, __API_SECRET, "
                "__ACCESS_TOKEN o __ACCESS_SECRET"
            )
        return self._client

    def _map_error(self, exc: Exception, *, creates: bool = True) -> ChannelError:
        """tweepy / requests errors → the error tree. ``creates``: the request makes the
        tweet, so a lost answer is an unknown outcome; otherwise it is only transient."""
        if isinstance(exc, tweepy.HTTPException):
            said = _http.detail("; ".join(map(str, exc.api_messages)), self._secrets)
            status = exc.response.status_code
            if isinstance(exc, tweepy.TooManyRequests):
                wait = None
                if exc.reset_time is not None:
                    wait = max(0.0, float(exc.reset_time) - time.time())
                return RateLimited("X pidió esperar (límite de solicitudes)", wait)
            if isinstance(exc, tweepy.Unauthorized):
                return AuthError(f"X rechazó las credenciales: {said or 'no autorizado'}")
            if isinstance(exc, tweepy.Forbidden):
                if DUPLICATE in said.lower():
                    return Rejected("X rechazó el tuit por tener contenido duplicado")
                return AuthError(f"X no permite esta acción a la cuenta o la app: {said}")
            if isinstance(exc, tweepy.TwitterServerError):
                return _http.status_error(status, service=SERVICE, message=said, creates=creates)
            return Rejected(f"X rechazó la publicación (HTTP {status}): {said}")
        if not isinstance(exc, requests.RequestException):
            said = _http.detail(str(exc), self._secrets)
            return PermanentError(f"error inesperado de tweepy: {said}")
        failed_to_connect = (
            requests.ConnectTimeout,
            requests.exceptions.SSLError,
            requests.exceptions.ProxyError,
        )
        reason = exc.args[0] if exc.args else None
        if isinstance(exc, failed_to_connect) or (
            isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)
        ):
            return TransientError(f"no se pudo conectar con X ({type(exc).__name__})")
        if isinstance(exc, requests.ReadTimeout | requests.ConnectionError):
            # Sent, and the answer was lost (timeout, reset, closed connection).
            if not creates:
                return TransientError("X no respondió (tiempo agotado o conexión cortada)")
            if isinstance(exc, requests.ReadTimeout):
                return OutcomeUnknown(
                    "X no respondió a tiempo después de recibir la solicitud; "
                    "el tuit pudo haberse publicado"
                )
            return OutcomeUnknown(
                "la conexión con X se cortó antes de recibir la respuesta; "
                "el tuit pudo haberse publicado"
            )
        return TransientError(f"error de red con X ({type(exc).__name__})")


def _raise_for_status(response: requests.Response) -> None:
    """The same status → exception mapping as ``tweepy.Client.request``."""
    status = response.status_code
    if 200 <= status < 300:
        return
    errors: dict[int, type[tweepy.HTTPException]] = {
        400: tweepy.BadRequest,
        401: tweepy.Unauthorized,
        403: tweepy.Forbidden,
        404: tweepy.NotFound,
    }
    if status == 429:
        reset = response.headers.get("x-rate-limit-reset", "")
        reset_time = int(reset) if reset.isdigit() else None
        raise tweepy.TooManyRequests(response, reset_time=reset_time)
    if status >= 500:
        raise tweepy.TwitterServerError(response)
    raise errors.get(status, tweepy.HTTPException)(response)
