"""The last step of each dispatch pass: purge old rows (retention), then say the pass completed."""

from __future__ import annotations

from datetime import datetime

from bot.observability import record_heartbeat
from bot.services.retention import PurgeReport, RetentionService
from bot.store.db import Database


class Housekeeping:
    def __init__(self, *, db: Database, retention: RetentionService):
        self.db = db
        self.retention = retention

    def run(self, *, now: datetime) -> PurgeReport:
        purged = self.retention.purge(now=now)
        # Written last: a heartbeat means a whole pass completed, so a stuck pass shows as a stale one.
        record_heartbeat(self.db, now=now)
        return purged
