"""`learnbot check [--online]` and start-up failures, as an operator meets them: one line per problem naming
the setting and the fix, exit 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.catalog import SHIPPED_CATALOG

pytestmark = pytest.mark.e2e


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ["PATH"], "HOME": str(cwd), **env}
    if "PYTHONPATH" in os.environ:
        full["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run([sys.executable, "-m", "bot", *args], env=full, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def error_lines(out: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("learnbot: error:")]


def assert_clean_failure(out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    assert error_lines(out), out.stderr


def test_check_with_an_empty_environment_names_every_missing_setting(tmp_path):
    out = run(["check"], {}, tmp_path)
    assert_clean_failure(out)
    text = out.stderr
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITLAB_TOKEN", "GITLAB_PROJECT"):
        assert f"learnbot: error: {name} is not set" in text, text
    assert "SLACK_APP_TOKEN" in text  # the Socket Mode alternative is offered
    assert "settings ok" not in out.stdout


def test_check_passes_on_a_ready_setup_and_says_what_it_checked(env, db, tmp_path):
    out = run(["check"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "migrations current" in out.stdout
    assert "every template renders" in out.stdout
    assert "ready" in out.stdout


def test_check_warns_that_webhooks_will_be_refused_without_their_secret(env, db, tmp_path):
    out = run(["check"], {k: v for k, v in env.items() if k != "GITLAB_WEBHOOK_SECRET"}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "warning: GITLAB_WEBHOOK_SECRET is not set" in out.stdout and "401" in out.stdout


def test_check_refuses_a_database_that_is_not_migrated(env, tmp_path):
    out = run(["check"], {**env, "DATABASE_URL": f"sqlite:///{tmp_path}/new.db"}, tmp_path)
    assert_clean_failure(out)
    [line] = error_lines(out)
    assert "DATABASE_URL" in line and "run `learnbot migrate`" in line


def _catalogue_with(tmp_path: Path, template: str, extra: str) -> Path:
    """A copy of the shipped catalogue with `extra` added to one template (inside its block, if it has one)."""
    folder = tmp_path / "catalogue"
    shutil.copytree(SHIPPED_CATALOG.parent / "templates", folder / "templates")
    shutil.copy(SHIPPED_CATALOG, folder / "catalog.yml")
    target = folder / "templates" / template
    text = target.read_text(encoding="utf-8")
    if "{% endblock %}" in text:
        text = text.replace("{% endblock %}", extra + "{% endblock %}", 1)
    else:
        text += extra
    target.write_text(text, encoding="utf-8")
    return folder / "catalog.yml"


def test_check_refuses_a_shared_template_that_fails_only_when_rendered(env, db, tmp_path):
    # Compiles fine; fails for every request that has a plan. Before, check said "ok" and filing crashed.
    path = _catalogue_with(tmp_path, "_plan.md.j2", "{{ answers.launch_date_typo }}\n")
    out = run(["check"], {**env, "LEARNBOT_CATALOG": str(path)}, tmp_path)
    assert_clean_failure(out)
    problems = [line for line in error_lines(out) if "launch_date_typo" in line]
    assert problems and all("_plan.md.j2 line" in line and "models[" in line for line in problems)
    assert {m for m in ("new-pathway", "live-learning", "content-review", "new-content")
            if any(f"models[{m}]" in line for line in problems)} == {"new-pathway", "live-learning",
                                                                      "content-review", "new-content"}


def test_check_renders_every_creator_kit(env, db, tmp_path):
    # Only the Group kit is broken: only a rehearsal of every option of the template field finds it.
    path = _catalogue_with(tmp_path, "creator_kit_group.md.j2", "{{ answers.group_admin.missing }}\n")
    out = run(["check"], {**env, "LEARNBOT_CATALOG": str(path)}, tmp_path)
    assert_clean_failure(out)
    assert any("models[upload]" in line and "content_type=group" in line for line in error_lines(out)), out.stderr


def test_serve_and_worker_refuse_to_start_on_a_template_that_cannot_render(env, db, tmp_path):
    path = _catalogue_with(tmp_path, "_about.md.j2", "{{ 1 / 0 }}\n")
    for command in (["serve", "--port", "0"], ["worker"], ["dispatch"]):
        out = run(command, {**env, "LEARNBOT_CATALOG": str(path)}, tmp_path)
        assert_clean_failure(out)
        assert "ZeroDivisionError" in out.stderr


# --- the database, for every command that needs it -------------------------------------------------------

DATABASE_CASES = {
    "bad URL": ("nosuchdb://somewhere/learnbot", "not a database URL"),
    "missing folder": ("sqlite:///{tmp}/no/such/folder/learnbot.db", "does not exist: create it"),
    "PostgreSQL unreachable": ("postgresql://postgres@127.0.0.1:{port}/learnbot", "cannot reach the database"),
}


# serve and worker wait for a server that does not answer (it may be starting): tests/ops/test_probes.py.
WAITED_FOR = {("PostgreSQL unreachable", "serve"), ("PostgreSQL unreachable", "worker")}


@pytest.mark.parametrize(("case", "command"), [
    (case, command) for case in sorted(DATABASE_CASES)
    for command in ("migrate", "serve", "worker", "dispatch", "check") if (case, command) not in WAITED_FOR])
def test_a_database_that_cannot_be_used_is_one_line_and_exit_2(env, tmp_path, command, case):
    url, said = DATABASE_CASES[case]
    url = url.format(tmp=tmp_path, port=closed_port())
    args = [command] + (["--port", "0"] if command == "serve" else [])
    out = run(args, {**env, "DATABASE_URL": url}, tmp_path)
    assert_clean_failure(out)
    lines = [line for line in error_lines(out) if "DATABASE_URL" in line]
    assert len(lines) == 1 and said in lines[0], out.stderr
    assert len(out.stderr.strip().splitlines()) <= 3  # no 120-line traceback


def test_a_postgresql_database_that_does_not_exist_says_how_to_create_it(env, tmp_path):
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not base.startswith("postgres"):
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL")
    from sqlalchemy.engine import make_url

    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1)).set(database="learnbot_missing_db")
    out = run(["dispatch"], {**env, "DATABASE_URL": url.render_as_string(hide_password=False)}, tmp_path)
    assert_clean_failure(out)
    assert "createdb learnbot_missing_db" in out.stderr


# --- online: the tokens, tried ----------------------------------------------------------------------------

def test_check_online_tries_slack_and_gitlab(env, db, tmp_path, slack, gitlab):
    out = run(["check", "--online"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Slack: token of learnbot" in out.stdout and "every scope manifest.yml asks for" in out.stdout
    assert "GitLab: project learning-development/general readable" in out.stdout
    assert slack.calls_to("auth.test")


def test_check_online_names_the_scopes_the_slack_token_lacks(env, db, tmp_path, slack):
    slack.scopes = [s for s in slack.scopes if s not in ("im:history", "users:read")]
    out = run(["check", "--online"], env, tmp_path)
    assert_clean_failure(out)
    [line] = [x for x in error_lines(out) if "SLACK_BOT_TOKEN" in x]
    assert "im:history, users:read" in line and "reinstall" in line


def test_check_online_says_a_slack_token_is_refused(env, db, tmp_path, slack):
    slack.token = "xoxb-the-real-one"
    out = run(["check", "--online"], env, tmp_path)
    assert_clean_failure(out)
    assert any("SLACK_BOT_TOKEN is refused by Slack (invalid_auth)" in x for x in error_lines(out)), out.stderr


def test_check_online_says_slack_is_unreachable(env, db, tmp_path):
    out = run(["check", "--online"], {**env, "SLACK_API_URL": f"http://127.0.0.1:{closed_port()}/api/"}, tmp_path)
    assert_clean_failure(out)
    assert any("Slack unreachable" in x and "SLACK_API_URL" in x for x in error_lines(out)), out.stderr


@pytest.mark.parametrize(("change", "said"), [
    ({"GITLAB_TOKEN": "glpat-wrong"}, "GITLAB_TOKEN is refused"),
    ({"GITLAB_PROJECT": "learning-development/nope"}, "GITLAB_PROJECT learning-development/nope is not found"),
])
def test_check_online_names_what_gitlab_refuses(env, db, tmp_path, gitlab, change, said):
    out = run(["check", "--online"], {**env, **change}, tmp_path)
    assert_clean_failure(out)
    assert any(said in x for x in error_lines(out)), out.stderr


def test_check_online_names_a_project_the_token_may_not_read(env, db, tmp_path, gitlab):
    gitlab.fail_next(("GET", r"^/api/v4/projects/[^/]+$"), status=403)
    out = run(["check", "--online"], env, tmp_path)
    assert_clean_failure(out)
    assert any("GITLAB_TOKEN may not read GITLAB_PROJECT" in x and "403" in x for x in error_lines(out)), out.stderr


# --- point 8: the smaller ones, as an operator meets them --------------------------------------------------

def test_a_cron_that_never_fires_is_refused_at_start(env, tmp_path):
    out = run(["check"], {**env, "LEARNBOT_DIGEST_CRON": "0 9 31 2 *"}, tmp_path)
    assert_clean_failure(out)
    assert "LEARNBOT_DIGEST_CRON" in out.stderr and "never fires" in out.stderr


def test_a_digest_channel_name_is_refused_with_how_to_find_the_id(env, tmp_path):
    out = run(["check"], {**env, "LEARNBOT_DIGEST_CHANNEL": "#general"}, tmp_path)
    assert_clean_failure(out)
    assert "LEARNBOT_DIGEST_CHANNEL must be a channel id like C0123456789" in out.stderr
    assert "Channel ID" in out.stderr


def test_digest_to_an_unreachable_slack_says_unreachable_not_refused(env, db, tmp_path):
    out = run(["digest", "--channel", "C0DIGEST1"],
              {**env, "SLACK_API_URL": f"http://127.0.0.1:{closed_port()}/api/"}, tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "learnbot: error: Slack unreachable" in out.stderr and "Slack refused" not in out.stderr


def test_a_catalogue_yaml_error_names_the_file_and_line(env, tmp_path):
    bad = tmp_path / "catalog.yml"
    bad.write_text("version: 1\nmodels:\n  - key: x\n    name: [unclosed\n", encoding="utf-8")
    out = run(["check"], {**env, "LEARNBOT_CATALOG": str(bad)}, tmp_path)
    assert_clean_failure(out)
    assert f"{bad}:5:1" in out.stderr and "<unicode string>" not in out.stderr


def test_digest_to_a_channel_name_is_refused_with_how_to_find_the_id(env, db, tmp_path):
    out = run(["digest", "--channel", "#general"], env, tmp_path)
    assert_clean_failure(out)
    assert "--channel must be a channel id like C0123456789, not '#general'" in out.stderr
