"""The first-order solver of the pattern program and of the fixed-atom master (two_layer.solver).

Oracle: the same programs in CVXPY solved by CLARABEL (program._program, cutting._fixed_atom_master)
on identical patterns / atoms. Agreement is asked to 1e-6·P(0); the solver's own proven bracket
[lower, value] must contain the CLARABEL optimum up to CLARABEL's accuracy (1e-7·P(0)).
"""

from __future__ import annotations

import numpy as np
import pytest

from dualnet.errors import InputError
from dualnet.losses import get_loss
from dualnet.settings.two_layer.cutting import _fixed_atom_master
from dualnet.settings.two_layer.program import _design, _program
from dualnet.settings.two_layer.solver import solve_atoms, solve_patterns

CVX_ACC = 1e-7          # relative accuracy of CLARABEL's optimum (its default tolerances are 1e-8)


def instance(loss: str, bias: bool, seed: int = 0, n: int = 30, d: int = 3, P: int = 12):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 3)), 0.0) @ rng.standard_normal(3) + 0.1 * rng.standard_normal(n)
    Y = (np.where(y > np.median(y), 1.0, -1.0) if loss in ("hinge", "logistic") else y)[:, None]
    _, A = _design(X, bias)
    D = np.unique(A @ rng.standard_normal((A.shape[1], P)) > 0, axis=1)
    if bias:
        D = np.unique(np.hstack([D, np.ones((n, 1), dtype=bool)]), axis=1)
    return A, Y, D


def clarabel(A, Y, D, beta, loss, free):
    program, _, _ = _program(A, Y, D, beta, get_loss(loss), free)
    program.problem.solve(solver="CLARABEL")
    return float(program.problem.value)


def relu_forward(A, V, W):
    return np.maximum(A @ V, 0.0).sum(axis=1) - np.maximum(A @ W, 0.0).sum(axis=1)


# Nonsmooth losses converge more slowly (a second multiplier, on the link): 5-30 s each.
NONSMOOTH = pytest.mark.slow


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", ["squared", "logistic", pytest.param("hinge", marks=NONSMOOTH),
                                  pytest.param("absolute", marks=NONSMOOTH)])
def test_patterns_equal_cvxpy(loss: str, bias: bool) -> None:
    A, Y, D = instance(loss, bias)
    beta = 0.5
    ref = clarabel(A, Y, D, beta, loss, int(bias))
    # tol = 1e-6: the proven gap then bounds the distance to CLARABEL's optimum by 1e-6·P(0).
    # Looser for a nonsmooth loss with the free bias: two multipliers (link and cones) and the
    # constant direction make the method of multipliers slow there (measured: hinge reaches
    # 1e-6 after 150 000 steps, 78 s), so 1e-3·P(0) within a few seconds is what is asked.
    tol = 1e-3 if (bias and loss in ("hinge", "absolute")) else 1e-6
    fit = solve_patterns(A, Y, D, beta, loss, free=int(bias), tol=tol, time_limit=120)
    p0 = fit.p0
    assert fit.converged, (fit.stopped, fit.rel_gap)
    assert abs(fit.value - ref) <= tol * p0
    assert fit.lower <= ref + CVX_ACC * p0 and ref <= fit.value + CVX_ACC * p0
    # The primal point is feasible and its value is that of the ReLU network it encodes.
    for G, Dg in ((fit.V, fit.D), (fit.W, fit.Dw)):
        assert np.all((2.0 * Dg - 1.0) * (A @ G) >= -1e-12 * np.abs(A @ G).max(initial=1.0))
    F = relu_forward(A, fit.V, fit.W)
    np.testing.assert_allclose(fit.F[:, 0], F, atol=1e-12 * max(1.0, np.abs(F).max()))
    pen = A.shape[1] - int(bias)
    value = get_loss(loss).value(F[:, None], Y) + beta * (np.linalg.norm(fit.V[:pen], axis=0).sum()
                                                          + np.linalg.norm(fit.W[:pen], axis=0).sum())
    assert value == pytest.approx(fit.value, rel=1e-12)


@pytest.mark.parametrize("loss", ["squared", "logistic", pytest.param("hinge", marks=NONSMOOTH),
                                  pytest.param("absolute", marks=NONSMOOTH), "cross-entropy"])
def test_atoms_equal_cvxpy(loss: str) -> None:
    rng = np.random.default_rng(3)
    n, m, K = 40, 12, 3
    G = np.maximum(rng.standard_normal((n, 4)) @ rng.standard_normal((4, m)), 0.0)
    Z = G[:, :3] @ rng.standard_normal((3, K)) + 0.3 * rng.standard_normal((n, K))
    if loss == "cross-entropy":
        Y = np.eye(K)[np.argmax(Z, axis=1)]
    elif loss in ("hinge", "logistic"):
        Y = np.where(Z > 0, 1.0, -1.0)
    else:
        Y = Z
    beta = 1.0
    W_ref, _, ref, _ = _fixed_atom_master(G, Y, beta, get_loss(loss), "CLARABEL")
    fit = solve_atoms(G, Y, beta, loss, tol=1e-6, time_limit=60)
    assert fit.converged, (fit.stopped, fit.rel_gap)
    assert abs(fit.value - ref) <= 1e-6 * fit.p0
    assert fit.lower <= ref + CVX_ACC * fit.p0 and ref <= fit.value + CVX_ACC * fit.p0
    np.testing.assert_allclose(G @ fit.W, G @ W_ref, atol=1e-2 * max(1.0, np.abs(G @ W_ref).max()))


