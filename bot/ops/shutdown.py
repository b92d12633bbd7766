"""Graceful stop (SIGTERM): finish the item in hand, hand the rest of a claimed batch back at once.

SIGTERM sets STOP, the process's stop signal. The container hands it to the services that run owed
work (bot/services/runner.py): a pass finishes the item in hand, releases the leases of the items not
started in one UPDATE (another worker takes them on its next pass instead of waiting for the lease to
run out), and starts nothing more.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


STOP = threading.Event()  # process-wide: set by SIGTERM (or a test), read between items


def install(on_stop: Callable[[], None] | None = None) -> None:
    """SIGTERM (a deploy, `docker stop`, Kubernetes) asks for a graceful stop; a second one is Ctrl-C."""

    def handler(signum: int, _frame: Any) -> None:
        if STOP.is_set():
            raise KeyboardInterrupt
        log.info("SIGTERM: finishing the work in hand, then stopping", extra={"event": "stopping"})
        STOP.set()
        if on_stop is not None:
            on_stop()

    signal.signal(signal.SIGTERM, handler)
