"""After the answer: the one place where work that talks to GitLab or Slack runs once Slack has its answer.

A listener stores what must not be lost (a request, a decision, a job row) and answers Slack from
local work only; calls to the Web API or GitLab that follow go through `AfterAnswer.submit`. The
work runs in bounded lanes of threads that nothing on the answering path ever waits for, so a slow
GitLab or Slack can never delay an answer.

Two lanes, each with its own threads, its own bounded queue and its own metrics:

- `ui`: Slack calls a person is looking at the screen for (opening a modal with a trigger id that
  lives 3 seconds, redrawing a form, replacing a clicked message, an ephemeral note, the Home tab).
  Kinds starting with ``ui.`` run here.
- `background`: everything else (filing the GitLab issue, acting on a GitLab event, DMs). It may
  wait on a GitLab that takes seconds per call without ever holding up the `ui` lane.

Back-pressure is explicit: when a lane's queue is full, `submit` returns False and runs nothing.
Work that is also a stored job (filing, notices, GitLab events) is then done by `learnbot worker`'s
next pass, so nothing is dropped and memory stays bounded; a listener whose work is not stored
(opening a modal) tells the person instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from bot.store.db import background_thread

log = logging.getLogger(__name__)

UI = "ui"
BACKGROUND = "background"

QUEUE_DEPTH = Gauge("learnbot_after_answer_queue_depth", "Work waiting for a thread, by lane", ["lane"])
RUNNING = Gauge("learnbot_after_answer_running", "Work running now, by lane", ["lane"])
SUBMITTED = Counter("learnbot_after_answer_submitted_total", "Work accepted after an answer", ["lane", "kind"])
REJECTED = Counter("learnbot_after_answer_rejected_total",
                   "Work refused because the lane's queue was full (left to the worker)", ["lane", "kind"])
FAILED = Counter("learnbot_after_answer_failed_total", "Work that raised", ["lane", "kind"])
WAITED = Histogram("learnbot_after_answer_wait_seconds", "Time from submit to start, by lane", ["lane"],
                   buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
RAN = Histogram("learnbot_after_answer_run_seconds", "Time a piece of work ran, by lane and kind", ["lane", "kind"],
                buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))


def lane_of(kind: str) -> str:
    return UI if kind.startswith("ui.") else BACKGROUND


@dataclass(frozen=True)
class _Item:
    kind: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    queued_at: float


# Answers worked out at once in one process; the others wait their turn, first come first served.
# An answer is CPU work with a few short database round trips, and Python runs one thread at a time:
# eight answers at once each get an eighth of the interpreter, handing it over at every statement, so
# the last of a burst of 16 came after several times the burst's own work (bench.ack: p95 181 ms at
# 16 concurrent with 8 at once, 81 ms with 2). Two let one answer's round trip overlap another's work.
ANSWERS_AT_ONCE = 2


class Answers:
    """The answers to Slack being worked out in this process: at most `at_once`, in arrival order."""

    def __init__(self, at_once: int = ANSWERS_AT_ONCE) -> None:
        if at_once < 1:
            raise ValueError("at_once must be at least 1")
        self._cond = threading.Condition()
        self._at_once = at_once
        self._in_flight = 0  # arrived and not finished: waiting for a turn or being worked out
        self._working = 0
        self._next_ticket = 0  # turns are tickets: the lowest waiting ticket goes next
        self._serving = 0

    def __enter__(self) -> None:
        with self._cond:
            self._in_flight += 1
            ticket = self._next_ticket
            self._next_ticket += 1
            # Untimed: a timed Condition wait never returns under libfaketime (CI's moved clock); an
            # answer's turn always comes, since every turn ends in __exit__.
            while ticket != self._serving or self._working >= self._at_once:
                self._cond.wait()
            self._serving += 1
            self._working += 1
            self._cond.notify_all()  # the next ticket may start too, if a place is free

    def __exit__(self, *_exc: object) -> None:
        with self._cond:
            self._working -= 1
            self._in_flight -= 1
            self._cond.notify_all()

    def wait_quiet(self, timeout: float) -> None:
        """Until no answer is being worked out (or `timeout` seconds): background work goes in the gaps.

        Polled with short sleeps rather than a timed Condition wait: a timed wait that runs out never
        returns under libfaketime (CI's moved clock), and this must never hold work for ever.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if self._in_flight == 0:
                    return
            if time.monotonic() >= deadline:
                return
            time.sleep(0.002)


class Lane:
    """A fixed number of threads (started as work arrives) taking work from a bounded queue."""

    def __init__(self, name: str, *, workers: int, queue_max: int, yield_to: Answers | None = None,
                 max_yield: float = 1.0):
        if workers < 1 or queue_max < 1:
            raise ValueError(f"lane {name}: workers and queue_max must be at least 1")
        self.name = name
        self.workers = workers
        self.queue_max = queue_max
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_max)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False
        self._yield_to = yield_to
        self._max_yield = max_yield

    def submit(self, item: _Item) -> bool:
        with self._lock:
            if self._closed:
                return False
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                return False
            QUEUE_DEPTH.labels(self.name).inc()
            if self._idle == 0 and len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"after-answer-{self.name}-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1  # a waiting thread takes it: not idle any more (counted back when it waits again)
        return True

    def depth(self) -> int:
        return self._queue.qsize()

    def _work(self) -> None:
        background_thread()  # SQLite: answers' transactions go first
        while True:
            item = self._queue.get()
            if item is None:
                return
            QUEUE_DEPTH.labels(self.name).dec()
            if self._yield_to is not None:
                self._yield_to.wait_quiet(self._max_yield)  # start between answers, not during them
            started = time.perf_counter()
            WAITED.labels(self.name).observe(started - item.queued_at)
            RUNNING.labels(self.name).inc()
            try:
                item.fn(*item.args, **item.kwargs)
            except Exception:  # a stored job (if any) stays due: the worker retries it
                FAILED.labels(self.name, item.kind).inc()
                log.exception("after-answer %s failed", item.kind)
            finally:
                RUNNING.labels(self.name).dec()
                RAN.labels(self.name, item.kind).observe(time.perf_counter() - started)
            with self._lock:
                self._idle += 1

    def close(self, *, wait: bool, timeout: float | None) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if not wait:
            # What is still queued is dropped here; whatever of it is a stored job the worker finishes.
            while True:
                try:
                    if self._queue.get_nowait() is not None:
                        QUEUE_DEPTH.labels(self.name).dec()
                except queue.Empty:
                    break
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        try:
            for _ in threads:
                # Queued after the work: a thread stops once everything before it is done.
                if wait:
                    self._queue.put(None, timeout=left())
                else:
                    self._queue.put_nowait(None)
        except queue.Full:
            pass  # out of time (or more threads than queue places): the daemon threads end with the process
        if wait:
            for thread in threads:
                thread.join(left())