def test_patterns_warm_start() -> None:
    A, Y, D = instance("squared", False, seed=5, n=40, P=20)
    cold = solve_patterns(A, Y, D[:, :12], 0.5, tol=1e-7)
    again = solve_patterns(A, Y, D[:, :12], 0.5, tol=1e-7, start=cold)
    assert again.converged and again.iterations == 0        # the start is already certified
    # A β path: the next β from the previous solution (measured: 0 first-order + 2 Newton steps instead of
    # 500 + 5; before Newton on the working set, 1 500-7 000 first-order steps instead of 23 000).
    path_cold = solve_patterns(A, Y, D[:, :12], 0.55, tol=1e-7)
    path_warm = solve_patterns(A, Y, D[:, :12], 0.55, tol=1e-7, start=cold)
    assert path_warm.converged and path_cold.converged
    assert abs(path_warm.value - path_cold.value) <= 2e-7 * cold.p0
    assert path_warm.iterations <= path_cold.iterations / 2
    # New patterns (a cutting-plane round): the groups are carried over by pattern. (Measured:
    # no fewer steps than a cold solve here; the multipliers of the new groups start at zero.)
    grown = solve_patterns(A, Y, D, 0.5, tol=1e-7, start=cold)
    assert grown.converged and grown.value <= cold.value + 1e-7 * cold.p0


def test_atoms_warm_start() -> None:
    rng = np.random.default_rng(4)
    G = np.maximum(rng.standard_normal((50, 6)) @ rng.standard_normal((6, 20)), 0.0)
    Y = rng.standard_normal((50, 2))
    cold = solve_atoms(G[:, :15], Y, 1.0, tol=1e-8)
    warm = solve_atoms(G, Y, 1.0, tol=1e-8, start=cold)
    fresh = solve_atoms(G, Y, 1.0, tol=1e-8)
    assert warm.converged and fresh.converged
    assert warm.iterations <= fresh.iterations
    assert abs(warm.value - fresh.value) <= 2e-8 * fresh.p0


def test_time_limit_returns_a_proven_bracket() -> None:
    rng = np.random.default_rng(0)
    n, d = 200, 10
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 5)), 0.0) @ rng.standard_normal(5)
    _, A = _design(X, False)
    D = A @ rng.standard_normal((d, 250)) > 0
    fit = solve_patterns(A, y, D, 1.0, tol=1e-12, time_limit=0.5)
    assert fit.stopped == "time_limit" and not fit.converged
    assert fit.seconds <= 0.5 * 1.2 + 2.0
    assert 0.0 <= fit.lower <= fit.value <= fit.p0 * (1 + 1e-12)


def test_bad_input_names_the_parameter() -> None:
    A, Y, D = instance("squared", False)
    with pytest.raises(InputError, match="'Y'.*one column"):
        solve_patterns(A, np.hstack([Y, Y]), D, 0.5)
    with pytest.raises(InputError, match="'beta'"):
        solve_patterns(A, Y, D, -1.0)
    with pytest.raises(InputError, match="'D'.*one row per sample"):
        solve_patterns(A, Y, D[:-1], 0.5)
    with pytest.raises(InputError, match="'free'"):
        solve_patterns(A, Y, D, 0.5, free=2)
    with pytest.raises(InputError, match="same number of rows"):
        solve_atoms(np.ones((3, 2)), np.ones((4, 1)), 1.0)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_newton_on_the_working_set_certifies(loss: str, bias: bool) -> None:
    """Smooth losses: the active-set Newton on the faces finishes, and its point is certified and equals CLARABEL's."""
    A, Y, D = instance(loss, bias, seed=2, n=60, d=4, P=30)
    beta = 0.5
    ref = clarabel(A, Y, D, beta, loss, int(bias))
    fit = solve_patterns(A, Y, D, beta, loss, free=int(bias), tol=1e-7, time_limit=120)
    assert fit.state["newton_steps"] > 0
    assert fit.converged and abs(fit.value - ref) <= 1e-6 * fit.p0
    assert fit.lower <= ref + CVX_ACC * fit.p0 and ref <= fit.value + CVX_ACC * fit.p0
    for G, Dg in ((fit.V, fit.D), (fit.W, fit.Dw)):
        assert np.all((2.0 * Dg - 1.0) * (A @ G) >= -1e-12 * np.abs(A @ G).max(initial=1.0))


