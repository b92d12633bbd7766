"""Data flows one way: only bot/slack (and the web and CLI entry points) may import Bolt or bot.slack.

And the code stays in rooms one can read: no module over 400 lines, one name per feature.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"
ENTRY_POINTS = {"cli.py", "web.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (BOT / f).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("services", "messages", "domain", "store", "gateways", "catalog"),
                         ids=lambda p: str(p.relative_to(BOT)))
def test_nothing_below_the_listeners_imports_bolt_or_bot_slack(path: Path) -> None:
    bad = {n for n in _imports(path) if n == "bot.slack" or n.startswith(("bot.slack.", "slack_bolt"))}
    assert not bad, f"{path.relative_to(BOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _modules("domain", "messages"), ids=lambda p: str(p.relative_to(BOT)))
def test_pure_layers_do_no_io(path: Path) -> None:
    io = {n for n in _imports(path)
          if n.startswith(("bot.gateways", "bot.services", "bot.store.db", "slack_sdk", "gitlab", "requests",
                           "urllib.request", "http", "socket", "sqlalchemy"))}
    assert not io, f"{path.relative_to(BOT)} imports {sorted(io)}"


@pytest.mark.parametrize("path", sorted(p for p in BOT.rglob("*.py") if "gateways" not in p.parts),
                         ids=lambda p: str(p.relative_to(BOT)))
def test_only_the_gateways_see_slack_sdk_errors(path: Path) -> None:
    """The Slack gateway translates failures (unavailable, refused for good, setup wrong): one list, one place."""
    bad = {n for n in _imports(path) if n.startswith(("slack_sdk.errors", "slack_sdk.http_retry"))}
    if path.relative_to(BOT).as_posix() == "ops/preview.py":
        bad -= {"slack_sdk.errors"}  # SlackObjectFormationError: Block Kit's own limits, checked offline
    assert not bad, f"{path.relative_to(BOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _modules("services", "messages", "domain", "store", "gateways", "catalog"),
                         ids=lambda p: str(p.relative_to(BOT)))
def test_services_receive_a_stop_signal_instead_of_importing_the_process(path: Path) -> None:
    bad = {n for n in _imports(path) if n == "bot.ops" or n.startswith("bot.ops.")}
    assert not bad, f"{path.relative_to(BOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: str(p.relative_to(BOT)))
def test_no_service_writes_its_own_claim_loop(path: Path) -> None:
    """Owed work is claimed, leased and retried by bot/services/runner.py alone."""
    source = path.read_text(encoding="utf-8")
    if path.name == "runner.py":
        return
    for own_loop in ("claim_due(", "retry_later(", "until_stopped(", "2 ** "):
        assert own_loop not in source, f"{path.relative_to(BOT)} has its own {own_loop!r}"


# --- size, one name per feature, and the stop signal (issue 16) ------------------------------------

MAX_LINES = 400
# Modules allowed past MAX_LINES, each up to its own ceiling (so none grows), and why.
LONG_MODULES = {
    "config.py": (422, "declarations: one Settings field and its validator per setting"),
    "store/models.py": (480, "declarations: the ORM tables and their indexes, read with the migrations"),
    "domain/gitlab_events.py": (402, "one parser per GitLab webhook shape"),
}


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("path", _modules(""), ids=lambda p: str(p.relative_to(BOT)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    name = str(path.relative_to(BOT))
    ceiling, _why = LONG_MODULES.get(name, (MAX_LINES, ""))
    assert _lines(path) <= ceiling, f"{name} has {_lines(path)} lines (at most {ceiling}): split it by role"


def test_the_long_module_list_is_not_stale() -> None:
    """A module trimmed under 400 lines leaves the list, so the list only names what is still long."""
    short = [name for name in LONG_MODULES if _lines(BOT / name) <= MAX_LINES]
    assert not short, f"{short} are back under {MAX_LINES} lines: remove them from LONG_MODULES"


DECISION_MODULES = [
    "domain/decisions.py", "messages/decisions.py", "services/decisions", "slack/listeners/decisions.py",
]


def test_the_decision_feature_lives_under_one_name() -> None:
    """Decisions are "decisions" in every layer; "triage" names only the score (domain/scoring.py) and the
    LEARNBOT_TRIAGE_CHANNEL setting, which are the catalogue's and the operator's words."""
    assert all((BOT / m).exists() for m in DECISION_MODULES)
    assert not [str(p.relative_to(BOT)) for p in BOT.rglob("*triage*") if "__pycache__" not in p.parts]
    named = []
    for path in (p for m in DECISION_MODULES for p in ([BOT / m] if m.endswith(".py") else (BOT / m).rglob("*.py"))):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and "triage" in node.name.lower():
                named.append(f"{path.relative_to(BOT)}: {node.name}")
    assert not named, f"decision code named triage: {named}"
