"""GitLab → learnbot over HTTP: issue events reflected in the request, its reminders, and one DM."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.store.models import Job, Milestone, Reminder, Request, RequestStatus, WebhookDelivery
from tests.e2e.harness import wait_until
from tests.samples import REQUESTER_ZONE, slack_state
from tests.standins import gitlab_hooks as hooks

pytestmark = pytest.mark.e2e
SECRET = "hook-secret"  # GITLAB_WEBHOOK_SECRET in tests/e2e/conftest.py


@pytest.fixture
def collaborate_ny(dates):
    """new-pathway's "collaborate" reminder: 09:00 in New York, four weeks before the (moved) launch."""
    return dates.at("2027-02-03", 9, REQUESTER_ZONE)




def request_row(services) -> Request:
    with services.db.session() as s:
        return s.scalars(select(Request)).one()


def milestone(services, key) -> Milestone:
    with services.db.session() as s:
        return s.scalars(select(Milestone).where(Milestone.key == key)).one()


def quiet(services) -> bool:
    """Every stored delivery is processed and no job is waiting: nothing more is on its way."""
    with services.db.session() as s:
        unprocessed = s.scalars(select(WebhookDelivery).where(WebhookDelivery.processed_at.is_(None))).first()
        waiting = s.scalars(select(Job).where(Job.finished_at.is_(None))).first()
    return unprocessed is None and waiting is None


def filed(app, slack, gitlab, services, dates, key="new-pathway"):
    app.submit(key, slack_state(dates.raw(key)))
    wait_until(lambda: gitlab.issues())
    wait_until(lambda: any("filed as" in m["text"] for m in slack.messages("U0REQ")))
    wait_until(lambda: request_row(services).status is RequestStatus.OPEN)
    wait_until(lambda: quiet(services))  # the confirmation DM is recorded as sent: later DMs are the webhook's
    return gitlab.issues()[0]


def comment_told(app, slack, services, issue, text):
    """Post a comment event and wait for its DM: a positive sign that every earlier delivery was acted on."""
    post(app, hooks.note_event(issue, text, user="reviewer"))
    return wait_until(lambda: [m for m in change_dms(slack) if text in m["text"]])


def post(app, payload, *, token=SECRET, key=None, raw=None, kind=None):
    head = hooks.headers(kind or hooks.event_header(payload), token=token, idempotency_key=key)
    body = raw if raw is not None else json.dumps(payload)
    return app.session.post(f"{app.url}/gitlab/webhook", data=body, headers=head, timeout=10)


def processed(services, count=1):
    def done():
        with services.db.session() as s:
            rows = list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.processed_at.is_not(None))))
        return rows if len(rows) >= count else None
    return wait_until(done)


def change_dms(slack):
    return [m for m in slack.messages("U0REQ") if "changed in GitLab" in m["text"]]


# --- who may call it ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong", "", "hook-secret ", "HOOK-SECRET"])
def test_wrong_secret_gets_401_and_changes_nothing(app, slack, gitlab, services, dates, token):
    issue = filed(app, slack, gitlab, services, dates)
    resp = post(app, hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close"), token=token)
    assert resp.status_code == 401
    with services.db.session() as s:
        assert s.scalars(select(WebhookDelivery)).first() is None
    comment_told(app, slack, services, issue, "ping after the forged close")
    assert request_row(services).status is RequestStatus.OPEN
    with services.db.session() as s:
        assert len(list(s.scalars(select(WebhookDelivery)))) == 1  # the comment's only
    assert [m for m in change_dms(slack) if "Closed" in m["text"]] == []


def test_missing_secret_header_gets_401(app):
    resp = app.session.post(f"{app.url}/gitlab/webhook", json={"object_kind": "issue"},
                            headers={"X-Gitlab-Event": "Issue Hook"}, timeout=10)
    assert resp.status_code == 401


@pytest.fixture
def app_with_empty_secret(services):
    """The web app as it would run if an empty GITLAB_WEBHOOK_SECRET got past start-up (it cannot: see
    test_check_says_what_the_webhook_does): defence in depth at the edge."""
    from pydantic import SecretStr

    from tests.e2e.conftest import SIGNING_SECRET
    from tests.e2e.harness import RunningApp

    services.settings = services.settings.model_copy(update={"gitlab_webhook_secret": SecretStr("")})
    running = RunningApp(services, SIGNING_SECRET).start()
    yield running
    running.stop()


def test_an_empty_expected_secret_refuses_plain_posts_and_changes_nothing(app_with_empty_secret, slack, gitlab,
                                                                          services, dates):
    app = app_with_empty_secret
    issue = filed(app, slack, gitlab, services, dates)
    before = len(slack.messages("U0REQ"))
    close = hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close")
    phish = hooks.note_event(issue, "Your request needs you: https://evil.example/login", user="reviewer")
    # Two plain curls: one without X-Gitlab-Token at all, one with it empty.
    bare = app.session.post(f"{app.url}/gitlab/webhook", json=close, timeout=10,
                            headers={"X-Gitlab-Event": "Issue Hook"})
    empty = app.session.post(f"{app.url}/gitlab/webhook", json=phish, timeout=10,
                             headers={"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": ""})
    assert (bare.status_code, empty.status_code) == (401, 401)
    with services.db.session() as s:
        assert s.scalars(select(WebhookDelivery)).first() is None
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=1))
    assert request_row(services).status is RequestStatus.OPEN
    assert len(slack.messages("U0REQ")) == before


