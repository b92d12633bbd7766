"""Running Alembic from code: `learnbot migrate`, the schema window, waiting for the database, and the tests.

The schema window (docs/operate.md): a migration that the code before it can run on declares
`backward_compatible = True`; every migration run records in `schema_window` the revisions whose
code may run on the resulting schema, so an older release stays ready while a newer one rolls out.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alembic import command
from alembic.config import Config

from bot.resources import shipped

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection

log = logging.getLogger(__name__)
T = TypeVar("T")


class MigrationsMissing(RuntimeError):
    pass


class DatabaseUnavailable(RuntimeError):
    """DATABASE_URL cannot be used (bad URL, missing folder, server down): the message says what to fix.

    `transient`: the server did not answer (down, starting, unreachable), so trying again may help;
    a bad URL, a missing driver or folder, a refused login or a missing database will not."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def explain(database_url: str, exc: BaseException) -> DatabaseUnavailable:
    """One line naming DATABASE_URL, what is wrong with it and how to fix it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from bot.config import hide_password, mask_credentials

    if isinstance(exc, ArgumentError | NoSuchModuleError):
        # SQLAlchemy quotes the whole URL, password and all.
        said = mask_credentials(_first_line(exc).replace(database_url, hide_password(database_url)))
        return DatabaseUnavailable(
            f"DATABASE_URL is not a database URL learnbot can use ({said}): use e.g. "
            "sqlite:////var/lib/learnbot/learnbot.db or postgresql://USER:PASSWORD@HOST:5432/DBNAME")
    if isinstance(exc, ModuleNotFoundError):
        return DatabaseUnavailable(f"DATABASE_URL needs the database driver {exc.name!r}, which is not installed: "
                                   f"pip install {exc.name}")
    url = make_url(database_url)
    shown = url.render_as_string(hide_password=True)
    reason = _first_line(exc)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if url.database and url.database != ":memory:" and not path.parent.exists():
            return DatabaseUnavailable(
                f"DATABASE_URL points to {path}, but the folder {path.parent} does not exist: create it "
                f"(mkdir -p {path.parent}) or change DATABASE_URL")
        return DatabaseUnavailable(f"DATABASE_URL {shown}: cannot open the SQLite database ({reason}): check the "
                                   "path and that this user may write to it")
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    low = reason.lower()
    if "does not exist" in low and "database" in low:
        fix = f"create it (createdb {url.database}) or fix the database name in DATABASE_URL"
    elif "password" in low or "authentication" in low or "role" in low:
        fix = "fix the user and password in DATABASE_URL"
    else:
        return DatabaseUnavailable(f"DATABASE_URL {shown}: cannot reach the database at {where} ({reason}): start "
                                   "PostgreSQL there, or fix the host and port in DATABASE_URL", transient=True)
    return DatabaseUnavailable(f"DATABASE_URL {shown}: cannot reach the database at {where} ({reason}): {fix}")


def _engine(database_url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    options: dict[str, Any] = {}
    if make_url(database_url).get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": 10}  # a firewalled host fails in seconds, not minutes
    return create_engine(database_url, **options)


def alembic_config(database_url: str) -> Config:
    ini, scripts = shipped("alembic.ini"), shipped("migrations")
    if not ini.is_file() or not (scripts / "env.py").is_file():
        raise MigrationsMissing(
            f"the migrations are missing ({ini}, {scripts}/env.py): reinstall learnbot (pip install . or -e .)"
        )
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(scripts))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    from sqlalchemy.exc import DBAPIError, OperationalError

    cfg = alembic_config(database_url)
    try:
        database_revision(database_url)  # reachable at all? (one clear line rather than Alembic's traceback)
        command.upgrade(cfg, revision)
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise explain(database_url, exc) from None
        raise


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def current_head() -> str | None:
    return _scripts().get_current_head()


# --- the schema window ------------------------------------------------------------------------------

def compatible_window(script: ScriptDirectory, revision: str) -> list[str]:
    """`revision`, then each older revision for as long as the migration above it is backward compatible."""
    window = [revision]
    step = script.get_revision(revision)
    while step is not None and getattr(step.module, "backward_compatible", False) is True \
            and isinstance(step.down_revision, str):  # a merge point ends the window
        window.append(step.down_revision)
        step = script.get_revision(step.down_revision)
    return window


def record_window(connection: Connection, script: ScriptDirectory, current: str | None) -> None:
    """Rewrite `schema_window` for the schema at `current` (migrations/env.py, after every migration run)."""
    from sqlalchemy import delete, insert, inspect

    from bot.store.models import SchemaWindow

    if not inspect(connection).has_table(SchemaWindow.__tablename__):  # migrated below the table's own revision
        return
    connection.execute(delete(SchemaWindow))
    if current is not None:
        connection.execute(insert(SchemaWindow), [{"revision": r} for r in compatible_window(script, current)])


@dataclass(frozen=True)
class SchemaFit:
    """Can this code run on the database's schema? `reason` is one line for /readyz, check and start-up."""

    ok: bool
    current: str | None
    head: str | None
    reason: str


