"""README's `learnbot check --online` sample is what `learnbot check --online` prints (issue 15, point 14)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import child_env
from tests.standins.slack import FakeSlack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def readme_sample() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("```\n$ learnbot check --online\n") + 4:]
    return block[:block.index("```")].splitlines()[1:]


def as_pattern(line: str) -> re.Pattern[str]:
    """A sample line, where … stands for what differs between installations (a path, a revision)."""
    return re.compile("^" + ".*".join(re.escape(part) for part in line.split("…")) + "$")


def test_the_readme_check_sample_is_real_output(env, gitlab, tmp_path):
    with FakeSlack(team_name="Acme", team_id="T0123ACME") as slack:
        setup = {**env, "SLACK_API_URL": slack.url, "DATABASE_URL": "sqlite:///learnbot.db"}
        cli = [sys.executable, "-m", "bot"]
        migrated = subprocess.run([*cli, "migrate"], env=child_env(setup), cwd=tmp_path, capture_output=True,
                                  text=True, timeout=60)
        assert migrated.returncode == 0, migrated.stderr
        out = subprocess.run([*cli, "check", "--online"], env=child_env(setup), cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    printed, sample = out.stdout.splitlines(), readme_sample()
    assert len(printed) == len(sample), (printed, sample)
    for real, shown in zip(printed, sample, strict=True):
        assert as_pattern(shown).match(real), f"README shows\n  {shown}\nbut check prints\n  {real}"
