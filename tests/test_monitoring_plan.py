"""The plan's ``monitoring:`` section: validated like the rest of the plan (field and line),
the shipped example off by default and valid once uncommented; and the pure helpers:
keyword matching and link normalisation."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path

import pytest

from dispatcher.items.monitoring import fold
from dispatcher.items.plan import PlanError, load_plan
from dispatcher.services.monitoring.clean import cut, normalise_link, plain_text
from dispatcher.services.monitoring.match import Matcher
from tests.test_monitoring_support import ROOT, plan_text

CHANNELS = ["website", "facebook", "x", "telegram", "mailing"]


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return load_plan(path, CHANNELS)


def problems(tmp_path: Path, text: str) -> list[tuple[str, int, str]]:
    with pytest.raises(PlanError) as info:
        load(tmp_path, text)
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_shipped_plan_has_monitoring_off_and_its_example_is_valid(tmp_path: Path) -> None:
    shipped = (ROOT / "content" / "plan.yaml").read_text(encoding="utf-8")
    assert load_plan(ROOT / "content" / "plan.yaml", CHANNELS).monitoring is None
    example = shipped[shipped.index("# monitoring:") :]
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") else line for line in example.splitlines()
    )
    plan = load(tmp_path, shipped + "\n" + uncommented + "\n")
    monitoring = plan.monitoring  # type: ignore[attr-defined]
    assert monitoring is not None
    assert monitoring.every == timedelta(minutes=30) and monitoring.digest_at == time(7, 0)
    names = [s.name for s in monitoring.sources]
    for outlet in ("Vanguardia", "El Frente", "Caracol Radio Bucaramanga", "Blu Radio"):
        assert outlet in names
    assert monitoring.audiences == ["funcionarios"]


def test_defaults_and_a_minimal_section(tmp_path: Path) -> None:
    plan = load(tmp_path, plan_text([("Vanguardia", "https://www.vanguardia.com/rss")]))
    monitoring = plan.monitoring  # type: ignore[attr-defined]
    assert monitoring.keywords == ["Alcaldía de Bucaramanga", "Metrolínea"]
    assert monitoring.audiences == ["funcionarios"]


def test_errors_name_the_field_and_the_line(tmp_path: Path) -> None:
    text = plan_text(
        [("Vanguardia", "ftp://www.vanguardia.com/rss"), ("Extra", "https://extra.co/rss")],
        every="cada media hora",
        digest_at="7",
    )
    text = text.replace('{name: "Extra", url', '{name: "Extra", ulr: "x", url')
    found = {where: (line, what) for where, line, what in problems(tmp_path, text)}
    assert found["monitoring.every"][0] == line_of(text, "every: cada")
    assert "ISO 8601" in found["monitoring.every"][1]
    assert found["monitoring.digest_at"][0] == line_of(text, 'digest_at: "7"')
    assert "HH:MM" in found["monitoring.digest_at"][1]
    assert found["monitoring.sources[0].url"][0] == line_of(text, "ftp://")
    assert "http" in found["monitoring.sources[0].url"][1]
    assert found["monitoring.sources[1].ulr"][0] == line_of(text, "ulr:")
    assert "desconocida" in found["monitoring.sources[1].ulr"][1]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"keywords": []}, "monitoring.keywords", "vacío"),
        ({"keywords": ["Metrolínea", "METROLINEA"]}, "monitoring.keywords[1]", "repetid"),
        ({"audiences": ["periodistas", "prensa"]}, "monitoring.audiences[1]", "no permitido"),
        ({"every": "PT10S"}, "monitoring.every", "al menos un minuto"),
    ],
)
def test_bad_values_are_refused(
    tmp_path: Path, change: dict[str, object], field: str, message: str
) -> None:
    text = plan_text([("Vanguardia", "https://www.vanguardia.com/rss")], **change)  # type: ignore[arg-type]
    found = problems(tmp_path, text)
    assert any(where == field and message in what for where, _, what in found), found


def test_two_sources_with_one_name_are_refused(tmp_path: Path) -> None:
    text = plan_text([("Vanguardia", "https://a.co/rss"), ("VANGUARDIA", "https://b.co/rss")])
    [(where, line, what)] = problems(tmp_path, text)
    assert where == "monitoring.sources[1].name" and "medio repetido" in what
    assert line == line_of(text, '"VANGUARDIA"')


# -- matching -------------------------------------------------------------------------------


def test_keywords_match_whole_words_case_and_accents_aside() -> None:
    matcher = Matcher(["Alcaldía de Bucaramanga", "Metrolínea", "Ñoño"])
    assert matcher.find("ALCALDIA DE  BUCARAMANGA, hoy") == ("Alcaldía de Bucaramanga",)
    assert matcher.find("la alcaldía de\nBucaramanga dijo") == ("Alcaldía de Bucaramanga",)
    assert matcher.find("Alcaldía de Bucaramangas") == ()
    assert matcher.find("metrolineal", "submetrolínea") == ()
    assert matcher.find("«Metrolínea»") == ("Metrolínea",)
    assert matcher.find("el NONO") == ("Ñoño",)
    assert matcher.find("", "resumen: metrolinea") == ("Metrolínea",)
    assert fold("Alcaldía\u00a0DE Bucaramanga") == "alcaldia de bucaramanga"


# -- untrusted text and links ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("HTTPS://WWW.Vanguardia.COM/a?utm_source=x&id=7#c", "https://www.vanguardia.com/a?id=7"),
        ("http://Ex.co:80/a?fbclid=1&gclid=2&UTM_Medium=3", "http://ex.co/a"),
        ("https://ex.co:8443/a b".replace(" ", "%20"), "https://ex.co:8443/a%20b"),
        ("https://user:clave@ex.co/", "https://ex.co/"),
        ("https://ex.co", "https://ex.co/"),
        ("https://ex.co/?q=alcald%C3%ADa&mc_cid=1", "https://ex.co/?q=alcald%C3%ADa"),
    ],
)
def test_links_are_normalised(raw: str, normal: str) -> None:
    assert normalise_link(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "ftp://ex.co/a",
        "//ex.co/a",
        "https://ex.co/a\nb",
        "https:///sin-host",
        "https://ex.co/" + "a" * 3000,
        None,
    ],
)
def test_links_that_are_not_http_are_refused(raw: object) -> None:
    assert normalise_link(raw) is None


def test_plain_text_strips_markup_controls_and_caps_length() -> None:
    raw = "<p>Hola <b>mundo</b></p><script>alert(1)</script>\x1b[31m rojo\u202e &amp; más"
    assert plain_text(raw) == "Hola mundo [31m rojo & más"
    assert plain_text("&lt;script&gt;") == "<script>"  # decoded once, shown as text
    long = plain_text("palabra " * 100, limit=50)
    assert len(long) <= 50 and long.endswith("…")
    assert cut("corto", 10) == "corto"
    assert re.fullmatch(r"[^\x00-\x1f\x7f]*", plain_text("a\x00b\x07c\td"))
