"""When is my turn (§16) over HTTP: the likely week in the waitlist DM, `/learn mine` and Home, from the team's
closes in the last 90 days; one new DM when requests ahead finish and the week moves a week or more."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.container import Services
from bot.domain.turns import monday, week_text
from bot.store.models import Milestone, Notice, Request, RequestStatus
from tests.e2e.harness import wait_until
from tests.e2e.test_answer_cost import answering_statements
from tests.e2e.test_decisions import (  # noqa: F401  (env and people are fixtures: capacity 2, the deciders)
    decide,
    deciders_messages,
    decision_dms,
    env,
    file_request,
    new_content,
    people,
    request_row,
)
from tests.e2e.test_home_and_mine import open_home, published, texts
from tests.samples import RAW, slack_state
from tests.standins import gitlab_hooks as hooks

pytestmark = pytest.mark.e2e
CONFIRM = {"confirm": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}}


def close(app, gitlab, services, request_id):
    """The issue is closed in GitLab: the webhook brings it back, the request is finished."""
    iid = request_row(services, request_id).gitlab_iid
    wait_until(lambda: "ld-status::accepted" in gitlab.issue(iid)["labels"])  # the decision is in GitLab first
    payload = hooks.issue_event(gitlab.close_issue(iid), action="close")
    head = hooks.headers(hooks.event_header(payload), token="hook-secret", idempotency_key=f"close-{iid}")
    assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), headers=head,
                            timeout=10).status_code == 200
    wait_until(lambda: request_row(services, request_id).status is RequestStatus.CLOSED)


def filed(app, slack, gitlab, services, topic, count):
    message = file_request(app, slack, gitlab, raw=new_content(topic=topic), count=count)
    return message, request_row(services).id


def week_of(services, days: int) -> str:
    today = services.people.local_today("U0REQ", services.clock())
    return f"likely the week of {week_text(monday(today + timedelta(days=days)), today)}"


def decided(slack, state):
    """The requester's decision DMs in this state ("Your request “…”: waitlisted")."""
    return [m for m in decision_dms(slack) if m["text"].endswith(f": {state}")]


def moved_dms(slack):
    return [m for m in slack.messages("U0REQ") if "its turn is now" in json.dumps(m.get("blocks"))]


def turn_rows(services):
    with services.db.session() as s:
        return {r.id: (r.turn_week, r.turn_told_at) for r in s.scalars(select(Request))}


def test_the_likely_week_is_told_shown_and_told_again_once_when_requests_ahead_finish(app, slack, gitlab, services):
    # History: three accepted requests finished (closed) today, within the last 90 days.
    history = [filed(app, slack, gitlab, services, f"Done {i}", i + 1) for i in range(3)]
    for n, (message, rid) in enumerate(history):
        decide(app, slack, message, "learn.decide.accept", CONFIRM if n == 2 else {})
        wait_until(lambda n=n: len(decided(slack, "accepted")) == n + 1)
        close(app, gitlab, services, rid)

    # The queue: two accepted, not started (capacity 2 taken), then two waitlisted.
    queue = [filed(app, slack, gitlab, services, f"Queued {i}", i + 4) for i in range(4)]
    for message, _ in queue[:2]:
        decide(app, slack, message, "learn.decide.accept", {})
    for message, _ in queue[2:]:
        decide(app, slack, message, "learn.decide.waitlist", {})
    dms = wait_until(lambda: len(decided(slack, "waitlisted")) == 2 and decided(slack, "waitlisted"))

    # 3 finished in 90 days: 30 days a turn. First waitlisted: 2 accepted ahead → 60 days; second → 90 days.
    # (sent after the answers, so not necessarily in the order decided)
    first, second = (json.dumps(next(d for d in dms if f"Queued {i}" in d["text"])["blocks"]) for i in (2, 3))
    assert f"Your turn: {week_of(services, 60)}" in first and "number 1 in the queue" in first
    assert f"Your turn: {week_of(services, 90)}" in second

    mine = texts(app.command("mine").json()["blocks"])
    for days in (0, 30, 60, 90):  # the accepted ones too: the first one's turn is now
        assert (f"Your turn: {week_of(services, days)}" if days else "Your turn: likely this week") in mine
    assert "Done 0" not in mine  # finished: not waiting
    open_home(app, "U0REQ")
    home = texts(wait_until(lambda: published(slack, "U0REQ")))
    assert f"Your turn: {week_of(services, 60)}" in home and f"Your turn: {week_of(services, 90)}" in home

    # The two accepted ones finish: 5 finished, 2 places free. The first waitlisted one's turn is now.
    for _, rid in queue[:2]:
        close(app, gitlab, services, rid)
    now = services.clock()
    services.dispatcher.run_once(now=now + timedelta(days=1))  # moved, but told less than a week ago: not yet
    assert moved_dms(slack) == []
    services.dispatcher.run_once(now=now + timedelta(days=8))
    moved = wait_until(lambda: len(moved_dms(slack)) == 2 and moved_dms(slack))
    texts_moved = [json.dumps(m["blocks"]) for m in moved]
    assert any("its turn is now likely this week (it was the week of" in t for t in texts_moved)
    # The second: 1 ahead at 90 // 5 = 18 days from the pass's day (8 days on).
    today8 = services.people.local_today("U0REQ", now + timedelta(days=8))
    assert any(f"likely the week of {week_text(monday(today8 + timedelta(days=18)), today8)}" in t
               for t in texts_moved)

    # Within the week: nothing told again, however the estimate moves.
    for later in (timedelta(days=8, hours=2), timedelta(days=9), timedelta(days=12)):
        services.dispatcher.run_once(now=now + later)
    assert len(moved_dms(slack)) == 2
    # A week on, the first one's turn has come and it waits to be taken: not told "this week" again.
    services.dispatcher.run_once(now=now + timedelta(days=16))
    assert len([m for m in moved_dms(slack) if "Queued 2" in m["text"]]) == 1


