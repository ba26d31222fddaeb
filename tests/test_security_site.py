"""Security issue 10, the channels/site side: findings 4 (stored XSS through link rewriting),
8 (Authorization values echoed by a server) and 13 (the site's state in the public folder).

Every attack goes through the real code: the renderer, the static site writing real files,
the WordPress adapter against the WordPress double over real HTTP, ``pregonero run --once``.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
import sqlite3
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest

from channels import _html
from channels._html import _clean_email_parsed, clean_email
from channels._http import basic_auth_secrets, detail, redact, status_error
from channels.static_site import StaticSiteAdapter
from channels.wordpress import WordPressAdapter
from dispatcher.items.model import ContentItem, FrontMatter
from dispatcher.render.renderer import Renderer
from settings import Settings
from tests.channel_support import channel_context
from tests.conftest import EXAMPLES, Workspace
from tests.doubles.base import Request, Response
from tests.doubles.config import live_settings
from tests.doubles.wordpress import WordPressDouble

TZ = ZoneInfo("America/Bogota")
BASE = "https://prensa.example.gov.co/noticias/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ATOM = "{http://www.w3.org/2005/Atom}"

# -------------------------------------------------------------------- finding 4

ATTACKS = {
    # the audit's body: an alt text that a regex over the serialised HTML read as ``src``
    "alt-single-quotes": "![foto src='x onload=alert(document.domain) ' b](https://example.org/logo.png)",
    # the same against a media link the backends do rewrite (the feed, WordPress)
    "alt-local-media": "![foto src='media/foto.png' onerror=alert(1) x='](media/foto.png)",
    "alt-double-quotes": '![foto src="x onload=alert(1) " b](media/foto.png)',
    "alt-entities": "![foto src=&#39;x onerror=alert(1) &#39; b](media/foto.png)",
    "link-title": "[texto](media/foto.png \"t href='x onmouseover=alert(1) '\")",
    "javascript-link": "[clic](javascript:alert(1)) [otro](JaVaScRiPt:alert(2)) "
    "[ent](&#106;avascript:alert(3)) <a href=' javascript:alert(4)'>raw</a>",
    "raw-img-srcset": '<img src="media/foto.png" srcset="javascript:alert(1) 1x, x.png 2x" '
    'onerror="alert(1)"><img src=x onerror=alert(2)//>',
    "raw-svg-script": "<svg><script>alert(1)</script></svg><iframe src='javascript:alert(1)'>",
}
URL_ATTRIBUTES = frozenset(
    {"href", "src", "srcset", "action", "formaction", "poster", "background", "cite", "data"}
)


_SPACE = " \t\n\f\r"


def start_tags(markup: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every start tag with its attributes, tokenized the way the HTML standard's tokenizer
    (every browser) reads them — including malformed tags that Python's ``html.parser``
    gives up on and treats as text. Comments are skipped; everything else is scanned, so a
    tag written inside text counts too (stricter than a browser, never laxer)."""
    tags: list[tuple[str, list[tuple[str, str]]]] = []
    i, n = 0, len(markup)
    while (i := markup.find("<", i)) >= 0:
        if markup.startswith("<!--", i):
            end = markup.find("-->", i + 4)
            i = n if end < 0 else end + 3
            continue
        if i + 1 >= n or not markup[i + 1].isalpha():
            i += 1
            continue
        j = i + 1
        while j < n and markup[j] not in _SPACE + "/>":
            j += 1
        name, attrs = markup[i + 1 : j].lower(), []
        while j < n:
            if markup[j] in _SPACE + "/":
                j += 1
                continue
            if markup[j] == ">":
                j += 1
                break
            k = j + 1  # an attribute name (its first character may even be "=")
            while k < n and markup[k] not in _SPACE + "/>=":
                k += 1
            attr = markup[j:k].lower()
            while k < n and markup[k] in _SPACE:
                k += 1
            value = ""
            if k < n and markup[k] == "=":
                k += 1
                while k < n and markup[k] in _SPACE:
                    k += 1
                if k < n and markup[k] in "\"'":
                    close = markup.find(markup[k], k + 1)
                    close = n if close < 0 else close
                    value, k = markup[k + 1 : close], close + 1
                else:
                    end = k
                    while end < n and markup[end] not in _SPACE + ">":
                        end += 1
                    value, k = markup[k:end], end
            attrs.append((attr, html.unescape(value)))
            j = k
        tags.append((name, attrs))
        i = j
    return tags


