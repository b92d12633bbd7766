"""A database outage (issue 15, point 12): people are told, the log says it once when it starts and once when
it ends, and /metrics counts it; nothing answers 500 and no traceback is written."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine

from bot.messages.ids import Action
from bot.messages.notices import RECORDS_UNREADABLE
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.harness import RunningApp

pytestmark = pytest.mark.e2e


@contextmanager
def unreachable(services) -> Iterator[None]:
    """The database goes away under the running services: their engine now points at a closed port (the
    same Database object every service holds), as when PostgreSQL stops; then it comes back."""
    db = services.db
    real = db.engine
    gone = create_engine("postgresql+psycopg://learnbot@127.0.0.1:1/learnbot", connect_args={"connect_timeout": 2})
    db.engine = gone
    db._sessions.configure(bind=gone)
    try:
        yield
    finally:
        db.engine = real
        db._sessions.configure(bind=real)
        gone.dispose()


def scrape(app: RunningApp) -> dict[str, float]:
    resp = app.session.get(f"{app.url}/metrics", timeout=10)
    assert resp.status_code == 200
    found = {}
    for line in resp.text.splitlines():
        m = re.match(r"^(learnbot_database_\w+) ([0-9.e+-]+)$", line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found


def open_home(app: RunningApp, user: str) -> None:
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
             "event_ts": f"{time.time():.6f}"}
    body = {"token": "legacy", "team_id": "T0LEARN01", "api_app_id": "A0LEARN", "event": event,
            "type": "event_callback", "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time())}
    assert app.post_signed(json.dumps(body), headers={"Content-Type": "application/json"}).status_code == 200


def said(records: list[logging.LogRecord], level: int) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= level]


def test_an_outage_is_told_to_people_logged_twice_and_counted(services, slack, caplog):
    app = RunningApp(services, SIGNING_SECRET).start()
    caplog.set_level(logging.INFO)
    try:
        before = scrape(app)
        assert before["learnbot_database_up"] == 1.0
        caplog.clear()
        with unreachable(services):
            # /learn mine: the person is told, in the command's own answer (no 500).
            mine = app.command("mine")
            assert mine.status_code == 200 and RECORDS_UNREADABLE in mine.json()["text"]
            # A reminder's Done button: pressed in its DM, told there.
            dm = {"ts": "1700000000.000100", "channel": slack.dm_channel("U0REQ"), "text": "reminder"}
            assert app.block_action(Action.REMINDER_DONE.value, value="7", message=dm).status_code == 200
            told = slack.wait_for(lambda c: c.api_method in ("chat.postEphemeral", "chat.postMessage")
                                  and RECORDS_UNREADABLE in str(c.body.get("text")))
            assert told[0].body["channel"] == slack.dm_channel("U0REQ")
            # App Home: a tab that says so, rather than none.
            open_home(app, "U0REQ")
            home = slack.wait_for(lambda c: c.api_method == "views.publish" and c.body.get("user_id") == "U0REQ")
            assert RECORDS_UNREADABLE in json.dumps(home[-1].body["view"])
            # Prometheus scrapes every 15 s: each scrape says the database is down, none of them logs.
            for _ in range(5):
                during = scrape(app)
            assert during["learnbot_database_up"] == 0.0
            # Two worker passes (dispatch runs every minute).
            for _ in range(2):
                report = services.dispatcher.run_once(now=services.clock())
                assert report.errors and len(report.outage_errors) == len(report.errors)
            outage_records = list(caplog.records)
        assert said(outage_records, logging.WARNING) == [
            next(m for m in said(outage_records, logging.ERROR) if m.startswith("database unreachable"))]
        assert [r for r in outage_records if r.exc_info] == []  # no traceback at all
        # Nothing else of learnbot's at INFO or above: the passes' "error: …" lines are printed, not logged.
        assert [r.getMessage() for r in outage_records if r.name.startswith("bot") and r.name != "bot.store.outage"
                and r.levelno >= logging.INFO] == []
        caplog.clear()

        after = scrape(app)  # the database is back
        assert after["learnbot_database_up"] == 1.0
        back = said(caplog.records, logging.WARNING)
        assert len(back) == 1 and back[0].startswith("database reachable again after"), back
        assert after["learnbot_database_outages_total"] == before.get("learnbot_database_outages_total", 0) + 1
        assert after["learnbot_database_errors_total"] >= before.get("learnbot_database_errors_total", 0) + 5
        mine = app.command("mine")
        assert mine.status_code == 200 and RECORDS_UNREADABLE not in mine.text
    finally:
        app.stop()


def test_dispatch_still_prints_every_part_that_could_not_run(services, caplog):
    with unreachable(services):
        report = services.dispatcher.run_once(now=services.clock())
    lines = report.lines()
    assert any(line.startswith("  error: filing: OperationalError") for line in lines)
    assert report.errors == report.outage_errors  # each is printed by `learnbot dispatch`, none logged twice