def test_below_the_history_minimum_the_dm_and_mine_say_not_enough_history_yet(app, slack, gitlab, services):
    queue = [filed(app, slack, gitlab, services, f"Queued {i}", i + 1) for i in range(3)]
    for message, _ in queue[:2]:
        decide(app, slack, message, "learn.decide.accept", {})
    decide(app, slack, queue[2][0], "learn.decide.waitlist", {})
    dm = wait_until(lambda: decided(slack, "waitlisted") and decided(slack, "waitlisted")[0])
    assert "Your turn: not enough history yet to say when" in json.dumps(dm["blocks"])
    mine = texts(app.command("mine").json()["blocks"])
    assert "not enough history yet" in mine and "Your turn: likely this week" in mine  # the first accepted

    # A pass much later: still no history, so nothing to tell (no guess, no DM).
    services.dispatcher.run_once(now=services.clock() + timedelta(days=10))
    assert moved_dms(slack) == []
    with services.db.session() as s:
        assert not s.scalars(select(Notice).where(Notice.key.like("likely-week:%"))).first()


def test_closes_older_than_90_days_are_no_history(app, slack, gitlab, services):
    """With the clock moved 100 days on, the closes of today are outside the window: no guess, no DM."""
    history = [filed(app, slack, gitlab, services, f"Done {i}", i + 1) for i in range(3)]
    for n, (message, rid) in enumerate(history):
        decide(app, slack, message, "learn.decide.accept", CONFIRM if n == 2 else {})
        wait_until(lambda n=n: len(decided(slack, "accepted")) == n + 1)
        close(app, gitlab, services, rid)
    queue = [filed(app, slack, gitlab, services, f"Queued {i}", i + 4) for i in range(3)]
    for message, _ in queue[:2]:
        decide(app, slack, message, "learn.decide.accept", {})
    decide(app, slack, queue[2][0], "learn.decide.waitlist", {})
    dm = wait_until(lambda: decided(slack, "waitlisted") and decided(slack, "waitlisted")[0])
    assert f"Your turn: {week_of(services, 60)}" in json.dumps(dm["blocks"])
    services.dispatcher.run_once(now=services.clock() + timedelta(days=100))
    assert moved_dms(slack) == []
    told_week, _ = turn_rows(services)[queue[2][1]]
    assert isinstance(told_week, date)  # the week told is kept; nothing new to say


