"""Batchnorm setting: the SVD closed form vs its reduced CVXPY dual, and high-dimensional ReLU-BN.

Target (linear BN, n = 5000, d = 100): the whole certified solve under 1 s on one BLAS thread
(benchmarks/conftest.py pins BLAS to one thread with threadpoolctl). Every run records the
relative duality gap it reached in ``benchmark.extra_info``; the group's floor is the one SVD
of the centered data. The setting caches that SVD between check, fit and certificate; every
timed round starts from an empty cache, so rounds measure a fresh solve.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from benchutil import assert_certified, assert_value, gaussian, record

import dualnet as dn
from dualnet.settings import batchnorm

SIZES = [(1000, 100), (5000, 100)]
K = 3
BETA = 50.0


@pytest.mark.parametrize("n,d", SIZES)
def test_decomposition(benchmark, n, d):
    X, _ = gaussian(n, d, K)
    benchmark.group = f"batchnorm linear n={n} d={d} K={K}"
    benchmark.extra_info.update(kind="decomposition")
    basis = benchmark(batchnorm._compute_basis, X, 2, "linear")
    Xc = X - X.mean(axis=0)                  # the SVD of the centered data, the setting's floor
    np.testing.assert_allclose(basis.s, np.linalg.svd(Xc, compute_uv=False)[: basis.s.size], rtol=1e-8)


@pytest.mark.parametrize("n,d", SIZES)
def test_closed_form(benchmark, n, d):
    X, Y = gaussian(n, d, K)
    benchmark.group = f"batchnorm linear n={n} d={d} K={K}"
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=dict(beta=BETA, batchnorm=True, activation="linear"),
                             setup=batchnorm._CACHE.clear, rounds=10, iterations=1)
    record(benchmark, sol, kind="closed form (certified solve)")
    assert sol.certified


@pytest.mark.parametrize("solver", ["CLARABEL", "ECOS", "SCS"])
@pytest.mark.parametrize("n,d", SIZES)
def test_reduced_cvxpy(benchmark, n, d, solver):
    if solver == "ECOS":
        pytest.skip("ECOS has no semidefinite cone (K > 1 needs a spectral-norm constraint)")
    X, Y = gaussian(n, d, K)
    benchmark.group = f"batchnorm linear n={n} d={d} K={K}"
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=dict(beta=BETA, batchnorm=True, activation="linear",
                                                                 method="cvxpy", solver=solver),
                             setup=batchnorm._CACHE.clear, rounds=3, iterations=1)
    record(benchmark, sol, kind=f"reduced cvxpy {solver}")
    assert_certified(sol, solver)
    assert_value(sol.value, dn.solve(X, Y, beta=BETA, batchnorm=True, activation="linear").value, Y, solver)


def _naive_program(X: np.ndarray, Y: np.ndarray, beta: float) -> cp.Problem:
    """The dual on the raw centered data, U ∈ R^{n×K}: what a user would type first (docs/settings/batchnorm.md#branch-set).

    ρ(U) = √n‖QᵀU‖₂ with Q an orthonormal basis of span(X_c, 1); for X_c of full column
    rank, Q₀ᵀU = L⁻¹X_cᵀU with X_cᵀX_c = LLᵀ, so the constraint is written on X_c directly.
    """
    n = X.shape[0]
    Xc = X - X.mean(axis=0)
    M = np.linalg.solve(np.linalg.cholesky(Xc.T @ Xc), Xc.T)      # L⁻¹X_cᵀ, d×n dense
    U = cp.Variable(Y.shape)
    coords = cp.vstack([M @ U, cp.sum(U, axis=0, keepdims=True) / np.sqrt(n)])
    return cp.Problem(cp.Maximize(-0.5 * cp.sum_squares(U - Y) + 0.5 * float(np.sum(Y * Y))),
                      [np.sqrt(n) * cp.sigma_max(coords) <= beta])


@pytest.mark.parametrize("solver", ["CLARABEL", "ECOS", "SCS"])
@pytest.mark.parametrize("n,d", SIZES[:1])   # n×K variables and an (d+1+K)-sized cone: n = 1000 only
def test_naive_cvxpy(benchmark, n, d, solver):
    if solver == "ECOS":
        pytest.skip("ECOS has no semidefinite cone (K > 1 needs a spectral-norm constraint)")
    X, Y = gaussian(n, d, K)
    benchmark.group = f"batchnorm linear n={n} d={d} K={K}"

    def run():
        prob = _naive_program(X, Y, BETA)
        prob.solve(solver=solver)
        return prob

    prob = benchmark.pedantic(run, rounds=1, iterations=1)
    exact = dn.solve(X, Y, beta=BETA, batchnorm=True, activation="linear")
    p0 = 0.5 * float(np.sum(Y * Y))
    benchmark.extra_info.update(kind=f"naive cvxpy {solver}", rel_gap=abs(exact.value - prob.value) / p0,
                                value=float(prob.value))
    assert exact.certified
    assert_value(float(prob.value), exact.value, Y, solver)


@pytest.mark.parametrize("n,d,classes", [(500, 1000, 10)])
def test_relu_high_dimensional(benchmark, n, d, classes):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    Y = np.eye(classes)[np.arange(n) % classes]
    benchmark.group = f"batchnorm relu n={n} d={d} K={classes}"
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=dict(beta=1.0, batchnorm=True),
                             setup=batchnorm._CACHE.clear, rounds=5, iterations=1)
    record(benchmark, sol, kind="closed form (one-hot, certified solve)")
    assert sol.certified
