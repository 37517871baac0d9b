"""The finite dual in O(n) form: double cumulative sums of U instead of an n×n atom matrix."""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ...errors import SolverError
from ...losses import Loss
from ...problem import DualProgram, Problem
from .._solve import solve_cvxpy
from .conic import ConicDual, conic_dual
from .grid import make_grid, project_dual

__all__ = ["CONIC_MIN_SAMPLES", "dual_candidates", "dual_for", "dual_program", "solve_dual"]

#: samples from which the squared-loss dual goes to CLARABEL directly (``conic``), without
#: CVXPY: its canonicalization holds several copies of the O(n) program (7.8 GB at n = 10⁶);
#: below it CVXPY's program is kept (``Solution.program``) at no real cost
CONIC_MIN_SAMPLES = 10_000


def dual_program(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None, loss: Loss,
                 **opts: Any) -> DualProgram:
    """The finite dual in O(n) form, its threshold β t^{2−L} a DPP parameter.

    max −ℓ*(−U) s.t. 1ᵀU = 0 and, with l_k the double cumulative sums of U
    (``left_values``) and r_k = l_m − l_k: |l_k|, |r_k| ≤ β (depth 2), or
    max l − min l ≤ β t^{2−L} (depth ≥ 3; pairwise norms for several outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.losses import get_loss
    >>> from dualnet.settings import spline
    >>> X, Y = np.array([[-1.0], [0.0], [1.0]]), np.array([[0.0], [1.0], [0.0]])
    >>> prog = spline.dual_program(X, Y, 2, 0.1, None, get_loss("squared"))
    >>> round(prog.solve(solver="CLARABEL"), 6)                             # docs/theory/known-answers.md#t9
    0.17
    >>> prog.set_beta(0.5); round(prog.solve(solver="CLARABEL"), 6)
    0.333333
    """
    grid = make_grid(X)
    n, K = Y.shape
    threshold = cp.Parameter(nonneg=True, name="beta_t")
    U = cp.Variable((n, K), name="U")
    objective, constraints = loss.dual(U, Y)
    constraints = [*constraints, cp.sum(U, axis=0) == 0]
    if grid.m >= 2:
        G = grid.aggregation() @ U                                            # (m, K)
        P = cp.cumsum(G, axis=0)
        ell = cp.cumsum(cp.multiply(grid.gaps[:, None], P[:-1]), axis=0)       # l_2..l_m, (m−1, K)
        if depth == 2:
            right = np.ones((grid.m - 1, 1)) @ ell[-1:] - cp.vstack([np.zeros((1, K)), ell[:-1]])   # r_1..r_{m−1}
            constraints += _bounded(ell, threshold, K) + _bounded(right, threshold, K)
        elif K == 1:
            lo, hi = cp.Variable(name="lo"), cp.Variable(name="hi")            # l_1 = 0 lies in [lo, hi]
            constraints += [ell >= lo, ell <= hi, lo <= 0, hi >= 0, hi - lo <= threshold]
        else:
            full = cp.vstack([np.zeros((1, K)), ell])
            constraints.append(cp.norm(_pair_differences(grid.m) @ full, 2, axis=1) <= threshold)
    program = DualProgram(cp.Problem(cp.Maximize(objective), constraints), threshold, lambda: U.value, depth, t)
    program.set_beta(beta, t)
    return program


def _bounded(E: cp.Expression, threshold: cp.Parameter, K: int) -> list[cp.Constraint]:
    if K == 1:
        return [cp.abs(E) <= threshold]
    return [cp.norm(E, 2, axis=1) <= threshold]


def _pair_differences(m: int) -> sp.csr_matrix:
    """Rows e_i − e_j for all i < j (2 nonzeros each)."""
    i, j = np.triu_indices(m, 1)
    rows = np.arange(i.size)
    return sp.csr_matrix((np.r_[np.ones(i.size), -np.ones(i.size)], (np.r_[rows, rows], np.r_[i, j])),
                         shape=(i.size, m))


def dual_candidates(candidates: list[np.ndarray], pb: Problem) -> list[np.ndarray]:
    """Center every candidate so that 1ᵀU = 0 (the free output bias demands it; api hook)."""
    return [project_dual(np.asarray(U, dtype=float), pb.Y, pb.loss) for U in candidates]


def dual_for(pb: Problem, depth: int, t: float | None, many: bool = False) -> DualProgram | ConicDual:
    """The dual to solve for ``pb`` at ``depth``: the direct conic program or CVXPY's (docs/settings/spline.md#conic).

    The direct program covers squared loss, depth 2 or one output, when no solver other
    than CLARABEL is named and ``method`` is not "cvxpy", from :data:`CONIC_MIN_SAMPLES` on,
    or at any size for ``many`` re-solves (the search over t: CVXPY's re-solve of a compiled
    program still costs more than building and solving the direct one); for ``many`` the
    direct program keeps its CLARABEL solvers and updates their b at each threshold.
    """
    if (pb.method != "cvxpy" and pb.loss.name == "squared" and pb.solver in (None, "CLARABEL")
            and (many or pb.n_samples >= CONIC_MIN_SAMPLES) and (depth == 2 or pb.n_outputs == 1)):
        program = conic_dual(pb.X, pb.Y, depth, pb.beta, t)
        program.keep_solvers = many
        return program
    return dual_program(pb.X, pb.Y, depth, pb.beta, t, pb.loss)


def solve_dual(dual: DualProgram | ConicDual, pb: Problem) -> tuple[np.ndarray, float, str]:
    """Solve either dual: (U, dual value, method). A failed direct solve is retried through CVXPY."""
    if isinstance(dual, ConicDual):
        try:
            value = dual.solve()
            almost = " (almost solved)" if dual.status == "AlmostSolved" else ""
            return dual.U, value, f"CLARABEL direct conic{almost}"
        except SolverError as err:
            program = dual_program(pb.X, pb.Y, dual.depth, pb.beta, dual.t, pb.loss)
            program.threshold.value = dual.threshold
            U, method = solve_cvxpy(program, pb.solver)
            return U, float(program.problem.value), f"{method} (after CLARABEL direct conic: {err})"
    U, method = solve_cvxpy(dual, pb.solver)
    return U, float(dual.problem.value), method
