"""From `/learn` to a templated GitLab issue, over HTTP, against the Slack and GitLab stand-ins."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.store.models import Request, RequestStatus
from tests.samples import RAW, slack_state

pytestmark = pytest.mark.e2e
QUICK_ACTION = re.compile(r"^/\w+", re.MULTILINE)


def wait_until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


def requests_in(services):
    with services.db.session() as s:
        return list(s.scalars(select(Request).order_by(Request.id)))


def dms_to(slack, user):
    return [c for c in slack.calls_to("chat.postMessage") if c.body.get("channel") == user]


# --- /learn ------------------------------------------------------------------------------------


def test_help_lists_every_support_model(app, services):
    resp = app.command("")
    assert resp.status_code == 200
    body = resp.json()
    buttons = [b["accessory"]["value"] for b in body["blocks"] if b.get("accessory")]
    assert buttons == services.catalog.catalog.keys
    assert app.command("help").json()["blocks"] == body["blocks"]


def test_unknown_word_gets_help_with_the_closest_match(app):
    body = app.command("new-pathwy").json()
    assert "Did you mean `/learn new-pathway`?" in body["blocks"][0]["text"]["text"]


@pytest.mark.parametrize("key", list(RAW))
def test_each_model_opens_its_modal_with_the_commands_trigger(app, slack, services, key):
    resp = app.command(key)
    assert resp.status_code == 200 and resp.text == ""
    opened = slack.wait_for("views.open")[0]
    view = opened.body["view"]
    assert opened.body["trigger_id"]
    assert view["callback_id"] == "learn.submit"
    fields = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert fields == [f.id for f in services.catalog.model(key).visible_fields({})]
    # The requester's time zone is learned straight away, for "is this date in the past?".
    slack.wait_for(lambda c: c.api_method == "users.info" and c.body.get("user") == "U0REQ")


def test_start_button_in_help_opens_the_modal(app, slack):
    app.block_action("learn.start", value="content-review")
    view = slack.wait_for("views.open")[0].body["view"]
    assert '"content-review"' in view["private_metadata"]


def test_choosing_a_creator_kit_redraws_the_form_with_its_fields(app, slack):
    state = slack_state({"content_type": "group"})
    view = {"id": "V0UPLOAD", "hash": "h1", "private_metadata": '{"model": "upload"}', "state": {"values": state}}
    app.block_action("learn.field_changed", view=view, selected="group")
    update = slack.wait_for("views.update")[0].body
    assert update["view_id"] == "V0UPLOAD" and update["hash"] == "h1"
    shown = {b["block_id"] for b in update["view"]["blocks"] if b["type"] == "input"}
    assert {"group_visibility", "group_admin"} <= shown and "duration_minutes" not in shown


# --- a good submission -------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(RAW))
def test_each_model_files_its_templated_issue_and_dms_the_link(app, slack, gitlab, services, key):
    resp = app.submit(key, slack_state(RAW[key]))
    assert resp.status_code == 200
    assert resp.json()["response_action"] == "update"
    assert resp.json()["view"]["title"]["text"] == "Request saved"

    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    model = services.catalog.model(key)
    assert "learnbot" in issue["labels"] and set(model.labels) <= set(issue["labels"])
    request = wait_until(lambda: [r for r in requests_in(services) if r.status is RequestStatus.OPEN])[0]
    assert f"<!-- learnbot-request:{request.public_id} -->" in issue["description"]
    assert request.gitlab_iid == issue["iid"] and request.gitlab_url == issue["web_url"]
    assert "Ada Lovelace" in issue["description"]

    dm = wait_until(lambda: dms_to(slack, "U0REQ"))[0]
    assert issue["web_url"] in dm.body["text"]


def test_pathway_issue_has_the_dated_checklist(app, gitlab):
    app.submit("new-pathway", slack_state(RAW["new-pathway"]))
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert issue["title"] == "New pathway: Community Learning Pathway"
    dates = re.findall(r"^- \[[ x]\] (\d{4}-\d{2}-\d{2}) — ", issue["description"], re.MULTILINE)
    # ... and the evergreen review, six months after the launch (catalogue review_after).
    assert dates[1:] == ["2027-02-03", "2027-02-10", "2027-02-10", "2027-02-17", "2027-02-24", "2027-02-24",
                         "2027-03-03", "2027-09-03"]


def test_upload_gets_the_audience_label_and_approving_team(app, gitlab):
    app.submit("upload", slack_state({**RAW["upload"], "contributor_audience": "sales"}))
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert {"edcast-contribution-field", "creator-kit::smartcard", "lxp-contribution"} <= set(issue["labels"])
    assert "| Approving team | Field Enablement |" in issue["description"]


def test_new_content_issue_carries_the_triage_score(app, gitlab):
    app.submit("new-content", slack_state(RAW["new-content"]))
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert "triage::high" in issue["labels"] and issue["weight"] == 10


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("change,field,message", [
    ({"launch_date": "2020-01-01"}, "launch_date", "is in the past"),
    ({"handbook_urls": "https://docs.google.com/document/d/1"}, "handbook_urls", "not in the handbook"),
    ({"title": "x" * 151}, "title", "under 150 characters"),
    ({"objectives": ""}, "objectives", "required"),
])
def test_bad_input_is_refused_inline_and_nothing_is_filed(app, gitlab, services, change, field, message):
    resp = app.submit("new-pathway", slack_state({**RAW["new-pathway"], **change}))
    body = resp.json()
    assert body["response_action"] == "errors"
    assert message in body["errors"][field]
    assert requests_in(services) == []
    time.sleep(0.2)
    assert gitlab.calls_matching(("POST", r"/issues$")) == []


def test_short_notice_launch_warns_and_compresses(app, gitlab):
    from datetime import date

    soon = (date.today() + timedelta(days=16)).isoformat()
    body = app.submit("new-pathway", slack_state({**RAW["new-pathway"], "launch_date": soon})).json()
    assert body["response_action"] == "update"
    assert ":warning:" in str(body["view"]["blocks"])
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert "> :warning: This plan needs 5 weeks" in issue["description"]


# --- safety ----------------------------------------------------------------------------------------


def test_forged_and_stale_requests_get_401_and_do_nothing(app, slack, services):
    assert app.command("new-pathway", secret="not-the-secret").status_code == 401
    assert app.command("new-pathway", timestamp=int(time.time()) - 6 * 60).status_code == 401
    assert app.submit("new-pathway", slack_state(RAW["new-pathway"]), secret="nope").status_code == 401
    time.sleep(0.2)
    assert slack.calls_to("views.open") == []
    assert requests_in(services) == []


def test_same_submission_delivered_twice_opens_one_issue(app, gitlab, services):
    state = slack_state(RAW["content-review"])
    first = app.submit("content-review", state, view_id="V0SAME")
    again = app.submit("content-review", state, view_id="V0SAME",
                       headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.status_code == again.status_code == 200
    wait_until(lambda: gitlab.issues())
    time.sleep(0.3)
    assert len(gitlab.issues()) == 1
    assert len(requests_in(services)) == 1


def test_double_click_racing_submissions_open_one_issue(app, gitlab, services):
    from concurrent.futures import ThreadPoolExecutor

    state = slack_state(RAW["external-content"])
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: app.submit("external-content", state, view_id="V0RACE").status_code,
                              range(4)))
    assert codes == [200] * 4
    wait_until(lambda: gitlab.issues())
    time.sleep(0.3)
    assert len(gitlab.issues()) == 1


def test_user_text_runs_no_quick_action_and_pings_nobody(app, gitlab, slack):
    hostile = "/close\n/assign @root\n/label ~spam\n<!channel> <!here> <@U0ADMIN>"
    raw = {**RAW["new-content"], "topic": "<!channel> /close", "outcomes": hostile, "team": "/lock"}
    app.submit("new-content", slack_state(raw))
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert gitlab.quick_actions_applied(issue["iid"]) == []
    assert issue["state"] == "opened" and "spam" not in issue["labels"]
    assert not QUICK_ACTION.search(issue["description"])
    dm = wait_until(lambda: dms_to(slack, "U0REQ"))[0]
    text = dm.body["text"] + str(dm.body.get("blocks"))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


# --- GitLab down, slow, or losing its answer -----------------------------------------------------


def dispatch(services, minutes):
    return services.dispatcher.run_once(now=services.clock() + timedelta(minutes=minutes))


def test_gitlab_down_saves_tells_and_files_later_exactly_once(app, gitlab, slack, services):
    gitlab.fail_next(("POST", r"/issues$"), status=503, times=2)
    resp = app.submit("new-pathway", slack_state(RAW["new-pathway"]))
    assert resp.json()["response_action"] == "update"  # saved and acknowledged regardless
    dm = wait_until(lambda: dms_to(slack, "U0REQ"))[0]
    assert "saved" in dm.body["text"] and "GitLab isn't answering" in dm.body["text"]
    assert gitlab.issues() == []
    [request] = requests_in(services)
    assert request.status is RequestStatus.FILING and "503" in request.filing_error

    assert [r.outcome.value for r in dispatch(services, 0).filing] == []  # backoff: not due yet
    assert [r.outcome.value for r in dispatch(services, 2).filing] == ["deferred"]  # second 503
    assert [(r.outcome.value, r.notified) for r in dispatch(services, 10).filing] == [("filed", True)]
    assert len(gitlab.issues()) == 1
    assert dispatch(services, 60).filing == []
    assert len(gitlab.issues()) == 1
    assert gitlab.issues()[0]["web_url"] in dms_to(slack, "U0REQ")[-1].body["text"]
    assert len(dms_to(slack, "U0REQ")) == 2  # "saved, will file" once, then the link


def test_lost_answer_after_create_is_found_by_marker_not_duplicated(app, gitlab, services):
    gitlab.fail_next(("POST", r"/issues$"), drop=True, after_effect=True)
    app.submit("new-content", slack_state(RAW["new-content"]))
    wait_until(lambda: gitlab.issues())  # GitLab made it, but learnbot never heard back
    wait_until(lambda: requests_in(services)[0].filing_error)
    assert requests_in(services)[0].gitlab_iid is None

    results = dispatch(services, 5).filing
    assert results[0].outcome.value == "filed"
    assert len(gitlab.issues()) == 1
    assert len(gitlab.calls_matching(("POST", r"/issues$"))) == 1  # searched, then adopted: no re-create
    assert requests_in(services)[0].gitlab_iid == gitlab.issues()[0]["iid"]


def test_502_after_create_is_not_duplicated(app, gitlab, services):
    gitlab.fail_next(("POST", r"/issues$"), status=502, after_effect=True)
    app.submit("content-review", slack_state(RAW["content-review"]))
    wait_until(lambda: requests_in(services)[0].filing_error)
    dispatch(services, 5)
    assert len(gitlab.issues()) == 1
    assert requests_in(services)[0].status is RequestStatus.OPEN


def test_slow_gitlab_does_not_hold_up_the_acknowledgement(app, gitlab, services):
    gitlab.fail_next(("POST", r"/issues$"), delay=1.0)
    resp = app.submit("external-content", slack_state(RAW["external-content"]))
    assert resp.json()["response_action"] == "update"
    # Slack has its answer while GitLab is still working on the issue.
    assert gitlab.issues() == []
    wait_until(lambda: gitlab.issues())


def test_gitlab_timeout_then_retry_adopts_the_late_issue(app, gitlab, services):
    gitlab.fail_next(("POST", r"/issues$"), delay=3.0)  # longer than the 2 s client timeout
    app.submit("external-content", slack_state(RAW["external-content"]))
    wait_until(lambda: requests_in(services)[0].filing_error, timeout=6)
    wait_until(lambda: gitlab.issues(), timeout=6)
    dispatch(services, 5)
    assert len(gitlab.issues()) == 1
    assert requests_in(services)[0].gitlab_iid == gitlab.issues()[0]["iid"]


def test_gitlab_rejection_is_reported_to_the_requester(app, gitlab, slack, services):
    gitlab.fail_next(("POST", r"/issues$"), status=400, body={"message": {"labels": ["are invalid"]}})
    app.submit("content-review", slack_state(RAW["content-review"]))
    dm = wait_until(lambda: dms_to(slack, "U0REQ"))[0]
    assert "GitLab refused" in dm.body["text"] and "400" in dm.body["text"]
    assert requests_in(services)[0].status is RequestStatus.FAILED
    assert dispatch(services, 120).filing == []  # not retried: it would fail the same way


def test_slack_rate_limit_on_views_open_is_honoured(app, slack):
    slack.fail_next("views.open", status=429, retry_after=1)
    app.command("new-content")
    calls = slack.wait_for("views.open", count=2, timeout=5)
    assert len(calls) == 2
    assert calls[0].status == 429 and calls[1].status == 200
    assert calls[1].received_at - calls[0].received_at >= 0.9  # waited for Retry-After


# --- operations ---------------------------------------------------------------------------------------


def test_healthz_checks_the_database(app, services):
    resp = app.session.get(f"{app.url}/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok", "database": "ok"}


def test_metrics_count_submissions(app, gitlab):
    app.submit("content-review", slack_state(RAW["content-review"]))
    wait_until(lambda: gitlab.issues())
    text = app.session.get(f"{app.url}/metrics").text
    assert re.search(r'learnbot_requests_submitted_total\{model="content-review"\} [1-9]', text)


def test_database_rows_one_per_submission(app, gitlab, services):
    for key in ("content-review", "external-content"):
        app.submit(key, slack_state(RAW[key]))
    wait_until(lambda: len(gitlab.issues()) == 2)
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Request)) == 2


def test_confirmation_dm_whose_answer_was_lost_is_not_sent_twice(app, gitlab, slack, services):
    slack.fail_next(lambda c: c.api_method == "chat.postMessage" and "filed as" in c.body.get("text", ""),
                    drop=True, after_effect=True)
    app.submit("content-review", slack_state(RAW["content-review"]))
    wait_until(lambda: gitlab.issues())
    wait_until(lambda: [c for c in slack.calls_to("chat.postMessage") if c.done])
    dispatch(services, 10)  # the retry finds the DM Slack did post, by its metadata
    dispatch(services, 60)
    filed = [m for m in slack.messages("U0REQ") if "filed as" in m["text"]]
    assert len(filed) == 1
    assert slack.calls_to("conversations.history")
