"""bench/report.py still runs against the current schema, and history adds no SQL statement to the report."""

import subprocess
import sys
from pathlib import Path


def test_report_benchmark_runs_and_history_adds_no_statement(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.report", "--database-url", f"sqlite:///{tmp_path}/r.db",
                          "--sizes", "20,200", "--repeats", "1"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=180)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| report") or line.startswith("| monthly")]
    assert len(rows) == 2
    for row in rows:
        statements = row.split("|")[-2].strip().split(" / ")
        assert len(statements) == 2 and statements[0] == statements[1]
