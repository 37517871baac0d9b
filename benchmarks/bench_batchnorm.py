"""Batchnorm setting: the SVD closed form vs its reduced CVXPY dual, and high-dimensional ReLU-BN.

Target (linear BN, n = 5000, d = 100): the whole certified solve under 1 s on one BLAS thread
(benchmarks/conftest.py pins BLAS to one thread with threadpoolctl). Every run records the
relative duality gap it reached in ``benchmark.extra_info``; the group's floor is the one SVD
of the centered data. The setting caches that SVD between check, fit and certificate; every
timed round starts from an empty cache, so rounds measure a fresh solve.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchutil import gaussian, record

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
    benchmark(batchnorm._compute_basis, X, 2, "linear")


@pytest.mark.parametrize("n,d", SIZES)
def test_closed_form(benchmark, n, d):
    X, Y = gaussian(n, d, K)
    benchmark.group = f"batchnorm linear n={n} d={d} K={K}"
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=dict(beta=BETA, batchnorm=True, activation="linear"),
                             setup=batchnorm._CACHE.clear, rounds=10, iterations=1)
    record(benchmark, sol, kind="closed form (certified solve)", under_1s=bool(benchmark.stats.stats.mean < 1.0))
    assert sol.certified


@pytest.mark.parametrize("n,d", SIZES)
def test_reduced_cvxpy(benchmark, n, d):
    X, Y = gaussian(n, d, K)
    benchmark.group = f"batchnorm linear n={n} d={d} K={K}"
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=dict(beta=BETA, batchnorm=True, activation="linear",
                                                                 method="cvxpy", solver="CLARABEL"),
                             setup=batchnorm._CACHE.clear, rounds=3, iterations=1)
    record(benchmark, sol, kind="reduced cvxpy CLARABEL")


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
