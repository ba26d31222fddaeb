"""What live mailing checks before it starts: credentials only over TLS, public links.

Every entry point of live e-mail asks :func:`live_mail_problems` first — ``mail send``, a
live ``mailing`` delivery (:class:`~dispatcher.services.mailing.service.CampaignService`),
the scheduled and the bot's bulletin (:func:`require_safe` in ``send_daily_bulletin``) —
and ``channels check`` and ``run`` report the same lines at start. Each problem is one
Spanish sentence naming the setting that fixes it.

- **Credentials in clear**: with ``PREGONERO_SMTP__SECURITY=none`` a user name or password
  would cross the network unencrypted. Refused unless ``PREGONERO_SMTP__ALLOW_PLAIN_AUTH``
  says the relay is trusted (the same machine or a private network); the SMTP client is
  never even built with that combination (:func:`plain_auth_problem` is checked again in
  ``campaign.smtp_client``).
- **Links nobody can open**: the unsubscribe link (``PREGONERO_WEB__PUBLIC_URL``, legally
  required) and, with the static website, the article links and images
  (``PREGONERO_WEBSITE__BASE_URL``) must be ``https`` addresses of a public host — not
  ``localhost``, a loopback, private or link-local address.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from settings import Settings, SmtpSettings, is_local_host


class MailConfigError(ValueError):
    """Live mailing cannot start with these settings; the message is Spanish."""


def plain_auth_problem(smtp: SmtpSettings) -> str | None:
    """Why the SMTP credentials would be sent in clear, or ``None``."""
    has_credentials = bool(smtp.username) or smtp.password is not None
    if smtp.security != "none" or not has_credentials or smtp.allow_plain_auth:
        return None
    return (
        "Las credenciales SMTP (PREGONERO_SMTP__USERNAME/PREGONERO_SMTP__PASSWORD) solo se "
        "envían cifradas y PREGONERO_SMTP__SECURITY=none las mandaría en claro: use "
        "PREGONERO_SMTP__SECURITY=starttls o tls (o, solo para un relé de confianza en "
        "esta máquina o red privada, PREGONERO_SMTP__ALLOW_PLAIN_AUTH=true)."
    )


def _not_public(url: str) -> str | None:
    """Why ``url`` cannot be opened by a reader of the e-mail, or ``None``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or is_local_host(host):
        return "apunta a esta máquina"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and (address.is_private or address.is_link_local):
        return "apunta a una red privada"
    if parts.scheme != "https":
        return "no usa https"
    return None


def link_problems(settings: Settings) -> list[str]:
    """Why the links of a live e-mail would not work for its readers (empty: they will)."""
    problems = []
    public = settings.public_url
    why = _not_public(public)
    if why is not None:
        origin = (
            "PREGONERO_WEB__PUBLIC_URL"
            if settings.web.public_url
            else "PREGONERO_WEB__PUBLIC_URL no está configurada y la dirección derivada"
        )
        problems.append(
            f"El enlace de baja de los correos sería {public}/baja/… ({origin} {why}): "
            "configure PREGONERO_WEB__PUBLIC_URL con la dirección https pública donde "
            "responde `pregonero serve`."
        )
    if settings.website.backend == "static":
        base = settings.website.base_url
        why = _not_public(base)
        if why is not None:
            problems.append(
                f"Los enlaces a las noticias y las imágenes de los correos serían {base}… "
                f"(PREGONERO_WEBSITE__BASE_URL {why}): configure PREGONERO_WEBSITE__BASE_URL "
                "con la dirección https pública del sitio (y PREGONERO_WEB__PUBLIC_URL para "
                "la baja)."
            )
    return problems


def live_mail_problems(settings: Settings) -> list[str]:
    """Every reason live mailing must not start with these settings (empty: it may)."""
    problems = link_problems(settings)
    plain = plain_auth_problem(settings.smtp)
    if plain is not None:
        problems.insert(0, plain)
    return problems


def require_safe(settings: Settings) -> None:
    """Raise :class:`MailConfigError` with every problem when live mailing must not start."""
    problems = live_mail_problems(settings)
    if problems:
        raise MailConfigError(" ".join(problems))