def test_mine_reads_the_queues_once_however_many_requests_wait(app, slack, gitlab, services):
    def cost():
        app.command("mine")  # warm
        with answering_statements(services) as statements:
            assert "Your turn" in json.dumps(app.command("mine").json()["blocks"])
        return len(statements)

    queue = [filed(app, slack, gitlab, services, f"Queued {i}", i + 1) for i in range(5)]
    for message, _ in queue[:2]:
        decide(app, slack, message, "learn.decide.accept", {})
    decide(app, slack, queue[2][0], "learn.decide.waitlist", {})
    wait_until(lambda: len(decided(slack, "waitlisted")) == 1)
    one = cost()
    for message, _ in queue[3:]:
        decide(app, slack, message, "learn.decide.waitlist", {})
    wait_until(lambda: len(decided(slack, "waitlisted")) == 3)
    assert cost() == one


def test_a_live_session_accepted_on_filing_is_nobodys_turn_to_take(app, slack, gitlab, services):
    """Live learning needs no decision (its requester hosts it): no likely week, and it is not ahead of anyone."""
    starts = int((Services.clock() + timedelta(days=60)).replace(hour=15, minute=0).timestamp())
    app.submit("live-learning", slack_state({**RAW["live-learning"], "starts_at": str(starts)}))
    wait_until(lambda: request_row(services).status is RequestStatus.OPEN)
    with services.db.session() as s:
        assert s.scalars(select(Milestone)).first() is not None  # it has a plan, not started
    assert request_row(services).decision_state == "accepted"
    assert "Your turn" not in json.dumps(app.command("mine").json()["blocks"])


def test_the_week_starts_on_monday_where_the_requester_is(app, slack, gitlab, services):
    """At 02:00 UTC on a Monday it is still Sunday in New York: the requester's week is the one ending."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from tests.samples import REQUESTER_ZONE

    history = [filed(app, slack, gitlab, services, f"Done {i}", i + 1) for i in range(3)]
    for n, (message, rid) in enumerate(history):
        decide(app, slack, message, "learn.decide.accept", CONFIRM if n == 2 else {})
        wait_until(lambda n=n: len(decided(slack, "accepted")) == n + 1)
        close(app, gitlab, services, rid)
    queue = [filed(app, slack, gitlab, services, f"Queued {i}", i + 4) for i in range(3)]
    for message, _ in queue[:2]:
        decide(app, slack, message, "learn.decide.accept", {})
    decide(app, slack, queue[2][0], "learn.decide.waitlist", {})
    wait_until(lambda: decided(slack, "waitlisted"))
    for _, rid in queue[:2]:
        close(app, gitlab, services, rid)  # two places free: the waitlisted one's turn is now

    later = (services.clock() + timedelta(days=8)).date()
    at = datetime.combine(later + timedelta(days=(7 - later.weekday()) % 7), datetime.min.time(), UTC)
    at += timedelta(hours=2)  # a Monday, 02:00 UTC
    services.dispatcher.run_once(now=at)
    wait_until(lambda: moved_dms(slack))
    local = at.astimezone(ZoneInfo(REQUESTER_ZONE)).date()
    assert local.weekday() == 6  # Sunday there
    told_week, told_at = turn_rows(services)[queue[2][1]]
    assert told_week == local - timedelta(days=6) and told_at == at


def test_moving_up_the_waitlist_says_the_likely_week_and_counts_as_told(app, slack, gitlab, services):
    queue = [filed(app, slack, gitlab, services, f"Queued {i}", i + 1) for i in range(4)]
    for message, _ in queue[:2]:
        decide(app, slack, message, "learn.decide.accept", {})
    for message, _ in queue[2:]:
        decide(app, slack, message, "learn.decide.waitlist", {})
    wait_until(lambda: len(decided(slack, "waitlisted")) == 2)
    # The first waitlisted is accepted anyway: the second moves up, and hears its turn with its place.
    ts = queue[2][0]["ts"]
    third = wait_until(lambda: (m := next(x for x in deciders_messages(slack) if x["ts"] == ts))
                       and "Waitlisted" in json.dumps(m) and m)
    decide(app, slack, third, "learn.decide.accept", CONFIRM)
    moved = wait_until(lambda: [m for m in slack.messages("U0REQ") if "now number 1" in m["text"]])
    assert len(moved) == 1 and "Your turn: not enough history yet" in json.dumps(moved[0]["blocks"])
    _, told_at = turn_rows(services)[queue[3][1]]
    assert told_at is not None and told_at > request_row(services, queue[3][1]).decided_at
