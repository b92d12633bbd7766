"""The last step of each dispatch pass: purge old rows (retention), then say the pass completed."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from bot.observability import record_heartbeat
from bot.services.retention import PurgeReport, RetentionService
from bot.store.db import Database
from bot.store.outage import is_outage

log = logging.getLogger(__name__)


class Housekeeping:
    def __init__(self, *, db: Database, retention: RetentionService):
        self.db = db
        self.retention = retention

    def run(self, *, now: datetime) -> PurgeReport:
        try:
            purged = self.retention.purge(now=now)
        except SQLAlchemyError as exc:  # a failed purge is retried next pass; it must not hide a live worker
            if is_outage(exc):
                raise  # the heartbeat could not be written either; the outage is logged once (bot/store/outage.py)
            log.exception("retention purge failed; the next pass tries again")
            purged = PurgeReport()
        # Written last: a heartbeat means a whole pass completed, so a stuck pass shows as a stale one.
        record_heartbeat(self.db, now=now)
        return purged
