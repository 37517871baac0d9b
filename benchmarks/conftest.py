"""Shared set-up of the benchmark suites: one BLAS thread, seeded data, gap recording.

Run with ``pytest benchmarks --benchmark-only --benchmark-json=bench.json`` and turn the JSON
into docs/benchmarks.md with ``python benchmarks/report.py bench.json``.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

# The suites import their shared helpers from benchutil.py beside this file.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    """Pin BLAS to one thread: figures stay comparable on a shared 2-core machine."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def machine() -> str:
    return f"{platform.machine()} {platform.processor() or ''} Python {platform.python_version()}".strip()
