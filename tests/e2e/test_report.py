"""The L&D leader's report (issue 17, SPEC §16) through the stand-ins: requests filed and decided over HTTP
with the app's clock moved, then the report's numbers, `learnbot report` (JSON, CSV, exit codes),
`/learn report` for an L&D admin and for anyone else, and the monthly post with its chart and CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import subprocess
import sys
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from bot.container import Services
from bot.domain.report import Period
from bot.services.dispatch import Dispatcher
from bot.store.reports import ReportPost
from tests.e2e.harness import child_env, wait_until
from tests.e2e.test_decisions import TRIAGE, decide, file_request, text_input

pytestmark = pytest.mark.e2e
REPORT = "C0REPORT"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def env(env) -> dict[str, str]:
    return {**env, "LEARNBOT_TRIAGE_CHANNEL": TRIAGE, "LEARNBOT_REPORT_CHANNEL": REPORT}


@pytest.fixture(autouse=True)
def people(slack, gitlab):
    slack.invite_bot(TRIAGE)
    slack.invite_bot(REPORT)
    gitlab.add_user("lena", user_id=901)


def at(monkeypatch, moment: datetime) -> None:
    """Move the app's clock (every listener and service reads Services.clock())."""
    monkeypatch.setattr(Services, "clock", staticmethod(lambda: moment))


def filed_and_decided(app, slack, gitlab, monkeypatch) -> datetime:
    """Four new-content requests filed now (T), decided 1, 8, 3 and 2 days later; the moment T."""
    start = Services.clock()
    messages = [file_request(app, slack, gitlab, count=i) for i in range(1, 5)]
    for message, days, action, values in (
            (messages[0], 1, "learn.decide.accept", {"gitlab_username": text_input("lena")}),
            (messages[1], 8, "learn.decide.decline", {"text": text_input("<!channel> not this quarter")}),
            (messages[2], 3, "learn.decide.waitlist", {"text": text_input("")}),
            (messages[3], 2, "learn.decide.ask", {"text": text_input("Which teams?")})):
        at(monkeypatch, start + timedelta(days=days))
        _, resp = decide(app, slack, message, action, values)
        assert resp.json()["response_action"] == "update", resp.json()
    return start


def period_around(services: Services, start: datetime) -> Period:
    zone = services.settings.timezone
    first = start.astimezone(zone).date()
    return Period(first, first + timedelta(days=10))


def check_numbers(report: dict, start: datetime) -> None:
    assert report["received"] == {"by_model": {"new-content": 4}, "by_audience": report["received"]["by_audience"],
                                  "total": 4}
    assert sum(report["received"]["by_audience"].values()) >= 4
    decisions = report["decisions"]
    assert {k: decisions[k] for k in ("accepted", "waitlisted", "declined", "asked")} == {
        "accepted": 1, "waitlisted": 1, "declined": 1, "asked": 1}
    assert decisions["median_days_to_decision"] == 2.5  # 1, 2, 3, 8 days
    assert decisions["p90_days_to_decision"] == 8.0
    assert decisions["over_decide_within"] == 1  # new-content decides within 5 days
    assert [r["decision"] for r in decisions["reasons"]] == ["asked", "declined"]
    [ld] = [t for t in report["capacity"] if t["team"] == "L&D"]
    assert (ld["in_progress"], ld["capacity"], ld["waitlist"]) == (1, 8, 1)
    assert ld["oldest_wait_days"] is not None and ld["oldest_wait_days"] > 0
    assert report["launches"] == {"total": 0, "on_time": 0, "median_days_accept_to_launch": None}
    assert report["outcomes"] == {"happened": 0, "partly": 0, "not_yet": 0, "not_relevant": 0}
    assert report["satisfaction"] == {"responses": 0, "mean": None}
    assert [len(cluster) for cluster in report["similar"]] == [4]  # the four were filed with the same words
    before = report["previous"]
    assert "previous" not in before and before["received"]["total"] == 0
    assert before["decisions"]["median_days_to_decision"] is None


