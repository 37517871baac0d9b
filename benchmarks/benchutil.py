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


def fresh_solve(benchmark, X: np.ndarray, Y: np.ndarray, *, rounds: int, kind: str, **kwargs):
    """Time ``dn.solve(X, Y, **kwargs)`` with dualnet's per-array cache emptied before each round.

    A user passing a new array pays for the setting's checks and factorizations; this measures
    that, records the gap reached under ``kind``, and returns the solution.
    """
    import dualnet as dn
    from dualnet import linalg

    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=kwargs, setup=linalg._CACHE.clear, rounds=rounds,
                             iterations=1)
    record(benchmark, sol, kind=kind)
    return sol
