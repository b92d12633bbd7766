"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bot.store.migrate import current_head, database_revision
from bot.store.models import Base


def test_models_and_migrations_do_not_drift(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"run `alembic revision --autogenerate`: models and migrations differ: {diff}"


def test_database_is_at_head(database_url):
    assert database_revision(database_url) == current_head()


def test_due_jobs_are_served_by_a_partial_index(database_url):
    engine = create_engine(database_url)
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("jobs")}
    engine.dispose()
    assert indexes["ix_jobs_pending_due"]["column_names"] == ["due_at"]
