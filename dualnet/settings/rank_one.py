"""Deep ReLU networks of any depth on rank-one data X = c a0ᵀ with c ≥ 0 (docs/settings/rank_one.md).

Reference: Ergen & Pilanci, "Revealing the Structure of Deep Neural Networks via Convex
Duality", ICML 2021 (arXiv 2002.09773v4), deep ReLU networks with rank-one data.

Positive homogeneity and c ≥ 0 give f(x_i) = c_i f(a0) for every branch, so every
branch output is a multiple of c (docs/settings/rank_one.md#key-fact). The dual constraint is then
‖a0‖·‖Uᵀc‖ ≤ β t^{2−L} (a slab for one output, a norm ball for several, §3.3), the
optimum is a soft threshold of Yᵀc (§3.4), and one branch of width one with
nonnegative unit vectors between the layers realizes it at any depth (§3.5).

All computations use the unit vector ĉ = c/‖c‖ and a0 = Xᵀĉ, so X ≈ ĉ a0ᵀ and
β_c = β t^{2−L}/‖a0‖. Data that are rank one only up to round-off are handled
rigorously: :func:`rho` adds the residual ‖X − ĉ a0ᵀ‖_F times ‖U‖₂ (the branch map is
t^{L−2}-Lipschitz in X), so certificates stay proofs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from ..chains import network_from_atoms
from ..errors import InputError
from ..linalg import cached
from ..losses import Loss
from ..network import Network
from ..problem import DualProgram, Fit, Problem
from ..weight_decay import fit_weight_decay
from ._reduced import has_fast_path, solve_reduced
from ._solve import solve_cvxpy

NAME = "relu-rank-one"
REFERENCE = "Ergen & Pilanci (ICML 2021), deep ReLU networks with rank-one data (docs/settings/rank_one.md)"
ACTIVATIONS = ("relu",)
#: keyword options of dn.solve this setting reads (others are refused)
OPTIONS: tuple[str, ...] = ("rank_one_tol",)
HOMOGENEOUS = True
#: Largest accepted σ₂(X)/σ₁(X), and largest accepted ‖c₋‖/‖c‖ (relative round-off of data).
RANK_TOL = 1e-10
#: Up to this cost (min(n,d)²·max(n,d)) the check computes σ₂/σ₁ by a full SVD; above it, an estimate.
_EXACT_SVD_COST = 2e8

__all__ = ["Factors", "check", "closed_form", "dual_program", "factor", "fit", "recover", "rho"]


# --------------------------------------------------------------------------- factorization
@dataclass(frozen=True)
class Factors:
    """X ≈ ĉ a0ᵀ with ĉ ≥ 0 a unit vector.

    Attributes
    ----------
    c : ndarray of shape (n,)
        Nonnegative unit vector (the measured one, negative entries clipped).
    a0 : ndarray of shape (d,)
        Equal to Xᵀĉ, so ‖a0‖ ≤ σ₁(X).
    residual : float
        ‖X − ĉ a0ᵀ‖_F, an upper bound on ‖X − ĉ a0ᵀ‖₂ (0 up to round-off for rank-one data).
    ratio : float
        Upper bound on σ₂(X)/σ₁(X): residual/‖a0‖.
    negative : float
        ‖c₋‖/‖c‖ of the measured c before clipping (0 when c ≥ 0).
    """

    c: np.ndarray
    a0: np.ndarray
    residual: float
    ratio: float
    negative: float

    @property
    def norm_a0(self) -> float:
        return float(np.linalg.norm(self.a0))


def factor(X: np.ndarray) -> Factors:
    """Rank-one factors of X by power iteration from its longest row (exact after one step for rank one)."""
    return cached(X, "rank-one factors", _factor)


def _factor(X: np.ndarray) -> Factors:
    n, d = X.shape
    row_norms = np.linalg.norm(X, axis=1)
    i = int(np.argmax(row_norms))
    if row_norms[i] == 0:
        return Factors(np.zeros(n), np.zeros(d), 0.0, np.inf, 0.0)
    a = X[i] / row_norms[i]
    for _ in range(3):                      # error shrinks like (σ₂/σ₁)² per step
        c = X @ a
        c /= np.linalg.norm(c)
        a = X.T @ c
        a /= np.linalg.norm(a)
    c = X @ a
    if c[np.argmax(np.abs(c))] < 0:         # the SVD sign is arbitrary: take the mostly positive one
        c = -c
    norm_c = np.linalg.norm(c)
    negative = float(np.linalg.norm(np.minimum(c, 0.0)) / norm_c)
    c = np.maximum(c, 0.0)
    c /= np.linalg.norm(c)
    a0 = X.T @ c                            # least squares a0 for this ĉ
    residual = float(np.linalg.norm(X - np.outer(c, a0)))
    norm_a0 = np.linalg.norm(a0)
    return Factors(c, a0, residual, residual / norm_a0 if norm_a0 > 0 else np.inf, negative)


def _singular_ratio(X: np.ndarray, f: Factors, tol: float) -> tuple[float, str]:
    """σ₂/σ₁ for the check message: exact for small X, else an upper bound or an estimate."""
    if f.ratio <= tol:
        return f.ratio, "<="
    return cached(X, "rank-one singular ratio", lambda X: _measured_ratio(X, f))


def _measured_ratio(X: np.ndarray, f: Factors) -> tuple[float, str]:
    if min(X.shape) ** 2 * max(X.shape) <= _EXACT_SVD_COST:
        s = np.linalg.svd(X, compute_uv=False)
        return (float(s[1] / s[0]) if s.size > 1 and s[0] > 0 else 0.0), "="
    # Large X far from rank one: σ₁ of the residual (a few power steps) estimates σ₂.
    E = X - np.outer(f.c, f.a0)
    v = np.random.default_rng(0).standard_normal(X.shape[1])
    for _ in range(6):
        w = E @ v
        v = E.T @ w
        v /= max(np.linalg.norm(v), 1e-300)
    return float(np.linalg.norm(E @ v) / f.norm_a0), "~"


# --------------------------------------------------------------------------- contract
def check(X: np.ndarray, Y: np.ndarray, depth: int, activation: str = "relu", bias: bool = False,
          batchnorm: bool = False, loss: Loss | None = None, **opts: object) -> list[str]:
    """Assumptions of this setting that the problem breaks ([] when it applies).

    X must be rank one, σ₂(X)/σ₁(X) ≤ ``rank_one_tol`` (default 1e-10, option of
    :func:`dualnet.solve`), with a nonnegative left factor c (docs/settings/rank_one.md#setting). Mixed-sign c
    is not covered (§3.6): the message names the fallback.
    """
    problems = []
    if activation != "relu":
        problems.append(f"activation={activation!r}: this setting is for ReLU networks")
    if bias:
        problems.append("bias=True: rank-one networks here have no biases")
    if batchnorm:
        problems.append("batchnorm=True: use the 'batchnorm' setting")
    tol = float(opts.get("rank_one_tol", RANK_TOL))      # type: ignore[arg-type]
    f = factor(X)
    if not np.isfinite(f.ratio):
        return problems + ["X is zero (no rank-one factor X = c a0^T with c, a0 != 0)"]
    ratio, relation = _singular_ratio(X, f, tol)
    if ratio > tol:
        problems.append(f"X is not rank one: sigma_2(X)/sigma_1(X) {relation} {ratio:.3g} > tolerance {tol:g} "
                        "(docs/settings/rank_one.md#setting needs X = c a0^T)")
    elif f.negative > tol:
        problems.append(f"X = c a0^T is rank one but c has both signs: ||c_-||/||c|| = {f.negative:.3g} > "
                        f"tolerance {tol:g}. Mixed-sign c is not covered (docs/settings/rank_one.md#mixed-signs: f(a0) and f(-a0) are then "
                        "independent); fall back to depth=2, the exact two-layer ReLU program "
                        "(setting='relu-two-layer')")
    return problems


def rho(U: np.ndarray, X: np.ndarray, depth: int, t: float = 1.0) -> tuple[float, bool]:
    """ρ(U) = t^{L−2}‖a0‖‖Uᵀĉ‖ (docs/settings/rank_one.md#key-fact) plus t^{L−2}‖U‖₂‖X − ĉa0ᵀ‖_F; a rigorous upper bound.

    The second term is zero for exactly rank-one X. It makes the bound valid for any X:
    a branch output moves by at most t^{L−2}‖ΔX‖₂ when X moves by ΔX.
    """
    f = factor(X)
    main = f.norm_a0 * np.linalg.norm(U.T @ f.c)
    slack = f.residual * (np.linalg.norm(U) if U.shape[1] == 1 else np.linalg.norm(U, 2)) if f.residual else 0.0
    return float(main + slack) * t ** (depth - 2), True


def closed_form(X: np.ndarray, Y: np.ndarray, beta_t: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal dual point U* and predictions F* = Y − U* at threshold β_t = β t^{2−L} (docs/settings/rank_one.md#closed-form).

    With a = Yᵀĉ and β_c = β_t/‖a0‖: F* = ĉ (1 − β_c/‖a‖)₊ aᵀ and P_t = ½‖Y‖² − ½(‖a‖ − β_c)₊².

    Examples
    --------
    >>> import numpy as np
    >>> X = np.outer([1.0, 2.0], [3.0, 4.0])          # docs/theory/known-answers.md#t5
    >>> U, F = closed_form(X, np.array([[1.0], [1.0]]), beta_t=5.0)
    >>> F.ravel().round(6), U.ravel().round(6)
    (array([0.4, 0.8]), array([0.6, 0.2]))
    """
    f = factor(X)
    m = _coefficients(Y.T @ f.c, beta_t / f.norm_a0)
    F = np.outer(f.c, m)
    return Y - F, F


def _coefficients(a: np.ndarray, beta_c: float) -> np.ndarray:
    """Block soft threshold m = (1 − β_c/‖a‖)₊ a: F = ĉ mᵀ (docs/settings/rank_one.md#closed-form with ‖ĉ‖ = 1)."""
    na = np.linalg.norm(a)
    return a * max(0.0, 1.0 - beta_c / na) if na > 0 else np.zeros_like(a)


def optimal_value(X: np.ndarray, Y: np.ndarray, beta_t: float) -> float:
    """P_t = D_t = ½‖Y‖²_F − ½(‖Yᵀĉ‖ − β_c)₊² for squared loss (docs/settings/rank_one.md#closed-form)."""
    f = factor(X)
    gap = max(0.0, np.linalg.norm(Y.T @ f.c) - beta_t / f.norm_a0)
    return 0.5 * float(np.sum(Y * Y)) - 0.5 * gap * gap


def dual_program(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None, loss: Loss
                 ) -> DualProgram:
    """The dual of docs/settings/rank_one.md#dual in CVXPY, threshold β t^{2−L} a DPP parameter.

    Squared loss works in the one direction that matters: U = (I − ĉĉᵀ)Y + ĉ rᵀ with
    r ∈ R^K, max ⟨r, Yᵀĉ⟩ − ½‖r‖² + const s.t. ‖a0‖‖r‖ ≤ β_t (a slab |r| ≤ β_c for one
    output). Other losses keep U ∈ R^{n×K} with the constraint ‖a0‖‖Uᵀĉ‖ ≤ β_t.

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.losses import get_loss
    >>> prog = dual_program(np.outer([1.0, 2.0], [3.0, 4.0]), np.ones((2, 1)), 2, 5.0, None, get_loss("squared"))
    >>> round(prog.solve(solver="CLARABEL"), 6)
    0.6
    """
    f = factor(X)
    K = Y.shape[1]
    threshold = cp.Parameter(nonneg=True, name="beta_t")
    if loss.name == "squared":
        a = Y.T @ f.c
        r = cp.Variable(K, name="r")
        const = 0.5 * (float(np.sum(Y * Y)) - float(a @ a))
        objective = a @ r - 0.5 * cp.sum_squares(r) + const
        constraints = [f.norm_a0 * cp.norm(r, 2) <= threshold]
        lift = lambda: Y - np.outer(f.c, a - r.value)  # noqa: E731
    else:
        U = cp.Variable(Y.shape, name="U")
        objective, constraints = loss.dual(U, Y)
        constraints = [*constraints, f.norm_a0 * cp.norm(U.T @ f.c, 2) <= threshold]
        lift = lambda: U.value  # noqa: E731
    program = DualProgram(cp.Problem(cp.Maximize(objective), constraints), threshold, lift, depth, t)
    program.set_beta(beta, t)
    return program


def recover(U: np.ndarray, X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None,
            loss: Loss | None = None, solver: str | None = None) -> Network:
    """One branch of depth L from a dual point U (docs/settings/rank_one.md#recovery).

    Squared loss: F = Y − U = ĉ mᵀ with m = (Y − U)ᵀĉ. Other losses: the single atom ĉ is
    active whenever m ≠ 0, and m solves the restricted primal
    min_m ℓ(ĉ mᵀ) + β_c‖m‖ (docs/theory/losses.md#general-dual) in CVXPY. The first layer is a0/‖a0‖ (never −a0:
    X a0/‖a0‖ = ‖a0‖ĉ ≥ 0 keeps every ReLU on the chain the identity); with ``t=None``
    and depth ≥ 3 the layers are balanced for weight decay.
    """
    f = factor(X)
    beta_t = beta if (t is None or depth == 2) else beta * t ** (2 - depth)
    if loss is None or loss.name == "squared":
        m = (Y - U).T @ f.c
    else:
        m = _restricted_primal(f, Y, beta_t, loss, solver)
    return _network(f, m, depth, t)


def fit(pb: Problem) -> Fit:
    """Globally optimal network for ``pb`` (the pipeline ``api.solve`` calls)."""
    programs = _Programs(pb)
    if pb.depth >= 3 and pb.t is None:
        return fit_weight_decay(pb, lambda beta_t: _solve_at(pb, beta_t, programs),
                                lambda U: rho(U, pb.X, pb.depth, 1.0)[0], "relu")
    t = pb.t if pb.depth >= 3 else None
    m, U, method, program = _solve(pb, pb.beta_t, programs)
    return Fit(_network(factor(pb.X), m, pb.depth, t), [U], method, program)


# --------------------------------------------------------------------------- internals
def _use_closed_form(pb: Problem) -> bool:
    # The closed form (squared) or Newton on the K variables of m (every loss of dualnet.losses).
    available = has_fast_path(pb.loss, 1, pb.n_outputs)
    if pb.method in ("fast", "closed-form") and not available:
        raise InputError(f"The 'method' parameter of solve is {pb.method!r}, but the rank-one setting has no fast "
                         f"path for loss={pb.loss.name!r}. Use method='auto' or method='cvxpy'.")
    return pb.method != "cvxpy" and available


class _Programs:
    """The CVXPY problems of one fit, compiled once and re-solved along β_t (DPP)."""

    def __init__(self, pb: Problem):
        self.pb = pb
        self.dual: DualProgram | None = None
        self.primal: tuple[cp.Problem, cp.Variable, cp.Parameter] | None = None
        #: fast-path solutions by threshold, the warm starts of the search over t
        self.solved: dict[float, np.ndarray] = {}

    def warm(self, beta_t: float) -> np.ndarray | None:
        """The solution at the nearest threshold solved so far (they move continuously with β_t)."""
        near = min(self.solved, key=lambda b: abs(np.log(b / beta_t)), default=None)
        return None if near is None else self.solved[near]

    def solve_dual(self, beta_t: float) -> tuple[np.ndarray, str, cp.Problem]:
        pb = self.pb
        if self.dual is None:
            self.dual = dual_program(pb.X, pb.Y, 2, beta_t, None, pb.loss)
        self.dual.set_beta(beta_t)
        U, method = solve_cvxpy(self.dual, pb.solver)
        return U, method, self.dual.problem

    def solve_primal(self, beta_t: float) -> np.ndarray:
        if self.primal is None:
            self.primal = _restricted_primal_program(factor(self.pb.X), self.pb.Y, self.pb.loss)
        problem, m, beta_c = self.primal
        beta_c.value = beta_t / factor(self.pb.X).norm_a0
        solve_cvxpy(problem, self.pb.solver)
        return np.asarray(m.value, dtype=float).reshape(-1)


def _solve(pb: Problem, beta_t: float, programs: _Programs) -> tuple[np.ndarray, np.ndarray, str, cp.Problem | None]:
    """Output coefficients m (F = ĉ mᵀ), the dual point, the method and the CVXPY problem."""
    f = factor(pb.X)
    if _use_closed_form(pb) and pb.loss.name == "squared":
        m = _coefficients(pb.Y.T @ f.c, beta_t / f.norm_a0)
        return m, pb.Y - np.outer(f.c, m), "closed-form (docs/settings/rank_one.md#closed-form)", None
    if _use_closed_form(pb):
        # min_m ℓ(ĉ mᵀ) + β_c‖m‖: the restricted primal is the whole problem, K variables (docs/settings/rank_one.md#recovery).
        Z, U, method = solve_reduced(f.c[:, None], pb.Y, pb.loss, beta_t / f.norm_a0, programs.warm(beta_t),
                                     pb.tol * 1e-2)
        programs.solved[beta_t] = Z
        return Z[0], U, method, None
    U, method, problem = programs.solve_dual(beta_t)
    m = (pb.Y - U).T @ f.c if pb.loss.name == "squared" else programs.solve_primal(beta_t)
    return m, U, method, problem


def _solve_at(pb: Problem, beta_t: float, programs: _Programs
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    m, U, method, _ = _solve(pb, beta_t, programs)
    return (*_atoms(factor(pb.X), m), U, method)


def _atoms(f: Factors, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The single atom: s σ(X p) qᵀ = ĉ mᵀ with p = a0/‖a0‖ (X p = ‖a0‖ĉ ≥ 0)."""
    nm = float(np.linalg.norm(m))
    p = (f.a0 / f.norm_a0)[:, None]
    if nm <= 1e-14 * max(1.0, f.norm_a0):
        return p[:, :0], np.zeros(0), np.zeros((0, m.size))
    return p, np.array([nm / f.norm_a0]), (m / nm)[None, :]


def _network(f: Factors, m: np.ndarray, depth: int, t: float | None) -> Network:
    return network_from_atoms(*_atoms(f, m), depth, t, "relu")


def _restricted_primal_program(f: Factors, Y: np.ndarray, loss: Loss
                               ) -> tuple[cp.Problem, cp.Variable, cp.Parameter]:
    """min_m ℓ(ĉ mᵀ) + β_c‖m‖ with β_c a parameter: the whole problem, since every branch output is ∝ ĉ."""
    m = cp.Variable(Y.shape[1])
    beta_c = cp.Parameter(nonneg=True)
    F = f.c[:, None] @ cp.reshape(m, (1, Y.shape[1]), order="F")
    problem = cp.Problem(cp.Minimize(loss.primal(F, Y) + beta_c * cp.norm(m, 2)))
    return problem, m, beta_c


def _restricted_primal(f: Factors, Y: np.ndarray, beta_t: float, loss: Loss, solver: str | None) -> np.ndarray:
    problem, m, beta_c = _restricted_primal_program(f, Y, loss)
    beta_c.value = beta_t / f.norm_a0
    solve_cvxpy(problem, solver)
    return np.asarray(m.value, dtype=float).reshape(-1)
