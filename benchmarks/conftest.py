"""Shared set-up of the benchmark suites: one BLAS thread, seeded data, gap recording.

Run with ``pytest benchmarks --benchmark-only --benchmark-json=bench.json`` and turn the JSON
into docs/benchmarks.md with ``python benchmarks/report.py bench.json``.

With ``DUALNET_BENCH_SMOKE=1`` only the first (smallest) case of each benchmark is collected:
tests/test_benchmarks.py runs those once, untimed, in every test run, so the suites cannot rot
unnoticed.
"""

from __future__ import annotations

import os
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Smoke mode: the first case of every benchmark function (each lists its smallest first).

    Cases marked ``long_benchmark`` (minutes even at their one size) are left out.
    """
    if not os.environ.get("DUALNET_BENCH_SMOKE"):
        return
    seen: set[tuple[str, str]] = set()
    kept = []
    for item in items:
        key = (str(item.path), getattr(item, "originalname", item.name))
        if key not in seen and item.get_closest_marker("long_benchmark") is None:
            seen.add(key)
            kept.append(item)
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept
