"""The one runner of owed work: claims, leases, runs, retries and counts every kind of stored job.

A kind of work is a `Handler`: which queue its rows are in (bot.store.queues), what to do with one
claimed row, and how the outcome is classified (`Done`, `Retry`, `Wait`, `GiveUp`). It writes no loop:
the runner claims due rows in batches, runs each in isolation (one item's surprise is a `Retry`, never
the end of the pass), settles it with one backoff policy, never sooner than a server's Retry-After,
gives the unstarted rows back when asked to stop, and stops claiming when the pass's time budget is
spent. Kinds that only talk to Slack (`fan_out`) run through a bounded pool of threads; Slack's pace
is kept by the rate limiter inside the Slack client, not here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bot import metrics
from bot.store.db import Database
from bot.store.queues import Queue

log = logging.getLogger(__name__)

BATCH = 100
POOL = 12  # threads for fan-out kinds: Slack answers in ~150 ms, its tiers allow far more than 1 at a time
BUDGET = timedelta(seconds=50)  # a pass per minute: the next one starts on time, the rest waits for it
HOLD_OFF = 10.0  # seconds a kind's hold_off may ask for before its pass claims no more of it


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """The one retry policy: 1 minute doubling to an hour, never sooner than a server's Retry-After."""
    delay = float(min(60 * 2 ** max(attempt - 1, 0), 3600))
    if retry_after:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


Record = Callable[[Session, Any], None]


@dataclass(frozen=True)
class Done:
    """Finished. `record` writes what it produced in the transaction that marks the row done."""

    said: str = "done"
    detail: str = ""
    record: Record | None = None
    # After the commit: work that may run now (a DM it owes); True if it told someone (Result.notified).
    then: Callable[[], object] | None = None


@dataclass(frozen=True)
class Retry:
    """Failed this time; try again with backoff (never before `after` seconds), counted as an attempt."""

    error: str
    after: float | None = None
    said: str = "retry"
    record: Record | None = None
    then: Callable[[], object] | None = None


@dataclass(frozen=True)
class Wait:
    """Not failed: not ready yet, or asked to wait (a 429). Due again at `until`; the attempt is not counted."""

    until: datetime
    reason: str = ""
    said: str = "waiting"
    record: Record | None = None


@dataclass(frozen=True)
class GiveUp:
    """Failed for good: nothing more will be tried. `record` says so where people look."""

    error: str
    said: str = "failed"
    record: Record | None = None
    then: Callable[[], object] | None = None


Outcome = Done | Retry | Wait | GiveUp


class Status(StrEnum):
    DONE = "done"
    RETRY = "retry"
    WAITING = "waiting"
    FAILED = "failed"
    SKIPPED = "skipped"  # gone, or woken meanwhile: it runs again


@dataclass(frozen=True)
class Claim:
    """One claimed row as a handler sees it: a snapshot taken in the claim's transaction."""

    kind: str
    id: int
    attempt: int
    request_id: int | None
    data: Any = None


@dataclass(frozen=True)
class Result:
    kind: str
    item_id: int
    request_id: int | None
    status: Status
    said: str  # the kind's own word for it ("filed", "sent", "found", "deferred", …)
    detail: str = ""
    notified: bool = False


class Handler(Protocol):
    kind: str
    queue: Queue
    # Runs through the pool when a pass has several due at once (only Slack calls, no long work).
    fan_out: bool
    # Retries before giving up (None: keep trying, an hour apart).
    max_attempts: int | None

    def prepare(self, session: Session, rows: list[Any]) -> None: ...

    def snapshot(self, row: Any) -> Any: ...

    def run(self, claim: Claim, *, now: datetime) -> Outcome: ...


