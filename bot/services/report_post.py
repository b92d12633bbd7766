"""The report in Slack: the monthly post to LEARNBOT_REPORT_CHANNEL and `/learn report`'s DM, as stored work.

Each is a row of report_posts (bot/store/reports.py) run by the one runner: the Block Kit summary first
(recorded with its ts, looked for by its metadata after a lost answer, so it is posted once), then the
chart and the CSV with files_upload_v2. The monthly row's key names the channel and the period, so two
workers, a restart or a cron that fires twice in a month still post each month's report once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.domain.report import Period
from bot.gateways.slack import SlackGateway, SlackRefused, SlackSetupWrong, SlackUnavailable, Upload
from bot.messages.report import report_summary
from bot.services.digest import previous_fire
from bot.services.notices import slack_outcome
from bot.services.report import ReportService
from bot.services.report_chart import alt_text, render
from bot.services.runner import Claim, Done, GiveUp, Kind, Outcome, run_now
from bot.store.db import Database
from bot.store.report_queue import REPORT_POSTS
from bot.store.reports import ReportPost

log = logging.getLogger(__name__)
EVENT_TYPE = "learnbot_report"  # message metadata: {"report_post_id": id}
# A worker down when the cron fired still posts the month's report within this window (the key keeps it once).
CATCH_UP = timedelta(days=2)
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class _Claimed:
    recipient: str
    start: date
    end: date
    slack_channel: str | None
    slack_ts: str | None


def _snapshot(row: ReportPost) -> _Claimed:
    return _Claimed(row.recipient, row.period_start, row.period_end, row.slack_channel, row.slack_ts)


class ReportPoster:
    def __init__(self, *, db: Database, report: ReportService, slack: SlackGateway, channel: str | None, cron: str,
                 zone: ZoneInfo):
        self.db = db
        self.report = report
        self.slack = slack
        self.channel = channel
        self.cron = cron
        self.zone = zone
        self.handler = Kind("report", REPORT_POSTS, self._post, take=_snapshot, max_attempts=MAX_ATTEMPTS,
                            part="report")
        self.handlers = [self.handler]

    # --- what is owed ---------------------------------------------------------------------------

    def due_period(self, *, now: datetime) -> Period | None:
        """The period the monthly post owes at `now` (the last full month when the cron last fired), if any."""
        if not self.channel:
            return None
        try:
            fired = previous_fire(self.cron, self.zone, now)
        except ValueError:  # a cron that fires rarely (29 February) has not fired lately: nothing owed
            return None
        if now - fired > CATCH_UP:
            return None
        return self.report.default_period(fired)

    def enqueue_due(self, *, now: datetime) -> int | None:
        """Store the monthly post when its cron has fired (once per channel and period, whoever comes first)."""
        period = self.due_period(now=now)
        if period is None or self.channel is None:
            return None
        key = f"channel:{self.channel}@{period.start.isoformat()}..{period.end.isoformat()}"
        with self.db.session() as s:
            if s.scalar(select(ReportPost.id).where(ReportPost.key == key)) is not None:
                return None
        try:
            with self.db.session() as s:
                row = ReportPost(key=key, recipient=self.channel, period_start=period.start,
                                 period_end=period.end, due_at=now, created_at=now)
                s.add(row)
                s.flush()
                return row.id
        except IntegrityError:
            return None  # another worker stored it first

    def request_dm(self, user_id: str, period: Period, *, now: datetime) -> int:
        """`/learn report`: a report owed to this person's DM (stored before Slack is answered)."""
        with self.db.session() as s:
            row = ReportPost(key=f"dm:{user_id}@{period.start.isoformat()}..{period.end.isoformat()}:"
                                 f"{uuid.uuid4().hex[:12]}",
                             recipient=user_id, period_start=period.start, period_end=period.end, due_at=now,
                             created_at=now)
            s.add(row)
            s.flush()
            return row.id

    def send(self, post_id: int, *, now: datetime) -> None:
        """Post it now (after the answer); if Slack fails, the worker's next pass tries again."""
        run_now(self.db, self.handler, post_id, now=now)

    # --- posting --------------------------------------------------------------------------------

    def _names(self) -> dict[str, str]:
        return {m.key: m.name for m in self.report.catalog.catalog.models}

    def _post(self, claim: Claim, now: datetime) -> Outcome:
        c: _Claimed = claim.data
        period = Period(c.start, c.end)
        built = self.report.build(period, now=now)
        title = f"L&D report — {period.label()}"
        names = self._names()
        channel, ts = c.slack_channel, c.slack_ts
        try:
            if ts is None:
                found = (self.slack.find_with_metadata(c.recipient, EVENT_TYPE, {"report_post_id": claim.id})
                         if claim.attempt > 1 else None)
                text, blocks = report_summary(built, title=title, names=names)
                posted = found or self.slack.post(c.recipient, text, blocks, metadata={
                    "event_type": EVENT_TYPE, "event_payload": {"report_post_id": claim.id}})
                channel, ts = posted.channel, posted.ts
            assert channel is not None
            png = render(built["weekly"], names=names, title=title)
            stem = f"ld-report-{period.start.isoformat()}-{period.end.isoformat()}"
            self.slack.upload_files(channel, [
                Upload(f"{stem}.png", png, f"{title}: requests and decisions per week",
                       alt_text(built["weekly"], names=names, title=title)),
                Upload(f"{stem}.csv", self.report.csv_text(built).encode("utf-8"), f"{title} (CSV)"),
            ], comment=f"{title}: the chart and the numbers as CSV")
        except SlackRefused as exc:
            log.error("report %s to %s refused: %s", claim.id, c.recipient, exc.code)
            return GiveUp(exc.code, record=self._summary_at(channel, ts))
        except (SlackUnavailable, SlackSetupWrong) as exc:
            outcome = slack_outcome(exc, now=now)
            # The summary is out: recorded, so that only the files are tried again.
            return replace(outcome, record=self._summary_at(channel, ts)) if ts is not None else outcome

        def record(_s: Any, row: ReportPost) -> None:
            row.slack_channel, row.slack_ts, row.files_at = channel, ts, now
            log.info("report %s posted to %s", row.key, row.recipient)

        return Done("posted", detail=f"{c.recipient} {period.label()}", record=record)

    @staticmethod
    def _summary_at(channel: str | None, ts: str | None) -> Any:
        def record(_s: Any, row: ReportPost) -> None:
            if ts is not None:
                row.slack_channel, row.slack_ts = channel, ts
        return record
