"""Deep ReLU networks of any depth on whitened data X Xᵀ = I (docs/settings/whitened.md).

Reference: Ergen & Pilanci, "Revealing the Structure of Deep Neural Networks via Convex
Duality", ICML 2021 (arXiv 2002.09773v4), deep ReLU networks with whitened data.

With orthonormal rows, {Xv : ‖v‖ ≤ r} is the whole ball of radius r in R^n, and ReLU
chains map it onto its nonnegative part: the branch set is
G_t = {g ≥ 0 : ‖g‖ ≤ t^{L−2}} (docs/settings/whitened.md#branch-set), so ρ(U) = t^{L−2} max_{v≥0,‖v‖≤1} ‖Uᵀv‖.

Labels come in *groups*: a nonnegative unit vector h_j ∈ R^n, a size a_j and an output
direction q_j with Y = Σ_j a_j h_j q_jᵀ. Scalar labels give two groups, y₊ (q = +1) and
y₋ (q = −1); one-hot labels give one group per class, h_k = y_k/√n_k, a_k = √n_k,
q_k = e_k. The groups have disjoint supports, and the optimum thresholds each one
(docs/settings/whitened.md#closed-forms): F* = Σ_j (a_j − β_t)₊ h_j q_jᵀ, P_t = Σ_j H_{β_t}(a_j). One branch per
active group, with first layer Xᵀh_j (so X Xᵀh_j = h_j ≥ 0 and every ReLU on the chain
is the identity) realizes it at any depth (§5.5).

Other vector labels are not covered: their dual constraint is copositive and NP-hard
(§5.3). Certificates use :func:`rho`, which is exact for one output and for dual
points whose rows have at most one nonzero (the shape of every squared-loss one-hot
optimum), exact by enumeration when the rows take at most ``_ENUM_MAX`` distinct
values, and otherwise a rigorous upper bound; all are multiplied by an upper bound on
‖X‖₂, so data that are whitened only up to round-off still get proofs.
"""

from __future__ import annotations

import itertools

import cvxpy as cp
import numpy as np
from scipy.optimize import brentq

from ..chains import network_from_atoms
from ..errors import InputError
from ..linalg import cached
from ..losses import Loss, get_loss
from ..network import Network
from ..problem import DualProgram, Fit, Problem
from ..weight_decay import fit_weight_decay, search_t
from ._reduced import solve_reduced
from ._solve import solve_cvxpy

NAME = "relu-whitened"
REFERENCE = "Ergen & Pilanci (ICML 2021), deep ReLU networks with whitened data (docs/settings/whitened.md)"
ACTIVATIONS = ("relu",)
#: keyword options of dn.solve this setting reads (others are refused)
OPTIONS: tuple[str, ...] = ("whiten_tol",)
HOMOGENEOUS = True
#: Largest accepted ‖X Xᵀ − I‖_max.
WHITEN_TOL = 1e-8
#: Dual points whose rows take at most this many distinct values get ρ exactly (2^J eigenproblems).
_ENUM_MAX = 10
#: Up to this many distinct rows, ρ is bounded by λ_max of an J×J matrix (else by ‖U‖₂).
_DENSE_MAX = 3000

__all__ = ["balanced_amplitude", "check", "closed_form", "dual_program", "fit", "groups", "label_kind",
           "nonneg_support", "optimal_value", "recover", "rho"]


# --------------------------------------------------------------------------- labels
def label_kind(Y: np.ndarray) -> str | None:
    """"scalar" (one output), "one-hot" (0/1 rows with a single 1), or None (not covered)."""
    if Y.shape[1] == 1:
        return "scalar"
    if np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1):
        return "one-hot"
    return None


