"""Calendar invitations (iCalendar, RFC 5545) for an item with an ``event`` (a press
conference): one ``VEVENT`` whose ``UID`` is stable across corrections (the item id at the
site's host) and whose ``SEQUENCE`` grows with each revision, so a corrected time updates
the journalist's calendar instead of adding a second entry.

``method`` is ``REQUEST`` for the e-mail invitation (RFC 6047), ``PUBLISH`` for the file
the website links, and ``CANCEL`` when the item is withdrawn (``STATUS:CANCELLED``, the
sequence one past the last revision). Used by the static site and the core's mailing, so
both write the same event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

DEFAULT_DURATION = timedelta(hours=1)
PRODID = "-//Pregonero//Oficina de Prensa//ES"
Method = Literal["REQUEST", "PUBLISH", "CANCEL"]


@dataclass(frozen=True)
class Invitation:
    """What the calendar entry says. ``starts_at`` is aware (the plan's time zone)."""

    item_id: str
    title: str
    starts_at: datetime
    place: str
    site_url: str
    """The website's base URL: its host names the UID."""
    url: str | None = None
    summary: str = ""
    speakers: tuple[str, ...] = ()
    organizer_email: str | None = None
    organizer_name: str = ""
    revision: int = 1
    ends_at: datetime | None = None


def event_uid(item_id: str, site_url: str) -> str:
    """The UID of the item's event: the same for every revision (and both channels)."""
    host = urlsplit(site_url).hostname or "pregonero.invalid"
    return f"{item_id}@{host}"


def calendar_bytes(invite: Invitation, method: Method, *, now: datetime | None = None) -> bytes:
    """The ``.ics`` for ``invite``; ``CANCEL`` bumps ``SEQUENCE`` past the last revision."""
    # imported here: ~10 MB a process carries only once it writes an invitation
    from icalendar import Calendar, Event, vCalAddress, vText

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    event = Event()
    event.add("uid", event_uid(invite.item_id, invite.site_url))
    event.add("sequence", invite.revision - 1 + (1 if method == "CANCEL" else 0))
    event.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0))
    event.add("dtstart", invite.starts_at)
    event.add("dtend", invite.ends_at or invite.starts_at + DEFAULT_DURATION)
    event.add("summary", invite.title)
    event.add("location", invite.place)
    lines = [invite.summary] if invite.summary else []
    if invite.speakers:
        lines.append("Voceros: " + ", ".join(invite.speakers))
    if invite.url:
        lines.append(f"Más información: {invite.url}")
        event.add("url", invite.url)
    if lines:
        event.add("description", "\n\n".join(lines))
    if invite.organizer_email:
        organizer = vCalAddress(f"mailto:{invite.organizer_email}")
        if invite.organizer_name:
            organizer.params["cn"] = vText(invite.organizer_name)
        event.add("organizer", organizer)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    cal.add_missing_timezones()  # a VTIMEZONE for the TZID, as RFC 5545 requires
    data: bytes = cal.to_ical()
    return data
