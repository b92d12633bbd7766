"""The GitLab event parser, on anything a webhook could carry: a typed change, None, or MalformedEvent."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.gitlab_events import IssueChange, MalformedEvent, NoteAdded, parse_event
from tests.property.strategies import examples, json_values, mutated
from tests.standins import gitlab_hooks as hooks

ISSUE = {"id": 1001, "iid": 7, "project_id": 42, "title": "New learning pathway: Async", "state": "opened",
         "description": "- [ ] 2027-02-03 — Start <!-- learnbot:milestone:collaborate -->",
         "labels": ["type::pathway", "status::new"], "due_date": "2027-03-03",
         "web_url": "https://gitlab.example/learning-development/general/-/issues/7",
         "created_at": "2027-01-20T10:00:00Z", "updated_at": "2027-01-20T10:00:00Z",
         "assignees": [{"username": "maria.k"}]}
TEMPLATES = [
    hooks.issue_event(ISSUE, action="open"),
    hooks.issue_event(ISSUE, action="close"),
    hooks.issue_event(ISSUE, action="update", changes={
        **hooks.title_change("Old", "New"), **hooks.labels_change(["a"], ["b"]),
        **hooks.due_date_change(None, "2027-04-01"), **hooks.assignees_change([], ["maria.k"])}),
    hooks.note_event(ISSUE, "Looks good @all\n/close"),
    hooks.merge_request_note_event("an MR comment"),
    hooks.push_event(),
]
HEADERS = st.none() | st.sampled_from(["Issue Hook", "Confidential Issue Hook", "Note Hook", "Confidential Note Hook",
                                       "Push Hook", "issue hook", " Note Hook ", ""]) | st.text(max_size=20)


def _read(header, body):
    try:
        return parse_event(header, body)
    except MalformedEvent as exc:
        assert str(exc), "a MalformedEvent says what is wrong"
        return exc


@settings(max_examples=examples(200))
@given(header=HEADERS, body=st.sampled_from(TEMPLATES).flatmap(mutated))
def test_a_nearly_right_delivery_is_read_or_named_as_malformed(header, body):
    result = _read(header, body)
    if isinstance(result, IssueChange):
        assert isinstance(result.iid, int) and result.iid > 0 and not isinstance(result.iid, bool)
        assert isinstance(result.project_id, int) and result.project_id > 0
        assert result.state in ("opened", "closed") and isinstance(result.title, str)
        assert all(isinstance(label, str) for label in result.labels)
        assert result.due_date is None or isinstance(result.due_date, date)
    elif isinstance(result, NoteAdded):
        assert isinstance(result.iid, int) and result.iid > 0 and isinstance(result.note, str)
        assert isinstance(result.system, bool)
    else:
        assert result is None or isinstance(result, MalformedEvent)


@settings(max_examples=examples(100))
@given(header=HEADERS, body=json_values)
def test_any_json_at_all_is_read_or_named_as_malformed(header, body):
    result = _read(header, body)
    assert result is None or isinstance(result, IssueChange | NoteAdded | MalformedEvent)
