"""Data flows one way: only bot/slack (and the web and CLI entry points) may import Bolt or bot.slack."""

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
    if path.name in ("runner.py", "decisions.py"):
        return
    for own_loop in ("claim_due(", "retry_later(", "until_stopped(", "2 ** "):
        assert own_loop not in source, f"{path.relative_to(BOT)} has its own {own_loop!r}"