class Runner:
    def __init__(self, *, db: Database, handlers: Sequence[Handler], stop: threading.Event,
                 pool: int = POOL, batch: int = BATCH, budget: timedelta = BUDGET,
                 monotonic: Callable[[], float] = time.monotonic):
        self.db = db
        self.handlers = {h.kind: h for h in handlers}
        self.stop = stop
        self.pool_size = pool
        self.batch = batch
        self.budget = budget
        self.monotonic = monotonic
        self._pool: ThreadPoolExecutor | None = None

    # --- a pass --------------------------------------------------------------------------------

    def run_pass(self, *, now: datetime, kinds: Iterable[str] | None = None,
                 on_error: Callable[[str, Exception], None] | None = None) -> list[Result]:
        """Everything due by `now` of these kinds (all, by default), in the order given, until none is
        left, the budget is spent or a stop is asked for. Claimed batch by batch, kind after kind.

        A kind whose claim fails as a whole (the database went away) is passed to `on_error` with its
        name, and the kinds after it still run."""
        chosen = [self.handlers[k] for k in (kinds if kinds is not None else self.handlers)]
        deadline = self.monotonic() + self.budget.total_seconds()
        results: list[Result] = []
        for group in self._groups(chosen):
            try:
                while not self.stop.is_set() and self.monotonic() < deadline and not self._held_off(group[0]):
                    ran = self._batch(group, now=now)
                    results.extend(ran)
                    if len(ran) < self.batch:
                        break
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(getattr(group[0], "part", "") or ", ".join(h.kind for h in group), exc)
        return results

    @staticmethod
    def _held_off(handler: Handler) -> bool:
        """The outside world asks this kind to wait (Slack's pace is spent for a while): claim nothing more of
        it this pass, rather than claim a batch only to put every item back."""
        hold_off = getattr(handler, "hold_off", None)
        return hold_off is not None and hold_off() > HOLD_OFF

    @staticmethod
    def _groups(handlers: Sequence[Handler]) -> list[list[Handler]]:
        """Consecutive handlers on the same queue and with the same pool setting are claimed together."""
        groups: list[list[Handler]] = []
        for h in handlers:
            if groups and groups[-1][0].queue is h.queue and groups[-1][0].fan_out == h.fan_out:
                groups[-1].append(h)
            else:
                groups.append([h])
        return groups

    def _batch(self, group: list[Handler], *, now: datetime) -> list[Result]:
        queue = group[0].queue
        by_kind = {h.kind: h for h in group}
        with self.db.session() as s:
            rows = queue.claim(s, now=now, limit=self.batch, kinds=list(by_kind))
            for handler in group:  # what the snapshots read, loaded for the whole batch at once
                mine = [r for r in rows if (queue.kind_of(r) or group[0].kind) == handler.kind]
                if mine:
                    handler.prepare(s, mine)
            claims = [Claim(queue.kind_of(r) or group[0].kind, r.id, r.attempts, getattr(r, "request_id", None),
                            by_kind[queue.kind_of(r) or group[0].kind].snapshot(r)) for r in rows]
        if len(claims) > 1 and group[0].fan_out and self.pool_size > 1:
            done = list(self._executor().map(lambda c: self._one(by_kind[c.kind], c, now), claims))
        else:
            done = [self._one(by_kind[c.kind], c, now) for c in claims]
        unstarted = [c.id for c, r in zip(claims, done, strict=True) if r is None]
        if unstarted:  # a stop: the rest goes back at once for another worker, not after the lease
            with self.db.session() as s:
                released = queue.release(s, unstarted)
            log.info("stopping: released %s claimed %s for another worker", released, queue.name,
                     extra={"event": "leases_released"})
        return [r for r in done if r is not None]

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.pool_size, thread_name_prefix="owed-work")
        return self._pool

    # --- one item --------------------------------------------------------------------------------

    def run_one(self, kind: str, item_id: int, *, now: datetime) -> Result | None:
        """This item now, if it is due and nobody holds it (after an answer); None if it was not claimable."""
        handler = self.handlers[kind]
        with self.db.session() as s:
            row = handler.queue.claim_one(s, item_id, now=now)
            if row is not None:
                handler.prepare(s, [row])
            claim = (Claim(kind, row.id, row.attempts, getattr(row, "request_id", None), handler.snapshot(row))
                     if row is not None else None)
        if claim is None:
            return None
        return self._one(handler, claim, now, always=True)

    def _one(self, handler: Handler, claim: Claim, now: datetime, *, always: bool = False) -> Result | None:
        if self.stop.is_set() and not always:
            return None
        started = time.perf_counter()
        try:
            outcome = handler.run(claim, now=now)
        except Exception as exc:  # a bulkhead: this item is tried again later, the others go on
            log.exception("%s %s: unexpected failure", handler.kind, claim.id)
            error = f"{type(exc).__name__}: {exc}"
            surprise = getattr(handler, "surprise", None)
            outcome = (surprise(claim, error, now) if surprise is not None
                       else Retry(error, said=getattr(handler, "retry_said", "retry")))
        try:
            result = self._settle(handler, claim, outcome, now)
        except Exception as exc:  # the database went away mid-pass: the lease runs out, the row is claimed again
            log.exception("%s %s: could not be settled", handler.kind, claim.id)
            result = Result(handler.kind, claim.id, claim.request_id, Status.RETRY, "retry",
                            f"not settled: {type(exc).__name__}: {exc}")
        metrics.OWED_WORK.labels(handler.kind, result.status.value).inc()
        metrics.OWED_WORK_SECONDS.labels(handler.kind).observe(time.perf_counter() - started)
        then = getattr(outcome, "then", None)
        if then is not None and result.status is not Status.SKIPPED:
            try:
                if then() is True:
                    result = replace(result, notified=True)
            except Exception:
                log.exception("%s %s: follow-up after settling failed", handler.kind, claim.id)
        return result

    def _settle(self, handler: Handler, claim: Claim, outcome: Outcome, now: datetime) -> Result:
        queue = handler.queue
        if isinstance(outcome, Retry) and handler.max_attempts is not None and claim.attempt >= handler.max_attempts:
            outcome = GiveUp(f"gave up after {claim.attempt} tries: {outcome.error}", record=outcome.record,
                             then=outcome.then)
        with self.db.session() as s:
            row = queue.hold(s, claim.id)
            if row is None:  # purged or deleted since the claim
                return Result(handler.kind, claim.id, claim.request_id, Status.SKIPPED, "gone")
            woken = row.attempts != claim.attempt  # made due again meanwhile (enqueue_or_wake): it runs again
            result = self._apply(queue, row, claim, outcome, now, woken=woken)
            if outcome.record is not None:
                outcome.record(s, row)
        if result.status is Status.RETRY:
            log.warning("%s %s: %s; next try %s", handler.kind, claim.id, result.detail.split("; next try")[0],
                        result.detail.rsplit("next try ", 1)[-1])
        return result

    @staticmethod
    def _apply(queue: Queue, row: Any, claim: Claim, outcome: Outcome, now: datetime, *, woken: bool) -> Result:
        def result(status: Status, detail: str = "", **kw: Any) -> Result:
            return Result(claim.kind, claim.id, claim.request_id, status, outcome.said, detail, **kw)

        if isinstance(outcome, Done) and not woken:
            queue.mark_done(row, now)
            return result(Status.DONE, outcome.detail)
        if isinstance(outcome, GiveUp):
            queue.mark_failed(row, now, outcome.error)
            return result(Status.FAILED, outcome.error)
        if woken:
            row.claimed_until = None
            return result(Status.SKIPPED, "woken meanwhile: runs again")
        if isinstance(outcome, Wait):
            # Never due again within this pass: a pass claims until nothing due is left.
            queue.put_off(row, max(outcome.until, now + timedelta(seconds=1)))
            row.attempts = max(claim.attempt - 1, 0)  # waiting is not failing
            row.last_error = outcome.reason[:2000] or None
            return result(Status.WAITING, f"{outcome.reason}; next try {outcome.until.isoformat()}".lstrip("; "))
        assert isinstance(outcome, Retry)  # a Done of a job woken meanwhile returned above
        when = now + backoff(claim.attempt, outcome.after)
        queue.put_off(row, when)
        row.last_error = outcome.error[:2000]
        return result(Status.RETRY, f"{outcome.error}; next try {when.isoformat()}")


