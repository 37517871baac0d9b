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
#: samples (32 MB); beyond it squared loss takes the spline form (:func:`_spline_qp`) and other
#: losses implicit columns (cumulative sums on the grid), O(n + p) memory either way.
DENSE_ENTRIES = 4_000_000


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

    Squared loss with CLARABEL: the sparse spline form (:func:`_spline_qp`), O(n + p) at any
    size. Otherwise through CVXPY: squared loss on the dense columns reduced to a
    least-squares form ½‖R v − B‖² (:func:`_least_squares`; ramps, at most MAX_PAIRWISE
    inputs, from their Gram matrix on the grid); other losses, or a named solver at large n,
    on dense columns while small, else implicit ones (:func:`_implicit_values`, O(n + p)).
    """
    n, K = Y.shape
    p = len(cols.labels)
    if p == 0 and loss.name == "squared":
        return np.zeros((0, K)), Y.mean(axis=0)          # the constant fit: the mean (no program)
    ramps = p > 0 and cols.labels[0][0] == "ramp"
    large = n * (p + 1) > DENSE_ENTRIES
    if loss.name == "squared" and p and not ramps and solver in (None, "CLARABEL"):
        try:
            return _spline_qp(cols, grid, Y, beta_t)
        except SolverError:
            pass                                  # CVXPY below (with its own solver retries)
    squared = loss.name == "squared" and (not large or ramps)
    if squared:
        R, B = _least_squares(cols, grid, Y)
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

    Small problems: one QR factorization of [1, Φ, Y] on the samples. Ramps with n × p
    above :data:`DENSE_ENTRIES`: the Gram matrix on the grid (:func:`_gram`),
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


def _gram(cols: _Columns, grid: Grid, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gram matrix of [1, ramp columns] and its product with Y, from the columns on the grid (m ≤ MAX_PAIRWISE)."""
    counts = grid.counts
    M = np.hstack([np.ones((grid.m, 1)), cols.on_grid(grid)])
    return M.T @ (counts[:, None] * M), M.T @ grid.sums(Y)


