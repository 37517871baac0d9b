"""Internal scaling (dualnet.scaling): data far from unit size are solved in other units.

Oracle: the exact symmetry of the objective. With X = a·X', Y = c·Y' and every weight
scaled by s, s^L = c/a, P(W; X, Y, β) = c^k P(W'; X', Y', β s²/c^k) (k = 2 squared, 1
absolute, 0 for class labels, which cannot be scaled). So a problem at scale k with β chosen
to match is the unit problem in other units: its value is the unit value times c^k and its
predictions the unit predictions times c, and it must be certified wherever the unit
problem is.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualnet as dn

RNG = np.random.default_rng(3)
X = RNG.standard_normal((8, 2))
Y = RNG.standard_normal(8)
SCALES = [1e-8, 2.0 ** -20, 1e4, 1e8]


@pytest.mark.parametrize("k", SCALES)
def test_relu_labels_far_from_unit_size(k: float) -> None:
    unit = dn.solve(X, Y, beta=0.3)
    big = dn.solve(X, k * Y, beta=0.3 * k)             # a = 1, c = k, s² = k: beta' = beta/k
    assert unit.certified and big.certified
    assert big.value == pytest.approx(k ** 2 * unit.value, rel=1e-6)
    # Both are within tol·P(0) of the optimum; the squared loss is 1-strongly convex in the
    # predictions, so each is within sqrt(2·tol·P(0)) of the optimal predictions.
    radius = 2 * np.sqrt(2 * 1e-6 * 0.5 * np.sum(Y ** 2))
    assert np.linalg.norm(big.predict(X) / k - unit.predict(X)) <= radius


@pytest.mark.parametrize("k", SCALES)
def test_relu_data_far_from_unit_size(k: float) -> None:
    unit = dn.solve(X, Y, beta=0.3)
    big = dn.solve(k * X, Y, beta=0.3 * k)             # a = k, c = 1, s² = 1/k: beta' = beta/k
    assert big.certified
    assert big.value == pytest.approx(unit.value, rel=1e-6)
    radius = 2 * np.sqrt(2 * 1e-6 * 0.5 * np.sum(Y ** 2))     # as in the test above
    assert np.linalg.norm(big.predict(k * X) - unit.predict(X)) <= radius


@pytest.mark.parametrize("k", SCALES)
def test_linear_data_and_labels_far_from_unit_size(k: float) -> None:
    unit = dn.solve(X, Y, beta=0.3, activation="linear")
    big = dn.solve(k * X, k * Y, beta=0.3 * k ** 2, activation="linear")      # s = 1, beta' = beta/k²
    assert big.certified
    assert big.value == pytest.approx(k ** 2 * unit.value, rel=1e-9)
    assert big.lower_bound == pytest.approx(k ** 2 * unit.lower_bound, rel=1e-9)


@pytest.mark.parametrize("k", [1e-8, 1e8])
def test_class_labels_keep_their_values_while_data_scale(k: float) -> None:
    labels = np.sign(Y)
    unit = dn.solve(X, labels, beta=0.3, loss="hinge")
    big = dn.solve(k * X, labels, beta=0.3 * k, loss="hinge")
    assert big.certified
    assert big.value == pytest.approx(unit.value, rel=1e-5)


def test_scaled_solution_reports_its_units_and_deep_t() -> None:
    sol = dn.solve(1e6 * X, 1e6 * Y, beta=0.3, activation="linear", depth=3, t=2.0)
    assert np.log2(sol.info["scaling"]["X"]) % 1 == 0 and sol.info["scaling"]["X"] > 1e5
    assert sol.t == 2.0 and sol.beta == 0.3
    # the network is in the user's units: its own objective, by a forward pass, is the value
    assert sol.network.objective(1e6 * X, 1e6 * Y, 0.3) == pytest.approx(sol.value, rel=1e-9)


@pytest.mark.parametrize("k", [1e200, 1e-200])
def test_objective_beyond_float64_is_a_clear_error(k: float) -> None:
    with pytest.raises(dn.InputError, match=r"beyond what float64 holds"):
        dn.solve(X, k * Y, beta=1.0, activation="linear")


@pytest.mark.parametrize("k", [1e-100, 1e100, 1e150])
def test_extreme_scales_return_a_result_with_a_reason_or_a_clear_error(k: float) -> None:
    for kwargs in (dict(activation="linear"), dict(activation="linear", depth=3), {}):
        try:
            sol = dn.solve(k * X, k * Y, beta=1.0, **kwargs)
        except dn.InputError as err:
            assert "float64" in str(err)
            continue
        assert sol.certified or sol.reason, kwargs
        assert not sol.certified or np.isfinite([sol.value, sol.lower_bound]).all()


def test_huge_beta_gives_the_zero_network_certified() -> None:
    for loss, labels in (("squared", Y), ("hinge", np.sign(Y)), ("logistic", np.sign(Y))):
        sol = dn.solve(X, labels, beta=1e200, loss=loss)
        assert sol.certified and sol.value == sol.lower_bound
        np.testing.assert_array_equal(sol.predict(X), np.zeros(8))


def test_certify_refuses_a_network_whose_objective_overflows() -> None:
    # Data of size 1e200 are certified in scaled units, but this network's outputs (~1e200
    # against labels ~1) make the objective ~1e400 in any units: a clear error, not inf.
    net = dn.Network.from_weights([np.ones((2, 3)), np.ones((3, 1))])
    with pytest.raises(dn.InputError, match=r"overflows float64"):
        dn.certify(net, 1e200 * X, Y, beta=1.0)


def test_setting_checks_run_on_scaled_data() -> None:
    """Data of size 1e200 would overflow the settings' norms: they are checked in scaled units."""
    with np.errstate(over="raise"):
        sol = dn.solve(1e200 * X, np.sign(Y), beta=1.0, loss="hinge")
    assert sol.certified
