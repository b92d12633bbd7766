"""One pass of all due background work: GitLab writes, notifications and reminders (SPEC §8 dispatch)."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from bot import metrics
from bot.services.after_launch import AfterLaunchService
from bot.services.decisions import DecisionService
from bot.services.digest import DigestService, Posted
from bot.services.feedback import FeedbackService
from bot.services.filing import FilingService
from bot.services.housekeeping import Housekeeping
from bot.services.invites import InviteService
from bot.services.issue_events import IssueEventService
from bot.services.issue_sync import IssueSyncService
from bot.services.notices import NoticeService
from bot.services.people import DirectoryRun, PeopleService
from bot.services.reminders import ReminderService
from bot.services.report_post import ReportPoster
from bot.services.retention import PurgeReport
from bot.services.runner import Result, Runner, Status
from bot.services.similar import SimilarService
from bot.services.turns import TurnService
from bot.services.workflow import WorkflowService
from bot.store.models import JobKind
from bot.store.outage import is_outage

if TYPE_CHECKING:
    from bot.services.rehearsal import Rehearsal

log = logging.getLogger(__name__)
T = TypeVar("T")

FILING = {JobKind.FILE_ISSUE.value, JobKind.NOTIFY_FILED.value}
SYNC = {JobKind.SYNC_CHECKLIST.value, JobKind.CLOSE_ISSUE.value, JobKind.POST_NOTES.value}
DECISIONS = {JobKind.DECISION_MESSAGE.value, JobKind.DECISION_GITLAB.value, "decision_nudge"}


@dataclass
class PassReport:
    at: datetime
    # Every item of owed work the pass ran, in the order it ran them (bot/services/runner.py).
    results: list[Result] = field(default_factory=list)
    digest: Posted | None = None
    # A whole part of the pass that could not run (the database went away): said, and the rest still ran.
    errors: list[str] = field(default_factory=list)
    purged: PurgeReport | None = None
    # The errors above that are the database being out of reach: printed, but not logged pass after pass.
    outage_errors: list[str] = field(default_factory=list)
    people: DirectoryRun | None = None  # the daily users.list pass, when one ran

    def of(self, kinds: set[str] | str) -> list[Result]:
        wanted = {kinds} if isinstance(kinds, str) else kinds
        return [r for r in self.results if r.kind in wanted]

    @property
    def filing(self) -> list[Result]:
        return self.of(FILING)

    @property
    def sync(self) -> list[Result]:
        return self.of(SYNC)

    @property
    def reminders(self) -> list[Result]:
        return self.of("reminder")

    @property
    def notices(self) -> list[Result]:
        return self.of("notice")

    @property
    def decisions(self) -> list[Result]:
        return self.of(DECISIONS)

    @property
    def gitlab_events(self) -> list[Result]:
        return self.of("gitlab_event")

    def lines(self) -> list[str]:
        out = [f"dispatch at {self.at.isoformat()}"]
        for r in self.results:
            if r.kind in ("reminder", "notice", "gitlab_event"):
                continue
            if r.kind == "report":  # the L&D report: to a channel or an admin's DM, not about one request
                out.append(f"  report {r.said}" + (f" ({r.detail})" if r.detail else ""))
                continue
            what = r.said if r.kind in FILING or r.kind == "decision_nudge" else f"{r.kind} {r.said}"
            out.append(f"  request {r.request_id}: {what}" + (f" ({r.detail})" if r.detail else ""))
            if r.notified:
                out.append(f"  request {r.request_id}: notified (DM sent)")
        for name, results in (("reminders", self.reminders), ("notices", self.notices)):
            if results:
                counts = Counter(r.said for r in results)
                out.append(f"  {name}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
        if self.gitlab_events:
            out.append(f"  GitLab events finished: {len(self.gitlab_events)}")
        if self.digest is not None:
            d = self.digest
            state = f"not posted ({d.skipped})" if d.skipped else f"posted ({d.ts})"
            out.append(f"  digest to {d.channel}: {state}")
        if self.purged is not None and self.purged.total:
            out.append("  retention: purged " + ", ".join(f"{n} {t}" for t, n in sorted(self.purged.deleted.items())))
        if self.people is not None and self.people.error:
            out.append(f"  time zones: the users.list pass is paused ({self.people.error}); reminders use the "
                       "zones stored so far")
        for e in self.errors:
            out.append(f"  error: {e}")
        if not (self.results or self.digest or self.errors):
            out.append("  nothing due")
        return out


class Dispatcher:
    def __init__(self, *, filing: FilingService, sync: IssueSyncService, reminders: ReminderService,
                 issue_events: IssueEventService, digest: DigestService, notices: NoticeService,
                 decisions: DecisionService | None = None, after_launch: AfterLaunchService | None = None,
                 housekeeping: Housekeeping | None = None, stop: threading.Event | None = None,
                 runner: Runner | None = None, people: PeopleService | None = None,
                 report: ReportPoster | None = None, feedback: FeedbackService | None = None,
                 similar: SimilarService | None = None, turns: TurnService | None = None,
                 workflow: WorkflowService | None = None, invites: InviteService | None = None):
        self.digest = digest
        self.turns = turns
        self.decisions = decisions
        self.feedback = feedback
        self.housekeeping = housekeeping
        self.stop = stop or threading.Event()
        self.people = people
        self.report = report
        # The order of a pass. Filing first: reminders name the issue, and checklist writes need it to exist.
        # Then GitLab events the web process stored but could not act on, the issue's own writes (checklist,
        # close, owed notes), messages owed to people that were not sent when stored, and reminders.
        handlers = [*filing.handlers, issue_events.handler, *sync.handlers,
                    *(after_launch.handlers if after_launch is not None else []),
                    *(decisions.handlers if decisions is not None else []),
                    *(similar.handlers if similar is not None else []), notices.handler, reminders.handler,
                    *(report.handlers if report is not None else []),
                    # Workflow Builder steps after filing and the notices: their issue and DM are there by then.
                    *(workflow.handlers if workflow is not None else []),
                    *(invites.handlers if invites is not None else [])]  # live sessions' .ics (§17)
        self.runner = runner or Runner(db=digest.db, handlers=handlers, stop=self.stop)
        self._was_idle = False

    def run_once(self, *, now: datetime) -> PassReport:
        with metrics.DISPATCH_SECONDS.time():
            report = PassReport(at=now)
            # The runner isolates each item; this guard keeps a part that fails as a whole (its claim
            # query, the database) from stopping the parts after it.
            # Everyone's zone and name from Slack in bulk when the daily pass is due (users.list, a few
            # pages a pass at Slack's pace): no reminder then waits on users.info.
            if self.people is not None:
                report.people = self._part(report, "people", self.people.refresh_directory, now, None)
            # The monthly L&D report, once its cron has fired: stored, then posted by the runner below.
            if self.report is not None:
                self._part(report, "report", self.report.enqueue_due, now, None)
            # Waiting requests whose likely week moved a week or more (at most hourly): their DMs are stored
            # first, so this pass's runner sends them.
            told: list[Result] = []
            if self.turns is not None:
                told = self._part(report, "likely weeks", self.turns.tell_moved, now, told)
            report.results = told + self.runner.run_pass(now=now, on_error=partial(self._failed, report))
            # Requests undecided past their model's decide_within: raised once in the deciders' thread.
            if self.decisions is not None:
                report.results += self._part(report, "decision nudges", self.decisions.nudge_due, now, [])
            # Outcome check-ins whose day has come in their requester's zone, and their one nudge.
            if self.feedback is not None:
                report.results += self._part(report, "outcome check-ins", self.feedback.due, now, [])
            # The digest's cron job posts it on time; this catches a period a stopped worker missed.
            report.digest = self._part(report, "digest", self.digest.run_due, now, None)
            # Retention, then the heartbeat /metrics reads (learnbot_last_dispatch_timestamp_seconds).
            # A pass cut short by SIGTERM is not a completed pass: no purge, no heartbeat.
            if self.housekeeping is not None and not self.stop.is_set():
                report.purged = self._part(report, "housekeeping", self.housekeeping.run, now, None)
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
                        retention=self.housekeeping.retention if self.housekeeping is not None else None,
                        feedback=self.feedback)

    def _part(self, report: PassReport, name: str, run: Callable[..., T], now: datetime, empty: T) -> T:
        if self.stop.is_set():  # SIGTERM: the parts not started are left to the next worker
            return empty
        try:
            return run(now=now)
        except Exception as exc:
            self._failed(report, name, exc)
            return empty

    @staticmethod
    def _failed(report: PassReport, name: str, exc: Exception) -> None:
        error = f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if is_outage(exc):  # the database is out of reach: said once per outage (bot/store/outage.py)
            report.outage_errors.append(error)
        else:
            log.error("dispatch: %s failed as a whole", name, exc_info=exc)
        report.errors.append(error)


__all__ = ["Dispatcher", "PassReport", "Status"]
