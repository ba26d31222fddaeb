"""Facebook Graph API double: ``/{v}/{page}/feed``, ``/{v}/{page}/photos``, ``/{v}/{page}``,
``/{v}/debug_token``, and ``POST``/``DELETE /{v}/{post-id}`` (edit, delete a post).

The page token is accepted as ``Authorization: Bearer`` or an ``access_token`` parameter.
Errors are Graph's ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``
(HTTP 400 like Graph). :meth:`GraphDouble.expire_token` makes the token answer 190/463 with
Graph's "Session has expired on …" message; ``debug_token`` reports ``is_valid``/``expires_at``
unless :attr:`GraphDouble.debug_token_allowed` is off.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response

PAGE_ID = "104857600000001"
PAGE_TOKEN = "EAAGtestPageToken_do-not-leak"
VERSION = "v24.0"
PACIFIC = timezone(timedelta(hours=-8), "PST")


class GraphDouble(DoubleServer):
    service = "graph"

    def __init__(
        self,
        *,
        page_id: str = PAGE_ID,
        token: str = PAGE_TOKEN,
        page_name: str = "Alcaldía de Bucaramanga",
    ) -> None:
        super().__init__()
        self.page_id, self.token, self.page_name = page_id, token, page_name
        self.version = VERSION
        self.expires_at: datetime | None = None
        """When the token expires (``None``: never, like a page token from a system user)."""
        self.debug_token_allowed = True
        self.posts: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(900_001)
        v = r"/(?P<version>v\d+\.\d+)"
        self.route("POST", v + r"/(?P<page>[^/]+)/feed", self._feed)
        self.route("POST", v + r"/(?P<page>[^/]+)/photos", self._photos)
        self.route("POST", v + r"/(?P<post_id>\d+_\d+)", self._edit)
        self.route("DELETE", v + r"/(?P<post_id>\d+_\d+)", self._delete)
        self.route("GET", v + r"/debug_token", self._debug_token)
        self.route("GET", v + r"/(?P<page>[^/]+)", self._page)

    # -- for tests -----------------------------------------------------------------------

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "facebook": {
                "page_id": self.page_id,
                "page_token": self.token,
                "graph_url": self.base_url,
                "api_version": self.version,
                "mode": "live",
            }
        }

    def settings_env(self) -> dict[str, str]:
        return {
            "PREGONERO_FACEBOOK__PAGE_ID": self.page_id,
            "PREGONERO_FACEBOOK__PAGE_TOKEN": self.token,
            "PREGONERO_FACEBOOK__GRAPH_URL": self.base_url,
            "PREGONERO_FACEBOOK__API_VERSION": self.version,
            "PREGONERO_FACEBOOK__MODE": "live",
        }

    @staticmethod
    def error(
        code: int, message: str, *, subcode: int | None = None, type_: str = "OAuthException"
    ) -> dict[str, Any]:
        """A Graph error body."""
        error: dict[str, Any] = {"message": message, "type": type_, "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error["fbtrace_id"] = "A" + secrets.token_hex(10)
        return {"error": error}

    def expire_token(self, at: datetime | None = None) -> datetime:
        """Make the token expired (by default an hour ago); returns the expiry moment."""
        self.expires_at = at or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        return self.expires_at

    # -- routes --------------------------------------------------------------------------

    def _feed(self, request: Request, version: str, page: str) -> Response:
        if (denied := self._authorize(request, page)) is not None:
            return denied
        message, link = request.arg("message"), request.arg("link")
        if not message and not link:
            return self._fail(100, "(#100) Missing message or attachment.")
        with self.lock:
            if message and any(
                p.get("message") == message and p.get("link") == link for p in self.posts.values()
            ):
                return self._fail(506, "(#506) Duplicate status message")
            post_id = f"{page}_{next(self._ids)}"
            self.posts[post_id] = {"kind": "feed", "message": message, "link": link}
        return Response.json({"id": post_id})

    def _photos(self, request: Request, version: str, page: str) -> Response:
        if (denied := self._authorize(request, page)) is not None:
            return denied
        source = request.files.get("source")
        if source is None and not request.arg("url"):
            return self._fail(324, "(#324) Requires upload file", type_="OAuthException")
        with self.lock:
            photo_id = str(next(self._ids))
            post_id = f"{page}_{next(self._ids)}"
            self.posts[post_id] = {
                "kind": "photo",
                "photo_id": photo_id,
                "caption": request.arg("caption"),
                "source": source,
                "url": request.arg("url"),
            }
        return Response.json({"id": photo_id, "post_id": post_id})

    def _edit(self, request: Request, version: str, post_id: str) -> Response:
        """``POST /{post-id}``: edit a post's message (a photo post's caption)."""
        if (denied := self._authorize(request)) is not None:
            return denied
        with self.lock:
            post = self.posts.get(post_id)
            if post is None:
                return self._missing(post_id)
            message = request.arg("message")
            post["caption" if post["kind"] == "photo" else "message"] = message
            post["edits"] = post.get("edits", 0) + 1
        return Response.json({"success": True})

    def _delete(self, request: Request, version: str, post_id: str) -> Response:
        """``DELETE /{post-id}``; the post is kept in :attr:`deleted`."""
        if (denied := self._authorize(request)) is not None:
            return denied
        with self.lock:
            post = self.posts.pop(post_id, None)
            if post is None:
                return self._missing(post_id)
            self.deleted[post_id] = post
        return Response.json({"success": True})

    def _missing(self, object_id: str) -> Response:
        return self._fail(
            100,
            f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot "
            "be loaded due to missing permissions, or does not support this operation.",
            subcode=33,
            type_="GraphMethodException",
        )

    def _page(self, request: Request, version: str, page: str) -> Response:
        if (denied := self._authorize(request, page)) is not None:
            return denied
        fields = str(request.arg("fields") or "name").split(",")
        data: dict[str, Any] = {"id": self.page_id}
        if "name" in fields:
            data["name"] = self.page_name
        return Response.json(data)

    def _debug_token(self, request: Request, version: str) -> Response:
        caller = self._token_of(request)
        if caller != self.token or not self.debug_token_allowed:
            return self._fail(
                100,
                "(#100) You must provide an app access token, or a user access token that is "
                "an owner or developer of the app",
            )
        input_token = request.arg("input_token")
        now = datetime.now(UTC)
        data: dict[str, Any] = {
            "app_id": "100000000000001",
            "type": "PAGE",
            "application": "Pregonero",
            "data_access_expires_at": 0,
            "expires_at": int(self.expires_at.timestamp()) if self.expires_at else 0,
            "is_valid": input_token == self.token and not self._expired(now),
            "profile_id": self.page_id,
            "scopes": ["pages_manage_posts", "pages_read_engagement"],
            "user_id": "100000000000002",
        }
        if input_token == self.token and self._expired(now):
            data["error"] = {
                "code": 190,
                "message": self._expired_message(now),
                "subcode": 463,
            }
        return Response.json({"data": data})

    def not_found(self, request: Request) -> Response:
        return self._fail(2500, "Unknown path components", status=400)

    # -- helpers -------------------------------------------------------------------------

    def _token_of(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith(("bearer ", "oauth ")):
            return header.split(" ", 1)[1].strip()
        token = request.arg("access_token")
        return str(token) if token else None

    def _expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def _expired_message(self, now: datetime) -> str:
        assert self.expires_at is not None
        fmt = "%A, %d-%b-%y %H:%M:%S %Z"
        return (
            "Error validating access token: Session has expired on "
            f"{self.expires_at.astimezone(PACIFIC).strftime(fmt)}. The current time is "
            f"{now.astimezone(PACIFIC).strftime(fmt)}."
        )

    def _authorize(self, request: Request, page: str | None = None) -> Response | None:
        token = self._token_of(request)
        if not token:
            return self._fail(
                2500,
                "An active access token must be used to query information about the current user.",
            )
        if token != self.token:
            return self._fail(190, "Invalid OAuth access token - Cannot parse access token")
        now = datetime.now(UTC)
        if self._expired(now):
            return self._fail(190, self._expired_message(now), subcode=463)
        if page is not None and page != self.page_id:
            return self._fail(
                100,
                f"Unsupported get request. Object with ID '{page}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
                subcode=33,
                type_="GraphMethodException",
            )
        return None

    def _fail(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        type_: str = "OAuthException",
        status: int = 400,
    ) -> Response:
        return Response.json(self.error(code, message, subcode=subcode, type_=type_), status)
