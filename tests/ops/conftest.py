"""Operations tests run against the same stand-ins and running app as the end-to-end tests."""

from tests.e2e.conftest import PROJECT, SIGNING_SECRET, app, env, gitlab, services, slack  # noqa: F401