class AfterAnswer:
    def __init__(self, *, ui_workers: int = 64, ui_queue: int = 128, workers: int = 16, queue_max: int = 256):
        # ui: threads wait on Slack, they do not compute: enough that a burst of 64 modals opens at
        # once even when views.open takes 2 s (the trigger id lives 3 s: a second wave would be
        # late). background: GitLab work, 16 at a time; the worker takes what does not fit.
        self.answers = Answers()
        # Python runs one thread at a time, so after-work that starts while answers are being worked out
        # slows them down. ui work waits for a gap at most a moment (well inside a trigger's 3 s),
        # background work up to a second.
        self.lanes = {UI: Lane(UI, workers=ui_workers, queue_max=ui_queue, yield_to=self.answers, max_yield=0.2),
                      BACKGROUND: Lane(BACKGROUND, workers=workers, queue_max=queue_max, yield_to=self.answers)}

    def answering(self) -> Answers:
        """`with after_answer.answering():` around working out an answer; background work waits for it."""
        return self.answers

    def submit(self, kind: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Run fn(*args, **kwargs) soon, off the answering path; False (and nothing run) when its lane is full.

        Never blocks. `kind` names the work in metrics and logs; a kind starting with ``ui.`` runs
        in the `ui` lane, any other in the `background` lane.
        """
        lane = self.lanes[lane_of(kind)]
        if lane.submit(_Item(kind, fn, args, kwargs, time.perf_counter())):
            SUBMITTED.labels(lane.name, kind).inc()
            return True
        REJECTED.labels(lane.name, kind).inc()
        log.warning("after-answer %s lane full (%d queued): %s not run here", lane.name, lane.queue_max, kind)
        return False

    def depth(self, lane: str = BACKGROUND) -> int:
        return self.lanes[lane].depth()

    def shutdown(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Stop taking work; with wait, finish what is queued and running (up to `timeout` seconds)."""
        for lane in self.lanes.values():
            lane.close(wait=wait, timeout=timeout)
