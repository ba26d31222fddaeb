"""X API v2 double: ``/2/tweets``, ``/2/media/upload``, ``/2/media/metadata``, ``/2/users/me``.

Requests must carry an OAuth 1.0a ``Authorization`` header for the configured consumer key
and access token; with ``verify_signatures`` (default) the HMAC-SHA1 signature is checked
against the URL this double was actually called at — which is what X does against its own
host, so an adapter that signs tweepy's hard-coded host and sends elsewhere fails here.
Errors use X's problem format (``{"title", "detail", "type", "status"}``), 429 carries
``x-rate-limit-*`` headers, and a repeated text gets X's duplicate-content 403.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from oauthlib.oauth1.rfc5849 import signature, utils
from twitter_text import parse_tweet

from tests.doubles.base import DoubleServer, Request, Response, UploadedFile

CONSUMER_KEY = "ck-test-consumer-key"
CONSUMER_SECRET = "cs-test-consumer-secret-do-not-leak"
ACCESS_TOKEN = "1234-at-test-access-token"
ACCESS_SECRET = "as-test-access-secret-do-not-leak"
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."


@dataclass
class Media:
    id: str
    media_key: str
    upload: UploadedFile
    category: str | None
    alt_text: str | None = None


class XDouble(DoubleServer):
    service = "x"

    def __init__(
        self,
        *,
        consumer_key: str = CONSUMER_KEY,
        consumer_secret: str = CONSUMER_SECRET,
        access_token: str = ACCESS_TOKEN,
        access_secret: str = ACCESS_SECRET,
        username: str = "AlcaldiaBGA",
    ) -> None:
        super().__init__()
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.access_token, self.access_secret = access_token, access_secret
        self.verify_signatures = True
        self.user = {
            "id": "900000000000000001",
            "name": "Alcaldía de Bucaramanga",
            "username": username,
        }
        self.tweets: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}
        self.media: dict[str, Media] = {}
        self._ids = itertools.count(1_800_000_000_000_000_001)
        self.route("POST", r"/2/tweets", self._create_tweet)
        self.route("DELETE", r"/2/tweets/(?P<tweet_id>\d+)", self._delete_tweet)
        self.route("POST", r"/2/media/upload", self._upload)
        self.route("POST", r"/2/media/metadata", self._metadata)
        self.route("GET", r"/2/users/me", self._me)

    # -- for tests -----------------------------------------------------------------------

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "x": {
                "api_key": self.consumer_key,
                "api_secret": self.consumer_secret,
                "access_token": self.access_token,
                "access_secret": self.access_secret,
                "api_url": self.base_url,
                "mode": "live",
            }
        }

    def settings_env(self) -> dict[str, str]:
        return {
            "PREGONERO_X__API_KEY": self.consumer_key,
            "PREGONERO_X__API_SECRET": self.consumer_secret,
            "PREGONERO_X__ACCESS_TOKEN": self.access_token,
            "PREGONERO_X__ACCESS_SECRET": self.access_secret,
            "PREGONERO_X__API_URL": self.base_url,
            "PREGONERO_X__MODE": "live",
        }

    @staticmethod
    def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> dict[str, Any]:
        """An X v2 error body."""
        return {"title": title, "detail": detail, "type": type_, "status": status}

    @staticmethod
    def rate_limit_headers(reset_in: int = 60) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(time.time()) + reset_in),
        }

    # -- routes --------------------------------------------------------------------------

    def _create_tweet(self, request: Request) -> Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        body = request.json if isinstance(request.json, dict) else {}
        text = body.get("text")
        media_ids = (body.get("media") or {}).get("media_ids") or []
        if not text and not media_ids:
            return self._invalid({"text": [text]}, "Your Tweet must have text or media.")
        if text and parse_tweet(text).weightedLength > 280:
            return self._invalid({"text": [text]}, "Tweet text is too long.")
        with self.lock:
            unknown = [m for m in media_ids if m not in self.media]
            if unknown:
                return self._invalid({"media.media_ids": unknown}, "Your media IDs are invalid.")
            if text and any(t["text"] == text for t in self.tweets.values()):
                return Response.json(self.problem(403, "Forbidden", DUPLICATE), 403)
            reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            if reply_to is not None and str(reply_to) not in self.tweets:
                return self._invalid(
                    {"reply.in_reply_to_tweet_id": [reply_to]},
                    "The Tweet you are replying to has been deleted or is not visible to you.",
                )
            tweet_id = str(next(self._ids))
            self.tweets[tweet_id] = {"id": tweet_id, "text": text or "", "media_ids": media_ids}
            if reply_to is not None:
                self.tweets[tweet_id]["in_reply_to"] = str(reply_to)
        data = {"id": tweet_id, "text": text or "", "edit_history_tweet_ids": [tweet_id]}
        return Response.json({"data": data}, 201)

    def _delete_tweet(self, request: Request, tweet_id: str) -> Response:
        """``DELETE /2/tweets/:id``; the tweet is kept in :attr:`deleted`."""
        if (denied := self._authorize(request)) is not None:
            return denied
        with self.lock:
            tweet = self.tweets.pop(tweet_id, None)
            if tweet is None:
                return Response.json(
                    self.problem(
                        404, "Not Found Error", f"Could not find tweet with id: [{tweet_id}]."
                    ),
                    404,
                )
            self.deleted[tweet_id] = tweet
        return Response.json({"data": {"deleted": True}})

    def _upload(self, request: Request) -> Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        upload = request.files.get("media")
        if upload is None or not upload.data:
            return self._invalid({"media": []}, "media must be provided")
        category = request.form.get("media_category")
        if category not in (None, "tweet_image", "tweet_gif", "tweet_video", "dm_image"):
            return self._invalid({"media_category": [category]}, "Invalid media_category")
        with self.lock:
            media_id = str(next(self._ids))
            media = Media(media_id, f"3_{media_id}", upload, category)
            self.media[media_id] = media
        data = {
            "id": media_id,
            "media_key": media.media_key,
            "size": len(upload.data),
            "expires_after_secs": 86400,
            "image": {"image_type": upload.content_type or "image/jpeg", "w": 1280, "h": 720},
        }
        return Response.json({"data": data})

    def _metadata(self, request: Request) -> Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        body = request.json if isinstance(request.json, dict) else {}
        media_id = str(body.get("id") or "")
        alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        with self.lock:
            media = self.media.get(media_id)
            if media is None:
                return self._invalid({"id": [media_id]}, "The media id is invalid.")
            if alt is not None and len(alt) > 1000:
                return self._invalid({"metadata.alt_text.text": [alt]}, "alt text too long")
            media.alt_text = alt
        return Response.json(
            {"data": {"id": media_id, "associated_metadata": {"alt_text": {"text": alt}}}}
        )

    def _me(self, request: Request) -> Response:
        if (denied := self._authorize(request)) is not None:
            return denied
        return Response.json({"data": dict(self.user)})

    def not_found(self, request: Request) -> Response:
        return Response.json(self.problem(404, "Not Found Error", "Not found"), 404)

    # -- helpers -------------------------------------------------------------------------

    def _invalid(self, parameters: dict[str, Any], message: str) -> Response:
        body = {
            "errors": [{"parameters": parameters, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }
        return Response.json(body, 400)

    def _authorize(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        unauthorized = Response.json(self.problem(401, "Unauthorized", "Unauthorized"), 401)
        if not header.startswith("OAuth "):
            return unauthorized
        oauth = dict(utils.parse_authorization_header(header))
        if oauth.get("oauth_consumer_key") != self.consumer_key:
            return unauthorized
        if oauth.get("oauth_token") != self.access_token:
            return unauthorized
        if self.verify_signatures and not self._signature_ok(request, oauth):
            return unauthorized
        return None

    def _signature_ok(self, request: Request, oauth: dict[str, str]) -> bool:
        host = request.headers.get("host", f"{self.host}:{self.port}")
        query = request.target.partition("?")[2]
        form = (
            request.body
            if "x-www-form-urlencoded" in request.headers.get("content-type", "")
            else None
        )
        params = signature.collect_parameters(
            uri_query=query, body=form, headers={"Authorization": request.headers["authorization"]}
        )
        base = signature.signature_base_string(
            request.method,
            signature.base_string_uri(f"http://{host}{request.path}"),
            signature.normalize_parameters(params),
        )
        keys = SimpleNamespace(
            client_secret=self.consumer_secret, resource_owner_secret=self.access_secret
        )
        expected = signature.sign_hmac_sha1_with_client(base, keys)
        return utils.unescape(oauth.get("oauth_signature", "")) == expected
