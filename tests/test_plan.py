"""The shipped plan, the example content files, and the plan loader's errors."""

from __future__ import annotations

import re
import textwrap
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from twitter_text import parse_tweet

from dispatcher.items.model import ChannelSelection, FrontMatter
from dispatcher.items.plan import Plan, PlanError, default_plan_path, load_plan

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "content" / "examples"
CHANNELS = frozenset({"website", "facebook", "x", "telegram", "mailing"})
BOGOTA = ZoneInfo("America/Bogota")
EXPECTED_ACTIVITIES = {
    "boletin": 1,
    "rueda_de_prensa": 2,
    "recorrido_obras": 6,
    "comite": 8,
    "mesa_publica": 9,
    "campana": 10,
    "instituto": 11,
    "informe_especial": 12,
    "contratacion": 13,
    "hable_con_el_alcalde": 14,
}
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.md"))


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(default_plan_path(), CHANNELS)


def split_front_matter(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path.name}: falta la apertura '---'"
    end = text.index("\n---\n", 4)
    meta = yaml.safe_load(text[4:end])
    assert isinstance(meta, dict)
    return meta, text[end + 5 :]


# --- the shipped plan -------------------------------------------------------------------


def test_default_plan_path_is_the_repo_plan() -> None:
    assert default_plan_path() == ROOT / "content" / "plan.yaml"


def test_shipped_plan_has_every_kind_with_its_activity(plan: Plan) -> None:
    assert plan.timezone == "America/Bogota"
    assert plan.tz == BOGOTA
    for key, activity in EXPECTED_ACTIVITIES.items():
        assert plan.kinds[key].activity == activity, key
        assert plan.kinds[key].key == key
        assert plan.kinds[key].label


def test_shipped_plan_rules(plan: Plan) -> None:
    boletin = plan.kinds["boletin"]
    assert boletin.frequency == "daily"
    assert set(boletin.channels) == CHANNELS
    assert boletin.mailing is not None
    assert (boletin.mailing.mode, boletin.mailing.at) == ("digest", time(17, 0))
    assert set(boletin.mailing.audiences) == {"periodistas", "ciudadania"}

    informe = plan.kinds["informe_especial"]
    assert informe.frequency == "weekly"
    # the 2017 plan has no approval step: every shipped kind publishes without one
    assert all(kind.approval == "none" for kind in plan.kinds.values())
    assert informe.mailing is not None and informe.mailing.mode == "immediate"
    assert set(informe.mailing.audiences) == {
        "funcionarios",
        "jac_jal",
        "gremios",
        "periodistas",
        "ciudadania",
    }

    contratacion = plan.kinds["contratacion"]
    assert set(contratacion.channels) == {"website", "facebook", "x"}

    early = plan.kinds["rueda_de_prensa"].early
    assert early is not None
    assert (early.channels, early.audiences, early.before) == (
        ["telegram", "mailing"],
        ["periodistas"],
        timedelta(hours=24),
    )
    assert plan.kinds["hable_con_el_alcalde"].frequency == "biweekly"
    assert plan.kinds["mesa_publica"].frequency == "weekly"


def test_shipped_recurring_programmes(plan: Plan) -> None:
    by_id = {r.id: r for r in plan.recurring}
    mesa, hable = by_id["mesa-publica"], by_id["hable-con-el-alcalde"]
    assert (mesa.kind, mesa.weekday, mesa.time, mesa.every_weeks) == (
        "mesa_publica",
        "thursday",
        time(7, 0),
        1,
    )
    assert mesa.announce_before == timedelta(minutes=30)
    assert (hable.kind, hable.weekday, hable.every_weeks) == ("hable_con_el_alcalde", "monday", 2)
    assert hable.anchor is not None and hable.anchor.weekday() == 0


# --- example content files --------------------------------------------------------------