def dangers(markup: str) -> list[str]:
    """Event-handler attributes, ``javascript:`` URLs and script-capable tags in ``markup``."""
    found = []
    for tag, attrs in start_tags(markup):
        if tag in ("script", "iframe", "svg", "object", "embed", "math"):
            found.append(f"<{tag}>")
        for name, value in attrs:
            squeezed = "".join(value.split()).lower()
            if name.startswith("on") or (
                name in URL_ATTRIBUTES and ("javascript:" in squeezed or "vbscript:" in squeezed)
            ):
                found.append(f"<{tag} {name}={value!r}>")
    return found


def xml_dangers(xml: bytes) -> list[str]:
    """The same over an XML document: every element's attributes, and the HTML carried as
    text in the feed's ``content``/``summary`` elements."""
    found = []
    for element in ET.fromstring(xml).iter():
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on") or "javascript:" in "".join(value.split()).lower():
                found.append(f"{element.tag} {name}={value!r}")
        if element.tag in (f"{ATOM}content", f"{ATOM}summary") and element.text:
            found += dangers(element.text)
    return found


def attack_item(base_dir: Path, body: str) -> ContentItem:
    media = base_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    (media / "foto.png").write_bytes(PNG)
    meta = FrontMatter(
        kind="boletin",
        title="Boletín con una foto",
        image="media/foto.png",
        image_alt="La foto del boletín",
    )
    return ContentItem(
        meta=meta,
        body=body + "\n\nTexto del boletín.\n",
        id="2026-03-02-boletin-foto",
        summary="Un boletín con una foto.",
        date=date(2026, 3, 2),
        publish_at=None,
        base_dir=base_dir,
        digest="0" * 64,
    )


@pytest.fixture
def renderer() -> Renderer:
    return Renderer([], TZ, {"boletin": "Boletín de prensa"})


@pytest.mark.parametrize("body", ATTACKS.values(), ids=list(ATTACKS))
async def test_finding_4_no_handler_or_javascript_url_on_page_or_feed(
    tmp_path: Path, renderer: Renderer, body: str
) -> None:
    """Finding 4: the body that the feed's regex turned into a real ``onload`` (and its
    variants) leaves no event handler and no ``javascript:`` URL in the static page or in
    any element of the Atom feed, including the HTML the feed carries."""
    item = attack_item(tmp_path / "item", body)
    post = renderer.render(item, "website")
    settings = Settings(
        content_dir=tmp_path / "content",
        website={"output_dir": tmp_path / "site", "base_url": BASE},
    )
    site = StaticSiteAdapter(settings, channel_context(settings), regenerate_delay=0)
    receipt = await site.publish(post)
    await site.aclose()

    page = (site.output_dir / receipt.remote_id).read_text("utf-8")
    assert dangers(page) == []
    assert "Texto del boletín." in page
    feed = (site.output_dir / "feed.xml").read_bytes()
    assert xml_dangers(feed) == []
    (content,) = ET.fromstring(feed).iter(f"{ATOM}content")
    assert "Texto del boletín." in (content.text or "")
    # the feed's links are absolute: the media link now points beside the page
    if "](media/foto.png)" in body:
        assert f'src="{receipt.url}media/foto.png"' in (content.text or "")


@pytest.mark.parametrize("body", ATTACKS.values(), ids=list(ATTACKS))
async def test_finding_4_no_handler_or_javascript_url_in_wordpress_post(
    tmp_path: Path, renderer: Renderer, wordpress_double: WordPressDouble, body: str
) -> None:
    """Finding 4: WordPress's relink (media links → the media library) used the same regex;
    the content that reaches the WordPress double is clean, and its media links point at
    the library."""
    item = attack_item(tmp_path / "item", body)
    post = renderer.render(item, "website")
    settings = live_settings(wordpress_double, content_dir=tmp_path)
    wp = WordPressAdapter(settings, channel_context(settings))
    try:
        receipt = await wp.publish(post)
    finally:
        await wp.aclose()
    content = str(wordpress_double.posts[int(receipt.remote_id or 0)]["content"])
    assert dangers(content) == []
    assert "Texto del boletín." in content
    if "](media/foto.png)" in body:
        assert f'src="{wordpress_double.base_url}/wp-content/uploads/foto.png"' in content


