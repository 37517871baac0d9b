"""Deep ReLU networks on rank-one data X = c a0ᵀ, c ≥ 0 (docs/settings/rank_one.md): known answers, three oracles.

Oracles: docs/theory/known-answers.md#t5 by hand, the closed form (§3.4), the CVXPY dual with each solver
(its own tolerance), and non-convex L-BFGS training of the same weight-decay objective
from several seeds (which must never end below a certified bound). Invariants only:
values, predictions, ranks, directions of singular vectors.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualnet as dn
from dualnet.losses import get_loss
from dualnet.settings import rank_one
from dualnet.train import train

BETA = 0.6


def rank_one_data(seed: int, n: int = 5, d: int = 3, K: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                            np.ndarray]:
    """X = c a0ᵀ with c > 0, Gaussian labels (docs/settings/rank_one.md#mixed-signs uses random 5×3 data)."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.2, 2.0, n)
    a0 = rng.standard_normal(d)
    Y = rng.standard_normal((n, K))
    return np.outer(c, a0), (Y[:, 0] if K == 1 else Y), c, a0


def direct_value(c: np.ndarray, a0: np.ndarray, Y: np.ndarray, beta_t: float) -> float:
    """P_t of docs/settings/rank_one.md#closed-form written from c and a0 directly (an oracle independent of rank_one.factor)."""
    Y = Y.reshape(len(c), -1)
    beta_c = beta_t / np.linalg.norm(a0)
    excess = max(0.0, np.linalg.norm(Y.T @ c) - beta_c)
    return 0.5 * float(np.sum(Y * Y)) - excess ** 2 / (2 * float(c @ c))


def scale(value: float) -> float:
    return max(1.0, abs(value))


# --------------------------------------------------------------------------- T5 (§10)
T5_X = np.outer([1.0, 2.0], [3.0, 4.0])
T5_Y = np.array([1.0, 1.0])


def test_t5_closed_form() -> None:
    sol = dn.solve(T5_X, T5_Y, beta=5.0)
    assert sol.setting == "relu-rank-one" and sol.method.startswith("closed-form")
    assert sol.certified, sol.reason
    assert sol.value == pytest.approx(0.6, abs=1e-12)
    np.testing.assert_allclose(sol.predict(T5_X), [0.4, 0.8], atol=1e-12)
    np.testing.assert_allclose(sol.dual.ravel(), [0.6, 0.2], atol=1e-12)
    # β_c = β/‖a0‖ = 1 and the slab constraint is active: |cᵀu*| = 1.
    assert abs(np.array([1.0, 2.0]) @ sol.dual.ravel()) == pytest.approx(1.0, abs=1e-12)


def test_t5_cvxpy(solver_tol) -> None:
    solver, tol = solver_tol
    sol = dn.solve(T5_X, T5_Y, beta=5.0, method="cvxpy", solver=solver)
    assert sol.method == f"cvxpy:{solver}"
    assert sol.value == pytest.approx(0.6, abs=tol)
    assert sol.rel_gap <= tol
    np.testing.assert_allclose(sol.predict(T5_X), [0.4, 0.8], atol=10 * tol)   # weights from a dual: 10x looser


def test_t5_dual_program_is_dpp_and_reusable(solver_tol) -> None:
    solver, tol = solver_tol
    prog = dn.dual_program(T5_X, T5_Y, beta=5.0)
    assert prog.problem.is_dpp()
    assert prog.solve(solver=solver) == pytest.approx(0.6, abs=tol)
    for beta in (1.0, 8.0, 20.0):                     # the same compiled program along β
        prog.set_beta(beta)
        assert prog.solve(solver=solver) == pytest.approx(direct_value(np.array([1.0, 2.0]), np.array([3.0, 4.0]),
                                                                       T5_Y, beta), abs=tol)


def test_t5_slab_inactive_for_large_beta() -> None:
    """β_c ≥ |cᵀy| = 3: the zero network is optimal and u* = y (projection inactive)."""
    sol = dn.solve(T5_X, T5_Y, beta=15.0)
    assert sol.certified and sol.value == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(sol.predict(T5_X), 0.0, atol=1e-15)


# --------------------------------------------------------------- random instances
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("K", [1, 2])
def test_closed_form_vs_cvxpy(seed: int, K: int, solver_tol) -> None:
    solver, tol = solver_tol
    X, Y, c, a0 = rank_one_data(seed, n=6, d=4, K=K)
    exact = direct_value(c, a0, Y, BETA)
    fast = dn.solve(X, Y, beta=BETA)
    slow = dn.solve(X, Y, beta=BETA, method="cvxpy", solver=solver)
    assert fast.certified and fast.value == pytest.approx(exact, abs=1e-9 * scale(exact))
    assert slow.value == pytest.approx(exact, abs=tol * scale(exact))
    np.testing.assert_allclose(slow.predict(X), fast.predict(X), atol=10 * tol)   # weights from a dual


@pytest.mark.parametrize("seed", [0, 3])
def test_two_layer_matches_nonconvex_training(seed: int) -> None:
    """docs/settings/rank_one.md#mixed-signs: on random 5×3 rank-one data (β = 0.6) the closed form equals training."""
    X, y, c, a0 = rank_one_data(seed)
    sol = dn.solve(X, y, beta=BETA)
    trained = [train(X, y, beta=BETA, depth=2, width=3, seed=s).objective(X, y, BETA) for s in range(3)]
    assert min(trained) >= sol.lower_bound - 1e-8 * scale(sol.value)
    assert min(trained) == pytest.approx(sol.value, abs=1e-6)     # L-BFGS stops at ~1e-8 gradient norm


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_weight_decay_matches_nonconvex_training(depth: int) -> None:
    """docs/settings/rank_one.md#mixed-signs / Lemma A.2: min_t [P_t + β(L−2)t²/2] equals non-convex weight-decay training."""
    X, noise, c, _ = rank_one_data(3)
    y = c + 0.3 * noise                 # a clear signal: the optimum is far from the zero network
    beta = 0.3
    sol = dn.solve(X, y, beta=beta, depth=depth)
    assert sol.certified, sol.reason
    # Width 8: on rank-one data each random ReLU is on for all samples or for none, and
    # narrow deep networks often start with every path dead (stuck at P(0)).
    trained = [train(X, y, beta=beta, depth=depth, width=8, seed=s).objective(X, y, beta) for s in range(4)]
    assert min(trained) >= sol.lower_bound - 1e-8 * scale(sol.value)
    assert min(trained) == pytest.approx(sol.value, abs=1e-6)     # L-BFGS stops at ~1e-8 gradient norm


@pytest.mark.parametrize("depth", [2, 3, 4, 5])
@pytest.mark.parametrize("t", [None, 1.3])
@pytest.mark.parametrize("K", [1, 2])
def test_depths_solve_recover_certify(depth: int, t: float | None, K: int) -> None:
    X, Y, c, a0 = rank_one_data(7, n=6, d=4, K=K)
    beta = 0.2
    sol = dn.solve(X, Y, beta=beta, depth=depth, t=t)
    assert sol.certified, sol.reason
    net = sol.network
    # The recovered network reaches the certified value by a forward pass.
    assert net.objective(X, Y, beta, t=t if depth >= 3 else None) == pytest.approx(sol.value, rel=1e-12)
    assert sol.value - sol.lower_bound <= 1e-6 * scale(sol.value)
    if t is not None or depth == 2:
        beta_t = beta * (t ** (2 - depth) if (t and depth >= 3) else 1.0)
        assert sol.value == pytest.approx(direct_value(c, a0, Y, beta_t), abs=1e-9 * scale(sol.value))
    if t is not None and depth >= 3:
        assert net.t_violation(t) <= 1e-12                  # layers 1..L−2 in the Frobenius balls
    check_alignment(net, X, c, a0)


def check_alignment(net: dn.Network, X: np.ndarray, c: np.ndarray, a0: np.ndarray) -> None:
    """docs/settings/rank_one.md#mixed-signs: one branch, rank-one layers, first layer along +a0, output ∝ c."""
    assert net.n_branches == 1
    for W, _ in net.branches[0]:
        s = np.linalg.svd(W, compute_uv=False)
        assert s.size == 1 or s[1] <= 1e-12 * s[0]
    W1 = net.branches[0][0][0]
    if np.linalg.norm(W1) > 0:
        left = np.linalg.svd(W1)[0][:, 0] * np.sign(np.sum(W1))
        np.testing.assert_allclose(left, a0 / np.linalg.norm(a0), atol=1e-12)   # +a0, never −a0
        assert np.all(X @ W1 >= 0)
    F = net.forward(X)
    c_hat = c / np.linalg.norm(c)
    np.testing.assert_allclose(F - np.outer(c_hat, c_hat @ F), 0.0, atol=1e-12 * max(1.0, np.abs(F).max()))


def test_trained_network_has_rank_one_layers_and_output_along_c() -> None:
    """Non-convex training finds what the theory predicts: hidden layers rank-one, f ∝ c."""
    X, y, c, _ = rank_one_data(0)
    net = train(X, y, beta=BETA, depth=3, width=4, seed=1)
    assert net.objective(X, y, BETA) >= dn.solve(X, y, beta=BETA, depth=3).lower_bound - 1e-8
    for W, _ in net.branches[0][:-1]:
        s = np.linalg.svd(W, compute_uv=False)
        assert s[1] <= 1e-4 * s[0]          # trained to a ~1e-8 gradient: rank one up to training accuracy
    F = net.forward(X)[:, 0]
    assert abs(F @ c) / (np.linalg.norm(F) * np.linalg.norm(c)) == pytest.approx(1.0, abs=1e-9)


# ------------------------------------------------------------------------ losses (§7)
@pytest.mark.parametrize("loss", ["hinge", "logistic", "absolute"])
@pytest.mark.parametrize("depth, t", [(2, None), (3, 1.0), (3, None)])
def test_scalar_losses_through_cvxpy(loss: str, depth: int, t: float | None) -> None:
    X, y, c, a0 = rank_one_data(4, n=8, d=3)
    y = np.sign(y) if loss != "absolute" else y
    beta = 0.3
    sol = dn.solve(X, y, beta=beta, depth=depth, t=t, loss=loss, method="cvxpy")
    assert "cvxpy:" in sol.method
    assert sol.certified, sol.reason
    assert sol.network.objective(X, y, beta, loss=loss, t=t if depth >= 3 else None) == pytest.approx(sol.value)
    if loss == "logistic":          # smooth: training is an independent oracle
        trained = [train(X, y, beta=beta, depth=depth, width=8, seed=s, loss=loss).objective(X, y, beta, loss)
                   for s in range(2)] if t is None else []
        for value in trained:
            assert value >= sol.lower_bound - 1e-8 * scale(sol.value)
        if trained:
            assert min(trained) == pytest.approx(sol.value, abs=1e-5)   # CVXPY accuracy ~1e-8, training ~1e-7


def test_vector_and_cross_entropy_losses() -> None:
    X, _, _, _ = rank_one_data(5, n=9, d=4)
    Y = np.eye(3)[np.arange(9) % 3]
    for loss in ("cross-entropy", "squared"):
        sol = dn.solve(X, Y, beta=0.3, loss=loss)
        assert sol.certified, sol.reason
    prog = dn.dual_program(X, Y, beta=0.3, loss="cross-entropy")
    assert prog.problem.is_dpp()
    assert prog.solve(solver="CLARABEL") == pytest.approx(dn.solve(X, Y, beta=0.3, loss="cross-entropy").value,
                                                         abs=1e-6)


@pytest.mark.parametrize("loss, K", [("logistic", 1), ("logistic", 2), ("cross-entropy", 2), ("cross-entropy", 3)])
@pytest.mark.parametrize("depth, t", [(2, None), (3, 1.3), (3, None)])
def test_fast_smooth_losses_agree_with_cvxpy(loss: str, K: int, depth: int, t: float | None) -> None:
    """Newton on min_m ℓ(ĉ mᵀ) + β_c‖m‖ against the CVXPY dual program and its restricted primal."""
    X, _, _, _ = rank_one_data(6, n=12, d=4)
    rng = np.random.default_rng(K)
    Y = rng.choice([-1.0, 1.0], size=(12, K)) if loss == "logistic" else np.eye(K)[np.arange(12) % K]
    fast = dn.solve(X, Y, beta=0.3, depth=depth, t=t, loss=loss)
    slow = dn.solve(X, Y, beta=0.3, depth=depth, t=t, loss=loss, method="cvxpy")
    assert "Newton" in fast.method and "cvxpy:" in slow.method
    assert fast.certified and slow.certified, (fast.reason, slow.reason)
    assert fast.value == pytest.approx(slow.value, abs=1e-6 * scale(slow.value))     # CLARABEL's accuracy
    np.testing.assert_allclose(fast.predict(X), slow.predict(X), atol=1e-3)


@pytest.mark.parametrize("loss, K", [("hinge", 1), ("hinge", 2), ("absolute", 1), ("absolute", 3)])
@pytest.mark.parametrize("depth, t", [(2, None), (3, 1.3), (3, None)])
def test_fast_kinked_losses_agree_with_cvxpy(loss: str, K: int, depth: int, t: float | None) -> None:
    """Smoothed Newton on min_m ℓ(ĉ mᵀ) + β_c‖m‖ (kinks solved exactly) against the CVXPY dual and primal."""
    X, _, _, _ = rank_one_data(6, n=12, d=4)
    rng = np.random.default_rng(K)
    Y = rng.choice([-1.0, 1.0], size=(12, K)) if loss == "hinge" else rng.standard_normal((12, K))
    fast = dn.solve(X, Y, beta=0.3, depth=depth, t=t, loss=loss, method="closed-form")
    slow = dn.solve(X, Y, beta=0.3, depth=depth, t=t, loss=loss, method="cvxpy")
    assert "smoothed Newton" in fast.method and "cvxpy:" in slow.method
    assert fast.certified and slow.certified, (fast.reason, slow.reason)
    assert fast.value == pytest.approx(slow.value, abs=1e-6 * scale(slow.value))     # CLARABEL's accuracy
    assert fast.value <= slow.value + 1e-9 * scale(slow.value)


# ------------------------------------------------------------------------------- rho
def test_rho_is_exact_for_rank_one_data() -> None:
    X, y, c, a0 = rank_one_data(2, n=6, d=4, K=2)
    U = np.random.default_rng(0).standard_normal(y.shape)
    value, exact = rank_one.rho(U, X, 4, t=1.5)
    assert exact
    assert value == pytest.approx(1.5 ** 2 * np.linalg.norm(a0) * np.linalg.norm(U.T @ c), rel=1e-12)   # X = c a0ᵀ


def random_branch_outputs(X: np.ndarray, depth: int, t: float, count: int, seed: int) -> np.ndarray:
    """g(X) for random members of the branch set G_t (docs/theory/framework.md#dual), as columns."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        A = X
        for _ in range(depth - 2):
            W = rng.standard_normal((A.shape[1], 3))
            A = np.maximum(A @ (t * W / np.linalg.norm(W)), 0.0)
        w = rng.standard_normal(A.shape[1])
        out.append(np.maximum(A @ (w / np.linalg.norm(w)), 0.0))
    return np.array(out).T


@pytest.mark.parametrize("noise", [0.0, 1e-3])
def test_rho_bounds_every_branch_even_off_the_assumption(noise: float) -> None:
    """ρ(U) ≥ ‖Uᵀg‖ for sampled branches g ∈ G_t, also for X only close to rank one (the slack term)."""
    X, _, _, _ = rank_one_data(3, n=6, d=4)
    X = X + noise * np.random.default_rng(1).standard_normal(X.shape)
    U = np.random.default_rng(2).standard_normal((6, 2))
    value, exact = rank_one.rho(U, X, 3, t=1.2)
    G = random_branch_outputs(X, 3, 1.2, 2000, seed=0)
    assert exact and np.max(np.linalg.norm(U.T @ G, axis=0)) <= value * (1 + 1e-12)


# ---------------------------------------------------------------------- detection
def test_round_off_noise_is_accepted_and_certified() -> None:
    X, y, _, _ = rank_one_data(0, n=8, d=5)
    Xn = X + 1e-13 * np.random.default_rng(1).standard_normal(X.shape)
    assert rank_one.check(Xn, y[:, None], 3) == []
    sol = dn.solve(Xn, y, beta=BETA, depth=3)
    assert sol.setting == "relu-rank-one" and sol.certified, sol.reason


def test_tiny_noise_above_tolerance_is_rejected_with_the_residual() -> None:
    X, y, _, _ = rank_one_data(0, n=8, d=5)
    Xn = X + 1e-8 * np.random.default_rng(1).standard_normal(X.shape)
    ratio = np.linalg.svd(Xn, compute_uv=False)
    expected = f"{ratio[1] / ratio[0]:.3g}"
    (message,) = rank_one.check(Xn, y[:, None], 3)
    assert f"sigma_2(X)/sigma_1(X) = {expected} > tolerance 1e-10" in message
    with pytest.raises(dn.SettingError, match=r"relu-rank-one: X is not rank one: sigma_2\(X\)/sigma_1\(X\) = "):
        dn.solve(Xn, y, beta=BETA, depth=3)
    # A looser tolerance is an option of solve (passed to every check).
    assert dn.solve(Xn, y, beta=BETA, depth=3, setting="relu-rank-one", rank_one_tol=1e-6).certified


def test_mixed_sign_c_names_the_fallback() -> None:
    X = np.outer([1.0, -2.0, 3.0, 0.5], [1.0, 2.0, 3.0])
    with pytest.raises(dn.SettingError, match=r"c has both signs.*depth=2.*relu-two-layer"):
        dn.solve(X, np.ones(4), beta=0.1, depth=3, setting="relu-rank-one")


def test_negative_c_is_the_same_as_positive_c() -> None:
    """X = (−c)(−a0)ᵀ: the sign of the factorization is free, so c ≤ 0 is covered too."""
    X, y, _, _ = rank_one_data(1)
    assert rank_one.check(-X, y[:, None], 2) == []
    assert dn.solve(-X, y, beta=BETA).value == pytest.approx(dn.solve(X, y, beta=BETA).value, rel=1e-12)


def test_check_lists_each_failed_assumption() -> None:
    X, y, _, _ = rank_one_data(0)
    problems = rank_one.check(X, y[:, None], 2, activation="linear", bias=True, batchnorm=True)
    assert len(problems) == 3
    assert rank_one.check(np.zeros((3, 2)), np.ones((3, 1)), 2) == [
        "X is zero (no rank-one factor X = c a0^T with c, a0 != 0)"]
    assert "not rank one" in rank_one.check(np.eye(3), np.ones((3, 1)), 2)[0]


def test_large_data_reject_cheaply_with_an_estimate() -> None:
    """Above the SVD size the check estimates σ₂/σ₁ from the residual (here ≈ 1 for Gaussian data)."""
    X = np.random.default_rng(0).standard_normal((600, 700))
    (message,) = rank_one.check(X, np.ones((600, 1)), 2)
    assert "sigma_2(X)/sigma_1(X) ~ " in message


def test_recover_from_the_optimal_dual() -> None:
    X, Y, _, _ = rank_one_data(6, n=6, d=4, K=2)
    beta_t = 0.4 * 1.1 ** (2 - 4)
    U, F = rank_one.closed_form(X, Y, beta_t)
    net = rank_one.recover(U, X, Y, 4, 0.4, 1.1, get_loss("squared"))
    np.testing.assert_allclose(net.forward(X), F, atol=1e-12)
    assert net.objective(X, Y, 0.4, t=1.1) == pytest.approx(rank_one.optimal_value(X, Y, beta_t), rel=1e-12)
