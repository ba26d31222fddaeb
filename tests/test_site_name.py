"""``PREGONERO_WEBSITE__SITE_NAME`` is the one source of the site's name: the website, a
Telegram post, an e-mail and the plan report all carry the configured name (the real CLI)."""

from __future__ import annotations

from tests.conftest import Workspace

NAME = "Municipio de Pruebas del Norte"
DEFAULT_SIGNATURE = "Alcaldía de Bucaramanga · Oficina de Prensa"
BOLETIN = "2026-11-03-parque-san-pio-reabre"
RUEDA = "2026-11-17-rueda-de-prensa-plan-navidad-segura"


def test_custom_site_name_reaches_every_channel_and_the_report(workspace: Workspace) -> None:
    workspace.env["PREGONERO_WEBSITE__SITE_NAME"] = NAME
    workspace.drop_examples([f"{BOLETIN}.md", f"{RUEDA}.md"])
    workspace.cli("run", "--once", check=True)

    page = (workspace.site / "2026" / "11" / BOLETIN / "index.html").read_text("utf-8")
    index = (workspace.site / "index.html").read_text("utf-8")
    feed = (workspace.site / "feed.xml").read_text("utf-8")
    assert "<title>El parque San Pío" in page and f"· {NAME}</title>" in page
    assert f"<title>{NAME} · Noticias</title>" in index
    assert f"<title>{NAME}</title>" in feed
    for text in (page, index):
        assert DEFAULT_SIGNATURE not in text

    telegram = sorted((workspace.outbox / "telegram").glob(f"{RUEDA}.r1*.html"))
    assert telegram, "the press conference call went to Telegram"
    for post in telegram:
        assert f"<b>Convoca:</b> {NAME}" in post.read_text("utf-8")

    mails = sorted((workspace.outbox / "mailing").glob("*.html"))
    assert mails, "the e-mails were rendered"
    for mail in mails:
        html = mail.read_text("utf-8")
        assert f"{NAME} · Oficina de Prensa y Comunicaciones" in html
        assert DEFAULT_SIGNATURE not in html

    workspace.cli("plan", "report", "--month", "2026-11", check=True)
    report = (workspace.content / "reports" / "plan-2026-11.html").read_text("utf-8")
    assert f"{NAME} · Oficina de Prensa y Comunicaciones" in report
    assert DEFAULT_SIGNATURE not in report
