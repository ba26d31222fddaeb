"""Website channel, WordPress backend: the REST API (``/wp-json/wp/v2``) through httpx with
an application password (Basic auth).

One publish is: upload the image to ``/media`` (raw body + ``Content-Disposition``) and set
its ``alt_text``; find or create the category (the kind's label) and the tags; then create the
post at ``/posts`` — or, for a correction (``post.remote_id`` set), update that post at
``/posts/{id}``. A ``publish_at`` in the future makes a ``future`` post with ``date_gmt``
(UTC, so the site's own time zone setting cannot shift it).

Not idempotent: creating a post twice makes two posts. Steps before the post (media, terms)
are safe to repeat: a retry at worst leaves an unused image in the media library.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import mimetypes
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from channels import _http
from channels._html import clean_article
from channels.base import (
    AuthError,
    ChannelContext,
    ChannelError,
    CheckResult,
    Media,
    PermanentError,
    Post,
    RateLimited,
    Receipt,
    Rejected,
    TransientError,
)
from channels.static_site import media_name, relink
from settings import Settings

SERVICE = "WordPress"


class WordPressAdapter:
    """Publishes a rendered article (``post.text`` is its HTML) on a WordPress site."""

    name: ClassVar[str] = "website"
    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        settings: Settings,
        context: ChannelContext,
        *,
        connect_timeout: float = _http.CONNECT_TIMEOUT,
        read_timeout: float = _http.READ_TIMEOUT,
    ) -> None:
        cfg = settings.website
        self._clock = context.clock
        self._site = (cfg.wordpress_url or "").rstrip("/")
        self._user = cfg.wordpress_user
        password = cfg.wordpress_app_password
        self._password = password.get_secret_value() if password else None
        self._tz = settings.tz
        self._terms: dict[tuple[str, str], int] = {}
        secrets = [self._password, (self._password or "").replace(" ", "")]
        secrets += _http.basic_auth_secrets(self._user, self._password)
        self._secrets = secrets
        _http.protect_secrets(*secrets)
        auth = None
        if self._user and self._password:
            auth = httpx.BasicAuth(self._user, self._password)
        self._client = httpx.AsyncClient(
            base_url=f"{self._site}/wp-json/wp/v2",
            auth=auth,
            timeout=_http.timeout(connect_timeout, read_timeout),
        )

    @property
    def configured(self) -> bool:
        return bool(self._site and self._user and self._password)

    def __repr__(self) -> str:
        return f"WordPressAdapter(site={self._site!r}, user={self._user!r})"

    async def publish(self, post: Post) -> Receipt:
        self._require()
        # The article links its media by local relative path; on WordPress they live in the
        # media library, so upload each and point the links at the library's URLs.
        links: dict[str, str] = {}
        featured = None
        for media in ([post.image] if post.image else []) + list(post.attachments):
            media_id, source_url = await self._upload(media)
            if media is post.image:
                featured = media_id
            if source_url:
                links[quote(media_name(media.path, post.meta.get("base_dir")))] = source_url
        # Links rewritten on the parsed HTML, then sanitised once more (security finding 4).
        content = clean_article(relink(post.text, links) if links else post.text)
        payload: dict[str, Any] = {"title": post.title, "content": content, "status": "publish"}
        if post.summary:
            payload["excerpt"] = post.summary
        if featured is not None:
            payload["featured_media"] = featured
        label = post.meta.get("kind_label")
        if label:
            payload["categories"] = [await self._term("categories", str(label))]
        tags = [str(t) for t in post.meta.get("tags") or () if str(t).strip()]
        if tags:
            payload["tags"] = [await self._term("tags", tag) for tag in tags]
        when = _publish_at(post, self._tz)
        if when is not None and when > self._clock():
            payload["status"] = "future"
            payload["date_gmt"] = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        path = f"/posts/{post.remote_id}" if post.remote_id else "/posts"
        body = await self._call("POST", path, json=payload, creates=True)
        return Receipt(
            remote_id=str(body["id"]),
            url=body.get("link"),
            detail={"status": body.get("status"), "featured_media": featured},
        )

    update_idempotent: ClassVar[bool] = True  # rewriting the post to the same text is harmless

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """Update the post in place (``POST /posts/{id}`` with the new revision)."""
        return await self.publish(dataclasses.replace(post, remote_id=receipt.remote_id))

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """Move the post to the trash (``DELETE /posts/{id}`` without ``force``): WordPress
        keeps it there, out of the site, its feed and its sitemap. A post already trashed or
        gone counts as withdrawn."""
        self._require()
        response = await self._request("DELETE", f"/posts/{receipt.remote_id}")
        if response.status_code not in (404, 410):
            self._checked(response)
        return Receipt(receipt.remote_id, receipt.url, {"trashed": True})

    async def check(self) -> CheckResult:
        if not self.configured:
            return CheckResult(
                False, "WordPress no está configurado (falta la dirección, el usuario o la clave)"
            )
        try:
            me = await self._call("GET", "/users/me")
        except (TransientError, PermanentError) as exc:
            return CheckResult(False, f"WordPress: {exc.reason}")
        return CheckResult(
            True,
            f"WordPress: conectado como {me.get('name', '?')} ({me.get('slug', '?')}) "
            f"en {self._site}",
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- steps ---------------------------------------------------------------------------

    async def _upload(self, media: Media) -> tuple[int, str | None]:
        try:
            data = await asyncio.to_thread(media.path.read_bytes)
        except OSError as exc:
            raise Rejected(f"no se pudo leer la imagen {media.name}: {exc.strerror}") from exc
        mime = media.mime
        if mime == "application/octet-stream":
            mime = mimetypes.guess_type(media.name)[0] or mime
        headers = {"Content-Type": mime, "Content-Disposition": _disposition(media.name)}
        body = await self._call("POST", "/media", content=data, headers=headers)
        media_id = int(body["id"])
        if media.alt:
            await self._call("POST", f"/media/{media_id}", json={"alt_text": media.alt})
        source = body.get("source_url")
        return media_id, str(source) if source else None

    async def _term(self, taxonomy: str, name: str) -> int:
        """The id of the category/tag called ``name``, created when missing."""
        key = (taxonomy, name.casefold())
        if key in self._terms:
            return self._terms[key]
        found = await self._call("GET", f"/{taxonomy}", params={"search": name, "per_page": 100})
        slug = slugify(name)
        for term in found if isinstance(found, list) else []:
            same_name = html.unescape(str(term.get("name", ""))).casefold() == name.casefold()
            if same_name or term.get("slug") == slug:
                self._terms[key] = int(term["id"])
                return self._terms[key]
        response = await self._request("POST", f"/{taxonomy}", json={"name": name})
        body = _json(response)
        if (
            response.status_code == 400
            and isinstance(body, dict)
            and body.get("code") == "term_exists"
        ):
            term_id = (body.get("data") or {}).get("term_id")
            if term_id:  # someone created it between our search and our POST
                self._terms[key] = int(term_id)
                return self._terms[key]
        created = self._checked(response)
        self._terms[key] = int(created["id"])
        return self._terms[key]

    # -- HTTP ----------------------------------------------------------------------------

    def _require(self) -> None:
        if not self.configured:
            raise AuthError(
                "WordPress no está configurado: faltan PREGONERO_WEBSITE__WORDPRESS_URL, "
                "__WORDPRESS_USER o __WORDPRESS_APP_PASSWORD"
            )

    async def _request(
        self, method: str, path: str, *, creates: bool = False, **kwargs: Any
    ) -> httpx.Response:
        try:
            return await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._map_error(exc, creates=creates) from exc

    async def _call(self, method: str, path: str, *, creates: bool = False, **kwargs: Any) -> Any:
        response = await self._request(method, path, creates=creates, **kwargs)
        return self._checked(response, creates=creates)

    def _checked(self, response: httpx.Response, *, creates: bool = False) -> Any:
        body = _json(response)
        if response.status_code >= 400 or body is None:
            raise self._map_error(response, creates=creates)
        return body

    def _map_error(
        self, failure: httpx.Response | httpx.HTTPError, *, creates: bool
    ) -> ChannelError:
        """httpx failures and WordPress error bodies → the error tree, by HTTP status (the
        ``code`` of an auth failure varies between WordPress versions and plugins).
        ``creates``: only the post itself; media and terms are harmless to repeat."""
        if isinstance(failure, httpx.HTTPError):
            return _http.transport_error(failure, SERVICE, creates=creates)
        status = failure.status_code
        body = _json(failure)
        said = ""
        if isinstance(body, dict):
            said = _http.detail(html.unescape(str(body.get("message") or "")), self._secrets)
            code = _http.detail(str(body.get("code") or ""), self._secrets)
            if code:
                said = f"{said} [{code}]" if said else f"[{code}]"
        if status < 400:
            return PermanentError(
                "WordPress respondió algo que no es la API REST: revise "
                "PREGONERO_WEBSITE__WORDPRESS_URL"
            )
        if status in (401, 403):
            return AuthError(
                f"WordPress rechazó el usuario o la contraseña de aplicación (HTTP {status}): "
                f"{said}"
            )
        if status == 404:
            return Rejected(f"WordPress no encontró el recurso (HTTP 404): {said}")
        if status == 413:
            return Rejected("el archivo es demasiado grande para WordPress (HTTP 413)")
        if status == 429:
            wait = _http.retry_after_seconds(failure.headers.get("retry-after"))
            return RateLimited(f"WordPress pidió esperar (HTTP 429) {said}".strip(), wait)
        if status == 400:
            return Rejected(f"WordPress rechazó la entrada: {said}")
        return _http.status_error(status, service=SERVICE, message=said, creates=creates)


def slugify(name: str) -> str:
    """Roughly WordPress's ``sanitize_title``: no accents, lowercase, words joined by ``-``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def _disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the UTF-8 name (RFC 6266)."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", plain) or "imagen"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _publish_at(post: Post, tz: Any) -> datetime | None:
    value = post.meta.get("publish_at") or post.published_at
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=tz)
