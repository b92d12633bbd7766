"""Bad answers are refused field by field, with a reason the requester can act on."""

from datetime import UTC, date, datetime

import pytest

from bot.catalog import load_catalog
from bot.config import DEFAULT_HANDBOOK_PREFIXES
from bot.domain.validation import check_answers, in_handbook
from tests.samples import RAW

CATALOG = load_catalog()
TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def check(key, raw):
    return check_answers(CATALOG.model(key), raw, today=TODAY, now=NOW, handbook_prefixes=DEFAULT_HANDBOOK_PREFIXES)


PATHWAY = {
    "title": "Async 101", "audience": ["team-members"], "launch_date": "2027-01-13",
    "handbook_urls": "https://handbook.gitlab.com/handbook/company/culture/all-remote/asynchronous/",
    "existing_content": "none found", "objectives": "Write async", "outline": "Intro\nPractice",
    "badge": "yes", "co_owners": ["U0CO"],
}


def test_a_good_pathway_is_typed():
    result = check("new-pathway", PATHWAY)
    assert result.ok, result.errors
    assert result.answers["launch_date"] == date(2027, 1, 13)
    assert result.answers["badge"] is True
    assert result.answers["handbook_urls"] == [PATHWAY["handbook_urls"]]


def test_missing_required_fields_are_named():
    result = check("new-pathway", {**PATHWAY, "title": "  ", "objectives": None})
    assert set(result.errors) == {"title", "objectives"}
    assert "required" in result.errors["title"]


def test_a_carriage_return_is_a_line_break():
    assert "single line" in check("new-pathway", {**PATHWAY, "title": "Async\r/close"}).errors["title"]
    result = check("new-pathway", {**PATHWAY, "objectives": "Write async\r/close\r\nRead async"})
    assert result.answers["objectives"] == "Write async\n/close\nRead async"


def test_optional_fields_may_be_empty():
    assert check("new-pathway", {**PATHWAY, "co_owners": []}).ok


def test_launch_date_in_the_past_is_refused_with_the_earliest_allowed_date():
    result = check("new-pathway", {**PATHWAY, "launch_date": "2026-11-24"})
    assert result.errors["launch_date"] == "2026-11-24 is in the past. Pick 2026-11-25 or later."
    assert check("new-pathway", {**PATHWAY, "launch_date": "2026-11-25"}).ok  # today is fine


def test_content_outside_the_handbook_is_refused_with_the_reason():
    raw = {**PATHWAY, "handbook_urls": "https://handbook.gitlab.com/handbook/x\nhttps://docs.google.com/doc/1"}
    error = check("new-pathway", raw).errors["handbook_urls"]
    assert "docs.google.com" in error and "not in the handbook" in error and "handbook.gitlab.com" in error


def test_lookalike_hosts_are_not_the_handbook():
    assert not in_handbook("https://handbook.gitlab.com.evil.io/x", DEFAULT_HANDBOOK_PREFIXES)
    assert not in_handbook("https://about.gitlab.com/blog/x", DEFAULT_HANDBOOK_PREFIXES)
    assert in_handbook("HTTPS://About.GitLab.com/handbook/leadership/", DEFAULT_HANDBOOK_PREFIXES)


def test_not_a_url():
    errors = check("new-pathway", {**PATHWAY, "handbook_urls": "see the wiki"}).errors
    assert "not a web link" in errors["handbook_urls"]


def test_text_over_the_limit_is_refused():
    result = check("new-pathway", {**PATHWAY, "title": "x" * 151})
    assert result.errors["title"] == "Keep this under 150 characters (it has 151)."


def test_forged_option_values_are_refused():
    assert "options" in check("new-pathway", {**PATHWAY, "audience": ["everyone"]}).errors["audience"]


UPLOAD = {
    "content_type": "channel", "title": "Remote work", "contributor_audience": "customers", "topic": "communication",
    "handbook_urls": "https://about.gitlab.com/handbook/communication/", "description": "Curated",
    "image_url": "https://example.com/i.png", "channel_topics": "remote, async, writing", "provider": "GitLab",
}


def test_upload_checks_only_the_fields_of_the_chosen_kit():
    assert check("upload", UPLOAD).ok
    smartcard = check("upload", {**UPLOAD, "content_type": "smartcard"})
    assert set(smartcard.errors) == {"level", "tags", "duration_minutes"}


def test_channel_needs_three_topics():
    error = check("upload", {**UPLOAD, "channel_topics": "remote, async"}).errors["channel_topics"]
    assert "at least 3" in error and "found 2" in error


@pytest.mark.parametrize("value,msg", [("0", "1 or more"), ("2.5", "whole number"), ("200000", "100,000 or less")])
def test_numbers(value, msg):
    raw = {"topic": "Git", "team": "Eng", "audience": ["sales"], "format": "live", "outcomes": "x",
           "business_impact": "high", "okr_url": "https://gitlab.com/okr/1", "impacted_people": value,
           "needed_by": "2027-01-01"}
    assert msg in check("new-content", raw).errors["impacted_people"]


def test_a_session_time_in_the_past_is_refused():
    stamp = str(int(datetime(2026, 11, 25, 11, 0, tzinfo=UTC).timestamp()))
    raw = {"title": "Coaching", "learning_outcomes": "x", "starts_at": stamp, "duration": "25", "hosts": ["U1AB"],
           "audience": "global", "recorded": "yes", "business_impact": "low", "impacted_people": "10"}
    assert "already passed" in check("live-learning", raw).errors["starts_at"]


