"""Persistence: engine and session scope, ORM models, and the queries services use."""

# Every table module is loaded with the package, so Base.metadata is the whole schema wherever it is read
# (Alembic's autogenerate, the tests' clean-up).
from bot.store import feedback as _feedback  # noqa: F401
from bot.store import invites as _invites  # noqa: F401  live sessions' calendar invites (issue 18)
from bot.store import reports as _reports  # noqa: F401  the report's table and indexes (issue 17)
from bot.store import workflow as _workflow  # noqa: F401  Workflow Builder steps (issue 18)
