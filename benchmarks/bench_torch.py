"""PyTorch networks as people train them: certify, and the warm start ``solve(init=model)``.

A width-50 ``nn.Sequential(Linear, ReLU, Linear)`` with biases, float32, trained by Adam on
``nn.MSELoss()`` with ``weight_decay`` on the weights (biases in a group without decay). Each
record carries value, proven lower bound and relative gap beside the time; the warm start is
timed against one L-BFGS training of a network of the same width (``dualnet.train``) in the
same run, and must return a network no worse than the model:

* a small table (n = 40, d = 2, the smoke case: every pattern enumerated, certified);
* diabetes (scikit-learn, standardized, n = 442, d = 10), in at most 20 L-BFGS trainings.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np
import pytest

import dualnet as dn
from dualnet.train import train

torch = pytest.importorskip("torch")
nn = torch.nn
WD = 0.02


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _small() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    return X, np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(40)


@cache
def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_diabetes(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()


def _adam_model(X: np.ndarray, y: np.ndarray, steps: int = 500) -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(X.shape[1], 50), nn.ReLU(), nn.Linear(50, 1))
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, nn.Linear)]
    opt = torch.optim.Adam([{"params": weights, "weight_decay": WD}, {"params": biases, "weight_decay": 0.0}],
                           lr=1e-2)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]
    for _ in range(steps):
        opt.zero_grad()
        nn.MSELoss()(model(Xt), yt).backward()
        opt.step()
    return model


@pytest.mark.parametrize("table", ["small", pytest.param("diabetes", marks=pytest.mark.long_benchmark)])
def test_warm_start_against_lbfgs(benchmark, table: str) -> None:
    X, y = _small() if table == "small" else _diabetes()
    model = _adam_model(X, y)
    conv = dn.beta_from_torch(WD, X.shape[0], decay_biases=False)
    _, lbfgs_seconds = _timed(train, X, y, beta=conv.beta, width=50, bias=True)
    cert, certify_seconds = _timed(dn.certify, model, X, y, weight_decay=WD, decay_biases=False)
    benchmark.group = f"torch warm start ({table})"
    sol, seconds = benchmark.pedantic(_timed, args=(dn.solve, X, y), rounds=1, iterations=1,
                                      kwargs=dict(weight_decay=WD, decay_biases=False, bias=True, init=model,
                                                  progress=False))
    benchmark.extra_info.update(value=sol.value, lower_bound=sol.lower_bound, rel_gap=sol.rel_gap,
                                certified=sol.certified, seconds=seconds, lbfgs_seconds=lbfgs_seconds,
                                ratio_to_lbfgs=seconds / lbfgs_seconds, model_value=cert.value,
                                certify_seconds=certify_seconds, certify_lower_bound=cert.lower_bound)
    assert sol.value <= cert.value * (1 + 1e-12)                 # never worse than the model
    assert cert.lower_bound <= cert.value and sol.lower_bound <= sol.value
    assert seconds <= 20 * lbfgs_seconds, (seconds, lbfgs_seconds)
    if table == "small":
        assert sol.certified, sol.reason
