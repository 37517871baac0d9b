"""Recovery of an optimal spline from a dual point: the atoms it makes active (MATH §A.4, §7.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from ...losses import Loss, get_loss
from ...network import Network
from .._solve import solve_cvxpy
from .atoms import Atoms, _pruned, _ramps_from_jumps, network_from_atoms
from .grid import Grid, left_values, make_grid, right_values

__all__ = ["recover", "recover_atoms"]


@dataclass
class _Columns:
    """The atoms a dual point makes active, as dense columns on the samples.

    ``labels[j]`` names column j: ("right", k), ("left", k), ("jump", k) or ("ramp", p, q).
    ``signs[j]`` is the sign complementary slackness forces on its amplitude (0: free),
    ``weights[j]`` its penalty weight; ``zero_sum`` asks Σ amplitudes = 0 (slope jumps).
    """

    Phi: np.ndarray
    labels: list[tuple[Any, ...]]
    signs: np.ndarray
    weights: np.ndarray
    zero_sum: bool = False


def _active_columns(U: np.ndarray, grid: Grid, depth: int, beta_t: float, act_tol: float) -> _Columns:
    """Atoms with ‖Uᵀatom‖ ≥ β_t(1 − act_tol): by complementary slackness the only ones an optimum uses."""
    U = U - U.mean(axis=0)
    K = U.shape[1]
    x = grid.knots[grid.group][:, None]
    xi = grid.knots
    r = right_values(U, grid)
    cut = beta_t * (1.0 - act_tol)
    if depth == 2:
        l = left_values(U, grid)
        R = np.flatnonzero(np.linalg.norm(r[:-1], axis=1) >= cut)
        L = 1 + np.flatnonzero(np.linalg.norm(l[1:], axis=1) >= cut)
        Phi = np.hstack([np.maximum(x - xi[R][None, :], 0.0), np.maximum(xi[L][None, :] - x, 0.0)])
        signs = np.r_[np.sign(r[R, 0]), np.sign(l[L, 0])] if K == 1 else np.zeros(len(R) + len(L))
        labels = [("right", int(k)) for k in R] + [("left", int(k)) for k in L]
        return _Columns(Phi, labels, signs, np.ones(len(labels)))
    if K == 1:
        # c·((x−ξ_p)_+ − (x−ξ_q)_+) is active iff c(r_p − r_q) = β_t|c|: the slopes may jump up
        # only where r is near its largest value, down only where it is near its smallest.
        hi, lo = float(r.max()), float(r.min())
        up, down = r[:, 0] >= lo + cut, r[:, 0] <= hi - cut
        J = np.flatnonzero(up | down)
        signs = np.where(up[J] & down[J], 0.0, np.where(up[J], 1.0, -1.0))
        Phi = np.maximum(x - xi[J][None, :], 0.0)
        return _Columns(Phi, [("jump", int(k)) for k in J], signs, np.full(J.size, 0.5), zero_sum=True)
    pairs = np.stack(np.triu_indices(grid.m, 1), axis=1)
    pairs = pairs[np.linalg.norm(r[pairs[:, 0]] - r[pairs[:, 1]], axis=1) >= cut]
    Phi = np.maximum(x - xi[pairs[:, 0]][None, :], 0.0) - np.maximum(x - xi[pairs[:, 1]][None, :], 0.0)
    return _Columns(Phi, [("ramp", int(p), int(q)) for p, q in pairs], np.zeros(len(pairs)), np.ones(len(pairs)))


def _fit_columns(cols: _Columns, Y: np.ndarray, loss: Loss, beta_t: float, solver: str | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The restricted primal over the active columns: amplitudes (p, K) and output bias (K,).

    Squared loss is reduced by one QR factorization of [1, Φ, Y], so the program has
    (p+1)² coefficients whatever n is.
    """
    n, K = Y.shape
    p = len(cols.labels)
    M = np.hstack([np.ones((n, 1)), cols.Phi])
    V = cp.Variable((p + 1, K))
    if loss.name == "squared" and n > p + 1 + K:
        R = np.linalg.qr(np.hstack([M, Y]), mode="r")
        data = 0.5 * cp.sum_squares(R[:p + 1, :p + 1] @ V - R[:p + 1, p + 1:]) + 0.5 * float(
            np.sum(R[p + 1:, p + 1:] ** 2))
    else:
        data = loss.primal(M @ V, Y)
    Z = V[1:]
    constraints = []
    if p:
        norms = cp.abs(Z[:, 0]) if K == 1 else cp.norm(Z, 2, axis=1)
        penalty = beta_t * (cols.weights @ norms)
        if K == 1 and np.any(cols.signs != 0):
            constraints.append(cp.multiply(cols.signs, Z[:, 0]) >= 0)
        if cols.zero_sum:
            constraints.append(cp.sum(Z, axis=0) == 0)
    else:
        penalty = 0
    problem = cp.Problem(cp.Minimize(data + penalty), constraints)
    solve_cvxpy(problem, solver)
    values = np.asarray(V.value, dtype=float)
    return _pruned(values[1:], 1e-10) if p else values[1:], values[0]


def _atoms_from_columns(cols: _Columns, coef: np.ndarray, b0: np.ndarray, grid: Grid) -> Atoms:
    K = b0.size
    kinds = {label[0] for label in cols.labels}
    if kinds <= {"right", "left"}:
        right, left = np.zeros((grid.m, K)), np.zeros((grid.m, K))
        for (kind, k), c in zip(cols.labels, coef):
            (right if kind == "right" else left)[k] = c
        return Atoms(grid, b0, right, left)           # the constant column is b0 itself
    if kinds == {"jump"}:
        jumps = np.zeros(grid.m)
        for (_, k), c in zip(cols.labels, coef):
            jumps[k] = c[0]
        return Atoms(grid, b0, ramps=_ramps_from_jumps(jumps))
    ramps = tuple((p, q, c.copy()) for (_, p, q), c in zip(cols.labels, coef) if np.any(c != 0))
    return Atoms(grid, b0, ramps=ramps)


def recover_atoms(U: np.ndarray, X: np.ndarray, Y: np.ndarray, depth: int, beta_t: float, loss: Loss,
                  solver: str | None = None, act_tol: float = 1e-4) -> Atoms:
    """Atoms of an optimal spline from a dual point U (MATH §A.4, §7.1).

    Only the atoms U makes active (‖Uᵀatom‖ ≥ β_t(1 − act_tol)) may carry weight; their
    amplitudes and the output bias solve the restricted primal, a small program.
    """
    grid = make_grid(X)
    cols = _active_columns(np.asarray(U, dtype=float).reshape(Y.shape), grid, depth, beta_t, act_tol)
    coef, b0 = _fit_columns(cols, Y, loss, beta_t, solver)
    return _atoms_from_columns(cols, coef, b0, grid)


def recover(U: np.ndarray, X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None,
            loss: Loss | None = None, solver: str | None = None) -> Network:
    """Network from a dual point U: the restricted primal over its active atoms (see :func:`recover_atoms`).

    With ``t=None`` and depth ≥ 3 the branches are balanced for weight decay at the
    threshold β; with a float ``t`` the network is in the t-form.
    """
    loss = get_loss("squared") if loss is None else loss
    tt = None if (depth == 2 or t is None) else t
    beta_t = beta if tt is None else beta * tt ** (2 - depth)
    return network_from_atoms(recover_atoms(U, X, Y, depth, beta_t, loss, solver), depth, tt)
