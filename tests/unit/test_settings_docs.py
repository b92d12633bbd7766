"""Every setting the code reads is documented where an operator looks: README's settings table and
.env.example; and .env.example's placeholders are the ones learnbot refuses (issue 15, points 11 and 14)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import EXAMPLE_VALUES, Settings, example_values_in_use, load_settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")
# os.environ["X"], os.environ.get("X"), os.getenv("X"), environ.get("X") anywhere under bot/
_ENV_READ = re.compile(r"""(?:os\.environ|environ|os\.getenv)\s*(?:\.get\s*)?[\[(]\s*["']([A-Z][A-Z0-9_]*)["']""")


def settings_read_by_the_code() -> set[str]:
    names = {(field.alias or name).upper() for name, field in Settings.model_fields.items()}
    for path in (ROOT / "bot").rglob("*.py"):
        names.update(_ENV_READ.findall(path.read_text(encoding="utf-8")))
    return names


def readme_table() -> set[str]:
    section = README[README.index("## Settings"):]
    section = section[:section.index("\n## ", 1)]
    names: set[str] = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    return names


def env_example() -> dict[str, str]:
    found = {}
    for line in ENV_EXAMPLE.splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def test_the_code_reads_what_the_scan_finds():
    read = settings_read_by_the_code()
    assert {"SLACK_BOT_TOKEN", "DATABASE_URL", "PORT", "LEARNBOT_LOG_FORMAT", "LEARNBOT_RETENTION_DAYS"} <= read


@pytest.mark.parametrize("name", sorted(settings_read_by_the_code()))
def test_every_setting_is_in_the_readme_table(name):
    assert name in readme_table(), f"{name} is read by learnbot but missing from README's settings table"


@pytest.mark.parametrize("name", sorted(settings_read_by_the_code()))
def test_every_setting_is_in_env_example(name):
    assert name in env_example(), f"{name} is read by learnbot but missing from .env.example"


def test_nothing_documented_is_not_a_setting():
    read = settings_read_by_the_code()
    assert readme_table() - read == set() and set(env_example()) - read == set()


def test_env_example_placeholders_are_the_ones_refused():
    shipped = env_example()
    secrets = {name.upper() for name, field in Settings.model_fields.items()
               if field.annotation is not None and SecretStr in getattr(field.annotation, "__args__", ())}
    assert {n.upper(): v for n, v in EXAMPLE_VALUES.items()} == {n: v for n, v in shipped.items() if n in secrets}
    copied = load_settings({k: v for k, v in shipped.items()
                            if not re.search(rf"^#\s*{k}=", ENV_EXAMPLE, re.MULTILINE)})
    refused = [line.split(" ")[0] for line in example_values_in_use(copied)]
    assert refused == ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET"]
    assert copied.readiness()[0]  # not ready
