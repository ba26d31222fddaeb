"""Shared helpers for the HTTP-based adapters: timeouts, secret redaction, and the mapping
of transport failures and HTTP statuses onto the error tree in :mod:`channels.base`.

Transport failures (httpx names; the X adapter maps ``requests`` the same way)::

    ConnectError, ConnectTimeout, PoolTimeout   the request never left us  -> TransientError
    WriteError, WriteTimeout                    the request was not complete, so the
                                                service cannot have acted on it -> TransientError
    ReadTimeout                                 sent, no answer in time    -> OutcomeUnknown
    ReadError, RemoteProtocolError              sent, connection reset or closed before
                                                the answer                 -> OutcomeUnknown
    (both only TransientError when the request does not create the post: ``creates=False``)

HTTP statuses, when a service's own error codes say nothing better::

    429                     RateLimited (``Retry-After`` honoured)
    500, 502, 503           TransientError: the service failed before acting, as far as it
                            tells us; retrying a social post after a 5xx is the usual practice
    504                     OutcomeUnknown when the request creates the post: a gateway gave
                            up waiting for the origin, which may still have created it (for a
                            read or a harmless preliminary step it is only transient)
    401, 403                AuthError
    other 4xx               Rejected

Secrets: every reason passes through :func:`redact` — the one redaction function: it hides
the known secrets (and their URL-encoded and Basic-auth forms) and, whatever the secret, the
value of any ``Authorization`` header and any ``Basic``/``Bearer``/``OAuth`` credential, so a
server that echoes the request headers in its error cannot put them in ``last_error``, the
bot's messages or the logs (security issue, finding 8). :func:`protect_secrets` installs a
logging filter that applies it on the client libraries' loggers (httpx logs each request URL
at INFO, and the Telegram token sits in every Bot API URL) and on the handlers of the root
logger.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_plus

import httpx

from channels.base import (
    AuthError,
    ChannelError,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    TransientError,
)

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a TCP/TLS connection: longer means the service is down."""
READ_TIMEOUT = 30.0
"""Seconds to wait for an answer once the request is sent (uploads included)."""

MAX_DETAIL = 300

_SECRET_MIN_LEN = 4
MASK = "****"

_AUTH_HEADER = re.compile(
    r"""(?P<name>(?:proxy-)?authorization)(?P<sep>["']?\s*[:=]\s*["']?)"""
    r"""(?P<value>(?:[A-Za-z][\w.-]*\s+)?[^\s,;"'}\]]+)""",
    re.IGNORECASE,
)
"""``Authorization: <scheme> <credential>`` (also ``"authorization": "…"`` in echoed JSON
and ``authorization=…``): the scheme word and the credential token after it."""
_AUTH_SCHEME = re.compile(
    r"\b(?P<scheme>(?i:basic|bearer))\s+"
    r"(?P<value>[A-Za-z0-9+/_.~-](?=[a-z]*[0-9A-Z+/_~-])[A-Za-z0-9+/_.~-]{7,}=*)"
)
"""A credential without its header name: ``Basic <base64>``, ``Bearer <token>`` (a token
mixes case, digits or symbols: "Basic authentication" is a phrase and stays)."""
_OAUTH = re.compile(r"""\bOAuth\s+(?:[\w.-]+\s*=\s*\\?"[^"\\]*\\?"\s*,?\s*)+""", re.IGNORECASE)
"""An OAuth 1.0a header value: ``OAuth oauth_consumer_key="…", oauth_signature="…"``."""
_OAUTH_PARAM = re.compile(
    r"""(?P<name>\boauth_(?:consumer_key|token|signature|nonce|verifier|token_secret))"""
    r"""(?P<sep>\s*=\s*\\?"?)(?P<value>[^"\\&,\s]+)""",
    re.IGNORECASE,
)


def basic_auth_secrets(user: str | None, password: str | None) -> list[str]:
    """The forms a Basic-auth credential takes on the wire (``base64(user:password)``, also
    with the spaces of an application password removed), to register as secrets."""
    if not user or not password:
        return []
    forms = []
    for pwd in dict.fromkeys((password, password.replace(" ", ""))):
        forms.append(base64.b64encode(f"{user}:{pwd}".encode()).decode("ascii"))
    return forms


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret (and its URL-encoded form) replaced by ``****``, and every
    ``Authorization`` value and ``Basic``/``Bearer``/``OAuth`` credential masked, known or
    not. The one redaction function: errors, stored replies and log lines all go through it.
    """
    for secret in secrets:
        if not secret or len(secret) < _SECRET_MIN_LEN:
            continue
        for form in (secret, quote(secret, safe=""), quote_plus(secret)):
            text = text.replace(form, MASK)
    text = _OAUTH.sub(f"OAuth {MASK} ", text)
    text = _OAUTH_PARAM.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    return _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {MASK}", text)


def detail(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """A service's error text, single-line, redacted and cut to a readable length."""
    if not text:
        return ""
    flat = " ".join(str(text).split())
    flat = redact(flat, secrets)
    return flat if len(flat) <= MAX_DETAIL else flat[: MAX_DETAIL - 1] + "…"


