"""Whitened deep ReLU setting: closed form vs the CVXPY dual, one-hot labels (docs/settings/whitened.md).

Target: the certified closed-form solve under 1 s at n = 2000, d = 4000, K = 10. Its floor is
verifying X Xᵀ = I (one n×n Gram matrix, O(n²d)); every timed round starts with an empty
cache, so the check is paid each time, as a user passing a fresh array pays it.

A second, small group (scalar labels) adds the naive row: the exact two-layer ReLU program
(setting="relu-two-layer") on the same whitened data. It is exact but ignores X Xᵀ = I, and its
arrangement enumeration grows fast with n (n = 8, d = 12 already took about 6 minutes), so the
group uses n = 6, d = 10.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchutil import assert_certified, assert_value, fresh_solve

import dualnet as dn
from dualnet.datasets import make_whitened
from dualnet.settings import whitened

SMALL_N, SMALL_D, SMALL_BETA = 6, 10, 0.5
SMALL_GROUP = f"whitened scalar n={SMALL_N} d={SMALL_D} K=1"

N, D, K = 2000, 4000, 10
BETA = 5.0
GROUP = f"whitened one-hot n={N} d={D} K={K}"


@pytest.fixture(scope="module")
def data():
    return make_whitened(N, D, n_classes=K, seed=0)


def test_decomposition(benchmark, data):
    X, _ = data
    benchmark.group = GROUP
    benchmark.extra_info.update(kind="decomposition")
    G = benchmark.pedantic(lambda: X @ X.T, rounds=3, iterations=1)
    np.testing.assert_allclose(G, np.eye(X.shape[0]), atol=1e-10)      # whitened: X Xᵀ = I


@pytest.mark.parametrize("depth,t", [(2, None), (3, 1.0)])
def test_closed_form(benchmark, data, depth, t):
    X, Y = data
    benchmark.group = GROUP
    sol = fresh_solve(benchmark, X, Y, rounds=3, kind=f"closed form, depth {depth}" + ("" if t is None else f", t={t}"),
                      beta=BETA, depth=depth, t=t, setting="relu-whitened", method="closed-form")
    assert sol.certified


def test_closed_form_formula_only(benchmark, data):
    X, Y = data
    benchmark.group = GROUP
    benchmark.extra_info.update(kind="closed-form formula (U, F) alone")
    U, F = benchmark(whitened.closed_form, X, Y, BETA)
    np.testing.assert_allclose(U + F, Y, atol=1e-12)                     # U* = Y − F* (docs/settings/whitened.md#closed-forms)


@pytest.mark.parametrize("solver", ["CLARABEL", "ECOS", "SCS"])
def test_cvxpy(benchmark, data, solver):
    # One-hot, squared loss: the constraints are row norms ‖R_k‖ ≤ β_t (second-order cones), so ECOS applies.
    X, Y = data
    benchmark.group = GROUP
    sol = fresh_solve(benchmark, X, Y, rounds=1, kind=f"cvxpy {solver}",
                      beta=BETA, setting="relu-whitened", method="cvxpy", solver=solver)
    assert_certified(sol, solver)
    assert_value(sol.value, dn.solve(X, Y, beta=BETA, setting="relu-whitened").value, Y, solver)


@pytest.fixture(scope="module")
def small():
    return make_whitened(SMALL_N, SMALL_D, seed=0)


def test_small_decomposition(benchmark, small):
    X, _ = small
    benchmark.group = SMALL_GROUP
    benchmark.extra_info.update(kind="decomposition")
    G = benchmark(lambda: X @ X.T)
    np.testing.assert_allclose(G, np.eye(X.shape[0]), atol=1e-10)


def test_small_closed_form(benchmark, small):
    X, y = small
    benchmark.group = SMALL_GROUP
    sol = fresh_solve(benchmark, X, y, rounds=20, kind="closed form, depth 2",
                      beta=SMALL_BETA, setting="relu-whitened", method="closed-form")
    assert sol.certified


@pytest.mark.parametrize("solver", ["CLARABEL", "ECOS", "SCS"])
def test_small_cvxpy(benchmark, small, solver):
    # Scalar labels: ‖u₊‖ ≤ β_t and ‖u₋‖ ≤ β_t are second-order cones, so ECOS applies.
    X, y = small
    benchmark.group = SMALL_GROUP
    sol = fresh_solve(benchmark, X, y, rounds=5, kind=f"cvxpy {solver}",
                      beta=SMALL_BETA, setting="relu-whitened", method="cvxpy", solver=solver)
    assert_certified(sol, solver)
    assert_value(sol.value, dn.solve(X, y, beta=SMALL_BETA, setting="relu-whitened").value, y, solver)


def test_small_naive_two_layer(benchmark, small):
    X, y = small
    benchmark.group = SMALL_GROUP
    sol = fresh_solve(benchmark, X, y, rounds=1, kind="naive: generic two-layer ReLU program",
                      beta=SMALL_BETA, setting="relu-two-layer")
    assert_certified(sol)
    assert_value(sol.value, dn.solve(X, y, beta=SMALL_BETA, setting="relu-whitened").value, y)
