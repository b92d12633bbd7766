"""Probes that suit rolling deploys (issue 15, 8; SPEC §15).

/healthz is the process answering, nothing more; /readyz is the database answering with a schema
this code runs on: its own, or a newer one whose migrations declare themselves backward compatible
(the schema window). `serve` and `worker` started while the database is down wait for it.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from alembic import command
from sqlalchemy.engine import make_url

from bot.ops.preflight import check_database
from bot.store import migrate
from bot.store.db import Database
from bot.store.migrate import (
    DatabaseUnavailable,
    MigrationsMissing,
    alembic_config,
    current_head,
    database_fit,
    ensure_current,
    wait_for_database,
)
from tests.conftest import is_postgres
from tests.e2e.harness import child_env, serve_process
from tests.e2e.test_intake import wait_until

ROOT = Path(__file__).parents[2]

NEXT_RELEASE = '''"""the next release: a table this release's code never reads

Revision ID: next_release
Revises: {head}
"""
import sqlalchemy as sa
from alembic import op

revision = "next_release"
down_revision = "{head}"
branch_labels = None
depends_on = None
{flag}

def upgrade():
    op.create_table("next_release_things", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("next_release_things")
'''


def _migrated_by_the_next_release(tmp_path: Path, *, compatible: bool) -> str:
    """A SQLite database migrated by a newer release: this code's migrations plus one it does not have."""
    scripts = tmp_path / "next-release-migrations"
    shutil.copytree(ROOT / "migrations", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    flag = "backward_compatible = True" if compatible else ""
    (scripts / "versions" / "next_release.py").write_text(NEXT_RELEASE.format(head=current_head(), flag=flag))
    url = f"sqlite:///{tmp_path}/next-{compatible}.db"
    cfg = alembic_config(url)
    cfg.set_main_option("script_location", str(scripts))
    command.upgrade(cfg, "head")
    return url


# --- liveness --------------------------------------------------------------------------------------

def test_healthz_answers_while_the_database_is_down(app, services, monkeypatch):
    gone = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    monkeypatch.setattr(services, "db", gone)
    health = app.session.get(f"{app.url}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = app.session.get(f"{app.url}/readyz")
    assert ready.status_code == 503 and "database unreachable" in ready.json()["reason"]
    gone.dispose()


# --- readiness: the schema window ------------------------------------------------------------------

def _readyz_on(app, services, monkeypatch, url: str) -> requests.Response:
    """GET /readyz of the running app with its database at `url`."""
    database = Database(url)
    monkeypatch.setattr(services, "db", database)
    try:
        return app.session.get(f"{app.url}/readyz")
    finally:
        database.dispose()


def test_a_newer_backward_compatible_schema_is_ready(app, services, monkeypatch, tmp_path):
    url = _migrated_by_the_next_release(tmp_path, compatible=True)
    resp = _readyz_on(app, services, monkeypatch, url)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "ready"}
    ensure_current(url)  # serve, worker and the admin commands start on it too
    ok, error = check_database(url)
    assert error is None and "next_release is newer than this learnbot's" in ok and "compatible" in ok


def test_a_newer_schema_not_declared_compatible_is_not_ready(app, services, monkeypatch, tmp_path):
    url = _migrated_by_the_next_release(tmp_path, compatible=False)
    resp = _readyz_on(app, services, monkeypatch, url)
    assert resp.status_code == 503
    reason = resp.json()["reason"]
    assert "next_release" in reason and "newer than this learnbot's" in reason and "learnbot migrate" not in reason
    with pytest.raises(MigrationsMissing, match="not compatible"):
        ensure_current(url)
    assert "not compatible" in check_database(url)[1]


def test_the_window_lists_each_revision_whose_code_runs_on_the_schema(tmp_path):
    url = _migrated_by_the_next_release(tmp_path, compatible=True)
    fit = database_fit(url)
    assert fit.ok and fit.current == "next_release" and fit.head == current_head()
    engine = Database(url).engine
    with engine.connect() as conn:
        window = [r for (r,) in conn.exec_driver_sql("SELECT revision FROM schema_window")]
    engine.dispose()
    # next_release declares itself compatible, and so does this code's own head migration (a new table).
    assert set(window) >= {"next_release", current_head()}


def test_an_older_schema_still_needs_migrate(tmp_path):
    url = f"sqlite:///{tmp_path}/behind.db"
    migrate.upgrade(url, "0005")
    fit = database_fit(url)
    assert not fit.ok and "0005" in fit.reason and "run `learnbot migrate`" in fit.reason


# --- start-up while the database is down ------------------------------------------------------------

def test_waiting_for_the_database_says_so_once_and_backs_off(monkeypatch, caplog):
    answers = [DatabaseUnavailable("cannot reach the database at db:5432", transient=True)] * 6 + ["20261201_h15"]

    def revision(_url):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(migrate, "database_revision", revision)
    slept: list[float] = []
    with caplog.at_level(logging.INFO, logger="bot.store.migrate"):
        wait_for_database("postgresql://db/learnbot", sleep=slept.append, max_delay=8)
    assert slept == [1, 2, 4, 8, 8, 8]
    waits = [r for r in caplog.records if "Waiting for it" in r.getMessage()]
    assert len(waits) == 1 and "db:5432" in waits[0].getMessage()
    assert any("database answers" in r.getMessage() for r in caplog.records)


def test_a_mistake_waiting_cannot_fix_is_not_waited_for(monkeypatch):
    def refused(_url):
        raise DatabaseUnavailable("DATABASE_URL …: password authentication failed: fix the user and password")

    monkeypatch.setattr(migrate, "database_revision", refused)
    with pytest.raises(DatabaseUnavailable, match="password"):
        wait_for_database("postgresql://db/learnbot", sleep=lambda _s: pytest.fail("waited"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_worker_started_while_the_database_is_down_waits(env):
    url = f"postgresql://learnbot@127.0.0.1:{_closed_port()}/learnbot"
    proc = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=child_env({**env, "DATABASE_URL": url}),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        wait_until(lambda: any("Waiting for it" in ln for ln in lines) or proc.poll() is not None, timeout=30)
        time.sleep(3.5)  # three more tries (1 s, 2 s) in which it must neither exit nor say it again
        assert proc.poll() is None, "".join(lines)
        assert sum("Waiting for it" in ln for ln in lines) == 1, "".join(lines)
        assert "cannot reach the database" in "".join(lines) and "Traceback" not in "".join(lines)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        reader.join(timeout=5)


class _Forwarder:
    """A TCP port that forwards to PostgreSQL once opened: the database 'coming up' for a process."""

    def __init__(self, port: int, target: tuple[str, int]):
        self.port, self.target = port, target
        self.listener: socket.socket | None = None

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()


def test_serve_started_while_the_database_is_down_is_live_then_ready_when_it_answers(env, database_url):
    if not is_postgres(database_url):
        pytest.skip("needs PostgreSQL to stop and start (TEST_DATABASE_URL; .ci/run's PostgreSQL round)")
    real = make_url(database_url)
    forwarder = _Forwarder(_closed_port(), (real.host or "127.0.0.1", real.port or 5432))
    url = real.set(host="127.0.0.1", port=forwarder.port).render_as_string(hide_password=False)
    proc, base = serve_process([], {**env, "DATABASE_URL": url}, timeout=30)
    try:
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        ready = requests.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 503 and "database unreachable" in ready.json()["reason"]
        forwarder.open()
        wait_until(lambda: requests.get(f"{base}/readyz", timeout=10).status_code == 200, timeout=60)
        assert proc.poll() is None
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
        forwarder.close()
    assert out.count("Waiting for it") == 1 and "/readyz says 503 until then" in out, out
    assert proc.returncode == 0 and "Traceback" not in out, out
