"""Every live adapter against its service double, through the real client library over real
HTTP: the same scenarios, the same error tree.

For each adapter × scenario the double answers one publish request in the service's own wire
format (or times out, resets, commits then drops), and the adapter must raise the right
class of :mod:`channels.base` — once, without retrying, without a secret in the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from channels.base import (
    Adapter,
    AuthError,
    ChannelError,
    OutcomeUnknown,
    Post,
    RateLimited,
    Receipt,
    Rejected,
    TransientError,
)
from channels.facebook import FacebookAdapter
from channels.telegram import TelegramAdapter
from channels.wordpress import WordPressAdapter
from channels.x import XAdapter
from tests.channel_support import channel_context
from tests.doubles.base import DoubleServer
from tests.doubles.config import live_settings
from tests.doubles.graph import GraphDouble
from tests.doubles.telegram import TelegramDouble
from tests.doubles.wordpress import WordPressDouble
from tests.doubles.x import XDouble

READ_TIMEOUT = 0.4
SLOW = 1.2  # longer than READ_TIMEOUT


@dataclass
class Profile:
    """How one channel's service says each thing, and where its publish request goes."""

    adapter: type[Any]
    double: type[DoubleServer]
    publish_path: str
    text: str
    rate_limited: Callable[[], dict[str, Any]]
    """Built when used: X's reset header is an absolute time."""
    retry_after: float
    server_error: dict[str, Any]
    bad_request: dict[str, Any]
    unauthorized: dict[str, Any]
    created: Callable[[Any], int]
    secrets: Callable[[Any], list[str]]
    extra: dict[str, Any] = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    "telegram": Profile(
        adapter=TelegramAdapter,
        double=TelegramDouble,
        publish_path=r"/sendMessage$",
        text="<b>Boletín 123</b>: la Alcaldía informa",
        rate_limited=lambda: {
            "status": 429,
            "json": TelegramDouble.error(429, "Too Many Requests: retry after 5", 5),
        },
        retry_after=5,
        server_error={
            "status": 502,
            "body": "<html>Bad Gateway</html>",
            "headers": {"Content-Type": "text/html"},
        },
        bad_request={
            "status": 400,
            "json": TelegramDouble.error(400, "Bad Request: chat not found"),
        },
        unauthorized={"status": 401, "json": TelegramDouble.error(401, "Unauthorized")},
        created=lambda d: len(d.sent),
        secrets=lambda d: [d.token, d.token.split(":")[1]],
    ),
    "x": Profile(
        adapter=XAdapter,
        double=XDouble,
        publish_path=r"^/2/tweets$",
        text="La Alcaldía informa: boletín 123 https://www.bucaramanga.gov.co/noticias/123",
        rate_limited=lambda: {
            "status": 429,
            "json": XDouble.problem(429, "Too Many Requests", "Too Many Requests"),
            "headers": XDouble.rate_limit_headers(reset_in=60),
        },
        retry_after=60,
        server_error={
            "status": 503,
            "json": XDouble.problem(503, "Service Unavailable", "Service Unavailable"),
        },
        bad_request={
            "status": 400,
            "json": {
                "errors": [{"parameters": {"text": [""]}, "message": "Invalid text"}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            },
        },
        unauthorized={"status": 401, "json": XDouble.problem(401, "Unauthorized", "Unauthorized")},
        created=lambda d: len(d.tweets),
        secrets=lambda d: [d.consumer_secret, d.access_secret, d.consumer_key, d.access_token],
    ),
    "facebook": Profile(
        adapter=FacebookAdapter,
        double=GraphDouble,
        publish_path=r"/feed$",
        text="La Alcaldía informa: boletín 123",
        rate_limited=lambda: {
            "status": 400,
            "json": GraphDouble.error(32, "(#32) Page request limit reached"),
            "headers": {
                "X-Page-Usage": '{"call_count":100,"total_cputime":12,"total_time":20,'
                '"estimated_time_to_regain_access":5}'
            },
        },
        retry_after=300,
        server_error={
            "status": 500,
            "json": GraphDouble.error(
                2, "An unexpected error has occurred. Please retry your request later."
            ),
        },
        bad_request={"status": 400, "json": GraphDouble.error(100, "(#100) Invalid parameter")},
        unauthorized={
            "status": 401,
            "json": GraphDouble.error(
                190, "Invalid OAuth access token - Cannot parse access token"
            ),
        },
        created=lambda d: len(d.posts),
        secrets=lambda d: [d.token],
    ),
    "website": Profile(
        adapter=WordPressAdapter,
        double=WordPressDouble,
        publish_path=r"/posts$",
        text="<p>La Alcaldía informa.</p>",
        rate_limited=lambda: {
            "status": 429,
            "body": "Too Many Requests",
            "headers": {"Retry-After": "7"},
        },
        retry_after=7,
        server_error={
            "status": 503,
            "body": "<html>Service Unavailable</html>",
            "headers": {"Content-Type": "text/html"},
        },
        bad_request={
            "status": 400,
            "json": WordPressDouble.error(
                "rest_invalid_param", "Invalid parameter(s): status", 400
            ),
        },
        unauthorized={
            "status": 401,
            "json": WordPressDouble.error(
                "incorrect_password",
                "The provided password is an invalid application password.",
                401,
            ),
        },
        created=lambda d: len(d.posts),
        secrets=lambda d: [d.app_password, d.app_password.replace(" ", "")],
    ),
}

