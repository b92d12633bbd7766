"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Base

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def _fresh_postgres(url: str) -> str:
    """A new, empty database beside the one named (dropped at the end of the run)."""
    base = make_url(url)
    name = f"learnbot_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_postgres(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test run's database, migrated to head with Alembic (so every test also exercises migrations)."""
    if TEST_DATABASE_URL.startswith("postgres"):
        url = _fresh_postgres(TEST_DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        upgrade(url)
        yield url
        _drop_postgres(url)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "learnbot-test.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A clean database for each test (rows deleted, schema kept)."""
    database = Database(database_url)
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield database
    database.dispose()


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")
