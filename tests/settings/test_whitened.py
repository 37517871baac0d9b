"""Deep ReLU networks on whitened data X Xᵀ = I (docs/settings/whitened.md): known answers, three oracles.

Oracles: docs/theory/known-answers.md#t6, T7, T14 and the §5.5/§5.6 measurements (they depend only on class
sizes), the closed forms of §5.4, the CVXPY duals with each solver, and non-convex
L-BFGS training (weight decay, or the t-form through a sphere parameterization written
here) from several seeds, which must never end below a certified bound. Invariants:
values, predictions, disjoint supports, ranks.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import dualnet as dn
from dualnet.losses import get_loss
from dualnet.network import Network
from dualnet.settings import whitened
from dualnet.train import objective_and_gradient, train


def whitened_data(seed: int, n: int, d: int) -> np.ndarray:
    """X = Qᵀ with Q from the QR factorization of a Gaussian d×n matrix (docs/theory/framework.md#conventions)."""
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, n)))
    return Q.T.copy()


def one_hot(labels: list[int], K: int | None = None) -> np.ndarray:
    return np.eye(K or max(labels) + 1)[labels]


def huber(a: float, lam: float) -> float:
    return 0.5 * a * a if a <= lam else lam * a - 0.5 * lam * lam


def scale(value: float) -> float:
    return max(1.0, abs(value))


def train_t_form(X: np.ndarray, Y: np.ndarray, beta: float, depth: int, t: float, width: int, seed: int) -> Network:
    """L-BFGS on the t-form (docs/theory/framework.md#training-problems (T)) from a random start.

    Layers 1..L−2 are kept at Frobenius norm t by W_l = t V_l/‖V_l‖, so the weight-decay
    objective differs from the t-form objective by the constant β(L−2)t²/2 and
    :func:`dualnet.train.objective_and_gradient` gives the gradient (projected onto the
    tangent space of each sphere).
    """
    d, K = X.shape[1], Y.shape[1]
    shapes = [(d, width)] + [(width, width)] * (depth - 2) + [(width, K)]
    sizes = np.cumsum([0] + [a * b for a, b in shapes])

    def weights(theta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        V = [theta[sizes[i]:sizes[i + 1]].reshape(shapes[i]) for i in range(depth)]
        return V, [t * v / np.linalg.norm(v) if i < depth - 2 else v for i, v in enumerate(V)]

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        V, W = weights(theta)
        value, grads = objective_and_gradient(Network([[(w, None) for w in W]]), X, Y, beta)
        flat = []
        for i, (g, _) in enumerate(grads[0]):
            if i < depth - 2:
                direction = V[i] / np.linalg.norm(V[i])
                g = (t / np.linalg.norm(V[i])) * (g - np.sum(g * direction) * direction)
            flat.append(g.ravel())
        return value, np.concatenate(flat)

    theta0 = np.random.default_rng(seed).standard_normal(sizes[-1]) * 0.5
    res = minimize(fun, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15})
    return Network([[(w, None) for w in weights(res.x)[1]]])


# ------------------------------------------------------------------------ T6 (§10)
def test_t6_scalar_two_neurons() -> None:
    X, y = np.eye(2), np.array([3.0, -4.0])
    sol = dn.solve(X, y, beta=1.0)
    assert sol.setting == "relu-whitened" and sol.certified, sol.reason
    assert sol.value == pytest.approx(6.0, abs=1e-12)
    np.testing.assert_allclose(sol.predict(X), [2.0, -3.0], atol=1e-12)
    np.testing.assert_allclose(sol.dual.ravel(), [1.0, -1.0], atol=1e-12)
    hidden = sol.network.hidden(X)
    assert np.sum(np.linalg.norm(hidden, axis=0) > 0) == 2          # a positive and a negative neuron
    # Contrast: a linear network on the same data is better off (docs/theory/known-answers.md#t6).
    assert dn.solve(X, y, beta=1.0, activation="linear").value == pytest.approx(4.5, abs=1e-12)


