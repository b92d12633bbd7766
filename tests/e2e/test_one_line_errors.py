"""What the README promises an operator (issue 15, points 5 and 11): every mistake is one line and exit 2,
never a traceback, never a password, and never a start with .env.example's placeholders."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import child_env

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-Sekret"


def run(args: list[str], env: dict[str, str], cwd: Path, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=child_env(env), capture_output=True, text=True,
                          timeout=60, cwd=cwd, **kw)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line_failure(out: subprocess.CompletedProcess[str]) -> list[str]:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout, out.stderr
    return [line for line in out.stderr.splitlines() if "error:" in line]


@pytest.mark.parametrize("limit", ["-1", "0", "many", "100001"])
def test_requests_refuses_a_bad_limit_in_one_line(env, db, tmp_path, limit):
    out = run(["requests", "--limit", limit], env, tmp_path)
    errors = one_line_failure(out)
    assert len(errors) == 1 and "argument --limit" in errors[0], out.stderr
    assert out.stdout == ""  # nothing listed


@pytest.mark.parametrize("args", [["requests"], ["preview", "new-pathway", "--json"]])
def test_a_reader_that_went_away_is_no_traceback(env, db, tmp_path, args):
    """`learnbot show 5 | head -3`: the pipe's reader has gone before learnbot is done writing."""
    read, write = os.pipe()
    os.close(read)  # every write now fails with EPIPE, as after `head` has exited
    try:
        out = subprocess.run([sys.executable, "-m", "bot", *args], env=child_env(env), stdout=write,
                             stderr=subprocess.PIPE, text=True, timeout=60, cwd=tmp_path)
    finally:
        os.close(write)
    assert "Traceback" not in out.stderr and "BrokenPipeError" not in out.stderr, out.stderr
    assert out.stderr == ""
    assert out.returncode == 141  # as a shell reports a command stopped by SIGPIPE


def _example_checkout(tmp_path: Path, database_url: str) -> Path:
    """A folder after an unedited `cp .env.example .env` (the database already migrated)."""
    folder = tmp_path / "fresh"
    folder.mkdir()
    shutil.copy(ROOT / ".env.example", folder / ".env")
    with (folder / ".env").open("a") as f:
        f.write(f"DATABASE_URL={database_url}\n")
    return folder


PLACEHOLDERS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET")


def test_an_unedited_env_example_is_not_ready(database_url, db, tmp_path):
    folder = _example_checkout(tmp_path, database_url)
    out = run(["check"], {}, folder)
    errors = one_line_failure(out)
    for name in PLACEHOLDERS:
        assert any(line.startswith(f"learnbot: error: {name} is still the example value from .env.example")
                   for line in errors), out.stderr
    assert "ready" not in out.stdout


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"], ["dispatch"]])
def test_nothing_starts_with_env_example_placeholders(database_url, db, tmp_path, command):
    folder = _example_checkout(tmp_path, database_url)
    out = run(command, {}, folder)
    errors = one_line_failure(out)
    named = [name for name in PLACEHOLDERS if any(f"{name} is still the example value" in e for e in errors)]
    assert named == list(PLACEHOLDERS), out.stderr  # all of them in one go


def test_serve_names_every_missing_setting_in_one_go(database_url, db, tmp_path):
    out = run(["serve", "--port", "0"], {"DATABASE_URL": database_url}, tmp_path)
    errors = one_line_failure(out)
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "GITLAB_TOKEN", "GITLAB_PROJECT"):
        assert any(f"learnbot: error: {name} is not set: it is needed" in e for e in errors), out.stderr


def test_an_unknown_setting_and_a_bad_value_are_named_together(env, tmp_path):
    out = run(["check"], {**env, "LEARNBOT_TIMEZONES": "UTC", "LEARNBOT_REMINDER_HOUR": "25"}, tmp_path)
    text = "\n".join(one_line_failure(out))
    assert "LEARNBOT_TIMEZONES (did you mean LEARNBOT_TIMEZONE?)" in text and "LEARNBOT_REMINDER_HOUR" in text


def test_a_misspelt_slack_or_gitlab_variable_is_warned_about(env, db, tmp_path):
    out = run(["check"], {**env, "SLACK_SIGNING_SECRT": "x", "GITLAB_TOKN": "y", "GITLAB_CI": "true"}, tmp_path)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stdout.splitlines() if line.startswith("warning:")]
    assert "warning: SLACK_SIGNING_SECRT is not a learnbot setting (did you mean SLACK_SIGNING_SECRET?): " \
           "it is ignored" in warnings
    assert any(w.startswith("warning: GITLAB_TOKN is not a learnbot setting (did you mean GITLAB_TOKEN?)")
               for w in warnings)
    assert not any("GITLAB_CI" in w for w in warnings)  # GitLab CI's own variables are not typos


def test_a_port_that_is_not_a_number_is_one_line(env, db, tmp_path):
    out = run(["serve"], {**env, "PORT": "http"}, tmp_path)
    assert one_line_failure(out) == ["learnbot: error: invalid settings: PORT must be a port number (0-65535), "
                                     "got 'http'"]


@pytest.mark.parametrize("setting,value", [
    ("DATABASE_URL", f"postgresql://learnbot:{PASSWORD}@127.0.0.1:{closed_port()}/learnbot"),  # unreachable
    ("DATABASE_URL", f"postgres//learnbot:{PASSWORD}@db/learnbot"),  # not a URL
    ("DATABASE_URL", f"postgresql://learnbot:{PASSWORD}@db:port/learnbot"),  # SQLAlchemy cannot parse it
    ("DATABASE_URL", f"nosuchdb://learnbot:{PASSWORD}@db/learnbot"),  # no such dialect
    ("GITLAB_URL", f"ftp://learnbot:{PASSWORD}@gitlab.example.com"),  # not http(s)
    ("SLACK_API_URL", f"gopher://learnbot:{PASSWORD}@slack.example.com"),
])
def test_configuration_errors_never_show_a_password(env, db, tmp_path, setting, value):
    for command in (["check"], ["migrate"], ["dispatch"]):
        out = run(command, {**env, setting: value}, tmp_path)
        assert out.returncode == 2, (command, out.stderr)
        assert PASSWORD not in out.stderr + out.stdout, out.stderr
        assert f"learnbot: error: {setting}" in out.stderr or f"{setting} " in out.stderr, out.stderr


def test_check_online_never_shows_the_gitlab_password(env, db, tmp_path):
    url = f"http://learnbot:{PASSWORD}@127.0.0.1:{closed_port()}"
    out = run(["check", "--online"], {**env, "GITLAB_URL": url}, tmp_path)
    assert out.returncode == 2
    assert "GitLab unreachable" in out.stderr and "learnbot:***@127.0.0.1" in out.stderr, out.stderr
    assert PASSWORD not in out.stderr + out.stdout
