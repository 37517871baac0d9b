"""Rank-one deep ReLU setting: closed form vs its CVXPY dual (each solver) vs the generic two-layer program.

Data X = c a0ᵀ with c ≥ 0 (dualnet.datasets.make_rank_one), n = 2000, d = 200, one output. The
floor is the rank-one factorization of X (dualnet.settings.rank_one.factor); the factors are
cached in dualnet.linalg, so every timed round starts from an empty cache. The naive row is
the exact two-layer ReLU program (setting="relu-two-layer", depth 2) on the same data: exact,
but blind to the rank-one structure.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchutil import assert_certified, assert_value, fresh_solve

import dualnet as dn
from dualnet import linalg
from dualnet.datasets import make_rank_one
from dualnet.settings import rank_one

N, D = 2000, 200
BETA = 1.0
GROUP = f"rank-one n={N} d={D} K=1"


@pytest.fixture(scope="module")
def data():
    return make_rank_one(N, D, seed=0)


def test_decomposition(benchmark, data):
    X, _ = data
    benchmark.group = GROUP
    benchmark.extra_info.update(kind="decomposition")
    factors = benchmark.pedantic(rank_one.factor, args=(X,), setup=linalg._CACHE.clear, rounds=5, iterations=1)
    assert factors.residual <= 1e-10 * np.linalg.norm(X)            # rank-one data: exact factors


@pytest.mark.parametrize("depth,t", [(2, None), (3, 1.0)])
def test_closed_form(benchmark, data, depth, t):
    X, y = data
    benchmark.group = GROUP
    sol = fresh_solve(benchmark, X, y, rounds=5, kind=f"closed form, depth {depth}" + ("" if t is None else f", t={t}"),
                      beta=BETA, depth=depth, t=t, setting="relu-rank-one", method="closed-form")
    assert sol.certified


@pytest.mark.parametrize("solver", ["CLARABEL", "ECOS", "SCS"])
def test_cvxpy(benchmark, data, solver):
    # One output: the dual constraint ‖a0‖|r| ≤ β is a slab (second-order cone), so ECOS applies.
    X, y = data
    benchmark.group = GROUP
    sol = fresh_solve(benchmark, X, y, rounds=3, kind=f"cvxpy {solver}",
                      beta=BETA, setting="relu-rank-one", method="cvxpy", solver=solver)
    assert_certified(sol, solver)
    assert_value(sol.value, _closed_form(X, y).value, y, solver)


def test_naive_two_layer(benchmark, data):
    X, y = data
    benchmark.group = GROUP
    sol = fresh_solve(benchmark, X, y, rounds=1, kind="naive: generic two-layer ReLU program (depth 2)",
                      beta=BETA, setting="relu-two-layer")
    assert_certified(sol)
    assert_value(sol.value, _closed_form(X, y).value, y)


def _closed_form(X, y):
    """The certified closed-form optimum at depth 2 (the reference the timed solves must reach)."""
    return dn.solve(X, y, beta=BETA, setting="relu-rank-one", method="closed-form")