@dataclass
class Kind:
    """A handler made of parts: what most kinds need (see Handler)."""

    kind: str
    queue: Queue
    work: Callable[[Claim, datetime], Outcome]
    take: Callable[[Any], Any] = field(default=lambda row: None)
    # Loads what `take` reads for a whole claimed batch (a few SELECTs instead of a few per row).
    load: Callable[[Session, list[Any]], None] | None = None
    fan_out: bool = False
    max_attempts: int | None = None
    # What a pass calls this part of its work when it fails as a whole ("filing", "reminders").
    part: str = ""
    # Seconds until the outside world lets this kind go on (e.g. Slack's pace for chat.postMessage).
    hold_off: Callable[[], float] | None = None
    # How a failure nobody foresaw is classified (default: a Retry with backoff, said so).
    retry_said: str = "retry"
    surprise: Callable[[Claim, str, datetime], Outcome] | None = None

    def prepare(self, session: Session, rows: list[Any]) -> None:
        if self.load is not None:
            self.load(session, rows)

    def snapshot(self, row: Any) -> Any:
        return self.take(row)

    def run(self, claim: Claim, *, now: datetime) -> Outcome:
        return self.work(claim, now)



def run_now(db: Database, handler: Handler, item_id: int, *, now: datetime) -> Result | None:
    """Run one item of `handler`'s kind straight away (after an answer), settled as the worker would."""
    return Runner(db=db, handlers=[handler], stop=threading.Event()).run_one(handler.kind, item_id, now=now)
