"""learnbot requests / show / retry / cancel: the operator's way in without SQL (issue 12).

Run in-process through bot.cli.main against the test database (SQLite or PostgreSQL), with a
fixed `now`: rows are dated relative to it."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.catalog import load_catalog
from bot.config import load_settings
from bot.ops import cli as ops_cli
from bot.store.models import Job, JobKind, Notice, Reminder, Request, RequestStatus
from tests.ops.helpers import add_delivery, add_job, add_notice, add_reminder, add_request

NOW = datetime(2030, 1, 8, 10, 0, tzinfo=UTC)  # a Tuesday
HOUR = timedelta(hours=1)


@pytest.fixture
def run(db, database_url, monkeypatch):
    settings = load_settings({"DATABASE_URL": database_url})
    catalog = load_catalog()

    def invoke(*argv: str, answer: str | None = None) -> tuple[int, str, str]:
        from bot.cli import build_parser

        args = build_parser().parse_args(list(argv))
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr("sys.stderr", err)
        monkeypatch.setattr("sys.stdin", io.StringIO(answer + "\n" if answer is not None else ""))
        code = ops_cli.run(args, settings, catalog, out=out, now=NOW)
        return code, out.getvalue(), err.getvalue()

    return invoke


@pytest.fixture
def stored(db):
    """An open request with its history, one waiting to be filed, one failed, one closed."""
    with db.session() as s:
        open_ = add_request(s, created=NOW - 48 * HOUR, title="Bias for async", milestone_due=date(2030, 1, 20))
        open_.gitlab_iid, open_.gitlab_url = 7, "https://gitlab.example.com/ld/-/issues/7"
        add_job(s, open_, due=NOW - 48 * HOUR, finished=NOW - 47 * HOUR)
        add_notice(s, open_, key=f"filed:{open_.id}", due=NOW - 47 * HOUR, sent=NOW - 47 * HOUR)
        add_reminder(s, open_, due=NOW - 2 * HOUR, sent=NOW - 2 * HOUR)
        add_reminder(s, open_, due=NOW + 24 * HOUR, recipient="U0HOST")
        hook = add_delivery(s, key="d-7", received=NOW - 5 * HOUR, processed=NOW - 5 * HOUR)
        add_notice(s, open_, key=f"issue-event:{hook.id}", due=NOW - 5 * HOUR, sent=NOW - 5 * HOUR)
        filing = add_request(s, status=RequestStatus.FILING, created=NOW - 3 * HOUR, title="Waiting",
                             model="external-content", requester="U0OTHER")
        add_job(s, filing, due=NOW + 30 * timedelta(minutes=1), error="create issue: GitLab answered 503")
        failed = add_request(s, status=RequestStatus.FAILED, created=NOW - 6 * HOUR, title="Refused")
        failed.filing_error = "create issue: GitLab answered 403: forbidden"
        job = add_job(s, failed, due=NOW - 6 * HOUR, finished=NOW - 6 * HOUR, error="GitLab answered 403")
        job.attempts = 1
        add_notice(s, failed, key=f"filing-failed:{failed.id}", due=NOW - 6 * HOUR, failed=NOW - 6 * HOUR)
        closed = add_request(s, status=RequestStatus.CLOSED, created=NOW - 90 * HOUR, closed=NOW - 80 * HOUR,
                             title="Done long ago")
        return {"open": open_.id, "filing": filing.id, "failed": failed.id, "closed": closed.id}


def test_requests_lists_newest_first_as_a_table(run, stored):
    code, out, _ = run("requests")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "MODEL", "CREATED", "REQUESTER", "TITLE", "ISSUE", "/", "ERROR"]
    ids = [int(line.split()[0]) for line in lines[1:]]
    assert ids == [stored["filing"], stored["failed"], stored["open"], stored["closed"]]
    assert "GitLab answered 403" in out and "issues/7" in out


def test_requests_filters_by_status_and_model_and_speaks_json(run, stored):
    code, out, _ = run("requests", "--status", "failed", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == [stored["failed"]]
    assert rows[0]["status"] == "failed" and rows[0]["error"].endswith("forbidden")
    _, out, _ = run("requests", "--model", "external-content", "--json")
    assert [r["id"] for r in json.loads(out)] == [stored["filing"]]


def test_requests_refuses_an_unknown_model_with_exit_2(run, stored):
    code, _, err = run("requests", "--model", "nonsense")
    assert code == 2 and "no support model 'nonsense'" in err and "content-review" in err


def test_show_tells_the_whole_timeline(run, stored):
    code, out, _ = run("show", str(stored["open"]), "--json")
    assert code == 0
    timeline = json.loads(out)
    whats = [e["what"] for e in timeline["events"]]
    assert whats[0] == "stored"
    for expected in ("job file_issue finished", "notice sent", "reminder sent", "reminder due", "webhook", "issue"):
        assert expected in whats, expected
    sent = next(e for e in timeline["events"] if e["what"] == "reminder sent")
    assert "U0REQ" in sent["detail"]
    dated = [e["at"] for e in timeline["events"] if e["at"]]
    assert dated == sorted(dated)
    code, text, _ = run("show", str(stored["open"]))
    assert code == 0 and "Bias for async" in text and "WHEN" in text and "reminder sent" in text


def test_show_an_unknown_request_is_exit_2(run, stored):
    code, _, err = run("show", "999999")
    assert code == 2 and "no request '999999'" in err


def test_retry_a_failed_request_says_what_it_will_do_and_asks(run, stored, db):
    code, out, _ = run("retry", str(stored["failed"]), answer="n")
    assert code == 1 and "run file_issue at the next dispatch pass" in out and "nothing done" in out
    assert "send notice filing-failed" in out
    with db.session() as s:
        assert s.get(Request, stored["failed"]).status is RequestStatus.FAILED
    code, out, _ = run("retry", str(stored["failed"]), answer="y")
    assert code == 0
    with db.session() as s:
        request = s.get(Request, stored["failed"])
        job = s.scalars(select(Job).where(Job.request_id == request.id)).one()
        notice = s.scalars(select(Notice).where(Notice.request_id == request.id)).one()
        assert request.status is RequestStatus.FILING
        assert job.finished_at is None and job.due_at == NOW
        assert job.attempts == 1  # kept: the next try looks for an issue an earlier one opened
        assert notice.failed_at is None


def test_retry_brings_a_waiting_job_forward_with_yes(run, stored, db):
    code, out, _ = run("retry", str(stored["filing"]), "--yes")
    assert code == 0 and "GitLab answered 503" in out
    with db.session() as s:
        job = s.scalars(select(Job).where(Job.request_id == stored["filing"])).one()
        assert job.due_at == NOW


def test_retry_with_nothing_to_retry_changes_nothing(run, stored):
    code, out, _ = run("retry", str(stored["closed"]), "--yes")
    assert code == 1 and "closed: nothing to retry" in out


def test_retry_without_a_terminal_or_yes_does_nothing(run, stored, db):
    code, out, _ = run("retry", str(stored["failed"]))  # stdin at EOF
    assert code == 1 and "nothing done" in out
    with db.session() as s:
        assert s.get(Request, stored["failed"]).status is RequestStatus.FAILED


def test_cancel_an_open_request_stops_reminders_and_queues_the_issue_close(run, stored, db):
    code, out, _ = run("cancel", str(stored["open"]), "--yes")
    assert code == 0 and "cancel 1 reminder(s)" in out and "close GitLab issue #7" in out
    with db.session() as s:
        request = s.get(Request, stored["open"])
        assert request.status is RequestStatus.CLOSED and request.closed_at == NOW
        pending = s.scalars(select(Reminder).where(Reminder.recipient_id == "U0HOST")).one()
        assert pending.cancelled_at == NOW
        close = s.scalars(select(Job).where(Job.request_id == request.id, Job.kind == JobKind.CLOSE_ISSUE)).one()
        assert close.finished_at is None and close.due_at == NOW
    code, out, _ = run("cancel", str(stored["open"]), "--yes")
    assert code == 1 and "already closed" in out


def test_cancel_a_request_waiting_to_be_filed_stops_filing(run, stored, db):
    code, out, _ = run("cancel", str(stored["filing"]), "--yes")
    assert code == 0 and "stop filing it in GitLab" in out
    with db.session() as s:
        job = s.scalars(select(Job).where(Job.request_id == stored["filing"])).one()
        assert job.finished_at == NOW and job.last_error == "cancelled by an operator"
        assert s.scalars(select(Job).where(Job.request_id == stored["filing"],
                                           Job.kind == JobKind.CLOSE_ISSUE)).first() is None
