"""Every Pregonero setting, read from the environment (prefix ``PREGONERO_``, nested
delimiter ``__``) or a ``.env`` file in the working directory.

The names are the project's public contract (see DESIGN.md). Secrets are ``SecretStr`` so
they print as ``**********`` in every repr, log line and ``status`` output.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

Mode = Literal["live", "outbox"]
DEFAULT_SITE_NAME = "Alcaldía de Bucaramanga"


class TelegramSettings(BaseModel):
    bot_token: SecretStr | None = None
    chat_id: str | None = None
    # NoDecode: "11, 22" is a plain comma-separated list, not JSON
    editors: Annotated[list[int], NoDecode] = Field(default_factory=list)
    api_url: str = "https://api.telegram.org/bot"
    file_url: str | None = None
    mode: Mode | None = None
    webhook_url: str | None = None
    """Public HTTPS URL Telegram posts the bot's updates to; unset: long polling."""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    summary_at: time | None = time(18, 0)
    """Local time of the editors' daily summary; empty: none."""

    @field_validator("summary_at", mode="before")
    @classmethod
    def _no_summary(cls, value: object) -> object:
        return None if value in ("", "off", "no") else value

    @field_validator("editors", mode="before")
    @classmethod
    def _split_editors(cls, value: object) -> object:
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @property
    def resolved_file_url(self) -> str:
        """``__FILE_URL``, or derived from ``__API_URL`` (``…/bot`` → ``…/file/bot``)."""
        if self.file_url:
            return self.file_url
        base = self.api_url.rstrip("/")
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file/bot"

    @property
    def configured(self) -> bool:
        return self.bot_token is not None and bool(self.chat_id)


class XSettings(BaseModel):
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    access_secret: SecretStr | None = None
    api_url: str = "https://api.x.com"
    mode: Mode | None = None

    @property
    def configured(self) -> bool:
        return all((self.api_key, self.api_secret, self.access_token, self.access_secret))


class FacebookSettings(BaseModel):
    page_id: str | None = None
    page_token: SecretStr | None = None
    graph_url: str = "https://graph.facebook.com"
    api_version: str = "v24.0"
    mode: Mode | None = None

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.strip()
        return value if value.startswith("v") else f"v{value}"

    @property
    def configured(self) -> bool:
        return bool(self.page_id) and self.page_token is not None


class WebsiteSettings(BaseModel):
    backend: Literal["static", "wordpress"] = "static"
    output_dir: Path = Path("site")
    base_url: str = "http://localhost:8000/"
    site_name: str = DEFAULT_SITE_NAME
    """The one source of the site's name: website, e-mails, digest, reports, Telegram."""
    wordpress_url: str | None = None
    wordpress_user: str | None = None
    wordpress_app_password: SecretStr | None = None
    page_size: int = Field(default=20, ge=1, le=500)
    regenerate_delay: float = Field(default=0.5, ge=0, le=60)
    mode: Mode | None = None

    @field_validator("base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @property
    def configured(self) -> bool:
        if self.backend == "static":
            return True
        return bool(self.wordpress_url and self.wordpress_user and self.wordpress_app_password)


class SmtpSettings(BaseModel):
    host: str | None = None
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["none", "starttls", "tls"] = "none"
    allow_plain_auth: bool = False
    """Send the user name and password over an unencrypted connection (``security=none``):
    only for a trusted relay on the same machine or network. Off by default: credentials
    go out only over TLS (``starttls``/``tls``)."""
    from_: str | None = Field(default=None, alias="from")
    connections: int = Field(default=4, ge=1, le=64)
    rate: float = Field(default=50.0, gt=0)
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_key: SecretStr | None = None
    """PEM text or a path to the private key; DKIM signs when all three are set."""

    model_config = {"populate_by_name": True}


class MailingSettings(BaseModel):
    mode: Mode | None = None

    @staticmethod
    def configured_with(smtp: SmtpSettings) -> bool:
        return bool(smtp.host and smtp.from_)


class WebSettings(BaseModel):
    public_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)


class IntakeSettings(BaseModel):
    """How the inbox is read. Not in DESIGN.md's table: operational knobs with safe defaults."""

    settle_seconds: float = Field(default=0.3, ge=0, le=60)
    media_grace_seconds: float = Field(default=60.0, ge=0, le=3600)
    max_bytes: int = Field(default=1_000_000, ge=1_000)
    max_media_bytes: int = Field(default=50_000_000, ge=1_000)


class DeliverySettings(BaseModel):
    """Retry policy owned by the dispatcher, the same for every channel."""

    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_base: float = Field(default=2.0, gt=0)
    backoff_max: float = Field(default=900.0, gt=0)
    concurrency: int = Field(default=8, ge=1, le=256)
    timeout: float = Field(default=60.0, gt=0)


