"""The channel adapter contract, the rendered ``Post`` an adapter receives, the ``Receipt``
it returns, and the error tree every adapter maps its library's failures onto.

Error tree (why each is, or is not, retried)::

    ChannelError                 base; never raised directly
    ├── TransientError           may succeed later: the dispatcher retries with backoff,
    │   │                        honouring ``retry_after``, up to the attempt limit
    │   └── RateLimited          the service said "slow down" (HTTP 429, flood wait)
    ├── OutcomeUnknown           the request may have reached the service but the answer was
    │                            lost (read timeout, reset after sending): a social post is
    │                            never re-sent blindly; an idempotent channel is retried
    └── PermanentError           will not succeed by retrying: the delivery fails at once
        ├── AuthError            credentials missing, wrong, expired or lacking permission
        └── Rejected             the service refused this content (400, duplicate, too long)

Adapters raise these from one mapping function each, ``raise … from exc``, and never put a
token or password in a message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import jinja2

    from channels._fs import FileWorker


class ChannelError(Exception):
    """Base of every channel failure. ``reason`` is a short Spanish text for editors."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(ChannelError):
    """Might work later (5xx, 429, connection refused, DNS, timeout before sending).

    Retried by the dispatcher after ``retry_after`` seconds if the service said so,
    otherwise after exponential backoff with jitter.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The service asked us to slow down; ``retry_after`` is its wait when it gave one."""


class OutcomeUnknown(ChannelError):
    """The request left us and no answer came back: the post may or may not exist.

    Not retried for channels whose publish is not idempotent (social networks): the
    delivery becomes ``unknown`` and a human decides with ``retry``.
    """


class PermanentError(ChannelError):
    """Retrying will not help; the delivery fails and editors are told why."""


class AuthError(PermanentError):
    """Credentials are missing, invalid, expired or lack a permission."""


class Rejected(PermanentError):
    """The service refused this particular post (bad request, duplicate, blocked)."""


@dataclass(frozen=True)
class Media:
    """A file that travels with a post (image or attachment), already inside the archive."""

    path: Path
    alt: str = ""
    mime: str = "application/octet-stream"

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Post:
    """One item rendered for one channel. Adapters deliver it; they never re-render it.

    ``text`` is the channel's main body in the channel's format (HTML for ``website`` and
    ``telegram``, plain text for ``x`` and ``facebook``). ``parts`` holds the channel's
    extra rendered pieces (``caption`` and ``follow_up`` for Telegram, ``subject`` and
    ``html`` for mail, ``page`` for the website). ``meta`` holds plain facts about the item
    (kind label, dates, tags) that an adapter may need for structure, not for wording.
    """

    item_id: str
    channel: str
    kind: str
    title: str
    text: str
    summary: str = ""
    url: str | None = None
    image: Media | None = None
    attachments: tuple[Media, ...] = ()
    video: str | None = None
    parts: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    published_at: datetime | None = None
    revision: int = 1
    remote_id: str | None = None
    """The remote id of the previous revision's delivery, for updates (corrections)."""


@dataclass(frozen=True)
class Receipt:
    """What the service answered: its id for the post and a public URL when there is one."""

    remote_id: str
    url: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of ``channels check`` for one channel, in Spanish."""

    ok: bool
    message: str
    expires_at: datetime | None = None
    """When the credential stops working, when the service says (Facebook's page token)."""


@runtime_checkable
class Adapter(Protocol):
    """A channel adapter. Built as ``factory(settings, context)`` (a :class:`ChannelContext`),
    used from asyncio.

    ``idempotent`` tells the dispatcher whether re-sending after an unknown outcome is
    harmless (a static page rewrite) or would double-post (a tweet).
    """

    @property
    def name(self) -> str: ...

    @property
    def idempotent(self) -> bool: ...

    async def publish(self, post: Post) -> Receipt: ...

    async def check(self) -> CheckResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Updatable(Protocol):
    """An adapter whose service lets a published post be corrected (``update``).

    ``update(receipt, post)`` brings the post named by ``receipt`` (the original
    publication's remote id and URL) to the newer revision ``post``: an edit in place
    (Facebook, Telegram, WordPress, the static site) or, where the service cannot edit, a
    new message that says so (X's reply "Corrección: …"). It returns the receipt of what
    now carries the correction. ``update_idempotent`` tells the dispatcher whether doing it
    twice is harmless (an edit) or would post twice (a reply)."""

    @property
    def update_idempotent(self) -> bool: ...

    async def update(self, receipt: Receipt, post: Post) -> Receipt: ...


@runtime_checkable
class Withdrawable(Protocol):
    """An adapter whose service lets a published post be taken down (``withdraw``).

    ``receipt`` names the original publication (``remote_id``, ``url``); its ``detail``
    carries what the withdrawal needs beside it: ``item_id``, ``title``, ``reason`` (the
    editor's words), ``withdrawn_at`` (ISO 8601) and ``related`` (remote ids of the
    channel's other messages of the item: X's correction replies, the call ahead of an
    event). A post that is already gone counts as withdrawn: doing it twice is harmless."""

    async def withdraw(self, receipt: Receipt) -> Receipt: ...


class MailService(Protocol):
    """The core's campaign service, handed to the ``mailing`` channel through its context:
    it owns the per-recipient rows in the ledger, the audiences and the SMTP pool, so the
    channel never opens a ledger or loads the plan of its own."""

    async def publish(self, post: Post) -> Receipt: ...

    async def update(self, receipt: Receipt, post: Post) -> Receipt:
        """A correction notice to the item's audiences (the plan's ``corrections: mail``)."""
        ...

    async def withdraw(self, receipt: Receipt) -> Receipt:
        """The cancellation of a withdrawn press call (``METHOD:CANCEL``) to those invited."""
        ...

    async def check(self) -> CheckResult: ...


@dataclass(frozen=True)
class ChannelContext:
    """What an adapter is handed when it is built, beside the settings: facts with one
    source in the core and the ledger-facing services a channel needs. A channel never
    imports ``dispatcher``: everything it needs from the core comes through here.

    ``site_name`` is ``PREGONERO_WEBSITE__SITE_NAME`` (the one source of the name);
    ``clock`` returns the current aware time; ``templates`` is the renderer's jinja2
    environment (user template folders first, then the built-in ones; the ``fecha`` filter
    in the configured time zone), which the static site uses for its page layouts;
    ``mail`` is the core's campaign service for the ``mailing`` channel; ``files`` the
    app's one thread for the file-writing channels' work (:class:`channels._fs.FileWorker`;
    closed by the app, not by the adapters).
    """

    site_name: str
    clock: Callable[[], datetime]
    templates: jinja2.Environment | None = None
    mail: MailService | None = None
    files: FileWorker | None = None
