"""After the answer: the one place where work that talks to GitLab or Slack runs once Slack has its answer.

A listener stores what must not be lost (a request, a decision, a job row) and answers Slack from
local work only; calls to the Web API or GitLab that follow go through `AfterAnswer.submit`. The
pool is bounded and separate from whatever answers the next request, so a slow GitLab or Slack
can never delay an answer. When the queue is full, `submit` says so and runs nothing: work that is
also a stored job is then left to `learnbot worker`, so nothing is dropped and memory stays bounded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class AfterAnswer:
    def __init__(self, *, workers: int = 8, queue_max: int = 256, name: str = "after-answer"):
        self.workers = workers
        self.queue_max = queue_max
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(queue_max)

    def submit(self, kind: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Run fn(*args, **kwargs) soon, off the answering path; False (and nothing run) when full."""
        if not self._slots.acquire(blocking=False):
            log.warning("after-answer queue full (%d): %s left to the worker", self.queue_max, kind)
            return False

        def run() -> None:
            try:
                fn(*args, **kwargs)
            except Exception:  # the stored job (if any) stays due; the worker retries it
                log.exception("after-answer %s failed", kind)
            finally:
                self._slots.release()

        self._pool.submit(run)
        return True

    def shutdown(self, *, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
