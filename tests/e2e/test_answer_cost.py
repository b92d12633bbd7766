"""What one answer to Slack costs in SQL: a submission stays a handful of statements, each person read once.

Counted on the thread that answers (the HTTP request's), not the after-answer lanes: what Slack
waits for. An N+1 (a look-up per milestone, per person) fails here long before a bench notices.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.samples import slack_state

pytestmark = pytest.mark.e2e

# SPEC §10: "A submission sends ≤ 10 SQL statements."
SUBMISSION_STATEMENTS = 10


@contextmanager
def answering_statements(services) -> Iterator[list[str]]:
    """SQL sent by threads other than the after-answer lanes' while the block runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        if not threading.current_thread().name.startswith("after-answer"):
            seen.append(statement)

    event.listen(services.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(services.db.engine, "before_cursor_execute", record)


def test_a_pathway_submission_costs_a_handful_of_statements_and_reads_each_person_once(app, slack, services, dates):
    raw = dates.raw("new-pathway", co_owners=["U0COOWNER", "U0HOST"])  # three people, six milestones
    app.submit("content-review", slack_state(dates.raw("content-review")))  # warm: the first answer loads caches
    with answering_statements(services) as statements:
        resp = app.submit("new-pathway", slack_state(raw))
    assert resp.json()["response_action"] == "update"
    assert len(statements) <= SUBMISSION_STATEMENTS, "\n".join(s.split("\n")[0][:120] for s in statements)
    people = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM people" in s]
    assert len(people) <= 2  # the requester (for "today"), then the co-owners together
    assert sum(s.lstrip().upper().startswith("INSERT INTO REMINDERS") for s in statements) == 1


def test_a_repeated_delivery_is_answered_from_the_stored_request(app, services, dates):
    state = slack_state(dates.raw("content-review"))
    app.submit("content-review", state, view_id="V0TWICE")
    with answering_statements(services) as statements:
        again = app.submit("content-review", state, view_id="V0TWICE", headers={"X-Slack-Retry-Num": "1"})
    assert again.json()["response_action"] == "update"
    assert len(statements) <= SUBMISSION_STATEMENTS + 3  # the refused INSERT, then one look-up
