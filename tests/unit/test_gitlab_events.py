"""GitLab webhook deliveries read as typed issue changes and comments; other kinds ignored, bad bodies named."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from bot.domain.gitlab_events import IssueChange, MalformedEvent, NoteAdded, parse_event
from tests.standins import gitlab_hooks as hooks
from tests.standins.gitlab import FakeGitLab

ISSUE_HOOK = "Issue Hook"
NOTE_HOOK = "Note Hook"


@pytest.fixture
def issue() -> dict[str, Any]:
    fake = FakeGitLab()
    fake.add_project("learning-development/general")
    fake.add_labels("type::pathway", "status::new", "status::in-progress")
    return fake.create_issue(
        "New learning pathway: Async",
        description="- [ ] 2027-02-03 — Start collaboration <!-- learnbot:milestone:collaborate -->",
        labels="type::pathway,status::new",
        due_date="2027-03-03",
    )


def _issue_change(payload: dict[str, Any], header: str | None = ISSUE_HOOK) -> IssueChange:
    parsed = parse_event(header, payload)
    assert isinstance(parsed, IssueChange)
    return parsed


def _note(payload: dict[str, Any], header: str | None = NOTE_HOOK) -> NoteAdded:
    parsed = parse_event(header, payload)
    assert isinstance(parsed, NoteAdded)
    return parsed


# ---------------------------------------------------------------------- issue events


def test_close(issue):
    change = _issue_change(hooks.issue_event(issue, action="close", user="maria.k"))
    assert change.closed is True
    assert change.reopened is False
    assert change.action == "close"
    assert change.state == "closed"
    assert (change.project_id, change.iid) == (issue["project_id"], issue["iid"])
    assert change.actor == "maria.k"
    assert change.url == issue["web_url"]
    assert change.title_changed is None and change.labels_changed is None and change.due_date_changed is None


def test_close_known_from_action_alone(issue):
    payload = hooks.issue_event(issue, action="close")
    del payload["changes"]["state_id"], payload["changes"]["closed_at"]
    assert _issue_change(payload).closed is True


def test_close_known_from_changes_alone(issue):
    payload = hooks.issue_event(issue, action="update", changes=hooks.state_change_closed())
    payload["object_attributes"]["state"] = "closed"
    change = _issue_change(payload)
    assert change.closed is True
    assert change.reopened is False


def test_closed_at_set_means_closed_even_without_state_id(issue):
    payload = hooks.issue_event(issue, action="update", changes=hooks.state_change_closed())
    del payload["changes"]["state_id"]
    assert _issue_change(payload).closed is True


def test_reopen(issue):
    change = _issue_change(hooks.issue_event(issue, action="reopen"))
    assert change.reopened is True
    assert change.closed is False
    assert change.state == "opened"


def test_reopen_known_from_state_id_alone(issue):
    payload = hooks.issue_event(issue, action="update", changes=hooks.state_change_reopened())
    change = _issue_change(payload)
    assert (change.closed, change.reopened) == (False, True)


def test_retitle(issue):
    payload = hooks.issue_event(
        issue, action="update", changes=hooks.title_change("New learning pathway: Async", "Async pathway v2")
    )
    change = _issue_change(payload)
    assert change.title_changed == ("New learning pathway: Async", "Async pathway v2")
    assert change.title == "Async pathway v2"
    assert change.closed is False and change.reopened is False
    assert change.labels_changed is None and change.description_changed is False


def test_relabel(issue):
    payload = hooks.issue_event(
        issue,
        action="update",
        changes=hooks.labels_change(["status::new", "type::pathway"], ["status::in-progress", "type::pathway"]),
    )
    change = _issue_change(payload)
    assert change.labels_changed == (("status::new", "type::pathway"), ("status::in-progress", "type::pathway"))
    assert change.labels == ("status::in-progress", "type::pathway")
    assert change.title_changed is None


def test_labels_read_from_object_attributes_when_top_level_labels_absent(issue):
    payload = hooks.issue_event(issue, action="update")
    del payload["labels"]
    assert _issue_change(payload).labels == ("status::new", "type::pathway")


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, "2027-04-01", (None, date(2027, 4, 1))),  # set
        ("2027-03-03", "2027-04-01", (date(2027, 3, 3), date(2027, 4, 1))),  # moved
        ("2027-03-03", None, (date(2027, 3, 3), None)),  # removed
    ],
    ids=["set", "changed", "removed"],
)
def test_due_date(issue, previous, current, expected):
    payload = hooks.issue_event(issue, action="update", changes=hooks.due_date_change(previous, current))
    change = _issue_change(payload)
    assert change.due_date_changed == expected
    assert change.due_date == expected[1]


def test_description_changed(issue):
    ticked = issue["description"].replace("- [ ]", "- [x]")
    payload = hooks.issue_event(issue, action="update", changes=hooks.description_change(issue["description"], ticked))
    change = _issue_change(payload)
    assert change.description_changed is True
    assert change.description == ticked
    assert change.title_changed is None


def test_update_without_changes_of_interest(issue):
    change = _issue_change(hooks.issue_event(issue, action="update"))
    assert change.action == "update"
    assert not (change.closed or change.reopened or change.description_changed)
    assert change.title_changed is None and change.labels_changed is None and change.due_date_changed is None


def test_open_reports_current_values_and_no_changes(issue):
    payload = hooks.issue_event(issue, action="open")
    # GitLab reports a new issue's attributes as changed from null; that is creation, not change.
    assert payload["changes"]["title"] == {"previous": None, "current": issue["title"]}
    change = _issue_change(payload)
    assert change.action == "open"
    assert change.state == "opened"
    assert change.title == "New learning pathway: Async"
    assert change.labels == ("status::new", "type::pathway")
    assert change.due_date == date(2027, 3, 3)
    assert change.description == issue["description"]
    assert not (change.closed or change.reopened or change.description_changed)
    assert change.title_changed is None and change.labels_changed is None and change.due_date_changed is None


def test_open_without_changes_key(issue):
    payload = hooks.issue_event(issue, action="open")
    del payload["changes"]
    change = _issue_change(payload)
    assert change.action == "open" and change.title_changed is None


def test_confidential_issue_hook(issue):
    secret = {**issue, "confidential": True}
    payload = hooks.issue_event(secret, action="close")
    assert payload["event_type"] == "confidential_issue"
    assert hooks.event_header(payload) == "Confidential Issue Hook"
    change = _issue_change(payload, header="Confidential Issue Hook")
    assert change.closed is True and change.iid == issue["iid"]


def test_project_id_prefers_project_then_object_attributes(issue):
    payload = hooks.issue_event(issue, action="update")
    payload["object_attributes"]["project_id"] = 14  # GitLab's own docs example disagrees like this
    assert _issue_change(payload).project_id == issue["project_id"]
    del payload["project"]
    assert _issue_change(payload).project_id == 14


def test_decided_by_object_kind_when_header_absent(issue):
    assert _issue_change(hooks.issue_event(issue, action="close"), header=None).closed is True


def test_decided_by_header_when_object_kind_absent(issue):
    payload = hooks.issue_event(issue, action="close")
    del payload["object_kind"]
    assert _issue_change(payload).closed is True


def test_extra_fields_are_ignored(issue):
    payload = hooks.issue_event(issue, action="close")
    payload["object_attributes"]["escalation_policy"] = {"id": 18, "name": "On-call"}
    payload["brand_new_field"] = [1, 2, 3]
    assert _issue_change(payload).closed is True


def test_parse_does_not_change_the_body(issue):
    payload = hooks.issue_event(issue, action="update", changes=hooks.title_change("a", "b"))
    before = copy.deepcopy(payload)
    parse_event(ISSUE_HOOK, payload)
    assert payload == before


# ---------------------------------------------------------------------- note events


def test_note_on_issue(issue):
    payload = hooks.note_event(issue, "Can we move the launch a week?", user="maria.k", note_id=20777)
    note = _note(payload)
    assert note == NoteAdded(
        project_id=issue["project_id"],
        iid=issue["iid"],
        note="Can we move the launch a week?",
        author="Maria K",
        url=f"{issue['web_url']}#note_20777",
        system=False,
        internal=False,
        issue_url=issue["web_url"],
        project_path="learning-development/general",
    )


def test_note_author_falls_back_to_username(issue):
    payload = hooks.note_event(issue, "hi", user="maria.k")
    del payload["user"]["name"]
    assert _note(payload).author == "maria.k"


def test_system_note_is_flagged(issue):
    assert _note(hooks.note_event(issue, "changed the description", system=True)).system is True


def test_confidential_note_hook(issue):
    payload = hooks.note_event(issue, "internal: budget approved", internal=True)
    assert hooks.event_header(payload) == "Confidential Note Hook"
    assert _note(payload, header="Confidential Note Hook").note == "internal: budget approved"


def test_note_project_id_falls_back_to_top_level_project_id(issue):
    payload = hooks.note_event(issue, "hi")
    del payload["project"]
    payload["project_id"] = 555
    assert _note(payload).project_id == 555


def test_edited_note_is_not_a_new_note(issue):
    assert parse_event(NOTE_HOOK, hooks.note_event(issue, "typo fixed", action="update")) is None


def test_note_on_merge_request_is_ignored():
    assert parse_event(NOTE_HOOK, hooks.merge_request_note_event("LGTM")) is None


# ---------------------------------------------------------------------- other kinds


def test_push_event_is_ignored():
    payload = hooks.push_event()
    assert parse_event("Push Hook", payload) is None
    assert parse_event(None, payload) is None


def test_work_item_under_issue_hook_is_ignored(issue):
    payload = hooks.issue_event(issue, action="open")
    payload["object_kind"] = "work_item"
    payload["object_attributes"]["type"] = "Task"
    assert parse_event(ISSUE_HOOK, payload) is None


def test_unknown_hook_without_object_kind_is_ignored():
    assert parse_event("Pipeline Hook", {"object_attributes": {"status": "success"}}) is None


# ---------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize("body", ["{}", None, 42, b"{}"], ids=["str", "null", "int", "bytes"])
def test_body_not_an_object(body):
    with pytest.raises(MalformedEvent, match="body must be a JSON object"):
        parse_event(ISSUE_HOOK, body)


def test_body_is_a_list(issue):
    with pytest.raises(MalformedEvent, match="got array"):
        parse_event(ISSUE_HOOK, [hooks.issue_event(issue, action="close")])


def test_missing_object_attributes(issue):
    payload = hooks.issue_event(issue, action="close")
    del payload["object_attributes"]
    with pytest.raises(MalformedEvent, match="object_attributes is missing"):
        parse_event(ISSUE_HOOK, payload)


def test_object_attributes_not_an_object(issue):
    payload = hooks.issue_event(issue, action="close")
    payload["object_attributes"] = "closed"
    with pytest.raises(MalformedEvent, match="object_attributes must be an object, got string"):
        parse_event(ISSUE_HOOK, payload)


@pytest.mark.parametrize(
    ("iid", "message"),
    [
        ("7", r"object_attributes\.iid must be an integer, got string"),
        (True, r"object_attributes\.iid must be an integer, got boolean"),
        (7.0, r"object_attributes\.iid must be an integer, got number"),
        (0, r"object_attributes\.iid must be a positive integer"),
        (None, r"object_attributes\.iid is missing"),
    ],
    ids=["string", "bool", "float", "zero", "null"],
)
def test_bad_iid(issue, iid, message):
    payload = hooks.issue_event(issue, action="close")
    payload["object_attributes"]["iid"] = iid
    with pytest.raises(MalformedEvent, match=message):
        parse_event(ISSUE_HOOK, payload)


def test_note_issue_iid_bool(issue):
    payload = hooks.note_event(issue, "hi")
    payload["issue"]["iid"] = False
    with pytest.raises(MalformedEvent, match=r"issue\.iid must be an integer, got boolean"):
        parse_event(NOTE_HOOK, payload)


def test_note_on_issue_without_issue(issue):
    payload = hooks.note_event(issue, "hi")
    del payload["issue"]
    with pytest.raises(MalformedEvent, match="issue is missing"):
        parse_event(NOTE_HOOK, payload)


def test_project_id_missing(issue):
    payload = hooks.issue_event(issue, action="close")
    del payload["project"]
    del payload["object_attributes"]["project_id"]
    with pytest.raises(MalformedEvent, match=r"project\.id is missing"):
        parse_event(ISSUE_HOOK, payload)


def test_project_id_bool(issue):
    payload = hooks.issue_event(issue, action="close")
    payload["project"]["id"] = True
    with pytest.raises(MalformedEvent, match=r"project\.id must be an integer, got boolean"):
        parse_event(ISSUE_HOOK, payload)


@pytest.mark.parametrize("value", ["2027-02-30", "03/03/2027", "20270303", "2027-03-03T00:00:00Z", 20270303])
def test_bad_due_date(issue, value):
    payload = hooks.issue_event(issue, action="update")
    payload["object_attributes"]["due_date"] = value
    with pytest.raises(MalformedEvent, match=r"object_attributes\.due_date"):
        parse_event(ISSUE_HOOK, payload)


def test_bad_due_date_in_changes(issue):
    payload = hooks.issue_event(issue, action="update", changes=hooks.due_date_change("2027-03-03", "next week"))
    payload["object_attributes"]["due_date"] = "2027-03-10"
    with pytest.raises(MalformedEvent, match=r"changes\.due_date\.current is not a date \(YYYY-MM-DD\): 'next week'"):
        parse_event(ISSUE_HOOK, payload)


def test_header_says_issue_but_object_kind_is_note(issue):
    with pytest.raises(MalformedEvent, match="X-Gitlab-Event is 'Issue Hook' but object_kind is 'note'"):
        parse_event(ISSUE_HOOK, hooks.note_event(issue, "hi"))


def test_header_says_note_but_object_kind_is_issue(issue):
    with pytest.raises(MalformedEvent, match="object_kind is 'issue'"):
        parse_event(NOTE_HOOK, hooks.issue_event(issue, action="close"))


def test_header_of_another_kind_with_an_issue_body(issue):
    with pytest.raises(MalformedEvent, match="'Push Hook'"):
        parse_event("Push Hook", hooks.issue_event(issue, action="close"))


def test_no_header_and_no_object_kind():
    with pytest.raises(MalformedEvent, match="object_kind is missing"):
        parse_event(None, {"object_attributes": {"iid": 1}})


def test_object_kind_not_a_string(issue):
    payload = hooks.issue_event(issue, action="close")
    payload["object_kind"] = ["issue"]
    with pytest.raises(MalformedEvent, match="object_kind must be a string"):
        parse_event(ISSUE_HOOK, payload)


def test_unknown_state(issue):
    payload = hooks.issue_event(issue, action="update")
    payload["object_attributes"]["state"] = "merged"
    with pytest.raises(MalformedEvent, match=r"object_attributes\.state must be 'opened' or 'closed'"):
        parse_event(ISSUE_HOOK, payload)


def test_title_missing(issue):
    payload = hooks.issue_event(issue, action="update")
    del payload["object_attributes"]["title"]
    with pytest.raises(MalformedEvent, match=r"object_attributes\.title is missing"):
        parse_event(ISSUE_HOOK, payload)


def test_label_without_title(issue):
    payload = hooks.issue_event(issue, action="update")
    del payload["labels"][1]["title"]
    with pytest.raises(MalformedEvent, match=r"labels\[1\]\.title is missing"):
        parse_event(ISSUE_HOOK, payload)


def test_labels_as_comma_string(issue):
    payload = hooks.issue_event(issue, action="update")
    payload["labels"] = "status::new,type::pathway"
    with pytest.raises(MalformedEvent, match="labels must be an array of labels, got string"):
        parse_event(ISSUE_HOOK, payload)


def test_changes_not_an_object(issue):
    payload = hooks.issue_event(issue, action="update")
    payload["changes"] = []
    with pytest.raises(MalformedEvent, match="changes must be an object, got array"):
        parse_event(ISSUE_HOOK, payload)


def test_change_without_previous(issue):
    payload = hooks.issue_event(issue, action="update", changes=hooks.title_change("a", "b"))
    del payload["changes"]["title"]["previous"]
    with pytest.raises(MalformedEvent, match=r"changes\.title\.previous is missing"):
        parse_event(ISSUE_HOOK, payload)


def test_state_id_change_bool(issue):
    payload = hooks.issue_event(issue, action="update", changes=hooks.state_change_closed())
    payload["changes"]["state_id"]["current"] = True
    with pytest.raises(MalformedEvent, match=r"changes\.state_id\.current must be an integer, got boolean"):
        parse_event(ISSUE_HOOK, payload)


def test_system_flag_as_string(issue):
    payload = hooks.note_event(issue, "hi")
    payload["object_attributes"]["system"] = "false"
    with pytest.raises(MalformedEvent, match=r"object_attributes\.system must be a boolean, got string"):
        parse_event(NOTE_HOOK, payload)


def test_user_not_an_object(issue):
    payload = hooks.issue_event(issue, action="close")
    payload["user"] = "lnd-lead"
    with pytest.raises(MalformedEvent, match="user must be an object"):
        parse_event(ISSUE_HOOK, payload)


# ---------------------------------------------------------------------- the stand-in's headers


def test_redelivery_keeps_only_the_idempotency_key():
    first = hooks.headers("issue", token="s3cret", idempotency_key="key-1", event_uuid="ev-1")
    assert first["X-Gitlab-Event"] == "Issue Hook"
    assert (first["X-Gitlab-Token"], first["Idempotency-Key"], first["X-Gitlab-Event-UUID"]) == (
        "s3cret",
        "key-1",
        "ev-1",
    )
    again = hooks.redelivery(first)
    assert again["Idempotency-Key"] == "key-1"
    assert again["X-Gitlab-Webhook-UUID"] != first["X-Gitlab-Webhook-UUID"]
    assert hooks.headers("Note Hook", token="t")["X-Gitlab-Event"] == "Note Hook"


def test_assignees_change_gives_usernames_before_and_after(issue):
    change = _issue_change(hooks.issue_event(issue, action="update",
                                             changes=hooks.assignees_change(["lena"], ["otto", "pia"])))
    assert change.assignees_changed == (("lena",), ("otto", "pia"))
    assert _issue_change(hooks.issue_event(issue, action="update")).assignees_changed is None
    payload = hooks.issue_event(issue, action="update", changes={"assignees": {"previous": [], "current": "otto"}})
    with pytest.raises(MalformedEvent, match=r"changes\.assignees\.current must be a list of users"):
        parse_event(ISSUE_HOOK, payload)


# ---------------------------------------------------------------------- internal notes, other projects


def test_an_internal_note_is_known_as_internal(issue):
    payload = hooks.note_event(issue, "requester is difficult, decline quietly", internal=True)
    assert hooks.event_header(payload) == "Confidential Note Hook"
    assert _note(payload, hooks.event_header(payload)).internal is True


def test_a_note_flagged_confidential_as_before_gitlab_15_is_internal(issue):
    payload = hooks.note_event(issue, "between us")
    del payload["object_attributes"]["internal"]
    payload["object_attributes"]["confidential"] = True
    assert _note(payload).internal is True


def test_a_confidential_note_hook_without_the_flag_on_an_open_issue_is_internal(issue):
    payload = hooks.note_event(issue, "between us")
    del payload["object_attributes"]["internal"]
    assert _note(payload, "Confidential Note Hook").internal is True


def test_a_plain_comment_on_a_confidential_issue_is_not_internal(issue):
    payload = hooks.note_event({**issue, "confidential": True}, "for the requester too")
    assert hooks.event_header(payload) == "Confidential Note Hook"
    assert _note(payload, "Confidential Note Hook").internal is False


@pytest.mark.parametrize("project,ours", [
    ("101", True), ("102", False), ("learning-development/general", True),
    ("Learning-Development/General", True), ("learning-development%2Fgeneral", True),
    ("secret-group/hr-cases", False), ("learning-development", False),
])
def test_in_project_by_id_or_full_path(issue, project, ours):
    from bot.domain.gitlab_events import in_project

    assert issue["project_id"] == 101
    assert in_project(_note(hooks.note_event(issue, "hi")), project) is ours
    assert in_project(_issue_change(hooks.issue_event(issue, action="close")), project) is ours


def test_another_projects_note_is_not_in_ours(issue):
    from bot.domain.gitlab_events import in_project

    other = {"id": 555, "path_with_namespace": "secret-group/hr-cases"}
    theirs = {**issue, "project_id": 555, "web_url": f"http://127.0.0.1/secret-group/hr-cases/-/issues/{issue['iid']}"}
    note = _note(hooks.note_event(theirs, "hi", project=other))
    assert not in_project(note, "101") and not in_project(note, "learning-development/general")
    assert note.issue_url is not None and "secret-group/hr-cases" in note.issue_url
