"""One bad item never stops the line: a request that cannot be rendered or that GitLab refuses for good
fails alone (its requester and the L&D admins are told once), and every part of a dispatch pass
isolates each item's surprise, records it on the item and tries it again later."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.catalog import SHIPPED_CATALOG
from bot.config import load_settings
from bot.container import Services, build_services
from bot.store import jobs
from bot.store.models import Job, JobKind, Notice, Reminder, Request, RequestStatus, WebhookDelivery
from tests.samples import RAW
from tests.standins import gitlab_hooks as hooks

pytestmark = pytest.mark.e2e

# A fixed moment, so that "not in the past" and every plan hold on any date the suite runs.
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
ADMIN = "U0ADMIN"


@pytest.fixture(autouse=True)
def _admin(slack):
    slack.add_user(ADMIN, tz="Europe/London", name="L&D Admin")


def submit(services: Services, model: str, *, at: datetime = NOW, **changes: object) -> int:
    done = services.intake.submit(model, {**RAW[model], **changes}, user_id="U0REQ", view_id=None, now=at)
    assert done.request_id is not None, done.errors
    return done.request_id


def request(services: Services, request_id: int) -> Request:
    with services.db.session() as s:
        found = s.get(Request, request_id)
        assert found is not None
        return found


def texts_to(slack, user: str) -> list[str]:
    return [m["text"] for m in slack.messages(user)]


def catalogue_copy(tmp_path: Path, template: str, extra: str) -> Path:
    folder = tmp_path / "catalogue"
    shutil.copytree(SHIPPED_CATALOG.parent / "templates", folder / "templates")
    shutil.copy(SHIPPED_CATALOG, folder / "catalog.yml")
    with (folder / "templates" / template).open("a", encoding="utf-8") as fh:
        fh.write(extra)
    return folder / "catalog.yml"


@pytest.fixture
def broken(tmp_path, env, db) -> Iterator[tuple[Services, dict[str, str]]]:
    """learnbot on a catalogue whose content-review template fails only for some real answers: the kind of
    fault no rehearsal with sample answers can see."""
    path = catalogue_copy(tmp_path, "content_review.md.j2",
                          "{% if 'async' in answers.title %}{{ answers.no_such_field }}{% endif %}\n")
    full = {**env, "LEARNBOT_CATALOG": str(path)}
    built = build_services(load_settings(full), gitlab_timeout=2.0)
    yield built, full
    built.close()


def test_a_request_whose_template_fails_is_failed_alone_and_the_pass_files_the_rest(broken, slack, gitlab):
    services, env = broken
    poison = submit(services, "content-review", title="Bias for async")  # the oldest: first in the queue
    fine = submit(services, "external-content", at=NOW + timedelta(seconds=1))

    full = {"PATH": os.environ["PATH"], **env, **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}
    # At NOW + 1 min by the app's clock (NOW may be ahead of the real one, where --now only rehearses).
    at = (NOW + timedelta(minutes=1)).isoformat()
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("dispatch_at.py")), at],
                         env=full, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent)

    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert f"request {poison}: failed" in out.stdout and "no_such_field" in out.stdout
    assert f"request {fine}: filed" in out.stdout
    assert [i["title"] for i in gitlab.issues()] == [request(services, fine).title]
    failed = request(services, poison)
    assert failed.status is RequestStatus.FAILED and "no_such_field" in (failed.filing_error or "")
    with services.db.session() as s:
        job = s.scalars(select(Job).where(Job.request_id == poison)).one()
        assert job.finished_at is not None and "no_such_field" in (job.last_error or "")

    [to_requester] = [t for t in texts_to(slack, "U0REQ") if "could not be filed" in t]
    assert "Bias for async" in to_requester and "saved" in to_requester
    [to_admin] = texts_to(slack, ADMIN)
    assert f"Request {poison}" in to_admin and "<@U0REQ>" in to_admin and "no_such_field" in to_admin

    # Told once: later passes neither retry the request nor tell anyone again.
    again = services.dispatcher.run_once(now=NOW + timedelta(hours=3))
    assert again.filing == [] and again.notices == []
    assert len(texts_to(slack, ADMIN)) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_a_request_gitlab_refuses_for_good_is_failed_and_the_admins_are_told(services, slack, gitlab, status):
    refused = submit(services, "external-content", title="Refused one")
    fine = submit(services, "content-review", at=NOW + timedelta(seconds=1))
    gitlab.fail_next(("POST", r"/issues$"), status=status)

    report = services.dispatcher.run_once(now=NOW + timedelta(minutes=1))

    assert {r.request_id: r.said for r in report.filing} == {refused: "failed", fine: "filed"}
    assert request(services, refused).status is RequestStatus.FAILED
    assert str(status) in (request(services, refused).filing_error or "")
    [to_admin] = texts_to(slack, ADMIN)
    assert "Refused one" in to_admin and str(status) in to_admin
    assert sum("GitLab refused" in t for t in texts_to(slack, "U0REQ")) == 1


def test_an_unexpected_error_while_filing_is_recorded_and_retried_with_backoff(services, gitlab, monkeypatch):
    flaky = submit(services, "external-content", title="Flaky one")
    fine = submit(services, "content-review", at=NOW + timedelta(seconds=1))
    create = services.gitlab.create_issue

    def create_issue(**kw):
        if "Flaky" in kw["title"]:
            raise RuntimeError("something nobody foresaw")
        return create(**kw)

    monkeypatch.setattr(services.gitlab, "create_issue", create_issue)
    first = services.dispatcher.run_once(now=NOW + timedelta(minutes=1))
    assert {r.request_id: r.said for r in first.filing} == {flaky: "deferred", fine: "filed"}
    with services.db.session() as s:
        job = s.scalars(select(Job).where(Job.request_id == flaky)).one()
        assert "something nobody foresaw" in (job.last_error or "") and job.finished_at is None
        assert job.due_at > NOW + timedelta(minutes=1)
    assert request(services, flaky).status is RequestStatus.FILING

    monkeypatch.setattr(services.gitlab, "create_issue", create)
    later = services.dispatcher.run_once(now=NOW + timedelta(minutes=10))
    assert [(r.request_id, r.said) for r in later.filing] == [(flaky, "filed")]


def _filed(services: Services, *titles: str) -> list[int]:
    ids = [submit(services, "new-pathway", title=t, at=NOW + timedelta(seconds=i)) for i, t in enumerate(titles)]
    report = services.dispatcher.run_once(now=NOW + timedelta(minutes=1))
    assert all(r.said == "filed" for r in report.filing)
    return ids


def test_a_checklist_sync_that_blows_up_does_not_stop_the_others(services, gitlab, monkeypatch):
    bad, good = _filed(services, "Sync breaks", "Sync works")
    with services.db.session() as s:
        for rid in (bad, good):
            jobs.enqueue_or_wake(s, kind=JobKind.SYNC_CHECKLIST, request_id=rid, due_at=NOW + timedelta(minutes=2))
    bad_iid = request(services, bad).gitlab_iid
    get_issue = services.gitlab.get_issue

    def exploding(iid):
        if iid == bad_iid:
            raise KeyError("unexpected shape")
        return get_issue(iid)

    monkeypatch.setattr(services.gitlab, "get_issue", exploding)
    report = services.dispatcher.run_once(now=NOW + timedelta(minutes=3))
    assert {s.request_id: s.said for s in report.sync} == {bad: "deferred", good: "unchanged"}
    with services.db.session() as s:
        job = s.scalars(select(Job).where(Job.request_id == bad, Job.kind == JobKind.SYNC_CHECKLIST)).one()
        assert "unexpected shape" in (job.last_error or "") and job.due_at > NOW + timedelta(minutes=3)


def test_a_reminder_that_blows_up_waits_and_the_others_are_sent(services, slack, monkeypatch):
    _filed(services, "Pathway with reminders")
    deliver = services.reminders.handler.work
    broken_ids: list[int] = []

    def exploding(claim, now):
        if not broken_ids:
            broken_ids.append(claim.id)
        if claim.id == broken_ids[0]:
            raise ZeroDivisionError("bug in one reminder")
        return deliver(claim, now)

    monkeypatch.setattr(services.reminders.handler, "work", exploding)
    at = datetime(2027, 2, 4, 12, 0, tzinfo=UTC)  # the L-4 weeks step of a 2027-03-03 launch is due
    report = services.dispatcher.run_once(now=at)
    outcomes = {r.item_id: r.said for r in report.reminders}
    assert outcomes.pop(broken_ids[0]) == "retry"
    # The others went on: sent, or (a zone checked early, for holidays) moved to their own moment.
    assert "sent" in outcomes.values() and set(outcomes.values()) <= {"sent", "rescheduled"}
    with services.db.session() as s:
        row = s.get(Reminder, broken_ids[0])
        assert row is not None and "bug in one reminder" in (row.last_error or "")
        assert row.sent_at is None and row.cancelled_at is None and row.due_at > at  # backed off, not lost


def test_a_webhook_delivery_that_blows_up_is_recorded_and_retried(services, gitlab, monkeypatch):
    first, second = _filed(services, "Hook one", "Hook two")
    ids = []
    for rid in (first, second):
        r = request(services, rid)
        assert r.gitlab_iid is not None
        payload = hooks.issue_event(gitlab.issue(r.gitlab_iid), action="update",
                                    changes=hooks.title_change(r.title, f"{r.title} (renamed)"))
        ids.append(services.issue_events.accept(event_header="Issue Hook", payload=payload, key=f"k{rid}",
                                                now=NOW).delivery_id)
    act = services.issue_events._act

    def exploding(header, payload, *, now):
        if payload["object_attributes"]["iid"] == request(services, first).gitlab_iid:
            raise RuntimeError("cannot act")
        return act(header, payload, now=now)

    monkeypatch.setattr(services.issue_events, "_act", exploding)
    report = services.dispatcher.run_once(now=NOW + timedelta(minutes=5))
    assert len(report.gitlab_events) == 2 and "cannot act" in report.gitlab_events[0].detail
    assert request(services, second).title == "New pathway: Hook two (renamed)"
    with services.db.session() as s:
        failed = s.get(WebhookDelivery, ids[0])
        assert failed is not None and failed.processed_at is None and failed.attempts == 1
        assert "cannot act" in (failed.last_error or "")
    monkeypatch.setattr(services.issue_events, "_act", act)
    assert services.dispatcher.run_once(now=NOW + timedelta(minutes=5, seconds=30)).gitlab_events == []  # backoff
    services.dispatcher.run_once(now=NOW + timedelta(minutes=7))
    assert request(services, first).title == "New pathway: Hook one (renamed)"


def test_a_part_of_the_pass_that_fails_as_a_whole_does_not_stop_the_parts_after_it(services, slack, monkeypatch):
    _filed(services, "Whole part")

    claim_batch = services.dispatcher.runner._batch

    def down(group, *, now):  # the issue writes' claim query fails (the database went away)
        if group[0].kind == "sync_checklist":
            raise ConnectionError("database went away")
        return claim_batch(group, now=now)

    monkeypatch.setattr(services.dispatcher.runner, "_batch", down)
    report = services.dispatcher.run_once(now=datetime(2027, 2, 4, 12, 0, tzinfo=UTC))
    assert any("issue sync" in e and "database went away" in e for e in report.errors)
    outcomes = {r.said for r in report.reminders}  # the part after it ran: due ones sent
    assert "sent" in outcomes and outcomes <= {"sent", "rescheduled"}
    assert any("error: issue sync" in line for line in report.lines())


def test_notices_to_admins_are_owed_once_per_admin(services):
    poison = submit(services, "external-content", title="Twice?")
    with services.db.session() as s:
        job = s.scalars(select(Job).where(Job.request_id == poison)).one()
        job_id = job.id
    for _twice in range(2):  # the give-up's record written twice (a redelivered job): owed once each
        outcome = services.filing._give_up(poison, "GitLab answered 422", NOW, by_gitlab=True)
        with services.db.session() as s:
            outcome.record(s, s.get(Job, job_id))
    with services.db.session() as s:
        keys = sorted(n.key for n in s.scalars(select(Notice)))
    assert keys == [f"filing-failed:{poison}", f"filing-failed:{poison}:admin:{ADMIN}"]


def test_a_refused_token_is_not_the_requests_fault_it_waits_with_backoff(services, gitlab):
    waiting = submit(services, "external-content", title="Token revoked meanwhile")
    gitlab.fail_next(("POST", r"/issues$"), status=401)
    report = services.dispatcher.run_once(now=NOW + timedelta(minutes=1))
    [result] = report.filing
    assert result.said == "deferred" and "GITLAB_TOKEN" in result.detail
    assert request(services, waiting).status is RequestStatus.FILING
    later = services.dispatcher.run_once(now=NOW + timedelta(minutes=5))
    assert [r.said for r in later.filing] == ["filed"]


def test_a_digest_that_cannot_be_built_is_recorded_and_the_pass_goes_on(services, slack, monkeypatch):
    from bot.store.models import Digest

    monday = datetime(2026, 11, 30, 9, 5, tzinfo=UTC)  # the default cron's period started 5 minutes ago
    notify = submit(services, "external-content", title="Filed in the same pass", at=monday - timedelta(hours=1))
    services.digest.channel = "C0DIGEST1"

    def broken_build(*, since, now):
        raise LookupError("a query went wrong")

    monkeypatch.setattr(services.digest, "build", broken_build)
    report = services.dispatcher.run_once(now=monday)
    assert report.digest is not None and "a query went wrong" in (report.digest.skipped or "")
    assert [(r.request_id, r.said) for r in report.filing] == [(notify, "filed")]
    assert report.errors == []
    with services.db.session() as s:
        [row] = list(s.scalars(select(Digest)))
        assert row.posted_at is None and "a query went wrong" in (row.last_error or "")


def test_a_reminder_slack_refuses_for_a_missing_scope_waits_for_the_fix_and_names_the_scope(services, slack):
    _filed(services, "Scope missing")
    slack.fail_next(lambda c: c.api_method == "chat.postMessage" and c.body.get("channel") == "U0REQ",
                    body={"ok": False, "error": "missing_scope", "needed": "chat:write", "provided": "users:read"})
    at = datetime(2027, 2, 4, 12, 0, tzinfo=UTC)
    report = services.dispatcher.run_once(now=at)
    waiting = [r for r in report.reminders if r.said == "retry"]
    assert len(waiting) == 1 and "chat:write" in waiting[0].detail
    with services.db.session() as s:
        row = s.get(Reminder, waiting[0].item_id)
        assert row is not None and row.cancelled_at is None and row.sent_at is None
        assert "SLACK_BOT_TOKEN needs the scope chat:write" in (row.last_error or "")
    later = services.dispatcher.run_once(now=at + timedelta(minutes=5))
    assert [(r.item_id, r.said) for r in later.reminders] == [(waiting[0].item_id, "sent")]
