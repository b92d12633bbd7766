"""The retention benchmark still runs against the current schema (its numbers live in bench/README.md)."""

import subprocess
import sys
from pathlib import Path


def test_retention_benchmark_runs_and_purges_everything(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.retention", "--database-url", f"sqlite:///{tmp_path}/r.db",
                          "--rows", "3000", "--batch", "500", "--baseline-seconds", "0.3"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| 3,000 |" in out.stdout and "left after the purge: 0 old rows" in out.stdout
