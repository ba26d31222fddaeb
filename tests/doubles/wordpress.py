"""WordPress REST API double: ``/wp-json/wp/v2/{posts,media,categories,tags,users/me}``.

Basic auth with an application password (spaces ignored, as WordPress does). Errors are
``{"code": "rest_…", "message", "data": {"status"}}``: a wrong password is 401
``incorrect_password``, no credentials 401 ``rest_not_logged_in``/``rest_cannot_create``, an
unknown post 404 ``rest_post_invalid_id``, a duplicate term 400 ``term_exists`` with
``data.term_id``. Posts get WordPress-like ``link``s (``?p=<id>`` while ``future``).
"""

from __future__ import annotations

import base64
import html
import itertools
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.doubles.base import DoubleServer, Request, Response, UploadedFile

USER = "prensa"
APP_PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"
API = "/wp-json/wp/v2"
STATUSES = ("publish", "future", "draft", "pending", "private")


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def _disposition_filename(header: str) -> str | None:
    """The ``filename`` parameter, read the way WordPress's ``get_filename_from_disposition``
    does (``filename*`` is ignored)."""
    for part in header.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip() == "filename" and value.strip():
            return value.strip().strip('"')
    return None


def _error(code: str, message: str, status: int, **data: Any) -> Response:
    return Response.json(
        {"code": code, "message": message, "data": {"status": status, **data}}, status
    )