# scenario → (fail_next kwargs builder, expected error class or None for success)
SCENARIOS: dict[
    str, tuple[Callable[[Profile], dict[str, Any]] | None, type[ChannelError] | None]
] = {
    "success": (None, None),
    "rate_limited": (lambda p: p.rate_limited(), RateLimited),
    "server_error": (lambda p: p.server_error, TransientError),
    "gateway_timeout": (lambda p: {"status": 504, "body": "Gateway Time-out"}, OutcomeUnknown),
    "timeout": (lambda p: {"delay": SLOW}, OutcomeUnknown),
    "reset": (lambda p: {"reset": True}, OutcomeUnknown),
    "commit_then_drop": (lambda p: {"reset": True, "commit": True}, OutcomeUnknown),
    "bad_request": (lambda p: p.bad_request, Rejected),
    "unauthorized": (lambda p: p.unauthorized, AuthError),
}


def make_post(channel: str, text: str) -> Post:
    return Post(
        item_id="2026-03-02-boletin-123",
        channel=channel,
        kind="boletin",
        title="Boletín 123: la Alcaldía informa",
        text=text,
        summary="La Alcaldía informa.",
        url="https://www.bucaramanga.gov.co/noticias/2026-03-02-boletin-123/",
        meta={"kind_label": "Boletín de prensa", "tags": ["obras"]},
    )


def build(profile: Profile, double: DoubleServer, tmp_path: Path) -> Adapter:
    settings = live_settings(double, content_dir=tmp_path)
    adapter: Adapter = profile.adapter(
        settings, channel_context(settings), connect_timeout=1.0, read_timeout=READ_TIMEOUT
    )
    return adapter


def assert_no_secret(values: list[str], *texts: str) -> None:
    for text in texts:
        for secret in values:
            assert secret not in text, f"secret leaked into {text!r}"


