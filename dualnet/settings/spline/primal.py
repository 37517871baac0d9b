"""The finite primal in O(n) form: predictions are cumulative sums of slopes (docs/settings/spline.md#primal-and-dual)."""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from ...losses import Loss
from .grid import Grid, make_grid

__all__ = ["PrimalProgram", "primal_program"]


@dataclass
class PrimalProgram:
    """The finite primal as a CVXPY problem, with handles to read the solution.

    ``kind`` is "kinks" (depth 2: right/left ReLUs at the data), "slopes" (depth ≥ 3, one
    output: the values are parameterized by slopes and the ramp cost is half the total
    variation of the zero-padded slopes), or "ramps" (depth ≥ 3, several outputs: one
    variable per ramp). ``constraint`` ties the prediction variable to the atoms; its
    dual value is the dual point U.
    """

    problem: cp.Problem
    threshold: cp.Parameter
    grid: Grid
    kind: str
    depth: int
    t: float | None
    variables: dict[str, cp.Variable]
    constraint: cp.Constraint
    values_expr: cp.Expression
    pairs: np.ndarray | None = None

    def set_beta(self, beta: float, t: float | None = None) -> None:
        t = self.t if t is None else t
        self.threshold.value = beta * (1.0 if (t is None or self.depth == 2) else t ** (2 - self.depth))

    def dual_point(self) -> np.ndarray:
        """U = −∇ℓ(F*) from the multiplier of the prediction constraint."""
        return np.asarray(self.constraint.dual_value, dtype=float).reshape(self.grid.group.size, -1)

    def values(self) -> np.ndarray:
        """Predictions at ξ_1..ξ_m, shape (m, K)."""
        return np.asarray(self.values_expr.value, dtype=float)


def _values_from_slopes(c: cp.Expression, slopes: cp.Expression | None, grid: Grid, K: int) -> cp.Expression:
    """f(ξ_1) = c and f(ξ_{k+1}) = f(ξ_k) + (ξ_{k+1} − ξ_k)·slope_k, by one cumulative sum."""
    base = np.ones((grid.m, 1)) @ c
    if slopes is None:
        return base
    return base + cp.vstack([np.zeros((1, K)), cp.cumsum(cp.multiply(grid.gaps[:, None], slopes), axis=0)])


def primal_program(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None, loss: Loss,
                   masks: dict[str, np.ndarray] | None = None) -> PrimalProgram:
    """The finite primal in O(n) form (docs/settings/spline.md#primal-and-dual; deep ramps: module docstring).

    Depth 2: min ℓ(F) + β Σ_k (|z_k| + |z'_k|) with F the values of
    b_0 + Σ z_k(x − ξ_k)_+ + Σ z'_k(ξ_k − x)_+; the slope on [ξ_j, ξ_{j+1}] is
    Σ_{k≤j} z_k − Σ_{k>j} z'_k, a difference of cumulative sums. Depth ≥ 3 (one output):
    min ℓ(F) + (β t^{2−L}/2)(|s_1| + Σ|s_{j+1} − s_j| + |s_{m−1}|) over slopes s.
    ``masks`` restricts the atoms (recovery from a dual point): keys "right"/"left"
    (depth 2, 0/1 per atom), "up"/"down" (slopes: allowed signs of each slope jump),
    "pairs" (ramps: the allowed (p, q) pairs).
    """
    grid = make_grid(X)
    n, K = Y.shape
    m = grid.m
    threshold = cp.Parameter(nonneg=True, name="beta_t")
    c = cp.Variable((1, K), name="c")
    F = cp.Variable((n, K), name="F")
    variables: dict[str, cp.Variable] = {"c": c, "F": F}
    constraints: list[cp.Constraint] = []
    penalty: cp.Expression = cp.Constant(0.0)
    kind = "kinks" if depth == 2 else ("slopes" if K == 1 else "ramps")
    if m == 1:
        values = _values_from_slopes(c, None, grid, K)
    elif kind == "kinks":
        z = cp.Variable((m - 1, K), name="z")         # right-facing at ξ_1..ξ_{m−1}
        zl = cp.Variable((m - 1, K), name="z_left")   # left-facing at ξ_2..ξ_m
        variables.update(z=z, z_left=zl)
        zr, zll = z, zl
        if masks is not None:
            zr, zll = cp.multiply(masks["right"][:, None], z), cp.multiply(masks["left"][:, None], zl)
        values = _values_from_slopes(c, _kink_slopes(zr, zll, m), grid, K)
        penalty = _group_l1(z, K) + _group_l1(zl, K)
    elif kind == "slopes":
        s = cp.Variable((m - 1, 1), name="slopes")
        variables["slopes"] = s
        jumps = cp.vstack([s[:1], s[1:] - s[:-1], -s[-1:]]) if m > 2 else cp.vstack([s, -s])   # at ξ_1..ξ_m
        if masks is not None:      # jumps may rise only where "up" is allowed, fall only where "down" is
            constraints += [cp.multiply(1.0 - masks["up"][:, None], jumps) <= 0,
                            cp.multiply(1.0 - masks["down"][:, None], jumps) >= 0]
        values = _values_from_slopes(c, s, grid, K)
        penalty = 0.5 * cp.sum(cp.abs(jumps))
    pairs = None
    if kind == "ramps" and m > 1:
        pairs = masks["pairs"] if masks is not None else np.stack(np.triu_indices(m, 1), axis=1)
        C = cp.Variable((max(len(pairs), 1), K), name="ramps")
        variables["ramps"] = C
        ramp = _ramp_matrix(grid, pairs)
        values = np.ones((m, 1)) @ c + (ramp @ C if len(pairs) else 0)
        penalty = _group_l1(C, K)
    sel = grid.aggregation().T.tocsr()
    tie = F == sel @ values
    problem = cp.Problem(cp.Minimize(loss.primal(F, Y) + threshold * penalty), [tie, *constraints])
    program = PrimalProgram(problem, threshold, grid, kind, depth, t, variables, tie, values, pairs)
    program.set_beta(beta, t)
    return program


def _kink_slopes(z: cp.Expression, zl: cp.Expression, m: int) -> cp.Expression:
    """Slope on [ξ_j, ξ_{j+1}]: Σ_{k≤j} z_k − Σ_{k>j} z′_k = Σ_{k≤j}(z_k + z′_k) − Σ_k z′_k.

    The total Σ z′ is read off the last entry of a cumulative sum: CVXPY gives every
    cumsum an auxiliary variable, so broadcasting that entry costs m nonzeros, whereas
    broadcasting ``cp.sum(z′)`` would cost m².
    """
    left = cp.cumsum(zl, axis=0)
    return cp.cumsum(z, axis=0) + left - zl - np.ones((m - 1, 1)) @ left[-1:]


def _group_l1(Z: cp.Variable, K: int) -> cp.Expression:
    return cp.sum(cp.abs(Z)) if K == 1 else cp.sum(cp.norm(Z, 2, axis=1))


def _ramp_matrix(grid: Grid, pairs: np.ndarray) -> np.ndarray:
    """Columns (ξ_i − ξ_p)_+ − (ξ_i − ξ_q)_+ for each pair (p, q), p < q (dense, m × pairs)."""
    x = grid.knots[:, None]
    if len(pairs) == 0:
        return np.zeros((grid.m, 0))
    p, q = grid.knots[pairs[:, 0]][None, :], grid.knots[pairs[:, 1]][None, :]
    return np.maximum(x - p, 0.0) - np.maximum(x - q, 0.0)
