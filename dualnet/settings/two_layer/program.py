"""The convex program over a pattern set (group lasso with cone constraints, docs/settings/two_layer.md) and recovery.

min ℓ(Σ_i D_i A(v_i − w_i)) + β Σ_i (‖v_i‖ + ‖w_i‖) s.t. (2D_i − I)Av_i ≥ 0, (2D_i − I)Aw_i ≥ 0.
Each nonzero v_i becomes the neuron v_i/√‖v_i‖ with output weight +√‖v_i‖ (−√‖w_i‖ for
w_i), whose weight decay equals the convex objective.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from ...losses import Loss, get_loss
from ...network import Network
from ...problem import DualProgram
from .._solve import solve_cvxpy
from .arrangement import MAX_PATTERNS, Geometry, Patterns, _enumerate, geometry


def _program(A: np.ndarray, Y: np.ndarray, D: np.ndarray, beta: float, loss: Loss, free: int = 0,
             Dw: np.ndarray | None = None) -> tuple[DualProgram, cp.Variable | None, cp.Variable | None]:
    """Group lasso with cone constraints over the patterns D (docs/settings/two_layer.md), K = 1.

    min ℓ(Σ_i D_i A(v_i − w_i)) + β Σ_i (‖v_i‖ + ‖w_i‖) s.t. (2D_i − I)Av_i ≥ 0, (2D_i − I)Aw_i ≥ 0.
    ``Dw`` (default ``D``) gives the w_i their own patterns. The last ``free`` coordinates
    of each v_i, w_i are unpenalized (the bias column). The prediction is a variable tied by
    an equality whose multiplier is the dual point U.
    """
    n, r = A.shape
    Dw = D if Dw is None else Dw
    F = cp.Variable((n, 1), name="F")
    threshold = cp.Parameter(nonneg=True, name="beta")
    pen_rows = slice(0, r - free)
    fit_terms, penalty, constraints, groups = [], [], [], []
    for name, Dg, sign in (("V", D, 1.0), ("W", Dw, -1.0)):
        if Dg.shape[1] == 0:
            groups.append(None)
            continue
        G = cp.Variable((r, Dg.shape[1]), name=name)
        Dm = Dg.astype(float)
        fit_terms.append(sign * cp.sum(cp.multiply(Dm, A @ G), axis=1))
        penalty.append(cp.sum(cp.norm(G[pen_rows], 2, axis=0)) if r > free else 0)
        constraints.append(cp.multiply(2.0 * Dm - 1.0, A @ G) >= 0)
        groups.append(G)
    link = F[:, 0] == (cp.sum(fit_terms) if fit_terms else np.zeros(n))
    objective = loss.primal(F, Y) + (threshold * cp.sum(penalty) if penalty else 0)
    problem = cp.Problem(cp.Minimize(objective), [link, *constraints])
    program = DualProgram(problem, threshold, lambda: np.asarray(link.dual_value).reshape(n, 1), 2)
    program.set_beta(beta)
    return program, groups[0], groups[1]


def _values_of(G: cp.Variable | None, r: int) -> np.ndarray:
    return np.zeros((r, 0)) if G is None else np.asarray(G.value)


def _support_resolve(A: np.ndarray, Y: np.ndarray, D: np.ndarray, Dw: np.ndarray, V: np.ndarray, W: np.ndarray,
                     value: float, beta: float, loss: Loss, free: int, solver: str | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Re-solve over the groups an interior-point solution left visibly nonzero.

    Interior-point solvers leave every group slightly nonzero; the program restricted to
    the support has the same optimum and a clean solution. Returns (V, W, U), or None
    when the restricted value is worse (the support guess missed something).
    """
    r = A.shape[1] - free
    nv, nw = np.linalg.norm(V[:r], axis=0), np.linalg.norm(W[:r], axis=0)
    top = max(float(nv.max(initial=0.0)), float(nw.max(initial=0.0)), 1e-300)
    kv, kw = nv > 1e-6 * top, nw > 1e-6 * top
    if free:
        kv |= D.all(axis=0)
        kw |= Dw.all(axis=0)
    if kv.all() and kw.all():
        return None
    program, Vs, Ws = _program(A, Y, D[:, kv], beta, loss, free, Dw[:, kw])
    try:
        U, _ = solve_cvxpy(program, solver)
    except Exception:                       # a failed polish never spoils a solved program
        return None
    if not program.problem.value <= value + 1e-9 * max(1.0, abs(value)):
        return None
    return _values_of(Vs, A.shape[1]), _values_of(Ws, A.shape[1]), U


