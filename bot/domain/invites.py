"""Calendar invites for live sessions: the iCalendar (RFC 5545, iTIP RFC 5546) file, built from plain data.

Times are written in UTC (`DTSTART:…Z`), which every calendar reads the same way, and the organiser's zone
is named in `X-WR-TIMEZONE` (the de-facto property Google, Apple and Outlook read to show the calendar's
zone) and in the description's local time: no VTIMEZONE block to get wrong. learnbot knows no e-mail
addresses (Slack profiles give them only with `users:read.email`, which learnbot does not ask for), so
people are `CAL-ADDRESS` URIs of their Slack profile (`https://app.slack.com/team/U…`, a URI as RFC 5545
§3.3.3 allows) with their Slack name as `CN`, and `RSVP=FALSE`: the file goes to each host's DM, not by mail.
Everything a person typed (title, names) is escaped and folded by the `icalendar` library.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress

from bot.domain.safe_text import one_line, slack_plain

PRODID = "-//learnbot//Live Learning sessions//EN"
Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Host:
    user_id: str
    name: str


@dataclass(frozen=True)
class Session:
    """What an invite says about one live session (one request)."""

    request_id: int
    starts: datetime  # aware
    minutes: int
    summary: str
    issue_url: str | None
    organiser: Host
    organiser_zone: str  # an IANA name, e.g. Europe/Berlin
    hosts: tuple[Host, ...]


def uid(request_id: int, domain: str) -> str:
    """The invite's UID: the same for every version of one request's invite, unique across deployments."""
    return f"learnbot-request-{request_id}@{domain}"


def address(host: Host) -> vCalAddress:
    addr = vCalAddress(f"https://app.slack.com/team/{host.user_id}")
    addr.params["CN"] = host.name
    return addr


def fingerprint(session: Session, method: Method) -> str:
    """What a calendar would show: a change here is a new version (a higher SEQUENCE); nothing else is."""
    parts = [method, session.starts.astimezone(UTC).isoformat(), str(session.minutes), session.summary,
             session.organiser.user_id, *sorted(h.user_id for h in session.hosts)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def description(session: Session) -> str:
    local = session.starts.astimezone(_zone(session.organiser_zone))
    lines = [f"Live Learning session ({session.minutes} minutes), planned with learnbot.",
             f"Organiser's time: {local:%Y-%m-%d %H:%M} ({session.organiser_zone})."]
    if session.issue_url:
        lines.append(f"Issue: {session.issue_url}")
    return "\n".join(lines)


def build_ics(session: Session, *, method: Method, sequence: int, domain: str, stamp: datetime) -> bytes:
    """One VEVENT in a VCALENDAR with METHOD REQUEST (invite or update) or CANCEL, as bytes for a .ics file."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add("x-wr-timezone", session.organiser_zone)
    event = Event()
    event.add("uid", uid(session.request_id, domain))
    event.add("sequence", sequence)
    event.add("dtstamp", stamp.astimezone(UTC))
    start = session.starts.astimezone(UTC)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=session.minutes))
    event.add("summary", session.summary)
    event.add("description", description(session))
    if session.issue_url:
        event.add("url", session.issue_url)
    event.add("organizer", address(session.organiser))
    for host in session.hosts:
        attendee = address(host)
        attendee.params.update({"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION",
                                "RSVP": "FALSE"})
        event.add("attendee", attendee, encode=False)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return cal.to_ical()


def file_name(request_id: int, method: Method, sequence: int) -> str:
    """Names one version (a retry looks for it in the DM by this name)."""
    return f"live-learning-{request_id}-v{sequence}{'-cancelled' if method == 'CANCEL' else ''}.ics"


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return UTC


def dm_text(summary: str, *, method: Method, sequence: int, local: datetime, minutes: int) -> str:
    """The DM the file comes with (Slack mrkdwn; the title is a person's text, escaped)."""
    title = slack_plain(one_line(summary, 150), 160)
    when = f"{local:%A %d %B %Y, %H:%M} ({local.tzname()}, {minutes} min)"
    if method == "CANCEL":
        return (f":calendar: The Live Learning session *{title}* is cancelled. Open the attached invite "
                "to take it off your calendar.")
    if sequence > 0:
        return (f":calendar: The Live Learning session *{title}* moved to {when}. Open the invite to update "
                "your calendar.")
    return f":calendar: Your Live Learning session *{title}*: {when}. Open the invite to add it to your calendar."
