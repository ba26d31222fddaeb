"""The content-file parser: every refusal names field and line; defaults; no input crashes it."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.items.model import ContentItem, FrontMatter
from dispatcher.items.parse import (
    ContentError,
    MissingMedia,
    Problem,
    check_file,
    parse,
    referenced_media,
    slugify,
)
from tests.corpus.bad_inputs import BAD, GOOD, GOOD_MEDIA, KINDS, MAX_BYTES, PNG, Case, md

TZ = ZoneInfo("America/Bogota")
TODAY = date(2026, 11, 26)


def _parse(data: bytes, base: Path, **overrides: object) -> ContentItem:
    kwargs: dict[str, object] = dict(
        name="nota.md", base_dir=base, tz=TZ, today=TODAY, max_bytes=MAX_BYTES, known_kinds=KINDS
    )
    kwargs.update(overrides)
    return parse(data, **kwargs)  # type: ignore[arg-type]


def _write_media(base: Path, media: dict[str, bytes]) -> None:
    for rel, content in media.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(content)


@pytest.mark.parametrize("case", BAD, ids=lambda c: c.name)
def test_bad_input_names_field_and_line(case: Case, tmp_path: Path) -> None:
    _write_media(tmp_path, case.media)
    with pytest.raises(ContentError) as caught:
        _parse(case.data, tmp_path)
    problems = caught.value.problems
    assert (case.field, case.line) in [(p.field, p.line) for p in problems], problems
    text = str(caught.value)
    for word in case.words:
        assert word in text
    if case.line is not None:
        assert f"línea {case.line}" in text
    assert not isinstance(caught.value, MissingMedia)


def test_problem_renders_line_and_field() -> None:
    error = ContentError(
        [Problem("image_alt", 4, "falta la descripción"), Problem(None, 2, "otro")]
    )
    assert str(error) == "línea 2: otro\nlínea 4, campo 'image_alt': falta la descripción"


def test_good_file_defaults(tmp_path: Path) -> None:
    _write_media(tmp_path, GOOD_MEDIA)
    item = _parse(GOOD, tmp_path)
    assert item.id == "2026-11-26-el-parque-san-pio-reabre"
    assert item.summary == "La Alcaldía entregó las obras del parque."
    assert item.date == TODAY
    assert item.publish_at is None
    assert item.base_dir == tmp_path
    assert item.media_path(item.meta.image or "").read_bytes() == PNG
    assert item.body.startswith("La Alcaldía")


def test_utf8_bom_and_crlf_are_fine_and_lines_still_count(tmp_path: Path) -> None:
    good = b"\xef\xbb\xbf" + b"---\r\nkind: boletin\r\ntitle: Con BOM\r\n---\r\nTexto\r\n"
    assert _parse(good, tmp_path).title == "Con BOM"
    bad = b"\xef\xbb\xbf---\r\nkind: boletin\r\ntitle: Con BOM\r\ntitel: x\r\n---\r\nTexto\r\n"
    with pytest.raises(ContentError) as caught:
        _parse(bad, tmp_path)
    assert [(p.field, p.line) for p in caught.value.problems] == [("titel", 4)]


def test_non_utf8_says_where(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as caught:
        _parse(b"---\nkind: boletin\ntitle: Ma\xf1ana\n---\nx\n", tmp_path)
    assert "0xF1 en la columna 10, posición 27" in str(caught.value)


def test_yaml_11_quirks_read_as_editors_mean(tmp_path: Path) -> None:
    front = (
        "kind: boletin\ntitle: 2026\nid: '0042-no'\ndependencia: no\ntags: [on, off, yes, 010]\n"
        "date: 2026-11-20\npublish_at: 2026-11-21 08:30:00\nevent:\n  place: 1:30\n"
        "  starts_at: 2026-11-22T09:00:00-05:00\n"
    )
    item = _parse(md(front), tmp_path)
    assert item.title == "2026"
    assert item.meta.dependencia == "no"
    assert item.meta.tags == ["on", "off", "yes", "010"]
    assert item.date == date(2026, 11, 20)
    assert item.publish_at == datetime(2026, 11, 21, 8, 30, tzinfo=TZ)
    assert item.meta.publish_at == item.publish_at
    assert item.meta.event is not None and item.meta.event.place == "1:30"
    assert item.meta.event.starts_at.utcoffset() == timedelta(hours=-5)


def test_naive_event_time_is_localized_and_date_follows_publish_at(tmp_path: Path) -> None:
    front = (
        "kind: rueda_de_prensa\ntitle: Rueda de prensa\npublish_at: 2026-12-01T07:00:00Z\n"
        "event:\n  place: CAM\n  starts_at: 2026-12-01 09:00\n"
    )
    item = _parse(md(front), tmp_path)
    assert item.meta.event is not None
    assert item.meta.event.starts_at == datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
    assert item.publish_at == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert item.date == date(2026, 12, 1)  # 02:00 in Bogotá
    assert item.id.startswith("2026-12-01-")


def test_publish_at_needs_a_time(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as caught:
        _parse(md("kind: boletin\ntitle: Hola mundo\npublish_at: 2026-12-01\n"), tmp_path)
    assert [(p.field, p.line) for p in caught.value.problems] == [("publish_at", 4)]
    assert "hora" in str(caught.value)


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    front = "kind: boletin\ntitel: Hola\ntags: hola\nvideo: ftp://x\nfecha: 2026-01-01\n"
    with pytest.raises(ContentError) as caught:
        _parse(md(front), tmp_path)
    found = {(p.field, p.line) for p in caught.value.problems}
    assert found == {("title", 1), ("titel", 3), ("tags", 4), ("video", 5), ("fecha", 6)}
    assert "¿quiso decir 'date'?" in str(caught.value)


def test_alias_and_anchor_refused(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as caught:
        _parse(md("kind: &k boletin\ntitle: *k\n"), tmp_path)
    assert [(p.field, p.line) for p in caught.value.problems] == [("title", 3)]


def test_summary_may_replace_an_empty_body(tmp_path: Path) -> None:
    item = _parse(md("kind: boletin\ntitle: Hola mundo\nsummary: Solo el resumen\n", ""), tmp_path)
    assert item.summary == "Solo el resumen" and item.body == ""


def test_summary_is_first_paragraph_cut_at_a_word(tmp_path: Path) -> None:
    body = "# Titular\n\n![foto](x.png) " + "palabra " * 80 + "\n\nSegundo."
    item = _parse(md("kind: boletin\ntitle: Hola mundo\n", body), tmp_path)
    assert item.summary.endswith("palabra…")
    assert len(item.summary) <= 300
    assert "Titular" not in item.summary and "foto" not in item.summary


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("¿Qué pasó en la Carrera 27?", "que-paso-en-la-carrera-27"),
        ("Niñas y niños: ¡vacunación!", "ninas-y-ninos-vacunacion"),
        ("  --  ", ""),
        ("palabra-" * 20, "palabra-" * 9 + "palabra"),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug
    assert len(slugify(title)) <= 80


def test_id_for_title_without_ascii(tmp_path: Path) -> None:
    item = _parse(md("kind: boletin\ntitle: 市政府公告\n"), tmp_path)
    assert FrontMatter.model_fields["id"] is not None
    assert item.id.startswith("2026-11-26-") and len(item.id) == len("2026-11-26-") + 8


def test_missing_media_is_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(MissingMedia) as caught:
        _parse(GOOD, tmp_path)
    assert sorted(caught.value.missing) == ["media/decreto.pdf", "media/parque.png"]
    assert {(p.field, p.line) for p in caught.value.problems} == {
        ("image", 4),
        ("attachments[0]", 6),
    }


def test_missing_media_with_another_problem_is_plain_content_error(tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_bytes(b"")
    (tmp_path / "mala.png").write_bytes(b"PK\x03\x04")
    front = "kind: boletin\ntitle: Hola mundo\nimage: mala.png\nimage_alt: Una foto\n"
    front += "attachments: [falta.pdf, doc.txt]\n"
    with pytest.raises(ContentError) as caught:
        _parse(md(front), tmp_path)
    assert not isinstance(caught.value, MissingMedia)
    assert "vacío" in str(caught.value) and "falta el archivo 'falta.pdf'" in str(caught.value)
    (tmp_path / "falta.pdf").write_bytes(b"%PDF")
    front = "kind: boletin\ntitle: Hola mundo\nattachments: [falta.pdf, doc.txt]\n"
    with pytest.raises(MissingMedia) as held:
        _parse(md(front), tmp_path)  # only an empty (still copying?) file left: wait for it
    assert held.value.missing == ["doc.txt"]


def test_media_must_be_real_images_inside_the_folder(tmp_path: Path) -> None:
    base = tmp_path / "inbox"
    base.mkdir()
    (tmp_path / "secreto.png").write_bytes(PNG)
    (base / "afuera.png").symlink_to(tmp_path / "secreto.png")
    (base / "falsa.png").write_bytes(b"PK\x03\x04 a zip")
    (base / "foto.bmp").write_bytes(b"BM....")
    (base / "carpeta.png").mkdir()
    (base / "grande.pdf").write_bytes(b"x" * 2000)
    for rel, word in [
        ("afuera.png", "fuera"),
        ("falsa.png", "no es una imagen"),
        ("foto.bmp", "no es una imagen"),
        ("carpeta.png", "no es un archivo"),
    ]:
        front = f"kind: boletin\ntitle: Hola mundo\nimage: {rel}\nimage_alt: Una foto\n"
        with pytest.raises(ContentError) as caught:
            _parse(md(front), base)
        assert not isinstance(caught.value, MissingMedia)
        assert [(p.field, p.line) for p in caught.value.problems] == [("image", 4)]
        assert word in str(caught.value)
    front = "kind: boletin\ntitle: Hola mundo\nattachments: [grande.pdf]\n"
    with pytest.raises(ContentError, match="pesa"):
        _parse(md(front), base, max_media_bytes=1000)


def test_media_is_never_read_through_a_symlink(tmp_path: Path) -> None:
    """Security finding 0: even a link to a file inside the folder is refused (a link can be
    re-pointed between the check and the read); the real file is accepted."""
    (tmp_path / "original.png").write_bytes(PNG)
    (tmp_path / "enlace.png").symlink_to("original.png")
    front = "kind: boletin\ntitle: Hola mundo\nimage: enlace.png\nimage_alt: Una foto\n"
    with pytest.raises(ContentError) as caught:
        _parse(md(front), tmp_path)
    assert [(p.field, p.line) for p in caught.value.problems] == [("image", 4)]
    assert "enlace simbólico" in str(caught.value)
    real = front.replace("enlace.png", "original.png")
    assert _parse(md(real), tmp_path).meta.image == "original.png"


def test_digest_covers_file_and_media(tmp_path: Path) -> None:
    _write_media(tmp_path, GOOD_MEDIA)
    first = _parse(GOOD, tmp_path).digest
    assert _parse(GOOD, tmp_path).digest == first
    (tmp_path / "media/decreto.pdf").write_bytes(b"%PDF-1.4 decreto corregido")
    assert _parse(GOOD, tmp_path).digest != first
    other = tmp_path / "otra"
    _write_media(other, GOOD_MEDIA)
    assert _parse(GOOD, other).digest == first  # the folder does not count, the bytes do


def test_check_file_and_referenced_media(tmp_path: Path) -> None:
    _write_media(tmp_path, GOOD_MEDIA)
    (tmp_path / "nota.md").write_bytes(GOOD)
    item = check_file(tmp_path / "nota.md", tz=TZ, known_kinds=KINDS, max_bytes=MAX_BYTES)
    assert item.source_name == "nota.md"
    (tmp_path / "grande.md").write_bytes(b"x" * (MAX_BYTES + 1))
    with pytest.raises(ContentError, match="máximo"):
        check_file(tmp_path / "grande.md", tz=TZ, known_kinds=KINDS, max_bytes=MAX_BYTES)
    assert referenced_media(GOOD) == ["media/parque.png", "media/decreto.pdf"]
    bad = md("kind: nada\nimage: ' fotos\\\\a.png '\nattachments: [b.pdf, 3]\n")
    assert referenced_media(bad) == ["fotos/a.png", "b.pdf"]
    assert referenced_media(b"\xff\xfe") == []


def test_example_files_are_all_valid() -> None:
    examples = Path(__file__).resolve().parent.parent / "content" / "examples"
    plan = yaml.safe_load((examples.parent / "plan.yaml").read_text(encoding="utf-8"))
    kinds = set(plan["kinds"])
    files = sorted(examples.glob("*.md"))
    assert files
    for path in files:
        item = check_file(path, tz=TZ, known_kinds=kinds, max_bytes=1_000_000)
        assert item.id == path.stem


# --- no input crashes the parser ------------------------------------------------------------


def _never_crashes(data: bytes, base: Path) -> None:
    try:
        item = _parse(data, base)
    except ContentError as exc:
        assert exc.problems
        assert all(p.message.strip() for p in exc.problems)
        assert str(exc).strip()
    else:
        assert isinstance(item, ContentItem)
        assert item.id and item.summary is not None


CRASH_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FIELDS = [*FrontMatter.model_fields, "start_at", "titulo", "<<", "event.place"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.dates()
    | st.datetimes()
    | st.sampled_from(["boletin", "rueda_de_prensa", "x.png", "../x", "/etc", "no", "~", ""])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
front_matters = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), values, max_size=8)


@CRASH_SETTINGS
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes, tmp_path: Path) -> None:
    _never_crashes(data, tmp_path)
    _never_crashes(b"---\n" + data, tmp_path)
    _never_crashes(b"---\n" + data + b"\n---\nTexto", tmp_path)


@CRASH_SETTINGS
@given(text=st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str, tmp_path: Path) -> None:
    _never_crashes(text.encode("utf-8", "surrogatepass"), tmp_path)
    _never_crashes(f"---\n{text}\n---\n{text}".encode("utf-8", "surrogatepass"), tmp_path)


@CRASH_SETTINGS
@given(front=front_matters, body=st.text(max_size=80), unicode=st.booleans())
def test_arbitrary_front_matter_never_crashes(
    front: dict[str, object], body: str, unicode: bool, tmp_path: Path
) -> None:
    (tmp_path / "x.png").write_bytes(PNG)
    dumped = yaml.safe_dump(front, allow_unicode=unicode)
    _never_crashes(f"---\n{dumped}---\n{body}".encode("utf-8", "surrogatepass"), tmp_path)


@CRASH_SETTINGS
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(FIELDS) | st.text(string.ascii_letters + "_ -", max_size=8),
            st.text(max_size=20),
            st.sampled_from(["", "  ", "- ", "\t"]),
        ),
        max_size=8,
    )
)
def test_yamlish_lines_never_crash(lines: list[tuple[str, str, str]], tmp_path: Path) -> None:
    front = "".join(f"{indent}{key}: {value}\n" for key, value, indent in lines)
    _never_crashes(f"---\n{front}---\nTexto".encode("utf-8", "surrogatepass"), tmp_path)


def test_validate_hook_problems_get_their_lines(tmp_path: Path) -> None:
    def plan(item: ContentItem) -> list[tuple[str | None, str]]:
        assert item.digest == ""  # media missing: no digest for an incomplete item
        return [("channels", "el canal 'radio' no está en el plan"), (None, "otra cosa")]

    front = "kind: boletin\ntitle: Hola mundo\nchannels:\n  only: [radio]\nimage: no.png\n"
    front += "image_alt: Una foto\n"
    with pytest.raises(ContentError) as caught:
        _parse(md(front), tmp_path, validate=plan)
    assert not isinstance(caught.value, MissingMedia)  # a plan problem will not heal by waiting
    found = [(p.field, p.line) for p in caught.value.problems]
    assert found == [("channels", 4), ("image", 6), (None, None)]
    ok = _parse(md("kind: boletin\ntitle: Hola mundo\n"), tmp_path, validate=lambda item: [])
    assert len(ok.digest) == 64


def test_content_error_constructors() -> None:
    assert str(ContentError.single("title", 2, "falta")) == "línea 2, campo 'title': falta"
    error = ContentError.from_pairs([("channels", "mal"), (None, "también")])
    assert [(p.field, p.line) for p in error.problems] == [("channels", None), (None, None)]
    many = ContentError([Problem(f"k{i}", i, "x") for i in range(100)])
    assert len(many.problems) == 41 and "60 problemas más" in str(many)


def test_yaml_bombs_and_tags_are_refused_with_their_line(tmp_path: Path) -> None:
    """One YAML reader (ruamel): an alias bomb is refused before anything is expanded, and
    no tag is ever constructed."""
    laughs = "lol0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"lol{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n" for i in range(1, 12)
    )
    with pytest.raises(ContentError) as caught:
        _parse(md("kind: boletin\ntitle: Bomba\n" + laughs), tmp_path)
    first = caught.value.problems[0]
    assert (first.field, first.line) == ("lol1[0]", 4)  # an alias in a list: its anchor's line
    assert "anclas" in first.message
    assert len(caught.value.problems) == 41  # 40 shown, then "… y N problemas más"
    for tag in ("!!python/object/apply:os.system ['true']", "!secreto x"):
        with pytest.raises(ContentError) as caught:
            _parse(md(f"kind: boletin\ntitle: Hola mundo\ndependencia: {tag}\n"), tmp_path)
        assert [(p.field, p.line) for p in caught.value.problems] == [("dependencia", 4)]
        assert "etiquetas" in str(caught.value)
