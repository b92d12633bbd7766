"""End-to-end fixtures: the Slack and GitLab stand-ins, and learnbot running against them over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import load_settings
from bot.container import Services, build_services
from tests.e2e.harness import RunningApp
from tests.samples import REQUESTER_ZONE, SampleDates
from tests.standins.gitlab import FakeGitLab
from tests.standins.slack import FakeSlack

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PROJECT = "learning-development/general"


# Slack answers a malformed call with HTTP 200 and ok=false; learnbot logs it and carries on, so a
# test that only waits for the call would pass. No e2e test may leave one behind unless it scripted it.
MALFORMED = {"invalid_blocks", "invalid_blocks_format", "invalid_arguments", "msg_too_long", "invalid_json",
             "invalid_metadata_format", "invalid_metadata_schema", "invalid_form_data"}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("U0REQ", tz=REQUESTER_ZONE, name="Ada Lovelace")
        fake.add_user("U0HOST", tz="Asia/Tokyo", name="Grace Hopper")
        fake.add_user("U0COHOST", tz="Europe/Berlin", name="Linus")
        fake.add_user("U0COOWNER", tz="Australia/Sydney", name="Margaret Hamilton")
        fake.add_user("U0STRANGER", tz="UTC", name="Mallory")
        fake.add_user("U0ADMIN", tz="Europe/London", name="Lnd Lead")  # LEARNBOT_ADMINS below
        yield fake
    refused = [c for c in fake.calls
               if c.fault is None and isinstance(c.response, dict) and c.response.get("error") in MALFORMED]
    assert not refused, "Slack refused what learnbot sent:\n" + "\n".join(
        f"  {c.describe()}\n    {c.response}" for c in refused)


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        fake.add_project(PROJECT)
        yield fake


@pytest.fixture
def env(slack: FakeSlack, gitlab: FakeGitLab, database_url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "GITLAB_URL": gitlab.url,
        "GITLAB_TOKEN": gitlab.token,
        "GITLAB_PROJECT": PROJECT,
        "GITLAB_WEBHOOK_SECRET": "hook-secret",
        "DATABASE_URL": database_url,
        "LEARNBOT_ADMINS": "U0ADMIN",
    }


@pytest.fixture
def services(env: dict[str, str], db) -> Iterator[Services]:  # db: a clean database per test
    built = build_services(load_settings(env), gitlab_timeout=2.0)
    yield built
    built.close()


@pytest.fixture
def app(services: Services) -> Iterator[RunningApp]:
    running = RunningApp(services, SIGNING_SECRET).start()
    yield running
    running.stop()


@pytest.fixture
def dates() -> SampleDates:
    """The sample answers' dates moved ahead of the app's clock (`Services.clock()`, the real one).

    The e2e app runs on the real clock, so "in the past", "short notice" and every reminder time
    are relative to it: expected dates come from here, never from fixed calendar dates.
    """
    return SampleDates.after(Services.clock())
