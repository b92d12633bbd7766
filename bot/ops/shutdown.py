"""Graceful stop (SIGTERM): finish the item in hand, hand the rest of a claimed batch back at once.

A pass claims work in batches (a lease of minutes on each row). On SIGTERM the loops over a batch
stop after the item in hand (`until_stopped`), and the leases of the items not started are
released in one UPDATE, so another worker takes them on its next pass instead of waiting for the
lease to run out.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import update

from bot.store.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP = threading.Event()  # process-wide: set by SIGTERM (or a test), read between items


def stopping() -> bool:
    return STOP.is_set()


def release_leases(db: Database, model: Any, ids: Sequence[int]) -> int:
    """Give claimed rows back: no lease, and the attempt that never ran not counted."""
    if not ids:
        return 0
    values: dict[str, Any] = {"claimed_until": None}
    if hasattr(model, "attempts"):
        values["attempts"] = model.attempts - 1
    with db.session() as s:
        result = s.execute(update(model).where(model.id.in_(list(ids)), model.claimed_until.is_not(None))
                           .values(**values).execution_options(synchronize_session=False))
    released = int(getattr(result, "rowcount", 0) or 0)
    log.info("stopping: released %s claimed %s for another worker", released, model.__tablename__,
             extra={"event": "leases_released"})
    return released


def until_stopped(items: Sequence[T], *, db: Database | None = None, model: Any = None,
                  id_of: Callable[[T], int] | None = None) -> Iterator[T]:
    """Yield items until a stop is asked for; then release the leases of those not yet yielded."""
    for position, item in enumerate(items):
        if STOP.is_set():
            rest = items[position:]
            if db is not None and model is not None:
                release_leases(db, model, [id_of(i) if id_of else int(i) for i in rest])  # type: ignore[call-overload]
            return
        yield item


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