def test_t6_cvxpy(solver_tol) -> None:
    solver, tol = solver_tol
    sol = dn.solve(np.eye(2), np.array([3.0, -4.0]), beta=1.0, method="cvxpy", solver=solver)
    assert sol.method == f"cvxpy:{solver}" and sol.rel_gap <= tol
    assert sol.value == pytest.approx(6.0, abs=tol * 6)
    prog = dn.dual_program(np.eye(2), np.array([3.0, -4.0]), beta=1.0)
    assert prog.problem.is_dpp() and prog.solve(solver=solver) == pytest.approx(6.0, abs=tol * 6)


# ------------------------------------------------------------------------ T7 (§10)
T7_X, T7_Y = np.eye(3), one_hot([0, 0, 1])
T7 = [(0.5, 0.9571068, [[0.646447, 0], [0.646447, 0], [0, 0.5]], 2),
      (1.2, 1.4770563, None, 1),
      (2.0, 1.5, np.zeros((3, 2)), 0)]


@pytest.mark.parametrize("beta, value, F, active", T7, ids=["beta0.5", "beta1.2", "beta2"])
def test_t7_one_hot(beta: float, value: float, F, active: int) -> None:
    sol = dn.solve(T7_X, T7_Y, beta=beta)
    assert sol.certified, sol.reason
    assert sol.value == pytest.approx(value, abs=1e-7)        # the known answer quotes 7 digits
    assert sol.value == pytest.approx(sum(huber(np.sqrt(k), beta) for k in (2, 1)), abs=1e-12)
    if F is not None:
        np.testing.assert_allclose(sol.predict(T7_X), F, atol=1e-6)
    assert np.sum(np.linalg.norm(sol.network.hidden(T7_X), axis=0) > 0) == active     # one neuron per class


@pytest.mark.parametrize("beta, value, F, active", T7, ids=["beta0.5", "beta1.2", "beta2"])
def test_t7_cvxpy_and_dual_program(beta: float, value: float, F, active: int, solver_tol) -> None:
    solver, tol = solver_tol
    sol = dn.solve(T7_X, T7_Y, beta=beta, method="cvxpy", solver=solver)
    assert sol.value == pytest.approx(value, abs=max(1e-7, tol * scale(value))) and sol.rel_gap <= tol
    prog = dn.dual_program(T7_X, T7_Y, beta=beta)
    assert prog.problem.is_dpp() and prog.solve(solver=solver) == pytest.approx(value, abs=max(1e-7, tol))


# ----------------------------------------------------------------------- T14 (§10)
def test_t14_deep_t_form_constructed_network() -> None:
    sol = dn.solve(T7_X, T7_Y, beta=2.0, depth=4, t=2.0)      # β_t = β t^{2−L} = 0.5
    assert sol.certified and sol.value == pytest.approx(0.9571068, abs=1e-7)
    # The last two layers carry t^{2−L}(√n_k − β_t) per class, ¼·(√2 − ½, ½) (balanced between them).
    products = sorted(float(br[-2][0].ravel() @ br[-1][0].sum(axis=1)) for br in sol.network.branches)
    np.testing.assert_allclose(products, sorted([0.25 * (np.sqrt(2) - 0.5), 0.125]), atol=1e-12)
    assert sol.network.objective(T7_X, T7_Y, 2.0, t=2.0) == pytest.approx(sol.value, rel=1e-12)


def test_t14_training_never_beats_the_optimum() -> None:
    """known answer T14: random starts can stall (1.0821069, a dead branch); none goes below 0.9571068."""
    values = [train_t_form(T7_X, T7_Y, 2.0, 4, 2.0, width=3, seed=s).objective(T7_X, T7_Y, 2.0, t=2.0)
              for s in range(3)]
    assert min(values) >= 0.9571068 - 1e-7
    for s in range(2):
        net = train_t_form(T7_X, T7_Y, 2.0, 4, 2.0, width=3, seed=s)
        cert = dn.certify(net, T7_X, T7_Y, beta=2.0, t=2.0)
        assert cert.exact and cert.lower_bound <= 0.9571068 + 1e-9