def test_examples_cover_every_kind(plan: Plan) -> None:
    metas = [split_front_matter(p)[0] for p in EXAMPLE_FILES]
    assert len(EXAMPLE_FILES) >= 10
    assert set(plan.kinds) <= {m["kind"] for m in metas}
    boletines = [m for m in metas if m["kind"] == "boletin"]
    assert any(m.get("image") for m in boletines)
    assert any(str(a).endswith(".pdf") for m in boletines for a in m.get("attachments", []))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_file_is_valid(path: Path, plan: Plan) -> None:
    meta, body = split_front_matter(path)
    fm = FrontMatter.model_validate(meta)
    assert fm.kind in plan.kinds
    assert fm.id == path.stem
    assert fm.date is not None and (fm.date.year, fm.date.month) == (2026, 11)
    assert fm.summary is not None and len(fm.summary) <= 200
    # A tweet "title + URL" fits; X counts every URL as 23.
    url = f"https://www.bucaramanga.gov.co/noticias/{fm.id}/"
    assert parse_tweet(f"{fm.title} {url}").weightedLength <= 280
    plan.channels_for(fm.kind, fm.channels)
    plan.audiences_for(fm.kind, fm.audiences)
    for media in fm.media:
        data = (path.parent / media).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n" if media.endswith(".png") else b"%PDF-")
    paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    assert 2 <= len(paragraphs) <= 8
    assert not re.search(r"</?[a-zA-Z][^>]*>", body), "sin HTML en el cuerpo"


# --- loader errors -----------------------------------------------------------------------

GOOD = textwrap.dedent(
    """\
    timezone: America/Bogota
    kinds:
      boletin:
        label: Boletín de prensa
        activity: 1
        frequency: daily
        channels: [website, telegram, mailing]
        mailing:
          audiences: [periodistas]
          mode: digest
          at: "17:00"
      mesa_publica:
        label: Mesa Pública
        activity: 9
        frequency: weekly
        channels: [website, telegram]
    recurring:
      - id: mesa-publica
        kind: mesa_publica
        title: Mesa Pública hoy
        weekday: thursday
        time: "07:00"
    """
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_good_minimal_plan_loads(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, GOOD), CHANNELS)
    assert list(plan.kinds) == ["boletin", "mesa_publica"]


# (replace this, with this, expected YAML path, words in the message, line holding it)
BAD_PLANS = [
    ("    channels: [website, telegram]", "    chanels: [website]",
     "kinds.mesa_publica.chanels", "clave desconocida", "chanels:"),
    ("[website, telegram, mailing]", "[website, whatsapp, mailing]",
     "kinds.boletin.channels[1]", "canal desconocido 'whatsapp'", "whatsapp"),
    ("thursday", "jueves", "recurring[0].weekday", "'jueves' no permitido", "jueves"),
    ('at: "17:00"', "at: 1020", "kinds.boletin.mailing.at", "HH:MM", "at: 1020"),
    ("activity: 9", "activity: nueve", "kinds.mesa_publica.activity", "número entero", "nueve"),
    ("    kind: mesa_publica", "    kind: radio", "recurring[0].kind", "no definido", "radio"),
    ('time: "07:00"', 'time: "7 am"', "recurring[0].time", "hora inválida", "7 am"),
    ("frequency: weekly", "frequency: semanal",
     "kinds.mesa_publica.frequency", "no permitido", "semanal"),
    # Cross-field rules point at the block they belong to.
    ("mode: digest", "mode: immediate", "kinds.boletin.mailing", "solo aplica", "mailing:"),
    ('    time: "07:00"', '    time: "07:00"\n    every_weeks: 2\n    anchor: 2026-11-09',
     "recurring[0]", "cae en monday", "- id: mesa-publica"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "where", "words", "line_at"), BAD_PLANS)
