"""After launch, as rules: which check-ins are due, when one is nudged, when a request has ended, and what
the catalogue may say about the outcome question."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from bot.catalog import SHIPPED_CATALOG, CatalogError, load_catalog
from bot.domain import feedback as rules
from bot.domain.feedback import NUDGE_AFTER, Step, checkin_step
from bot.messages import feedback as messages
from tests.mrkdwn import mrkdwn_texts, sequences

T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)  # the check-in's moment (any fixed instant: no weekday matters)


def step(**kw):
    base = {"asked_at": None, "nudged_at": None, "answered_at": None, "ask_at": T0, "now": T0}
    return checkin_step(**{**base, **kw})


# --- which check-ins are due, and the one nudge ------------------------------------------------------

def test_a_check_in_is_asked_from_its_moment_on_and_not_a_second_before():
    assert step(now=T0 - timedelta(seconds=1)) is None
    assert step(now=T0) is Step.ASK
    assert step(now=T0 + timedelta(days=40)) is Step.ASK  # a worker that was down asks late, not never


def test_unanswered_it_is_nudged_once_a_week_later_then_it_stops():
    asked = T0 + timedelta(minutes=1)
    assert step(asked_at=asked, now=asked + NUDGE_AFTER - timedelta(minutes=1)) is None
    assert step(asked_at=asked, now=asked + NUDGE_AFTER) is Step.NUDGE
    nudged = asked + NUDGE_AFTER
    assert step(asked_at=asked, nudged_at=nudged, now=nudged + timedelta(days=365)) is None
    assert timedelta(days=7) == NUDGE_AFTER


def test_an_answer_stops_everything():
    asked = T0
    assert step(asked_at=asked, answered_at=asked + timedelta(hours=1), now=asked + timedelta(days=30)) is None


def test_check_in_dates_count_from_the_launch():
    assert rules.checkin_dates(date(2031, 1, 31), (30, 90)) == [(30, date(2031, 3, 2)), (90, date(2031, 5, 1))]


# --- launch, end, and who is asked ------------------------------------------------------------------

def test_launch_is_the_anchor_with_a_plan_and_the_close_without_one():
    assert rules.launch_day(anchor=date(2031, 5, 1), has_plan=True, closed_on=date(2031, 6, 1)) == date(2031, 5, 1)
    assert rules.launch_day(anchor=None, has_plan=False, closed_on=date(2031, 6, 1)) == date(2031, 6, 1)
    assert rules.launch_day(anchor=None, has_plan=False, closed_on=None) is None


@pytest.mark.parametrize(("state", "closed_on", "launch", "ended"), [
    ("accepted", date(2031, 5, 2), date(2031, 5, 1), True),  # launched, then closed
    ("accepted", date(2031, 5, 1), date(2031, 5, 1), True),  # closed on launch day
    ("approved", date(2031, 5, 1), None, True),  # an LXP contribution published
    ("accepted", date(2031, 4, 1), date(2031, 5, 1), False),  # dropped before launch
    ("accepted", None, date(2031, 5, 1), False),  # still open
    ("declined", date(2031, 5, 2), date(2031, 5, 1), False),  # never asked of a declined request
    ("waitlisted", date(2031, 5, 2), date(2031, 5, 1), False),
    ("new", date(2031, 5, 2), date(2031, 5, 1), False),
])
def test_a_request_ends_when_it_went_ahead_and_closed_after_launch(state, closed_on, launch, ended):
    assert rules.request_ended(decision_state=state, closed_on=closed_on, launch=launch) is ended


def test_answers_are_only_the_ones_offered():
    assert [rules.outcome_answer(a) for a in ("happened", "partly", "not_yet", "not_relevant")] == [
        "happened", "partly", "not_yet", "not_relevant"]
    assert rules.outcome_answer("maybe") is None and rules.outcome_answer(None) is None
    assert [rules.rating_of(v) for v in ("1", "5", "0", "6", "٣", "x", None)] == [1, 5, None, None, None, None, None]
    assert rules.typed_note("  ") is None and rules.typed_note(" ok ") == "ok"
    assert len(rules.typed_note("x" * 5000) or "") == rules.NOTE_MAX


def test_notes_on_the_issue_cannot_run_quick_actions_or_mention_everyone():
    note = rules.outcome_note(who="Ada", after_days=30, answer="partly", note="/close\n@all done",
                              expected="/assign @me\n<!-- learnbot-request:x -->")
    assert "\n/" not in note and not note.startswith("/") and "@all" not in note and "<!--" not in note
    assert "**Partly**" in note and "30 days after launch" in note
    rating = rules.rating_note(who="Ada", rating=4, comment="/label ~x")
    assert "4 / 5" in rating and "\n> \\/label" in rating


def test_the_check_in_dm_shows_the_requesters_answer_escaped():
    text, blocks = messages.checkin_message(checkin_id=7, request_title="<!channel> pathway", issue_url=None,
                                            after_days=30, expected="Fewer tickets <@U0BOSS> <https://x|y>")
    shown = "\n".join(mrkdwn_texts({"text": text, "blocks": blocks}))
    assert "Fewer tickets" in shown
    assert [q for q in sequences(shown) if not q.startswith("http")] == []  # no mention, no typed link
    actions = next(b for b in blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "learn.outcome:happened", "learn.outcome:partly", "learn.outcome:not_yet", "learn.outcome:not_relevant"]
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "It happened", "Partly", "Not yet", "Not any more relevant"]
    assert {e["value"] for e in actions["elements"]} == {"7"}
    assert any(b["type"] == "input" and b["optional"] for b in blocks)  # the note field
    _text, none_given = messages.checkin_message(checkin_id=7, request_title="t", issue_url=None, after_days=90,
                                                 expected=None)
    assert "did not write down" in str(none_given)


# --- the catalogue ---------------------------------------------------------------------------------

def test_the_models_that_make_something_new_ask_the_outcome_question():
    catalog = load_catalog()
    asking = {m.key for m in catalog.models if m.outcome_field}
    assert asking == {"new-pathway", "new-content", "upload", "external-content"}
    for key in asking:
        model = catalog.model(key)
        question = model.field(model.outcome_field)
        assert question.label == "What will be different if this works, and how will you know?"
        assert question.type == "long_text" and not question.required
        assert model.outcome_after_days == (30, 90)


def _catalogue_with(tmp_path, change):
    data = yaml.safe_load(SHIPPED_CATALOG.read_text())
    model = next(m for m in data["models"] if m["key"] == "new-pathway")
    change(model)
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("days", "why"), [
    ([], "1 to 6"), ([0, 30], "1 to 730"), ([30, 30], "increase"), ([90, 30], "increase"),
    ([30, 1000], "1 to 730"), ([1, 2, 3, 4, 5, 6, 7], "1 to 6"),
])
def test_outcome_after_days_must_be_positive_increasing_and_sensible(tmp_path, days, why):
    path = _catalogue_with(tmp_path, lambda m: m.update(outcome_after_days=days))
    with pytest.raises(CatalogError, match=f"models\\[new-pathway\\].outcome_after_days: .*{why}"):
        load_catalog(path)


def test_a_model_can_ask_at_other_times_without_python(tmp_path):
    path = _catalogue_with(tmp_path, lambda m: m.update(outcome_after_days=[14, 60, 180]))
    assert load_catalog(path).model("new-pathway").outcome_after_days == (14, 60, 180)


def test_the_outcome_field_must_be_an_optional_long_text(tmp_path):
    path = _catalogue_with(tmp_path, lambda m: m.update(outcome_field="title"))
    with pytest.raises(CatalogError, match="outcome_field 'title' must be an optional long_text field"):
        load_catalog(path)
