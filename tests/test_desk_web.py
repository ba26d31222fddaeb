"""The web desk over real HTTP (``serve``'s app under uvicorn, httpx): strangers sent to
``/entrar``, signing in and out, the session cookie, CSRF, the login rate limit, security
headers, and each page's forms calling the same services as the bot and the CLI."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatcher.items.localtime import local_time
from dispatcher.ledger.types import ItemStatus
from dispatcher.run.loop import run_once
from dispatcher.services import editors
from dispatcher.services.approvals import approvals_for
from dispatcher.services.mailing.subscribers import csv_text
from dispatcher.web.desk.telegram import telegram_html
from tests.conftest import Workspace
from tests.desk_support import PASSWORD, READY, WAITING, form_token, running_desk, sign_in
from tests.doubles.graph import GraphDouble
from tests.test_mailing_support import free_port

PAGES = (
    "/escritorio",
    "/escritorio/cola",
    f"/piezas/{WAITING}",
    f"/piezas/{WAITING}/marco/mailing",
    f"/piezas/{WAITING}/medios/foto.png",
    "/calendario",
    "/calendario?mes=2026-11",
    "/suscriptores",
    "/suscriptores/exportar",
    "/canales",
    "/salir",
)
FORMS = (
    f"/piezas/{WAITING}/aprobar",
    f"/piezas/{WAITING}/programar",
    f"/piezas/{WAITING}/cancelar",
    f"/piezas/{WAITING}/reintentar",
    f"/piezas/{WAITING}/retirar",
    "/suscriptores/importar",
    "/suscriptores/eliminar",
)


async def test_strangers_are_sent_to_entrar(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as desk, desk.client() as http:
        for path in PAGES:
            answer = await http.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/entrar"), path
        assert (await http.get("/escritorio")).headers["location"] == (
            "/entrar?siguiente=/escritorio"
        )
        for path in FORMS:  # no session: the login comes first (before the CSRF check)
            answer = await http.post(path, data={"csrf": "x"})
            assert answer.status_code == 303 and answer.headers["location"].startswith("/entrar")
        polled = await http.get("/escritorio/cola", headers={"HX-Request": "true"})
        assert polled.status_code == 401 and polled.headers["HX-Redirect"].startswith("/entrar")
        assert (await http.get("/entrar")).status_code == 200
        assert (await http.get("/salud")).json() == {"estado": "ok", "base_de_datos": "ok"}
        assert (await http.get("/baja/no-es-un-token")).status_code == 400
        assert await approvals_for(desk.app.ledger, WAITING) == []


async def test_sign_in_and_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "pregonero.web.desk")
    async with running_desk(tmp_path) as desk, desk.client() as http:
        wrong = await sign_in(http, "ana", "no-es-la-clave")
        assert wrong.status_code == 200 and "Usuario o contraseña incorrectos" in wrong.text
        assert (await http.get("/escritorio")).status_code == 303
        unknown = await sign_in(http, "nadie")
        assert "Usuario o contraseña incorrectos" in unknown.text
        failures = [r.getMessage() for r in caplog.records if "fallido" in r.getMessage()]
        assert len(failures) == 2 and "'ana'" in failures[0] and "127.0.0.1" in failures[0]
        assert all("no-es-la-clave" not in r.getMessage() for r in caplog.records)

        token = await form_token(http, "/entrar")
        ok = await http.post(
            "/entrar",
            data={"usuario": "ANA", "clave": PASSWORD, "csrf": token, "siguiente": "/canales"},
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/canales"
        cookie = ok.headers["set-cookie"]
        assert "pregonero_sesion=" in cookie and "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie and "Secure" not in cookie
        home = await http.get("/escritorio")
        assert home.status_code == 200 and "Ana Gómez" in home.text
        assert "Licitación de vías" in home.text
        assert (await http.get("/entrar")).headers["location"] == "/escritorio"

        token = await form_token(http, "/escritorio")
        out = await http.post("/salir", data={"csrf": token})
        assert out.status_code == 303 and out.headers["location"] == "/entrar"
        assert (await http.get("/escritorio")).status_code == 303

        # only local paths after signing in; a tampered cookie is a stranger
        token = await form_token(http, "/entrar")
        away = await http.post(
            "/entrar",
            data={"usuario": "ana", "clave": PASSWORD, "csrf": token, "siguiente": "//x.example"},
        )
        assert away.headers["location"] == "/escritorio"
        http.cookies.set("pregonero_sesion", '{"u":"ana"}')
        assert (await http.get("/escritorio")).status_code == 303


async def test_secure_cookie_behind_https(tmp_path: Path) -> None:
    public = {"public_url": "https://prensa.example.gov.co"}
    async with running_desk(tmp_path, web=public) as desk, desk.client() as http:
        # httpx keeps a Secure cookie away from http: read the header, not the jar
        answer = await http.get("/entrar")
        cookie = answer.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


async def test_a_removed_editor_is_signed_out(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as desk, desk.client() as http:
        await sign_in(http, "luis")
        assert (await http.get("/escritorio")).status_code == 200
        await editors.remove(desk.app.ledger, "luis")
        assert (await http.get("/escritorio")).status_code == 303


async def test_forms_without_their_token_are_refused(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as desk, desk.client() as http:
        await sign_in(http, "ana")
        for path in FORMS:
            assert (await http.post(path, data={})).status_code == 403, path
            bad = await http.post(path, data={"csrf": "no-es-el-token"})
            assert bad.status_code == 403, path
        refused = await http.post(f"/piezas/{WAITING}/aprobar", data={})
        assert "código de seguridad" in refused.text
        assert await approvals_for(desk.app.ledger, WAITING) == []
        assert (await desk.app.ledger.item(WAITING)).status is ItemStatus.AWAITING_APPROVAL

    async with running_desk(tmp_path / "otro") as desk, desk.client() as http:
        no_token = await http.post("/entrar", data={"usuario": "ana", "clave": PASSWORD})
        assert no_token.status_code == 403


async def test_failed_logins_are_rate_limited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "pregonero.web.desk")
    async with running_desk(tmp_path) as desk, desk.client() as http:
        for _ in range(5):
            assert "incorrectos" in (await sign_in(http, "ana", "adivinando-1")).text
        blocked = await sign_in(http, "ana")  # even the right password, for now
        assert blocked.status_code == 429 and "Demasiados intentos" in blocked.text
        assert blocked.headers["Retry-After"] == "900"
        assert any("bloqueado para 'ana'" in r.getMessage() for r in caplog.records)
        for n in range(14):  # with ana's 5, the address's 19 failures
            await sign_in(http, f"usuario{n}", "x")
        async with desk.client() as other:
            assert (await sign_in(other, "luis")).status_code == 303  # per user: luis may
        await sign_in(http, "luis", "mal")  # the 20th
        async with desk.client() as other:
            assert (await sign_in(other, "luis")).status_code == 429  # per address


async def test_security_headers(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as desk, desk.client() as http:
        login = await http.get("/entrar")
        csp = login.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp and login.headers["x-frame-options"] == "DENY"
        assert login.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in login.text and " style=" not in login.text
        await sign_in(http, "ana")
        frame = await http.get(f"/piezas/{WAITING}/marco/website")
        assert frame.status_code == 200
        assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
        assert "script" not in frame.headers["content-security-policy"]
        assert frame.headers["x-frame-options"] == "SAMEORIGIN"
        page = await http.get(f"/piezas/{WAITING}")
        assert 'sandbox="allow-same-origin"' in page.text
        unsubscribe = await http.get("/baja/x")
        assert unsubscribe.headers["content-security-policy"].startswith("default-src 'none'")
        assert "x-frame-options" not in unsubscribe.headers


async def test_two_editors_approve_from_the_desk_and_it_goes_out(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as desk, desk.client() as ana, desk.client() as luis:
        await sign_in(ana, "ana")
        await sign_in(luis, "luis")
        page = await ana.get(f"/piezas/{WAITING}")
        for channel in ("Sitio web", "Facebook", "X"):
            assert f">{channel}</h3>" in page.text
        assert ">Aprobar</button>" in page.text and "0 de 2" in page.text
        token = await form_token(ana, f"/piezas/{WAITING}")
        first = await ana.post(f"/piezas/{WAITING}/aprobar", data={"csrf": token})
        assert first.status_code == 303
        shown = await ana.get(first.headers["location"])
        assert "aprobación registrada (1 de 2)" in shown.text
        again = await ana.post(f"/piezas/{WAITING}/aprobar", data={"csrf": token})
        assert "ya la había aprobado" in (await ana.get(again.headers["location"])).text

        token = await form_token(luis, f"/piezas/{WAITING}")
        done = await luis.post(f"/piezas/{WAITING}/aprobar", data={"csrf": token})
        assert (
            "aprobada por Ana Gómez, Luis Díaz" in (await luis.get(done.headers["location"])).text
        )
        recorded = await approvals_for(desk.app.ledger, WAITING)
        assert [(a.key, a.via) for a in recorded] == [("ed:ana", "desk"), ("ed:luis", "desk")]

        await run_once(desk.app)  # the dispatcher's pass: what `pregonero run` does
        page = await ana.get(f"/piezas/{WAITING}")
        assert "enviada" in page.text and "n.º 1" in page.text
        queue = await ana.get("/escritorio/cola")
        assert "Enviadas hoy" in queue.text and WAITING in queue.text

        # withdraw: the kind needs two editors' approval for it too
        token = await form_token(ana, f"/piezas/{WAITING}")
        asked = await ana.post(
            f"/piezas/{WAITING}/retirar", data={"csrf": token, "motivo": "Cifras erradas"}
        )
        page = await ana.get(asked.headers["location"])
        assert "Retiro de licitacion-vias registrado" in page.text
        assert "Aprobar el retiro</button>" in page.text
        await ana.post(f"/piezas/{WAITING}/aprobar", data={"csrf": token})
        token = await form_token(luis, f"/piezas/{WAITING}")
        gone = await luis.post(f"/piezas/{WAITING}/aprobar", data={"csrf": token})
        assert "retirada: se quita de" in (await luis.get(gone.headers["location"])).text
        assert (await desk.app.ledger.item(WAITING)).status is ItemStatus.WITHDRAWN


async def test_schedule_cancel_and_retry(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as desk, desk.client() as http:
        await sign_in(http, "luis")
        token = await form_token(http, f"/piezas/{READY}")
        past = await http.post(
            f"/piezas/{READY}/programar",
            data={"csrf": token, "fecha": "2020-01-01", "hora": "08:00"},
        )
        assert "ya pasó" in (await http.get(past.headers["location"])).text
        later = await http.post(
            f"/piezas/{READY}/programar",
            data={"csrf": token, "fecha": "2099-03-02", "hora": "07:30"},
        )
        assert (
            "programada para el 2099-03-02 07:30"
            in (await http.get(later.headers["location"])).text
        )
        item = await desk.app.ledger.item(READY)
        assert item.publish_at is not None
        assert item.publish_at.astimezone(desk.app.settings.tz).hour == 7
        queue = await http.get("/escritorio")
        assert "sale el 2099-03-02 07:30" in queue.text

        cancelled = await http.post(f"/piezas/{READY}/cancelar", data={"csrf": token})
        assert "cancelada" in (await http.get(cancelled.headers["location"])).text
        page = await http.get(f"/piezas/{READY}")
        assert ">Reintentar Sitio web</button>" in page.text
        retried = await http.post(
            f"/piezas/{READY}/reintentar", data={"csrf": token, "canal": "website"}
        )
        assert (
            "Reintento programado para: website"
            in (await http.get(retried.headers["location"])).text
        )
        missing = await http.get("/piezas/no-existe")
        assert missing.status_code == 404 and "No existe esa pieza" in missing.text


async def test_subscribers_page(tmp_path: Path) -> None:
    rows = [
        ("email", "name", "audiences", "consent_at", "consent_source"),
        ("maria@example.org", "=HYPERLINK(1)", "periodistas", "2026-01-10", "formulario web"),
        ("pedro@example.org", "Pedro", "ciudadania;periodistas", "2026-02-01", "evento"),
        ("no-es-correo", "X", "ciudadania", "2026-02-01", "evento"),
    ]
    async with running_desk(tmp_path) as desk:
        async with desk.client() as luis:
            await sign_in(luis, "luis")
            token = await form_token(luis, "/suscriptores")
            files = {"archivo": ("lista.csv", csv_text(rows).encode(), "text/csv")}
            denied = await luis.post("/suscriptores/importar", data={"csrf": token}, files=files)
            assert denied.status_code == 403 and "administrador" in denied.text
            assert (await luis.get("/suscriptores/exportar")).status_code == 403
            erase = await luis.post(
                "/suscriptores/eliminar", data={"csrf": token, "email": "x@y.co"}
            )
            assert erase.status_code == 403

        async with desk.client() as ana:
            await sign_in(ana, "ana")
            token = await form_token(ana, "/suscriptores")
            done = await ana.post("/suscriptores/importar", data={"csrf": token}, files=files)
            assert done.status_code == 200
            assert "Resultado de la importación" in done.text and "línea 4" in done.text
            page = await ana.get("/suscriptores")
            assert '<th scope="row">periodistas</th><td>2</td>' in page.text
            found = await ana.get("/suscriptores", params={"q": "maria"})
            assert "maria@example.org" in found.text and "pedro@" not in found.text
            export = await ana.get("/suscriptores/exportar")
            assert export.headers["content-type"].startswith("text/csv")
            assert "'=HYPERLINK(1)" in export.text  # formula-injection safe, like the CLI
            erased = await ana.post(
                "/suscriptores/eliminar", data={"csrf": token, "email": "maria@example.org"}
            )
            assert "Datos eliminados" in (await ana.get(erased.headers["location"])).text
            assert "maria@" not in (await ana.get("/suscriptores", params={"q": "maria"})).text


async def test_calendar_and_channels(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as desk, desk.client() as http:
        await sign_in(http, "luis")
        await run_once(desk.app)
        today = desk.app.clock().astimezone(desk.app.settings.tz)
        page = await http.get("/calendario")
        assert page.status_code == 200
        assert "Nueva ciclorruta en la carrera 27" in page.text  # published today
        # Mesa Pública airs every Thursday at 07:00: the calendar draws it as a programme
        assert '<li class="tag prog">07:00 Mesa Pública (programa radial)</li>' in page.text
        assert "Boletín" in page.text and "Cumplimiento" in page.text
        other = await http.get("/calendario", params={"mes": "2026-11"})
        assert "Calendario de noviembre de 2026" in other.text
        following = (today.replace(day=28) + timedelta(days=5)).strftime("%Y-%m")
        assert f'href="/calendario?mes={following}" rel="next"' in page.text
        assert (await http.get("/calendario", params={"mes": "noviembre"})).status_code == 400

        channels = await http.get("/canales")
        for name in ("Sitio web", "Facebook", "X", "Telegram", "Correo"):
            assert f'<th scope="row">{name}</th>' in channels.text
        assert "bandeja de salida" in channels.text


def test_telegram_previews_keep_only_telegram_markup() -> None:
    shown = str(
        telegram_html(
            "<b>Hoy</b> <script>alert(1)</script><img src=x onerror=alert(2)>"
            '<a href="javascript:alert(3)">a</a> <a href="https://x.example/">b</a>'
        )
    )
    assert "<b>Hoy</b>" in shown and "script" not in shown and "<img" not in shown
    assert "javascript:" not in shown and 'href="https://x.example/"' in shown


async def test_media_only_what_the_item_names(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as desk, desk.client() as http:
        await sign_in(http, "luis")
        for path in ("../../pregonero.db", "..%2F..%2Fpregonero.db", "foto.png", "/etc/passwd"):
            answer = await http.get(f"/piezas/{WAITING}/medios/{path}")
            assert answer.status_code == 404, path
            assert b"SQLite" not in answer.content
        assert (await http.get(f"/piezas/{WAITING}/marco/x")).status_code == 404
        assert (await http.get("/piezas/no-existe/marco/website")).status_code == 404


def test_serve_refuses_a_bad_plan_with_its_message(workspace: Workspace) -> None:
    (workspace.content / "plan.yaml").write_text("kinds: [\n", encoding="utf-8")
    answer = workspace.cli("serve", "--port", str(free_port()), timeout=60)
    assert answer.returncode == 2
    assert "El plan no es válido" in answer.stderr and "Traceback" not in answer.stderr


async def test_channels_page_checks_live_channels_and_shows_the_token_expiry(
    tmp_path: Path, graph_double: GraphDouble
) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    graph_double.expire_token(expires)
    async with (
        running_desk(tmp_path, **graph_double.settings_overrides()) as desk,
        desk.client() as http,
    ):
        await sign_in(http, "luis")
        page = (await http.get("/canales")).text
        row = page[page.index('<th scope="row">Facebook</th>') :].split("</tr>")[0]
        assert "<td>en vivo</td>" in row and "OK — " in row
        shown = local_time(expires, desk.app.settings.tz)
        assert f'<span class="state-failed">{shown}</span>' in row  # within a week: warned
        broken = graph_double.settings_overrides()
        broken["facebook"]["page_token"] = "no-es-el-token"
    async with (
        running_desk(tmp_path / "roto", **broken) as desk,
        desk.client() as http,
    ):
        await sign_in(http, "luis")
        page = (await http.get("/canales")).text
        row = page[page.index('<th scope="row">Facebook</th>') :].split("</tr>")[0]
        assert "ERROR — " in row and "no-es-el-token" not in page
