"""The web desk end to end in a real browser: Playwright drives Debian's chromium against
``pregonero serve`` run for real (a subprocess on a free port) on a temp content folder and
ledger. Two editors approve a piece from two browser sessions (a desktop and a phone) and
``pregonero run --once`` publishes it; strangers are sent to ``/entrar``; a form without its
CSRF token is refused; every page is valid HTML (html5lib, strict) and has no serious or
critical axe-core violation. Full-page screenshots of each page, on a desktop and on a phone,
go to ``tests/artifacts/desk/``."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator

import html5lib
import httpx
import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import ROOT, Workspace, service_missing
from tests.desk_support import PASSWORD
from tests.test_mailing_support import free_port

pytestmark = pytest.mark.slow

ITEM = "2026-11-03-parque-san-pio-reabre"
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "tests" / "artifacts" / "desk"
CHANNELS = ("Sitio web", "Facebook", "X", "Telegram", "Correo")
PAGES = (
    "/escritorio",
    f"/piezas/{ITEM}",
    "/calendario?mes=2026-11",
    "/suscriptores",
    "/canales",
)
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "es-CO"}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "locale": "es-CO",
}


def _chromium(p: Playwright) -> Browser:
    path = shutil.which("chromium")
    if path is None:
        service_missing("chromium no está instalado (apt-get install chromium; .ci/run lo instala)")
        raise AssertionError("unreachable")
    return p.chromium.launch(executable_path=path, args=["--no-sandbox"])


@pytest.fixture
def served(workspace: Workspace) -> Iterator[str]:
    """Two editors, the park bulletin waiting for two approvals, and ``pregonero serve``."""
    plan_file = workspace.content / "plan.yaml"
    plan = yaml.safe_load(plan_file.read_text(encoding="utf-8"))
    plan["kinds"]["boletin"]["approval"] = "required"
    plan["kinds"]["boletin"]["approvers"] = 2
    plan_file.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    port = free_port()
    workspace.env["PREGONERO_WEB__PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    for user, name in (("ana", "Ana Gómez"), ("luis", "Luis Díaz")):
        workspace.cli(
            "editors", "add", user, "--name", name, "--role", "admin",
            "--password-stdin", stdin=PASSWORD, check=True,
        )  # fmt: skip
    workspace.drop_examples([f"{ITEM}.md"])
    workspace.cli("run", "--once", check=True)
    server = workspace.popen("serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/salud", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


def sign_in(page: Page, base: str, user: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/entrar")
    page.get_by_label("Usuario").fill(user)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Entrar").click()


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def csp_errors(context: BrowserContext, errors: list[str] | None = None) -> list[str]:
    """Console errors the pages raise (a CSP refusal of an inline script or style shows here).

    They are appended to ``errors`` when given (so several contexts can share one list)."""
    if errors is None:
        errors = []
    context.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def test_desk_in_a_browser(served: str, workspace: Workspace) -> None:
    base = served
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            _two_editors_publish(browser, base, workspace)
            _strangers_and_csrf(browser, base)
            _valid_and_accessible(browser, base)
        finally:
            browser.close()


def _two_editors_publish(browser: Browser, base: str, workspace: Workspace) -> None:
    ana_ctx = browser.new_context(**DESKTOP)
    errors = csp_errors(ana_ctx)
    ana = ana_ctx.new_page()
    ana.goto(f"{base}/escritorio")
    assert ana.url == f"{base}/entrar?siguiente=/escritorio"
    shoot(ana, "entrar-escritorio")
    sign_in(ana, base, "ana", "no-es-la-clave")
    assert ana.get_by_role("alert").inner_text() == "Usuario o contraseña incorrectos."
    sign_in(ana, base, "ana")
    assert ana.url == f"{base}/escritorio"
    waiting = ana.locator("section.group-espera")
    assert waiting.get_by_role("link", name="El parque San Pío reabre").count() == 1
    shoot(ana, "escritorio-escritorio")

    ana.get_by_role("link", name="El parque San Pío reabre").click()
    assert ana.url == f"{base}/piezas/{ITEM}"
    for channel in CHANNELS:
        assert ana.get_by_role("heading", name=channel, exact=True).is_visible(), channel
    x_preview = ana.locator("article.preview-x")
    assert "de 280 caracteres (cuenta de X)" in x_preview.inner_text()
    image = x_preview.get_by_role("img")
    image.scroll_into_view_if_needed()
    # the picture is served by the desk (its media route): wait for it to arrive, then check
    # that it decoded (a broken image is complete with a natural width of 0)
    image.element_handle().wait_for_element_state("visible")
    ana.wait_for_function("i => i.complete", arg=image.element_handle(), timeout=15_000)
    assert image.evaluate("i => i.naturalWidth > 0")
    site = ana.frame_locator("article.preview-website iframe")
    assert "El parque San Pío reabre" in site.locator("h1").inner_text()
    mail = ana.frame_locator("article.preview-mailing iframe")
    assert "parque San Pío" in mail.locator("body").inner_text()
    assert ana.locator("article.preview-telegram .tg").first.inner_text().strip()
    shoot(ana, "pieza-escritorio")
    ana.get_by_role("button", name="Aprobar").click()
    assert "aprobación registrada (1 de 2)" in ana.get_by_role("status").inner_text()

    ana.goto(f"{base}/escritorio")  # stays open: it must see the second approval arrive

    luis_ctx = browser.new_context(**PHONE)
    csp_errors(luis_ctx, errors)
    luis = luis_ctx.new_page()
    sign_in(luis, base, "luis")
    shoot(luis, "escritorio-telefono")
    luis.goto(f"{base}/piezas/{ITEM}")
    shoot(luis, "pieza-telefono")
    luis.get_by_role("button", name="Aprobar").click()
    assert "aprobada por Ana Gómez, Luis Díaz" in luis.get_by_role("status").inner_text()

    # the first editor's queue refreshes itself (htmx polling) and the piece moves
    ana.locator("section.group-programadas").get_by_role(
        "link", name="El parque San Pío reabre"
    ).wait_for(timeout=20_000)
    assert waiting.get_by_role("link").count() == 0

    workspace.cli("run", "--once", check=True)  # the dispatcher publishes it
    for channel in ("facebook", "x", "telegram"):
        record = json.loads((workspace.outbox / channel / f"{ITEM}.r1.json").read_text("utf-8"))
        assert record["item_id"] == ITEM
    ana.goto(f"{base}/piezas/{ITEM}")
    deliveries = ana.locator(
        "section", has=ana.get_by_role("heading", name="Entregas")
    ).inner_text()
    assert deliveries.count("enviada") >= 4 and "escritorio" in ana.inner_text("body")
    shoot(ana, "pieza-publicada-escritorio")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    ana_ctx.close()
    luis_ctx.close()


def _strangers_and_csrf(browser: Browser, base: str) -> None:
    stranger = browser.new_context(**DESKTOP).new_page()
    for path in PAGES:
        stranger.goto(base + path)
        assert stranger.url.startswith(f"{base}/entrar?siguiente="), path
        assert stranger.get_by_role("heading", name="Entrar al escritorio").is_visible()
    stranger.context.close()

    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    sign_in(page, base, "ana")
    page.goto(f"{base}/piezas/{ITEM}")
    form = page.locator("form[action$='/retirar']")  # the piece is out: it may be withdrawn
    form.get_by_label("Motivo (se publica)").fill("Prueba sin token")
    form.locator("input[name=csrf]").evaluate("i => i.remove()")
    questions: list[str] = []
    page.on("dialog", lambda d: (questions.append(d.message), d.accept()))
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button").click()
    assert questions == ["¿Retirar esta pieza de todos los canales?"]  # asked first
    assert answer.value.status == 403
    assert "Solicitud rechazada" in page.inner_text("h1")
    shoot(page, "csrf-403-escritorio")
    context.close()


def _valid_and_accessible(browser: Browser, base: str) -> None:
    parser = html5lib.HTMLParser(strict=True)
    for name, options in (("escritorio", DESKTOP), ("telefono", PHONE)):
        context = browser.new_context(bypass_csp=True, **options)  # to inject axe-core
        page = context.new_page()
        for path in ("/entrar", *PAGES):
            if path != "/entrar" and "entrar" in page.url:
                sign_in(page, base, "ana")
            page.goto(base + path)
            raw = context.request.get(base + path).text()
            parser.parse(raw)  # raises on the first parse error
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(
                "async () => await axe.run(document, {resultTypes: ['violations']})"
            )
            serious = [
                f"{v['id']}: {v['help']} ({len(v['nodes'])})"
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert not serious, (path, name, serious)
            slug = path.strip("/").split("?")[0].replace("/", "-") or "inicio"
            shoot(page, f"{slug.split('-2026')[0]}-{name}")
        context.close()
