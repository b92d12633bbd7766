"""Whether this process can reach its database, said once when an outage starts and once when it ends.

Every transaction (`Database.session`) reports here: a failure that means the database is out of
reach (refused connection, lost connection, a file that cannot be opened, a full pool) starts an
outage, logged as one ERROR line; the next transaction that commits ends it, logged as one line
with how long it lasted. In between, callers say nothing to the log about it (they ask
`is_outage(exc)`) and tell the person "learnbot can't read its records right now" instead.
Counted in learnbot_database_errors_total and learnbot_database_outages_total.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot import metrics

log = logging.getLogger(__name__)


def is_outage(exc: BaseException) -> bool:
    """True if `exc` means the database is out of reach, rather than a bug in a query."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _said(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class Outage:
    """One per Database: `failed` and `ok` are called on every transaction, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None  # time.monotonic() of the first failure; None while reachable
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        metrics.DATABASE_ERRORS.inc()
        with self._lock:
            starting = self._since is None
            if starting:
                self._since, self._failures = time.monotonic(), 0
            self._failures += 1
        if starting:
            metrics.DATABASE_OUTAGES.inc()
            log.error("database unreachable (%s); learnbot answers \"can't read its records right now\" and "
                      "retries, and says here when it is back", _said(exc), extra={"event": "database_down"})

    def ok(self) -> None:
        if self._since is None:  # the common case, without the lock
            return
        with self._lock:
            if self._since is None:
                return
            lasted, failures = time.monotonic() - self._since, self._failures
            self._since = None
        log.warning("database reachable again after %.0f s (%d failed transaction%s meanwhile)", lasted, failures,
                    "" if failures == 1 else "s", extra={"event": "database_up"})
