"""learnbot preview: a form or message as people will see it, from the configured catalogue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from bot.catalog import load_catalog
from bot.ops.preview import BUILDER, UnknownPreview, build, preview, problems, validate_all_messages

CATALOG = load_catalog()
ROOT = Path(__file__).parents[2]


def test_every_form_and_message_of_every_model_is_valid_block_kit():
    assert validate_all_messages(CATALOG) == []


@pytest.mark.parametrize("key", CATALOG.catalog.keys)
def test_the_form_preview_is_the_modal_learnbot_opens(key):
    from bot.messages import forms

    link = preview(CATALOG, key)
    assert link.startswith(BUILDER)
    shown = json.loads(unquote(link.removeprefix(BUILDER)))
    assert shown == forms.request_modal(CATALOG.model(key), requester="U0SAMPLE")


def test_message_previews_are_links_to_blocks_and_json_on_request():
    link = preview(CATALOG, "new-pathway", "reminder")
    assert list(json.loads(unquote(link.removeprefix(BUILDER)))) == ["blocks"]
    body = json.loads(preview(CATALOG, "new-pathway", "filed", as_json=True))
    assert body["text"] and body["blocks"][0]["type"] == "section"
    assert "Your plan" in json.dumps(body)  # the sample request carries the model's planned steps


def test_unknown_model_or_kind_says_what_exists():
    with pytest.raises(UnknownPreview, match="content-review"):
        build(CATALOG, "nope")
    with pytest.raises(UnknownPreview, match="reminder"):
        build(CATALOG, "content-review", "nope")


def test_a_broken_message_is_reported_with_model_and_kind():
    assert problems(("message", {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                                      "text": "x" * 3001}}]}))
    assert problems(("view", {"type": "modal", "title": {"type": "plain_text", "text": "t" * 30}, "blocks": []}))


def _run(args, env):
    full = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([sys.executable, "-m", "bot", *args], env=full, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_preview_command_uses_the_configured_catalogue(tmp_path):
    data = yaml.safe_load((ROOT / "bot" / "catalog" / "catalog.yml").read_text())
    model = next(m for m in data["models"] if m["key"] == "content-review")
    model["name"] = "Edited review name"
    edited = tmp_path / "catalog.yml"
    edited.write_text(yaml.safe_dump(data))
    templates = ROOT / "bot" / "catalog" / "templates"
    (tmp_path / "templates").symlink_to(templates)
    out = _run(["preview", "content-review", "--message", "filed", "--json"],
               {"LEARNBOT_CATALOG": str(edited), "DATABASE_URL": f"sqlite:///{tmp_path}/none.db"})
    assert out.returncode == 0, out.stderr
    assert "Edited review name" in out.stdout
    out = _run(["preview", "nope"], {"DATABASE_URL": f"sqlite:///{tmp_path}/none.db"})
    assert out.returncode == 2 and "no support model 'nope'" in out.stderr


def test_check_fails_naming_each_form_or_message_slack_would_refuse(monkeypatch, capsys, tmp_path):
    from bot import cli
    from bot.ops import preview as preview_module

    monkeypatch.chdir(tmp_path)  # no .env here
    for name in [k for k in os.environ if k.startswith(("LEARNBOT_", "SLACK_", "GITLAB_", "DATABASE_URL"))]:
        monkeypatch.delenv(name)
    cli.main(["check"])  # an empty environment has other problems; none of them is Block Kit
    assert "Block Kit" not in capsys.readouterr().err
    monkeypatch.setattr(preview_module, "validate_all_messages",
                        lambda catalog: ["content-review form: title must be at most 24 characters"])
    assert cli.main(["check"]) == 2
    assert "Block Kit: content-review form: title must be at most 24" in capsys.readouterr().err


# --- every message builder has a preview kind (issue 15, point 14) ------------------------------------

def _builders():
    """Every function in bot/messages that builds a Slack surface: a view (-> Block) or a message
    (-> tuple[str, list[...]]). kit.py's blocks are parts of surfaces, not surfaces."""
    import importlib
    import inspect
    import pkgutil

    import bot.messages

    found = {}
    for info in pkgutil.iter_modules(bot.messages.__path__):
        if info.name in ("kit", "ids"):
            continue
        module = importlib.import_module(f"bot.messages.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            returns = str(inspect.signature(fn).return_annotation)
            if returns == "Block" or returns.startswith("tuple[str, list["):
                found[f"{info.name}.{name}"] = (module, name)
    return found


def test_the_builder_scan_finds_the_surfaces():
    names = set(_builders())
    assert {"forms.request_modal", "notices.request_filed", "decisions.deciders_message", "home.home_view",
            "digest.digest_message", "after_launch.review_message"} <= names
    assert "forms.read_state" not in names and "digest.entry" not in names


def test_every_message_builder_has_a_preview_kind(monkeypatch):
    from bot.ops.preview import kinds

    builders = _builders()
    called: set[str] = set()
    depth = [0]

    def recording(key, fn):
        def run(*args, **kwargs):
            if depth[0] == 0:  # the kind's own builder, not one it uses inside
                called.add(key)
            depth[0] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
        return run

    for key, (module, name) in builders.items():
        monkeypatch.setattr(module, name, recording(key, getattr(module, name)))
    for model in CATALOG.models:
        for kind in kinds(CATALOG, model.key):
            build(CATALOG, model.key, kind)
    assert sorted(set(builders) - called) == [], "builders no `learnbot preview --message` kind shows"


def test_message_list_lists_every_kind(tmp_path):
    from bot.ops.preview import kinds

    out = _run(["preview", "upload", "--message", "list"], {"DATABASE_URL": f"sqlite:///{tmp_path}/none.db"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == kinds(CATALOG, "upload") and len(out.stdout.split()) > 10
