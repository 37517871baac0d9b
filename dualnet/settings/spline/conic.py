"""The finite dual for squared loss as a conic program handed to CLARABEL directly: O(n) memory.

CVXPY's canonicalization keeps several copies of an O(n) program and its KKT data
(measured: past 7.8 GB at n = 10⁶ before the solve ended). Here the same program
(:func:`dualnet.settings.spline.dual_program`) is written once in CLARABEL's standard form
``min ½xᵀPx + qᵀx s.t. Ax + s = b, s ∈ K`` with scipy.sparse, a few nonzeros per distinct
input. For squared loss the samples at one input enter only through their sum G_j, and

    max_U −½‖U − Y‖² s.t. Σ_{x_i = ξ_j} u_i = G_j  ⇒  u_i = y_i + (G_j − Y_j)/n_j,

so the variables are, per output, the group sums G_1..G_m, their prefix sums P_1..P_{m−1}
(P_m = 0 is 1ᵀU = 0) and the left values l_2..l_m (l_1 = 0) tied by
l_{j+1} = l_j + Δ_j P_j, with the objective ½Σ_j ‖G_j − Y_j‖²/n_j (docs/settings/spline.md#conic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ...errors import InputError, SolverError
from .grid import Grid, make_grid

__all__ = ["ConicDual", "conic_dual"]

#: CLARABEL's static regularization for this program (its default is 1e-8). The chain
#: G → P → l couples a unit of G to l through coefficients whose product is about the mean gap
#: over the threshold, h/β (4e-9 at n = 10⁶ with β = 1e-3·n): a regularization of 1e-8 on the
#: equilibrated KKT swamps that coupling, the search directions go wrong and the steps shrink
#: (at the default the gap was still 3e-6 after 40 iterations at 10⁶; with 1e-13 it converges in
#: 27; at 10⁵ the same 22 iterations, each half the time as iterative refinement converges
#: sooner). A failed solve is retried at the default (:meth:`ConicDual.solve`). One output only:
#: with the second-order cones of several outputs CLARABEL stopped for insufficient progress
#: after 2–4 iterations at 1e-13 and 1e-10 (n = 10⁵, K = 2), so they keep the default.
STATIC_REGULARIZATION = 1e-13


@dataclass
class _Rows:
    """Constraint rows in COO form, with the right-hand side split as b = b_fixed + threshold·b_beta."""

    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    b_fixed: list[np.ndarray] = field(default_factory=list)
    b_beta: list[np.ndarray] = field(default_factory=list)
    count: int = 0

    def add(self, n_rows: int, entries: list[tuple[np.ndarray, np.ndarray, Any]], b_beta: Any = 0.0) -> None:
        """``n_rows`` new rows; each entry (row offsets, columns, values) places coefficients."""
        for r, c, v in entries:
            r = np.asarray(r, dtype=np.int64)
            self.rows.append(self.count + r)
            self.cols.append(np.asarray(c, dtype=np.int64))
            self.vals.append(np.broadcast_to(np.asarray(v, dtype=float), r.shape).copy())
        self.b_fixed.append(np.zeros(n_rows))
        self.b_beta.append(np.broadcast_to(np.asarray(b_beta, dtype=float), (n_rows,)).copy())
        self.count += n_rows


@dataclass
class ConicDual:
    """The O(n) dual (squared loss) in CLARABEL's standard form, threshold re-settable.

    Attributes mirror :class:`dualnet.problem.DualProgram` where the pipeline reads them:
    :meth:`set_beta`, :meth:`solve` (returns the dual value D), :attr:`U`, ``value``.
    """

    grid: Grid
    Y: np.ndarray
    depth: int
    t: float | None
    P: sp.csc_matrix
    q: np.ndarray
    A: sp.csc_matrix
    b_fixed: np.ndarray
    b_beta: np.ndarray
    cones: list[Any]
    threshold: float = 0.0
    value: float | None = None
    status: str = ""
    _x: np.ndarray | None = None
    keep_solvers: bool = False      # re-solved at many thresholds: keep CLARABEL's solvers (:meth:`_clarabel`)
    _solvers: dict[float | None, Any] = field(default_factory=dict, repr=False)

    def set_beta(self, beta: float, t: float | None = None) -> None:
        t = self.t if t is None else t
        self.threshold = beta * (1.0 if (t is None or self.depth == 2) else t ** (2 - self.depth))

    def solve(self) -> float:
        """Solve with CLARABEL; the dual value D = −½‖U − Y‖² + ½‖Y‖² (raises SolverError unless solved)."""
        for regularization in ((STATIC_REGULARIZATION, None) if self.Y.shape[1] == 1 else (None,)):
            solution = self._clarabel(regularization)
            self.status = str(solution.status)
            if self.status in ("Solved", "AlmostSolved"):
                break
        else:
            raise SolverError(f"CLARABEL (direct conic dual) ended with status {self.status}")
        self._x = np.asarray(solution.x, dtype=float)
        U = self.U
        self.value = float(-0.5 * np.sum((U - self.Y) ** 2) + 0.5 * np.sum(self.Y ** 2))
        return self.value

    def _clarabel(self, regularization: float | None) -> Any:
        """One CLARABEL solve, at the given static regularization (None: CLARABEL's default).

        Only b moves with the threshold, so the solver built at the first threshold is kept (one
        per regularization) and later solves update its b alone: the equilibration (of P and A)
        and the KKT's symbolic factorization are reused, and the result is the one a new solver
        gives (measured: the same iterates, a quarter less time per solve at n = 100). A new
        solver is built where the update is refused. Kept only with :attr:`keep_solvers` (the
        search over t): a single large solve frees its solver's memory before the recovery.
        """
        import clarabel

        b = self.b_fixed + self.threshold * self.b_beta
        solver = self._solvers.get(regularization)
        if solver is not None:
            try:
                solver.update(b=b)
                return solver.solve()
            except Exception:  # noqa: BLE001 - any refusal of the update: a new solver below
                pass
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        if regularization is not None:
            settings.static_regularization_constant = regularization
        solver = clarabel.DefaultSolver(self.P, self.q, self.A, b, self.cones, settings)
        if self.keep_solvers:
            self._solvers[regularization] = solver
        return solver.solve()

    @property
    def U(self) -> np.ndarray:
        """The dual point of the last solve, shape (n_samples, n_outputs)."""
        if self._x is None:
            raise SolverError("the conic dual has not been solved")
        m, K = self.grid.m, self.Y.shape[1]
        G = self._x[:m * K].reshape(m, K)
        return self.Y + ((G - self.grid.sums(self.Y)) / self.grid.counts[:, None])[self.grid.group]


def conic_dual(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None) -> ConicDual:
    """The finite dual for squared loss in CLARABEL's standard form (module docstring).

    Depth 2: |l_j|, |r_j| ≤ β (second-order cones of size K+1 for several outputs), with
    r_j = l_m − l_j. Depth ≥ 3, one output: lo ≤ l_j ≤ hi, lo ≤ 0 ≤ hi, hi − lo ≤ β t^{2−L}.
    Depth ≥ 3 with several outputs (pairwise cones) is not written here.

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.settings.spline.conic import conic_dual
    >>> X, Y = np.array([[-1.0], [0.0], [1.0]]), np.array([[0.0], [1.0], [0.0]])
    >>> prog = conic_dual(X, Y, 2, 0.1, None)
    >>> round(prog.solve(), 6), prog.U.round(6).ravel().tolist()       # docs/theory/known-answers.md#t9
    (0.17, [-0.1, 0.2, -0.1])
    """
    import clarabel

    grid = make_grid(X)
    Y = np.asarray(Y, dtype=float).reshape(X.shape[0], -1)
    n, K = Y.shape
    m = grid.m
    if depth >= 3 and K > 1:
        raise InputError(f"The 'Y' parameter of conic_dual has {K} columns, but at depth={depth} the direct conic "
                         "dual covers one output only (the deep constraint is pairwise for several outputs). Use "
                         "dualnet.settings.spline.dual_program for several outputs.")
    counts, sums = grid.counts, grid.sums(Y)
    # variable layout, row-major in (position, output): G (m·K), P ((m−1)·K), l_2..l_m ((m−1)·K), [lo, hi]
    nG, nP = m * K, (m - 1) * K
    g_idx = np.arange(nG).reshape(m, K)
    p_idx = nG + np.arange(nP).reshape(m - 1, K)
    l_idx = nG + nP + np.arange(nP).reshape(m - 1, K)         # l_idx[j − 2] holds l_j
    n_var = nG + 2 * nP + (2 if depth >= 3 else 0)
    P = sp.diags(np.r_[np.repeat(1.0 / counts, K), np.zeros(n_var - nG)], format="csc")
    q = np.r_[-(sums / counts[:, None]).reshape(-1), np.zeros(n_var - nG)]

    eq, ineq = _Rows(), _Rows()
    if m >= 2:
        _prefix_rows(eq, g_idx, p_idx, l_idx, grid.gaps, m, K)
        if depth == 2:
            _two_layer_rows(ineq, l_idx, m, K)
        else:
            _deep_rows(ineq, l_idx, n_var - 2, n_var - 1, m)
    A, b_fixed, b_beta = _stack(eq, ineq, n_var)
    cones: list[Any] = []
    if eq.count:
        cones.append(clarabel.ZeroConeT(eq.count))
    if ineq.count:
        if depth == 2 and K > 1:
            cones += [clarabel.SecondOrderConeT(K + 1)] * (ineq.count // (K + 1))
        else:
            cones.append(clarabel.NonnegativeConeT(ineq.count))
    if not cones:                                   # one distinct input: G = 0 is forced by 1ᵀU = 0
        A = sp.csc_matrix(sp.eye(nG, n_var))
        b_fixed, b_beta = np.zeros(nG), np.zeros(nG)
        cones = [clarabel.ZeroConeT(nG)]
    program = ConicDual(grid, Y, depth, t, sp.triu(P, format="csc"), q, A, b_fixed, b_beta, cones)
    program.set_beta(beta, t)
    return program


def _prefix_rows(eq: _Rows, g_idx: np.ndarray, p_idx: np.ndarray, l_idx: np.ndarray, gaps: np.ndarray,
                 m: int, K: int) -> None:
    """P_1 = G_1, P_j = P_{j−1} + G_j, P_{m−1} + G_m = 0; l_2 = Δ_1 P_1, l_{j+1} = l_j + Δ_j P_j."""
    rows = np.arange(m * K).reshape(m, K)                 # one row per (j, k), j = 1..m
    eq.add(m * K, [(rows[:m - 1], p_idx, 1.0),            # P_j (j ≤ m−1)
                   (rows[1:m - 1], p_idx[:-1], -1.0),     # −P_{j−1} (2 ≤ j ≤ m−1)
                   (rows[m - 1], p_idx[-1], 1.0),         # P_{m−1} + G_m = 0
                   (rows[:m - 1], g_idx[:m - 1], -1.0),
                   (rows[m - 1], g_idx[m - 1], 1.0)])
    rows = np.arange((m - 1) * K).reshape(m - 1, K)       # row j−1 ties l_{j+1}, j = 1..m−1
    eq.add((m - 1) * K, [(rows, l_idx, 1.0),
                         (rows[1:], l_idx[:-1], -1.0),
                         (rows, p_idx, -gaps[:, None] * np.ones((1, K)))])


def _two_layer_rows(ineq: _Rows, l_idx: np.ndarray, m: int, K: int) -> None:
    """|l_j| ≤ β (j = 2..m) and |l_m − l_j| ≤ β (j = 1..m−1; r_1 = l_m), as s = b − Ax."""
    last = l_idx[-1]
    if K == 1:
        k = m - 1
        ineq.add(2 * k, [(np.arange(k), l_idx[:, 0], 1.0), (k + np.arange(k), l_idx[:, 0], -1.0)], b_beta=1.0)
        r_rows = np.arange(k)
        entries = [(r_rows, np.full(k, last[0]), 1.0), (k + r_rows, np.full(k, last[0]), -1.0),
                   (r_rows[1:], l_idx[:-1, 0], -1.0), (k + r_rows[1:], l_idx[:-1, 0], 1.0)]
        ineq.add(2 * k, entries, b_beta=1.0)
        return
    # second-order cones (β, v) with s = (β, v): the first row has b = β, the next K rows −A = v
    block = K + 1
    k = m - 1
    base = block * np.arange(k)[:, None] + 1 + np.arange(K)[None, :]            # rows of v in each cone
    b_beta = np.zeros(block * k)
    b_beta[::block] = 1.0
    ineq.add(block * k, [(base, l_idx, -1.0)], b_beta=b_beta)                    # v = l_j
    entries = [(base, np.broadcast_to(last, (k, K)), -1.0), (base[1:], l_idx[:-1], 1.0)]   # v = l_m − l_j
    ineq.add(block * k, entries, b_beta=b_beta)


def _deep_rows(ineq: _Rows, l_idx: np.ndarray, lo: int, hi: int, m: int) -> None:
    """Rows of lo ≤ l_j ≤ hi (j = 2..m), lo ≤ 0 ≤ hi and hi − lo ≤ threshold."""
    k = m - 1
    r = np.arange(k)
    ineq.add(2 * k, [(r, l_idx[:, 0], 1.0), (r, np.full(k, hi), -1.0),             # l_j − hi ≤ 0
                     (k + r, np.full(k, lo), 1.0), (k + r, l_idx[:, 0], -1.0)])     # lo − l_j ≤ 0
    ineq.add(3, [(np.array([0]), np.array([lo]), 1.0), (np.array([1]), np.array([hi]), -1.0),
                 (np.array([2, 2]), np.array([hi, lo]), np.array([1.0, -1.0]))], b_beta=np.array([0.0, 0.0, 1.0]))


def _stack(eq: _Rows, ineq: _Rows, n_var: int) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
    """The zero-cone rows, then the inequality rows, as one CSC matrix and its b split."""
    rows, cols, vals = [], [], []
    for block, offset in ((eq, 0), (ineq, eq.count)):
        rows += [r.ravel() + offset for r in block.rows]
        cols += [c.ravel() for c in block.cols]
        vals += [v.ravel() for v in block.vals]
    total = eq.count + ineq.count
    if not rows:
        return sp.csc_matrix((0, n_var)), np.zeros(0), np.zeros(0)
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(total, n_var))
    b_fixed = np.concatenate(eq.b_fixed + ineq.b_fixed) if total else np.zeros(0)
    b_beta = np.concatenate(eq.b_beta + ineq.b_beta) if total else np.zeros(0)
    return A, b_fixed, b_beta
