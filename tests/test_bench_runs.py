"""The benchmarks still run against the current schema (their numbers live in bench/README.md)."""

import subprocess
import sys
from pathlib import Path


def test_due_reminders_benchmark_runs_and_prints_its_table(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.due_reminders", "--database-url", f"sqlite:///{tmp_path}/b.db",
                          "--sizes", "20,40", "--due", "5", "--repeats", "1"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| 20 |" in out.stdout and "| 40 |" in out.stdout and "baseline / index" in out.stdout


def test_digest_benchmarks_run(tmp_path):
    root = Path(__file__).parents[1]
    out = subprocess.run([sys.executable, "-m", "bench.digest_build", "--database-url", f"sqlite:///{tmp_path}/d.db",
                          "--sizes", "5,20", "--repeats", "1"], capture_output=True, text=True, cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| 20 |" in out.stdout
    out = subprocess.run([sys.executable, "-m", "bench.digest", "--sizes", "5,20", "--repeats", "1"],
                         capture_output=True, text=True, cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr


def test_ack_benchmark_runs():
    out = subprocess.run([sys.executable, "-m", "bench.ack", "--requests", "4", "--parts", "fast,memory",
                          "--kinds", "help,submission,button", "--submissions", "32"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=300)
    assert out.returncode == 0, out.stderr
    assert "modal submission | 16 |" in out.stdout and "p95 ratio" in out.stdout
    assert "reminder button" in out.stdout and "web RSS (MB)" in out.stdout


def test_answer_cost_benchmark_runs_and_counts_statements():
    out = subprocess.run([sys.executable, "-m", "bench.answer_cost", "--requests", "2"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=120)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("| modal submission"))
    statements, outside = (int(cell) for cell in row.split("|")[2:4])
    assert 0 < statements <= 10 and outside == 0  # SPEC §10; no answer waits on Slack or GitLab


def test_history_benchmark_runs_and_counts_statements(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.history", "--database-url", f"sqlite:///{tmp_path}/h.db",
                          "--sizes", "20,200", "--repeats", "1"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=180)
    assert out.returncode == 0, out.stderr
    rows = {line.split("|")[1].strip(): line for line in out.stdout.splitlines() if line.startswith("| ")}
    for op in ("digest build", "`learnbot requests`", "idle dispatch pass", "hourly purge pass"):
        statements = rows[op].split("|")[-2].strip().split(" / ")
        assert len(statements) == 2 and statements[0] == statements[1]  # history adds no statement


def test_fanout_benchmark_runs_and_sends_each_reminder_once():
    out = subprocess.run([sys.executable, "-m", "bench.fanout", "--people", "24", "--latency", "0.02",
                          "--pools", "1,8"], capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=300)
    assert out.returncode == 0, out.stderr  # it asserts every reminder was posted exactly once
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 1 |") or line.startswith("| 8 |")]
    assert len(rows) == 2 and all("| 24 |" in row for row in rows)
