"""History is free (issue 16): the purge runs at most hourly and reads what became old since its last run,
yet every row past the retention period still goes, and nothing open or owed does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from bot.services.retention import RetentionService
from bot.store.models import Heartbeat, Notice, Reminder, Request, RequestStatus, WebhookDelivery
from tests.ops.helpers import add_delivery, add_notice, add_reminder, add_request

NOW = datetime(2030, 6, 4, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def keys(db) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(Notice.key)))


def hooks(db) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(WebhookDelivery.idempotency_key)))


def test_a_second_pass_within_the_hour_does_not_purge_and_still_writes_the_heartbeat(services):
    now = services.clock()
    with services.db.session() as s:
        add_delivery(s, key="ancient", received=now - 400 * DAY, processed=now - 400 * DAY)
    first = services.dispatcher.run_once(now=now)
    assert first.purged is not None and first.purged.deleted == {"webhook_deliveries": 1}
    with services.db.session() as s:
        add_delivery(s, key="ancient-too", received=now - 400 * DAY, processed=now - 400 * DAY)
        s.execute(Heartbeat.__table__.delete().where(Heartbeat.name == "dispatch"))
    second = services.dispatcher.run_once(now=now + timedelta(minutes=59))
    assert second.purged is not None and not second.purged.ran and second.purged.total == 0
    assert hooks(services.db) == ["ancient-too"]  # waits for the next hourly purge
    with services.db.session() as s:
        assert s.get(Heartbeat, "dispatch") is not None  # every pass says it completed
    third = services.dispatcher.run_once(now=now + timedelta(minutes=61))
    assert third.purged is not None and third.purged.deleted == {"webhook_deliveries": 1}
    assert "retention: purged 1 webhook_deliveries" in "\n".join(third.lines())
    assert hooks(services.db) == []


def test_a_purge_cut_short_goes_on_next_pass_without_waiting_the_hour(db):
    with db.session() as s:
        for i in range(25):
            add_delivery(s, key=f"old-{i}", received=NOW - 200 * DAY, processed=NOW - 200 * DAY)
    service = RetentionService(db=db, days=180)
    passes = [service.purge_if_due(now=NOW + timedelta(minutes=m), batch=10, max_batches=2, pause=0)
              for m in range(20)]  # a pass a minute
    assert [p.deleted.get("webhook_deliveries", 0) for p in passes[:3]] == [20, 5, 0]
    finished = next(i for i, p in enumerate(passes) if not p.more)
    assert all(p.ran and p.more for p in passes[:finished])  # cut short: the next minute goes on
    assert passes[finished].ran and not any(p.ran for p in passes[finished + 1:])  # then it waits the hour
    assert hooks(db) == []


def test_rows_that_become_old_after_a_purge_still_go_and_open_work_never_does(db):
    """The later of a row's own time and its request's close decides when it is old: both sides are found."""
    service = RetentionService(db=db, days=180)
    with db.session() as s:
        # Closed long ago, a message still owed at the first purge: sent later, it goes 180 days after that.
        closed = add_request(s, status=RequestStatus.CLOSED, created=NOW - 400 * DAY, closed=NOW - 300 * DAY,
                             milestone_due=date(2029, 3, 1), title="closed long ago")
        add_notice(s, closed, key="owed-then-sent", due=NOW - 300 * DAY)
        owed_reminder = add_reminder(s, closed, due=NOW - 300 * DAY)
        # Open at the first purge with old history; closed ten days later: its history goes 180 days after.
        later = add_request(s, created=NOW - 400 * DAY, milestone_due=date(2029, 6, 1), title="closed later")
        add_notice(s, later, key="later-old", due=NOW - 390 * DAY, sent=NOW - 390 * DAY)
        add_reminder(s, later, due=NOW - 390 * DAY, sent=NOW - 390 * DAY)
        # Open throughout: its history is kept, however old.
        still_open = add_request(s, created=NOW - 500 * DAY, milestone_due=date(2031, 1, 1), title="still open")
        add_notice(s, still_open, key="open-old", due=NOW - 490 * DAY, sent=NOW - 490 * DAY)
        add_reminder(s, still_open, due=NOW - 490 * DAY, sent=NOW - 490 * DAY)
        add_notice(s, still_open, key="open-owed", due=NOW + DAY)
        owed_reminder_id, later_id = owed_reminder.id, later.id
    assert service.purge(now=NOW, pause=0).total == 0
    with db.session() as s:
        notice = s.scalars(select(Notice).where(Notice.key == "owed-then-sent")).one()
        notice.sent_at = NOW + timedelta(hours=1)
        reminder = s.get(Reminder, owed_reminder_id)
        assert reminder is not None
        reminder.cancelled_at = NOW + timedelta(hours=2)
        request = s.get(Request, later_id)
        assert request is not None
        request.status, request.closed_at = RequestStatus.CLOSED, NOW + 10 * DAY
    # Hourly purges for the next 180 days find nothing: each reads only its last hour.
    for hours in (1, 2, 24, 24 * 90, 24 * 180):
        assert service.purge(now=NOW + timedelta(hours=hours), pause=0).total == 0
    assert keys(db) == ["later-old", "open-old", "open-owed", "owed-then-sent"]
    sent_later = service.purge(now=NOW + 180 * DAY + timedelta(hours=3), pause=0)
    assert sent_later.deleted == {"notices": 1, "reminders": 1}  # sent an hour after the first purge, cancelled two
    assert keys(db) == ["later-old", "open-old", "open-owed"]
    closed_later = service.purge(now=NOW + 191 * DAY, pause=0)
    assert closed_later.deleted == {"notices": 1, "reminders": 1}  # its request closed ten days after
    assert keys(db) == ["open-old", "open-owed"]
    with db.session() as s:
        left = s.scalars(select(Request.title).join(Request.milestones).join(Reminder)).all()
    assert left == ["still open"]
    assert service.purge(now=NOW + 400 * DAY, pause=0).total == 0  # an open request's rows never go


def test_the_dry_run_counts_what_the_purge_would_delete(db):
    from bot.services.retention import purge_candidates

    with db.session() as s:
        closed = add_request(s, status=RequestStatus.CLOSED, created=NOW - 300 * DAY, closed=NOW - 200 * DAY,
                             milestone_due=date(2029, 11, 1))
        add_notice(s, closed, key="both", due=NOW - 250 * DAY, sent=NOW - 250 * DAY, failed=NOW - 250 * DAY)
        add_reminder(s, closed, due=NOW - 250 * DAY, sent=NOW - 250 * DAY)
        counted = purge_candidates(s, NOW - 180 * DAY)
    assert counted == {"webhook_deliveries": 0, "jobs": 0, "notices": 1, "reminders": 1}
    assert RetentionService(db=db, days=180).purge(now=NOW, pause=0).deleted == {"notices": 1, "reminders": 1}