@pytest.mark.parametrize("body", ATTACKS.values(), ids=list(ATTACKS))
def test_finding_4_no_handler_or_javascript_url_in_email(
    tmp_path: Path, renderer: Renderer, body: str
) -> None:
    """Finding 4: the e-mail's HTML is sanitised once more at the end, and keeps its
    document, its inline styles and the unsubscribe placeholder."""
    item = attack_item(tmp_path / "item", body)
    post = renderer.render(item, "mailing", url=BASE + "2026/03/2026-03-02-boletin-foto/")
    document = post.parts["html"]
    assert dangers(document) == []
    assert document.startswith("<!DOCTYPE html>") and "</html>" in document
    assert 'style="' in document and "%%PREGONERO_BAJA%%" in document
    assert "Texto del boletín." in document


def test_finding_4_email_document_is_cut_at_its_body_whatever_its_line_breaks() -> None:
    """Finding 4: the e-mail's last pass finds ``<body>`` by parsing, with CRLF and Unicode
    line separators in the title, and cleans what the template's own tags carry too."""
    document = (
        '<!DOCTYPE html>\r\n<html lang="es-CO" onload="x()"><head><title>A\u2028B\x0cC</title>'
        "<script>alert(1)</script></head>\r\n"
        '<body style="margin:0;background:url(javascript:alert(1))">\r\n'
        '<p onclick="alert(2)" style="color:#222;background-image:url(x)">hola</p>\r\n'
        "</body>\r\n</html>"
    )
    clean = clean_email(document)
    assert dangers(clean) == [] and "url(" not in clean
    assert clean.startswith("<!DOCTYPE html>") and "<title>A\u2028B\x0cC</title>" in clean
    assert '<p style="color:#222">hola</p>' in clean and clean.rstrip().endswith("</html>")


TRICKY_DOCUMENTS = [
    '<html><head><!-- <body> --><title>x</title></head><body class="a>b"><p>hi</p></body></html>',
    '<html><head><script>var a="<body>";</script></head><BODY\nstyle="x"><p>hi</p></BODY ></html>',
    '<html><head><meta name="a" content="<body onload=alert(1)>"></head><body><p>x</p></body>',
    "<html><head><title><body></title></head><body><p>x</p></body></html>",
    "<html><body><p>one</p></body><p>after</p></body></html>",
    "<html><head><title>t</title></head><body><p>sin cierre",
    "<html><head><title>t</title></head><bodyx><p>no es body</p></html>",
    "<p>solo un fragmento</p><img src=x onerror=alert(1)>",
]


@pytest.mark.parametrize("document", TRICKY_DOCUMENTS)
def test_finding_4_the_quick_body_cut_agrees_with_parsing_the_whole_document(
    document: str,
) -> None:
    """Finding 4 (and the delivery path's speed): the e-mail's body is cut where the first
    ``<body>`` that parsing confirms is, without parsing the body; on documents whose
    ``<body`` hides in a comment, a script, an attribute or a title the result is the one
    of a full parse, and nothing dangerous survives."""
    assert clean_email(document) == _clean_email_parsed(document)
    assert dangers(clean_email(document)) == []


def test_finding_4_the_shipped_email_is_cut_as_a_full_parse_would(
    tmp_path: Path, renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped mailing template's document, cleaned the quick way (the whole-document
    parse is not needed for it), is the document the full parse gives."""
    item = attack_item(tmp_path / "item", "Hola <b>mundo</b>.")
    document = renderer.render(item, "mailing", url=BASE + "x/").parts["html"]
    assert "<body" in document and "Texto del boletín." in document
    parsed = _clean_email_parsed(document)

    def not_needed(document: str) -> str:
        raise AssertionError("the shipped e-mail should not need the whole-document parse")

    monkeypatch.setattr(_html, "_clean_email_parsed", not_needed)
    assert clean_email(document) == parsed


async def test_finding_4_a_poisoned_fragment_left_by_an_older_version_is_cleaned_in_the_feed(
    tmp_path: Path, renderer: Renderer
) -> None:
    """Finding 4: article fragments stored by a vulnerable version (with a real ``onload``)
    are sanitised when the feed is built, not trusted because they are ours."""
    settings = Settings(
        content_dir=tmp_path / "content",
        website={"output_dir": tmp_path / "site", "base_url": BASE},
    )
    site = StaticSiteAdapter(settings, channel_context(settings), regenerate_delay=0)
    post = renderer.render(attack_item(tmp_path / "item", "Hola."), "website")
    await site.publish(post)
    fragment = site.state_dir / "articles" / f"{post.item_id}.html"
    fragment.write_text('<p><img src="x" alt="foto src=" onload=alert(1) b"></p>', "utf-8")
    await site.rebuild()
    assert xml_dangers((site.output_dir / "feed.xml").read_bytes()) == []


# -------------------------------------------------------------------- finding 8

WP_AUTH = "Basic " + base64.b64encode(b"prensa:abcd EFGH ijkl MNOP qrst UVWX").decode()


class EchoingWordPress(WordPressDouble):
    """A WordPress (or a proxy in front of it) whose errors echo the request's headers: the
    first post creation fails 503, the next 400, each body repeating ``Authorization``."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses = [503, 400]

    def _create_post(self, request: Request) -> Response:
        status = self.statuses.pop(0) if self.statuses else 400
        auth = request.headers.get("authorization", "")
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return Response.json(
            {
                "code": f"debug_{auth}",
                "message": f"Request headers: Authorization: {auth}; user={user} pass={password}",
                "data": {"status": status, "headers": dict(request.headers)},
            },
            status,
        )


