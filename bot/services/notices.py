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
from enum import StrEnum
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError

from bot import metrics
from bot.gateways.slack import SlackGateway, setup_problem
from bot.ops.shutdown import until_stopped
from bot.store import notices as outbox
from bot.store.db import Database
from bot.store.models import Notice

log = logging.getLogger(__name__)
EVENT_TYPE = "learnbot_notice"  # message metadata: {"notice_id": id}
MAX_ATTEMPTS = 20  # with backoff capped at an hour: about half a day of trying
# Slack's answers that no retry can change.
PERMANENT = frozenset({
    "channel_not_found", "user_not_found", "not_in_channel", "is_archived", "invalid_blocks",
    "invalid_blocks_format", "msg_too_long", "no_text", "cannot_dm_bot", "user_disabled", "account_inactive",
    "restricted_action", "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large",
    "invalid_arguments", "thread_not_found", "too_many_attachments", "messages_tab_disabled",
})


class NoticeOutcome(StrEnum):
    SENT = "sent"
    FOUND = "found"  # an earlier try had posted it; recorded, not sent again
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"  # not due, already sent, or another worker holds it


@dataclass(frozen=True)
class NoticeResult:
    notice_id: int
    outcome: NoticeOutcome
    detail: str = ""


@dataclass(frozen=True)
class _Claimed:
    id: int
    attempt: int
    recipient: str
    thread_ts: str | None
    text: str
    blocks: list[Any] | None


def _snapshot(n: Notice) -> _Claimed:
    return _Claimed(n.id, n.attempts, n.recipient, n.thread_ts, n.text, n.blocks)


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """1 minute doubling to an hour, never sooner than Slack's Retry-After."""
    delay = float(min(60 * 2 ** max(attempt - 1, 0), 3600))
    if retry_after:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


class NoticeService:
    def __init__(self, *, db: Database, slack: SlackGateway):
        self.db = db
        self.slack = slack

    def send(self, notice_id: int, *, now: datetime) -> NoticeResult:
        """Send one notice now if it is due and nobody holds it (the worker sends it otherwise)."""
        with self.db.session() as s:
            n = outbox.claim(s, notice_id, now=now)
            claimed = _snapshot(n) if n is not None else None
        if claimed is None:
            return NoticeResult(notice_id, NoticeOutcome.SKIPPED)
        return self._deliver(claimed, now=now)

    def run_due(self, *, now: datetime, limit: int = 100) -> list[NoticeResult]:
        with self.db.session() as s:
            claimed = [_snapshot(n) for n in outbox.claim_due(s, now=now, limit=limit)]
        results = []
        for c in until_stopped(claimed, db=self.db, model=Notice, id_of=lambda c: c.id):
            try:
                results.append(self._deliver(c, now=now))
            except Exception as exc:  # one broken notice must not stop the others
                log.exception("notice %s: unexpected failure", c.id)
                results.append(self._retry(c, now=now, error=f"{type(exc).__name__}: {exc}"))
        return results

    def _deliver(self, c: _Claimed, *, now: datetime) -> NoticeResult:
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"notice_id": c.id}}
        try:
            found = (self.slack.find_with_metadata(c.recipient, EVENT_TYPE, {"notice_id": c.id}, thread_ts=c.thread_ts)
                     if c.attempt > 1 else None)
            posted = found or self.slack.post(c.recipient, c.text, c.blocks, metadata=metadata, thread_ts=c.thread_ts)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "")
            if code in PERMANENT:
                return self._fail(c, now=now, error=code)
            status = exc.response.status_code
            error = setup_problem(exc) or (f"HTTP {status}: {code}" if status >= 500 or not code else code)
            retry_after = exc.response.headers.get("Retry-After") if exc.response.headers else None
            return self._retry(c, now=now, error=error, retry_after=float(retry_after) if retry_after else None)
        except (SlackRequestError, OSError) as exc:  # timeouts, refused or dropped connections
            return self._retry(c, now=now, error=f"Slack unreachable: {exc}")
        with self.db.session() as s:
            n = s.get(Notice, c.id)
            assert n is not None
            n.sent_at, n.claimed_until, n.last_error = now, None, None
            n.slack_channel, n.slack_ts = posted.channel, posted.ts
            log.info("notice %s sent to %s", n.key, n.recipient, extra={
                "event": "notice_sent", "notice_id": n.id, "request_id": n.request_id, "slack_user": n.recipient})
        outcome = NoticeOutcome.FOUND if found else NoticeOutcome.SENT
        metrics.NOTICES.labels(outcome.value).inc()
        return NoticeResult(c.id, outcome)

    def _retry(self, c: _Claimed, *, now: datetime, error: str, retry_after: float | None = None) -> NoticeResult:
        if c.attempt >= MAX_ATTEMPTS:
            return self._fail(c, now=now, error=f"gave up after {c.attempt} tries: {error}")
        with self.db.session() as s:
            n = s.get(Notice, c.id)
            assert n is not None
            n.due_at = now + backoff(c.attempt, retry_after)
            n.claimed_until = None
            n.last_error = error[:2000]
            when = n.due_at
        log.warning("notice %s to %s: %s; next try %s", c.id, c.recipient, error, when.isoformat())
        metrics.NOTICES.labels(NoticeOutcome.RETRY.value).inc()
        return NoticeResult(c.id, NoticeOutcome.RETRY, f"{error}; next try {when.isoformat()}")

    def _fail(self, c: _Claimed, *, now: datetime, error: str) -> NoticeResult:
        with self.db.session() as s:
            n = s.get(Notice, c.id)
            assert n is not None
            n.failed_at, n.claimed_until, n.last_error = now, None, error[:2000]
        log.error("notice %s to %s could not be delivered: %s", c.id, c.recipient, error)
        metrics.NOTICES.labels(NoticeOutcome.FAILED.value).inc()
        return NoticeResult(c.id, NoticeOutcome.FAILED, error)