def schema_fit(connection: Connection) -> SchemaFit:
    """Equal to this code's head, or newer and listing this head in its window: ready. Older: migrate."""
    from alembic.runtime.migration import MigrationContext
    from alembic.util import CommandError
    from sqlalchemy import inspect, select

    from bot.store.models import SchemaWindow

    current = MigrationContext.configure(connection).get_current_revision()
    script = _scripts()
    head = script.get_current_head()
    if current == head:
        return SchemaFit(True, current, head, f"schema {head}, this learnbot's")
    if current is None:
        return SchemaFit(False, current, head, f"the database is at schema none (not migrated yet) but this learnbot "
                                               f"needs {head}: run `learnbot migrate`")
    try:
        known = script.get_revision(current) is not None
    except CommandError:  # a revision this code has no migration for: a newer release's
        known = False
    if known:
        return SchemaFit(False, current, head, f"the database is at schema {current} but this learnbot needs {head}: "
                                               "run `learnbot migrate`")
    window: set[str] = set()
    if inspect(connection).has_table(SchemaWindow.__tablename__):
        window = set(connection.scalars(select(SchemaWindow.revision)))
    if head in window:
        return SchemaFit(True, current, head, f"schema {current} is newer than this learnbot's ({head}) and "
                                              "compatible with it (schema window)")
    return SchemaFit(False, current, head, f"the database is at schema {current}, newer than this learnbot's ({head}) "
                                           "and not compatible with it: run the release that migrated it")


def _read(database_url: str, read: Callable[[Connection], T], not_created: Callable[[], T]) -> T:
    """`read` on a connection to DATABASE_URL; DatabaseUnavailable (one line) if it cannot be opened.

    A SQLite file that does not exist yet is not created by looking: `not_created()` answers instead."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    try:
        engine = _engine(database_url)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
        raise explain(database_url, exc) from None
    if engine.url.get_backend_name() == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        path = Path(str(engine.url.database))
        if not path.parent.exists():
            engine.dispose()
            raise explain(database_url, FileNotFoundError(str(path)))
        if not path.exists():
            engine.dispose()
            return not_created()
    try:
        with engine.connect() as conn:
            return read(conn)
    except OperationalError as exc:
        raise explain(database_url, exc) from None
    finally:
        engine.dispose()


def database_revision(database_url: str) -> str | None:
    """The schema revision the database is at (None: not migrated); DatabaseUnavailable if it cannot be read."""
    from alembic.runtime.migration import MigrationContext

    return _read(database_url, lambda conn: MigrationContext.configure(conn).get_current_revision(), lambda: None)


def database_fit(database_url: str) -> SchemaFit:
    """schema_fit of DATABASE_URL; DatabaseUnavailable if it cannot be read."""
    def not_created() -> SchemaFit:
        head = current_head()
        return SchemaFit(False, None, head, f"the database is at schema none (not migrated yet) but this learnbot "
                                            f"needs {head}: run `learnbot migrate`")

    return _read(database_url, schema_fit, not_created)


def ensure_current(database_url: str) -> None:
    """Refuse to start on a database whose schema this code cannot run on (older, or newer and incompatible)."""
    fit = database_fit(database_url)
    if not fit.ok:
        raise MigrationsMissing(f"DATABASE_URL {_shown(database_url)}: {fit.reason}")


def wait_for_database(database_url: str, *, meanwhile: str = "", sleep: Callable[[float], None] = time.sleep,
                      max_delay: float = 30.0) -> None:
    """Return once the database answers. While its server does not (down, starting, unreachable), say so
    in one log line and try again with backoff (1 s doubling to `max_delay`), for as long as it takes;
    a mistake that waiting cannot fix (bad URL, refused login, missing database) raises at once."""
    delay, said = 1.0, False
    while True:
        try:
            database_revision(database_url)
        except DatabaseUnavailable as exc:
            if not exc.transient:
                raise
            if not said:
                log.warning("%s. Waiting for it: trying again with backoff (up to every %.0f s) until it answers%s",
                            exc, max_delay, f"; {meanwhile}" if meanwhile else "", extra={"event": "database_wait"})
                said = True
            sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        if said:
            log.info("database answers: starting", extra={"event": "database_back"})
        return


def _shown(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)


def not_current(database_url: str, current: str | None, head: str | None) -> str:
    return (f"DATABASE_URL {_shown(database_url)}: the database is at schema {current or 'none (not migrated yet)'} "
            f"but this learnbot needs {head}: run `learnbot migrate`")