def test_finding_8_echoed_authorization_stays_out_of_status_ledger_and_logs(
    workspace: Workspace,
) -> None:
    """Finding 8: a server echoing the Basic ``Authorization`` header (and the password) in
    its error bodies: neither the base64 value nor the application password reaches the
    stored error (``pregonero status``), the ledger file or the logs."""
    with EchoingWordPress() as wp:
        workspace.env.update(wp.settings_env())
        workspace.env["PREGONERO_DELIVERY__MAX_ATTEMPTS"] = "3"
        shutil.copy2(EXAMPLES / "2026-11-04-medidas-movilidad-fin-de-ano.md", workspace.inbox)
        shutil.copytree(EXAMPLES / "media", workspace.inbox / "media")
        run = workspace.cli("run", "--once", timeout=300)
        status = workspace.cli("status", timeout=120)
        echoed = wp.requests_to(r"/posts$", "POST")
    assert run.returncode == 3, run.stderr
    assert len(echoed) == 2  # the 503 was retried, the 400 was final
    with sqlite3.connect(workspace.root / "pregonero.db") as db:
        (error,) = db.execute(
            "select last_error from deliveries where channel = 'website'"
        ).fetchone()
    assert "WordPress rechazó la entrada" in error and "WordPress rechazó" in status.stdout
    b64 = WP_AUTH.split()[1]
    secrets = (b64, "abcd EFGH ijkl MNOP qrst UVWX", "abcdEFGHijklMNOPqrstUVWX")
    ledger = (workspace.root / "pregonero.db").read_bytes()
    for text, where in (
        (run.stdout + run.stderr, "run"),
        (status.stdout + status.stderr, "status"),
        (error, "last_error"),
        (ledger.decode("latin-1"), "ledger"),
    ):
        for secret in secrets:
            assert secret not in text, f"{where} shows a secret: {text[-2000:]}"
    assert "Authorization: ****" in error


def test_finding_8_one_redaction_for_every_authorization_value() -> None:
    """Finding 8: Basic, Bearer and OAuth credentials are masked with or without their
    header name, in JSON echoes, in messages and in HTTP status errors."""
    token = "EAAGm0PX4ZCpsBAKZB1234567890"
    oauth = (
        'OAuth oauth_consumer_key="ck123456", oauth_token="tok-987654", oauth_signature="sig%3D"'
    )
    samples = [
        f"Authorization: {WP_AUTH}",
        json.dumps({"headers": {"Authorization": WP_AUTH}}),
        f"authorization={WP_AUTH.replace(' ', '%20')}",
        f"proxy said: {WP_AUTH}",
        f"Authorization: Bearer {token}",
        f"got bearer {token} back",
        f"Authorization: {oauth}",
        oauth,
    ]
    for sample in samples:
        clean = redact(sample)
        for secret in (WP_AUTH.split()[1], token, "ck123456", "tok-987654", "sig%3D"):
            assert secret not in clean, (sample, clean)
    known = basic_auth_secrets("prensa", "abcd EFGH ijkl MNOP qrst UVWX")
    bare = WP_AUTH.split()[1]
    assert detail(f"eco {bare}", known) == "eco ****"
    error = status_error(500, service="X", message=f"Authorization: {WP_AUTH}")
    assert bare not in error.reason and "****" in error.reason
    # plain words are left alone
    for phrase in ("Basic auth failed for user prensa", "Bearer authentication required."):
        assert redact(phrase) == phrase


# -------------------------------------------------------------------- finding 13

PUBLIC_SUFFIXES = {".html", ".xml", ".png", ".jpg", ".jpeg", ".pdf", ".ics"}