def _spline_qp(cols: _Columns, grid: Grid, Y: np.ndarray, beta_t: float) -> tuple[np.ndarray, np.ndarray]:
    """The restricted primal for squared loss as a sparse QP in the spline's own form (CLARABEL, O(n + p)).

    The active atoms kink at the grid positions a_1 < … < a_q only, so the spline is
    affine between them: its values v_j = f(a_j) and the slopes s_0..s_q of the q + 1
    pieces describe it, tied by v_{j+1} = v_j + (a_{j+1} − a_j)s_j, s_0 = −Σ_left z and
    s_j = s_{j−1} + Σ_{atoms at a_j} z (a right kink, a left kink or a slope jump adds its
    amplitude to the slope right of its position; a left kink's slope is −z left of it).
    A sample on piece j (anchor a_j, a_1 for piece 0) is predicted v + (x − a)s, so the loss
    is a 2 × 2 quadratic per piece from moment sums (centred at the anchor): every matrix
    has O(p) nonzeros, built in O(n + p) whatever the number of atoms (the Gram form of the
    atoms' columns is dense, p × p and O(p³)). One or several outputs (second-order cones
    for the group norms). Returns the amplitudes (p, K) and the output bias (K,).
    """
    import clarabel

    K, p = Y.shape[1], len(cols.labels)
    pos = np.array([lab[1] for lab in cols.labels], dtype=np.int64)
    anchors, at = np.unique(pos, return_inverse=True)         # breakpoints a_1..a_q; atom j sits at anchors[at[j]]
    q = anchors.size
    counts = grid.counts
    sums = grid.sums(Y)
    piece = np.searchsorted(anchors, np.arange(grid.m), side="right")   # 0..q for every grid point
    anchor = grid.knots[anchors[np.maximum(piece, 1) - 1]]
    d = grid.knots - anchor                                               # offsets from the piece's anchor
    S0, S1, S2 = (np.bincount(piece, counts * d ** e, minlength=q + 1) for e in (0, 1, 2))
    T0 = np.stack([np.bincount(piece, sums[:, k], minlength=q + 1) for k in range(K)], axis=1)
    T1 = np.stack([np.bincount(piece, d * sums[:, k], minlength=q + 1) for k in range(K)], axis=1)
    # variables, (index, output) row-major: v (q·K), s ((q+1)·K), z (p·K), one bound per free atom
    free = np.flatnonzero(cols.signs == 0) if K == 1 else np.arange(p)
    v_at = np.arange(q * K).reshape(q, K)
    s_at = q * K + np.arange((q + 1) * K).reshape(q + 1, K)
    z_at = (2 * q + 1) * K + np.arange(p * K).reshape(p, K)
    a_at = (2 * q + 1 + p) * K + np.arange(free.size)
    n_var = a_at[-1] + 1 if free.size else (2 * q + 1 + p) * K
    vj = v_at[np.maximum(np.arange(q + 1), 1) - 1]                       # the v each piece uses
    P = sp.coo_matrix((np.concatenate([np.repeat(S0, K), np.repeat(S1, K), np.repeat(S2, K)]),
                       (np.concatenate([vj.ravel(), vj.ravel(), s_at.ravel()]),
                        np.concatenate([vj.ravel(), s_at.ravel(), s_at.ravel()]))), shape=(n_var, n_var))
    c = np.zeros(n_var)
    np.add.at(c, vj.ravel(), -T0.ravel())
    c[s_at.ravel()] = -T1.ravel()
    c[z_at[:, 0]] += beta_t * cols.weights * cols.signs if K == 1 else 0.0
    c[a_at] = beta_t * cols.weights[free]
    rows, cvals, ccols = [], [], []
    count = 0

    def tie(n_rows: int, entries: list[tuple[np.ndarray, np.ndarray, Any]]) -> None:
        nonlocal count
        for r, cc, val in entries:
            r, cc = np.broadcast_arrays(np.asarray(r), np.asarray(cc))
            rows.append(count + r.ravel()), ccols.append(cc.ravel())
            cvals.append(np.broadcast_to(np.asarray(val, dtype=float), r.shape).ravel())
        count += n_rows

    kk = np.arange(K)[None, :]
    gaps = np.diff(grid.knots[anchors])[:, None]
    r = np.arange((q - 1) * K).reshape(q - 1, K)
    tie((q - 1) * K, [(r, v_at[1:], 1.0), (r, v_at[:-1], -1.0), (r, s_at[1:q], -gaps)])   # v_{j+1} − v_j − gap·s_j = 0
    r = np.arange((q + 1) * K).reshape(q + 1, K)
    left = np.array([lab[0] == "left" for lab in cols.labels])
    tie((q + 1) * K, [(r, s_at, 1.0), (r[1:], s_at[:-1], -1.0),
                      (r[1 + at] + 0 * kk, z_at, -1.0),                                   # s_j − s_{j−1} − Σ z = 0
                      (r[0] + 0 * z_at[left], z_at[left], 1.0)])                          # s_0 + Σ_left z = 0
    if cols.zero_sum:
        tie(K, [(kk + 0 * z_at, z_at, 1.0)])
    n_zero = count
    cones = [clarabel.ZeroConeT(n_zero)]
    signed = np.flatnonzero(cols.signs != 0) if K == 1 else np.zeros(0, dtype=int)
    if K == 1:
        r = np.arange(signed.size)
        tie(signed.size, [(r, z_at[signed, 0], -cols.signs[signed])])                    # s_j z_j ≥ 0
        r = np.arange(free.size)
        tie(2 * free.size, [(2 * r, a_at, -1.0), (2 * r, z_at[free, 0], 1.0),           # |z_j| ≤ a_j
                            (2 * r + 1, a_at, -1.0), (2 * r + 1, z_at[free, 0], -1.0)])
        if count > n_zero:
            cones.append(clarabel.NonnegativeConeT(count - n_zero))
    else:
        r = (K + 1) * np.arange(p)[:, None]
        tie((K + 1) * p, [(r[:, 0], a_at, -1.0), (r + 1 + kk, z_at, -1.0)])           # (a_j, z_j) in the cone
        cones += [clarabel.SecondOrderConeT(K + 1)] * p
    A = sp.csc_matrix((np.concatenate(cvals), (np.concatenate(rows), np.concatenate(ccols))), shape=(count, n_var))
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    # P's entries pair v with v, v with s or s with s, and every v index is below every s index: it is
    # upper triangular already (CSC sums the repeated v of pieces 0 and 1; sp.triu cost a third of the solve)
    solution = clarabel.DefaultSolver(P.tocsc(), c, A, np.zeros(count), cones, settings).solve()
    if str(solution.status) != "Solved":
        raise SolverError(f"CLARABEL (restricted primal, spline form) ended with status {solution.status}")
    x = np.asarray(solution.x, dtype=float)
    z = x[z_at]
    # f(ξ_1) from its piece, then the output bias: the left kinks are the only atoms nonzero at ξ_1
    f1 = x[vj[piece[0]]] + d[0] * x[s_at[piece[0]]]
    b0 = f1 - np.where(left, grid.knots[pos] - grid.knots[0], 0.0) @ z
    return _pruned(z, 1e-10), b0


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
