"""Losses (docs/theory/losses.md): values, CVXPY terms, conjugates and dual points agree with each other.

The oracles are convex analysis identities, not the code's own formulas: the
Fenchel–Young inequality (equality at U = −∇ℓ(F)), the conjugate computed by CVXPY as
min_F ℓ(F) + ⟨U, F⟩, and finite differences of ℓ.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from dualnet.errors import InputError
from dualnet.losses import LOSSES, Loss, get_loss

N, K_MULTI = 6, 3
SMOOTH = ("squared", "logistic", "cross-entropy")


def labels(name: str, rng: np.random.Generator, n: int = N) -> np.ndarray:
    """Labels that fit loss ``name``: ±1 for margins, one-hot rows for cross-entropy."""
    if name in ("hinge", "logistic"):
        return rng.choice([-1.0, 1.0], size=(n, 2))
    if name == "cross-entropy":
        return np.eye(K_MULTI)[rng.integers(0, K_MULTI, size=n)]
    return rng.standard_normal((n, 2))


def interior_dual(name: str, Y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dual point strictly inside the conjugate's domain."""
    if name in ("hinge", "logistic"):
        return Y * rng.uniform(0.05, 0.95, size=Y.shape)
    if name == "absolute":
        return rng.uniform(-0.95, 0.95, size=Y.shape)
    if name == "cross-entropy":
        P = rng.dirichlet(np.ones(Y.shape[1]), size=Y.shape[0])
        return Y - P
    return rng.standard_normal(Y.shape)


@pytest.fixture(params=sorted(LOSSES))
def loss(request: pytest.FixtureRequest) -> Loss:
    return LOSSES[request.param]


