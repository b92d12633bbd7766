"""Sending the notice outbox: each message owed to someone is delivered exactly once.

A notice is a row first (see store/notices.py), written with the change it reports. Sending it
claims the row; a 5xx, a timeout or a lost answer leaves it due again with backoff, and the next
try first looks for the message by its metadata (Slack may have posted it before the answer was
lost), so a person is told once. Slack refusing it for good (user gone, channel archived, blocks
invalid) marks it failed with the reason, and the pass goes on with the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.gateways.slack import SlackGateway, SlackRefused, SlackSetupWrong, SlackUnavailable
from bot.services.runner import Claim, Done, GiveUp, Kind, Outcome, Result, Retry, Status, Wait, run_now
from bot.store.db import Database
from bot.store.models import Notice
from bot.store.queues import NOTICES

log = logging.getLogger(__name__)
EVENT_TYPE = "learnbot_notice"  # message metadata: {"notice_id": id}
MAX_ATTEMPTS = 20  # with backoff capped at an hour: about half a day of trying

# A notice's result: its status (done, retry, waiting, failed, skipped) and what happened ("sent", "found").
NoticeResult = Result


@dataclass(frozen=True)
class _Claimed:
    recipient: str
    thread_ts: str | None
    text: str
    blocks: list[Any] | None


def _snapshot(n: Notice) -> _Claimed:
    return _Claimed(n.recipient, n.thread_ts, n.text, n.blocks)


def slack_outcome(exc: SlackUnavailable | SlackSetupWrong, *, now: datetime) -> Outcome:
    """How owed work classifies Slack not doing it this time: a 429 waits as Slack says (it is no
    failure), learnbot's own setup waits for the fix with backoff, the rest is retried with backoff."""
    if isinstance(exc, SlackSetupWrong):
        return Retry(exc.problem)
    if exc.rate_limited:
        return Wait(now + timedelta(seconds=exc.retry_after or 1), f"Slack asked to wait ({exc.method}, 429)")
    return Retry(str(exc), after=exc.retry_after)


class NoticeService:
    def __init__(self, *, db: Database, slack: SlackGateway):
        self.db = db
        self.slack = slack
        self.handler = Kind("notice", NOTICES, self._deliver, take=_snapshot, fan_out=True, max_attempts=MAX_ATTEMPTS,
                            part="notices", hold_off=self.slack.posting_delay)

    def send(self, notice_id: int, *, now: datetime) -> NoticeResult:
        """Send one notice now if it is due and nobody holds it (the worker sends it otherwise)."""
        done = run_now(self.db, self.handler, notice_id, now=now)
        return done or Result("notice", notice_id, None, Status.SKIPPED, "skipped")

    def _deliver(self, claim: Claim, now: datetime) -> Outcome:
        c: _Claimed = claim.data
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"notice_id": claim.id}}
        try:
            found = (self.slack.find_with_metadata(c.recipient, EVENT_TYPE, {"notice_id": claim.id},
                                                   thread_ts=c.thread_ts)
                     if claim.attempt > 1 else None)
            posted = found or self.slack.post(c.recipient, c.text, c.blocks, metadata=metadata, thread_ts=c.thread_ts)
        except SlackRefused as exc:
            log.error("notice %s to %s could not be delivered: %s", claim.id, c.recipient, exc.code)
            return GiveUp(exc.code)
        except (SlackUnavailable, SlackSetupWrong) as exc:
            return slack_outcome(exc, now=now)

        def record(_s: Any, n: Notice) -> None:
            n.slack_channel, n.slack_ts = posted.channel, posted.ts
            log.info("notice %s sent to %s", n.key, n.recipient, extra={
                "event": "notice_sent", "notice_id": n.id, "request_id": n.request_id, "slack_user": n.recipient})

        return Done("found" if found else "sent", record=record)
