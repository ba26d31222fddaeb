"""The desk's templates (``templates/desk/``, jinja2 with autoescape) and how a page is
answered: the signed-in editor, the form token and the one-shot notice go into every page."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from dispatcher.items.localtime import local_time
from dispatcher.services.approvals import ACTION_ES as APPROVAL_ACTION_ES
from dispatcher.web.desk import csrf

LOCALE = "es_CO"
STATE_ES = {
    "pending": "pendiente",
    "sending": "enviando",
    "sent": "enviada",
    "failed": "falló",
    "retry_wait": "reintento programado",
    "unknown": "resultado desconocido",
    "cancelled": "cancelada",
    "waiting_bulletin": "espera el boletín",
    "ready": "lista",
    "awaiting_approval": "espera aprobación",
    "withdrawn": "retirada",
}
VIA_ES = {"bot": "bot", "desk": "escritorio", "cli": "línea de comandos"}
# What a delivery does (DeliveryAction) and how a revision arrived (RevisionOutcome);
# the editors' decisions have their own wording (``decision``, APPROVAL_ACTION_ES).
ACTION_ES = {
    "publish": "publicación",
    "update": "actualización",
    "early": "convocatoria",
    "correction": "corrección",
    "withdraw": "retiro",
    "new": "nueva",
    "duplicate": "duplicado",
}
CHANNEL_ES = {
    "website": "Sitio web",
    "facebook": "Facebook",
    "x": "X",
    "telegram": "Telegram",
    "mailing": "Correo",
}


def environment(templates: Path, tz: ZoneInfo, site_name: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def when(moment: datetime | None) -> str:
        return local_time(moment, tz)

    def day(value: date, pattern: str = "EEEE d 'de' MMMM") -> str:
        return format_date(value, pattern, locale=LOCALE)

    env.filters.update(
        when=when,
        day=day,
        state=lambda s: STATE_ES.get(str(s), str(s)),
        via=lambda s: VIA_ES.get(str(s), str(s)),
        action=lambda s: ACTION_ES.get(str(s), str(s)),
        decision=lambda s: APPROVAL_ACTION_ES.get(str(s), str(s)),
        channel=lambda s: CHANNEL_ES.get(str(s), str(s)),
    )
    env.globals["site_name"] = site_name
    return env


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/desk/<template>`` for this request."""
    env: jinja2.Environment = request.app.state.desk_templates
    context.setdefault("editor", getattr(request.state, "editor", None))
    context.setdefault("title", "")
    body = env.get_template(template).render(
        request=request,
        csrf_field=csrf.FIELD,
        csrf_token=csrf.token(request),
        notice=request.session.pop("notice", None),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status)


def fragment(request: Request, template: str, **context: Any) -> HTMLResponse:
    """A piece of a page (htmx), without the layout."""
    env: jinja2.Environment = request.app.state.desk_templates
    return HTMLResponse(env.get_template(template).render(request=request, **context))


def back(request: Request, to: str, notice: str | None = None) -> RedirectResponse:
    """303 to ``to`` (after a POST), with a notice for the next page."""
    if notice:
        request.session["notice"] = notice
    return RedirectResponse(to, status_code=303)


def refused(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return page(request, "error.html.j2", status, title=title, message=message)