def run_cli(args, env):
    return subprocess.run([sys.executable, "-m", "bot", "report", *args], env=child_env(env), capture_output=True,
                          text=True, timeout=120, cwd=os.path.dirname(__file__))


def test_the_report_counts_what_was_filed_and_decided_and_the_cli_prints_it(app, slack, gitlab, services, env,
                                                                              monkeypatch):
    start = filed_and_decided(app, slack, gitlab, monkeypatch)
    period = period_around(services, start)
    report = services.report.build(period, now=start + timedelta(days=10))
    check_numbers(report, start)
    assert report["from"] == period.start.isoformat() and report["to"] == period.end.isoformat()
    declined = next(r for r in report["decisions"]["reasons"] if r["decision"] == "declined")
    assert declined["reason"] == "<!channel> not this quarter"  # JSON carries the words; Slack gets them escaped

    dates = ["--from", period.start.isoformat(), "--to", period.end.isoformat()]
    printed = run_cli([*dates, "--json"], env)
    assert printed.returncode == 0, printed.stderr
    as_json = json.loads(printed.stdout)
    assert as_json["received"] == report["received"] and as_json["decisions"]["p90_days_to_decision"] == 8.0
    assert set(as_json) >= {"from", "to", "received", "decisions", "launches", "milestones", "capacity", "outcomes",
                            "satisfaction", "similar", "previous"}

    rows = list(csv.reader(io.StringIO(run_cli([*dates, "--csv"], env).stdout)))
    assert rows[0][0] == "metric" and rows[0][1] == f"{period.start}..{period.end}"
    table = {r[0]: r[1:] for r in rows[1:]}
    assert table["received.total"] == ["4", "0"] and table["decisions.median_days_to_decision"] == ["2.5", ""]
    assert table["capacity.L&D.waitlist"] == ["1", "0"]

    text = run_cli(dates, env)
    assert text.returncode == 0 and "received.total" in text.stdout and "Reasons given:" in text.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["--from", "2026-13-01"], "--from '2026-13-01' is not a date like 2026-11-01"),
    (["--to", "yesterday"], "--to 'yesterday' is not a date like 2026-11-01"),
    (["--from", "2026-11-05", "--to", "2026-11-01"], "--from 2026-11-05 is after --to 2026-11-01"),
])
def test_a_bad_date_is_one_line_and_exit_2(env, args, says):
    out = run_cli(args, env)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [f"learnbot: error: {says}"]


def test_report_help_names_the_forms(env):
    out = run_cli(["--help"], env)
    assert out.returncode == 0
    for part in ("--from DATE", "--to DATE", "--json", "--csv", "LEARNBOT_TIMEZONE"):
        assert part in out.stdout
    both = run_cli(["--json", "--csv"], env)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_files(slack, channel: str, period: Period) -> tuple[bytes, str]:
    files = wait_until(lambda: len(slack.uploaded_files(channel)) >= 2 and slack.uploaded_files(channel))
    [png] = [f for f in files if f["name"].endswith(".png")]
    [table] = [f for f in files if f["name"].endswith(".csv")]
    width, height = png_size(png["content"])
    assert 800 <= width <= 2000 and 300 <= height <= 1200, (width, height)
    assert 5_000 < len(png["content"]) < 1_000_000
    assert png["alt_txt"] and "Requests" in png["alt_txt"] and "per week" in png["alt_txt"]
    assert png["name"] == f"ld-report-{period.start}-{period.end}.png"
    return png["content"], table["content"].decode("utf-8")


