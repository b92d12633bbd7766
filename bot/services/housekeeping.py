"""The last step of each dispatch pass: purge old rows (retention, at most hourly), then say the pass completed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from bot.observability import record_heartbeat
from bot.services.retention import PurgeReport, RetentionService
from bot.store.db import Database
from bot.store.models import utcnow
from bot.store.outage import is_outage

log = logging.getLogger(__name__)


class Housekeeping:
    def __init__(self, *, db: Database, retention: RetentionService, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.retention = retention
        self.clock = clock  # the real one: the heartbeat says when a pass ran, not the time it acted as

    def run(self, *, now: datetime) -> PurgeReport:
        try:
            purged = self.retention.purge_if_due(now=now)  # hourly: a pass within the hour only reads one row
        except SQLAlchemyError as exc:  # a failed purge is retried next pass; it must not hide a live worker
            if is_outage(exc):
                raise  # the heartbeat could not be written either; the outage is logged once (bot/store/outage.py)
            log.exception("retention purge failed; the next pass tries again")
            purged = PurgeReport()
        # Written last: a heartbeat means a whole pass completed, so a stuck pass shows as a stale one.
        # The real time, whatever `now` the pass acted as (`dispatch --now` in the past).
        record_heartbeat(self.db, now=self.clock())
        return purged
