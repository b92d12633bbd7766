"""The L&D project's own description templates (issue 18, point 3): its text is the issue's body, learnbot's answers,
plan and marker follow in a section of their own; a template GitLab has not or cannot serve means the shipped one."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.services.issues import LEARNBOT_SECTION
from bot.store import jobs
from bot.store.models import Job, JobKind, Request, RequestStatus
from tests.e2e.harness import child_env, wait_until
from tests.samples import slack_state

pytestmark = pytest.mark.e2e

TEAM_TEMPLATE = """## New learning pathway (L&D intake)

Thanks for building a pathway! The L&D team reads every one of these.

### For the L&D team

- [ ] Pair a learning designer
- [ ] Book the review slot

/label ~pathway-intake
"""
TEMPLATE_CALLS = ("GET", r"/templates/issues/")


def only_request(services) -> Request:
    with services.db.session() as s:
        [request] = s.scalars(select(Request).options(selectinload(Request.milestones)))
        return request


def filed(gitlab, services) -> dict:
    wait_until(lambda: only_request(services).status is RequestStatus.OPEN, what="request filed")
    [issue] = gitlab.issues()
    return issue


def test_the_projects_template_is_the_body_and_learnbots_section_follows(app, gitlab, services, dates):
    gitlab.add_labels("pathway-intake")
    gitlab.add_issue_template("new_pathway", TEAM_TEMPLATE)
    hostile = "Understand the value of community\n/close\n/assign @root\n  /label ~spam"
    app.submit("new-pathway", slack_state(dates.raw("new-pathway", objectives=hostile)))
    issue = filed(gitlab, services)
    text = issue["description"]
    request = only_request(services)

    # The team's text first, as they wrote it (GitLab took out the quick action line it ran) …
    assert text.startswith("## New learning pathway (L&D intake)\n\nThanks for building a pathway!")
    assert "- [ ] Pair a learning designer" in text
    # … then learnbot's section: the answers, the dated plan and the marker, below the team's text.
    section = text.index(LEARNBOT_SECTION)
    assert text.index("Book the review slot") < section
    assert "Community Learning Pathway" in text[section:] and "Ada Lovelace" in text[section:]
    assert re.search(r"^- \[ \] \d{4}-\d{2}-\d{2} — .* <!-- learnbot:milestone:", text[section:], re.MULTILINE)
    assert text.rstrip().endswith(f"<!-- {request.marker} -->")

    # The team's own quick action ran; the requester's typed ones did not.
    applied = gitlab.quick_actions_applied(issue["iid"])
    assert [(a["command"], a["arg"], a["applied"]) for a in applied] == [("label", "~pathway-intake", True)]
    assert "pathway-intake" in issue["labels"] and "spam" not in issue["labels"]
    assert issue["state"] == "opened" and issue["assignees"] == []
    assert "\\/close" in text and "\\/assign" in text


def test_learnbot_still_finds_and_ticks_its_issue_in_the_projects_template(app, gitlab, services, dates):
    gitlab.add_issue_template("new_pathway", TEAM_TEMPLATE)
    app.submit("new-pathway", slack_state(dates.raw("new-pathway")))
    issue = filed(gitlab, services)
    request = only_request(services)
    # The marker a retry looks up before any re-create.
    assert services.gitlab.find_issue_with(request.marker).iid == issue["iid"]

    # A step done in Slack ticks its line, and the team's text stays as it was.
    now = services.clock()
    with services.db.session() as s:
        first = s.get(Request, request.id, options=[selectinload(Request.milestones)]).milestones[1]
        first.done_at = now
        jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=request.id, due_at=now)
        key = first.key
    services.dispatcher.run_once(now=now + timedelta(seconds=1))
    after = gitlab.issue(issue["iid"])["description"]
    assert re.search(rf"^- \[x\] .* <!-- learnbot:milestone:{key} -->", after, re.MULTILINE)
    assert after.startswith("## New learning pathway (L&D intake)") and "- [ ] Pair a learning designer" in after


def test_without_a_project_template_the_shipped_one_is_used(app, gitlab, services, dates):
    app.submit("new-pathway", slack_state(dates.raw("new-pathway")))
    issue = filed(gitlab, services)
    [asked] = gitlab.calls_matching(TEMPLATE_CALLS)
    assert asked.path.endswith("/templates/issues/new_pathway") and asked.status == 404
    assert issue["description"].startswith("## New learning pathway: Community Learning Pathway")
    assert LEARNBOT_SECTION not in issue["description"]


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"delay": 3.0}], ids=["500", "503", "timeout"])
def test_a_template_gitlab_cannot_serve_never_holds_up_filing(app, gitlab, services, dates, fault):
    gitlab.add_issue_template("new_pathway", TEAM_TEMPLATE)
    gitlab.fail_next(TEMPLATE_CALLS, **fault)  # longer than the 2 s client timeout, for "timeout"
    app.submit("new-pathway", slack_state(dates.raw("new-pathway")))
    issue = filed(gitlab, services)
    assert issue["description"].startswith("## New learning pathway: Community Learning Pathway")
    # Filed at the first try: no error recorded, nothing left to retry, one create.
    request = only_request(services)
    assert request.filing_error is None
    with services.db.session() as s:
        [job] = s.scalars(select(Job).where(Job.kind == JobKind.FILE_ISSUE.value))
        assert job.attempts == 1 and job.finished_at is not None
    assert len(gitlab.calls_matching(("POST", r"/issues$"))) == 1


def test_two_filings_within_the_ttl_read_the_template_once(app, gitlab, services, dates):
    gitlab.add_issue_template("new_pathway", TEAM_TEMPLATE)
    app.submit("new-pathway", slack_state(dates.raw("new-pathway")))
    wait_until(lambda: len(gitlab.issues()) == 1)
    app.submit("new-pathway", slack_state(dates.raw("new-pathway", title="Second Pathway")))
    wait_until(lambda: len(gitlab.issues()) == 2 and all(i["description"] for i in gitlab.issues()))
    assert len(gitlab.calls_matching(TEMPLATE_CALLS)) == 1
    assert all(i["description"].startswith("## New learning pathway (L&D intake)") for i in gitlab.issues())


def test_check_online_says_which_models_use_the_projects_template(env, db, gitlab, tmp_path):
    gitlab.add_issue_template("new_pathway", TEAM_TEMPLATE)
    gitlab.add_issue_template("creator_kit_pathway", "## Pathway kit\n")
    gitlab.fail_next(("GET", r"/templates/issues/content_review$"), status=500)
    out = subprocess.run([sys.executable, "-m", "bot", "check", "--online"], env=child_env(env), cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    [line] = [x for x in out.stdout.splitlines() if x.startswith("ok: GitLab: description templates:")]
    assert "new-pathway uses the project's new_pathway" in line
    assert "upload uses the project's creator_kit_pathway (learnbot's shipped creator_kit_smartcard" in line
    shipped = line.split("learnbot's shipped templates for ")[1]
    assert shipped.split(", ") == ["live-learning", "external-content", "content-review", "new-content"]
    [warning] = [x for x in out.stdout.splitlines() if "description template content_review" in x]
    assert warning.startswith("warning:") and "500" in warning and "shipped" in warning
