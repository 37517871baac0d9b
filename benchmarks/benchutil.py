"""Helpers shared by the benchmark suites."""

from __future__ import annotations

import numpy as np


def gaussian(n: int, d: int, K: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian X and Y = X W + noise, the linear benchmark problem."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, K)) + rng.standard_normal((n, K))
    return X, (Y[:, 0] if K == 1 else Y)


def record(benchmark, sol, **extra) -> None:
    """Store what the run reached next to its time."""
    benchmark.extra_info.update(rel_gap=float(sol.rel_gap), certified=bool(sol.certified), exact=bool(sol.exact),
                                value=float(sol.value), method=sol.method, **extra)
