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


#: Accuracy a CVXPY solver reaches on these programs, relative to P(0): CLARABEL and ECOS end
#: far inside the default tol; SCS, a first-order method, stops between 1e-7 and 1e-4
#: (docs/howto/solvers.md), so its results are checked at 1e-3 and need not be certified.
ACCURACY = {"CLARABEL": 1e-6, "ECOS": 1e-6, "SCS": 1e-3}


def p0(Y: np.ndarray) -> float:
    """Objective of the zero network under the squared loss (every benchmark problem's loss)."""
    return 0.5 * float(np.sum(np.square(Y)))


def assert_certified(sol, solver: str | None = None) -> None:
    """A timed solve must be right: certified, or (SCS) within its accuracy."""
    accuracy = ACCURACY.get(solver, 1e-6)
    if accuracy > 1e-6:
        assert sol.exact and sol.rel_gap <= accuracy, f"{solver}: rel_gap {sol.rel_gap:.3g}, {sol.reason}"
    else:
        assert sol.certified, f"not certified: {sol.reason}"


def assert_value(value: float, reference: float, Y: np.ndarray, solver: str | None = None) -> None:
    """``value`` agrees with the certified ``reference`` to the solver's accuracy (relative to P(0))."""
    accuracy = ACCURACY.get(solver, 1e-6)
    assert abs(value - reference) <= accuracy * p0(Y), (
        f"value {value!r} vs certified {reference!r}: {abs(value - reference) / p0(Y):.3g} of P(0) > {accuracy:g}")
