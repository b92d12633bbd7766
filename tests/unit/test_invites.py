"""The live session's calendar invite as a calendar reads it: field by field, hostile text kept as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from bot.catalog.schema import SupportModel
from bot.domain.invites import Host, Session, build_ics, dm_text, file_name, fingerprint, uid

STAMP = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOSTILE = "Git; tips, and\ntricks <!channel> *bold* \\ END:VEVENT"


def session(**changes) -> Session:
    base = dict(request_id=42, starts=datetime(2027, 3, 16, 15, 0, tzinfo=UTC), minutes=50, summary="Coaching 101",
                issue_url="https://gitlab.example/ld/requests/-/issues/7", organiser=Host("U0REQ", "Ana"),
                organiser_zone="Europe/Berlin", hosts=(Host("U0REQ", "Ana"), Host("U0HOST", 'Bo "the host"; x')))
    return Session(**{**base, **changes})


def event_of(ics: bytes):
    cal = Calendar.from_ical(ics)
    [event] = cal.walk("VEVENT")
    return cal, event


def test_a_request_invite_reads_back_field_by_field():
    cal, event = event_of(build_ics(session(), method="REQUEST", sequence=0, domain="gitlab.example", stamp=STAMP))
    assert str(cal["METHOD"]) == "REQUEST" and str(cal["VERSION"]) == "2.0"
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/Berlin"
    assert str(event["UID"]) == "learnbot-request-42@gitlab.example" == uid(42, "gitlab.example")
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == datetime(2027, 3, 16, 15, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2027, 3, 16, 15, 50, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == STAMP
    assert str(event["SUMMARY"]) == "Coaching 101"
    description = str(event["DESCRIPTION"])
    assert "https://gitlab.example/ld/requests/-/issues/7" in description
    assert "2027-03-16 16:00 (Europe/Berlin)" in description  # the organiser's local time
    assert str(event["STATUS"]) == "CONFIRMED"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == ["https://app.slack.com/team/U0REQ", "https://app.slack.com/team/U0HOST"]
    assert [a.params["CN"] for a in attendees] == ["Ana", 'Bo "the host"; x']  # quoted and escaped, read back whole
    assert {a.params["RSVP"] for a in attendees} == {"FALSE"}
    assert str(event["ORGANIZER"]) == "https://app.slack.com/team/U0REQ" and event["ORGANIZER"].params["CN"] == "Ana"


def test_a_25_minute_session_ends_25_minutes_later_in_utc_whatever_zone_it_was_picked_in():
    from zoneinfo import ZoneInfo

    starts = datetime(2027, 7, 1, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    _, event = event_of(build_ics(session(starts=starts, minutes=25), method="REQUEST", sequence=0,
                                  domain="x", stamp=STAMP))
    assert event.decoded("DTSTART") == datetime(2027, 7, 1, 13, 30, tzinfo=UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=25)
    assert b"DTSTART:20270701T133000Z" in build_ics(session(starts=starts), method="REQUEST", sequence=0,
                                                    domain="x", stamp=STAMP)


def test_hostile_title_is_escaped_by_the_library_and_reads_back_as_typed():
    ics = build_ics(session(summary=HOSTILE), method="REQUEST", sequence=3, domain="x", stamp=STAMP)
    assert b"SUMMARY:Git\\; tips\\, and\\ntricks" in ics
    lines = ics.split(b"\r\n")
    assert lines.count(b"END:VEVENT") == 1 and lines.count(b"BEGIN:VEVENT") == 1  # the title broke no line out
    _, event = event_of(ics)
    assert str(event["SUMMARY"]) == HOSTILE


def test_a_cancel_keeps_the_uid_and_says_cancelled():
    ics = build_ics(session(), method="CANCEL", sequence=2, domain="gitlab.example", stamp=STAMP)
    cal, event = event_of(ics)
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == "learnbot-request-42@gitlab.example" and int(event["SEQUENCE"]) == 2
    assert file_name(42, "CANCEL", 2) == "live-learning-42-v2-cancelled.ics"
    assert file_name(42, "REQUEST", 0) == "live-learning-42-v0.ics"


def test_the_same_session_builds_the_same_bytes_and_only_a_visible_change_is_a_new_version():
    assert build_ics(session(), method="REQUEST", sequence=1, domain="x", stamp=STAMP) == \
        build_ics(session(), method="REQUEST", sequence=1, domain="x", stamp=STAMP)
    same = fingerprint(session(), "REQUEST")
    assert fingerprint(session(issue_url=None), "REQUEST") == same  # a link is not a calendar change
    assert fingerprint(session(starts=datetime(2027, 3, 17, 15, 0, tzinfo=UTC)), "REQUEST") != same
    assert fingerprint(session(minutes=25), "REQUEST") != same
    assert fingerprint(session(), "CANCEL") != same


def test_the_dm_escapes_the_title_for_slack():
    local = datetime(2027, 3, 16, 16, 0, tzinfo=UTC)
    text = dm_text("<!channel> <https://evil|click> & co\nline", method="REQUEST", sequence=0, local=local,
                   minutes=50)
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; &lt;https://evil|click&gt; &amp; co line" in text
    assert "moved" in dm_text("t", method="REQUEST", sequence=1, local=local, minutes=25)
    assert "cancelled" in dm_text("t", method="CANCEL", sequence=2, local=local, minutes=25)


def _model(invite: dict) -> dict:
    return {"key": "talk", "name": "Talk", "modal_title": "Talk", "summary": "s", "template": "t.md.j2",
            "issue_title": "T", "invite": invite, "fields": [
                {"id": "title", "type": "text", "label": "Title"},
                {"id": "at", "type": "datetime", "label": "When"},
                {"id": "len", "type": "select", "label": "Length", "options": [{"value": "25", "label": "25"}]},
                {"id": "day", "type": "date", "label": "Day"}]}


def test_the_catalogue_says_which_answers_make_the_invite():
    SupportModel.model_validate(_model({"starts": "at", "minutes": "len", "summary": "title"}))
    for wrong in ({"starts": "day", "minutes": "len", "summary": "title"},
                  {"starts": "at", "minutes": "title", "summary": "title"},
                  {"starts": "at", "minutes": "len", "summary": "nope"}):
        with pytest.raises(ValueError, match="invite"):
            SupportModel.model_validate(_model(wrong))
