"""`pip install .` (a wheel, not the source tree) runs `learnbot migrate` and `learnbot check` (issue 15, 13).

The wheel is built from a copy of the files a source checkout has, installed into a fresh venv that
borrows only the dependencies from this one, and run from a folder with no source tree around it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.e2e.harness import child_env

ROOT = Path(__file__).parents[2]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "alembic.ini", "manifest.yml", "bot", "migrations")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a venv holding learnbot's wheel (and nothing of the source tree)."""
    base = tmp_path_factory.mktemp("wheel")
    tree = base / "src"
    for name in SOURCES:
        source = ROOT / name
        if not source.exists():
            continue
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy2(source, tree / name)
    wheels = base / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(tree)], check=True, capture_output=True, timeout=180)
    [wheel] = wheels.glob("learnbot-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    # The dependencies come from this venv's site-packages, added as a plain path: its .pth files
    # (the editable install of learnbot) are not run, so `bot` can only come from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=180)
    shutil.rmtree(tree)  # nothing the installed package could fall back on
    return env_dir / "bin"


def _run(bin_dir: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], env=child_env(env), cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_the_wheel_runs_from_site_packages(installed, tmp_path):
    out = _run(installed, ["python", "-c", "import bot; print(bot.__file__)"], {}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert str(installed.parent) in out.stdout and "site-packages" in out.stdout


def test_migrate_then_check_work_from_a_wheel(installed, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/learnbot.db", "SLACK_BOT_TOKEN": "xoxb-1-wheel",
           "SLACK_SIGNING_SECRET": "wheel-signing-secret", "GITLAB_TOKEN": "glpat-wheel",
           "GITLAB_PROJECT": "ld/general", "GITLAB_WEBHOOK_SECRET": "wheel-hook-secret"}
    migrated = _run(installed, ["learnbot", "migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "newest schema" in migrated.stdout
    checked = _run(installed, ["learnbot", "check"], env, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "migrations current" in checked.stdout and "ready" in checked.stdout


def test_the_wheel_carries_the_slack_manifest(installed, tmp_path):
    code = ("from bot.ops.preflight import MANIFEST, manifest_scopes\n"
            "print(MANIFEST, sorted(manifest_scopes() or []))")
    out = _run(installed, ["python", "-c", code], {}, tmp_path)
    assert out.returncode == 0, out.stderr
    assert str(installed.parent) in out.stdout and "chat:write" in out.stdout