def public_files(site: Path) -> list[str]:
    """Files of the output folder that are not public web content."""
    odd = []
    for path in site.rglob("*"):
        rel = path.relative_to(site)
        if any(part.startswith(".") for part in rel.parts) or (
            path.is_file() and path.suffix.lower() not in PUBLIC_SUFFIXES
        ):
            odd.append(str(rel))
    return odd


FIRST = "2026-11-03-parque-san-pio-reabre.md"
SECOND = "2026-11-04-medidas-movilidad-fin-de-ano.md"


def drop(workspace: Workspace, name: str) -> None:
    shutil.copytree(EXAMPLES / "media", workspace.inbox / "media", dirs_exist_ok=True)
    shutil.copy2(EXAMPLES / name, workspace.inbox / name)


def test_finding_13_output_folder_holds_only_public_files(workspace: Workspace) -> None:
    """Finding 13: after ``run --once`` the website's output folder holds pages, feed,
    sitemap and media only; manifests, article fragments and the lock live in
    ``content/.site-state/``."""
    drop(workspace, FIRST)
    drop(workspace, SECOND)
    workspace.cli("run", "--once", timeout=300, check=True)
    site = workspace.site
    assert (site / "index.html").exists() and (site / "feed.xml").exists()
    assert public_files(site) == []
    state = workspace.content / ".site-state"
    manifest = json.loads((state / "entries.json").read_text("utf-8"))
    assert len(manifest) == 2
    assert len(list((state / "articles").glob("*.html"))) == 2


def test_finding_13_a_site_with_the_old_layout_is_migrated(workspace: Workspace) -> None:
    """Finding 13: a site built with the state in ``<output>/.pregonero/`` is moved out on
    the next run: its entries stay in the index, our files leave the public folder, and a
    file that is not ours is left where it was."""
    drop(workspace, FIRST)
    workspace.cli("run", "--once", timeout=300, check=True)
    state = workspace.content / ".site-state"
    legacy = workspace.site / ".pregonero"
    shutil.move(state, legacy)  # what an older version left behind
    (legacy / "notas-del-operador.txt").write_text("no es de Pregonero\n", "utf-8")

    drop(workspace, SECOND)
    workspace.cli("run", "--once", timeout=300, check=True)

    manifest = json.loads((state / "entries.json").read_text("utf-8"))
    assert len(manifest) == 2  # the first item came along with the old manifest
    index = (workspace.site / "index.html").read_text("utf-8")
    for entry in manifest.values():
        assert entry["url"] in index
    assert sorted(p.name for p in legacy.rglob("*")) == ["notas-del-operador.txt"]
    assert public_files(workspace.site) == [".pregonero", ".pregonero/notas-del-operador.txt"]


async def test_finding_13_migration_without_foreign_files_removes_the_old_folder(
    tmp_path: Path, renderer: Renderer
) -> None:
    """Finding 13: with nothing foreign inside, the old ``.pregonero/`` disappears; an entry
    the new state already holds wins over the old copy; a symlink is never followed."""
    settings = Settings(
        content_dir=tmp_path / "content",
        website={"output_dir": tmp_path / "site", "base_url": BASE},
    )
    site = StaticSiteAdapter(settings, channel_context(settings), regenerate_delay=0)
    post = renderer.render(attack_item(tmp_path / "item", "Hola."), "website")
    await site.publish(post)
    legacy = site.output_dir / ".pregonero"
    shutil.copytree(site.state_dir, legacy)
    (legacy / "entries" / f"{post.item_id}.json").write_text('{"stale": true}', "utf-8")
    outside = tmp_path / "outside.html"
    outside.write_text("<p>not ours</p>", "utf-8")
    (legacy / "articles" / "enlace.html").symlink_to(outside)

    fresh = StaticSiteAdapter(settings, channel_context(settings), regenerate_delay=0)
    await fresh.rebuild()
    entry = json.loads((site.state_dir / "entries" / f"{post.item_id}.json").read_text("utf-8"))
    assert entry.get("title") == post.title
    assert outside.read_text("utf-8") == "<p>not ours</p>"
    assert not (site.state_dir / "articles" / "enlace.html").exists()
    # the symlink is not ours to move: it stays, everything else is gone
    assert sorted(str(p.relative_to(legacy)) for p in legacy.rglob("*")) == [
        "articles",
        "articles/enlace.html",
    ]
    # without it, the folder goes
    (legacy / "articles" / "enlace.html").unlink()
    third = StaticSiteAdapter(settings, channel_context(settings), regenerate_delay=0)
    await third.rebuild()
    assert not legacy.exists()
