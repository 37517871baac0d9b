"""Two-layer ReLU networks on ordinary tables: time budgets, interruption, and bounds that are proofs.

Oracles: wall-clock time against ``time_limit``; non-convex L-BFGS training of wide
networks from many starts, which must never end below a proven lower bound.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import dualnet as dn
from dualnet.settings.two_layer import cutting


def _table(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A standardized random table with a nonlinear target (rank d: no pattern enumeration beyond d = 3)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d), 0.0) - np.maximum(X @ rng.standard_normal(d), 0.0)
    y += 0.3 * rng.standard_normal(n)
    return X, (y - y.mean()) / y.std()


@pytest.mark.parametrize("limit", [2.0, 5.0])
def test_time_limit_is_honoured(limit: float) -> None:
    """The whole call (seeding, masters, oracle, certificate) returns within 20 % + 2 s of time_limit."""
    X, y = _table(300, 10, seed=0)
    start = time.perf_counter()
    sol = dn.solve(X, y, beta=0.5, time_limit=limit)
    elapsed = time.perf_counter() - start
    assert elapsed <= 1.2 * limit + 2.0, elapsed
    assert np.isfinite(sol.value) and sol.lower_bound <= sol.value
    if not sol.certified:
        assert sol.reason


def test_ctrl_c_returns_the_last_complete_master(monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupt after the first iteration returns that iteration's network, and says so."""
    X, y = _table(40, 3, seed=1)
    real, calls = cutting._cutting_oracle, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cutting, "_cutting_oracle", interrupted)
    sol = dn.solve(X, y, beta=0.05, train_iter=3)
    assert "interrupted" in sol.reason
    assert len(sol.info["iterations"]) == 1
    assert sol.value == pytest.approx(sol.info["iterations"][0]["value"], rel=1e-6)
    assert sol.lower_bound <= sol.value


def test_ctrl_c_before_any_master_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _table(30, 3, seed=2)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cutting, "_master", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dn.solve(X, y, beta=0.1, train_iter=3)


@pytest.mark.slow      # ten L-BFGS trainings of a width-100 network and a 15 s solve on each of three tables
@pytest.mark.parametrize("n, d, beta, seed", [(50, 5, 0.3, 3), (150, 12, 1.0, 4), (300, 20, 2.0, 5)])
def test_training_never_beats_the_proven_bound(n: int, d: int, beta: float, seed: int,
                                               trained_values) -> None:
    X, y = _table(n, d, seed)
    sol = dn.solve(X, y, beta=beta, time_limit=15)
    trained = trained_values(X, y, seeds=tuple(range(10)), beta=beta, width=100, max_iter=1000)
    assert trained.min() >= sol.lower_bound - 1e-9 * max(1.0, sol.value)
    # The solve's own network is a training-quality answer too (it is not a bound; 1 % of P(0)
    # because 15 s is a short budget for the cutting plane at rank 20).
    assert sol.value <= trained.min() + 1e-2 * float(np.sum(y**2)) / 2


@pytest.mark.slow      # scikit-learn's diabetes table, the case that once ended in an IndexError
def test_diabetes_max_iter_3_returns_a_result() -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_diabetes(return_X_y=True)
    X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    sol = dn.solve(X, y, beta=1.0, max_iter=3, time_limit=40)
    assert np.isfinite(sol.value) and sol.lower_bound <= sol.value
    assert len(sol.info["iterations"]) <= 3


def test_default_budget_is_tied_to_the_seeding_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without time_limit an inexact oracle gets a multiple of one training's time, clipped, certificate included.

    The answer is never worse than the seeding trainings: the program over their patterns holds
    each of them, and every candidate network is compared by its own objective.
    """
    two_layer = pytest.importorskip("dualnet.settings.two_layer")
    monkeypatch.setattr(two_layer, "DEFAULT_MIN_TIME", 3.0)
    monkeypatch.setattr(two_layer, "DEFAULT_MAX_TIME", 3.0)      # the clip decides: a 3 s call
    X, y = _table(120, 6, seed=6)
    start = time.perf_counter()
    sol = dn.solve(X, y, beta=0.5, progress=False)
    elapsed = time.perf_counter() - start
    assert elapsed <= 1.2 * 3.0 + 2.0, elapsed
    assert 1 <= sol.info["seeding"]["runs"] <= 3
    assert sol.value <= min(sol.info["seeding"]["values"]) + 1e-12
    assert sol.lower_bound <= sol.value and not sol.certified


def test_the_pattern_bound_is_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One count of the arrangement serves fit (seeding, master) and the certificate (candidates, reason)."""
    two_layer = pytest.importorskip("dualnet.settings.two_layer")
    real, calls = two_layer._rank_and_pattern_bound, []

    def counted(X):
        calls.append(1)
        return real(X)

    monkeypatch.setattr(two_layer, "_rank_and_pattern_bound", counted)
    X, y = _table(60, 5, seed=7)
    sol = dn.solve(X, y, beta=0.5, time_limit=2.0, progress=False)
    assert sol.reason and len(calls) == 1


def test_a_trained_network_is_a_point_of_the_program_over_its_patterns() -> None:
    """The warm start of the first master: the groups of a trained network cost at most its objective."""
    from dualnet.losses import get_loss
    from dualnet.settings.two_layer.program import _design, _network_from_program
    from dualnet.train import train

    X, y = _table(80, 5, seed=8)
    net = train(X, y, beta=0.3, width=20, seed=0, max_iter=200)
    geo, A = _design(X, False)
    D = cutting.neuron_patterns([net], X)
    start = cutting._as_start(geo, A, D, net, False, get_loss("squared").zero_value(y[:, None]))
    again = _network_from_program(geo, start.V, start.W)
    np.testing.assert_allclose(again.forward(X), net.forward(X), atol=1e-9)        # the same function
    assert again.objective(X, y, 0.3) <= net.objective(X, y, 0.3) + 1e-9        # at no higher weight decay
