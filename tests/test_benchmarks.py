"""The benchmark suites still run: their smallest case of each benchmark, once, untimed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_benchmark_suites_run() -> None:
    if not BENCHMARKS.is_dir():                     # an installed copy of the tests, without the repository
        pytest.skip(f"no benchmarks folder at {BENCHMARKS}")
    env = {**os.environ, "DUALNET_BENCH_SMOKE": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", str(BENCHMARKS), "--benchmark-disable", "-q",
                          "-p", "no:cacheprovider", "--rootdir", str(BENCHMARKS.parent)],
                         capture_output=True, text=True, env=env, cwd=BENCHMARKS.parent, timeout=900)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, f"benchmark smoke run failed: {summary}\n{run.stdout[-4000:]}"
    assert " passed" in summary and "failed" not in summary