# --------------------------------------------------------------- docs/settings/whitened.md#closed-forms, docs/settings/whitened.md#recovery
SIZES_322 = [0, 0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("beta, value", [(0.6, 2.19628676), (1.5, 3.47307621), (2.0, 3.5)])
def test_math_5_6_one_hot_two_layer_vs_training(beta: float, value: float) -> None:
    X, Y = whitened_data(0, 7, 10), one_hot(SIZES_322)
    sol = dn.solve(X, Y, beta=beta)
    assert sol.certified and sol.value == pytest.approx(value, abs=1e-8)
    trained = [train(X, Y, beta=beta, depth=2, width=4, seed=s).objective(X, Y, beta) for s in range(3)]
    assert min(trained) >= sol.lower_bound - 1e-8
    assert min(trained) == pytest.approx(value, abs=1e-6)       # L-BFGS accuracy
    # Class k is active iff √n_k > β: a threshold on class size.
    active = {k for k, n_k in enumerate((3, 2, 2)) if np.sqrt(n_k) > beta}
    F = sol.predict(X)
    assert {k for k in range(3) if np.abs(F[:, k]).max() > 0} == active


def test_math_5_5_weight_decay_construction_vs_training() -> None:
    """docs/settings/whitened.md#recovery: n = 7, classes (3, 2, 2), β = 0.6, L = 3; the constructed network gives 3.0842533."""
    X, Y = whitened_data(1, 7, 10), one_hot(SIZES_322)
    sol = dn.solve(X, Y, beta=0.6, depth=3)
    assert sol.value == pytest.approx(3.0842533, abs=1e-7)
    expected = sum(min(0.5 * (np.sqrt(n) - s) ** 2 + 0.9 * s ** (2 / 3) for s in np.linspace(0, 2, 200001))
                   for n in (3, 2, 2))
    assert sol.value == pytest.approx(expected, abs=1e-8)        # grid minimum over s, spacing 1e-5
    assert sol.lower_bound <= sol.value and not sol.certified   # three active classes: the bounds do not meet
    assert "3 active branches" in sol.info["note"]
    trained = [train(X, Y, beta=0.6, depth=3, width=4, seed=s).objective(X, Y, 0.6) for s in range(3)]
    assert min(trained) >= sol.lower_bound - 1e-8
    assert min(trained) >= sol.value - 1e-7                     # the known answer: training stalled at 3.1207 or worse


def test_math_5_6_scalar_vs_training() -> None:
    """docs/settings/whitened.md#closed-forms scalar check (n = 6, d = 9, β = 0.6) on our own random instance."""
    X, y = whitened_data(2, 6, 9), np.random.default_rng(2).standard_normal(6)
    sol = dn.solve(X, y, beta=0.6)
    y_plus, y_minus = np.maximum(y, 0), np.maximum(-y, 0)
    exact = huber(np.linalg.norm(y_plus), 0.6) + huber(np.linalg.norm(y_minus), 0.6)
    assert sol.certified and sol.value == pytest.approx(exact, abs=1e-12)
    trained = [train(X, y, beta=0.6, depth=2, width=4, seed=s).objective(X, y, 0.6) for s in range(3)]
    assert min(trained) >= sol.lower_bound - 1e-8 and min(trained) == pytest.approx(exact, abs=1e-6)


# --------------------------------------------------------------- random instances
RANDOM = [(seed, n, d, kind) for seed in (0, 1) for n, d in ((6, 9), (8, 8)) for kind in ("scalar", "one-hot")]


def random_labels(seed: int, n: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    return rng.standard_normal(n) if kind == "scalar" else one_hot(list(rng.integers(0, 3, n)), 3)


@pytest.mark.parametrize("seed, n, d, kind", RANDOM)
def test_closed_form_vs_cvxpy(seed: int, n: int, d: int, kind: str, solver_tol) -> None:
    solver, tol = solver_tol
    X, Y = whitened_data(seed, n, d), random_labels(seed, n, kind)
    beta = 0.7
    exact = whitened.optimal_value(Y.reshape(n, -1), beta)
    fast = dn.solve(X, Y, beta=beta)
    slow = dn.solve(X, Y, beta=beta, method="cvxpy", solver=solver)
    assert fast.certified and fast.value == pytest.approx(exact, abs=1e-9 * scale(exact))
    assert slow.value == pytest.approx(exact, abs=tol * scale(exact)) and slow.rel_gap <= tol
    np.testing.assert_allclose(slow.predict(X), fast.predict(X), atol=10 * tol)   # weights from a dual


@pytest.mark.parametrize("depth", [2, 3, 4, 5])
@pytest.mark.parametrize("kind", ["scalar", "one-hot"])
def test_depths_t_form_solve_recover_certify(depth: int, kind: str) -> None:
    X, Y = whitened_data(3, 9, 12), random_labels(3, 9, kind)
    beta, t = 0.5, 1.2
    sol = dn.solve(X, Y, beta=beta, depth=depth, t=t)
    assert sol.certified, sol.reason
    beta_t = beta * t ** (2 - depth) if depth >= 3 else beta
    assert sol.value == pytest.approx(whitened.optimal_value(Y.reshape(9, -1), beta_t), abs=1e-9)
    t_used = t if depth >= 3 else None
    assert sol.network.objective(X, Y, beta, t=t_used) == pytest.approx(sol.value, rel=1e-12)
    if depth >= 3:
        assert sol.network.t_violation(t) <= 1e-12
    check_disjoint_branches(sol.network, X, Y)


def check_disjoint_branches(net: Network, X: np.ndarray, Y: np.ndarray) -> None:
    """docs/settings/whitened.md#recovery: disjoint first-layer activations, one label group each; rank-one layers.

    Each first-layer neuron (a column of X W_1, over all branches) is nonnegative (the ReLU
    is the identity on it), lies inside one class (or one sign of y), and different
    neurons have disjoint supports. For depth ≥ 3 every branch is a chain of rank-one layers.
    """
    Y = Y.reshape(X.shape[0], -1)
    groups = [Y[:, k] > 0 for k in range(Y.shape[1])] if Y.shape[1] > 1 else [Y[:, 0] > 0, Y[:, 0] < 0]
    A = np.hstack([X @ branch[0][0] for branch in net.branches])
    assert np.all(A >= -1e-12)
    supports = [col > 1e-9 for col in A.T if np.abs(col).max() > 1e-9]
    for support in supports:
        assert any(np.all(g[support]) for g in groups)           # one class (or one sign) per neuron
    for i in range(len(supports)):
        for j in range(i):
            assert not np.any(supports[i] & supports[j])
    if net.depth >= 3:
        for branch in net.branches:
            for W, _ in branch:
                s = np.linalg.svd(W, compute_uv=False)
                assert s.size == 1 or s[1] <= 1e-12 * s[0]


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_weight_decay_one_active_group_is_certified_and_matches_training(depth: int) -> None:
    """K = 1 with y ≥ 0 (one active branch): the search over t is certified (docs/theory/framework.md#weight-decay-and-t)."""
    X = whitened_data(4, 6, 9)
    y = np.abs(np.random.default_rng(4).standard_normal(6)) + 0.5
    beta = 0.4
    sol = dn.solve(X, y, beta=beta, depth=depth)
    assert sol.certified, sol.reason
    r = whitened.balanced_amplitude(np.linalg.norm(y), beta, depth)      # closed scalar form, docs/settings/linear.md#weight-decay-on-all-layers
    exact = 0.5 * (np.linalg.norm(y) - r) ** 2 + 0.5 * beta * depth * r ** (2 / depth)
    assert sol.value == pytest.approx(exact, abs=1e-9)
    # Width 10 and unit init scale: narrow deep networks from small starts stall at P(0).
    trained = [train(X, y, beta=beta, depth=depth, width=10, seed=s, init_scale=1.0).objective(X, y, beta)
               for s in range(3)]
    assert min(trained) >= sol.lower_bound - 1e-8
    assert min(trained) == pytest.approx(exact, abs=1e-6)


def test_weight_decay_one_hot_one_active_class_is_certified() -> None:
    """Only the large class is active, at its own radius and in the bound: they meet (docs/settings/whitened.md#recovery).

    Classes (49, 1, 1), β = 2, L = 3: the large class has s ≈ 5.9 and t* = s^{1/3} < β, so
    β_t = β/t* > 1 = √n_k keeps the small classes inactive in the bound as well.
    """
    X, Y = whitened_data(5, 51, 60), one_hot([0] * 49 + [1, 2])
    sol = dn.solve(X, Y, beta=2.0, depth=3)
    assert sol.certified, sol.reason
    s = whitened.balanced_amplitude(7.0, 2.0, 3)
    assert s > 0 and whitened.balanced_amplitude(1.0, 2.0, 3) == 0.0
    assert sol.value == pytest.approx(0.5 * (7.0 - s) ** 2 + 3.0 * s ** (2 / 3) + 1.0, abs=1e-9)


@pytest.mark.parametrize("kind", ["scalar", "one-hot"])
@pytest.mark.parametrize("depth", [3, 4])
def test_weight_decay_several_active_groups_bound_is_valid(kind: str, depth: int) -> None:
    """Several active branches: reported with a valid bound; training never goes below it."""
    X, Y = whitened_data(6, 9, 12), random_labels(6, 9, kind)
    beta = 0.3
    sol = dn.solve(X, Y, beta=beta, depth=depth)
    assert sol.exact and sol.lower_bound <= sol.value + 1e-12
    H, a, _ = whitened.groups(Y.reshape(9, -1))
    per_branch = sum(min(0.5 * (aj - s) ** 2 + 0.5 * beta * depth * s ** (2 / depth)
                         for s in np.append(np.linspace(0, aj, 20001), whitened.balanced_amplitude(aj, beta, depth)))
                     for aj in a)
    assert sol.value == pytest.approx(per_branch, abs=1e-9)
    trained = [train(X, Y, beta=beta, depth=depth, width=6, seed=s).objective(X, Y, beta) for s in range(2)]
    assert min(trained) >= sol.lower_bound - 1e-8
    if kind == "one-hot":      # the construction is the standard architecture of §5.5
        net = sol.network
        assert net.n_branches == 1
        A = np.maximum(X @ net.branches[0][0][0], 0.0)
        overlap = (A > 1e-9).T.astype(float) @ (A > 1e-9).astype(float)
        np.testing.assert_array_equal(overlap, np.diag(np.diag(overlap)))   # disjoint class supports


# ------------------------------------------------------------------------ losses (§7)
@pytest.mark.parametrize("loss", ["hinge", "logistic", "absolute"])
@pytest.mark.parametrize("depth, t", [(2, None), (3, 1.0)])
def test_scalar_losses_exact_dual(loss: str, depth: int, t: float | None) -> None:
    X = whitened_data(7, 8, 12)
    y = np.random.default_rng(7).standard_normal(8)
    y = np.sign(y) if loss != "absolute" else y
    sol = dn.solve(X, y, beta=0.7, depth=depth, t=t, loss=loss)
    assert sol.certified, sol.reason
    if loss == "logistic" and depth == 2:
        trained = [train(X, y, beta=0.7, depth=2, width=4, seed=s, loss=loss).objective(X, y, 0.7, loss)
                   for s in range(2)]
        assert min(trained) >= sol.lower_bound - 1e-8 and min(trained) == pytest.approx(sol.value, abs=1e-5)


@pytest.mark.parametrize("labels", [[0, 0, 0, 0, 0, 1, 1, 2, 2], [0, 1, 2, 0, 1, 2, 0, 1, 2]])
def test_cross_entropy_one_hot_certified_by_exact_rho(labels: list[int]) -> None:
    """Class atoms (docs/theory/losses.md note) plus ρ evaluated exactly on class-constant dual points."""
    X, Y = whitened_data(8, 9, 12), one_hot(labels)
    sol = dn.solve(X, Y, beta=0.4, loss="cross-entropy")
    assert sol.certified, sol.reason
    trained = [train(X, Y, beta=0.4, depth=2, width=8, seed=s, loss="cross-entropy").objective(X, Y, 0.4,
                                                                                               "cross-entropy")
               for s in range(2)]
    # CVXPY (interior point) solves to ~1e-8 relative, so the bound may sit that far below the optimum.
    assert min(trained) >= sol.lower_bound - 1e-8 * scale(sol.value)
    assert min(trained) == pytest.approx(sol.value, abs=1e-6)


# ------------------------------------------------------------------------------- rho
def test_rho_scalar_and_one_hot_shaped_are_exact() -> None:
    X = whitened_data(9, 5, 7)
    u = np.array([[1.0], [-2.0], [0.5], [0.0], [2.0]])
    # ‖u₊‖² = 1 + 0.25 + 4 > ‖u₋‖² = 4; whitened X, so the ‖X‖₂ factor is 1 up to round-off.
    assert whitened.rho(u, X, 4, t=1.5)[0] == pytest.approx(1.5 ** 2 * np.sqrt(5.25), rel=1e-12)
    U = np.array([[1.0, 0], [-3.0, 0], [0, 2.0], [0, 0.5], [0, 0]])
    assert whitened.nonneg_support(U) == (3.0, True)


def nonneg_support_by_ascent(U: np.ndarray, starts: int, seed: int) -> float:
    """Lower estimate of max_{v≥0,‖v‖≤1}‖Uᵀv‖: projected power iterations from random starts."""
    rng = np.random.default_rng(seed)
    best = 0.0
    for _ in range(starts):
        v = np.abs(rng.standard_normal(U.shape[0])) * (rng.random(U.shape[0]) < 0.5)
        for _ in range(200):
            v = np.maximum(U @ (U.T @ v), 0.0)
            if np.linalg.norm(v) == 0:
                break
            v /= np.linalg.norm(v)
        best = max(best, float(np.linalg.norm(U.T @ v)))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rho_enumeration_matches_search_and_bounds(seed: int) -> None:
    """Few distinct rows: exact by enumeration, equal to a search, below ‖U‖₂ and λ_max(B₊)."""
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((4, 3))
    U = R[rng.integers(0, 4, 12)]
    value, exact = whitened.nonneg_support(U)
    assert exact
    assert value == pytest.approx(nonneg_support_by_ascent(U, 200, seed), rel=1e-8)
    assert value <= np.linalg.norm(U, 2) * (1 + 1e-12)


def test_rho_general_dual_point_is_a_rigorous_upper_bound() -> None:
    U = np.random.default_rng(3).standard_normal((40, 3))
    value, exact = whitened.nonneg_support(U)
    assert not exact
    assert value >= nonneg_support_by_ascent(U, 100, 0) * (1 - 1e-12)
    assert value <= np.linalg.norm(U, 2) * (1 + 1e-12)
    assert whitened.rho(U, np.eye(40), 2)[1]          # still a proof for the certificate


# ---------------------------------------------------------------------- detection
@pytest.mark.parametrize("noise", [1e-12, 1e-10])
def test_almost_whitened_data_is_accepted_and_certified(noise: float) -> None:
    X = whitened_data(10, 6, 9) + noise * np.random.default_rng(0).standard_normal((6, 9))
    y = np.random.default_rng(1).standard_normal(6)
    assert whitened.check(X, y[:, None], 2) == []
    sol = dn.solve(X, y, beta=0.5, depth=3, t=1.0)
    assert sol.setting == "relu-whitened" and sol.certified, sol.reason


def test_not_whitened_data_reports_the_residual_and_the_remedy() -> None:
    X = whitened_data(10, 6, 9)
    y = np.ones((6, 1))
    X_rows = X * 1.001                                   # rows too long: caught from the diagonal
    assert "||X X^T - I||_max >= 0.002 > tolerance 1e-08" in whitened.check(X_rows, y, 2)[0]
    X_skew = X.copy()                                    # unit rows that are not orthogonal
    X_skew[1] = (X[0] + X[1]) / np.sqrt(2)
    (message,) = whitened.check(X_skew, y, 2)
    assert "||X X^T - I||_max = 0.707 > tolerance 1e-08" in message
    assert "dn.whiten(X) whitens on the sample axis; this changes the problem" in message
    with pytest.raises(dn.SettingError, match=r"'relu-whitened': X is not whitened.*dn\.whiten"):
        dn.solve(X_skew, y, beta=0.5, depth=3, setting="relu-whitened")
    assert "n_samples <= n_features" in whitened.check(np.ones((3, 2)), np.ones((3, 1)), 2)[0]


def test_vector_labels_other_than_one_hot_are_not_covered() -> None:
    X = whitened_data(11, 4, 6)
    (message,) = whitened.check(X, np.random.default_rng(0).standard_normal((4, 2)), 2)
    assert "neither scalar nor one-hot" in message
    assert whitened.check(X, one_hot([0, 1, 1, 2]), 2) == []


def test_closed_form_method_refuses_absolute_loss_on_uneven_labels() -> None:
    with pytest.raises(dn.InputError, match="one magnitude per sign. Got loss='absolute'"):
        dn.solve(np.eye(3), np.array([1.0, 2.0, -1.0]), beta=0.5, loss="absolute", method="closed-form")
    sol = dn.solve(np.eye(3), np.array([1.0, 2.0, -1.0]), beta=0.5, loss="absolute")
    assert sol.method.startswith("cvxpy:") and sol.certified, sol.reason


@pytest.mark.parametrize("depth, t", [(2, None), (3, 1.3)])
@pytest.mark.parametrize("loss", ["hinge", "absolute"])
def test_fast_kinked_losses_agree_with_cvxpy(loss: str, depth: int, t: float | None) -> None:
    """Smoothed Newton per label group (the kink of a group solved exactly) against the CVXPY dual and primal."""
    X = whitened_data(14, 9, 12)
    y = np.sign(np.random.default_rng(4).standard_normal(9))
    y = y if loss == "hinge" else np.where(y > 0, 1.5, -0.5)
    fast = dn.solve(X, y, beta=0.6, depth=depth, t=t, loss=loss)
    slow = dn.solve(X, y, beta=0.6, depth=depth, t=t, loss=loss, method="cvxpy")
    assert "smoothed Newton" in fast.method and "cvxpy:" in slow.method
    assert fast.certified and slow.certified, (fast.reason, slow.reason)
    assert fast.value == pytest.approx(slow.value, abs=1e-6 * scale(slow.value))     # CLARABEL's accuracy
    np.testing.assert_allclose(fast.predict(X), slow.predict(X), atol=1e-3)


@pytest.mark.parametrize("labels", [[0, 0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 1, 1, 1, 1, 2]])
def test_fast_absolute_loss_one_hot_agrees_with_cvxpy(labels: list[int]) -> None:
    """One-hot labels under the absolute loss: smoothed Newton per class group against the CVXPY program."""
    X, Y = whitened_data(15, 9, 12), one_hot(labels)
    fast = dn.solve(X, Y, beta=0.5, loss="absolute")
    slow = dn.solve(X, Y, beta=0.5, loss="absolute", method="cvxpy")
    assert "smoothed Newton" in fast.method and "cvxpy:" in slow.method
    assert fast.certified, fast.reason
    # Both solve the problem over the class atoms; CLARABEL's value is accurate to ~1e-8 relative.
    assert fast.value <= slow.value + 1e-6 * scale(slow.value)
    assert fast.value == pytest.approx(slow.value, abs=1e-6 * scale(slow.value))


@pytest.mark.parametrize("depth, t", [(2, None), (3, 1.3), (3, None)])
@pytest.mark.parametrize("loss", ["logistic", "cross-entropy"])
def test_fast_smooth_losses_agree_with_cvxpy(loss: str, depth: int, t: float | None) -> None:
    """Newton per label group against the CVXPY dual program and its restricted primal."""
    X = whitened_data(13, 9, 12)
    Y = np.sign(np.random.default_rng(3).standard_normal(9)) if loss == "logistic" else \
        one_hot([0, 0, 0, 0, 1, 1, 2, 2, 2])
    fast = dn.solve(X, Y, beta=0.6, depth=depth, t=t, loss=loss)
    slow = dn.solve(X, Y, beta=0.6, depth=depth, t=t, loss=loss, method="cvxpy")
    assert "Newton per label group" in fast.method and "cvxpy:" in slow.method
    # Weight decay on all layers with two active groups is not certifiable either way (docs/settings/whitened.md#recovery).
    assert fast.certified == slow.certified == (t is not None or depth == 2), fast.reason
    if fast.certified:                       # otherwise both searches only found good networks
        assert fast.value == pytest.approx(slow.value, abs=1e-6 * scale(slow.value))  # CLARABEL's accuracy
    assert fast.value <= slow.value + 1e-9 * scale(slow.value)


def test_recover_from_the_optimal_dual() -> None:
    X, Y = whitened_data(12, 7, 9), one_hot([0, 0, 1, 1, 1, 2, 2])
    beta_t = 0.8 * 1.3 ** (2 - 4)
    U, F = whitened.closed_form(X, Y, beta_t)
    net = whitened.recover(U, X, Y, 4, 0.8, 1.3, get_loss("squared"))
    np.testing.assert_allclose(net.forward(X), F, atol=1e-12)
    assert net.objective(X, Y, 0.8, t=1.3) == pytest.approx(whitened.optimal_value(Y, beta_t), rel=1e-12)


def test_balanced_amplitude_is_the_minimizer() -> None:
    for a, beta, L in [(3.0, 0.5, 3), (1.2, 0.6, 4), (0.5, 0.6, 3), (2.0, 1.0, 2)]:
        s = whitened.balanced_amplitude(a, beta, L)
        grid = np.linspace(0, a, 100001)
        objective = 0.5 * (a - grid) ** 2 + 0.5 * beta * L * grid ** (2 / L)
        assert 0.5 * (a - s) ** 2 + 0.5 * beta * L * s ** (2 / L) <= objective.min() + 1e-12


# ---------------------------------------------------------------------------- whiten
def test_whiten_gives_orthonormal_rows_closest_to_x() -> None:
    X = np.random.default_rng(0).standard_normal((5, 8)) @ np.diag(np.geomspace(1, 1e-3, 8))
    original = X.copy()
    Z = dn.whiten(X)
    np.testing.assert_allclose(Z @ Z.T, np.eye(5), atol=1e-12)
    A, _, Bt = np.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose(Z, A @ Bt, atol=1e-10)          # the polar factor of X
    np.testing.assert_array_equal(X, original)                 # the input is not modified
    assert whitened.check(Z, np.ones((5, 1)), 2) == []


def test_whiten_errors() -> None:
    with pytest.raises(dn.InputError, match=r"The 'X' parameter of whiten must have n_samples <= n_features.*"
                                             r"Got shape \(4, 3\)"):
        dn.whiten(np.ones((4, 3)))
    with pytest.raises(dn.InputError, match=r"full row rank 3.*Got rank 2.*Remove duplicate"):
        dn.whiten(np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [1.0, 1.0, 0, 0]]))


@pytest.mark.slow
def test_closed_form_timing_large_one_hot() -> None:
    """Timing at n = 1000, d = 2000, K = 10: solve (checks, closed form, certificate) stays interactive."""
    import time

    X = whitened_data(13, 1000, 2000)
    Y = one_hot(list(np.random.default_rng(0).integers(0, 10, 1000)), 10)
    start = time.perf_counter()
    U, F = whitened.closed_form(X, Y, 5.0)
    assert time.perf_counter() - start < 0.5
    sol = dn.solve(X, Y, beta=5.0, depth=3, t=1.0)
    assert sol.certified and sol.time < 30