def convex_program(X: np.ndarray, y: np.ndarray, beta: float, D: np.ndarray | Patterns | None = None,
                   loss: str | Loss = "squared") -> cp.Problem:
    """The convex program of docs/settings/two_layer.md over the patterns ``D`` (all of them when None), as a CVXPY problem.

    Its optimal value is the global optimum of the two-layer ReLU network when ``D`` holds
    every pattern (and an upper bound on it otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> prob = convex_program(np.array([[1.0], [-1.0]]), np.array([1.0, 1.0]), beta=0.5)
    >>> round(float(prob.solve(solver="CLARABEL")), 6)
    0.75
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(y, dtype=float).reshape(X.shape[0], -1)
    geo = geometry(X)
    if D is None:
        D = _enumerate(geo.A, None, False, MAX_PATTERNS).D
    D = D.D if isinstance(D, Patterns) else np.asarray(D, dtype=bool)
    return _program(geo.A, Y, D, beta, get_loss(loss))[0].problem


def _network_from_program(geo: Geometry, V: np.ndarray, W: np.ndarray, K: int = 1, free: int = 0,
                          rtol: float = 1e-9) -> Network:
    """Neurons v_i/√‖v_i‖ with output +√‖v_i‖ and w_i/√‖w_i‖ with −√‖w_i‖ (docs/settings/two_layer.md).

    With a bias column (``free=1``, the last coordinate) the norm is that of the weight
    part and the last coordinate is the unpenalized hidden bias; a column with zero weight
    part but a nonzero bias is a constant, which goes to the (unpenalized) output bias.
    """
    r = V.shape[0] - free
    cols, signs = np.hstack([V, W]), np.concatenate([np.ones(V.shape[1]), -np.ones(W.shape[1])])
    norms = np.linalg.norm(cols[:r], axis=0)
    scale = max(float(norms.max(initial=0.0)), 1e-300)
    keep = norms > rtol * scale
    const = 0.0
    if free:
        dead = ~keep
        const = float(np.sum(signs[dead] * np.maximum(cols[r, dead], 0.0)))
    cols, signs, norms = cols[:, keep], signs[keep], norms[keep]
    d = geo.red.X.shape[1]
    out_b = np.full(K, const) if free else None
    if cols.shape[1] == 0:
        return Network([[(np.zeros((d, 1)), np.zeros(1) if free else None), (np.zeros((1, K)), out_b)]])
    root = np.sqrt(norms)
    W1 = geo.to_weights(cols[:r] / root)                 # d × m in the original coordinates
    hidden_b = cols[r] / root if free else None
    out = (signs * root)[:, None] * np.ones((1, K))
    return Network([[(W1, hidden_b), (out, out_b)]])


def _design(X: np.ndarray, bias: bool) -> tuple[Geometry, np.ndarray]:
    """Geometry of X and the program's design: A, or [A, 1] with the bias as the last coordinate."""
    geo = geometry(X)
    return geo, (np.hstack([geo.A, np.ones((X.shape[0], 1))]) if bias else geo.A)


def _augment(X: np.ndarray, bias: bool) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X


def _center(U: np.ndarray, Y: np.ndarray, loss: Loss) -> np.ndarray:
    """A dual point with zero column sums inside the loss's domain (alternating projections)."""
    V = U
    for _ in range(100):
        V = loss.project_dual(V - V.mean(axis=0), Y)
        if np.all(np.abs(V.sum(axis=0)) <= 1e-12 * max(float(np.abs(V).sum()), 1e-300)):
            break
    return V
