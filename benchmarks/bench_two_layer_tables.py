"""Two-layer ReLU on ordinary tables: the default solve against training, and proven bounds by rank.

Every record carries the value reached, the proven lower bound and the relative gap, beside
the time. Ratios are measured in the same run as what they divide by:

* diabetes (scikit-learn, standardized, n = 442, d = 10), β ∈ {1, 20}: the default
  ``dn.solve`` against one L-BFGS training of a width-100 network (the median of 5 seeded
  runs), at a value no worse than the best of those 5 trainings (+1e-4·P(0));
* rank 3, n = 60 (the smoke case) and n = 2000: certified (relative gap ≤ 1e-6) within 60 s by branch and bound
  (and n = 2000 by the default call, whose budget is at most 180 s, within 60 s of CPU);
* rank 5, n = 200: a proven relative gap ≤ 1e-3 within 120 s;
* n = 20 000, d = 50: the default solve against 2 000 Adam steps on a width-200 network
  (PyTorch), at a value no worse than Adam's, with its peak memory.
"""

from __future__ import annotations

import os
import resource
import time
import warnings
from functools import cache

import numpy as np
import pytest

import dualnet as dn
from dualnet.losses import get_loss
from dualnet.train import train


def _record(benchmark, sol, seconds: float, **extra) -> None:
    benchmark.extra_info.update(kind=extra.pop("kind", "dn.solve"), value=float(sol.value),
                                lower_bound=float(sol.lower_bound), rel_gap=float(sol.rel_gap),
                                certified=bool(sol.certified), exact=bool(sol.proven), seconds=seconds,
                                method=sol.method, **extra)


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


@cache
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_diabetes(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()


@cache
def trainings(beta: float) -> tuple[float, float]:
    """(median seconds, best objective) of 5 seeded L-BFGS trainings of a width-100 network."""
    X, y = diabetes()
    runs = [_timed(train, X, y, beta=beta, width=100, seed=s, max_iter=3000) for s in range(5)]
    return float(np.median([t for _, t in runs])), min(net.objective(X, y, beta) for net, _ in runs)


@pytest.mark.long_benchmark          # minutes: five trainings and a default solve per beta
@pytest.mark.parametrize("beta", [20.0, 1.0])
def test_diabetes_default_solve(benchmark, beta: float) -> None:
    X, y = diabetes()
    t_train, best = trainings(beta)
    benchmark.group = f"two-layer diabetes beta={beta:g}"
    sol, seconds = benchmark.pedantic(_timed, args=(dn.solve, X, y), kwargs=dict(beta=beta, progress=False),
                                      rounds=1, iterations=1)
    p0 = get_loss("squared").zero_value(y[:, None])
    _record(benchmark, sol, seconds, ratio_to_lbfgs=seconds / t_train, lbfgs_seconds=t_train, lbfgs_best=best)
    assert sol.lower_bound <= best + 1e-9 * best                     # training never beats a proof
    assert sol.value <= best + 1e-4 * p0, (sol.value, best)


def _low_rank(n: int, r: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, r)) @ rng.standard_normal((r, 2 * r))
    y = np.maximum(X @ rng.standard_normal(2 * r), 0.0) - np.maximum(X @ rng.standard_normal(2 * r), 0.0)
    y = y + 0.3 * rng.standard_normal(n)
    return X / X.std(0), (y - y.mean()) / y.std()