def _check_and_webhook(env, tmp_path, secret):
    """What `learnbot check` says about the webhook, and what POST /gitlab/webhook does, for one setting."""
    from bot.config import ConfigError, load_settings
    from bot.container import build_services
    from bot.web import create_web_app
    from tests.e2e.harness import child_env
    from tests.e2e.test_check import run

    given = {k: v for k, v in env.items() if k != "GITLAB_WEBHOOK_SECRET"}
    if secret is not None:
        given["GITLAB_WEBHOOK_SECRET"] = secret
    check = run(["check"], child_env(given), tmp_path)
    try:
        settings = load_settings(given)
    except ConfigError:
        return check, None
    built = build_services(settings, gitlab_timeout=2.0)
    try:
        client = create_web_app(built, None).test_client()
        codes = {}
        for token in (None, "", "hook-secret"):
            head = {"X-Gitlab-Event": "Push Hook"} | ({} if token is None else {"X-Gitlab-Token": token})
            codes[token] = client.post("/gitlab/webhook", json={"object_kind": "push"}, headers=head).status_code
    finally:
        built.close()
    return check, codes


@pytest.mark.parametrize("secret", [None, "", "  ", "hook-secret"])
def test_check_says_what_the_webhook_does(env, db, tmp_path, secret):
    check, codes = _check_and_webhook(env, tmp_path, secret)
    refused_at_start = "GITLAB_WEBHOOK_SECRET is set but empty" in check.stderr
    warned = "warning: GITLAB_WEBHOOK_SECRET is not set" in check.stdout and "refuse every delivery" in check.stdout
    if refused_at_start:  # check fails, naming it, and serve cannot start with it
        assert check.returncode == 2 and codes is None
        [line] = [x for x in check.stderr.splitlines() if "GITLAB_WEBHOOK_SECRET" in x]
        assert line.startswith("learnbot: error:")
    elif warned:  # "will refuse every delivery": it does, whatever token is sent
        assert check.returncode == 0 and codes == {None: 401, "": 401, "hook-secret": 401}
    else:  # ready: only the secret opens it
        assert check.returncode == 0 and "ready" in check.stdout
        assert codes == {None: 401, "": 401, "hook-secret": 200}
    # Empty is not unset, and neither is ever open.
    assert refused_at_start == (secret is not None and not secret.strip())
    assert warned == (secret is None)


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"object_kind": "issue"}',
                                 '{"object_kind": "issue", "object_attributes": {"iid": "7"}}'])
def test_malformed_body_gets_400(app, raw):
    resp = post(app, {"object_kind": "issue"}, raw=raw, kind="Issue Hook")
    assert resp.status_code == 400 and resp.json()["error"] == "malformed"


def test_events_for_issues_learnbot_did_not_open_are_ignored_with_200(app, slack, gitlab, services, dates):
    filed(app, slack, gitlab, services, dates)
    stranger = gitlab.create_issue("Someone else's issue", description="not ours")
    resp = post(app, hooks.issue_event(gitlab.close_issue(stranger["iid"]), action="close"))
    assert resp.status_code == 200 and resp.json()["status"] == "ignored"
    assert request_row(services).status is RequestStatus.OPEN
    push = {"object_kind": "push", "event_name": "push", "ref": "refs/heads/main"}
    assert post(app, push, kind="Push Hook").status_code == 200


# --- each event kind ----------------------------------------------------------------------------


