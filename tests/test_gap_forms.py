"""The gap in three forms: absolute, over P(0) (what tol applies to) and over the value (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

import dualnet as dn
from dualnet.certificate import Certificate, describe_gap, relative_to_value
from dualnet.train import train


def test_value_form_is_gap_over_value_and_printed() -> None:
    """A good fit: P* is a small fraction of P(0), so rel_gap understates the distance from the optimum."""
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(-2, 2, 40))
    y = np.sin(2 * x) + 3.0                                  # the offset makes P(0) large
    sol = dn.solve(x[:, None], y, beta=0.05, bias=True)
    net = train(x[:, None], y, beta=0.05, width=6, bias=True, seed=0, max_iter=25)   # stopped early
    cert = dn.certify(net, x[:, None], y, beta=0.05)
    assert cert.rel_gap_value == pytest.approx(cert.gap / cert.value, rel=1e-12)
    # independent reading of the same quantity: how far the value is from the certified optimum
    assert cert.rel_gap_value >= (cert.value - sol.value) / cert.value - 1e-9
    assert cert.rel_gap_value > 10 * cert.rel_gap                 # P(0) ≫ value here
    assert f"{100 * cert.rel_gap_value:.3g}% of the value" in str(cert)
    assert f"{100 * sol.rel_gap_value:.3g}% of the value" in str(sol)
    assert "tol applies to" in str(sol)


def test_path_holds_the_value_form() -> None:
    x = np.linspace(-1, 1, 12)
    y = np.abs(x)
    p = dn.path(x[:, None], y, [0.01, 0.1], bias=True)
    expected = [s.gap / s.value for s in p.solutions]
    assert p.rel_gap_values == pytest.approx(expected, rel=1e-12)


def test_a_trivial_lower_bound_is_never_a_small_gap() -> None:
    """A bound of 0 under a value of 0.05 with P(0) = 25: rel_gap 2e-3, but 100% from the optimum."""
    cert = Certificate(certified=False, rel_gap=2e-3, gap=0.05, value=0.05, lower_bound=0.0, proven=True, p0=25.0,
                       rho=1.0, scale=0.0, setting="linear", reason="relative gap 0.002 exceeds tol=1e-06")
    assert cert.rel_gap_value == 1.0
    text = str(cert)
    assert "100% of the value" in text and "trivial" in text
    assert "trivial" not in describe_gap(0.01, 1.0, 0.99, 1e-3)


@pytest.mark.parametrize(("gap", "value", "expected"), [(0.0, 0.0, 0.0), (1e-3, 0.0, np.inf), (1.0, 4.0, 0.25),
                                                        (-1e-17, 2.0, -5e-18)])
def test_relative_to_value_edge_cases(gap: float, value: float, expected: float) -> None:
    assert relative_to_value(gap, value) == expected