def test_newton_by_conjugate_gradients_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """The large-system branch (conjugate gradients, used beyond 600 face coordinates) reaches the same certificate."""
    from dualnet.settings.two_layer import newton

    A, Y, D = instance("squared", True, seed=2, n=60, d=4, P=30)
    direct = solve_patterns(A, Y, D, 0.5, free=1, tol=1e-7)
    monkeypatch.setattr(newton, "_DIRECT", 0)
    iterative = solve_patterns(A, Y, D, 0.5, free=1, tol=1e-7)
    assert direct.converged and iterative.converged and iterative.state["newton_steps"] > 0
    assert abs(iterative.value - direct.value) <= 2e-7 * direct.p0


def test_tall_polar_nnls_matches_all_rows() -> None:
    """On tall B the NNLS works on a subset of rows: its projection is the projection and its bound as tight."""
    from scipy.optimize import nnls

    from dualnet.settings.two_layer.restricted import _NNLS_ROWS, _polar_nnls, _project

    rng = np.random.default_rng(3)
    n, d = 3 * _NNLS_ROWS, 12
    A = rng.standard_normal((n, d))
    B = np.where(A @ rng.standard_normal(d) > 0, 1.0, -1.0)[:, None] * A
    for _ in range(5):
        t = rng.standard_normal(d)
        full = t + B.T @ nnls(B.T, -t, maxiter=50 * n)[0]
        proj = _project(B, t)
        assert np.all(B @ proj >= -1e-10 * np.linalg.norm(t) * np.linalg.norm(B, axis=1))
        np.testing.assert_allclose(proj, full, atol=1e-9 * np.linalg.norm(t))
        lam = _polar_nnls(B, t)
        assert np.all(lam >= 0)
        assert np.linalg.norm(t + B.T @ lam) <= np.linalg.norm(full) + 1e-9 * np.linalg.norm(t)   # the least norm


def test_batched_projection_is_the_nnls_projection() -> None:
    """The projections onto the cones settled by the batched active-set method equal NNLS's (scipy, all rows)."""
    from scipy.optimize import nnls

    from dualnet.settings.two_layer.restricted import _project, _project_on_faces

    rng = np.random.default_rng(5)
    n, d, G = 80, 6, 40
    A = rng.standard_normal((n, d))
    S = np.where(A @ rng.standard_normal((d, G)) > 0, 1.0, -1.0)
    # Points near their cones (a projection nudged outward, as the first-order iterates are) and far from them.
    far = rng.standard_normal((d, G // 2))
    near = np.stack([_project(S[:, g, None] * A, far[:, j]) for j, g in enumerate(range(G // 2, G))], axis=1)
    T = np.hstack([far, near + 1e-3 * rng.standard_normal(near.shape)])
    settled, proj = _project_on_faces(A, T, S)
    assert settled.sum() >= G // 2              # most groups settle without NNLS
    for j, g in enumerate(np.flatnonzero(settled)):
        B = S[:, g, None] * A
        full = T[:, g] + B.T @ nnls(B.T, -T[:, g], maxiter=50 * n)[0]
        np.testing.assert_allclose(proj[:, j], full, atol=1e-9 * np.linalg.norm(T[:, g]))
        assert np.all(B @ proj[:, j] >= -1e-10 * np.linalg.norm(T[:, g]) * np.linalg.norm(B, axis=1))


def test_faces_from_gathered_rows_match_the_table() -> None:
    """The faces of large designs (Gram matrices from each group's gathered tight rows) equal the table's."""
    from dualnet.settings.two_layer import newton

    rng = np.random.default_rng(4)
    A = rng.standard_normal((40, 5))
    tight = np.zeros((40, 6), dtype=bool)
    for g, k in enumerate([0, 1, 2, 3, 4, 7]):                  # from a full face to the zero face
        tight[rng.choice(40, k, replace=False), g] = True
    table = newton._Faces(A, tight)
    gathered = newton._Faces(A, np.zeros_like(tight))
    gathered.outer = None
    gathered.update(tight, np.arange(6))
    np.testing.assert_array_equal(gathered.live, table.live)
    assert [int(k) for k in table.live.sum(axis=1)] == [5, 4, 3, 2, 1, 0]
    for g in range(6):                                          # the same subspaces: equal projectors
        P, Q = table.N[g] @ table.N[g].T, gathered.N[g] @ gathered.N[g].T
        np.testing.assert_allclose(P, Q, atol=1e-10)


def test_without_room_for_newton_the_first_order_rounds_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """When Newton's system would be too large (large n), the first-order rounds reach the certificate alone."""
    from dualnet.settings.two_layer import solver

    A, Y, D = instance("squared", False, seed=1)
    ref = clarabel(A, Y, D, 0.5, "squared", 0)
    monkeypatch.setattr(solver, "_NEWTON_ENTRIES", 0)
    fit = solve_patterns(A, Y, D, 0.5, tol=1e-6, time_limit=120)
    assert fit.state["newton_steps"] == 0
    assert fit.converged and abs(fit.value - ref) <= 1e-6 * fit.p0
