"""One pass of all due background work: GitLab writes, notifications and reminders (SPEC §8 dispatch)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from bot import metrics
from bot.ops.shutdown import stopping
from bot.services.after_launch import AfterLaunchService
from bot.services.decisions import DecisionService, JobResult
from bot.services.digest import DigestService, Posted
from bot.services.filing import FilingService, Result
from bot.services.housekeeping import Housekeeping
from bot.services.issue_events import IssueEventService
from bot.services.issue_sync import IssueSyncService, SyncResult
from bot.services.notices import NoticeResult, NoticeService
from bot.services.people import DirectoryRun, PeopleService
from bot.services.reminders import DeliveryResult, ReminderService
from bot.services.retention import PurgeReport
from bot.store.outage import is_outage

if TYPE_CHECKING:
    from bot.services.rehearsal import Rehearsal

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class PassReport:
    at: datetime
    filing: list[Result] = field(default_factory=list)
    sync: list[SyncResult] = field(default_factory=list)
    reminders: list[DeliveryResult] = field(default_factory=list)
    gitlab_events: list[str] = field(default_factory=list)
    notices: list[NoticeResult] = field(default_factory=list)
    digest: Posted | None = None
    # A whole part of the pass that could not run (the database went away): said, and the rest still ran.
    errors: list[str] = field(default_factory=list)
    decisions: list[JobResult] = field(default_factory=list)
    purged: PurgeReport | None = None
    # The errors above that are the database being out of reach: printed, but not logged pass after pass.
    outage_errors: list[str] = field(default_factory=list)
    people: DirectoryRun | None = None  # the daily users.list pass, when one ran

    def lines(self) -> list[str]:
        out = [f"dispatch at {self.at.isoformat()}"]
        for r in self.filing:
            out.append(f"  request {r.request_id}: {r.outcome.value}" + (f" ({r.detail})" if r.detail else ""))
            if r.notified:
                out.append(f"  request {r.request_id}: notified (DM sent)")
        for s in self.sync:
            out.append(f"  request {s.request_id}: {s.kind.value} {s.outcome}" + (f" ({s.detail})" if s.detail else ""))
        if self.reminders:
            counts = Counter(r.outcome.value for r in self.reminders)
            out.append("  reminders: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
        if self.notices:
            counts = Counter(n.outcome.value for n in self.notices)
            out.append("  notices: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
        for j in self.decisions:
            out.append(f"  request {j.request_id}: {j.kind.value} {j.outcome}" + (f" ({j.detail})" if j.detail else ""))
        if self.gitlab_events:
            out.append(f"  GitLab events finished: {len(self.gitlab_events)}")
        if self.digest is not None:
            d = self.digest
            state = f"not posted ({d.skipped})" if d.skipped else f"posted ({d.ts})"
            out.append(f"  digest to {d.channel}: {state}")
        if self.purged is not None and self.purged.total:
            out.append("  retention: purged " + ", ".join(f"{n} {t}" for t, n in sorted(self.purged.deleted.items())))
        for e in self.errors:
            out.append(f"  error: {e}")
        if not (self.filing or self.sync or self.reminders or self.gitlab_events or self.notices or self.digest
                or self.decisions or self.errors):
            out.append("  nothing due")
        return out


class Dispatcher:
    def __init__(self, *, filing: FilingService, sync: IssueSyncService, reminders: ReminderService,
                 issue_events: IssueEventService, digest: DigestService, notices: NoticeService,
                 decisions: DecisionService | None = None, after_launch: AfterLaunchService | None = None,
                 housekeeping: Housekeeping | None = None, people: PeopleService | None = None):
        self.filing = filing
        self.sync = sync
        self.reminders = reminders
        self.issue_events = issue_events
        self.digest = digest
        self.notices = notices
        self.decisions = decisions
        self.after_launch = after_launch
        self.housekeeping = housekeeping
        self.people = people
        self._was_idle = False

    def run_once(self, *, now: datetime) -> PassReport:
        with metrics.DISPATCH_SECONDS.time():
            report = PassReport(at=now)
            # Each part isolates its own items; this guard keeps a part that fails as a whole (its claim
            # query, the database) from stopping the parts after it.
            # Everyone's zone and name from Slack in bulk when the daily pass is due (users.list, a few
            # pages a pass at Slack's pace): no reminder then waits on users.info.
            if self.people is not None:
                report.people = self._part(report, "people", self.people.refresh_directory, now, None)
            # Filing first: reminders name the issue, and checklist writes need it to exist.
            report.filing = self._part(report, "filing", self.filing.run_due, now, [])
            # GitLab events the web process stored but could not act on (it stopped, or failed).
            report.gitlab_events = self._part(report, "GitLab events", self.issue_events.run_pending, now, [])
            report.sync = self._part(report, "issue sync", self.sync.run_due, now, [])
            if self.after_launch is not None:  # notes owed to issues: session follow-ups, retire requests
                report.sync += self._part(report, "issue notes", self.after_launch.run_due, now, [])
            # Decision labels/notes in GitLab, deciders' messages updated in place, overdue decisions raised.
            if self.decisions is not None:
                report.decisions = self._part(report, "decisions", self.decisions.run_due, now, [])
            # Messages owed to people that were not sent when they were stored (Slack down, a lost answer).
            report.notices = self._part(report, "notices", self.notices.run_due, now, [])
            report.reminders = self._part(report, "reminders", self.reminders.run_due, now, [])
            # The digest's cron job posts it on time; this catches a period a stopped worker missed.
            report.digest = self._part(report, "digest", self.digest.run_due, now, None)
            # Retention, then the heartbeat /metrics reads (learnbot_last_dispatch_timestamp_seconds).
            # A pass cut short by SIGTERM is not a completed pass: no purge, no heartbeat.
            if self.housekeeping is not None and not stopping():
                report.purged = self._part(report, "housekeeping", self.housekeeping.run, now, None)
        for r in report.reminders:
            metrics.REMINDERS.labels(r.outcome.value).inc()
        quiet = {f"error: {e}" for e in report.outage_errors}
        lines = [ln.strip() for ln in report.lines()[1:] if ln.strip() not in quiet]
        idle = lines in ([], ["nothing due"])
        if not (idle and self._was_idle):  # said once when work runs out, not again every minute
            for line in lines:
                log.info(line)
        self._was_idle = idle
        return report

    def rehearse(self, *, now: datetime, real: datetime) -> Rehearsal:
        """What a pass at `now` would do, changing nothing (`dispatch --dry-run`, or a `--now` ahead of `real`)."""
        from bot.services.rehearsal import rehearse

        return rehearse(self.digest.db, at=now, real=real, digest=self.digest,
                        retention=self.housekeeping.retention if self.housekeeping is not None else None)

    @staticmethod
    def _part(report: PassReport, name: str, run: Callable[..., T], now: datetime, empty: T) -> T:
        if stopping():  # SIGTERM: the parts not started are left to the next worker
            return empty
        try:
            return run(now=now)
        except Exception as exc:
            error = f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if is_outage(exc):  # the database is out of reach: said once per outage (bot/store/outage.py)
                report.outage_errors.append(error)
            else:
                log.exception("dispatch: %s failed as a whole", name)
            report.errors.append(error)
            return empty
