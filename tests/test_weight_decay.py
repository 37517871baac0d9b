"""The search over t (dualnet.weight_decay): placement of its evaluations, budget, progress.

Oracles: closed-form minima of one-dimensional functions, and for whole solves the
certificate of the result and a dense scan of the weight-decay objective along t.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import dualnet as dn
from dualnet.budget import Budget
from dualnet.weight_decay import _bound_nodes, search_t


def test_search_finds_a_smooth_minimum_in_few_evaluations() -> None:
    calls: list[float] = []

    def evaluate(t: float) -> tuple[float, float]:
        calls.append(t)
        return (math.log(t) - math.log(1.7)) ** 2 + 0.3 * (math.log(t) - math.log(1.7)) ** 4, 2 * t

    t, value, payload = search_t(evaluate, 1e-2, 1e2, n_grid=15, xtol=1e-7)
    assert t == pytest.approx(1.7, rel=1e-6)
    assert value <= 1e-12 and payload == 2 * t
    assert len(calls) <= 40                       # golden-section search alone needed 75


def test_search_refines_every_basin_and_keeps_the_best() -> None:
    # Two basins; the deeper one is narrow and sits between two grid points of higher value.
    def evaluate(t: float) -> tuple[float, None]:
        x = math.log(t)
        return min((x + 2.0) ** 2 + 0.05, 50 * (x - 1.23) ** 2), None

    t, value, _ = search_t(evaluate, math.exp(-4), math.exp(4), n_grid=15, xtol=1e-9)
    assert math.log(t) == pytest.approx(1.23, abs=1e-6)
    assert value <= 1e-10


def test_search_stops_when_the_budget_runs_out_and_reports_progress() -> None:
    calls, reports = [], []

    def evaluate(t: float) -> tuple[float, float]:
        calls.append(t)
        return (t - 1.0) ** 2, t

    expired = Budget(0.0)
    t, value, payload = search_t(evaluate, 0.1, 10.0, budget=expired, report=lambda t, v: reports.append((t, v)))
    assert len(calls) == 1                        # the first point, then nothing more
    assert (t, value, payload) == (calls[0], (calls[0] - 1.0) ** 2, calls[0])
    assert reports == [(t, value)]


def test_bound_nodes_approach_the_optimum_geometrically_on_both_sides() -> None:
    nodes = np.log(np.array(_bound_nodes(2.0, [2.0, 2.0 * math.exp(3e-6)], 0.1, 100.0, ratio=6.0)) / 2.0)
    left, right = np.sort(-nodes[nodes < 0]), np.sort(nodes[nodes > 0])
    assert left[0] == pytest.approx(1e-6) and left[-1] < 1.0
    np.testing.assert_allclose(left[1:] / left[:-1], 6.0)
    # The node met at 3e-6 covers the target 6e-6 (within a factor √6), not 1e-6.
    np.testing.assert_allclose(right[:2], [1e-6, 3.6e-5])
    assert np.all(right < 1.0)


def test_weight_decay_search_with_a_time_limit_returns_its_best_network_and_says_so() -> None:
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((40, 6)), np.sign(rng.standard_normal(40))
    sol = dn.solve(X, y, beta=1.0, depth=3, activation="linear", loss="logistic", time_limit=1e-9)
    assert "time_limit" in sol.reason
    assert not sol.certified or sol.rel_gap <= 1e-6
    assert sol.lower_bound <= sol.value + 1e-12 * abs(sol.value)     # the bound stays a proof
    full = dn.solve(X, y, beta=1.0, depth=3, activation="linear", loss="logistic")
    assert full.certified and full.value <= sol.value + 1e-12