class WordPressDouble(DoubleServer):
    service = "wordpress"

    def __init__(
        self,
        *,
        user: str = USER,
        app_password: str = APP_PASSWORD,
        timezone: str = "America/Bogota",
    ) -> None:
        super().__init__()
        self.user, self.app_password = user, app_password
        self.tz = ZoneInfo(timezone)
        self.posts: dict[int, dict[str, Any]] = {}
        self.media: dict[int, dict[str, Any]] = {}
        self.terms: dict[str, dict[int, dict[str, Any]]] = {"categories": {}, "tags": {}}
        self._ids = itertools.count(101)
        self.route("POST", API + r"/posts", self._create_post)
        self.route("GET", API + r"/posts", self._list_posts)
        self.route("POST", API + r"/posts/(?P<post_id>\d+)", self._update_post)
        self.route("GET", API + r"/posts/(?P<post_id>\d+)", self._get_post)
        self.route("DELETE", API + r"/posts/(?P<post_id>\d+)", self._trash_post)
        self.route("POST", API + r"/media", self._create_media)
        self.route("POST", API + r"/media/(?P<media_id>\d+)", self._update_media)
        self.route("GET", API + r"/(?P<taxonomy>categories|tags)", self._list_terms)
        self.route("POST", API + r"/(?P<taxonomy>categories|tags)", self._create_term)
        self.route("GET", API + r"/users/me", self._me)

    # -- for tests -----------------------------------------------------------------------

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "website": {
                "backend": "wordpress",
                "wordpress_url": self.base_url,
                "wordpress_user": self.user,
                "wordpress_app_password": self.app_password,
                "mode": "live",
            }
        }

    def settings_env(self) -> dict[str, str]:
        return {
            "PREGONERO_WEBSITE__BACKEND": "wordpress",
            "PREGONERO_WEBSITE__WORDPRESS_URL": self.base_url,
            "PREGONERO_WEBSITE__WORDPRESS_USER": self.user,
            "PREGONERO_WEBSITE__WORDPRESS_APP_PASSWORD": self.app_password,
            "PREGONERO_WEBSITE__MODE": "live",
        }

    @staticmethod
    def error(code: str, message: str, status: int) -> dict[str, Any]:
        """A WordPress REST error body."""
        return {"code": code, "message": message, "data": {"status": status}}

    def add_term(self, taxonomy: str, name: str) -> int:
        with self.lock:
            return self._new_term(taxonomy, name)["id"]

    # -- posts ---------------------------------------------------------------------------

    def _create_post(self, request: Request) -> Response:
        if (denied := self._authorize(request, "rest_cannot_create", "crear entradas")) is not None:
            return denied
        fields = self._fields(request)
        if not any(fields.get(k) for k in ("title", "content", "excerpt")):
            return _error("empty_content", "Content, title, and excerpt are empty.", 400)
        with self.lock:
            if (invalid := self._validate(fields)) is not None:
                return invalid
            post_id = next(self._ids)
            post = {
                "id": post_id,
                "status": "draft",
                "categories": [],
                "tags": [],
                "featured_media": 0,
            }
            self._apply(post, fields)
            self.posts[post_id] = post
            return Response.json(self._render(post), 201)

    def _update_post(self, request: Request, post_id: str) -> Response:
        if (
            denied := self._authorize(request, "rest_cannot_edit", "editar esta entrada")
        ) is not None:
            return denied
        fields = self._fields(request)
        with self.lock:
            post = self.posts.get(int(post_id))
            if post is None:
                return _error("rest_post_invalid_id", "Invalid post ID.", 404)
            if (invalid := self._validate(fields)) is not None:
                return invalid
            self._apply(post, fields)
            post["revisions"] = post.get("revisions", 0) + 1
            return Response.json(self._render(post))

    def _trash_post(self, request: Request, post_id: str) -> Response:
        """``DELETE /posts/{id}``: to the trash (``force`` deletes for good), like WordPress."""
        if (
            denied := self._authorize(request, "rest_cannot_delete", "borrar esta entrada")
        ) is not None:
            return denied
        with self.lock:
            post = self.posts.get(int(post_id))
            if post is None:
                return _error("rest_post_invalid_id", "Invalid post ID.", 404)
            if str(request.arg("force") or "").lower() in ("1", "true"):
                del self.posts[int(post_id)]
                return Response.json({"deleted": True, "previous": self._render(post)})
            if post["status"] == "trash":
                return _error("rest_already_trashed", "The post has already been deleted.", 410)
            post["status"] = "trash"
            return Response.json(self._render(post))

    def _get_post(self, request: Request, post_id: str) -> Response:
        with self.lock:
            post = self.posts.get(int(post_id))
            if post is None:
                return _error("rest_post_invalid_id", "Invalid post ID.", 404)
            return Response.json(self._render(post))

    def _list_posts(self, request: Request) -> Response:
        with self.lock:
            return Response.json(
                [self._render(p) for p in self.posts.values() if p["status"] == "publish"]
            )

    def _validate(self, fields: dict[str, Any]) -> Response | None:
        status = fields.get("status")
        if status is not None and status not in STATUSES:
            return _error(
                "rest_invalid_param",
                "Invalid parameter(s): status",
                400,
                params={"status": f"status is not one of {', '.join(STATUSES)}."},
            )
        featured = fields.get("featured_media")
        if featured and int(featured) not in self.media:
            return _error("rest_invalid_featured_media", "Invalid featured media ID.", 400)
        for taxonomy in ("categories", "tags"):
            for term_id in fields.get(taxonomy) or []:
                if int(term_id) not in self.terms[taxonomy]:
                    return _error(
                        "rest_invalid_param",
                        f"Invalid parameter(s): {taxonomy}",
                        400,
                        params={taxonomy: f"Invalid term ID {term_id}."},
                    )
        return None

    def _apply(self, post: dict[str, Any], fields: dict[str, Any]) -> None:
        for key in (
            "title",
            "content",
            "excerpt",
            "status",
            "featured_media",
            "categories",
            "tags",
        ):
            if key in fields:
                post[key] = fields[key]
        now = datetime.now(UTC).replace(microsecond=0)
        if fields.get("date_gmt"):
            post["date_gmt"] = datetime.fromisoformat(fields["date_gmt"]).replace(tzinfo=UTC)
        elif fields.get("date"):
            local = datetime.fromisoformat(fields["date"])
            local = local if local.tzinfo else local.replace(tzinfo=self.tz)
            post["date_gmt"] = local.astimezone(UTC)
        post.setdefault("date_gmt", now)
        # WordPress publishes a "future" post whose date is not in the future.
        if post.get("status") == "future" and post["date_gmt"] <= now:
            post["status"] = "publish"
        post["modified_gmt"] = now
        post.setdefault("slug", _slug(str(post.get("title") or "")) or str(post["id"]))

    def _render(self, post: dict[str, Any]) -> dict[str, Any]:
        gmt: datetime = post["date_gmt"]
        local = gmt.astimezone(self.tz)
        if post["status"] == "publish":
            link = f"{self.base_url}/{local:%Y/%m/%d}/{post['slug']}/"
        else:
            link = f"{self.base_url}/?p={post['id']}"
        return {
            "id": post["id"],
            "date": local.strftime("%Y-%m-%dT%H:%M:%S"),
            "date_gmt": gmt.strftime("%Y-%m-%dT%H:%M:%S"),
            "guid": {"rendered": f"{self.base_url}/?p={post['id']}"},
            "modified_gmt": post["modified_gmt"].strftime("%Y-%m-%dT%H:%M:%S"),
            "slug": post["slug"],
            "status": post["status"],
            "type": "post",
            "link": link,
            "title": {"rendered": html.escape(str(post.get("title") or ""), quote=False)},
            "content": {"rendered": str(post.get("content") or ""), "protected": False},
            "excerpt": {"rendered": str(post.get("excerpt") or ""), "protected": False},
            "author": 1,
            "featured_media": post.get("featured_media") or 0,
            "categories": post.get("categories") or [],
            "tags": post.get("tags") or [],
        }

    # -- media ---------------------------------------------------------------------------

    def _create_media(self, request: Request) -> Response:
        if (denied := self._authorize(request, "rest_cannot_create", "subir archivos")) is not None:
            return denied
        upload = request.files.get("file")
        if upload is None:
            disposition = request.headers.get("content-disposition")
            if not request.body:
                return _error("rest_upload_no_data", "No data supplied.", 400)
            if not disposition:
                return _error(
                    "rest_upload_no_content_disposition", "No Content-Disposition supplied.", 400
                )
            filename = _disposition_filename(disposition)
            if not filename:
                return _error(
                    "rest_upload_invalid_disposition",
                    "Invalid Content-Disposition supplied. Content-Disposition needs to be "
                    'formatted as `attachment; filename="image.png"` or similar.',
                    400,
                )
            upload = UploadedFile(filename, request.headers.get("content-type"), request.body)
        with self.lock:
            media_id = next(self._ids)
            item = {
                "id": media_id,
                "upload": upload,
                "alt_text": str(request.arg("alt_text") or ""),
                "source_url": f"{self.base_url}/wp-content/uploads/{upload.filename}",
            }
            self.media[media_id] = item
            return Response.json(self._render_media(item), 201)

    def _update_media(self, request: Request, media_id: str) -> Response:
        if (
            denied := self._authorize(request, "rest_cannot_edit", "editar este archivo")
        ) is not None:
            return denied
        with self.lock:
            item = self.media.get(int(media_id))
            if item is None:
                return _error("rest_post_invalid_id", "Invalid post ID.", 404)
            for key in ("alt_text", "caption", "title"):
                value = self._fields(request).get(key)
                if value is not None:
                    item[key] = value
            return Response.json(self._render_media(item))

    def _render_media(self, item: dict[str, Any]) -> dict[str, Any]:
        upload: UploadedFile = item["upload"]
        return {
            "id": item["id"],
            "type": "attachment",
            "media_type": "image",
            "mime_type": upload.content_type,
            "alt_text": item.get("alt_text", ""),
            "source_url": item["source_url"],
            "title": {"rendered": upload.filename},
        }

    # -- terms ---------------------------------------------------------------------------

    def _list_terms(self, request: Request, taxonomy: str) -> Response:
        search = str(request.arg("search") or "").casefold()
        slug = request.arg("slug")
        with self.lock:
            found = [
                self._render_term(t)
                for t in self.terms[taxonomy].values()
                if (not search or search in html.unescape(t["name"]).casefold())
                and (not slug or t["slug"] == slug)
            ]
        return Response.json(found)

    def _create_term(self, request: Request, taxonomy: str) -> Response:
        if (denied := self._authorize(request, "rest_cannot_create", "crear términos")) is not None:
            return denied
        name = str(self._fields(request).get("name") or "").strip()
        if not name:
            return _error("rest_missing_callback_param", "Missing parameter(s): name", 400)
        with self.lock:
            for term in self.terms[taxonomy].values():
                if html.unescape(term["name"]).casefold() == name.casefold():
                    return _error(
                        "term_exists",
                        "A term with the name provided already exists with this parent.",
                        400,
                        term_id=term["id"],
                    )
            return Response.json(self._render_term(self._new_term(taxonomy, name)), 201)

    def _new_term(self, taxonomy: str, name: str) -> dict[str, Any]:
        term_id = next(self._ids)
        # WordPress stores term names HTML-escaped ("Obras &amp; Proyectos").
        term = {"id": term_id, "name": html.escape(name, quote=False), "slug": _slug(name)}
        self.terms[taxonomy][term_id] = term
        return term

    def _render_term(self, term: dict[str, Any]) -> dict[str, Any]:
        return {
            **term,
            "count": 0,
            "description": "",
            "link": f"{self.base_url}/t/{term['slug']}/",
            "meta": [],
        }

    def term_names(self, taxonomy: str, ids: list[int]) -> list[str]:
        with self.lock:
            return [html.unescape(self.terms[taxonomy][i]["name"]) for i in ids]

    # -- users ---------------------------------------------------------------------------

    def _me(self, request: Request) -> Response:
        if (denied := self._authorize(request, "rest_not_logged_in", None)) is not None:
            return denied
        return Response.json(
            {
                "id": 1,
                "name": "Oficina de Prensa",
                "url": "",
                "description": "",
                "link": f"{self.base_url}/author/{self.user}/",
                "slug": self.user,
                "avatar_urls": {},
                "meta": [],
            }
        )

    def not_found(self, request: Request) -> Response:
        return _error(
            "rest_no_route", "No route was found matching the URL and request method.", 404
        )

    # -- helpers -------------------------------------------------------------------------

    def _fields(self, request: Request) -> dict[str, Any]:
        fields: dict[str, Any] = dict(request.query)
        fields.update(request.form)
        if isinstance(request.json, dict):
            fields.update(request.json)
        return fields

    def _authorize(self, request: Request, code: str, action: str | None) -> Response | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if user != self.user or password.replace(" ", "") != self.app_password.replace(" ", ""):
                return _error(
                    "incorrect_password",
                    "The provided password is an invalid application password.",
                    401,
                )
            return None
        if code == "rest_not_logged_in":
            return _error(code, "You are not currently logged in.", 401)
        return _error(code, "Sorry, you are not allowed to do that.", 401)
