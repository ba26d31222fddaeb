"""The campaign message (built once, spliced per recipient), tokens and DKIM."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dispatcher.render import renderer as render
from dispatcher.services.mailing.message import DkimKey, MailContent, MessageTemplate, Sender
from dispatcher.services.mailing.tokens import email_hash, make_token, read_token

P = render.UNSUBSCRIBE_PLACEHOLDER
KEY = b"clave-de-prueba"
LONG_PUBLIC = "https://pregonero.alcaldia-de-bucaramanga.gov.co/oficina/prensa/servicios/correo"


def _template(
    text: str, html: str, *, base: str = "https://pregonero.bucaramanga.gov.co", **kw: object
) -> MessageTemplate:
    return MessageTemplate(
        MailContent("Boletín: el parque San Pío reabre — ñandú", text, html),
        sender=Sender.parse("Prensa Alcaldía <prensa@bucaramanga.gov.co>"),
        list_id="boletin.bucaramanga.gov.co",
        list_name="Boletín de prensa",
        unsubscribe_base=base,
        nonce="c0ffee",
        date=datetime(2026, 11, 25, 17, 0, tzinfo=UTC),
        **kw,  # type: ignore[arg-type]
    )


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_spliced_message_is_a_valid_bulk_mail_for_each_recipient() -> None:
    text = "Señoras y señores:\n\n" + "Texto del boletín con tildes: acción, niño. " * 12
    text += f"\n.línea que empieza con punto\nPara darse de baja: {P}\n"
    html = "<p>" + "Párrafo largo con <b>énfasis</b>. " * 20 + f'</p><p><a href="{P}">Baja</a></p>'
    template = _template(text, html)
    for rid, subscriber, to in ((7, 41, "ana@example.org"), (12345, 99, "luis@example.net")):
        token = make_token(KEY, subscriber)
        raw = template.render(to, rid, token)
        msg = _parse(raw)
        link = f"https://pregonero.bucaramanga.gov.co/baja/{token}"
        assert msg["To"] == to
        assert msg["From"] == "Prensa Alcaldía <prensa@bucaramanga.gov.co>"
        assert msg["Subject"] == "Boletín: el parque San Pío reabre — ñandú"
        assert msg["Message-ID"] == f"<c0ffee.{rid}@bucaramanga.gov.co>"
        assert msg["Date"] == "Wed, 25 Nov 2026 17:00:00 +0000"
        assert msg["List-Id"] == "Boletín de prensa <boletin.bucaramanga.gov.co>"
        assert msg["List-Unsubscribe"] == (
            f"<{link}>, <mailto:prensa@bucaramanga.gov.co?subject=baja>"
        )
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_content_type() == "multipart/alternative"
        plain, rich = msg.iter_parts()
        assert plain.get_content_type() == "text/plain"
        assert rich.get_content_type() == "text/html"
        body = plain.get_content()
        assert body.replace("\r\n", "\n") == text.replace(P, link)
        assert rich.get_content().replace("\r\n", "\n") == html.replace(P, link)
        for line in raw.split(b"\r\n"):
            assert len(line) <= 998
        in_body = raw.split(b"\r\n\r\n", 1)[1]
        assert max(len(line) for line in in_body.split(b"\r\n")) <= 76  # quoted-printable
        assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only


def test_long_public_url_and_several_links_still_fit_the_line_limit() -> None:
    template = _template(f"uno {P} dos {P}", f"<a href='{P}'>a</a>{P}", base=LONG_PUBLIC)
    token = make_token(KEY, 123456789012)
    raw = template.render("x@example.org", 1, token)
    plain, rich = _parse(raw).iter_parts()
    link = f"{LONG_PUBLIC}/baja/{token}"
    assert plain.get_content().replace("\r\n", "\n") == f"uno {link} dos {link}"
    assert rich.get_content().count(link) == 2
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_wire_form_is_dot_stuffed_and_terminated() -> None:
    template = _template(f".empieza con punto\n{P}", f"<p>{P}</p>")
    token = make_token(KEY, 5)
    plain = template.render("a@example.org", 3, token)
    wire = template.wire("a@example.org", 3, token)
    assert wire.endswith(b"\r\n.\r\n")
    assert wire[:-3].replace(b"\r\n..", b"\r\n.") == plain
    assert re.search(rb"\r\n\.[^.]", wire[:-3]) is None


def test_bodies_without_a_link_get_a_visible_unsubscribe_footer() -> None:
    raw = _template("Solo texto.", "<p>Solo HTML.</p>").render("a@example.org", 1, "1.x")
    plain, rich = _parse(raw).iter_parts()
    assert "Para dejar de recibir estos correos: https://" in plain.get_content()
    assert "Cancelar la suscripción</a>" in rich.get_content()


def test_tokens_resist_tampering() -> None:
    token = make_token(KEY, 42)
    assert read_token(KEY, token) == 42
    assert read_token(b"otra-clave", token) is None
    assert read_token(KEY, token.replace("42.", "43.", 1)) is None
    assert read_token(KEY, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    day, signature = token.split(".")[1:]
    assert read_token(KEY, f"42.{int(day) + 1}.{signature}") is None  # the date is signed
    for junk in ("", "42", "42.", "x.AAAAAAAAAAAAAAAAAAAA", f"0042.{day}.{signature}"):
        assert read_token(KEY, junk) is None
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[A-Za-z0-9_-]{20}", token)
    assert email_hash(KEY, "a@example.org") != email_hash(b"k2", "a@example.org")


def test_dkim_signature_covers_both_list_headers_and_verifies() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"pregonero._domainkey.bucaramanga.gov.co."
        return record

    key = DkimKey(selector="pregonero", domain="bucaramanga.gov.co", private_key=pem)
    template = _template(f"Hola {P}", f"<p>{P}</p>", dkim=key)
    raw = template.render("ana@example.org", 9, make_token(KEY, 9))
    signature = _parse(raw)["DKIM-Signature"]
    signed = re.search(r"h=([^;]+)", str(signature))
    assert signed is not None
    names = {h.strip().lower() for h in signed[1].replace("\r\n", "").split(":")}
    assert {"list-unsubscribe", "list-unsubscribe-post", "list-id", "from"} <= names
    assert dkim.verify(raw, dnsfunc=dns)
    wire = template.wire("ana@example.org", 9, make_token(KEY, 9))
    assert dkim.verify(wire[:-3].replace(b"\r\n..", b"\r\n."), dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"Hola", b"Chao"), dnsfunc=dns)


def test_dkim_key_from_settings_accepts_pem_or_a_path(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pydantic import SecretStr

    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
    smtp = SimpleNamespace(
        dkim_selector="pregonero", dkim_key=SecretStr(pem), dkim_domain=None,
        from_="Prensa <prensa@bucaramanga.gov.co>",
    )  # fmt: skip
    key = DkimKey.from_settings(SimpleNamespace(smtp=smtp))  # type: ignore[arg-type]
    assert key == DkimKey("pregonero", "bucaramanga.gov.co", pem.encode())
    path = tmp_path / "dkim.pem"
    path.write_text(pem)
    smtp.dkim_key = SecretStr(str(path))
    smtp.dkim_domain = "prensa.bucaramanga.gov.co"
    key = DkimKey.from_settings(SimpleNamespace(smtp=smtp))  # type: ignore[arg-type]
    assert key is not None and key.private_key == pem.encode()
    assert key.domain == "prensa.bucaramanga.gov.co"
    smtp.dkim_selector = None
    assert DkimKey.from_settings(SimpleNamespace(smtp=smtp)) is None  # type: ignore[arg-type]
