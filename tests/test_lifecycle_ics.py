"""Calendar invitations for a press conference (issue 12), through ``pregonero run --once``
with a real SMTP server (aiosmtpd): the call's e-mail carries a ``text/calendar;
method=REQUEST`` part that parses with ``icalendar`` and names the event's start, place,
organizer and a UID; the website page links the same event's ``.ics``; a correction of
the time bumps SEQUENCE (same UID) on the site and in the correction notice mailed when
the plan says ``corrections: mail``; a withdrawal removes it from the site and mails its
cancellation (``METHOD:CANCEL``) to those invited.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import icalendar
import yaml

from tests.conftest import Workspace
from tests.test_mailing_support import FROM, PUBLIC, Sink, smtp_server

TZ = ZoneInfo("America/Bogota")
ITEM = "rueda-balance-seguridad"
UID = f"{ITEM}@www.bucaramanga.gov.co"


def rueda(starts_at: datetime) -> str:
    return (
        f"---\nkind: rueda_de_prensa\nid: {ITEM}\n"
        'title: "Rueda de prensa: balance de seguridad"\n'
        f"event:\n  starts_at: {starts_at.strftime('%Y-%m-%dT%H:%M:%S')}\n"
        "  place: CAM, salón de prensa\n  speakers: [Secretario de Seguridad]\n---\n\n"
        "El Alcalde presenta el balance de seguridad del puente festivo.\n"
    )


def calendars(sink: Sink) -> list[tuple[EmailMessage, icalendar.Calendar]]:
    found = []
    for message in sink.parsed():
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                assert part.get_param("method") in ("REQUEST", "CANCEL")
                found.append((message, icalendar.Calendar.from_ical(part.get_payload(decode=True))))
    return found


def event_of(cal: icalendar.Calendar) -> icalendar.Event:
    (event,) = [c for c in cal.walk("VEVENT")]
    return event


def test_the_call_carries_an_invitation_and_a_correction_bumps_its_sequence(
    workspace: Workspace,
) -> None:
    plan_path = workspace.content / "plan.yaml"
    plan = yaml.safe_load(plan_path.read_text("utf-8"))
    plan["kinds"]["rueda_de_prensa"]["corrections"] = "mail"
    plan_path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    sink = Sink()
    with smtp_server(sink) as port:
        workspace.env.update(
            PREGONERO_SMTP__HOST="127.0.0.1",
            PREGONERO_SMTP__PORT=str(port),
            PREGONERO_SMTP__FROM=FROM,
            PREGONERO_WEB__PUBLIC_URL=PUBLIC,
        )
        csv = workspace.root / "periodistas.csv"
        csv.write_text(
            "email,name,audiences,consent_at,consent_source\n"
            "ana@example.org,Ana,periodistas,2026-01-10,formulario web\n",
            encoding="utf-8",
        )
        workspace.cli("subscribers", "import", str(csv), check=True)
        # within 24 hours: the call (Telegram + periodistas) goes at once
        starts = (datetime.now(TZ) + timedelta(hours=5)).replace(second=0, microsecond=0)
        workspace.write(f"{ITEM}.md", rueda(starts))
        workspace.cli("run", "--once", timeout=120, check=True)

        (message, cal), *_ = calendars(sink)
        assert str(cal["method"]) == "REQUEST"
        event = event_of(cal)
        assert str(event["uid"]) == UID
        assert event.decoded("dtstart") == starts
        assert event.decoded("dtstart").utcoffset() == timedelta(hours=-5)
        assert event.decoded("dtend") == starts + timedelta(hours=1)
        assert str(event["location"]) == "CAM, salón de prensa"
        assert int(event["sequence"]) == 0
        # FROM is "Prensa Alcaldía <prensa@bucaramanga.gov.co>"
        assert str(event["organizer"]).lower() == "mailto:prensa@bucaramanga.gov.co"
        assert message["To"] == "ana@example.org"
        assert cal.walk("VTIMEZONE")  # RFC 5545: the TZID is defined

        # the website page links the same event
        (page,) = workspace.site.glob(f"**/{ITEM}/index.html")
        assert 'href="' in page.read_text("utf-8") and "convocatoria.ics" in page.read_text("utf-8")
        site_event = event_of(
            icalendar.Calendar.from_ical((page.parent / "convocatoria.ics").read_bytes())
        )
        assert str(site_event["uid"]) == UID and int(site_event["sequence"]) == 0
        url = str(site_event["url"])
        assert url.startswith("https://www.bucaramanga.gov.co/noticias/")
        assert url in str(site_event["description"])
        # the Telegram message (outbox mode here) links the same file; the call sent ahead,
        # before the page existed, cannot
        posts = [p.read_text("utf-8") for p in (workspace.outbox / "telegram").glob("*.html")]
        links = {m for text in posts for m in re.findall(r'href="([^"]+\.ics)"', text)}
        assert links == {urljoin(url, "convocatoria.ics")}, posts

        # the time changes: the same UID, SEQUENCE 1, on the site and in the notice
        before = len(calendars(sink))
        later = starts + timedelta(hours=1)
        workspace.write(f"{ITEM}.md", rueda(later))
        workspace.cli("run", "--once", timeout=120, check=True)
        site_event = event_of(
            icalendar.Calendar.from_ical((page.parent / "convocatoria.ics").read_bytes())
        )
        assert str(site_event["uid"]) == UID and int(site_event["sequence"]) == 1
        assert site_event.decoded("dtstart") == later
        notices = calendars(sink)[before:]
        assert notices, "the correction notice carries the updated invitation"
        for notice, cal in notices:
            assert str(notice["Subject"]).startswith("Corrección:")
            event = event_of(cal)
            assert str(event["uid"]) == UID and int(event["sequence"]) == 1
            assert event.decoded("dtstart") == later

        # withdrawn: the page no longer offers the invitation, and those invited get the
        # cancellation (METHOD:CANCEL, the same UID, SEQUENCE past the last revision)
        before = len(calendars(sink))
        workspace.cli("withdraw", ITEM, "--reason", "Se aplaza sin fecha", check=True)
        workspace.cli("run", "--once", timeout=120, check=True)
        assert not (page.parent / "convocatoria.ics").exists()
        assert "convocatoria.ics" not in page.read_text("utf-8")
        ((cancel, cal),) = calendars(sink)[before:]
        assert str(cal["method"]) == "CANCEL"
        event = event_of(cal)
        assert str(event["uid"]) == UID and int(event["sequence"]) == 2
        assert str(event["status"]) == "CANCELLED" and event.decoded("dtstart") == later
        assert cancel["To"] == "ana@example.org"
        assert str(cancel["Subject"]).startswith("Convocatoria cancelada:")
        text = cancel.get_body(("plain",))
        assert text is not None and "Motivo: Se aplaza sin fecha" in text.get_content()
        assert cancel["List-Unsubscribe"]  # a bulk message like any other
        status = workspace.cli("status", ITEM, check=True).stdout
        assert "retirada" in status
        # a second pass mails nobody again
        sent = len(sink.parsed())
        workspace.cli("run", "--once", timeout=120, check=True)
        assert len(sink.parsed()) == sent
