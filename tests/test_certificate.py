"""Certificates: weak duality for ANY network and ANY dual point (docs/theory/known-answers.md, T16).

The lower bounds for weight decay on deep networks (docs/theory/framework.md#weight-decay-and-t) never exceed the true
optimum, which is known exactly for whitened data (docs/settings/linear.md#weight-decay-on-all-layers).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize_scalar

import dualnet as dn
from dualnet.certificate import (
    Certificate,
    RhoValue,
    dual_lower_bound,
    scaled_dual_value,
    wd_lower_bound,
    wd_path_bound_at,
    wd_path_lower_bound,
)
from dualnet.losses import LOSSES
from dualnet.network import Network
from dualnet.settings import linear

SQ = LOSSES["squared"]


def labels(name: str, rng: np.random.Generator, n: int, K: int) -> np.ndarray:
    if name in ("hinge", "logistic"):
        return rng.choice([-1.0, 1.0], size=(n, K))
    if name == "cross-entropy":
        return np.eye(max(K, 2))[rng.integers(0, max(K, 2), size=n)]
    return rng.standard_normal((n, K))


def relu_rho_bound(U: np.ndarray, X: np.ndarray) -> tuple[float, bool]:
    """A rigorous upper bound on ρ_1 for ReLU branches without biases.

    ReLU is 1-Lipschitz with σ(0) = 0, so ‖g‖ ≤ ‖X‖₂·Π‖W_l‖_F ≤ ‖X‖₂ for every g in G_1,
    hence ‖Uᵀg‖ ≤ ‖U‖₂‖X‖₂. Loose, but a valid ρ: weak duality must still hold.
    """
    return float(np.linalg.norm(U, 2) * np.linalg.norm(X, 2)), True


# ------------------------------------------------------------------- T16 (property)
@st.composite
def instances(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    loss = draw(st.sampled_from(sorted(LOSSES)))
    activation = draw(st.sampled_from(["linear", "relu"]))
    n, d = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    K = draw(st.integers(1, 3))
    Y = labels(loss, rng, n, K)
    K = Y.shape[1]
    depth = draw(st.integers(2, 4))
    n_branches, width = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    scale = draw(st.sampled_from([0.0, 0.1, 1.0, 3.0]))
    X = rng.standard_normal((n, d)) * draw(st.sampled_from([0.01, 1.0, 10.0]))
    dims = [d] + [width] * (depth - 1) + [K]
    net = Network([[(scale * rng.standard_normal((dims[l], dims[l + 1])), None) for l in range(depth)]
                   for _ in range(n_branches)], activation)
    beta = draw(st.floats(1e-3, 1e2))
    t = None
    if depth >= 3 and draw(st.booleans()):
        t = max(float(net.layer_norms()[:, :-2].max()), 1e-3) * draw(st.floats(1.0, 3.0))
    # ANY dual point: Gaussian of any scale, possibly outside the conjugate's domain (the
    # certificate projects it), and the network's own U = -grad loss(F).
    U_any = rng.standard_normal(Y.shape) * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    path = [(float(tp), rng.standard_normal(Y.shape)) for tp in rng.uniform(0.1, 3.0, size=draw(st.integers(0, 3)))]
    return X, Y, net, LOSSES[loss], beta, t, U_any, path


@pytest.mark.slow     # 300 derandomized examples, ~5-7 s
@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_weak_duality_any_network_any_dual_point(inst) -> None:
    """T16: P(θ) ≥ certified lower bound, for every network θ and every dual point U."""
    X, Y, net, loss, beta, t, U_any, path = inst
    value = net.objective(X, Y, beta, loss, t)
    if net.activation == "linear":
        rho = lambda V: linear.rho(V, X, net.depth, 1.0)  # noqa: E731
    else:
        rho = lambda V: relu_rho_bound(V, X)  # noqa: E731
    candidates = [U_any, loss.dual_point(net.forward(X), Y)]
    found = dual_lower_bound(candidates, Y, loss, beta, net.depth, t, rho, True, path)
    lb = found.lower_bound
    assert found.proven
    assert np.isfinite(lb)
    assert lb <= value + 1e-9 * max(1.0, abs(value)), (lb, value)
    # Every single candidate is a bound on its own too (no candidate is trusted more than another).
    for V in candidates:
        lb_one = dual_lower_bound([V], Y, loss, beta, net.depth, t, rho).lower_bound
        assert lb_one <= lb + 1e-12 * max(1.0, abs(lb))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(LOSSES)), st.integers(2, 4), st.booleans())
def test_certify_api_never_certifies_below_its_value(seed: int, loss: str, depth: int, use_t: bool) -> None:
    """dn.certify on random linear networks: lower_bound ≤ value and gap ≥ 0.

    Certified exactly when the relative gap is within tol.
    """
    rng = np.random.default_rng(seed)
    n, d, K = rng.integers(2, 6), rng.integers(1, 5), rng.integers(1, 3)
    Y = labels(loss, rng, n, K)
    X = rng.standard_normal((n, d))
    dims = [d] + [2] * (depth - 1) + [Y.shape[1]]
    net = Network.from_weights([rng.standard_normal((dims[l], dims[l + 1])) for l in range(depth)], "linear")
    t = float(net.layer_norms()[0, :-2].max()) * 1.5 if (use_t and depth >= 3) else None
    cert = dn.certify(net, X, Y, beta=0.5, loss=loss, t=t)
    assert cert.exact
    assert cert.value == pytest.approx(net.objective(X, Y, 0.5, loss, t), rel=1e-12)
    assert cert.gap >= -1e-9 * max(1.0, abs(cert.value))
    assert cert.certified == (cert.rel_gap <= 1e-6)


# ------------------------------------------------------------- scaled dual values
def test_scaled_dual_value_matches_math_0_3() -> None:
    """T1 from U = y: ρ = ‖Xᵀy‖ = 5, c = min(β/ρ, ⟨U,Y⟩/‖U‖²) = 0.2, bound 4.5 = P*."""
    y = np.array([[3.0], [4.0]])
    value, c = scaled_dual_value(y, y, SQ, 1.0, 5.0)
    assert (value, c) == pytest.approx((4.5, 0.2), rel=1e-15)
    # ρ = 0 (U orthogonal to every branch): no scaling limit, c = ⟨U,Y⟩/‖U‖² = 1.
    assert scaled_dual_value(y, y, SQ, 1.0, 0.0) == pytest.approx((12.5, 1.0))
    # A dual point pointing away from Y is useless: c = 0, bound P(0) - P(0) = 0.
    assert scaled_dual_value(-y, y, SQ, 1.0, 5.0) == pytest.approx((0.0, 0.0))


@pytest.mark.parametrize("name", ["hinge", "logistic"])
def test_scaled_dual_value_nonsquared_by_hand(name: str) -> None:
    """T12/T13 data (X = I₂, y = (1, −1), β = 1) from U = y/2.

    ρ = ‖U‖ = 1/√2 ≤ β, so c = 1 is feasible; the best c maximizes the conjugate on the ray.
    """
    y = np.array([[1.0], [-1.0]])
    loss = LOSSES[name]
    value, c = scaled_dual_value(0.5 * y, y, loss, 1.0, np.sqrt(0.5))
    if name == "hinge":            # Σ λ_i = 2c, maximal at the largest feasible c = 1: value 1
        assert (value, c) == pytest.approx((1.0, 1.0), abs=1e-9)
    else:                          # 2[entr(c/2) + entr(1 − c/2)], maximal at c = 1: 2 log 2 (T13 optimum)
        assert value == pytest.approx(2 * np.log(2.0), abs=1e-12)
        assert c == pytest.approx(1.0, abs=1e-5)


def test_dual_lower_bound_prefers_a_proven_bound() -> None:
    """A candidate whose ρ is only an estimate never beats a proven one, even if larger."""
    Y = np.array([[3.0], [4.0]])
    good, estimated = 0.2 * Y, Y

    def rho(V):
        return (1.0, True) if np.allclose(V, good) else (1e-3, False)

    found = dual_lower_bound([estimated, good], Y, SQ, 1.0, 2, None, rho)
    assert found.proven and found.rho == 1.0
    np.testing.assert_array_equal(found.U, good)
    assert found.lower_bound == pytest.approx(4.5)
    # The estimate (ρ = 1e-3 would allow c = 1: the bound ½‖Y‖² = 12.5) is kept apart, not as the bound.
    assert found.estimate == pytest.approx(12.5)
    # With only an estimate, the proven bound is the trivial one of the zero dual point.
    alone = dual_lower_bound([estimated], Y, SQ, 1.0, 2, None, rho)
    assert alone.proven is False and alone.lower_bound == 0.0 and alone.estimate == pytest.approx(12.5)


def test_dual_lower_bound_estimate_beside_a_proven_upper_bound() -> None:
    """A setting that proves ρ ≤ ρ̄ and attains ρ ≥ ρ_est: the bound uses ρ̄, the estimate ρ_est."""
    Y = np.array([[3.0], [4.0]])
    found = dual_lower_bound([Y], Y, SQ, 1.0, 2, None, lambda V: RhoValue(10.0, True, 5.0))
    # c = β/ρ̄ = 0.1: 0.1·25 − 0.005·25 = 2.375; with ρ = 5, c = 0.2: 5 − 0.5 = 4.5.
    assert found.proven and found.lower_bound == pytest.approx(2.375) and found.estimate == pytest.approx(4.5)


def test_certificate_str_and_repr() -> None:
    cert = dn.certify(dn.Network.from_weights([np.array([[1.2], [1.6]]), np.array([[2.0]])], "linear"),
                      np.eye(2), np.array([3.0, 4.0]), beta=1.0)
    assert isinstance(cert, Certificate)
    assert repr(cert).startswith("Certificate(certified=True, rel_gap=")
    assert str(cert).startswith("certified: value 4.5, lower bound 4.5")
    bad = dn.certify(dn.Network.from_weights([np.array([[1.0], [0.0]]), np.array([[1.0]])], "linear"),
                     np.eye(2), np.array([3.0, 4.0]), beta=1.0)
    assert not bad.certified and "relative gap" in bad.reason and "reason:" in str(bad)


# ---------------------------------------------- weight decay on deep networks (Lemma A.2)
def exact_wd_whitened(norm_y: float, beta: float, depth: int) -> float:
    """P_WD for whitened X, K = 1 (docs/settings/linear.md#weight-decay-on-all-layers): min_{r≥0} ½(‖y‖ − r)² + (βL/2) r^{2/L}.

    Candidates: r = 0, and every root of the stationarity condition r + β r^{2/L−1} = ‖y‖
    (the left side is convex in r with one minimum, so at most two roots, bracketed here).
    """
    L = depth
    g = lambda r: 0.5 * (norm_y - r) ** 2 + 0.5 * beta * L * r ** (2.0 / L)  # noqa: E731
    h = lambda r: r + beta * r ** (2.0 / L - 1) - norm_y  # noqa: E731
    r_min = (beta * (1 - 2.0 / L)) ** (L / 2.0)          # argmin of h (h' = 0)
    values = [g(0.0)]
    if h(r_min) < 0:
        values.append(g(brentq(h, r_min, norm_y + 1.0, xtol=1e-15, rtol=1e-15)))
        values.append(g(brentq(h, 1e-300, r_min, xtol=1e-300, rtol=1e-15)))
    return min(values)


@pytest.mark.parametrize("depth, expected", [(3, 4.207669), (4, 4.367209)])
def test_exact_wd_oracle_reproduces_t4(depth: int, expected: float) -> None:
    assert exact_wd_whitened(5.0, 1.0, depth) == pytest.approx(expected, abs=1e-6)   # the known answer quotes 7 digits


def whitened(seed: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, n)))
    return Q.T, rng.standard_normal((n, 1)) * 2


@pytest.mark.parametrize("depth", [3, 4, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wd_lower_bound_never_above_optimum_and_tight(seed: int, depth: int) -> None:
    X, y = whitened(seed, 4, 6)
    beta = 0.4 * np.linalg.norm(y)
    p_true = exact_wd_whitened(float(np.linalg.norm(y)), beta, depth)
    rng = np.random.default_rng(seed + 100)
    directions = [y, *(rng.standard_normal(y.shape) for _ in range(20)), y + 0.3 * rng.standard_normal(y.shape)]
    bounds = [wd_lower_bound(U, y, SQ, beta, depth, linear.rho(U, X, depth)[0])[0] for U in directions]
    assert max(bounds) <= p_true + 1e-12 * p_true
    # For whitened X the optimal dual point is a multiple of y: its bound is tight (second-order
    # slack of the interval bounds, refined until it stops moving).
    assert bounds[0] == pytest.approx(p_true, rel=1e-9)


@pytest.mark.parametrize("depth", [3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_wd_path_lower_bound_never_above_optimum(seed: int, depth: int) -> None:
    X, y = whitened(seed, 4, 6)
    beta = 0.4 * np.linalg.norm(y)
    p_true = exact_wd_whitened(float(np.linalg.norm(y)), beta, depth)
    rho = lambda V: linear.rho(V, X, depth, 1.0)  # noqa: E731

    def optimal_dual_at(t: float) -> np.ndarray:
        return linear.closed_form(X, y, beta * t ** (2 - depth))[1]

    ts = np.geomspace(0.2, 4.0, 41)
    tight, exact = wd_path_lower_bound([(t, optimal_dual_at(t)) for t in ts], y, SQ, beta, depth, rho)
    assert exact
    assert tight <= p_true + 1e-12 * p_true
    # The chords between 41 optimal duals lose a second-order amount only.
    assert tight == pytest.approx(p_true, rel=1e-3)
    rng = np.random.default_rng(seed)
    noisy = [(t, rng.standard_normal(y.shape)) for t in rng.uniform(0.1, 5.0, 8)]
    loose, _ = wd_path_lower_bound(noisy, y, SQ, beta, depth, rho)
    assert loose <= p_true + 1e-12 * p_true
    sparse = [(t, optimal_dual_at(t)) for t in ts[::4]]
    mixed, _ = wd_path_lower_bound(noisy + sparse, y, SQ, beta, depth, rho)
    assert mixed <= p_true + 1e-12 * p_true
    # D is concave, so the bound uses the hull of the points: poor dual points never lower it.
    assert mixed >= wd_path_lower_bound(sparse, y, SQ, beta, depth, rho)[0]
    bound, _, t_at = wd_path_bound_at(sparse, y, SQ, beta, depth, rho)
    assert bound == wd_path_lower_bound(sparse, y, SQ, beta, depth, rho)[0] and 0.2 <= t_at <= 4.0


@pytest.mark.parametrize("name", ["logistic", "hinge", "absolute"])
def test_wd_lower_bound_below_trained_networks_other_losses(name: str, trained_values) -> None:
    """No exact optimum is known here: the bound must sit below every network training reaches."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((6, 3))
    y = labels(name, rng, 6, 1)
    loss, beta, depth = LOSSES[name], 0.3, 3
    sol = dn.solve(X, y, beta=beta, depth=2, activation="linear", loss=name)    # a good direction
    directions = [sol.dual, loss.dual_point(np.zeros_like(y), y), rng.standard_normal(y.shape)]
    bounds = [wd_lower_bound(loss.project_dual(U, y), y, loss, beta, depth,
                             linear.rho(loss.project_dual(U, y), X, depth)[0])[0] for U in directions]
    # L-BFGS stalls early on the kinks of hinge/absolute; 500 iterations reach its plateau.
    trained = trained_values(X, y, seeds=(0, 1), beta=beta, depth=depth, width=2, activation="linear", loss=name,
                             max_iter=500)
    assert max(bounds) <= trained.min() + 1e-9 * max(1.0, trained.min())


@pytest.mark.parametrize("depth", [3, 4])
def test_wd_lower_bound_from_optimal_t4_dual(depth: int) -> None:
    """T4 (X = I₂, y = (3, 4), β = 1): the certificate from the solved dual is tight."""
    y = np.array([[3.0], [4.0]])
    p = exact_wd_whitened(5.0, 1.0, depth)
    sol = dn.solve(np.eye(2), y, beta=1.0, depth=depth, activation="linear")
    bound, t = wd_lower_bound(sol.dual, y, SQ, 1.0, depth, linear.rho(sol.dual, np.eye(2), depth)[0])
    assert bound <= p + 1e-12 and bound == pytest.approx(p, rel=1e-9)
    # It is attained near t* = r*^{1/L} (docs/settings/linear.md#recovery), r* = ‖w*‖. The bound is flat to second
    # order in t there, so t itself is only located to ~sqrt(1e-9) relative.
    r_star = minimize_scalar(lambda r: 0.5 * (5 - r) ** 2 + 0.5 * depth * r ** (2 / depth),
                             bounds=(1.0, 5.0), method="bounded", options={"xatol": 1e-12}).x
    assert t == pytest.approx(r_star ** (1 / depth), rel=1e-4)