def chain(exc: BaseException) -> list[str]:
    """str and repr of an exception and everything it was raised from."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 20:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return texts


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("channel", list(PROFILES))
async def test_publish_outcome(channel: str, scenario: str, tmp_path: Path) -> None:
    profile = PROFILES[channel]
    fault, expected = SCENARIOS[scenario]
    with profile.double() as double:
        adapter = build(profile, double, tmp_path)
        assert adapter.name == channel and adapter.idempotent is False
        if fault is not None:
            double.fail_next(path=profile.publish_path, **fault(profile))
        started = time.monotonic()
        try:
            if expected is None:
                receipt = await adapter.publish(make_post(channel, profile.text))
                assert isinstance(receipt, Receipt) and receipt.remote_id
                assert profile.created(double) == 1
            else:
                with pytest.raises(expected) as info:
                    await adapter.publish(make_post(channel, profile.text))
                error = info.value
                assert error.reason
                assert_no_secret(profile.secrets(double), *chain(error))
                if scenario == "server_error":
                    assert not isinstance(error, OutcomeUnknown | RateLimited)
                if expected is RateLimited:
                    assert isinstance(error, RateLimited)
                    assert error.retry_after == pytest.approx(profile.retry_after, abs=2)
        finally:
            await adapter.aclose()
        elapsed = time.monotonic() - started
        # The adapter never retries: exactly one publish request reached the service.
        assert len(double.requests_to(profile.publish_path)) == 1
        if scenario == "timeout":
            assert elapsed < 2
        if scenario == "commit_then_drop":
            assert profile.created(double) == 1, "the double should have created the post"
        if scenario in ("reset", "bad_request", "unauthorized", "rate_limited"):
            assert profile.created(double) == 0
        assert_no_secret(profile.secrets(double), repr(adapter), str(adapter))
        assert not double.errors


@pytest.mark.parametrize("channel", list(PROFILES))
async def test_connection_refused_is_transient(channel: str, tmp_path: Path) -> None:
    profile = PROFILES[channel]
    double = profile.double().start()
    adapter = build(profile, double, tmp_path)
    double.stop()  # nothing listens on that port any more
    try:
        with pytest.raises(TransientError) as info:
            await adapter.publish(make_post(channel, profile.text))
        assert not isinstance(info.value, OutcomeUnknown)
        assert_no_secret(profile.secrets(double), *chain(info.value))
        result = await adapter.check()
        assert not result.ok
        assert_no_secret(profile.secrets(double), result.message)
    finally:
        await adapter.aclose()


@pytest.mark.parametrize("channel", list(PROFILES))
async def test_check_names_the_account(channel: str, tmp_path: Path) -> None:
    profile = PROFILES[channel]
    with profile.double() as double:
        adapter = build(profile, double, tmp_path)
        try:
            result = await adapter.check()
        finally:
            await adapter.aclose()
    assert result.ok, result.message
    assert any(
        name in result.message
        for name in ("pregonero_bot", "AlcaldiaBGA", "Alcaldía de Bucaramanga", "Oficina de Prensa")
    )
    assert_no_secret(profile.secrets(double), result.message)


@pytest.mark.parametrize("channel", list(PROFILES))
async def test_unconfigured_adapter_says_so(channel: str, tmp_path: Path) -> None:
    profile = PROFILES[channel]
    settings = live_settings(content_dir=tmp_path, website={"backend": "wordpress"})
    adapter: Adapter = profile.adapter(settings, channel_context(settings))
    try:
        with pytest.raises(AuthError, match="configurado"):
            await adapter.publish(make_post(channel, profile.text))
        result = await adapter.check()
        assert not result.ok and "configurado" in result.message
    finally:
        await adapter.aclose()


def test_shared_helpers_redact_and_parse_retry_after() -> None:
    from datetime import UTC, datetime

    from channels import _http

    secret = "abc:def/ghi jkl"
    text = f"url /bot{secret}/x?token=abc%3Adef%2Fghi%20jkl&t=abc%3Adef%2Fghi+jkl"
    assert secret[:7] not in _http.redact(text, [secret, None, "ab"])
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert _http.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 60
    assert _http.retry_after_seconds("12") == 12
    assert _http.retry_after_seconds("pronto") is None
    assert _http.strip_bot_token("GET /bot123:AA-b_c/getMe") == "GET /bot****/getMe"
