"""Recovery of an optimal spline from a dual point: the atoms it makes active (docs/theory/framework.md#extreme-points, docs/theory/losses.md#general-dual)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ...errors import SolverError
from ...losses import Loss, get_loss
from ...network import Network
from .._solve import solve_cvxpy
from .atoms import Atoms, _pruned, _ramps_from_jumps, network_from_atoms
from .grid import Grid, left_values, make_grid, right_values
from .primal import _kink_slopes, _values_from_slopes

__all__ = ["recover", "recover_atoms"]


#: Largest n × (active atoms) for which the restricted primal is written with dense columns on the
#: samples (32 MB); beyond it the columns stay implicit (cumulative sums on the grid, O(n + p) memory).
DENSE_ENTRIES = 4_000_000

#: Most active atoms for which squared loss uses the Gram matrix above DENSE_ENTRIES (p × p memory, O(p³) time)
GRAM_MAX = 2000


@dataclass
class _Columns:
    """The atoms a dual point makes active, kept implicit: positions on the grid, not dense columns.

    ``labels[j]`` names column j: ("right", k), ("left", k), ("jump", k) or ("ramp", p, q).
    ``signs[j]`` is the sign complementary slackness forces on its amplitude (0: free),
    ``weights[j]`` its penalty weight; ``zero_sum`` asks Σ amplitudes = 0 (slope jumps).
    """

    labels: list[tuple[Any, ...]]
    signs: np.ndarray
    weights: np.ndarray
    zero_sum: bool = False

    def on_grid(self, grid: Grid) -> np.ndarray:
        """The columns evaluated at ξ_1..ξ_m (m × p; dense, for small problems)."""
        xi = grid.knots[:, None]
        cols = [np.maximum(xi[:, 0] - xi[lab[1], 0], 0.0) if lab[0] in ("right", "jump") else
                np.maximum(xi[lab[1], 0] - xi[:, 0], 0.0) if lab[0] == "left" else
                np.maximum(xi[:, 0] - xi[lab[1], 0], 0.0) - np.maximum(xi[:, 0] - xi[lab[2], 0], 0.0)
                for lab in self.labels]
        return np.stack(cols, axis=1) if cols else np.zeros((grid.m, 0))

    def scatter(self, kind: str, rows: int, shift: int = 0) -> sp.csr_matrix:
        """0/1 matrix (rows × p) putting each amplitude of ``kind`` at its grid index − ``shift``."""
        j = np.array([i for i, lab in enumerate(self.labels) if lab[0] == kind], dtype=int)
        k = np.array([self.labels[i][1] - shift for i in j], dtype=int)
        return sp.csr_matrix((np.ones(j.size), (k, j)), shape=(rows, len(self.labels)))


def _active_columns(U: np.ndarray, grid: Grid, depth: int, beta_t: float, act_tol: float) -> _Columns:
    """Atoms with ‖Uᵀatom‖ ≥ β_t(1 − act_tol): by complementary slackness the only ones an optimum uses."""
    U = U - U.mean(axis=0)
    K = U.shape[1]
    r = right_values(U, grid)
    cut = beta_t * (1.0 - act_tol)
    if depth == 2:
        l = left_values(U, grid)
        R = np.flatnonzero(np.linalg.norm(r[:-1], axis=1) >= cut)
        L = 1 + np.flatnonzero(np.linalg.norm(l[1:], axis=1) >= cut)
        signs = np.r_[np.sign(r[R, 0]), np.sign(l[L, 0])] if K == 1 else np.zeros(len(R) + len(L))
        labels = [("right", int(k)) for k in R] + [("left", int(k)) for k in L]
        return _Columns(labels, signs, np.ones(len(labels)))
    if K == 1:
        # c·((x−ξ_p)_+ − (x−ξ_q)_+) is active iff c(r_p − r_q) = β_t|c|: the slopes may jump up
        # only where r is near its largest value, down only where it is near its smallest.
        hi, lo = float(r.max()), float(r.min())
        up, down = r[:, 0] >= lo + cut, r[:, 0] <= hi - cut
        J = np.flatnonzero(up | down)
        signs = np.where(up[J] & down[J], 0.0, np.where(up[J], 1.0, -1.0))
        return _Columns([("jump", int(k)) for k in J], signs, np.full(J.size, 0.5), zero_sum=True)
    pairs = np.stack(np.triu_indices(grid.m, 1), axis=1)
    pairs = pairs[np.linalg.norm(r[pairs[:, 0]] - r[pairs[:, 1]], axis=1) >= cut]
    return _Columns([("ramp", int(p), int(q)) for p, q in pairs], np.zeros(len(pairs)), np.ones(len(pairs)))


def _fit_columns(cols: _Columns, grid: Grid, Y: np.ndarray, loss: Loss, beta_t: float, solver: str | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The restricted primal over the active columns: amplitudes (p, K) and output bias (K,).

    Squared loss is reduced to a least-squares form ½‖R v − B‖² with p + 1 unknowns per
    output (:func:`_least_squares`) while n·p or p is small (:data:`GRAM_MAX`); with one output and CLARABEL it is solved
    directly (:func:`_direct_qp`), otherwise through CVXPY. Other losses use dense columns
    on the samples while small, else implicit ones (:func:`_implicit_values`, O(n + p)).
    """
    n, K = Y.shape
    p = len(cols.labels)
    # The Gram form needs p × p memory and an O(p³) eigen-decomposition: beyond GRAM_MAX atoms
    # (at n = 10⁵ the looser activity thresholds make 18 006 and more active) the columns stay implicit.
    squared = loss.name == "squared" and (n * (p + 1) <= DENSE_ENTRIES or p <= GRAM_MAX)
    if squared:
        R, B = _least_squares(cols, grid, Y)
        if K == 1 and solver in (None, "CLARABEL"):
            try:
                return _split(_direct_qp(R, B[:, 0], cols, beta_t)[:, None], p)
            except SolverError:
                pass                                  # CVXPY below (with its own solver retries)
    V = cp.Variable((p + 1, K))
    Z = V[1:]
    constraints: list[cp.Constraint] = []
    if squared:
        data = 0.5 * cp.sum_squares(R @ V - B)
    elif n * (p + 1) <= DENSE_ENTRIES:
        data = loss.primal(np.hstack([np.ones((n, 1)), cols.on_grid(grid)[grid.group]]) @ V, Y)
    else:
        values, constraints = _implicit_values(cols, grid, V[:1], Z, K)
        data = loss.primal(grid.aggregation().T.tocsr() @ values, Y)
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
    return _split(np.asarray(V.value, dtype=float), p)


