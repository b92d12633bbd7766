"""Engine and session scope. Sessions are opened by the service that needs them, never carried around."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Insert, Table, create_engine, event, insert, text
from sqlalchemy.orm import Session, sessionmaker

from bot.store.outage import Outage, is_outage


class Database:
    def __init__(self, url: str, **engine_options: Any):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            engine_options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        else:
            engine_options.setdefault("pool_pre_ping", True)
        self.engine: Engine = create_engine(url, **engine_options)
        # SQLite: this process's transactions take turns here rather than in SQLite's busy handler,
        # which sleeps (up to 100 ms a time) instead of waking when the lock is free.
        self._gate: _Gate | None = _Gate() if self.is_sqlite else None
        if self.is_sqlite:
            _sqlite_single_writer(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.outage = Outage()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error. Each one tells `self.outage`
        whether the database could be reached (bot/store/outage.py: logged once per outage)."""
        try:
            if self._gate is not None:
                with self._gate.held(), self._sessions() as session, session.begin():
                    yield session
            else:
                with self._sessions() as session, session.begin():
                    yield session
        except Exception as exc:
            if is_outage(exc):
                self.outage.failed(exc)
            raise
        self.outage.ok()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def insert_rows(model: Any) -> Insert:
    """A Core INSERT into a model's table, for rows given as plain dicts.

    The ORM's bulk path builds and tracks per-row state that an answer never reads: on a submission
    (request, milestones, reminders, notices, its job) it was a third of the time. Column defaults
    (Python-side and server-side) apply as they do through the ORM.
    """
    table: Table = model.__table__
    return insert(table)


def _sqlite_single_writer(engine: Engine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE: SQLite's way to let one writer claim work at a time."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (pysqlite's own handling would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives the
            # process being killed (what "stored before Slack gets its answer" needs), and only a
            # power loss or OS crash can lose the last commits. FULL costs an fsync (~3 ms) per
            # transaction, and answers store before they are sent. Where that matters: PostgreSQL.
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_background = threading.local()


def background_thread() -> None:
    """Mark the calling thread as background work: its SQLite transactions wait while answers wait."""
    _background.on = True


class _Gate:
    """One transaction at a time in this process; threads answering Slack go before background ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._answers_waiting = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        me = threading.get_ident()
        answer = not getattr(_background, "on", False)
        with self._cond:
            if self._owner == me:
                self._depth += 1
            else:
                self._answers_waiting += answer
                try:
                    while self._owner is not None or (not answer and self._answers_waiting):
                        self._cond.wait()
                finally:
                    self._answers_waiting -= answer
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._cond.notify_all()
