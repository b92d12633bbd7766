"""One pass of all due background work: pending GitLab writes and notifications (SPEC §8 dispatch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from bot import metrics
from bot.services.filing import FilingService, Result

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    at: datetime
    filing: list[Result] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"dispatch at {self.at.isoformat()}"]
        for r in self.filing:
            out.append(f"  request {r.request_id}: {r.outcome.value}" + (f" ({r.detail})" if r.detail else ""))
        if not self.filing:
            out.append("  nothing due")
        return out


class Dispatcher:
    def __init__(self, *, filing: FilingService):
        self.filing = filing

    def run_once(self, *, now: datetime) -> PassReport:
        with metrics.DISPATCH_SECONDS.time():
            report = PassReport(at=now, filing=self.filing.run_due(now=now))
        for line in report.lines()[1:]:
            log.info(line.strip())
        return report
