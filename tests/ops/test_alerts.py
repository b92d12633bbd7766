"""docs/alerts.yml: valid for Prometheus, and every metric it names is one /metrics serves."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.helpers import scrape

RULES = Path(__file__).parents[2] / "docs" / "alerts.yml"
RULE_TESTS = RULES.with_name("alerts.test.yml")


def _promtool(*args: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (.ci/run installs Debian's prometheus package)")
    out = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_accepts_the_rules():
    _promtool("check", "rules", str(RULES))


def test_the_rules_fire_on_the_series_they_are_written_for():
    """docs/alerts.test.yml: each process's `up == 0`, a stale or never-written heartbeat (not an
    unreadable database), a purge lowering the failed-messages gauge (no alert) and a message given up."""
    _promtool("test", "rules", str(RULE_TESTS))


def test_every_process_has_an_up_rule():
    rules = {r["alert"]: r for r in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}
    for job in ("learnbot-web", "learnbot-worker"):
        assert any(r["expr"].replace(" ", "") == f'up{{job="{job}"}}==0' for r in rules.values()), job


def test_every_metric_an_alert_reads_is_served(app, services):
    services.dispatcher.run_once(now=services.clock())  # the heartbeat exists once a pass ran
    app.command("help")
    text = app.session.get(f"{app.url}/metrics").text
    families = {name for name, _ in scrape(text)}
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {"LearnbotWorkerDown", "LearnbotFilingBacklog", "LearnbotRequestsFailed",
                                           "LearnbotSlackErrors", "LearnbotGitLabErrors"}
    for rule in rules:
        for name in set(re.findall(r"\blearnbot_[a-z_]+", rule["expr"])):
            # Counters with no sample yet (no GitLab call made) still declare their family in HELP.
            assert name in families or f"# HELP {name.removesuffix('_total')}" in text \
                or f"# HELP {name.removesuffix('_bucket')}" in text, f"{rule['alert']} reads {name}, not served"