def test_closed_in_gitlab_closes_request_tells_once_and_stops_reminders(app, slack, gitlab, services, dates,
                                                                      collaborate_ny):
    issue = filed(app, slack, gitlab, services, dates)
    resp = post(app, hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close"))
    assert resp.status_code == 200
    processed(services)
    assert request_row(services).status is RequestStatus.CLOSED
    [dm] = wait_until(lambda: change_dms(slack))
    assert "Closed by @lnd-lead" in dm["text"] and "reminders have stopped" in dm["text"]
    services.dispatcher.run_once(now=collaborate_ny)
    assert not [m for m in slack.messages("U0REQ") if "Reminder:" in m["text"]]


def test_reopened_resumes_reminders(app, slack, gitlab, services, dates, collaborate_ny):
    issue = filed(app, slack, gitlab, services, dates)
    post(app, hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close"))
    processed(services)
    post(app, hooks.issue_event(gitlab.reopen_issue(issue["iid"]), action="reopen"))
    processed(services, 2)
    assert request_row(services).status is RequestStatus.OPEN
    assert "Reopened" in wait_until(lambda: len(change_dms(slack)) == 2 and change_dms(slack))[-1]["text"]
    services.dispatcher.run_once(now=collaborate_ny)
    assert [m for m in slack.messages("U0REQ") if "Reminder:" in m["text"]]


def test_retitle_relabel_and_due_date_in_one_event_are_one_dm(app, slack, gitlab, services, dates, collaborate_ny):
    issue = filed(app, slack, gitlab, services, dates)
    changes = {**hooks.title_change(issue["title"], "Community pathway v2"),
               **hooks.labels_change(issue["labels"], [*issue["labels"], "priority::high"]),
               **hooks.due_date_change(dates.iso("2027-03-03"), dates.iso("2027-03-17"))}
    post(app, hooks.issue_event(issue, action="update", changes=changes))
    processed(services)
    request = request_row(services)
    assert request.title == "Community pathway v2"
    assert "priority::high" in request.labels
    moved = dates.iso("2027-03-17")
    assert request.due_on.isoformat() == moved and request.anchor_date.isoformat() == moved
    assert milestone(services, "collaborate").due_on.isoformat() == dates.iso("2027-02-17")  # the plan followed
    [dm] = wait_until(lambda: change_dms(slack))
    for part in ("Renamed", "+priority::high", f"Date moved by @lnd-lead to {moved}"):
        assert part in dm["text"], dm["text"]
    # The old reminder date is gone; the new one comes.
    services.dispatcher.run_once(now=collaborate_ny)
    assert not [m for m in slack.messages("U0REQ") if "Reminder:" in m["text"]]


def test_box_ticked_in_gitlab_marks_the_step_done_and_stops_its_reminders(app, slack, gitlab, services, dates,
                                                                         collaborate_ny):
    issue = filed(app, slack, gitlab, services, dates)
    step = dates.iso("2027-02-03")
    ticked = issue["description"].replace(f"- [ ] {step}", f"- [x] {step}")
    assert ticked != issue["description"]
    updated = gitlab.update_issue(issue["iid"], description=ticked)
    post(app, hooks.issue_event(updated, action="update",
                                changes=hooks.description_change(issue["description"], ticked)))
    processed(services)
    assert milestone(services, "collaborate").done_by == "gitlab:lnd-lead"
    services.dispatcher.run_once(now=collaborate_ny)
    assert not [m for m in slack.messages("U0REQ") if "Reminder:" in m["text"]]


def test_redelivery_with_the_same_idempotency_key_changes_nothing_twice(app, slack, gitlab, services, dates):
    issue = filed(app, slack, gitlab, services, dates)
    payload = hooks.issue_event(issue, action="update",
                                changes=hooks.labels_change(issue["labels"], [*issue["labels"], "blocked"]))
    first = post(app, payload, key="delivery-1")
    processed(services)
    again = post(app, payload, key="delivery-1")
    assert first.json()["status"] == "accepted" and again.json()["status"] == "duplicate"
    comment_told(app, slack, services, issue, "a later comment")
    assert len(change_dms(slack)) == 2  # the label change's, once, and the comment's
    with services.db.session() as s:
        assert len(list(s.scalars(select(WebhookDelivery)))) == 2


def test_event_uuid_is_not_a_dedupe_key_and_a_repeat_of_known_state_tells_nobody(app, slack, gitlab, services, dates):
    issue = filed(app, slack, gitlab, services, dates)
    payload = hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close")
    post(app, payload, key="a")
    post(app, payload, key="b")  # a different delivery with the same content
    processed(services, 2)
    comment_told(app, slack, services, issue, "a later comment")
    assert len([m for m in change_dms(slack) if "Closed" in m["text"]]) == 1


def test_the_same_change_delivered_at_once_by_several_deliveries_is_told_once(app, slack, gitlab, services, dates):
    from concurrent.futures import ThreadPoolExecutor

    issue = filed(app, slack, gitlab, services, dates)
    payload = hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close")
    with ThreadPoolExecutor(6) as pool:  # acted on side by side in the web process
        codes = list(pool.map(lambda key: post(app, payload, key=key).status_code, "abcdef"))
    assert codes == [200] * 6
    processed(services, 6)
    comment_told(app, slack, services, issue, "a later comment")
    assert len([m for m in change_dms(slack) if "Closed" in m["text"]]) == 1
    assert request_row(services).status is RequestStatus.CLOSED


def test_our_own_close_coming_back_is_not_told(app, slack, gitlab, services, dates):
    issue = filed(app, slack, gitlab, services, dates)
    message = next(m for m in slack.messages("U0REQ") if "filed as" in m["text"])
    close = next(e for b in message["blocks"] for e in b.get("elements", [])
                 if e.get("action_id") == "learn.request.close")
    app.block_action("learn.request.close", value=close["value"], message=message)
    wait_until(lambda: request_row(services).status is RequestStatus.CLOSED)
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=1))
    assert gitlab.issue(issue["iid"])["state"] == "closed"
    post(app, hooks.issue_event(gitlab.issue(issue["iid"]), action="close", user="learnbot"))
    processed(services)
    comment_told(app, slack, services, issue, "a later comment")
    assert [m for m in change_dms(slack) if "a later comment" not in m["text"]] == []