@pytest.mark.parametrize("seed", [0, 1])
def test_value_matches_cvxpy_primal(loss: Loss, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Y = labels(loss.name, rng)
    F = rng.standard_normal(Y.shape)
    np.testing.assert_allclose(loss.primal(cp.Constant(F), Y).value, loss.value(F, Y), rtol=1e-12)
    assert loss.zero_value(Y) == pytest.approx(loss.value(np.zeros_like(Y), Y), rel=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fenchel_young_equality_at_dual_point(loss: Loss, seed: int) -> None:
    """−ℓ*(−U) = ℓ(F) + ⟨U, F⟩ exactly when U = −∇ℓ(F) (a negated subgradient)."""
    rng = np.random.default_rng(seed)
    Y = labels(loss.name, rng)
    F = 2 * rng.standard_normal(Y.shape)
    U = loss.dual_point(F, Y)
    np.testing.assert_allclose(loss.dual_value(U, Y), loss.value(F, Y) + np.sum(U * F), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fenchel_young_inequality_any_pair(loss: Loss, seed: int) -> None:
    """For every F and every U in the domain: −ℓ*(−U) ≤ ℓ(F) + ⟨U, F⟩ (weak duality's core)."""
    rng = np.random.default_rng(seed)
    Y = labels(loss.name, rng)
    for _ in range(20):
        F = 3 * rng.standard_normal(Y.shape)
        U = loss.project_dual(3 * rng.standard_normal(Y.shape), Y)
        assert loss.dual_value(U, Y) <= loss.value(F, Y) + np.sum(U * F) + 1e-12


@pytest.mark.parametrize("seed", [0, 1])
def test_dual_value_is_the_conjugate(loss: Loss, seed: int) -> None:
    """−ℓ*(−U) = min_F ℓ(F) + ⟨U, F⟩, computed by CVXPY from the primal term alone."""
    rng = np.random.default_rng(seed)
    Y = labels(loss.name, rng)
    U = interior_dual(loss.name, Y, rng)
    F = cp.Variable(Y.shape)
    conj = cp.Problem(cp.Minimize(loss.primal(F, Y) + cp.sum(cp.multiply(U, F)))).solve(solver="CLARABEL")
    # Interior-point accuracy (exponential cone for logistic / cross-entropy).
    np.testing.assert_allclose(loss.dual_value(U, Y), conj, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_cvxpy_dual_term_matches_numpy(loss: Loss, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Y = labels(loss.name, rng)
    U0 = interior_dual(loss.name, Y, rng)
    U = cp.Variable(Y.shape)
    U.value = U0
    expr, constraints = loss.dual(U, Y)
    assert expr.is_concave()
    np.testing.assert_allclose(expr.value, loss.dual_value(U0, Y), rtol=1e-12)
    assert all(c.value(tolerance=1e-12) for c in constraints)


@pytest.mark.parametrize("name", sorted(set(LOSSES) - {"squared"}))   # squared: finite everywhere
def test_dual_value_outside_domain_is_minus_inf(name: str) -> None:
    loss = LOSSES[name]
    rng = np.random.default_rng(0)
    Y = labels(loss.name, rng)
    U = interior_dual(loss.name, Y, rng) + 5 * np.sign(Y + 0.5)
    assert loss.dual_value(U, Y) == -np.inf


@pytest.mark.parametrize("name", SMOOTH)
def test_dual_point_is_negative_gradient(name: str) -> None:
    loss = LOSSES[name]
    rng = np.random.default_rng(3)
    Y = labels(name, rng)
    F = rng.standard_normal(Y.shape)
    h = 1e-6
    grad = np.zeros_like(F)
    for idx in np.ndindex(*F.shape):
        E = np.zeros_like(F)
        E[idx] = h
        grad[idx] = (loss.value(F + E, Y) - loss.value(F - E, Y)) / (2 * h)
    # Central differences: error O(h²) plus rounding O(eps/h) ~ 1e-10.
    np.testing.assert_allclose(loss.dual_point(F, Y), -grad, atol=1e-7)


@pytest.mark.parametrize("name", ["hinge", "absolute"])
def test_dual_point_is_negative_subgradient(name: str) -> None:
    """ℓ(G) ≥ ℓ(F) − ⟨U, G − F⟩ for every G (U = −g, g a subgradient at F)."""
    loss = LOSSES[name]
    rng = np.random.default_rng(4)
    Y = labels(name, rng)
    F = 2 * rng.standard_normal(Y.shape)
    U = loss.dual_point(F, Y)
    for _ in range(50):
        G = F + rng.standard_normal(Y.shape)
        assert loss.value(G, Y) >= loss.value(F, Y) - np.sum(U * (G - F)) - 1e-12


def test_project_dual_lands_in_domain_and_shrinking_stays(loss: Loss) -> None:
    """Projected points have a finite conjugate and projecting is idempotent.

    cU stays in the domain for c in [0, 1]: the certificate scales dual points this way.
    """
    rng = np.random.default_rng(5)
    Y = labels(loss.name, rng)
    for _ in range(10):
        U = loss.project_dual(4 * rng.standard_normal(Y.shape), Y)
        np.testing.assert_allclose(loss.project_dual(U, Y), U, atol=1e-15)
        for c in (0.0, 0.3, 1.0):
            assert np.isfinite(loss.dual_value(c * U, Y))


def test_project_dual_keeps_interior_points(loss: Loss) -> None:
    rng = np.random.default_rng(6)
    Y = labels(loss.name, rng)
    U = interior_dual(loss.name, Y, rng)
    np.testing.assert_allclose(loss.project_dual(U, Y), U, atol=1e-15)


def test_squared_dual_matches_math_0_3() -> None:
    """dual_value_sq(U, Y) = −½‖U − Y‖² + ½‖Y‖² = ⟨U, Y⟩ − ½‖U‖² (docs/certificate.md#the-bound item 3)."""
    rng = np.random.default_rng(7)
    U, Y = rng.standard_normal((2, 5, 2))
    expected = -0.5 * np.sum((U - Y) ** 2) + 0.5 * np.sum(Y**2)
    np.testing.assert_allclose(LOSSES["squared"].dual_value(U, Y), expected, rtol=1e-13)


@pytest.mark.parametrize("name", ["hinge", "logistic"])
def test_margin_losses_accept_pm_one_and_reject_others(name: str) -> None:
    loss = LOSSES[name]
    loss.check_labels(np.array([[1.0], [-1.0]]))          # accepted: no exception
    with pytest.raises(InputError, match=r"'y' parameter.*\{-1, \+1\}.*Got values such as \[0\.0\].*2\*y - 1"):
        loss.check_labels(np.array([[1.0], [0.0]]))


def test_cross_entropy_needs_one_hot_rows() -> None:
    loss = LOSSES["cross-entropy"]
    loss.check_labels(np.eye(3)[[0, 2, 1]])               # accepted: no exception
    for bad in (np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[1.0], [1.0]]), np.array([[1.0, 1.0], [0.0, 1.0]])):
        with pytest.raises(InputError, match=r"'y' parameter.*one-hot.*Got an array of shape.*numpy\.eye"):
            loss.check_labels(bad)


def test_get_loss() -> None:
    assert get_loss("Squared") is LOSSES["squared"]
    assert get_loss(LOSSES["hinge"]) is LOSSES["hinge"]
    assert repr(get_loss("logistic")) == "Loss('logistic')"
    with pytest.raises(InputError, match=r"'loss' parameter of solve must be one of 'squared'.*Got 'l2' instead"):
        get_loss("l2")


@pytest.mark.parametrize("name", SMOOTH)
def test_hessian_blocks_match_finite_differences_of_the_dual_point(name: str) -> None:
    """Bᵀ H_i B from ``hessian_blocks`` against central differences of ∇ℓ = −dual_point, row by row."""
    loss = LOSSES[name]
    assert loss.smooth
    rng = np.random.default_rng(8)
    Y = labels(name, rng)
    F = rng.standard_normal(Y.shape)
    B = np.linalg.qr(rng.standard_normal((Y.shape[1], 2)))[0]
    blocks = loss.hessian_blocks(F, Y, B)
    h = 1e-6
    for a in range(2):
        step = h * np.outer(np.ones(Y.shape[0]), B[:, a])
        dG = (loss.dual_point(F - step, Y) - loss.dual_point(F + step, Y)) / (2 * h)   # d∇ℓ along B[:, a]
        np.testing.assert_allclose(blocks[:, :, a], dG @ B, atol=1e-8)


def test_hinge_and_absolute_are_not_smooth() -> None:
    assert not LOSSES["hinge"].smooth and not LOSSES["absolute"].smooth


@pytest.mark.parametrize("mu", [2.0, 0.3, 1e-3])
@pytest.mark.parametrize("name", ["hinge", "absolute"])
def test_moreau_envelope_is_the_prox_minimum(name: str, mu: float) -> None:
    """ℓ_μ(F) = min_G ℓ(G) + ‖F − G‖²/(2μ), entry by entry on a fine grid of G; its gradient by differences.

    Also the two facts the smoothed fast path rests on: U = −∇ℓ_μ lies in the conjugate's
    domain, and 0 ≤ ℓ − ℓ_μ ≤ μ/2 per entry.
    """
    loss = LOSSES[name]
    assert loss.kinked and not loss.smooth
    rng = np.random.default_rng(11)
    Y = labels(name, rng)
    F = Y + rng.uniform(-2.5, 2.5, size=Y.shape)
    values, U, curvature = loss.moreau(F, Y, mu)
    # The grid around F, and the kink G = Y itself (where the minimizer often sits exactly).
    grid = np.concatenate([F[..., None] + np.linspace(-4.0, 4.0, 400001) * max(mu, 1e-2), Y[..., None]], axis=-1)
    entrywise = np.abs(Y[..., None] - grid) if name == "absolute" else np.maximum(1.0 - Y[..., None] * grid, 0.0)
    prox_min = np.min(entrywise + (F[..., None] - grid) ** 2 / (2 * mu), axis=-1)
    np.testing.assert_allclose(values, prox_min, atol=1e-8 * max(1.0, 1.0 / mu))   # the grid misses by spacing²/(2μ)
    h = 1e-7 * mu
    np.testing.assert_allclose(U, -(loss.moreau(F + h, Y, mu)[0] - loss.moreau(F - h, Y, mu)[0]) / (2 * h),
                               atol=1e-6)
    np.testing.assert_array_equal(loss.project_dual(U, Y), U)
    exact = np.abs(Y - F) if name == "absolute" else np.maximum(1.0 - Y * F, 0.0)
    assert np.all(exact - values >= -1e-12) and np.all(exact - values <= mu / 2 + 1e-12)
    assert set(np.unique(curvature)) <= {0.0, 1.0 / mu}


def test_kinked_fast_path_certifies_the_hinge_example() -> None:
    """docs/theory/losses.md#general-dual: hinge, X = I₂, y = (1, −1) gives P = D = min(2, β√2)."""
    import dualnet as dn

    for beta in (0.5, 1.0, 2.0):
        sol = dn.solve(np.eye(2), np.array([1.0, -1.0]), beta=beta, activation="linear", loss="hinge")
        assert "smoothed Newton" in sol.method or sol.method.startswith("eig + zero")
        assert sol.certified, sol.reason
        assert sol.value == pytest.approx(min(2.0, beta * np.sqrt(2.0)), abs=1e-12)