def test_dates_more_than_five_years_ahead_are_refused_with_the_latest_allowed_one():
    assert check("new-pathway", {**PATHWAY, "launch_date": "2031-11-25"}).ok  # five years to the day
    for far in ("2031-11-26", "9999-12-31"):
        error = check("new-pathway", {**PATHWAY, "launch_date": far}).errors["launch_date"]
        assert error == f"{far} is more than 5 years ahead. Pick 2031-11-25 or earlier."
    stamp = str(int(datetime(9999, 12, 31, 23, 0, tzinfo=UTC).timestamp()))
    raw = {"title": "Coaching", "learning_outcomes": "x", "starts_at": stamp, "duration": "25", "hosts": ["U1AB"],
           "audience": "global", "recorded": "yes", "business_impact": "low", "impacted_people": "10"}
    assert "more than 5 years ahead" in check("live-learning", raw).errors["starts_at"]


def test_five_years_from_a_leap_day_is_the_28th():
    from bot.domain.limits import latest_day, years_after

    assert latest_day(date(2028, 2, 29)) == date(2033, 2, 28)
    assert years_after(date(9998, 6, 1), 5) < date.max  # never past the calendar's end


def test_a_people_field_names_at_most_its_catalogue_cap():
    ten = [f"U0CO{i:02d}" for i in range(10)]
    assert check("new-pathway", {**PATHWAY, "co_owners": ten}).ok
    error = check("new-pathway", {**PATHWAY, "co_owners": [*ten, "U0CO10"]}).errors["co_owners"]
    assert error == "Name at most 10 people here (you named 11)."
    hosts = [f"U0HOST{i:02d}" for i in range(61)]  # the 61 hosts that once planned 305 DMs
    raw = {"title": "Coaching", "learning_outcomes": "x", "starts_at": str(int(NOW.timestamp()) + 86400 * 30),
           "duration": "25", "hosts": hosts, "audience": "global", "recorded": "yes", "business_impact": "low",
           "impacted_people": "10"}
    assert "at most 10 people" in check("live-learning", raw).errors["hosts"]


@pytest.mark.parametrize("url", [
    "https://handbook.gitlab.com/x><!channel>", "https://handbook.gitlab.com/x><!here>",
    "https://handbook.gitlab.com/x><@U0ADMIN>", "https://handbook.gitlab.com/x|click",
    "https://handbook.gitlab.com/x<b", "https://handbook.gitlab.com/x\u202eftp", "https://handbook.gitlab.com/x\x07",
])
def test_a_link_that_could_break_out_of_slacks_link_syntax_is_refused(url):
    upload = {**UPLOAD, "image_url": url}
    error = check("upload", upload).errors["image_url"]
    assert "cannot contain" in error
    errors = check("new-pathway", {**PATHWAY, "handbook_urls": url}).errors
    assert "cannot contain" in errors["handbook_urls"]


def test_a_link_with_a_user_name_before_its_host_is_refused():
    error = check("new-pathway", {**PATHWAY, "handbook_urls": "https://handbook.gitlab.com@evil.example/x"}
                  ).errors["handbook_urls"]
    assert "before its host" in error


def test_ordinary_links_with_queries_and_fragments_still_pass():
    url = "https://handbook.gitlab.com/handbook/people-group/?tab=1&x=%7C#anchor"
    assert check("new-pathway", {**PATHWAY, "handbook_urls": url}).answers["handbook_urls"] == [url]


WRONG_TYPES = [0, 1, True, False, 1.5, [1], [None], [True], [[]], ["x", 2], {"value": "x"}]


@pytest.mark.parametrize("key", CATALOG.catalog.keys)
@pytest.mark.parametrize("value", WRONG_TYPES, ids=repr)
def test_an_answer_of_the_wrong_type_is_an_inline_error_in_every_field(key, value):
    model = CATALOG.model(key)
    for spec in model.visible_fields(RAW[key]):
        result = check(key, {**RAW[key], spec.id: value})
        assert spec.id in result.errors, (spec.id, spec.type, value)  # never taken as text: 0 is not "0"
        message = result.errors[spec.id]
        assert "object" not in message and "iterable" not in message, message
        assert spec.id not in result.answers


def test_one_string_in_a_list_is_that_answer_and_anything_else_in_a_list_is_refused():
    assert check("new-pathway", {**PATHWAY, "badge": ["yes"]}).answers["badge"] is True
    assert check("new-pathway", {**PATHWAY, "title": ["a", "b"]}).errors["title"] == "Type your answer as text."
    assert check("new-pathway", {**PATHWAY, "audience": [1, 2]}).errors["audience"] == \
        "Pick one of the options in the list."
    assert check("new-pathway", {**PATHWAY, "co_owners": ["U0CO", None]}).errors["co_owners"] == \
        "Pick people from the list."


@pytest.mark.parametrize("url", ["https://[::1/handbook", "https://handbook.gitlab.com]/x",
                                 "https://ex\u2100ample.com/handbook"])
def test_a_link_python_cannot_split_is_not_a_web_link_rather_than_invalid_ipv6(url):
    error = check("new-pathway", {**PATHWAY, "handbook_urls": url}).errors["handbook_urls"]
    assert "is not a web link" in error and "IPv6" not in error and "netloc" not in error
    assert not in_handbook(url, DEFAULT_HANDBOOK_PREFIXES)