def timeout(connect: float = CONNECT_TIMEOUT, read: float = READ_TIMEOUT) -> httpx.Timeout:
    """Explicit httpx timeouts: connect short, read/write long enough for an upload."""
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header (delta seconds or an HTTP date) into seconds."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def transport_error(exc: Exception, service: str, *, creates: bool = True) -> ChannelError:
    """Classify an httpx transport failure (see the module docstring). Never includes URLs.

    ``creates``: the request makes the post, so a lost answer is :class:`OutcomeUnknown`. For
    reads and harmless preliminary steps (an upload that is at worst left unused) it is
    plainly transient.
    """
    lost = isinstance(exc, httpx.ReadTimeout | httpx.ReadError | httpx.RemoteProtocolError)
    if lost and not creates:
        return TransientError(f"{service} no respondió (tiempo agotado o conexión cortada)")
    if isinstance(exc, httpx.ReadTimeout):
        return OutcomeUnknown(
            f"{service} no respondió a tiempo después de recibir la solicitud; "
            "la publicación pudo haberse creado"
        )
    if lost:
        return OutcomeUnknown(
            f"la conexión con {service} se cortó antes de recibir la respuesta; "
            "la publicación pudo haberse creado"
        )
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientError(f"{service} no aceptó la conexión a tiempo")
    if isinstance(exc, httpx.ConnectError):
        return TransientError(f"no se pudo conectar con {service}")
    if isinstance(exc, httpx.WriteError | httpx.WriteTimeout):
        return TransientError(f"no se pudo terminar de enviar la solicitud a {service}")
    if isinstance(exc, httpx.ProxyError):
        return TransientError(f"el proxy hacia {service} falló")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return Rejected(f"la dirección configurada para {service} no es válida")
    return TransientError(f"error de red con {service} ({type(exc).__name__})")


def status_error(
    status: int,
    *,
    service: str,
    message: str = "",
    retry_after: float | None = None,
    creates: bool = True,
) -> ChannelError:
    """Default mapping of an HTTP error status (see the module docstring)."""
    said = f": {redact(message)}" if message else ""
    if status == 429:
        return RateLimited(f"{service} pidió esperar (límite de solicitudes){said}", retry_after)
    if status == 504 and creates:
        return OutcomeUnknown(
            f"{service} respondió 504 (la pasarela dejó de esperar); "
            "la publicación pudo haberse creado"
        )
    if status >= 500:
        return TransientError(f"{service} falló temporalmente (HTTP {status}){said}", retry_after)
    if status in (401, 403):
        return AuthError(f"{service} rechazó las credenciales (HTTP {status}){said}")
    return Rejected(f"{service} rechazó la publicación (HTTP {status}){said}")


class SecretFilter(logging.Filter):
    """Rewrites log records so no registered secret reaches a handler.

    Installed by :func:`protect_secrets` on the client libraries' loggers; the application
    may also add the shared instance (:data:`SECRET_FILTER`) to its own handlers.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= _SECRET_MIN_LEN)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's problem
            return True
        with self._lock:
            secrets = tuple(self._secrets)
        clean = redact(message, secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # The traceback's last line repeats the exception's message: format it now,
            # redacted, so the handler prints that instead.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted, secrets)
        return True


SECRET_FILTER = SecretFilter()

# Loggers that print request URLs, headers or library objects holding credentials.
_LIBRARY_LOGGERS = (
    "httpx",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.AIORateLimiter",
    "telegram.ext.Application",
    "telegram.ext.Updater",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
    "tweepy.client",
    "tweepy.auth",
    "requests_oauthlib.oauth1_auth",
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
    "urllib3.connectionpool",
)


def protect_secrets(*secrets: str | None) -> None:
    """Register secrets with :data:`SECRET_FILTER` and make sure it guards the libraries'
    loggers (a filter on a logger sees only records created at that logger) and the root
    logger's handlers (which see every propagated record, Pregonero's own included)."""
    SECRET_FILTER.add(*secrets)
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if SECRET_FILTER not in logger.filters:
            logger.addFilter(SECRET_FILTER)
    for handler in logging.getLogger().handlers:
        if SECRET_FILTER not in handler.filters:
            handler.addFilter(SECRET_FILTER)


_TOKEN_IN_URL = re.compile(r"/(?:file/)?bot\d+:[A-Za-z0-9_-]+")


def strip_bot_token(text: str) -> str:
    """Remove a Telegram ``/bot<id>:<secret>`` path segment from any text (defence in depth)."""
    return _TOKEN_IN_URL.sub("/bot****", text)
