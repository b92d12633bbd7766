"""From `/learn` to a templated GitLab issue, over HTTP, against the Slack and GitLab stand-ins."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.catalog.schema import Interval
from bot.domain.after_launch import next_review
from bot.store.models import Job, JobKind, Request, RequestStatus
from tests.e2e.harness import wait_until
from tests.samples import RAW, REQUESTER_ZONE, slack_state, weekday_after
from tests.standins._quick_actions import COMMAND_NAMES

pytestmark = pytest.mark.e2e
# A line GitLab would run as a quick action, even indented, even with a carriage return before it
# (GitLab deletes every "\r" before it looks).
QUICK_ACTION_LINE = re.compile(rf"^[ \t]*/(?:{'|'.join(COMMAND_NAMES)})\b", re.IGNORECASE | re.MULTILINE)




def requests_in(services):
    with services.db.session() as s:
        return list(s.scalars(select(Request).order_by(Request.id)))


def dms_to(slack, user):
    return [c for c in slack.calls_to("chat.postMessage") if c.body.get("channel") == user]


def settled(services) -> bool:
    """Every stored request has been filed (or refused) and no job is left to run: nothing more will happen."""
    with services.db.session() as s:
        filing = s.scalars(select(Request).where(Request.status == RequestStatus.FILING)).first()
        waiting = s.scalars(select(Job).where(Job.finished_at.is_(None))).first()
    return filing is None and waiting is None


def quick_action_lines(description: str) -> list[str]:
    return QUICK_ACTION_LINE.findall(description.replace("\r", ""))


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
def test_each_model_files_its_templated_issue_and_dms_the_link(app, slack, gitlab, services, dates, key):
    resp = app.submit(key, slack_state(dates.raw(key)))
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


def test_pathway_issue_has_the_dated_checklist(app, gitlab, services, dates):
    app.submit("new-pathway", slack_state(dates.raw("new-pathway")))  # launch: a Wednesday, six weeks out
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert issue["title"] == "New pathway: Community Learning Pathway"
    listed = re.findall(r"^- \[[ x]\] (\d{4}-\d{2}-\d{2}) — ", issue["description"], re.MULTILINE)
    # Opening the issue is done today: the requester's today, or (zone not known yet) the earliest zone's.
    assert abs(date.fromisoformat(listed[0]) - services.clock().date()) <= timedelta(days=1)
    assert listed[1:-1] == [dates.iso(d) for d in ("2027-02-03", "2027-02-10", "2027-02-10", "2027-02-17",
                                                    "2027-02-24", "2027-02-24", "2027-03-03")]
    # ... and the evergreen review, six months after the launch (catalogue review_after).
    launch = date.fromisoformat(dates.iso("2027-03-03"))
    assert listed[-1] == next_review(launch, Interval(months=6)).isoformat()
    assert date.fromisoformat(listed[-1]).month == (launch.month + 5) % 12 + 1


def test_upload_gets_the_audience_label_and_approving_team(app, gitlab, dates):
    app.submit("upload", slack_state(dates.raw("upload", contributor_audience="sales")))
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert {"edcast-contribution-field", "creator-kit::smartcard", "lxp-contribution"} <= set(issue["labels"])
    assert "| Approving team | Field Enablement |" in issue["description"]


def test_new_content_issue_carries_the_triage_score(app, gitlab, dates):
    app.submit("new-content", slack_state(dates.raw("new-content")))
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert "triage::high" in issue["labels"] and issue["weight"] == 10


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("change,field,message", [
    ({"launch_date": "2020-01-01"}, "launch_date", "is in the past"),
    ({"handbook_urls": "https://docs.google.com/document/d/1"}, "handbook_urls", "not in the handbook"),
    ({"title": "x" * 151}, "title", "under 150 characters"),
    ({"title": "Pathway\r/close"}, "title", "single line"),  # a lone CR is a line break too
    ({"objectives": ""}, "objectives", "required"),
])
def test_bad_input_is_refused_inline_and_nothing_is_filed(app, gitlab, services, dates, change, field, message):
    resp = app.submit("new-pathway", slack_state(dates.raw("new-pathway", **change)))
    body = resp.json()
    assert body["response_action"] == "errors"
    assert message in body["errors"][field]
    assert requests_in(services) == []
    # A good submission after it is filed: had the refused one left any work behind, it would be done by now.
    app.submit("content-review", slack_state(dates.raw("content-review")))
    wait_until(lambda: gitlab.issues())
    wait_until(lambda: settled(services))
    [post] = gitlab.calls_matching(("POST", r"/issues$"))
    assert post.body["title"] == "Content review: Bias for async"


@pytest.mark.parametrize("days", [16, 25])
def test_short_notice_launch_warns_and_compresses(app, gitlab, services, days):
    # A weekday: a weekend launch moves to the Friday before, and the plan would say "37 days", not "5 weeks".
    soon = weekday_after(services.clock(), days)
    body = app.submit("new-pathway", slack_state({**RAW["new-pathway"], "launch_date": soon.isoformat()})).json()
    assert body["response_action"] == "update"
    assert ":warning:" in str(body["view"]["blocks"])
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert "> :warning: This plan needs 5 weeks" in issue["description"]
    assert f"- [ ] {soon.isoformat()} — Launch your course" in issue["description"]


def test_sample_dates_are_ahead_of_the_apps_clock_on_the_same_weekdays(services, dates):
    """The shifted samples keep their weekdays and lie ahead of today everywhere on Earth (any date, any year)."""
    today_anywhere = services.clock().astimezone(ZoneInfo("Pacific/Kiritimati")).date()
    assert today_anywhere <= dates.today < today_anywhere + timedelta(days=7)
    assert dates.today.weekday() == 2  # SAMPLE_TODAY is a Wednesday, and so is every shift of it
    assert dates.day("2027-02-14").strftime("%A") == "Sunday"
    assert dates.at("2027-02-15", 9, REQUESTER_ZONE).astimezone(ZoneInfo(REQUESTER_ZONE)).hour == 9


# --- safety ----------------------------------------------------------------------------------------


def test_forged_and_stale_requests_get_401_and_do_nothing(app, slack, services, dates):
    assert app.command("new-pathway", secret="not-the-secret").status_code == 401
    assert app.command("new-pathway", timestamp=int(time.time()) - 6 * 60).status_code == 401
    assert app.submit("new-pathway", slack_state(dates.raw("new-pathway")), secret="nope").status_code == 401
    assert requests_in(services) == []
    # A genuine command after them opens its modal: the only views.open there is, with its own trigger.
    assert app.command("upload").status_code == 200
    [opened] = slack.wait_for("views.open")
    assert '"upload"' in opened.body["view"]["private_metadata"]
    slack.wait_for(lambda c: c.api_method == "users.info" and c.body.get("user") == "U0REQ")
    assert len(slack.calls_to("views.open")) == 1
    assert requests_in(services) == []


def test_same_submission_delivered_twice_opens_one_issue(app, gitlab, services, dates):
    state = slack_state(dates.raw("content-review"))
    first = app.submit("content-review", state, view_id="V0SAME")
    again = app.submit("content-review", state, view_id="V0SAME",
                       headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.status_code == again.status_code == 200
    # Both answers are in, and a request is stored before its answer: once every stored request is
    # filed and no job is left, nothing else can open an issue.
    wait_until(lambda: gitlab.issues())
    wait_until(lambda: settled(services))
    assert len(gitlab.issues()) == 1 and len(gitlab.calls_matching(("POST", r"/issues$"))) == 1
    assert len(requests_in(services)) == 1


def test_double_click_racing_submissions_open_one_issue(app, gitlab, services, dates):
    from concurrent.futures import ThreadPoolExecutor

    state = slack_state(dates.raw("external-content"))
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: app.submit("external-content", state, view_id="V0RACE").status_code,
                              range(4)))
    assert codes == [200] * 4
    wait_until(lambda: gitlab.issues())
    wait_until(lambda: settled(services))
    assert len(gitlab.issues()) == 1 and len(gitlab.calls_matching(("POST", r"/issues$"))) == 1
    assert len(requests_in(services)) == 1


def test_user_text_pings_nobody_and_runs_no_quick_action(app, gitlab, slack, dates):
    hostile = "Intro\n/close\n/assign @root\n/label ~spam\n<!channel> <!here> <@U0ADMIN>"
    raw = dates.raw("new-content", topic="<!channel> /close", outcomes=hostile, team="/lock")
    app.submit("new-content", slack_state(raw))
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])
    assert gitlab.quick_actions_applied(issue["iid"]) == []
    assert issue["state"] == "opened" and "spam" not in issue["labels"]
    [post] = gitlab.calls_matching(("POST", r"/issues$"))
    assert quick_action_lines(post.body["description"]) == []
    dm = wait_until(lambda: dms_to(slack, "U0REQ"))[0]
    text = dm.body["text"] + str(dm.body.get("blocks"))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


# Every way a line of typed text could reach a line start in the issue: first line, after a
# newline, indented, after CRLF, after a lone CR (GitLab deletes "\r"), after a tab.
HOSTILE_LONG = ("/close\nIntro\n/assign @root\n  /label ~x\ntext after a newline\n/lock\r\n/due tomorrow\n"
                "\r/confidential\n\t/title pwned\n/weight 9")
# Single-line fields (a line break there is refused: see test_bad_input_is_refused_inline…).
HOSTILE_LINE = {"default": "/close /assign @root", "channel_topics": "/close, /assign @root, /label ~x"}
KIT_ANSWERS = {  # what each creator kit needs on top of the SmartCard sample
    "smartcard": {},
    "pathway": {"badge": "yes", "unlock": "self-paced", "image_url": "https://example.com/cover.png"},
    "journey": {"badge": "no", "unlock": "progressive", "image_url": "https://example.com/cover.png"},
    "carousel": {"carousel_type": "smartcards"},
    "channel": {"image_url": "https://example.com/cover.png", "channel_topics": "a, b, c", "provider": "GitLab"},
    "group": {"group_visibility": "private", "group_admin": "U0HOST"},
}


def _variants():
    for key in RAW:
        if key == "upload":
            yield from ((key, kit) for kit in KIT_ANSWERS)
        else:
            yield key, None


@pytest.mark.parametrize("key,kit", list(_variants()), ids=lambda v: v or "")
def test_hostile_lines_in_every_free_text_field_never_become_quick_actions(app, gitlab, slack, services, dates,
                                                                           key, kit):
    gitlab.add_labels("x")  # so that a /label ~x that got through would show
    gitlab.add_user("root")
    raw = dates.raw(key)
    if kit is not None:
        raw = {**{k: v for k, v in raw.items() if k not in ("level", "tags", "duration_minutes")},
               "content_type": kit, **KIT_ANSWERS[kit]}
        if kit in ("smartcard", "pathway", "journey"):
            raw |= {"level": "beginner", "tags": "dib"} | ({"duration_minutes": "10"} if kit == "smartcard" else {})
    model = services.catalog.model(key)
    free_text = [f for f in model.visible_fields(raw) if f.type in ("text", "long_text")]
    assert free_text, f"{key}: no free-text field to try"
    for field in free_text:
        raw[field.id] = HOSTILE_LONG if field.type == "long_text" else HOSTILE_LINE.get(field.id,
                                                                                         HOSTILE_LINE["default"])
    answer = app.submit(key, slack_state(raw)).json()
    assert answer["response_action"] == "update", answer.get("errors")
    issue = wait_until(lambda: gitlab.issues() and gitlab.issues()[0])

    [post] = gitlab.calls_matching(("POST", r"/issues$"))
    sent = post.body["description"]
    assert quick_action_lines(sent) == [], sent
    assert gitlab.quick_actions_applied(issue["iid"]) == []
    assert issue["state"] == "opened" and issue["assignees"] == [] and "x" not in issue["labels"]
    assert issue["weight"] != 9 and not issue["confidential"] and issue["title"] != "pwned"
    assert issue["due_date"] == post.body.get("due_date")  # no /due moved it
    # The words are still there for a person to read.
    assert "assign @root" in sent
    if any(f.type == "long_text" for f in free_text):
        assert "text after a newline" in sent


# --- GitLab down, slow, or losing its answer -----------------------------------------------------


def dispatch(services, minutes):
    return services.dispatcher.run_once(now=services.clock() + timedelta(minutes=minutes))


def test_gitlab_down_saves_tells_and_files_later_exactly_once(app, gitlab, slack, services, dates):
    gitlab.fail_next(("POST", r"/issues$"), status=503, times=2)
    resp = app.submit("new-pathway", slack_state(dates.raw("new-pathway")))
    assert resp.json()["response_action"] == "update"  # saved and acknowledged regardless
    dm = wait_until(lambda: dms_to(slack, "U0REQ"))[0]
    assert "saved" in dm.body["text"] and "GitLab isn't answering" in dm.body["text"]
    assert gitlab.issues() == []
    [request] = requests_in(services)
    assert request.status is RequestStatus.FILING and "503" in request.filing_error

    assert [r.said for r in dispatch(services, 0).filing] == []  # backoff: not due yet
    assert [r.said for r in dispatch(services, 2).filing] == ["deferred"]  # second 503
    assert [(r.said, r.notified) for r in dispatch(services, 10).filing] == [("filed", True)]
    assert len(gitlab.issues()) == 1
    assert dispatch(services, 60).filing == []
    assert len(gitlab.issues()) == 1
    assert gitlab.issues()[0]["web_url"] in dms_to(slack, "U0REQ")[-1].body["text"]
    assert len(dms_to(slack, "U0REQ")) == 2  # "saved, will file" once, then the link


def test_lost_answer_after_create_is_found_by_marker_not_duplicated(app, gitlab, services, dates):
    gitlab.fail_next(("POST", r"/issues$"), drop=True, after_effect=True)
    app.submit("new-content", slack_state(dates.raw("new-content")))
    wait_until(lambda: gitlab.issues())  # GitLab made it, but learnbot never heard back
    wait_until(lambda: requests_in(services)[0].filing_error)
    assert requests_in(services)[0].gitlab_iid is None

    results = dispatch(services, 5).filing
    assert results[0].said == "filed"
    assert len(gitlab.issues()) == 1
    assert len(gitlab.calls_matching(("POST", r"/issues$"))) == 1  # searched, then adopted: no re-create
    assert requests_in(services)[0].gitlab_iid == gitlab.issues()[0]["iid"]


def test_502_after_create_is_not_duplicated(app, gitlab, services, dates):
    gitlab.fail_next(("POST", r"/issues$"), status=502, after_effect=True)
    app.submit("content-review", slack_state(dates.raw("content-review")))
    wait_until(lambda: requests_in(services)[0].filing_error)
    dispatch(services, 5)
    assert len(gitlab.issues()) == 1
    assert requests_in(services)[0].status is RequestStatus.OPEN


def test_slow_gitlab_does_not_hold_up_the_acknowledgement(app, gitlab, services, dates):
    gitlab.fail_next(("POST", r"/issues$"), delay=1.0)
    resp = app.submit("external-content", slack_state(dates.raw("external-content")))
    assert resp.json()["response_action"] == "update"
    # Slack has its answer while GitLab is still working on the issue.
    assert gitlab.issues() == []
    wait_until(lambda: gitlab.issues())


def test_gitlab_timeout_then_retry_adopts_the_late_issue(app, gitlab, services, dates):
    gitlab.fail_next(("POST", r"/issues$"), delay=3.0)  # longer than the 2 s client timeout
    app.submit("external-content", slack_state(dates.raw("external-content")))
    wait_until(lambda: requests_in(services)[0].filing_error, timeout=6)
    wait_until(lambda: gitlab.issues(), timeout=6)
    dispatch(services, 5)
    assert len(gitlab.issues()) == 1
    assert requests_in(services)[0].gitlab_iid == gitlab.issues()[0]["iid"]


def test_gitlab_rejection_is_reported_to_the_requester(app, gitlab, slack, services, dates):
    gitlab.fail_next(("POST", r"/issues$"), status=400, body={"message": {"labels": ["are invalid"]}})
    app.submit("content-review", slack_state(dates.raw("content-review")))
    dm = wait_until(lambda: dms_to(slack, "U0REQ"))[0]
    assert "GitLab refused" in dm.body["text"] and "400" in dm.body["text"]
    assert requests_in(services)[0].status is RequestStatus.FAILED
    assert dispatch(services, 120).filing == []  # not retried: it would fail the same way


def file_job(services, request_id) -> Job:
    with services.db.session() as s:
        return s.scalars(select(Job).where(Job.kind == JobKind.FILE_ISSUE, Job.request_id == request_id)).one()


def test_gitlab_429_is_not_retried_before_its_retry_after(app, gitlab, services, dates):
    # Longer than the first backoff step (1 minute): only Retry-After can explain a later retry.
    gitlab.fail_next(("POST", r"/issues$"), status=429, retry_after=900)
    before = services.clock()
    app.submit("content-review", slack_state(dates.raw("content-review")))
    [request] = wait_until(lambda: [r for r in requests_in(services) if r.filing_error])
    after = services.clock()
    [refused] = gitlab.calls_matching(("POST", r"/issues$"))
    assert (refused.status, refused.fault) == (429, "status=429")
    assert "429" in request.filing_error and request.status is RequestStatus.FILING

    due = file_job(services, request.id).due_at
    assert before + timedelta(seconds=900) <= due <= after + timedelta(seconds=900)
    assert services.dispatcher.run_once(now=due - timedelta(seconds=1)).filing == []  # not yet
    assert len(gitlab.calls_matching(("POST", r"/issues$"))) == 1
    assert [(r.said, r.notified) for r in services.dispatcher.run_once(now=due).filing] == [("filed", True)]
    assert len(gitlab.issues()) == 1


def test_gitlab_429_during_a_dispatch_pass_sets_the_next_attempt_by_retry_after(app, gitlab, services, dates):
    gitlab.fail_next(("POST", r"/issues$"), status=503)
    app.submit("content-review", slack_state(dates.raw("content-review")))
    [request] = wait_until(lambda: [r for r in requests_in(services) if r.filing_error])
    first_retry = file_job(services, request.id).due_at

    gitlab.fail_next(("POST", r"/issues$"), status=429, retry_after=3600)
    assert [r.said for r in services.dispatcher.run_once(now=first_retry).filing] == ["deferred"]
    # The second backoff step would be 2 minutes; GitLab asked for an hour.
    assert file_job(services, request.id).due_at == first_retry + timedelta(seconds=3600)
    assert services.dispatcher.run_once(now=first_retry + timedelta(seconds=3599)).filing == []
    assert [(r.said, r.notified) for r in services.dispatcher.run_once(
        now=first_retry + timedelta(seconds=3600)).filing] == [("filed", True)]
    assert [c.status for c in gitlab.calls_matching(("POST", r"/issues$"))] == [503, 429, 201]


def test_slack_rate_limit_on_views_open_is_honoured(app, slack):
    slack.fail_next("views.open", status=429, retry_after=1)
    app.command("new-content")
    calls = slack.wait_for("views.open", count=2, timeout=5)
    assert len(calls) == 2
    assert calls[0].status == 429 and calls[1].response["ok"] is True
    assert calls[1].received_at - calls[0].received_at >= 0.9  # waited for Retry-After


# --- operations ---------------------------------------------------------------------------------------


def test_healthz_says_the_process_answers(app, services):
    resp = app.session.get(f"{app.url}/healthz")  # the database is /readyz's business (tests/ops/test_probes.py)
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_metrics_count_submissions(app, gitlab, dates):
    app.submit("content-review", slack_state(dates.raw("content-review")))
    wait_until(lambda: gitlab.issues())
    text = app.session.get(f"{app.url}/metrics").text
    assert re.search(r'learnbot_requests_submitted_total\{model="content-review"\} [1-9]', text)


def test_database_rows_one_per_submission(app, gitlab, services, dates):
    for key in ("content-review", "external-content"):
        app.submit(key, slack_state(dates.raw(key)))
    wait_until(lambda: len(gitlab.issues()) == 2)
    with services.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Request)) == 2


def test_confirmation_dm_whose_answer_was_lost_is_not_sent_twice(app, gitlab, slack, services, dates):
    slack.fail_next(lambda c: c.api_method == "chat.postMessage" and "filed as" in c.body.get("text", ""),
                    drop=True, after_effect=True)
    app.submit("content-review", slack_state(dates.raw("content-review")))
    wait_until(lambda: gitlab.issues())
    wait_until(lambda: [c for c in slack.calls_to("chat.postMessage") if c.done])
    dispatch(services, 10)  # the retry finds the DM Slack did post, by its metadata
    dispatch(services, 60)
    filed = [m for m in slack.messages("U0REQ") if "filed as" in m["text"]]
    assert len(filed) == 1
    assert slack.calls_to("conversations.history")