def _split(amplitudes: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(atom amplitudes with round-off rows pruned, output bias) from the stacked [b0; z]."""
    return (_pruned(amplitudes[1:], 1e-10) if p else amplitudes[1:]), amplitudes[0]


def _least_squares(cols: _Columns, grid: Grid, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R, B with ‖[1, Φ]V − Y‖² = ‖R V − B‖² + const for every V (squared loss).

    Small problems: one QR factorization of [1, Φ, Y] on the samples. Large ones (n × p
    above :data:`DENSE_ENTRIES`): the Gram matrix from moment sums (:func:`_gram`),
    R = Λ^{1/2}Qᵀ and B = Λ^{−1/2}QᵀΦᵀY from its eigen-decomposition.
    """
    n, K = Y.shape
    p = len(cols.labels)
    if n * (p + 1) > DENSE_ENTRIES:
        gram, cross = _gram(cols, grid, Y)
        lam, Q = np.linalg.eigh(0.5 * (gram + gram.T))
        keep = lam > 1e-13 * max(float(lam.max()), 1e-300)          # negative round-off eigenvalues dropped
        root = np.sqrt(lam[keep])
        return root[:, None] * Q[:, keep].T, (Q[:, keep].T @ cross) / root[:, None]
    M = np.hstack([np.ones((n, 1)), cols.on_grid(grid)[grid.group]])
    if n <= p + 1 + K:
        return M, Y
    R = np.linalg.qr(np.hstack([M, Y]), mode="r")
    return R[:p + 1, :p + 1], R[:p + 1, p + 1:]


def _direct_qp(R: np.ndarray, b: np.ndarray, cols: _Columns, beta_t: float) -> np.ndarray:
    """Minimize ½‖R v − b‖² + β_t Σ_j w_j|z_j| (v = [b0; z]) under the sign and zero-sum conditions (CLARABEL).

    Variables [v, e, a]: e = R v − b (zero cone, so the quadratic is ½‖e‖² and R's
    conditioning is not squared), a_j ≥ |z_j| only for the atoms of free sign; a signed
    atom's |z_j| is s_j z_j with s_j z_j ≥ 0.
    """
    import clarabel

    p = len(cols.labels)
    r = R.shape[0]
    free = np.flatnonzero(cols.signs == 0) if p else np.zeros(0, dtype=int)
    signed = np.flatnonzero(cols.signs != 0) if p else np.zeros(0, dtype=int)
    nv, nf = p + 1, free.size
    n_var = nv + r + nf
    P = sp.csc_matrix((np.ones(r), (nv + np.arange(r), nv + np.arange(r))), shape=(n_var, n_var))
    q = np.zeros(n_var)
    q[1 + signed] = beta_t * cols.weights[signed] * cols.signs[signed]
    q[nv + r:] = beta_t * cols.weights[free]
    blocks = [sp.hstack([sp.csr_matrix(R), -sp.eye(r), sp.csr_matrix((r, nf))])]      # R v − e = b
    rhs = [b]
    cones = [clarabel.ZeroConeT(r + (1 if cols.zero_sum and p else 0))]
    if cols.zero_sum and p:
        blocks.append(sp.csr_matrix((np.ones(p), (np.zeros(p), 1 + np.arange(p))), shape=(1, n_var)))
        rhs.append(np.zeros(1))
    rows = []
    for k, j in enumerate(signed):                      # s_j z_j ≥ 0
        rows.append(([k], [1 + j], [-cols.signs[j]]))
    base = signed.size
    for k, j in enumerate(free):                        # a_k ≥ z_j and a_k ≥ −z_j
        rows.append(([base + 2 * k] * 2, [nv + r + k, 1 + j], [-1.0, 1.0]))
        rows.append(([base + 2 * k + 1] * 2, [nv + r + k, 1 + j], [-1.0, -1.0]))
    n_ineq = base + 2 * nf
    if n_ineq:
        ri, ci, vi = (np.concatenate([np.asarray(x[i], dtype=float if i == 2 else int) for x in rows])
                      for i in range(3))
        blocks.append(sp.csr_matrix((vi, (ri, ci)), shape=(n_ineq, n_var)))
        rhs.append(np.zeros(n_ineq))
        cones.append(clarabel.NonnegativeConeT(n_ineq))
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    solution = clarabel.DefaultSolver(P, q, sp.vstack(blocks).tocsc(), np.concatenate(rhs), cones, settings).solve()
    if str(solution.status) != "Solved":
        raise SolverError(f"CLARABEL (restricted primal) ended with status {solution.status}")
    return np.asarray(solution.x, dtype=float)[:nv]


def _gram(cols: _Columns, grid: Grid, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gram matrix of [1, Φ] and [1, Φ]ᵀY from moment sums on the grid.

    Every column is α·x + γ on a range of grid indices (a right kink at ξ_a: x − ξ_a on
    [a, m); a left kink at ξ_b: ξ_b − x on [0, b]; the constant 1 everywhere), so an entry
    is a combination of range sums of n_j, n_j x_j, n_j x_j² and of the label sums:
    O(m + p²) time and memory for any n (the inputs are centred first against
    cancellation). Ramps (several outputs, at most MAX_PAIRWISE inputs) use their columns
    on the grid.
    """
    counts = np.bincount(grid.group, minlength=grid.m).astype(float)
    sums = np.zeros((grid.m, Y.shape[1]))
    np.add.at(sums, grid.group, Y)
    if any(lab[0] == "ramp" for lab in cols.labels):
        M = np.hstack([np.ones((grid.m, 1)), cols.on_grid(grid)])
        return M.T @ (counts[:, None] * M), M.T @ sums
    return _moment_gram(cols, grid, counts, sums)


def _moment_gram(cols: _Columns, grid: Grid, counts: np.ndarray, sums: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Gram matrix of [1, columns] and their products with Y, from prefix sums of moments (see above)."""
    x = grid.knots - grid.knots.mean()
    m = grid.m
    alpha, gamma, lo, hi = [0.0], [1.0], [0], [m]
    for lab in cols.labels:
        k = lab[1]
        if lab[0] == "left":
            alpha.append(-1.0), gamma.append(x[k]), lo.append(0), hi.append(k + 1)
        else:                                                    # right kink or slope jump at ξ_k
            alpha.append(1.0), gamma.append(-x[k]), lo.append(k), hi.append(m)
    a, g = np.array(alpha), np.array(gamma)
    lo_, hi_ = np.array(lo), np.array(hi)
    prefix = lambda v: np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(v, axis=0)])  # noqa: E731
    S0, S1, S2 = prefix(counts), prefix(counts * x), prefix(counts * x * x)
    start, stop = np.maximum.outer(lo_, lo_), np.minimum.outer(hi_, hi_)
    stop = np.maximum(stop, start)                               # empty ranges sum to zero
    rng = lambda S: S[stop] - S[start]                           # noqa: E731
    gram = (np.multiply.outer(a, a) * rng(S2) + (np.multiply.outer(a, g) + np.multiply.outer(g, a)) * rng(S1)
            + np.multiply.outer(g, g) * rng(S0))
    T0, T1 = prefix(sums), prefix(x[:, None] * sums)
    cross = a[:, None] * (T1[hi_] - T1[lo_]) + g[:, None] * (T0[hi_] - T0[lo_])
    return gram, cross