def groups(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y = Σ_j a_j h_j q_jᵀ with disjoint nonnegative unit h_j: returns H (n×J), a (J,), Qo (J×K).

    Scalar labels: h = y₊/‖y₊‖ with q = +1 and h = y₋/‖y₋‖ with q = −1. One-hot labels:
    h_k = y_k/√n_k, a_k = √n_k, q_k = e_k. Empty groups are left out.

    Examples
    --------
    >>> H, a, Qo = groups(np.array([[3.0], [-4.0]]))
    >>> a.tolist(), Qo.ravel().tolist()
    ([3.0, 4.0], [1.0, -1.0])
    """
    K = Y.shape[1]
    if K == 1:
        parts = [(np.maximum(Y[:, 0], 0.0), np.ones(1)), (np.maximum(-Y[:, 0], 0.0), -np.ones(1))]
    else:
        parts = [(Y[:, k], np.eye(K)[k]) for k in range(K)]
    cols, sizes, outs = [], [], []
    for h, q in parts:
        a = float(np.linalg.norm(h))
        if a > 0:
            cols.append(h / a)
            sizes.append(a)
            outs.append(q)
    if not cols:
        return np.zeros((Y.shape[0], 0)), np.zeros(0), np.zeros((0, K))
    return np.column_stack(cols), np.array(sizes), np.array(outs)


# --------------------------------------------------------------------------- data
def _gram_deviation(X: np.ndarray) -> tuple[float, float]:
    """(‖G − I‖_max, ‖G − I‖_F) for the smaller Gram matrix G of X (cached per array)."""
    def compute(X: np.ndarray) -> tuple[float, float]:
        n, d = X.shape
        G = X @ X.T if n <= d else X.T @ X
        G[np.diag_indices_from(G)] -= 1.0
        return float(np.max(np.abs(G))), float(np.linalg.norm(G))
    return cached(X, "gram deviation", compute)


def _norm_bound(X: np.ndarray) -> float:
    """Upper bound on ‖X‖₂: ‖X‖₂² = λ_max(G) ≤ 1 + ‖G − I‖_F (1 up to round-off for whitened X)."""
    return float(np.sqrt(1.0 + _gram_deviation(X)[1]))


# --------------------------------------------------------------------------- contract
def check(X: np.ndarray, Y: np.ndarray, depth: int, activation: str = "relu", bias: bool = False,
          batchnorm: bool = False, loss: Loss | None = None, **opts: object) -> list[str]:
    """Assumptions of this setting that the problem breaks ([] when it applies).

    X Xᵀ = I up to ``whiten_tol`` (default 1e-8, an option of :func:`dualnet.solve`) in
    the max norm, and scalar or one-hot labels (docs/settings/whitened.md#setting).
    """
    problems = []
    if activation != "relu":
        problems.append(f"activation={activation!r}: this setting is for ReLU networks")
    if bias:
        problems.append("bias=True: whitened networks here have no biases")
    if batchnorm:
        problems.append("batchnorm=True: use the 'batchnorm' setting")
    tol = float(opts.get("whiten_tol", WHITEN_TOL))      # type: ignore[arg-type]
    n, d = X.shape
    fix = "dn.whiten(X) whitens on the sample axis; this changes the problem"
    if n > d:
        problems.append(f"X X^T = I needs n_samples <= n_features; got X of shape {X.shape}")
    else:
        # The diagonal alone rejects most data in O(nd), before the O(n²d) Gram matrix.
        diagonal = float(np.max(np.abs(np.einsum("ij,ij->i", X, X) - 1.0)))
        if diagonal > tol:
            problems.append(f"X is not whitened: ||X X^T - I||_max >= {diagonal:.3g} > tolerance {tol:g} "
                            f"(rows are not unit vectors). {fix}")
        else:
            deviation = _gram_deviation(X)[0]
            if deviation > tol:
                problems.append(f"X is not whitened: ||X X^T - I||_max = {deviation:.3g} > tolerance {tol:g}. {fix}")
    if label_kind(Y) is None:
        problems.append(f"labels of shape {Y.shape} are neither scalar nor one-hot; other vector labels are not "
                        "covered (their dual constraint is copositive, docs/settings/whitened.md#dual)")
    return problems


def nonneg_support(U: np.ndarray) -> tuple[float, bool]:
    """The maximum of ‖Uᵀv‖ over v ≥ 0, ‖v‖ ≤ 1, and whether the value is exact (else a rigorous upper bound).

    * one column: max(‖u₊‖, ‖u₋‖) (docs/settings/whitened.md#branch-set);
    * rows with at most one nonzero (columns with disjoint supports, as every one-hot
      squared-loss optimum): max over columns of max(‖u_k₊‖, ‖u_k₋‖), by the feasibility
      proof of docs/settings/whitened.md#closed-forms applied column by column;
    * otherwise rows are grouped into J distinct values R_j with multiplicities m_j, and
      with B = diag(√m) R Rᵀ diag(√m), the value for the grouped matrix is
      max_{w≥0,‖w‖=1} wᵀBw: exact by enumerating supports when J ≤ ``_ENUM_MAX`` (the
      maximizer is a positive top eigenvector of some principal submatrix), else
      bounded by λ_max(B₊) (for v ≥ 0, vᵀBv ≤ vᵀB₊v). The grouping error is added, and
      ‖U‖₂ caps the result.
    """
    K = U.shape[1]
    if K == 1 or np.all(np.count_nonzero(U, axis=1) <= 1):
        value = max(max(np.linalg.norm(np.maximum(col, 0.0)), np.linalg.norm(np.maximum(-col, 0.0)))
                    for col in U.T)
        return float(value), True
    upper = float(np.linalg.norm(U, 2))
    R, m, deviation = _group_rows(U)
    if R.shape[0] > _DENSE_MAX:
        return upper, False
    S = np.sqrt(m)[:, None] * R
    B = S @ S.T
    if R.shape[0] <= _ENUM_MAX:
        value, exact = float(np.sqrt(max(_copositive_max(B), 0.0))), deviation == 0.0
    else:
        value, exact = float(np.sqrt(max(np.linalg.eigvalsh(np.maximum(B, 0.0))[-1], 0.0))), False
    value += deviation
    return (value, exact) if value < upper else (upper, False)


def _group_rows(U: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Distinct rows (to 1e-10 relative) as their means R, their counts m, and ‖U − R[group]‖_F."""
    scale = float(np.max(np.abs(U))) or 1.0
    _, inverse, counts = np.unique(np.round(U / scale, 10), axis=0, return_inverse=True, return_counts=True)
    inverse = np.asarray(inverse).reshape(-1)
    R = np.zeros((counts.size, U.shape[1]))
    np.add.at(R, inverse, U)
    R /= counts[:, None]
    return R, counts.astype(float), float(np.linalg.norm(U - R[inverse]))


def _copositive_max(B: np.ndarray) -> float:
    """The maximum of wᵀBw over w ≥ 0, ‖w‖ = 1, by enumerating supports (exact; small B only)."""
    J = B.shape[0]
    best = float(np.max(np.diag(B)))
    for size in range(2, J + 1):
        for S in itertools.combinations(range(J), size):
            idx = np.array(S)
            lam, V = np.linalg.eigh(B[np.ix_(idx, idx)])
            v = V[:, -1]
            if np.all(v >= -1e-12) or np.all(v <= 1e-12):
                best = max(best, float(lam[-1]))
    return best


def rho(U: np.ndarray, X: np.ndarray, depth: int, t: float = 1.0) -> tuple[float, bool]:
    """ρ(U) ≤ t^{L−2}·‖X‖₂·max_{v≥0,‖v‖≤1}‖Uᵀv‖ (docs/settings/whitened.md#branch-set), always a rigorous upper bound.

    The branch set of any X lies in {g ≥ 0 : ‖g‖ ≤ ‖X‖₂ t^{L−2}} (equality for whitened X),
    so the bound holds for every X and is exact for whitened X and the dual points
    :func:`nonneg_support` evaluates exactly. ``exact`` is True: the value is a proof.
    """
    value, _ = nonneg_support(U)
    return value * _norm_bound(X) * t ** (depth - 2), True


def closed_form(X: np.ndarray, Y: np.ndarray, beta_t: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal dual point U* and predictions F* at threshold β_t = β t^{2−L} (docs/settings/whitened.md#closed-forms).

    F* = Σ_j (a_j − β_t)₊ h_j q_jᵀ over the label groups (:func:`groups`) and U* = Y − F*.

    Examples
    --------
    >>> import numpy as np
    >>> U, F = closed_form(np.eye(2), np.array([[3.0], [-4.0]]), beta_t=1.0)   # docs/theory/known-answers.md#t6
    >>> F.ravel().tolist(), U.ravel().tolist()
    ([2.0, -3.0], [1.0, -1.0])
    """
    H, a, Qo = groups(Y)
    F = (H * np.maximum(a - beta_t, 0.0)) @ Qo
    return Y - F, F


def optimal_value(Y: np.ndarray, beta_t: float) -> float:
    """P_t = D_t = Σ_j H_{β_t}(a_j), Huber functions of the group sizes (docs/settings/whitened.md#closed-forms, squared loss)."""
    _, a, _ = groups(Y)
    return float(sum(0.5 * aj * aj if aj <= beta_t else beta_t * aj - 0.5 * beta_t ** 2 for aj in a))


def balanced_amplitude(a: float, beta: float, depth: int) -> float:
    """The minimizer over s ≥ 0 of ½(a − s)² + (βL/2) s^{2/L}: one branch under weight decay on all L layers.

    A branch of amplitude s with balanced layers pays (βL/2)s^{2/L} (docs/theory/framework.md#training-problems, docs/settings/whitened.md#recovery). For
    L = 2 this is the soft threshold (a − β)₊; for L ≥ 3 the derivative s − a + βs^{2/L−1}
    is convex in s, so the nonzero candidate is its larger root, compared with s = 0.

    Examples
    --------
    >>> round(balanced_amplitude(5.0, 1.0, 3), 6)     # docs/theory/known-answers.md#t4 (r = 5 - r^{-1/3})
    4.389241
    """
    L = depth
    if a <= 0:
        return 0.0
    if L == 2:
        return max(a - beta, 0.0)
    slope = lambda s: s - a + beta * s ** (2.0 / L - 1.0)  # noqa: E731
    s_min = (beta * (1.0 - 2.0 / L)) ** (L / (2.0 * L - 2.0))      # where the slope is smallest
    if s_min >= a or slope(s_min) >= 0:
        return 0.0
    s = brentq(slope, s_min, a, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    value = 0.5 * (a - s) ** 2 + 0.5 * beta * L * s ** (2.0 / L)
    return float(s) if value < 0.5 * a * a else 0.0


def dual_program(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None, loss: Loss
                 ) -> DualProgram:
    """The dual in CVXPY, threshold β t^{2−L} a DPP parameter (docs/settings/whitened.md#dual, docs/theory/losses.md).

    Scalar labels: the exact dual, ‖u₊‖ ≤ β_t and ‖u₋‖ ≤ β_t (``cp.pos``/``cp.neg``),
    for any loss. One-hot labels: the dual of the problem restricted to the class atoms
    h_k, ‖Uᵀh_k‖ ≤ β_t for every class; for squared loss its optimum is feasible for
    the full dual (docs/settings/whitened.md#closed-forms), so it solves it. Squared loss then works in the class
    coordinates, U = (I − HHᵀ)Y + HR with R ∈ R^{K×K}.

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.losses import get_loss
    >>> prog = dual_program(np.eye(2), np.array([[3.0], [-4.0]]), 2, 1.0, None, get_loss("squared"))
    >>> round(prog.solve(solver="CLARABEL"), 6)
    6.0
    """
    threshold = cp.Parameter(nonneg=True, name="beta_t")
    if Y.shape[1] == 1:
        u = cp.Variable(Y.shape, name="U")
        objective, constraints = loss.dual(u, Y)
        constraints = [*constraints, cp.norm(cp.pos(u[:, 0]), 2) <= threshold,
                       cp.norm(cp.neg(u[:, 0]), 2) <= threshold]
        lift = lambda: u.value  # noqa: E731
    else:
        H, _, _ = groups(Y)
        if loss.name == "squared":
            Q = H.T @ Y
            rest = Y - H @ Q
            R = cp.Variable(Q.shape, name="R")
            const = 0.5 * (float(np.sum(Y * Y)) - float(np.sum(Q * Q)))
            objective = cp.sum(cp.multiply(R, Q)) - 0.5 * cp.sum_squares(R) + const
            constraints = [cp.norm(R, 2, axis=1) <= threshold]
            lift = lambda: rest + H @ R.value  # noqa: E731
        else:
            U = cp.Variable(Y.shape, name="U")
            objective, constraints = loss.dual(U, Y)
            constraints = [*constraints, cp.norm(H.T @ U, 2, axis=1) <= threshold]
            lift = lambda: U.value  # noqa: E731
    program = DualProgram(cp.Problem(cp.Maximize(objective), constraints), threshold, lift, depth, t)
    program.set_beta(beta, t)
    return program


def recover(U: np.ndarray, X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None,
            loss: Loss | None = None, solver: str | None = None) -> Network:
    """Network of depth L from a dual point U: one branch per active group (docs/settings/whitened.md#recovery, docs/theory/losses.md#general-dual).

    Squared loss: the active atoms are those with ‖Uᵀh‖ = β_t (u₊/‖u₊‖ and u₋/‖u₋‖ for one
    output, the classes h_k for one-hot labels), and F = Y − U gives their output weights.
    Other losses: one output solves the primal min_F ℓ(F) + β_t(‖F₊‖ + ‖F₋‖) (the gauge of
    the branch set, exact), whose F₊ and F₋ are the atoms; one-hot labels solve the
    primal restricted to the active classes (docs/theory/losses.md#general-dual). With ``t=None`` and depth ≥ 3
    each branch is balanced for weight decay.
    """
    beta_t = beta if (t is None or depth == 2) else beta * t ** (2 - depth)
    H, W = _Programs(Y, loss, solver).atoms(U, beta_t)
    return network_from_atoms(*_atoms(X, H, W), depth, t, "relu")


def fit(pb: Problem) -> Fit:
    """Globally optimal network for ``pb`` (the pipeline ``api.solve`` calls)."""
    if pb.depth >= 3 and pb.t is None:
        if pb.n_outputs == 1:
            return _fit_weight_decay_scalar(pb)
        if _use_closed_form(pb) and pb.loss.name == "squared":
            return _fit_weight_decay_construction(pb)
        programs = _Programs(pb.Y, pb.loss, pb.solver, pb.X)
        return fit_weight_decay(pb, lambda beta_t: _solve(pb, beta_t, programs)[:5],
                                lambda U: rho(U, pb.X, pb.depth)[0], "relu")
    P, s, Qo, U, method, program = _solve(pb, pb.beta_t, _Programs(pb.Y, pb.loss, pb.solver, pb.X))
    t = pb.t if pb.depth >= 3 else None
    return Fit(network_from_atoms(P, s, Qo, pb.depth, t, "relu"), [U], method, program)


# --------------------------------------------------------------------------- internals
def _use_closed_form(pb: Problem) -> bool:
    """Closed form (squared loss) or Newton per label group (the others, where the groups are exact)."""
    available = _groups_are_exact(pb.loss, pb.Y)
    if pb.method in ("fast", "closed-form") and not available:
        raise InputError(f"The 'method' parameter of solve is {pb.method!r}, but the whitened setting has a closed "
                         f"form for loss='squared', a Newton method for 'logistic' and 'cross-entropy', and one for "
                         f"'hinge' and 'absolute' only with one-hot labels or one output whose labels have one "
                         f"magnitude per sign. Got "
                         f"loss={pb.loss.name!r} and labels of shape {pb.Y.shape}. Use method='auto' or "
                         "method='cvxpy'.")
    return pb.method != "cvxpy" and available


def _groups_are_exact(loss: Loss, Y: np.ndarray) -> bool:
    """Whether an optimum is constant on each label group (:func:`_fast_groups`).

    Smooth losses as argued there. Hinge and absolute: within each group a single label
    value (the symmetry argument needs equal labels): one-hot labels (absolute; hinge labels
    are ±1), or one output with one label value per sign.
    """
    if loss.smooth or (loss.kinked and Y.shape[1] > 1):
        return True
    if not loss.kinked:
        return False
    y = Y[:, 0]
    return all(np.ptp(y[part]) == 0 for part in (y > 0, y < 0) if np.any(part))


class _Programs:
    """The CVXPY problems of one fit, compiled once and re-solved along β_t (DPP)."""

    def __init__(self, Y: np.ndarray, loss: Loss | None, solver: str | None, X: np.ndarray | None = None):
        self.X, self.Y, self.solver = X, Y, solver
        self.loss = loss if loss is not None else get_loss("squared")
        self.dual: DualProgram | None = None
        self.primal: tuple[cp.Problem, cp.Variable, cp.Parameter, cp.Parameter | None] | None = None
        #: fast-path output weights by threshold, the warm starts of the search over t
        self.solved: dict[float, np.ndarray] = {}

    def warm(self, beta_t: float) -> np.ndarray | None:
        """The weights at the nearest threshold solved so far (they move continuously with β_t)."""
        near = min(self.solved, key=lambda b: abs(np.log(b / beta_t)), default=None)
        return None if near is None else self.solved[near]

    def solve_dual(self, beta_t: float) -> tuple[np.ndarray, str, cp.Problem]:
        if self.dual is None:
            self.dual = dual_program(self.X, self.Y, 2, beta_t, None, self.loss)
        self.dual.set_beta(beta_t)
        U, method = solve_cvxpy(self.dual, self.solver)
        return U, method, self.dual.problem

    def atoms(self, U: np.ndarray, beta_t: float) -> tuple[np.ndarray, np.ndarray]:
        """Active atoms H (n×J, nonnegative unit columns) and output weights W (J×K): F = H W."""
        Y = self.Y
        if self.loss.name == "squared":
            H = _active_atoms(U, Y, beta_t)
            return H, H.T @ (Y - U)                        # the atoms are orthonormal
        if Y.shape[1] == 1:
            return _split_signs(self._solve_primal(None, beta_t))
        H = _active_atoms(U, Y, beta_t)
        if H.shape[1] == 0:
            return H, np.zeros((0, Y.shape[1]))
        H_all = groups(Y)[0]
        active = np.isin(np.arange(H_all.shape[1]), _active_classes(U, Y, beta_t))
        W = self._solve_primal(H_all * active, beta_t)
        return H, W[active]

    def _solve_primal(self, H: np.ndarray | None, beta_t: float) -> np.ndarray:
        """One output: F of the exact primal. Several: W of the primal restricted to H (a parameter)."""
        if self.primal is None:
            self.primal = _primal_program(self.Y, self.loss)
        problem, variable, threshold, H_param = self.primal
        if H_param is not None:
            H_param.value = H
        threshold.value = beta_t
        solve_cvxpy(problem, self.solver)
        return np.asarray(variable.value, dtype=float)


def _solve(pb: Problem, beta_t: float, programs: _Programs
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, cp.Problem | None]:
    """Atoms (P, s, Qo) at threshold β_t, the dual point, the method and the CVXPY problem."""
    if _use_closed_form(pb) and pb.loss.name == "squared":
        H, a, Qo = groups(pb.Y)
        s = np.maximum(a - beta_t, 0.0)
        U = pb.Y - (H * s) @ Qo
        return (*_atoms(pb.X, H, s[:, None] * Qo), U, "closed-form (docs/settings/whitened.md#closed-forms)", None)
    if _use_closed_form(pb):
        # A group's own duality gap does not bound the certificate's: it scales the groups' dual
        # points by one factor (ρ is a maximum over atoms), so an excess of ρ in one group costs
        # a share of every group's dual value (measured: group gaps of 1e-11 left a relative
        # gap of 1e-6). Smooth losses run Newton to convergence (tol 0: no gap-based stop);
        # the kinked ones end on their exact kink, ρ at the threshold to rounding.
        H, W, U, method = _fast_groups(pb.Y, pb.loss, beta_t, programs, pb.tol * 1e-5 * (not pb.loss.smooth))
        return (*_atoms(pb.X, H, W), U, method, None)
    U, method, problem = programs.solve_dual(beta_t)
    H, W = programs.atoms(U, beta_t)
    return (*_atoms(pb.X, H, W), U, method, problem)


def _fast_groups(Y: np.ndarray, loss: Loss, beta_t: float, programs: _Programs, tol: float = 1e-9
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Every loss but squared: the optimum F = Σ_j h_j w_jᵀ, group by group (:func:`_groups_are_exact`).

    The loss of a sample depends only on its label, and the groups h_j (scalar labels: the
    two signs; one-hot: the classes) have disjoint supports, so the primal of docs/theory/losses.md#general-dual
    over the group atoms separates: w_j = argmin ℓ(h_j wᵀ on group j) + β_t‖w‖, a problem
    in K variables (one for one output, K − 1 for cross-entropy) solved by Newton (smoothed
    Newton for hinge and absolute). For one output, predictions of the label's sign are
    never worse (the loss does not grow and ‖F∓‖ does not either), and within a group of
    equal labels the optimum is constant by symmetry, so nothing is lost.
    The certificate checks the result with the exact ρ.

    Returns H, W, the dual point (each group's own; samples in no group keep −∂ℓ at F) and
    the method. At a kink of hinge or absolute the network's subgradient is not the dual
    point that proves optimality, so the groups' duals are passed on.
    """
    H, _, _ = groups(Y)
    warm = programs.warm(beta_t)
    W, iterations = np.zeros((H.shape[1], Y.shape[1])), []
    U = loss.dual_point(np.zeros_like(Y), Y)
    for j in range(H.shape[1]):
        rows = H[:, j] > 0
        Z, U[rows], method = solve_reduced(H[rows, j][:, None], Y[rows], loss, beta_t,
                                           None if warm is None else warm[j:j + 1], tol)
        W[j] = Z[0]
        iterations.append(method)
    programs.solved[beta_t] = W
    return H, W, U, f"Newton per label group ({', '.join(iterations)})"


def _primal_program(Y: np.ndarray, loss: Loss) -> tuple[cp.Problem, cp.Variable, cp.Parameter, cp.Parameter | None]:
    """The primal for CVXPY with β_t a parameter (docs/theory/losses.md#general-dual).

    One output: min_F ℓ(F) + β_t(‖F₊‖ + ‖F₋‖), exact because ‖F₊‖ + ‖F₋‖ is the gauge of
    ±G for whitened data (attained by the two atoms F±/‖F±‖). Several outputs:
    min_W ℓ(HW) + β_t Σ_j ‖W_j‖ over the class atoms H (a parameter).
    """
    threshold = cp.Parameter(nonneg=True)
    if Y.shape[1] == 1:
        F = cp.Variable(Y.shape)
        penalty = cp.norm(cp.pos(F[:, 0]), 2) + cp.norm(cp.neg(F[:, 0]), 2)
        return cp.Problem(cp.Minimize(loss.primal(F, Y) + threshold * penalty)), F, threshold, None
    K = Y.shape[1]
    W = cp.Variable((K, K))
    H = cp.Parameter((Y.shape[0], K))
    problem = cp.Problem(cp.Minimize(loss.primal(H @ W, Y) + threshold * cp.sum(cp.norm(W, 2, axis=1))))
    return problem, W, threshold, H


def _split_signs(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F = ‖F₊‖ h₊ − ‖F₋‖ h₋ as atoms H = [h₊, h₋] and weights W = [‖F₊‖, −‖F₋‖]ᵀ (one output)."""
    cols, weights = [], []
    for part, sign in ((np.maximum(F[:, 0], 0.0), 1.0), (np.maximum(-F[:, 0], 0.0), -1.0)):
        norm = float(np.linalg.norm(part))
        if norm > 0:
            cols.append(part / norm)
            weights.append([sign * norm])
    if not cols:
        return np.zeros((F.shape[0], 0)), np.zeros((0, 1))
    return np.column_stack(cols), np.array(weights)


def _active_classes(U: np.ndarray, Y: np.ndarray, beta_t: float) -> np.ndarray:
    """Indices of the label groups with ‖Uᵀh_j‖ = β_t (solver duals are accurate to ~1e-8: be generous)."""
    H, _, _ = groups(Y)
    return np.flatnonzero(np.linalg.norm(H.T @ U, axis=1) >= beta_t * (1 - 1e-3))


def _active_atoms(U: np.ndarray, Y: np.ndarray, beta_t: float) -> np.ndarray:
    """Active nonnegative unit atoms (columns): u₊/‖u₊‖ and u₋/‖u₋‖ for one output, else classes."""
    if Y.shape[1] > 1:
        return groups(Y)[0][:, _active_classes(U, Y, beta_t)]
    cols = []
    for part in (np.maximum(U[:, 0], 0.0), np.maximum(-U[:, 0], 0.0)):
        norm = np.linalg.norm(part)
        if norm > 0 and norm >= beta_t * (1 - 1e-3):
            cols.append(part / norm)
    return np.column_stack(cols) if cols else np.zeros((Y.shape[0], 0))


def _atoms(X: np.ndarray, H: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P, s, Qo) for network_from_atoms: first layers Xᵀh_j (X Xᵀh_j = h_j ≥ 0), amplitudes ‖W_j‖."""
    s = np.linalg.norm(W, axis=1)
    keep = s > 1e-14 * max(1.0, float(s.max(initial=0.0)))
    P = X.T @ H[:, keep]
    P /= np.maximum(np.linalg.norm(P, axis=0), 1e-300)     # unit up to round-off already
    return P, s[keep], W[keep] / s[keep, None]


def _construction(pb: Problem) -> Network:
    """docs/settings/whitened.md#recovery: one balanced branch per group, amplitude argmin ½(a−s)² + (βL/2)s^{2/L}, merged."""
    H, a, Qo = groups(pb.Y)
    s = np.array([balanced_amplitude(aj, pb.beta, pb.depth) for aj in a])
    return network_from_atoms(*_atoms(pb.X, H, s[:, None] * Qo), pb.depth, None, "relu").to_mlp()


def _fit_weight_decay_scalar(pb: Problem) -> Fit:
    """One output: the search over t (docs/theory/framework.md#weight-decay-and-t); squared loss also tries the §5.5 construction.

    With both y₊ and y₋ active the shared-t network pays the trunk twice at one radius;
    the construction balances each branch on its own and is never worse.
    """
    programs = _Programs(pb.Y, pb.loss, pb.solver, pb.X)
    fitted = fit_weight_decay(pb, lambda beta_t: _solve(pb, beta_t, programs)[:5],
                              lambda U: rho(U, pb.X, pb.depth)[0], "relu")
    if pb.loss.name != "squared":
        return fitted
    built = _construction(pb)
    if built.objective(pb.X, pb.Y, pb.beta, pb.loss) < fitted.network.objective(pb.X, pb.Y, pb.beta, pb.loss):
        fitted.network = built
        fitted.method += " + per-branch balanced construction (docs/settings/whitened.md#recovery)"
    _note_shared_trunk(fitted, fitted.network)
    return fitted


def _note_shared_trunk(fitted: Fit, net: Network) -> None:
    """Say why weight decay with several active branches is reported, not certified (docs/settings/whitened.md#recovery)."""
    active = int(np.sum(net.layer_norms()[:, -1] > 0)) if net.n_branches > 1 else \
        int(np.count_nonzero(np.linalg.norm(net.branches[0][-1][0], axis=1)))
    if active >= 2:
        fitted.info["note"] = (f"{active} active branches under weight decay on all layers: the lower bound "
                               "min_t D_t + beta(L-2)t^2/2 pays the hidden layers once, the network once per "
                               "branch, so the gap need not close (docs/settings/whitened.md#recovery)")


def _fit_weight_decay_construction(pb: Problem) -> Fit:
    """One-hot labels, weight decay on all L ≥ 3 layers: the construction of docs/settings/whitened.md#recovery.

    Upper bound: the constructed network, Σ_k min_s ½(√n_k − s)² + (βL/2)s^{2/L}.
    Lower bound: min_t Σ_k H_{βt^{2−L}}(√n_k) + β(L−2)t²/2 from closed-form dual points
    along t (certificate.wd_path_lower_bound). They meet when at most one class is
    active; otherwise the trunk is paid once in the bound and once per class in the
    network, and the result is reported, not certified.
    """
    L, beta = pb.depth, pb.beta
    H, a, Qo = groups(pb.Y)
    dual_path: list[tuple[float, np.ndarray]] = []

    def bound(t: float) -> tuple[float, np.ndarray]:
        U, _ = closed_form(pb.X, pb.Y, beta * t ** (2 - L))
        dual_path.append((t, U))
        return optimal_value(pb.Y, beta * t ** (2 - L)) + 0.5 * beta * (L - 2) * t * t, U

    p0 = pb.loss.zero_value(pb.Y)
    t_lo = (beta / float(a.max(initial=0.0))) ** (1.0 / (L - 2)) if a.size else 1.0
    t_hi = float(np.sqrt(2.0 * p0 / (beta * (L - 2)))) if p0 > 0 else t_lo
    t_star, _, U = search_t(bound, t_lo, max(t_hi, t_lo))
    fitted = Fit(_construction(pb), [U], "closed-form construction (docs/settings/whitened.md#recovery) + dual bound along t",
                 info={"t": t_star}, dual_path=dual_path)
    _note_shared_trunk(fitted, fitted.network)
    return fitted
