"""Weight decay on all layers of a deep network on 1-D data: the bracket [ramp bound, built network].

docs/settings/spline.md#deep-weight-decay. The lower bound charges a spline f its ramp cost
V_r(f) once; the networks built pay per ramp (parallel ramps) or the two-layer cost V_2 ≤ 2V_r
once (one chain). These tests pin down both ends: where the bias-only network is optimal it is
returned and certified, and a folding network (a composition, built by hand here, not by the
package) reaches the bound on a several-ramp function, so no bound in terms of V_r alone can be
sharper, and the chain is not optimal in general.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import dualnet as dn
from dualnet.network import Network
from dualnet.train import train

HATS_X = np.linspace(-3.5, 3.5, 15)


def two_hats(x: np.ndarray) -> np.ndarray:
    """σ(1 − ||x| − 2|): two unit hats at ±2, slopes ±1 (four ramps)."""
    return np.maximum(1.0 - np.abs(np.abs(x) - 2.0), 0.0)


def fold_network(depth: int, height: float = 1.0) -> Network:
    """height·two_hats by folding: layer 1 gives (x)₊, (−x)₊, layer 2 (|x| − 2)₊, (2 − |x|)₊, layer 3 the hat.

    Layer norms √2, 2, √2, then width-1 layers (the hat is ≥ 0, so they pass it on): the
    product is 4·height. Balanced, so its weight decay is (β L/2)(4·height)^{2/L}.
    """
    layers = [(np.array([[1.0, -1.0]]), np.zeros(2)),
              (np.array([[1.0, -1.0], [1.0, -1.0]]), np.array([-2.0, 2.0])),
              (np.array([[-1.0], [-1.0]]), np.array([1.0]))]
    layers += [(np.array([[1.0]]), np.zeros(1)) for _ in range(depth - 4)]
    layers.append((np.array([[height]]), np.zeros(1)))
    return Network([layers], "relu").balanced()


def slope_variation(f: np.ndarray, x: np.ndarray) -> float:
    """C(f): total variation of the zero-padded slopes of the linear interpolant (twice the ramp cost)."""
    slopes = np.diff(f) / np.diff(x)
    return float(np.abs(np.diff(np.r_[0.0, slopes, 0.0])).sum())


@pytest.mark.parametrize("depth", [4, 7, 50])
def test_a_folding_network_pays_the_ramp_cost_of_two_hats(depth: int) -> None:
    """Product of layer norms = V_r = 4 (the proven least), while the two-layer cost V_2 is 8."""
    grid = np.linspace(-3.5, 3.5, 701)
    net = fold_network(depth)
    np.testing.assert_allclose(net.forward(grid[:, None])[:, 0], two_hats(grid), atol=1e-12)
    assert np.prod(net.layer_norms()[0]) == pytest.approx(4.0, rel=1e-12)
    assert net.penalty(1.0) == pytest.approx(depth / 2 * 4.0 ** (2 / depth), rel=1e-12)
    # V_r three ways: half the slope variation on a fine grid, at the data, and the deep interpolation LP (t = 1)
    assert slope_variation(two_hats(grid), grid) / 2 == pytest.approx(4.0, rel=1e-9)
    assert slope_variation(two_hats(HATS_X), HATS_X) / 2 == pytest.approx(4.0, rel=1e-12)
    y = two_hats(HATS_X)
    assert dn.min_norm_interpolant(HATS_X, y, depth=3, method="cvxpy").value == pytest.approx(4.0, rel=1e-6)
    assert dn.min_norm_interpolant(HATS_X, y, method="cvxpy").value == pytest.approx(8.0, rel=1e-6)    # V_2


@pytest.mark.slow
def test_folding_beats_both_families_and_reaches_the_bound() -> None:
    """The bracket is honest where the package's networks are far from optimal.

    Depth 4, β = 0.01, data on two hats: the package's best network (chain, parallel ramps,
    L-BFGS) is 40% above the proven lower bound; the folding network built by hand lies 0.5%
    above it, so the bound is nearly attained and the package's value is only an upper bound.
    The result is not certified, and its reason says that folding networks can pay less.
    """
    beta, depth = 0.01, 4
    y = two_hats(HATS_X)
    sol = dn.solve(HATS_X[:, None], y, beta=beta, bias=True, depth=depth)

    def fold_value(height: float) -> float:
        return fold_network(depth, height).objective(HATS_X[:, None], y, beta)

    fold = minimize_scalar(fold_value, bounds=(0.5, 1.0), method="bounded", options={"xatol": 1e-10}).fun
    assert sol.lower_bound <= fold < sol.value                       # the proven bound holds; the fold is better
    assert fold - sol.lower_bound <= 0.01 * fold                       # measured 0.44%
    assert not sol.certified and "fold" in sol.reason and "V_2 <= 2 V_r" in sol.reason


def issue_data() -> tuple[np.ndarray, np.ndarray]:
    """The depth-50 case of issue 10 (x uniform on [−2, 2], y ~ N(0, 1), default_rng(1))."""
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-2, 2, 20))
    return x[:, None], rng.standard_normal(20)


def test_bias_only_network_is_returned_and_certified_where_optimal() -> None:
    """Depth 50, β = 1 on the issue's data: every non-constant network costs more than P(0)."""
    X, y = issue_data()
    sol = dn.solve(X, y, beta=1.0, bias=True, depth=50)
    p0 = 0.5 * np.sum((y - y.mean()) ** 2)
    assert sol.certified and sol.reason == ""
    assert sol.value == pytest.approx(p0, rel=1e-12) and sol.lower_bound == pytest.approx(p0, rel=1e-12)
    np.testing.assert_allclose(sol.predict(X), y.mean(), rtol=1e-12)
    # an independent oracle: any trained network pays at least the certified value
    net = train(X, y, beta=1.0, depth=50, width=3, bias=True, seed=0, max_iter=200)
    assert net.objective(X, y, 1.0) >= sol.lower_bound


@pytest.mark.parametrize("labels", ["zero", "constant"])
@pytest.mark.parametrize("depth", [3, 50])
def test_constant_labels_give_the_bias_only_network_certified(labels: str, depth: int) -> None:
    X, _ = issue_data()
    y = np.zeros(20) if labels == "zero" else np.full(20, -1.5)
    sol = dn.solve(X, y, beta=0.3, bias=True, depth=depth)
    assert sol.setting == "relu-1d" and sol.certified and sol.reason == ""
    assert sol.value == 0.0 and sol.lower_bound == 0.0
    np.testing.assert_allclose(sol.predict(X), y, atol=1e-12)
