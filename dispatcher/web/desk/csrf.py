"""CSRF protection for every desk form: a random token kept in the (signed) session and
repeated in a hidden field; a POST whose field does not match is refused with 403.

SameSite=Lax already keeps other sites' form posts from carrying the session cookie; the
token also covers browsers without SameSite and a login form posted from elsewhere.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

FIELD = "csrf"
MAX_UPLOAD = 20 * 1024 * 1024
"""Largest form part accepted (a subscribers CSV)."""


def token(request: Request) -> str:
    """The session's token (made on first use)."""
    value = request.session.get(FIELD)
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(32)
        request.session[FIELD] = value
    return value


def renew(request: Request) -> None:
    """A new token (at login and logout)."""
    request.session[FIELD] = secrets.token_urlsafe(32)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its token matches the session's; else HTTP 403."""
    form = await request.form(max_files=1, max_part_size=MAX_UPLOAD)
    sent = form.get(FIELD)
    expected = request.session.get(FIELD)
    if not isinstance(sent, str) or not isinstance(expected, str) or not expected:
        raise HTTPException(403, "falta el código de seguridad del formulario")
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, "el código de seguridad del formulario no coincide")
    return form