def _implicit_values(cols: _Columns, grid: Grid, b0: cp.Expression, Z: cp.Expression, K: int
                     ) -> tuple[cp.Expression, list[cp.Constraint]]:
    """b0 + Σ_j Z_j·column_j at ξ_1..ξ_m without forming the columns: slopes are cumulative sums.

    A right kink at ξ_k adds its amplitude to every slope right of ξ_k, a left kink at ξ_k
    subtracts it from every slope left of ξ_k, a slope jump at ξ_k adds to every slope right
    of it; one sparse scatter and one cumsum give all slopes. Ramps (several outputs, at
    most MAX_PAIRWISE distinct inputs) use their dense columns on the grid. The slopes and
    f(ξ_1) are variables of their own, tied by constraints: CVXPY expands a cumulative sum
    of an expression holding cumulative sums, or a broadcast expression, densely (m·p).
    """
    m = grid.m
    if m == 1 or not cols.labels:
        return np.ones((m, 1)) @ b0, []
    kinds = {lab[0] for lab in cols.labels}
    if "ramp" in kinds:
        return np.ones((m, 1)) @ b0 + cols.on_grid(grid) @ Z, []
    slopes = cp.Variable((m - 1, K), name="slopes")                          # on [ξ_j, ξ_{j+1}]
    if "jump" in kinds:
        jumps = cols.scatter("jump", m) @ Z                                  # δ at ξ_1..ξ_m
        return _values_from_slopes(b0, slopes, grid, K), [slopes == cp.cumsum(jumps, axis=0)[:-1]]
    right, left = cols.scatter("right", m - 1) @ Z, cols.scatter("left", m - 1, shift=1) @ Z
    # f(ξ_1) = b0 + Σ_left z′_k (ξ_k − ξ_1): the left atoms are the only ones nonzero there.
    start = cp.Variable((1, K), name="start")
    ties = [slopes == _kink_slopes(right, left, m), start == b0 + (grid.knots[1:] - grid.knots[0])[None, :] @ left]
    return _values_from_slopes(start, slopes, grid, K), ties


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
    """Atoms of an optimal spline from a dual point U (docs/theory/framework.md#extreme-points, docs/theory/losses.md#general-dual).

    Only the atoms U makes active (‖Uᵀatom‖ ≥ β_t(1 − act_tol)) may carry weight; their
    amplitudes and the output bias solve the restricted primal, a small program.
    """
    grid = make_grid(X)
    cols = _active_columns(np.asarray(U, dtype=float).reshape(Y.shape), grid, depth, beta_t, act_tol)
    coef, b0 = _fit_columns(cols, grid, Y, loss, beta_t, solver)
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
