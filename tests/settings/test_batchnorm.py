"""Batch-normalized networks (docs/settings/batchnorm.md): Network BN, the batchnorm setting, and its oracles.

Oracles: the SVD / shrinkage closed forms, the CVXPY dual program, and non-convex L-BFGS
training of the BN network itself (dualnet.train with batchnorm=True) from several seeds.
Networks are compared through values, predictions and norms, never raw weights.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

import dualnet as dn
from dualnet.errors import InputError, SettingError
from dualnet.losses import get_loss
from dualnet.network import Network
from dualnet.settings import SETTINGS
from dualnet.settings import batchnorm as bn
from dualnet.train import train

SQ = get_loss("squared")


def huber(s: float, lam: float) -> float:
    return 0.5 * s * s if s <= lam else lam * s - 0.5 * lam * lam


def r_form(net: Network) -> Network:
    """The same function with every BN neuron normalized to γ² + α² = 1 (docs/settings/batchnorm.md#setting)."""
    g, a = net.batchnorm[0]
    size = np.hypot(g, a)
    s = np.where(size > 0, size, 1.0)
    W, b = net.branches[0][-1]
    layers = [*net.branches[0][:-1], (W * s[:, None], b)]
    return Network([layers], net.activation, [(g / s, a / s)], net.bn_scale)


def best_trained(X, Y, beta, seeds=(0, 1, 2), **kwargs) -> tuple[float, Network]:
    nets = [train(X, Y, beta=beta, batchnorm=True, seed=seed, **kwargs) for seed in seeds]
    values = [net.objective(X, Y, beta, kwargs.get("loss", "squared")) for net in nets]
    i = int(np.argmin(values))
    return values[i], nets[i]


@pytest.fixture(scope="module")
def low_dim():
    """docs/settings/batchnorm.md#closed-form-linear check: n = 8, d = 3 (n > d + 1), K = 2, β = 0.8; Gaussian data of default_rng(5)."""
    rng = np.random.default_rng(5)
    return rng.standard_normal((8, 3)), rng.standard_normal((8, 2)), 0.8


@pytest.fixture(scope="module")
def t11():
    """known answer T11: n = 6, d = 8 Gaussian X, K = 3 balanced one-hot labels, β = 0.8."""
    X = np.random.default_rng(0).standard_normal((6, 8))
    labels = np.repeat(np.arange(3), 2)
    return X, np.eye(3)[labels], labels, 0.8


# ================================================================ Network with BN
def test_bn_forward_by_hand() -> None:
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    z_hat_std = (x[:, 0] - 2.5) / np.sqrt(5 / 4)          # batch std of (1, 2, 3, 4) is √(5/4)
    z_hat_l2 = (x[:, 0] - 2.5) / np.sqrt(5)               # ℓ2 norm of the centered vector
    for scale, z_hat in (("std", z_hat_std), ("l2", z_hat_l2)):
        net = Network.from_weights([np.array([[1.0]]), np.array([[1.0]])], activation="linear",
                                   batchnorm=(np.array([2.0]), np.array([1.0])), bn_scale=scale)
        np.testing.assert_allclose(net.forward(x)[:, 0], 2.0 * z_hat + 1.0, rtol=1e-14)
        relu = Network(net.branches, "relu", net.batchnorm, scale)
        np.testing.assert_allclose(relu.forward(x)[:, 0], np.maximum(2.0 * z_hat + 1.0, 0), rtol=1e-14)


def test_bn_output_norms_and_constant_column() -> None:
    """‖BN(z)‖² = n(γ² + α²) for "std"; a constant column has no direction and outputs σ(α)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 3))
    g, a = rng.standard_normal(4), rng.standard_normal(4)
    net = Network.from_weights([rng.standard_normal((3, 4)), rng.standard_normal((4, 2))], "linear", (g, a))
    np.testing.assert_allclose(np.sum(net.hidden(X) ** 2, axis=0), 9 * (g * g + a * a), rtol=1e-12)
    flat = Network.from_weights([np.zeros((3, 1)), np.ones((1, 1))], "relu", (np.array([3.0]), np.array([0.7])))
    np.testing.assert_array_equal(flat.forward(X), np.full((9, 1), 0.7))


def test_bn_scale_invariance_and_penalty() -> None:
    """Layers before BN are scale-invariant and unpenalized; t constraints never bind (docs/settings/batchnorm.md#setting)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 3))
    layers = [(rng.standard_normal((3, 5)), rng.standard_normal(5)), (rng.standard_normal((5, 4)), None),
              (rng.standard_normal((4, 2)), rng.standard_normal(2))]
    g, a = rng.standard_normal(4), rng.standard_normal(4)
    net = Network([layers], "relu", [(g, a)])
    scaled = Network([[(7.0 * layers[0][0], 7.0 * layers[0][1]), (0.01 * layers[1][0], None), layers[2]]], "relu",
                     [(g, a)])
    np.testing.assert_allclose(scaled.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)
    expected = 0.5 * 0.3 * (g @ g + a @ a + np.sum(layers[2][0] ** 2))
    assert net.penalty(0.3) == pytest.approx(expected, rel=1e-14)
    assert scaled.penalty(0.3) == pytest.approx(expected, rel=1e-14)
    assert net.penalty(0.3, t=0.01) == pytest.approx(expected, rel=1e-14)
    assert net.t_violation(0.01) == -np.inf


def test_bn_predict_uses_stored_statistics() -> None:
    rng = np.random.default_rng(3)
    X, X_new = rng.standard_normal((8, 3)), rng.standard_normal((1, 3))
    W1, W2 = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    g, a = rng.standard_normal(4), rng.standard_normal(4)
    net = Network.from_weights([W1, W2], "relu", (g, a))
    with pytest.raises(InputError, match="with_batch_statistics"):
        net.predict(X)
    fitted = net.with_batch_statistics(X)
    np.testing.assert_allclose(fitted.predict(X), net.forward(X), rtol=1e-13, atol=1e-13)
    Z = X @ W1
    expected = np.maximum(g * (X_new @ W1 - Z.mean(0)) / Z.std(0) + a, 0) @ W2   # eval-mode BN, ε = 0
    np.testing.assert_allclose(fitted.predict(X_new), expected, rtol=1e-12)


def test_bn_save_load_to_mlp_balanced_pruned(tmp_path) -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 3))
    branches = [[(rng.standard_normal((3, 2)), None), (rng.standard_normal((2, 3)), None),
                 (rng.standard_normal((3, 2)), None)] for _ in range(2)]
    pairs = [(rng.standard_normal(3), rng.standard_normal(3)) for _ in range(2)]
    net = Network(branches, "relu", pairs, "l2").with_batch_statistics(X)
    back = Network.load(net.save(tmp_path / "bn"))
    assert back.bn_scale == "l2"
    for (g0, a0), (g1, a1) in zip(net.batchnorm + net.bn_stats, back.batchnorm + back.bn_stats):
        np.testing.assert_array_equal(g0, g1)
        np.testing.assert_array_equal(a0, a1)
    np.testing.assert_array_equal(back.predict(X[:2]), net.predict(X[:2]))
    mlp = net.to_mlp()
    assert mlp.n_branches == 1 and mlp.batchnorm[0][0].size == 6
    np.testing.assert_allclose(mlp.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mlp.predict(X[:1]), net.predict(X[:1]), rtol=1e-12, atol=1e-12)
    assert mlp.penalty(0.5) == pytest.approx(net.penalty(0.5), rel=1e-14)
    bal = net.balanced()
    np.testing.assert_allclose(bal.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)
    # Balanced penalty: β Σ_neurons ‖(γ, α)‖·‖outgoing row‖ (Lemma A.1).
    amgm = sum(float(np.hypot(g, a) @ np.linalg.norm(br[-1][0], axis=1)) for (g, a), br in zip(pairs, branches))
    assert bal.penalty(0.5) == pytest.approx(0.5 * amgm, rel=1e-12)
    dead = net.copy()
    dead.branches[0][-1] = (np.zeros((3, 2)), None)
    pruned = dead.pruned()
    assert pruned.n_branches == 1
    np.testing.assert_allclose(pruned.forward(X), dead.forward(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"batchnorm": [(np.ones(3), np.ones(2))]}, "length 2"),
    ({"batchnorm": [(np.ones(2), np.ones(2))] * 2}, "one pair per branch"),
    ({"batchnorm": [(np.ones(2), np.ones(2))], "bn_scale": "var"}, "'bn_scale' parameter of Network"),
    ({"bn_stats": [(np.ones(2), np.ones(2))]}, "needs batchnorm"),
    ({"batchnorm": [(np.ones(2), np.ones(2))], "bn_stats": [(np.ones(2), -np.ones(2))]}, "divisors >= 0"),
])
def test_bn_network_errors(kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        Network([[(np.ones((3, 2)), None), (np.ones((2, 1)), None)]], "relu", **kwargs)


# ==================================================================== check()
def test_registered_and_contract() -> None:
    assert SETTINGS["batchnorm"] is bn
    assert bn.HOMOGENEOUS is False and set(bn.ACTIVATIONS) == {"linear", "relu"}
    for name in ("check", "dual_program", "closed_form", "recover", "rho", "fit"):
        assert callable(getattr(bn, name))


def test_check_reports_failed_assumptions(low_dim) -> None:
    X, Y, _ = low_dim
    assert bn.check(X, Y, 2, activation="linear", batchnorm=True) == []
    assert bn.check(X, Y, 2, activation="linear", batchnorm=False)[0].startswith("batchnorm=False")
    assert any("bias=True" in p for p in bn.check(X, Y, 2, activation="linear", batchnorm=True, bias=True))
    (deficit,) = bn.check(X, Y[:, :1], 2, activation="relu", batchnorm=True)
    assert "rank(P_perp A) = 3 < n-1 = 7 (rank deficit 4" in deficit
    (deficit3,) = bn.check(X, Y[:, :1], 3, activation="relu", batchnorm=True)
    assert "rank(P_perp A) = 6 < n-1 = 7 (rank deficit 1" in deficit3       # trunk [X+, X-] has 6 columns
    wide = np.random.default_rng(0).standard_normal((8, 9))
    problems = bn.check(wide, Y, 2, activation="relu", batchnorm=True)
    assert len(problems) == 1 and "not one-hot" in problems[0]
    onehot = np.eye(2)[np.arange(8) % 2]
    assert bn.check(wide, onehot, 2, activation="relu", batchnorm=True) == []
    assert "loss='hinge'" in bn.check(wide, onehot, 2, activation="relu", batchnorm=True, loss="hinge")[0]
    assert "ellipsoid" in bn.check(wide, onehot, 2, activation="relu", batchnorm=True, bn_scale="l2")[0]
    with pytest.raises(InputError, match="The 'bn_scale' parameter of solve must be one of 'std', 'l2'"):
        bn.check(X, Y, 2, activation="linear", batchnorm=True, bn_scale="var")


def test_solve_errors(low_dim) -> None:
    X, Y, beta = low_dim
    with pytest.raises(SettingError, match="rank deficit 4"):
        dn.solve(X, Y[:, 0], beta=beta, batchnorm=True)
    with pytest.raises(InputError, match="closed form only for loss='squared' and bn_scale='std'"):
        dn.solve(X, Y, beta=beta, batchnorm=True, activation="linear", bn_scale="l2", method="fast")
    with pytest.raises(InputError, match="'bn_scale' parameter of solve"):
        dn.solve(X, Y, beta=beta, batchnorm=True, activation="linear", bn_scale="L1")


# ============================================================= linear BN (§6.3)
def test_t10_linear_bn() -> None:
    """known answer T10: n = 2, x₁ ≠ x₂, Y = I₂, β = 1/√2: threshold 0.5, P = 0.75."""
    X, Y, beta = np.array([[0.3], [-1.2]]), np.eye(2), 2 ** -0.5
    assert bn.closed_form(X, Y, beta).value == pytest.approx(0.75, abs=1e-12)
    for method in ("auto", "cvxpy"):
        sol = dn.solve(X, Y, beta=beta, batchnorm=True, activation="linear", method=method)
        assert sol.certified and sol.setting == "batchnorm"
        assert sol.value == pytest.approx(0.75, abs=1e-9 if method == "auto" else 1e-6)
    np.testing.assert_allclose(sol.predict(X), 0.5 * np.eye(2), atol=1e-6)


def test_low_dim_closed_form_cvxpy_training(low_dim) -> None:
    """docs/settings/batchnorm.md#closed-form-linear check: closed form 3.93862321 = CVXPY = non-convex BN training (n > d + 1)."""
    X, Y, beta = low_dim
    cf = bn.closed_form(X, Y, beta)
    assert cf.value == pytest.approx(3.93862321, abs=5e-9)          # the known answer quotes 9 significant digits
    # the dual value of U* is the same number (strong duality)
    assert SQ.dual_value(cf.U, Y) == pytest.approx(cf.value, abs=1e-12)
    prog = bn.dual_program(X, Y, 2, beta, None, SQ, activation="linear")
    assert prog.solve(solver="CLARABEL") == pytest.approx(cf.value, abs=1e-6)
    rho, exact = bn.rho(prog.U, X, 2, activation="linear")
    assert exact and rho <= beta * (1 + 1e-6)
    trained, net = best_trained(X, Y, beta, activation="linear", width=4)
    assert trained >= cf.value - 1e-9
    assert trained == pytest.approx(cf.value, abs=1e-6)                # L-BFGS stops at ~1e-9 relative
    cert = dn.certify(net, X, Y, beta=beta)
    assert cert.setting == "batchnorm" and cert.lower_bound <= cf.value + 1e-12


@pytest.mark.parametrize("depth, t", [(2, None), (3, None), (4, None), (3, 0.5)])
def test_recovered_network_attains_certified_value(low_dim, depth, t) -> None:
    """The recovered network reaches the closed-form value by a forward pass, at any depth and t."""
    X, Y, beta = low_dim
    sol = dn.solve(X, Y, beta=beta, batchnorm=True, activation="linear", depth=depth, t=t)
    assert sol.certified and sol.method.startswith("closed-form")
    assert sol.network.depth == depth
    assert sol.network.objective(X, Y, beta) == pytest.approx(3.9386232088295916, abs=1e-9)
    assert sol.rel_gap <= 1e-12
    np.testing.assert_allclose(sol.predict(X), Y - bn.closed_form(X, Y, beta).U, atol=1e-10)
    # WD balance: every neuron has ‖(γ, α)‖ = ‖outgoing row‖ (Lemma A.1)
    g, a = sol.network.batchnorm[0]
    np.testing.assert_allclose(np.hypot(g, a), np.linalg.norm(sol.network.branches[0][-1][0], axis=1), rtol=1e-12)


def test_linear_rho_is_the_supremum_over_bn_branches(low_dim) -> None:
    """ρ(U) = √n‖QᵀU‖₂ bounds every BN branch output, and one branch attains it."""
    X, Y, _ = low_dim
    rng = np.random.default_rng(7)
    U = rng.standard_normal(Y.shape)
    rho, exact = bn.rho(U, X, 2, activation="linear")
    assert exact
    net = Network.from_weights([rng.standard_normal((3, 500)), np.zeros((500, 2))], "linear",
                               (rng.standard_normal(500), rng.standard_normal(500)))
    g, a = net.batchnorm[0]
    G = net.hidden(X) / np.hypot(g, a)                      # branches normalized to γ² + α² = 1
    sampled = np.linalg.norm(U.T @ G, axis=0)
    assert sampled.max() <= rho * (1 + 1e-12)
    basis = bn.make_basis(X)
    top = np.linalg.svd(basis.coords(U))[0][:, 0]
    attained = np.sqrt(8) * basis.lift(top[:, None])        # BN output √n·Q a of the top direction
    assert np.linalg.norm(U.T @ attained) == pytest.approx(rho, rel=1e-12)


def test_l2_scaling_through_cvxpy_matches_training(low_dim) -> None:
    """bn_scale="l2" (the ellipsoid case): CVXPY value = non-convex training of the l2-BN network."""
    X, Y, beta = low_dim
    sol = dn.solve(X, Y, beta=beta, batchnorm=True, activation="linear", bn_scale="l2")
    assert sol.method.startswith("cvxpy") and sol.certified
    assert sol.network.bn_scale == "l2"
    assert sol.value == pytest.approx(sol.network.objective(X, Y, beta), abs=1e-12)
    trained, _ = best_trained(X, Y, beta, activation="linear", width=4, bn_scale="l2")
    assert trained >= sol.lower_bound - 1e-8
    assert trained == pytest.approx(sol.value, abs=1e-5)     # CVXPY (interior point) is accurate to ~1e-7
    # the "l2" branch set is inside the "std" ball, so its optimum cannot be lower
    assert sol.value >= bn.closed_form(X, Y, beta).value - 1e-8


def test_dual_program_dpp_path(low_dim) -> None:
    X, Y, _ = low_dim
    prog = dn.dual_program(X, Y, beta=1.0, batchnorm=True, activation="linear", depth=3, t=2.0)
    assert prog.problem.is_dpp() and isinstance(prog.threshold, cp.Parameter)
    for beta in (0.2, 1.0, 5.0):
        prog.set_beta(beta, t=2.0)                           # BN: the threshold is β whatever t is
        assert prog.solve(solver="CLARABEL") == pytest.approx(bn.closed_form(X, Y, beta).value, abs=1e-6)
    p = dn.path(X, Y, [0.2, 1.0, 5.0], batchnorm=True, activation="linear")
    assert p.certified.all()
    np.testing.assert_allclose(p.values, [bn.closed_form(X, Y, b).value for b in (0.2, 1.0, 5.0)], atol=1e-9)
    q = dn.path(X, Y, [0.2, 5.0], batchnorm=True, activation="linear", method="cvxpy")
    np.testing.assert_allclose(q.values, p.values[[0, 2]], atol=1e-6)


def test_other_losses_linear_bn(low_dim) -> None:
    """Logistic loss through CVXPY and the restricted primal (docs/theory/losses.md#general-dual); training never beats it."""
    X, Y, beta = low_dim
    y = np.sign(Y[:, 0])
    sol = dn.solve(X, y, beta=beta, batchnorm=True, activation="linear", loss="logistic")
    assert sol.certified
    trained, _ = best_trained(X, y, beta, seeds=(0, 1), activation="linear", width=3, loss="logistic")
    assert trained >= sol.lower_bound - 1e-8
    assert trained == pytest.approx(sol.value, abs=1e-5)


@pytest.mark.parametrize("bn_scale", ["std", "l2"])
@pytest.mark.parametrize("loss, K", [("logistic", 1), ("logistic", 2), ("cross-entropy", 2), ("cross-entropy", 3)])
def test_fast_smooth_losses_linear_bn_agree_with_cvxpy(low_dim, loss: str, K: int, bn_scale: str) -> None:
    """Newton / factored L-BFGS on min_Z ℓ(QDZ) + β‖Z‖_* against the CVXPY dual and restricted primal."""
    X, Y, beta = low_dim
    rng = np.random.default_rng(K)
    n = X.shape[0]
    Y = rng.choice([-1.0, 1.0], size=(n, K)) if loss == "logistic" else np.eye(K)[np.arange(n) % K]
    kw = dict(beta=beta, batchnorm=True, activation="linear", loss=loss, bn_scale=bn_scale)
    fast, slow = dn.solve(X, Y, **kw), dn.solve(X, Y, method="cvxpy", **kw)
    assert fast.method.startswith("SVD + ") and slow.method.startswith("cvxpy:")
    assert fast.certified and slow.certified, (fast.reason, slow.reason)
    assert fast.value == pytest.approx(slow.value, abs=1e-6 * max(1.0, slow.value))   # CLARABEL's accuracy
    np.testing.assert_allclose(fast.predict(X), slow.predict(X), atol=1e-3)


@pytest.mark.parametrize("bn_scale", ["std", "l2"])
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("loss", ["hinge", "absolute"])
def test_fast_kinked_losses_linear_bn_agree_with_cvxpy(low_dim, loss: str, K: int, bn_scale: str) -> None:
    """Smoothed Newton on min_Z ℓ(QDZ) + β‖Z‖_* (on factors for K > 1, kinks solved exactly) against CVXPY."""
    X, Y, beta = low_dim
    rng = np.random.default_rng(K)
    cols = np.column_stack([Y[:, 0], rng.standard_normal((Y.shape[0], K - 1))])
    y = np.sign(cols) if loss == "hinge" else cols
    kw = dict(beta=beta, batchnorm=True, activation="linear", loss=loss, bn_scale=bn_scale)
    fast, slow = dn.solve(X, y, **kw), dn.solve(X, y, method="cvxpy", **kw)
    assert "smoothed Newton" in fast.method and slow.method.startswith("cvxpy:")
    assert fast.certified, fast.reason
    # The CVXPY route reaches relative gaps of 1e-6 to 1e-5 here (not certified at tol 1e-6): the
    # certified value must lie inside its proven interval [lower bound, value].
    assert slow.lower_bound - 1e-9 <= fast.value <= slow.value + 1e-9 * max(1.0, slow.value)


# ========================================================== ReLU BN (§6.2, §6.4)
def test_t11_value_closed_form_cvxpy(t11) -> None:
    """known answer T11: P = Σ_k H_{β/√n}(√n_k) = 1.2256406 by closed form, CVXPY and solve at depth 2 and 3."""
    X, Y, _, beta = t11
    lam = beta / np.sqrt(6)
    expected = 3 * huber(np.sqrt(2), lam)
    assert expected == pytest.approx(1.225640646, abs=5e-10)
    assert bn.closed_form(X, Y, beta, activation="relu").value == pytest.approx(expected, abs=1e-12)
    prog = dn.dual_program(X, Y, beta=beta, batchnorm=True)
    assert prog.solve(solver="CLARABEL") == pytest.approx(expected, abs=1e-6)
    for depth in (2, 3):
        for method in ("auto", "cvxpy"):
            sol = dn.solve(X, Y, beta=beta, batchnorm=True, depth=depth, method=method)
            assert sol.certified and sol.network.depth == depth
            assert sol.value == pytest.approx(expected, abs=1e-9 if method == "auto" else 1e-6)


def test_t11_hidden_layer_is_collapsed(t11) -> None:
    """h_i = √3·e_c (γ² + α² = 1), centered means of norm √2 with cosines −0.5 (known answer T11)."""
    X, Y, labels, beta = t11
    net = dn.solve(X, Y, beta=beta, batchnorm=True).network
    H = r_form(net).hidden(X)
    assert H.shape == (6, 3)
    np.testing.assert_allclose(H, np.sqrt(3) * Y[:, np.argmax(H.T @ Y, axis=0)], atol=1e-12)
    nc = dn.collapse_metrics(r_form(net), X, labels)
    assert nc.within_scatter <= 1e-20 and nc.nc1 <= 1e-20
    np.testing.assert_allclose(nc.centered_norms, np.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(nc.cosines[~np.eye(3, dtype=bool)], -0.5, atol=1e-12)
    assert nc.nc2 <= 1e-12 and nc.nc3 <= 1e-12
    # W_L on the active neurons: diagonal with equal entries (√(n/K) − β/√n)/√n in the R-form
    W = r_form(net).branches[0][-1][0]
    np.testing.assert_allclose(np.sort(np.abs(W).max(axis=1)), (np.sqrt(2) - beta / np.sqrt(6)) / np.sqrt(6),
                               rtol=1e-12)


@pytest.mark.slow
def test_t11_training_reaches_closed_form_and_collapses(t11) -> None:
    """Non-convex L-BFGS on the ReLU-BN network reaches P and collapses (docs/settings/batchnorm.md#neural-collapse measurement)."""
    X, Y, labels, beta = t11
    expected = 3 * huber(np.sqrt(2), beta / np.sqrt(6))
    trained, net = best_trained(X, Y, beta, seeds=(1, 2, 3), width=6)
    assert trained >= expected - 1e-9
    assert trained == pytest.approx(expected, abs=1e-6)
    nc = dn.collapse_metrics(net, X, labels)
    # trained to ~1e-9 in value; flat directions leave the geometry exact only to ~sqrt of that
    assert nc.within_scatter <= 1e-8
    np.testing.assert_allclose(nc.cosines[~np.eye(3, dtype=bool)], -0.5, atol=1e-3)
    assert nc.norm_spread <= 1e-3 and nc.nc2 <= 1e-3 and nc.nc3 <= 1e-3


def test_scalar_relu_closed_form_cvxpy_training() -> None:
    """Scalar labels: P = H_{β/√n}(‖y₊‖) + H_{β/√n}(‖y₋‖) (docs/settings/batchnorm.md#closed-form-relu), two active neurons."""
    rng = np.random.default_rng(11)
    X, y, beta = rng.standard_normal((6, 9)), rng.standard_normal(6), 0.8
    lam = beta / np.sqrt(6)
    expected = huber(np.linalg.norm(np.maximum(y, 0)), lam) + huber(np.linalg.norm(np.maximum(-y, 0)), lam)
    sol = dn.solve(X, y, beta=beta, batchnorm=True)
    assert sol.certified and sol.value == pytest.approx(expected, abs=1e-12)
    assert sol.info["n_neurons"] == 2
    cvx = dn.solve(X, y, beta=beta, batchnorm=True, method="cvxpy")
    assert cvx.value == pytest.approx(expected, abs=1e-6)
    trained, _ = best_trained(X, y, beta, seeds=(0, 1), width=4)
    assert trained >= expected - 1e-9 and trained == pytest.approx(expected, abs=1e-6)


def test_scalar_relu_rho_bounds_sampled_branches() -> None:
    """√n·max(‖u₊‖, ‖u₋‖) bounds every ReLU-BN branch, for any data (a proof, not an estimate)."""
    rng = np.random.default_rng(12)
    X, u = rng.standard_normal((10, 3)), rng.standard_normal((10, 1))   # low-dimensional on purpose
    rho, exact = bn.rho(u, X, 2, activation="relu")
    assert exact and rho == pytest.approx(np.sqrt(10) * max(np.linalg.norm(np.maximum(u, 0)),
                                                             np.linalg.norm(np.maximum(-u, 0))))
    net = Network.from_weights([rng.standard_normal((3, 400)), np.zeros((400, 1))], "relu",
                               (rng.standard_normal(400), rng.standard_normal(400)))
    g, a = net.batchnorm[0]
    assert np.abs(u.T @ (net.hidden(X) / np.hypot(g, a))).max() <= rho
    assert bn.rho(u, X, 2)[0] >= rho                    # activation unknown: the larger, safe bound


def test_hinge_relu_bn() -> None:
    rng = np.random.default_rng(13)
    X, y, beta = rng.standard_normal((6, 9)), np.array([1.0, -1, 1, 1, -1, -1]), 0.8
    sol = dn.solve(X, y, beta=beta, batchnorm=True, loss="hinge")
    assert sol.certified
    trained, _ = best_trained(X, y, beta, seeds=(0,), width=4, loss="hinge", max_iter=300)
    assert trained >= sol.lower_bound - 1e-8


def test_minority_collapse_imbalanced_classes() -> None:
    """Minority collapse: n = 7, classes (4, 2, 1), β = 3; n_c ≤ β²/n = 9/7 vanishes, the rest orthogonal."""
    X = np.random.default_rng(14).standard_normal((7, 9))
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    Y, beta = np.eye(3)[labels], 3.0
    lam = beta / np.sqrt(7)
    sol = dn.solve(X, Y, beta=beta, batchnorm=True)
    assert sol.certified
    assert sol.value == pytest.approx(huber(2.0, lam) + huber(np.sqrt(2), lam) + huber(1.0, lam), abs=1e-12)
    F = sol.predict(X)
    np.testing.assert_allclose(F[:, 2], 0.0, atol=1e-14)              # the minority class vanishes
    assert np.all(F[labels == 1, 1] > 0)
    assert sol.info["n_neurons"] == 2
    nc = dn.collapse_metrics(r_form(sol.network), X, labels)
    means = nc.means
    np.testing.assert_allclose(np.linalg.norm(means[:2], axis=1), [np.sqrt(7 / 4), np.sqrt(7 / 2)], rtol=1e-12)
    np.testing.assert_allclose(means[2], 0.0, atol=1e-14)
    assert abs(means[0] @ means[1]) <= 1e-12
    assert nc.within_scatter <= 1e-20
    assert nc.norm_spread > 0.1 and nc.nc2 > 0.1                       # unequal norms: not a simplex ETF


def test_certify_random_bn_networks_weak_duality(t11) -> None:
    """Any BN network's value is at least the certified lower bound (T16, BN form)."""
    X, Y, _, beta = t11
    rng = np.random.default_rng(15)
    for activation in ("relu", "linear"):
        for _ in range(3):
            net = Network.from_weights([rng.standard_normal((8, 5)), rng.standard_normal((5, 3))], activation,
                                       (rng.standard_normal(5), rng.standard_normal(5)))
            cert = dn.certify(net, X, Y, beta=beta)
            assert cert.setting == "batchnorm" and cert.exact
            assert cert.value >= cert.lower_bound - 1e-12
            assert cert.lower_bound <= bn.closed_form(X, Y, beta, activation=activation).value + 1e-12


def test_predict_on_new_data_uses_training_statistics(t11) -> None:
    X, Y, _, beta = t11
    sol = dn.solve(X, Y, beta=beta, batchnorm=True)
    x_new = np.random.default_rng(16).standard_normal((1, 8))
    net = sol.network
    A = x_new
    for W, _ in net.branches[0][:-2]:
        A = np.maximum(A @ W, 0)
    mean, div = net.bn_stats[0]
    g, a = net.batchnorm[0]
    expected = np.maximum(g * (A @ net.branches[0][-2][0] - mean) / div + a, 0) @ net.branches[0][-1][0]
    np.testing.assert_allclose(sol.predict(x_new), expected, rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_two_output_relu_rho_is_exact(seed) -> None:
    """K = 2: √n·max_{‖z‖=1} ‖(Uz)₊‖ by the circle sweep = a dense angle grid, ≤ the spectral bound."""
    rng = np.random.default_rng(20 + seed)
    n = 9
    U = rng.standard_normal((n, 2))
    U[rng.random(n) < 0.3] = 0.0
    if seed == 3:
        U = np.vstack([U, U[:2], -U[:2]])                # repeated and opposite rows: tied breakpoints
    rho, exact = bn.rho(U, np.zeros((U.shape[0], 1)), 2, activation="relu")
    theta = np.linspace(0, 2 * np.pi, 100_001)
    grid = np.sqrt(np.max(np.sum(np.maximum(U @ np.vstack([np.cos(theta), np.sin(theta)]), 0) ** 2, axis=0)))
    assert exact
    # the grid misses the maximizer by at most ‖U‖₂·(angle step)²/2 ≈ 1e-9
    assert grid * np.sqrt(U.shape[0]) <= rho <= grid * np.sqrt(U.shape[0]) * (1 + 1e-8)
    assert rho <= np.sqrt(U.shape[0]) * np.linalg.norm(U, 2) * (1 + 1e-14)


def test_two_class_relu_bn_certificate() -> None:
    """One-hot K = 2: closed form = CVXPY, and a trained network is certified to its training accuracy."""
    rng = np.random.default_rng(21)
    X = rng.standard_normal((6, 9))
    Y = np.eye(2)[[0, 0, 0, 1, 1, 1]]
    sol = dn.solve(X, Y, beta=0.5, batchnorm=True)
    lam = 0.5 / np.sqrt(6)
    assert sol.certified and sol.value == pytest.approx(2 * huber(np.sqrt(3), lam), abs=1e-12)
    assert dn.solve(X, Y, beta=0.5, batchnorm=True, method="cvxpy").value == pytest.approx(sol.value, abs=1e-6)
    trained, net = best_trained(X, Y, 0.5, seeds=(0,), width=4)
    cert = dn.certify(net, X, Y, beta=0.5)
    assert cert.lower_bound <= sol.value + 1e-12 and trained >= sol.value - 1e-9
    assert cert.rel_gap <= 1e-5                         # first order in the training error (~1e-9)


def test_relu_formulas_refuse_non_one_hot_vector_labels(t11) -> None:
    X, _, _, beta = t11
    Y = np.random.default_rng(22).standard_normal((6, 2))
    with pytest.raises(SettingError, match="closed_form of the ReLU batchnorm setting needs one-hot labels"):
        bn.closed_form(X, Y, beta, activation="relu")
    with pytest.raises(SettingError, match="dual_program of the ReLU batchnorm setting needs one-hot labels"):
        bn.dual_program(X, Y, 2, beta, None, SQ, activation="relu")