def test_bad_plan_names_file_path_and_line(
    tmp_path: Path, old: str, new: str, where: str, words: str, line_at: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(PlanError) as info:
        load_plan(path, CHANNELS)
    message = str(info.value)
    assert str(path) in message
    assert f"línea {line_of(text, line_at)}, {where}:" in message, message
    assert words in message


def test_unquoted_times_are_read_as_yaml_1_2_text(tmp_path: Path) -> None:
    """One YAML reader (ruamel, YAML 1.2): ``17:00`` stays the text "17:00", not 1020."""
    text = GOOD.replace('at: "17:00"', "at: 17:00").replace('time: "07:00"', "time: 07:00")
    plan = load_plan(write(tmp_path, text), CHANNELS)
    mailing = plan.kinds["boletin"].mailing
    assert mailing is not None and mailing.at == time(17, 0)
    assert plan.recurring[0].time == time(7, 0)


def test_timezone_has_one_source(tmp_path: Path) -> None:
    """``PREGONERO_TIMEZONE`` rules: the plan takes it; a plan that disagrees is refused."""
    path = write(tmp_path, GOOD)
    assert load_plan(path, CHANNELS, timezone="America/Bogota").tz == ZoneInfo("America/Bogota")
    with pytest.raises(PlanError) as info:
        load_plan(path, CHANNELS, timezone="America/Lima")
    message = str(info.value)
    assert f"línea {line_of(GOOD, 'timezone:')}, timezone:" in message
    assert "PREGONERO_TIMEZONE" in message and "'America/Lima'" in message
    silent = write(tmp_path, GOOD.replace("timezone: America/Bogota\n", ""))
    assert load_plan(silent, CHANNELS, timezone="America/Lima").tz == ZoneInfo("America/Lima")


def test_yaml_bombs_aliases_and_tags_are_refused(tmp_path: Path) -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    for text, words in [
        (laughs + GOOD, "anclas"),
        (GOOD + "extra: !!python/object:os.system x\n", "etiquetas"),
        (GOOD.replace("timezone: America/Bogota", "timezone: !zona America/Bogota"), "etiquetas"),
        (GOOD + "timezone: America/Bogota\n", "repetida"),
    ]:
        with pytest.raises(PlanError, match=words):
            load_plan(write(tmp_path, text), CHANNELS)


def test_missing_required_key_points_at_its_parent(tmp_path: Path) -> None:
    text = GOOD.replace("    activity: 9\n", "")
    with pytest.raises(PlanError) as info:
        load_plan(write(tmp_path, text), CHANNELS)
    assert f"línea {line_of(text, 'mesa_publica:')}, kinds.mesa_publica.activity:" in str(
        info.value
    )
    assert "falta" in str(info.value)


def test_bad_yaml_gives_the_line(tmp_path: Path) -> None:
    text = GOOD.replace("[website, telegram]", "[website, telegram")
    with pytest.raises(PlanError, match=r"YAML inválido") as info:
        load_plan(write(tmp_path, text), CHANNELS)
    assert re.search(r"línea \d+", str(info.value))
    assert info.value.__suppress_context__  # no chained YAML traceback for editors


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    frequency: weekly\n", "    frequency: weekly\n    frequency: biweekly\n"
    )
    with pytest.raises(PlanError) as info:
        load_plan(write(tmp_path, text), CHANNELS)
    assert f"línea {line_of(text, 'frequency: biweekly')}, kinds.mesa_publica.frequency:" in str(
        info.value
    )


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no se pudo leer"):
        load_plan(tmp_path / "no-existe.yaml", CHANNELS)
    with pytest.raises(PlanError, match="debe ser un mapa"):
        load_plan(write(tmp_path, "- boletin\n"), CHANNELS)


def test_every_weeks_needs_anchor(tmp_path: Path) -> None:
    text = GOOD.replace('    time: "07:00"', '    time: "07:00"\n    every_weeks: 2')
    with pytest.raises(PlanError, match="requiere 'anchor'"):
        load_plan(write(tmp_path, text), CHANNELS)


def test_mailing_channel_needs_rule(tmp_path: Path) -> None:
    text = GOOD.replace("[website, telegram]\n", "[website, telegram, mailing]\n")
    with pytest.raises(PlanError, match="van juntos") as info:
        load_plan(write(tmp_path, text), CHANNELS)
    assert f"línea {line_of(text, '  mesa_publica:')}, kinds.mesa_publica:" in str(info.value)


def test_plugin_channel_is_accepted_when_known(tmp_path: Path) -> None:
    text = GOOD.replace("[website, telegram]\n", "[website, mastodon]\n")
    with pytest.raises(PlanError):
        load_plan(write(tmp_path, text), CHANNELS)
    plan = load_plan(write(tmp_path, text), CHANNELS | {"mastodon"})
    assert plan.kinds["mesa_publica"].channels == ["website", "mastodon"]


# --- channels and audiences --------------------------------------------------------------


