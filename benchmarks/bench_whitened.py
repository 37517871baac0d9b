"""Whitened deep ReLU setting: closed form vs the CVXPY dual, one-hot labels (MATH §5).

Target: the certified closed-form solve under 1 s at n = 2000, d = 4000, K = 10. Its floor is
verifying X Xᵀ = I (one n×n Gram matrix, O(n²d)); every timed round starts with an empty
cache, so the check is paid each time, as a user passing a fresh array pays it.
"""

from __future__ import annotations

import pytest
from benchutil import record

import dualnet as dn
from dualnet import linalg
from dualnet.datasets import make_whitened
from dualnet.settings import whitened

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
    benchmark.pedantic(lambda: X @ X.T, rounds=3, iterations=1)


@pytest.mark.parametrize("depth,t", [(2, None), (3, 1.0)])
def test_closed_form(benchmark, data, depth, t):
    X, Y = data
    benchmark.group = GROUP
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=dict(beta=BETA, depth=depth, t=t, setting="relu-whitened",
                                                                 method="closed-form"),
                             setup=linalg._CACHE.clear, rounds=3, iterations=1)
    record(benchmark, sol, kind=f"closed form, depth {depth}" + ("" if t is None else f", t={t}"))
    assert sol.certified


def test_closed_form_formula_only(benchmark, data):
    X, Y = data
    benchmark.group = GROUP
    benchmark.extra_info.update(kind="closed-form formula (U, F) alone")
    benchmark(whitened.closed_form, X, Y, BETA)


@pytest.mark.parametrize("solver", ["CLARABEL", "SCS"])
def test_cvxpy(benchmark, data, solver):
    X, Y = data
    benchmark.group = GROUP
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=dict(beta=BETA, setting="relu-whitened", method="cvxpy",
                                                                 solver=solver),
                             setup=linalg._CACHE.clear, rounds=1, iterations=1)
    record(benchmark, sol, kind=f"cvxpy {solver}")
