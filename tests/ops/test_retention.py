"""LEARNBOT_RETENTION_DAYS: dispatch purges old, finished rows in small batches; nothing owed is touched."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from bot.services.retention import RetentionService
from bot.store.models import Job, Milestone, Notice, Reminder, Request, RequestStatus, WebhookDelivery
from tests.ops.helpers import add_delivery, add_job, add_notice, add_reminder, add_request

NOW = datetime(2030, 6, 4, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def fill(db):
    old, recent = NOW - 200 * DAY, NOW - 10 * DAY
    with db.session() as s:
        closed_old = add_request(s, status=RequestStatus.CLOSED, created=old, closed=old,
                                 milestone_due=date(2029, 11, 1))
        add_job(s, closed_old, due=old, finished=old)
        add_notice(s, closed_old, key="old-sent", due=old, sent=old)
        add_notice(s, closed_old, key="old-failed", due=old, failed=old)
        add_reminder(s, closed_old, due=old, sent=old)
        add_reminder(s, closed_old, due=old, recipient="U0HOST").cancelled_at = old
        # An open request's history stays, however old: it may still be asked about.
        open_old = add_request(s, created=old, milestone_due=date(2030, 9, 1), title="still open")
        add_notice(s, open_old, key="open-sent", due=old, sent=old)
        add_reminder(s, open_old, due=old, sent=old)
        add_job(s, open_old, due=old, finished=old)  # a finished job goes whatever the request
        # Recent rows and anything still owed stay.
        closed_recent = add_request(s, status=RequestStatus.CLOSED, created=recent, closed=recent,
                                    milestone_due=date(2030, 5, 1))
        add_notice(s, closed_recent, key="recent-sent", due=recent, sent=recent)
        add_job(s, closed_recent, due=old)  # unfinished: owed
        for i in range(25):
            add_delivery(s, key=f"old-{i}", received=old, processed=old)
        add_delivery(s, key="old-pending", received=old)
        add_delivery(s, key="recent", received=recent, processed=recent)


def test_purge_removes_only_old_finished_rows(db):
    fill(db)
    report = RetentionService(db=db, days=180).purge(now=NOW, batch=10, pause=0)
    assert report.deleted == {"webhook_deliveries": 25, "jobs": 2, "notices": 2, "reminders": 2}
    assert not report.more
    with db.session() as s:
        assert sorted(s.scalars(select(Notice.key))) == ["open-sent", "recent-sent"]
        assert sorted(s.scalars(select(WebhookDelivery.idempotency_key))) == ["old-pending", "recent"]
        assert s.scalar(select(func.count()).select_from(Job).where(Job.finished_at.is_(None))) == 1
        open_reminders = s.scalars(select(Reminder.id).join(Milestone).join(Request)
                                   .where(Request.title == "still open")).all()
        assert len(open_reminders) == 1
    assert count(db, Job) == 1
    assert count(db, Request) == 3  # requests themselves are kept
    again = RetentionService(db=db, days=180).purge(now=NOW, batch=10, pause=0)
    assert again.total == 0


def test_purge_works_in_bounded_batches_and_resumes_next_pass(db):
    fill(db)
    service = RetentionService(db=db, days=180)
    first = service.purge(now=NOW, batch=10, max_batches=2)
    assert first.more and first.deleted == {"webhook_deliveries": 20}
    second = service.purge(now=NOW, batch=10, max_batches=100)
    assert second.deleted["webhook_deliveries"] == 5 and not second.more


def test_retention_days_moves_the_cut_off(db):
    fill(db)
    report = RetentionService(db=db, days=5).purge(now=NOW, batch=100)
    assert report.deleted["notices"] == 3  # the closed request's notice from 10 days ago goes too
    assert report.deleted["webhook_deliveries"] == 26


def test_dispatch_runs_the_purge_with_the_configured_days(services):
    from bot.store.models import utcnow

    now = utcnow()
    with services.db.session() as s:
        add_delivery(s, key="ancient", received=now - 400 * DAY, processed=now - 400 * DAY)
        add_delivery(s, key="fresh", received=now - DAY, processed=now - DAY)
    report = services.dispatcher.run_once(now=now)
    assert services.settings.learnbot_retention_days == 180
    assert report.purged is not None and report.purged.deleted == {"webhook_deliveries": 1}
    assert "retention: purged 1 webhook_deliveries" in "\n".join(report.lines())


def test_each_batch_deletes_at_most_batch_rows_in_its_own_transaction(db):
    """More old rows than one batch, in every table: each DELETE removes one batch, the rest the next one."""
    from sqlalchemy import event

    with db.session() as s:
        for i in range(15):
            closed = add_request(s, status=RequestStatus.CLOSED, created=NOW - 300 * DAY, closed=NOW - 200 * DAY,
                                 milestone_due=date(2029, 11, 1))
            add_job(s, closed, due=NOW - 200 * DAY, finished=NOW - 200 * DAY)
            add_notice(s, closed, key=f"sent-{i}", due=NOW - 200 * DAY, sent=NOW - 200 * DAY)
            add_reminder(s, closed, due=NOW - 200 * DAY, sent=NOW - 200 * DAY)
            add_delivery(s, key=f"hook-{i}", received=NOW - 200 * DAY, processed=NOW - 200 * DAY)
    deletes: dict[str, list[int]] = {}

    def deleted(conn, cursor, statement, params, context, many):
        if statement.lstrip().upper().startswith("DELETE FROM"):
            deletes.setdefault(statement.split()[2], []).append(cursor.rowcount)

    event.listen(db.engine, "after_cursor_execute", deleted)
    service = RetentionService(db=db, days=180)
    first = service.purge(now=NOW, batch=10, max_batches=1, pause=0)
    assert first.more and first.deleted == {"webhook_deliveries": 10}
    assert count(db, WebhookDelivery) == 5 and count(db, Notice) == 15  # left for the next batches
    rest = service.purge(now=NOW, batch=10, pause=0)
    assert rest.deleted == {"webhook_deliveries": 5, "jobs": 15, "notices": 15, "reminders": 15} and not rest.more
    assert deletes == {"webhook_deliveries": [10, 5], "jobs": [10, 5], "notices": [10, 5], "reminders": [10, 5]}