def test_learn_report_goes_to_an_admin_dm_and_is_refused_to_anyone_else(app, slack, gitlab, services,
                                                                        monkeypatch):
    refused = app.command("report", user="U0STRANGER")
    assert refused.status_code == 200
    assert "for the L&D team" in refused.json()["text"]
    with services.db.session() as s:
        assert s.scalars(select(ReportPost)).first() is None  # nothing built for them

    start = filed_and_decided(app, slack, gitlab, monkeypatch)
    period = period_around(services, start)
    at(monkeypatch, start + timedelta(days=10))
    answer = app.command(f"report {period.start} {period.end}", user="U0ADMIN")
    assert answer.status_code == 200 and "in your DM" in answer.json()["text"]
    summary = wait_until(lambda: [m for m in slack.messages("U0ADMIN") if m.get("blocks")
                                  and "L&D report" in m["blocks"][0]["text"]["text"]])
    shown = json.dumps(summary[0]["blocks"])
    assert "Accepted" in shown and "&lt;!channel&gt; not this quarter" in shown and "<!channel>" not in shown
    _, table = check_files(slack, "U0ADMIN", period)
    assert "received.total,4,0" in table
    assert slack.uploaded_files(REPORT) == []  # the admin's report is theirs, not the channel's

    bad = app.command("report 2026-99-01", user="U0ADMIN")
    assert "is not a date" in bad.text


def test_the_monthly_post_goes_once_with_its_chart_and_csv(app, slack, gitlab, services, monkeypatch, tmp_path):
    start = filed_and_decided(app, slack, gitlab, monkeypatch)
    zone = services.settings.timezone
    local = start.astimezone(zone).date()
    # The cron `0 9 1 * *` of the month after the decisions: it reports that whole month.
    decided = (start + timedelta(days=8)).astimezone(zone).date()
    first = (decided.replace(day=1) + timedelta(days=32)).replace(day=1)
    fire = datetime.combine(first, time(9, 5), zone)
    month = Period(decided.replace(day=1), first - timedelta(days=1))
    at(monkeypatch, fire)

    nothing = services.dispatcher.run_once(now=fire - timedelta(hours=1))  # before the cron fires: no post
    assert not nothing.of("report")
    services.dispatcher.run_once(now=fire)
    posted = [m for m in slack.messages(REPORT) if m.get("blocks")]
    assert len(posted) == 1
    blocks = posted[0]["blocks"]
    title = f"L&D report — {first - timedelta(days=1):%B %Y}"
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}
    assert len(blocks) <= 50 and all(len(json.dumps(b)) < 3500 for b in blocks)
    png, table = check_files(slack, REPORT, month)
    (tmp_path / "chart.png").write_bytes(png)
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(table))}
    filed_in_month = 4 if local >= month.start else 0
    assert rows["received.total"][0] == str(filed_in_month)

    # Again a minute later, from a second worker, and after a restart: still one post and one set of files.
    services.dispatcher.run_once(now=fire + timedelta(minutes=1))
    other = Dispatcher(filing=services.filing, sync=services.sync, reminders=services.reminders,
                       issue_events=services.issue_events, digest=services.digest, notices=services.notices,
                       report=services.report_posts)
    other.run_once(now=fire + timedelta(minutes=2))
    assert len([m for m in slack.messages(REPORT) if m.get("blocks")]) == 1
    assert len(slack.uploaded_files(REPORT)) == 2
    with services.db.session() as s:
        [row] = s.scalars(select(ReportPost)).all()
        assert row.posted_at is not None and row.slack_ts == posted[0]["ts"] and row.files_at is not None


def test_without_files_write_the_post_waits_and_the_summary_is_not_posted_twice(app, slack, gitlab, services,
                                                                               monkeypatch):
    zone = services.settings.timezone
    today = Services.clock().astimezone(zone).date()
    first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    fire = datetime.combine(first, time(9, 5), zone)
    at(monkeypatch, fire)
    slack.scopes.remove("files:write")
    first_pass = services.dispatcher.run_once(now=fire)
    [result] = first_pass.of("report")
    assert result.status == "retry" and "files:write" in result.detail
    assert len([m for m in slack.messages(REPORT) if m.get("blocks")]) == 1 and slack.uploaded_files(REPORT) == []
    slack.scopes.append("files:write")
    services.dispatcher.run_once(now=fire + timedelta(hours=2))
    assert len([m for m in slack.messages(REPORT) if m.get("blocks")]) == 1  # the summary, once
    assert len(slack.uploaded_files(REPORT)) == 2


