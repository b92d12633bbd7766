"""The background process: APScheduler is only a local timer; the database says what is due."""

from __future__ import annotations

import logging

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.container import Services
from bot.domain.schedule import cron_trigger
from bot.services.dispatch import Dispatcher

log = logging.getLogger(__name__)


def build_scheduler(services: Services, dispatcher: Dispatcher) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=services.settings.timezone)

    def dispatch() -> None:
        try:
            dispatcher.run_once(now=services.clock())
        except Exception:  # one bad pass must not stop the timer; the next minute tries again
            log.exception("dispatch pass failed")

    # coalesce + one instance: a slow pass is never run twice at once, missed runs collapse into one.
    scheduler.add_job(dispatch, IntervalTrigger(minutes=1), id="dispatch", coalesce=True, max_instances=1,
                      misfire_grace_time=30, next_run_time=services.clock())

    def digest() -> None:
        try:
            posted = services.digest.run_due(now=services.clock())
            if posted is not None:
                log.info("digest to %s: %s", posted.channel, posted.skipped or "posted")
        except Exception:
            log.exception("digest failed")

    if services.settings.learnbot_digest_channel:
        # Every worker runs it; the stored digest record lets only one of them post each period.
        scheduler.add_job(digest, cron_trigger(services.settings.learnbot_digest_cron, services.settings.timezone),
                          id="digest", coalesce=True, max_instances=1, misfire_grace_time=3600)
    return scheduler