def test_comments_are_relayed_escaped_and_system_notes_are_not(app, slack, gitlab, services, dates):
    issue = filed(app, slack, gitlab, services, dates)
    post(app, hooks.note_event(issue, "Looks great! <!channel> please review", user="reviewer"))
    post(app, hooks.note_event(issue, "changed the description", system=True))
    processed(services, 2)
    [dm] = wait_until(lambda: change_dms(slack))
    assert "Looks great!" in dm["text"] and "&lt;!channel&gt;" in dm["text"] and "<!channel>" not in str(dm)


def test_a_delivery_the_web_process_could_not_act_on_is_finished_by_the_worker(app, slack, gitlab, services, dates):
    issue = filed(app, slack, gitlab, services, dates)
    slack.fail_next("chat.postMessage", status=500)  # the DM fails; the change is still recorded
    with services.db.session() as s:  # as if the web process died right after storing it
        s.add(WebhookDelivery(idempotency_key="key:orphan", event="Issue Hook", received_at=services.clock(),
                              payload=hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close")))
    report = services.dispatcher.run_once(now=services.clock() + timedelta(minutes=1))
    assert report.gitlab_events and request_row(services).status is RequestStatus.CLOSED
    with services.db.session() as s:
        assert all(r.cancelled_at for r in s.scalars(select(Reminder)) if r.sent_at is None)


# --- what never reaches the requester ------------------------------------------------------------


def test_an_internal_note_is_never_relayed_to_the_requester(app, slack, gitlab, services, dates):
    issue = filed(app, slack, gitlab, services, dates)
    internal = hooks.note_event(issue, "requester is difficult, decline quietly", user="reviewer", internal=True)
    resp = post(app, internal)
    assert resp.json() == {"status": "ignored", "reason": "internal note"}
    # Also when it is already stored (received before this learnbot knew better): acted on, not told.
    with services.db.session() as s:
        s.add(WebhookDelivery(idempotency_key="key:stored-internal", event="Confidential Note Hook",
                              received_at=services.clock(), payload=internal))
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=1))
    comment_told(app, slack, services, issue, "a comment everyone may see")
    assert not [m for m in slack.messages("U0REQ") if "decline quietly" in json.dumps(m)]


def test_a_comment_on_a_confidential_issue_still_reaches_its_requester(app, slack, gitlab, services, dates):
    issue = filed(app, slack, gitlab, services, dates)
    post(app, hooks.note_event({**issue, "confidential": True}, "Looks good to me", user="reviewer"))
    wait_until(lambda: [m for m in change_dms(slack) if "Looks good to me" in m["text"]])


def test_another_projects_events_with_the_same_iid_are_ignored(app, slack, gitlab, services, dates):
    issue = filed(app, slack, gitlab, services, dates)
    gitlab.add_project("secret-group/hr-cases")
    theirs = gitlab.create_issue("Case", project="secret-group/hr-cases", description="private")
    assert theirs["iid"] == issue["iid"] and theirs["project_id"] != issue["project_id"]
    # A group hook sends them all: a comment and a close on secret-group/hr-cases#<same iid>.
    comment = post(app, hooks.note_event(theirs, "HR: final warning issued", user="hr"))
    close = post(app, hooks.issue_event(gitlab.close_issue(theirs["iid"], project="secret-group/hr-cases"),
                                        action="close"))
    assert comment.json()["status"] == close.json()["status"] == "ignored"
    assert comment.json()["reason"] == "another project's event"
    # A payload claiming our project but about another project's issue (its URL) is not ours either.
    ours_by_name = {"id": issue["project_id"], "path_with_namespace": "learning-development/general"}
    mixed = post(app, hooks.note_event(theirs, "HR: second warning", user="hr", project=ours_by_name))
    assert mixed.json() == {"status": "ignored", "reason": "not an issue learnbot opened"}
    comment_told(app, slack, services, issue, "a comment on our own issue")
    assert request_row(services).status is RequestStatus.OPEN
    assert not [m for m in slack.messages("U0REQ") if "warning" in json.dumps(m)]