@pytest.mark.parametrize("n, r, limit, target", [(60, 3, 20.0, 1e-6), (200, 5, 120.0, 1e-3), (2000, 3, 60.0, 1e-6)])
def test_proven_gap_by_rank(benchmark, n: int, r: int, limit: float, target: float) -> None:
    X, y = _low_rank(n, r, seed=r)
    benchmark.group = f"two-layer rank {r} n={n}: proven gap"
    cpu = time.process_time()
    sol, seconds = benchmark.pedantic(_timed, args=(dn.solve, X, y),
                                      kwargs=dict(beta=0.05 * np.sqrt(n), time_limit=limit, progress=False),
                                      rounds=1, iterations=1)
    # CPU seconds and the load beside the wall time: time_limit is wall time, and on a shared
    # machine the CPU the search got decides how far the proof went.
    _record(benchmark, sol, seconds, time_limit=limit, target=target, cpu_seconds=time.process_time() - cpu,
            load=os.getloadavg()[0])
    assert seconds <= 1.2 * limit + 2.0
    assert sol.rel_gap <= target, sol.reason


@pytest.mark.long_benchmark          # a minute or more: 40 s of CPU, 1-3 min on 2 busy cores
def test_rank3_default_budget(benchmark) -> None:
    """Rank 3, n = 2000 with the default call (no time_limit): certified within 60 s of CPU.

    Its wall-clock budget is 180 s (DEFAULT_PROOF_TIME: branch and bound backs the oracle).
    Measured (docs/benchmarks.md): certified, gap 4e-8, 5 rounds, 31-38 s of CPU (31 s of wall
    clock quiet, 70 s at load 4).
    """
    X, y = _low_rank(2000, 3, seed=3)
    benchmark.group = "two-layer rank 3 n=2000: proven gap"
    cpu = time.process_time()
    sol, seconds = benchmark.pedantic(_timed, args=(dn.solve, X, y), kwargs=dict(beta=0.05 * np.sqrt(2000),
                                                                                progress=False),
                                      rounds=1, iterations=1)
    cpu = time.process_time() - cpu            # the goal's 60 s, as CPU: wall time on shared cores is 2-4x that
    _record(benchmark, sol, seconds, time_limit="default", target=1e-6, cpu_seconds=cpu)
    assert seconds <= 1.2 * 180.0 + 2.0           # DEFAULT_PROOF_TIME of the two-layer setting
    assert sol.certified, sol.reason
    assert cpu <= 60.0, cpu


def _adam(X: np.ndarray, y: np.ndarray, beta: float, width: int, steps: int) -> float:
    """Objective reached by full-batch Adam on the same weight-decay objective (PyTorch)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch.set_num_threads(1)          # one thread, as BLAS is for dualnet (threadpoolctl does not reach torch's pool)
    Xt, yt = torch.tensor(X), torch.tensor(y)[:, None]
    W1 = (torch.randn(X.shape[1], width, dtype=torch.float64) / np.sqrt(X.shape[1])).requires_grad_()
    W2 = (torch.randn(width, 1, dtype=torch.float64) / np.sqrt(width)).requires_grad_()
    opt = torch.optim.Adam([W1, W2], lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        obj = 0.5 * ((torch.relu(Xt @ W1) @ W2 - yt) ** 2).sum() + 0.5 * beta * ((W1 ** 2).sum() + (W2 ** 2).sum())
        obj.backward()
        opt.step()
    return float(obj.detach())


@pytest.mark.long_benchmark          # minutes: n = 20 000
def test_large_table_against_adam(benchmark) -> None:
    rng = np.random.default_rng(7)
    n, d, beta = 20_000, 50, 20.0
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 8)), 0.0) @ rng.standard_normal(8) + rng.standard_normal(n)
    y = (y - y.mean()) / y.std()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adam_value, adam_seconds = _timed(_adam, X, y, beta, 200, 2000)
    benchmark.group = f"two-layer n={n} d={d}"
    sol, seconds = benchmark.pedantic(_timed, args=(dn.solve, X, y), kwargs=dict(beta=beta, progress=False),
                                      rounds=1, iterations=1)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    _record(benchmark, sol, seconds, adam_value=adam_value, adam_seconds=adam_seconds,
            ratio_to_adam=seconds / adam_seconds, peak_rss_gb=peak_gb)
    assert sol.value <= adam_value * (1 + 1e-6)
    assert seconds <= adam_seconds
    assert peak_gb <= 4.0
