"""Running Alembic from code: `learnbot migrate`, and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]


class MigrationsMissing(RuntimeError):
    pass


class DatabaseUnavailable(RuntimeError):
    """DATABASE_URL cannot be used (bad URL, missing folder, server down): the message says what to fix."""


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
        fix = "start PostgreSQL there, or fix the host and port in DATABASE_URL"
    return DatabaseUnavailable(f"DATABASE_URL {shown}: cannot reach the database at {where} ({reason}): {fix}")


def _engine(database_url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    options: dict[str, Any] = {}
    if make_url(database_url).get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": 10}  # a firewalled host fails in seconds, not minutes
    return create_engine(database_url, **options)


def alembic_config(database_url: str) -> Config:
    ini = REPO_ROOT / "alembic.ini"
    if not ini.is_file():
        raise MigrationsMissing(
            f"alembic.ini not found at {ini}: install learnbot from its source tree with `pip install -e .`"
        )
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
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


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def database_revision(database_url: str) -> str | None:
    """The schema revision the database is at (None: not migrated); DatabaseUnavailable if it cannot be read."""
    from alembic.runtime.migration import MigrationContext
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
        if not path.exists():  # not created yet: nothing to read, and looking must not create it
            engine.dispose()
            return None
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise explain(database_url, exc) from None
    finally:
        engine.dispose()


def ensure_current(database_url: str) -> None:
    """Refuse to start on a database that `learnbot migrate` has not brought to the newest schema."""
    head, current = current_head(), database_revision(database_url)
    if current != head:
        raise MigrationsMissing(not_current(database_url, current, head))


def not_current(database_url: str, current: str | None, head: str | None) -> str:
    from sqlalchemy.engine import make_url

    shown = make_url(database_url).render_as_string(hide_password=True)
    return (f"DATABASE_URL {shown}: the database is at schema {current or 'none (not migrated yet)'} but this "
            f"learnbot needs {head}: run `learnbot migrate`")