def test_no_channel_no_post(services, slack, monkeypatch):
    services.report_posts.channel = None
    fire = datetime.combine((Services.clock().date().replace(day=1) + timedelta(days=32)).replace(day=1),
                            time(9, 5), services.settings.timezone)
    services.dispatcher.run_once(now=fire)
    with services.db.session() as s:
        assert s.scalars(select(ReportPost)).first() is None
    assert slack.messages(REPORT) == []




@pytest.mark.parametrize(("setting", "value", "says"), [
    ("LEARNBOT_REPORT_CRON", "0 9 1 *", "LEARNBOT_REPORT_CRON is not a 5-field crontab expression"),
    ("LEARNBOT_REPORT_CHANNEL", "", "LEARNBOT_REPORT_CHANNEL is set but empty"),
])
def test_check_and_the_worker_refuse_a_bad_report_setting_in_one_line(env, setting, value, says):
    for command in (["check"], ["worker"]):
        out = subprocess.run([sys.executable, "-m", "bot", *command], env=child_env({**env, setting: value}),
                             capture_output=True, text=True, timeout=60, cwd=os.path.dirname(__file__))
        assert out.returncode == 2, (command, out.stderr)
        [line] = [ln for ln in out.stderr.splitlines() if ln.startswith("learnbot: error:")]
        assert says in line


def test_launches_and_steps_on_time_with_the_clock_moved_past_the_launch(app, slack, gitlab, services, monkeypatch):
    """Two accepted requests needed in 10 days; one's step is ticked Done on its reminder, the other's never."""
    from bot.store.models import Milestone, Reminder, Request
    from tests.e2e.test_decisions import new_content

    start = Services.clock()
    needed = (start + timedelta(days=10)).date()
    messages = [file_request(app, slack, gitlab, raw=new_content(topic=f"Launch {name}", needed_by=needed.isoformat()),
                             count=i) for i, name in ((1, "A"), (2, "B"))]
    at(monkeypatch, start + timedelta(days=1))
    for message in messages:
        _, resp = decide(app, slack, message, "learn.decide.accept", {"gitlab_username": text_input("lena")})
        assert resp.json()["response_action"] == "update"
    with services.db.session() as s:
        due = s.scalar(select(func.max(Reminder.due_at)).join(Milestone).join(Request)
                       .where(Request.title.like("%Launch A%")))
    assert due is not None and due.date() <= needed
    at(monkeypatch, due + timedelta(minutes=5))
    services.dispatcher.run_once(now=due + timedelta(minutes=5))
    [reminder] = wait_until(lambda: [m for m in slack.messages("U0REQ") if "Launch A" in json.dumps(m)
                                     and "learn.reminder.done" in json.dumps(m)])
    value = next(e["value"] for b in reminder["blocks"] for e in b.get("elements", [])
                 if isinstance(e, dict) and e.get("action_id") == "learn.reminder.done")
    app.block_action("learn.reminder.done", value=value, message=reminder)
    wait_until(lambda: slack.calls_to("chat.update"))

    report = services.report.build(Period(start.date(), needed + timedelta(days=5)), now=start + timedelta(days=12))
    assert report["launches"] == {"total": 2, "on_time": 1, "median_days_accept_to_launch": 9.0}
    assert (report["milestones"]["due"], report["milestones"]["done_on_time"]) == (2, 1)
    assert report["milestones"]["by_step"]["new-content"] == {"needed-by": {"due": 2, "done_on_time": 1}}
    [ld] = [t for t in report["capacity"] if t["team"] == "L&D"]
    assert (ld["in_progress"], ld["waitlist"], ld["oldest_wait_days"]) == (2, 0, None)
