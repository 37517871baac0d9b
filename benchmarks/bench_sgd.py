"""dualnet's certified solve vs PyTorch training (Adam, SGD) of the same weight-decay objective.

One small-to-medium problem per setting. PyTorch minimizes exactly dualnet's objective
(½ squared loss summed over samples + (β/2)Σ‖W‖²_F on weights, biases unpenalized; with
batchnorm dualnet's train-mode BN, ε = 0, penalty (β/2)(γ² + α² + ‖W_L‖²), docs/settings/batchnorm.md#setting) in
float64, full batch, on one CPU thread, from a fixed seed, for a fixed number of steps. Each
training row records ``time_to_1e-3`` (seconds until the objective came within 1e-3·P(0) of
the certified optimum, null if never), ``stalled_rel_gap`` ((final objective − optimum)/P(0))
and ``value`` (final objective). The whole training run is timed once (rounds=1).
"""

from __future__ import annotations

import math
import time
from functools import cache

import numpy as np
import pytest
from benchutil import assert_certified, gaussian, record

import dualnet as dn
from dualnet.datasets import make_rank_one, make_whitened

torch = pytest.importorskip("torch")

STEPS = 2000


def _sine(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, n))
    return x[:, None], np.sin(3 * x) + 0.3 * rng.standard_normal(n)


def _planted(n: int = 100, d: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.maximum(X @ rng.standard_normal((d, 5)), 0.0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)


# name -> (data, dn.solve keywords, PyTorch hidden width)
PROBLEMS = {
    "linear depth 3 n=1000 d=50 K=1": (lambda: gaussian(1000, 50, 1),
                                       dict(depth=3, beta=50 * math.sqrt(1000 / 5000), activation="linear"), 16),
    "relu-rank-one depth 3 n=200 d=10": (lambda: make_rank_one(200, 10), dict(depth=3, beta=0.5), 16),
    "relu-whitened one-hot depth 2 n=200 d=400 K=5": (lambda: make_whitened(200, 400, n_classes=5),
                                                      dict(depth=2, beta=0.5), 32),
    "relu-1d depth 2 bias n=200": (_sine, dict(depth=2, beta=0.1, bias=True), 100),
    "batchnorm linear depth 2 n=1000 d=50 K=3": (lambda: gaussian(1000, 50, 3),
                                                 dict(depth=2, beta=50.0, batchnorm=True, activation="linear"), 16),
    "relu-two-layer n=100 d=2": (_planted, dict(depth=2, beta=1.0), 100),
}


@cache
def _problem(name: str) -> tuple[np.ndarray, np.ndarray, dict, int]:
    make, kwargs, width = PROBLEMS[name]
    X, y = make()
    return X, (y[:, None] if y.ndim == 1 else y), kwargs, width


@cache
def _certified(name: str):
    X, Y, kwargs, _ = _problem(name)
    return dn.solve(X, Y, **kwargs)


class _Net(torch.nn.Module):
    """An MLP with dualnet's conventions (optionally train-mode BN before the last activation)."""

    def __init__(self, d: int, K: int, width: int, depth: int, relu: bool, bias: bool, batchnorm: bool):
        super().__init__()
        sizes = [d] + [width] * (depth - 1) + [K]
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b, bias=bias) for a, b in zip(sizes, sizes[1:]))
        self.relu, self.batchnorm = relu, batchnorm
        if batchnorm:
            self.gamma = torch.nn.Parameter(torch.ones(width))
            self.alpha = torch.nn.Parameter(torch.zeros(width))

    def forward(self, X):
        A = X
        for l, layer in enumerate(self.layers[:-1]):
            Z = layer(A)
            if self.batchnorm and l == len(self.layers) - 2:
                Zc = Z - Z.mean(0)
                # γ·√n·P⊥z/‖P⊥z‖ + α (bn_scale="std", ε = 0 as in dualnet.network).
                Z = self.gamma * math.sqrt(Z.shape[0]) * Zc / Zc.norm(dim=0) + self.alpha
            A = torch.relu(Z) if self.relu else Z
        return self.layers[-1](A)

    def penalty(self):
        if self.batchnorm:   # layers before BN are scale-invariant: their weight decay's infimum is 0
            return (self.gamma ** 2).sum() + (self.alpha ** 2).sum() + (self.layers[-1].weight ** 2).sum()
        return sum((layer.weight ** 2).sum() for layer in self.layers)


def _train(name: str, optimizer: str) -> tuple[list[tuple[float, float]], float]:
    """Full-batch training for STEPS steps; returns the (seconds, objective) trace and the final objective."""
    X, Y, kwargs, width = _problem(name)
    torch.manual_seed(0)
    net = _Net(X.shape[1], Y.shape[1], width, kwargs["depth"], kwargs.get("activation", "relu") == "relu",
               kwargs.get("bias", False), kwargs.get("batchnorm", False)).double()
    Xt, Yt, beta = torch.from_numpy(X), torch.from_numpy(Y), kwargs["beta"]
    if optimizer == "Adam":
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    else:
        # Step size from the data's curvature scale (sum-of-squares loss grows with ‖X‖²).
        lr = 0.05 / (np.linalg.norm(X, 2) ** 2 + beta)
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)

    def objective():
        return 0.5 * ((net(Xt) - Yt) ** 2).sum() + 0.5 * beta * net.penalty()

    trace, start = [], time.perf_counter()
    for _ in range(STEPS):
        opt.zero_grad()
        obj = objective()
        obj.backward()
        opt.step()
        trace.append((time.perf_counter() - start, float(obj.detach())))
    with torch.no_grad():
        final = float(objective())
    trace.append((time.perf_counter() - start, final))
    return trace, final


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_dualnet(benchmark, name):
    X, Y, kwargs, _ = _problem(name)
    benchmark.group = f"vs SGD: {name}"
    sol = benchmark.pedantic(dn.solve, args=(X, Y), kwargs=kwargs, rounds=3, iterations=1)
    record(benchmark, sol, kind="dualnet solve")
    assert_certified(sol)


@pytest.mark.parametrize("optimizer", ["Adam", "SGD"])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_torch(benchmark, name, optimizer):
    torch.set_num_threads(1)
    benchmark.group = f"vs SGD: {name}"
    X, Y, _, _ = _problem(name)
    sol = _certified(name)
    p0 = 0.5 * float(np.sum(Y * Y))
    trace, final = benchmark.pedantic(_train, args=(name, optimizer), rounds=1, iterations=1)
    reached = next((t for t, obj in trace if obj - sol.value <= 1e-3 * p0), None)
    finite = math.isfinite(final)   # SGD may diverge; JSON has no NaN, so record null
    benchmark.extra_info.update(kind=f"PyTorch {optimizer}", steps=STEPS, **{"time_to_1e-3": reached},
                                stalled_rel_gap=(final - sol.value) / p0 if finite else None,
                                value=final if finite else None, certified_optimum=float(sol.value),
                                optimum_certified=bool(sol.certified))
    assert_certified(sol)
    # No optimizer can go below a certified global optimum (up to its certified gap).
    assert not finite or final >= sol.lower_bound - 1e-9 * p0