class PluginSection(BaseModel):
    """The settings section of a channel added through the ``pregonero.channels`` entry
    point: every ``PREGONERO_<NAME>__<KEY>`` variable (environment or ``.env``), keys in
    lower case. Pregonero cannot know which keys are secrets, so every value but ``mode``
    is kept as a ``SecretStr``: none is ever printed (``status``, logs, errors).

    Mode rule: ``PREGONERO_<NAME>__MODE`` (``live``/``outbox``) when set; else the plugin's
    factory decides when it has a ``has_credentials(section) -> bool`` attribute; else the
    channel is live when any key besides ``MODE`` is set, and in outbox mode otherwise.
    """

    mode: Mode | None = None
    values: dict[str, SecretStr] = Field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of ``PREGONERO_<NAME>__<KEY>`` (``key`` in any case), or ``default``."""
        value = self.values.get(key.lower())
        return default if value is None else value.get_secret_value()

    @property
    def configured(self) -> bool:
        return bool(self.values)


_SECTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _PluginSections(PydanticBaseSettingsSource):
    """Collects ``PREGONERO_<NAME>__<KEY>`` for every ``<NAME>`` that is not a built-in
    setting into ``plugins[<name>]`` (pydantic-settings drops such variables otherwise).
    ``sources`` are read lowest priority first, so the environment overrides ``.env``."""

    def __init__(
        self, settings_cls: type[BaseSettings], sources: tuple[EnvSettingsSource, ...]
    ) -> None:
        super().__init__(settings_cls)
        self._sources = sources

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        known = set(self.settings_cls.model_fields)
        sections: dict[str, dict[str, Any]] = {}
        for source in self._sources:
            prefix = source.env_prefix.lower()
            for name, value in source.env_vars.items():
                name = name.lower()
                if value is None or not name.startswith(prefix):
                    continue
                section, sep, key = name[len(prefix) :].partition("__")
                if not sep or not key or section in known or not _SECTION_NAME.match(section):
                    continue
                entry = sections.setdefault(section, {"values": {}})
                if key == "mode":
                    entry["mode"] = value.strip().lower()
                else:
                    entry["values"][key] = value
        return {"plugins": sections} if sections else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PREGONERO_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    content_dir: Path = Path("content")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    redis_url: str | None = None
    timezone: str = "America/Bogota"
    log_level: str = "INFO"

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    x: XSettings = Field(default_factory=XSettings)
    facebook: FacebookSettings = Field(default_factory=FacebookSettings)
    website: WebsiteSettings = Field(default_factory=WebsiteSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    mailing: MailingSettings = Field(default_factory=MailingSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    plugins: dict[str, PluginSection] = Field(default_factory=dict)
    """Plugin channels' sections, keyed by channel name (see :class:`PluginSection`)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        readers = tuple(
            s for s in (dotenv_settings, env_settings) if isinstance(s, EnvSettingsSource)
        )
        plugins = _PluginSections(settings_cls, readers)
        return init_settings, env_settings, dotenv_settings, plugins, file_secret_settings

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"zona horaria desconocida: {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        db = self.content_dir.resolve().parent / "pregonero.db"
        return f"sqlite:///{db}"

    @property
    def public_url(self) -> str:
        """Where ``serve`` is reachable (the unsubscribe links): ``PREGONERO_WEB__PUBLIC_URL``;
        else the website's origin — except for a local website (``localhost``, a loopback
        address, like the default ``http://localhost:8000/``), where the links can only
        work on this machine anyway: then ``serve``'s own local address,
        ``http://localhost:<PREGONERO_WEB__PORT>`` (8080 by default), so the derived links
        and ``serve`` agree on the port. Live mailing refuses any of these local addresses
        (see ``dispatcher.services.mailing.preflight``)."""
        if self.web.public_url:
            return self.web.public_url.rstrip("/")
        parts = urlsplit(self.website.base_url)
        if is_local_host(parts.hostname or ""):
            host = self.web.host
            if is_local_host(host):
                host = "localhost"
            elif ":" in host:
                host = f"[{host}]"
            return f"http://{host}:{self.web.port}"
        return f"{parts.scheme}://{parts.netloc}"

    def plugin(self, channel: str) -> PluginSection:
        """The settings section of plugin channel ``channel`` (empty when none is set)."""
        return self.plugins.get(channel) or PluginSection()

    def _section(self, channel: str) -> object:
        if channel in self.plugins:
            return self.plugins[channel]
        if channel in type(self).model_fields and channel != "plugins":
            return getattr(self, channel)
        return None

    def channel_configured(self, channel: str) -> bool:
        """Whether ``channel`` has its credentials (a plugin: any key besides ``MODE``)."""
        if channel == "mailing":
            return MailingSettings.configured_with(self.smtp)
        return bool(getattr(self._section(channel), "configured", False))

    def channel_mode(self, channel: str) -> Mode:
        """``live`` where credentials are set, else ``outbox`` — unless set explicitly.
        (A plugin may decide what "credentials" means: ``channels.registry.channel_mode``.)"""
        explicit = getattr(self._section(channel), "mode", None)
        if explicit is not None:
            return explicit
        return "live" if self.channel_configured(channel) else "outbox"


def is_local_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) means this machine: ``localhost``,
    ``*.localhost``, a loopback or the unspecified address."""
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        return True
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable in Spanish."""


def load_settings(**overrides: object) -> Settings:
    """Build :class:`Settings`, turning pydantic's error into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err["loc"][1:] if err["loc"][:1] == ("plugins",) else err["loc"]
            loc = tuple(p for p in loc if p != "values")
            name = "PREGONERO_" + "__".join(str(p).upper() for p in loc)
            secret = any(w in name for w in ("TOKEN", "SECRET", "PASSWORD", "KEY"))
            shown = "" if secret else f" (valor: {err.get('input')!r})"
            lines.append(f"{name}: {err['msg']}{shown}")
        raise SettingsError("Configuración inválida:\n  " + "\n  ".join(lines)) from None