def test_channels_for_applies_only_and_exclude(plan: Plan) -> None:
    assert plan.channels_for("boletin", None) == ["website", "facebook", "x", "telegram", "mailing"]
    only = ChannelSelection(only=["telegram", "website"])
    assert plan.channels_for("boletin", only) == ["website", "telegram"]
    exclude = ChannelSelection(exclude=["mailing", "x"])
    assert plan.channels_for("boletin", exclude) == ["website", "facebook", "telegram"]
    assert plan.channels_for("contratacion", ChannelSelection()) == ["website", "facebook", "x"]


def test_channels_for_refuses_channels_outside_the_plan(plan: Plan) -> None:
    with pytest.raises(ValueError, match=r"channels\.only: telegram no está en el plan"):
        plan.channels_for("contratacion", ChannelSelection(only=["website", "telegram"]))
    with pytest.raises(ValueError, match=r"channels\.exclude: mailing no está en el plan"):
        plan.channels_for("campana", ChannelSelection(exclude=["mailing"]))
    with pytest.raises(ValueError, match="ningún canal"):
        plan.channels_for("aviso_prensa", ChannelSelection(exclude=["telegram"]))
    with pytest.raises(ValueError, match="tipo de contenido desconocido"):
        plan.channels_for("comunicado", None)


def test_audiences_for(plan: Plan) -> None:
    assert plan.audiences_for("boletin", None) == ["periodistas", "ciudadania"]
    assert plan.audiences_for("boletin", ["ciudadania"]) == ["ciudadania"]
    assert plan.audiences_for("campana", None) == []
    with pytest.raises(ValueError, match="gremios no está en el plan"):
        plan.audiences_for("boletin", ["gremios"])
    with pytest.raises(ValueError, match="no se envía por correo"):
        plan.audiences_for("contratacion", ["ciudadania"])


# --- recurring programmes ----------------------------------------------------------------


def test_mesa_publica_every_thursday(plan: Plan) -> None:
    found = plan.next_occurrences(
        "mesa-publica", datetime(2026, 11, 1, tzinfo=BOGOTA), datetime(2026, 12, 1, tzinfo=BOGOTA)
    )
    assert found == [datetime(2026, 11, d, 7, 0, tzinfo=BOGOTA) for d in (5, 12, 19, 26)]
    assert all(d.utcoffset() == timedelta(hours=-5) for d in found)
    mesa = next(r for r in plan.recurring if r.id == "mesa-publica")
    assert mesa.announce_at(found[0]) == datetime(2026, 11, 5, 6, 30, tzinfo=BOGOTA)


def test_hable_con_el_alcalde_every_other_monday_from_anchor(plan: Plan) -> None:
    hable = next(r for r in plan.recurring if r.id == "hable-con-el-alcalde")
    assert hable.anchor == date(2026, 11, 9)
    nov = plan.next_occurrences(
        hable, datetime(2026, 11, 1, tzinfo=BOGOTA), datetime(2026, 12, 1, tzinfo=BOGOTA)
    )
    assert [d.day for d in nov] == [9, 23]
    assert all((d.weekday(), d.hour) == (0, 18) for d in nov)
    # Before the anchor the cadence runs backwards; other months keep it.
    october = plan.next_occurrences(hable, datetime(2026, 10, 1), datetime(2026, 11, 1))
    assert [d.day for d in october] == [12, 26]
    assert all(d.tzinfo == BOGOTA for d in october)
    december = plan.next_occurrences(hable, datetime(2026, 12, 1), datetime(2027, 1, 1))
    assert [d.day for d in december] == [7, 21]


def test_next_occurrences_window_is_after_exclusive_until_inclusive(plan: Plan) -> None:
    thursday_7 = datetime(2026, 11, 12, 7, 0, tzinfo=BOGOTA)
    utc = ZoneInfo("UTC")
    found = plan.next_occurrences(
        "mesa-publica", thursday_7, datetime(2026, 11, 19, 12, 0, tzinfo=utc)
    )
    assert found == [datetime(2026, 11, 19, 7, 0, tzinfo=BOGOTA)]
    assert plan.next_occurrences("mesa-publica", thursday_7 - timedelta(seconds=1), thursday_7) == [
        thursday_7
    ]
    with pytest.raises(ValueError, match="desconocido"):
        plan.next_occurrences("radio-nacional", thursday_7, thursday_7 + timedelta(days=30))
