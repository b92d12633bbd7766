"""Running Alembic from code: `learnbot migrate`, and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]


class MigrationsMissing(RuntimeError):
    pass


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
    command.upgrade(alembic_config(database_url), revision)


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def database_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def ensure_current(database_url: str) -> None:
    """Refuse to start on a database that `learnbot migrate` has not brought to the newest schema."""
    head, current = current_head(), database_revision(database_url)
    if current != head:
        raise MigrationsMissing(
            f"the database is at schema {current or 'none'} but this learnbot needs {head}: run `learnbot migrate`"
        )
