"""Linear setting: fast path vs reduced CVXPY program (each solver) vs naive CVXPY program.

Every time is reported in docs/benchmarks.md as a ratio to the one decomposition of X (the
floor of any exact method), measured in the same run.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from benchutil import assert_certified, assert_value, gaussian, record

import dualnet as dn
from dualnet.settings.linear import reduce

SIZES = [(100, 10), (1000, 100), (5000, 500), (10000, 1000)]
BETA = 50.0


def _beta(n: int) -> float:
    return BETA * np.sqrt(n / 5000)     # keeps a few active directions at every size


@pytest.mark.parametrize("K", [1, 10])
@pytest.mark.parametrize("n,d", SIZES)
def test_decomposition(benchmark, n, d, K):
    X, _ = gaussian(n, d, K)
    benchmark.group = f"linear n={n} d={d} K={K}"
    benchmark.extra_info.update(kind="decomposition")
    red = benchmark(reduce, X)
    np.testing.assert_allclose(red.s, np.linalg.svd(X, compute_uv=False), rtol=1e-8)   # Gaussian X: full rank


@pytest.mark.parametrize("K", [1, 10])
@pytest.mark.parametrize("n,d", SIZES)
def test_fast(benchmark, n, d, K):
    X, Y = gaussian(n, d, K)
    benchmark.group = f"linear n={n} d={d} K={K}"
    sol = benchmark(dn.solve, X, Y, beta=_beta(n), activation="linear", method="fast")
    record(benchmark, sol, kind="fast")
    assert_certified(sol)


@pytest.mark.parametrize("K", [1, 10])
@pytest.mark.parametrize("n,d", SIZES[:3])
def test_path20(benchmark, n, d, K):
    X, Y = gaussian(n, d, K)
    benchmark.group = f"linear n={n} d={d} K={K}"
    betas = np.geomspace(0.1, 10, 20) * _beta(n)
    path = benchmark(dn.path, X, Y, betas, activation="linear")
    benchmark.extra_info.update(kind="path20", rel_gap=float(path.rel_gaps.max()),
                                certified=bool(path.certified.all()))
    assert path.certified.all(), [s.reason for s in path.solutions if not s.certified]


@pytest.mark.filterwarnings("ignore::dualnet.PerformanceWarning")     # timing the slow program is the point
@pytest.mark.parametrize("solver", ["CLARABEL", "ECOS", "SCS"])
@pytest.mark.parametrize("K", [1, 10])
@pytest.mark.parametrize("n,d", SIZES[:3])
def test_reduced_cvxpy(benchmark, n, d, K, solver):
    if solver == "ECOS" and K > 1:
        pytest.skip("ECOS has no semidefinite cone (K > 1 needs a spectral-norm constraint)")
    X, Y = gaussian(n, d, K)
    benchmark.group = f"linear n={n} d={d} K={K}"
    # The K = 10 semidefinite program at d = 500 takes tens of seconds per solve: one round.
    rounds = 1 if (K > 1 and d >= 500) else 3
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=dict(beta=_beta(n), activation="linear",
                                                                 method="cvxpy", solver=solver),
                             rounds=rounds, iterations=1)
    record(benchmark, sol, kind=f"reduced cvxpy {solver}")
    assert_certified(sol, solver)
    assert_value(sol.value, dn.solve(X, Y, beta=_beta(n), activation="linear", method="fast").value, Y, solver)


def _naive_program(X: np.ndarray, Y: np.ndarray, beta: float) -> cp.Problem:
    """The dual written directly on X (n×d dense data): what a user would type first."""
    U = cp.Variable(Y.shape)
    cons = cp.norm(X.T @ U[:, 0], 2) if Y.shape[1] == 1 else cp.sigma_max(X.T @ U)
    return cp.Problem(cp.Maximize(-0.5 * cp.sum_squares(U - Y) + 0.5 * float(np.sum(Y * Y))), [cons <= beta])


@pytest.mark.parametrize("solver", ["CLARABEL", "ECOS", "SCS"])
@pytest.mark.parametrize("K", [1, 10])
@pytest.mark.parametrize("n,d", SIZES[:2])   # the raw program does not finish at larger sizes
def test_naive_cvxpy(benchmark, n, d, K, solver):
    if solver == "ECOS" and K > 1:
        pytest.skip("ECOS has no semidefinite cone (K > 1 needs a spectral-norm constraint)")
    if K > 1 and d >= 100:
        pytest.skip("the raw semidefinite program at d = 100 needs a 1100x1100 cone per solve; too slow to time")
    X, Y = gaussian(n, d, K)
    Y2 = Y[:, None] if K == 1 else Y
    benchmark.group = f"linear n={n} d={d} K={K}"

    def run():
        prob = _naive_program(X, Y2, _beta(n))
        prob.solve(solver=solver)
        return prob

    prob = benchmark.pedantic(run, rounds=1, iterations=1)
    exact = dn.solve(X, Y, beta=_beta(n), activation="linear")
    p0 = 0.5 * float(np.sum(Y2 * Y2))
    benchmark.extra_info.update(kind=f"naive cvxpy {solver}", rel_gap=abs(exact.value - prob.value) / p0,
                                value=float(prob.value))
    assert exact.certified
    assert_value(float(prob.value), exact.value, Y2, solver)
