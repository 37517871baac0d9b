"""Linear networks of any depth, scalar and vector outputs (docs/settings/linear.md).

Reference: Ergen & Pilanci, "Revealing the Structure of Deep Neural Networks via Convex
Duality", ICML 2021 (arXiv 2002.09773v4), two-layer and deep linear networks.

The end-to-end matrix W = W_1⋯W_L of an optimal network solves

    min_W ½‖XW − Y‖²_F + β_t ‖W‖,     β_t = β t^{2−L},

with ‖·‖ the Euclidean norm (K = 1) or the nuclear norm (K > 1), and its dual is the
projection of Y onto {U : ‖XᵀU‖ ≤ β_t} (spectral norm for K > 1).

Everything here works in the coordinates of one decomposition of X: the eigendecomposition
of the smaller Gram matrix gives X = U_x diag(s) Vᵀ with rank r, after which the problem
lives in R^{r×K}, independent of n. The fast path solves the reduced problem by the
secular equation (K = 1) or an accelerated proximal method (K > 1) for the squared loss,
and by Newton or L-BFGS for logistic and cross-entropy; the CVXPY path builds the reduced
dual program. Both answers are accepted only through the certificate.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, partial

import cvxpy as cp
import numpy as np

from ..certificate import ImplicitDual
from ..chains import atoms_from_matrix, network_from_atoms
from ..errors import InputError, PerformanceWarning, SolverError, warn
from ..losses import Loss
from ..network import Network
from ..problem import DualProgram, Fit, Precomputed, Problem
from ..weight_decay import fit_weight_decay
from ._nuclear import _eigh_small, _solve_reduced
from ._reduced import has_fast_path, smooth_intercept_base, solve_reduced
from ._solve import solve_cvxpy

NAME = "linear"
REFERENCE = "Ergen & Pilanci (ICML 2021), two-layer and deep linear networks (docs/settings/linear.md)"
ACTIVATIONS = ("linear",)
#: keyword options of dn.solve this setting reads (others are refused)
OPTIONS: tuple[str, ...] = ()
HOMOGENEOUS = True

__all__ = ["Reduction", "check", "closed_form", "dual_program", "fit", "recover", "reduce", "rho"]


# --------------------------------------------------------------------------- reduction
@dataclass
class Reduction:
    """X = U_x diag(s) Vᵀ (rank r) from one eigendecomposition of the smaller Gram matrix.

    Only one of ``V`` (when n ≥ d) or ``Ux`` (when n < d) is stored; products with the
    other go through X, so nothing of size n×d beyond X itself is formed.
    """

    X: np.ndarray
    s: np.ndarray
    V: np.ndarray | None = None
    Ux: np.ndarray | None = None
    #: XᵀX as computed (kept when n ≥ d): certificates of many networks through it (``dn.path``)
    gram: np.ndarray | None = field(default=None, repr=False)
    #: compiled CVXPY programs, re-solved for every threshold (β path, search over t)
    programs: dict = field(default_factory=dict, repr=False)
    #: per label set: (the labels, a product computed from them), see :meth:`_cached`
    _label_cache: dict = field(default_factory=dict, init=False, repr=False)
    #: ‖(I − P)Y‖² of the original labels when this is the reduction of a reduced problem
    #: (:func:`_fit_weight_decay_reduced`): the fast path's gaps then count that part too
    outside: float = 0.0

    @property
    def rank(self) -> int:
        return self.s.size

    def coords(self, Y: np.ndarray) -> np.ndarray:
        """Q = U_xᵀ Y (r×K), the labels in the reduced coordinates."""
        if self.Ux is not None:
            return self.Ux.T @ Y
        return (self.V.T @ (self.X.T @ Y)) / self.s[:, None]

    def coords_cached(self, Y: np.ndarray) -> np.ndarray:
        """:meth:`coords` of the labels this reduction last saw (one pass over X per label set)."""
        if self.Ux is not None:
            return self._cached("q", Y, lambda: self.Ux.T @ Y)
        return self._cached("q", Y, lambda: (self.V.T @ self.xty_cached(Y)) / self.s[:, None])

    def xty_cached(self, Y: np.ndarray) -> np.ndarray:
        """XᵀY (d×K) of the labels this reduction last saw."""
        return self._cached("xty", Y, lambda: self.X.T @ Y)

    def _cached(self, name: str, Y: np.ndarray, compute: Callable[[], np.ndarray]) -> np.ndarray:
        # Keyed by identity, holding Y itself so that its id cannot be reused by another array.
        if name not in self._label_cache or self._label_cache[name][0] is not Y:
            self._label_cache[name] = (Y, compute())
        return self._label_cache[name][1]

    def lift(self, M: np.ndarray) -> np.ndarray:
        """U_x M (n×K)."""
        if self.Ux is not None:
            return self.Ux @ M
        return self.X @ (self.V @ (M / self.s[:, None]))

    def weights(self, Z: np.ndarray) -> np.ndarray:
        """W = V Z (d×K): end-to-end weights from reduced coordinates."""
        if self.V is not None:
            return self.V @ Z
        return self.X.T @ (self.Ux @ (Z / self.s[:, None]))

    def design_t(self, U: np.ndarray) -> np.ndarray:
        """diag(s) U_xᵀ U = Vᵀ XᵀU (r×K): the design's transpose applied, without forming it."""
        return self.s[:, None] * self.coords(U)

    @cached_property
    def design(self) -> np.ndarray:
        """U_x diag(s) (n×r): X in reduced coordinates, for losses that do not reduce further."""
        if self.Ux is not None:
            return self.Ux * self.s
        return self.X @ self.V


def reduce(X: np.ndarray) -> Reduction:
    """One eigendecomposition of XᵀX or XXᵀ, whichever is smaller."""
    n, d = X.shape
    G = X.T @ X if n >= d else X @ X.T
    lam, vecs = np.linalg.eigh(G)
    # Eigenvalues of a Gram matrix carry absolute error ~ eps·λ_max: drop what is below it.
    keep = lam > lam[-1] * max(n, d) * np.finfo(float).eps * 10
    if lam[-1] <= 0 or not np.any(keep):
        s, vecs = np.zeros(0), vecs[:, :0]
    else:
        s, vecs = np.sqrt(lam[keep])[::-1], vecs[:, keep][:, ::-1]
    return Reduction(X, s, V=vecs, gram=G) if n >= d else Reduction(X, s, Ux=vecs)


# --------------------------------------------------------------------------- contract
def check(X: np.ndarray, Y: np.ndarray, depth: int, activation: str = "linear", bias: bool = False,
          batchnorm: bool = False, **opts: object) -> list[str]:
    """Assumptions of this setting that the problem breaks ([] when it applies)."""
    problems = []
    if activation != "linear":
        problems.append(f"activation={activation!r}: this setting is for linear networks")
    if bias:
        problems.append("bias=True: linear networks here have no biases (center X and y instead)")
    if batchnorm:
        problems.append("batchnorm=True: use the 'batchnorm' setting")
    return problems


def rho(U: np.ndarray, X: np.ndarray, depth: int, t: float = 1.0) -> tuple[float, bool]:
    """ρ(U) = t^{L−2}‖XᵀU‖ (spectral norm for K > 1), exact (docs/settings/linear.md#branch-set)."""
    return _norm(X.T @ U) * t ** (depth - 2), True


def _norm(M: np.ndarray) -> float:
    """‖M‖: Euclidean for one column, spectral otherwise (the dual norm of the penalty).

    Tall M: the top eigenvalue of MᵀM (error ~K·eps as the SVD's, a fifth of its cost at 30×2).
    """
    if M.shape[1] == 1:
        return float(np.linalg.norm(M))
    if M.shape[0] >= 4 * M.shape[1]:
        return float(np.sqrt(max(float(_eigh_small(M.T @ M, vectors=False)[0][-1]), 0.0)))
    return float(np.linalg.norm(M, 2))


def closed_form(X: np.ndarray, Y: np.ndarray, beta_t: float, reduction: Reduction | None = None,
                tol: float = 1e-10, warm: np.ndarray | None = None, max_iter: int = 20000,
                loss: Loss | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Solve min_W ½‖XW − Y‖² + β_t‖W‖ without a generic solver (or ℓ(XW) + β_t‖W‖ for ``loss``).

    Returns the end-to-end weights W (d×K), the dual point U = Y − XW, and a short
    description of the method. K = 1: the secular equation (exact up to a scalar root).
    Equal singular values (whitened or orthonormal X, docs/settings/linear.md#closed-forms): singular-value
    thresholding in closed form. Otherwise: accelerated proximal gradient on the reduced
    problem, stopped by its duality gap. Other losses: Newton (one output, or two classes
    under cross-entropy) or L-BFGS on the factors of the nuclear norm; hinge and absolute
    by Newton on a smoothed loss, then their kinks solved exactly (dualnet.settings._kinked).
    U is then −∇ℓ(XW) (for hinge and absolute: a subgradient's negative, the dual point found).
    """
    red = reduction if reduction is not None else reduce(X)
    Z, U, method = _fast(red, Y, beta_t, tol, warm, max_iter, loss=loss)
    return red.weights(Z), U, method


def _fast(red: Reduction, Y: np.ndarray, beta_t: float, tol: float, warm: np.ndarray | None = None,
          max_iter: int = 20000, want_dual: bool = True, loss: Loss | None = None
          ) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Reduced solution Z, a dual point (None unless ``want_dual`` or needed), and the method used.

    Squared loss: U = Y − XW. Other losses: the reduced problem min_Z ℓ(U_x diag(s) Z) +
    β_t‖Z‖ by Newton or L-BFGS (:mod:`dualnet.settings._reduced`); its dual
    point −∇ℓ(XW) is always returned (it is computed anyway).
    """
    if loss is not None and loss.name != "squared":
        Z, U, method = solve_reduced(red.design, Y, loss, beta_t, warm, tol)
        return Z, U, "eig + " + method
    Q = red.coords_cached(Y)
    yy = float(np.sum(Y * Y)) + red.outside
    perp = max(yy - float(np.sum(Q * Q)), 0.0)           # ‖(I − P)Y‖²: the labels outside range(X)
    Z, method = _solve_reduced(red.s, Q, beta_t, tol * 0.5 * yy, warm, max_iter, perp)
    return Z, (Y - red.lift(red.s[:, None] * Z)) if want_dual else None, method


def dual_program(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None, loss: Loss,
                 reduction: Reduction | None = None) -> DualProgram:
    """The dual as a CVXPY program in reduced coordinates (size set by rank X, not n).

    Squared loss: U = (I − U_xU_xᵀ)Y + U_x R with R ∈ R^{r×K}, and
    max ⟨R, Q⟩ − ½‖R‖² + ½‖(I − P)Y‖² s.t. ‖diag(s) R‖ ≤ β_t. Other losses keep U ∈ R^{n×K}
    but use the n×r matrix U_x diag(s) in place of X.
    """
    red = reduction if reduction is not None else reduce(X)
    K = Y.shape[1]
    threshold = cp.Parameter(nonneg=True, name="beta_t")
    if loss.name == "squared":
        Q = red.coords(Y)
        R = cp.Variable((red.rank, K), name="R")
        const = 0.5 * (float(np.sum(Y * Y)) - float(np.sum(Q * Q)))
        objective = cp.sum(cp.multiply(R, Q)) - 0.5 * cp.sum_squares(R) + const
        SR = cp.multiply(red.s[:, None], R)
        constraints = []
        lift = lambda: Y - red.lift(Q - R.value)  # noqa: E731
    else:
        _check_memory(red.design.size, "the dual program")
        U = cp.Variable(Y.shape, name="U")
        objective, constraints = loss.dual(U, Y)
        SR = red.design.T @ U
        lift = lambda: U.value  # noqa: E731
    norm = cp.norm(SR[:, 0], 2) if K == 1 else cp.sigma_max(SR)
    constraints = [*constraints, norm <= threshold]
    program = DualProgram(cp.Problem(cp.Maximize(objective), constraints), threshold, lift, depth, t)
    program.set_beta(beta, t)
    return program


def recover(U: np.ndarray, X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None,
            loss: Loss | None = None, reduction: Reduction | None = None, solver: str | None = None) -> Network:
    """Network of depth L from a dual point U (docs/settings/linear.md#secular-equation, docs/settings/linear.md#vector-outputs, docs/settings/linear.md#recovery).

    Squared loss: XW = Y − U. Other losses: W lies in the span of the top singular vectors
    of XᵀU (singular value β_t), and the amplitudes solve the restricted primal (docs/theory/losses.md#general-dual).
    With ``t=None`` and depth ≥ 3 the layers are balanced for weight decay at the t this U
    corresponds to.
    """
    red = reduction if reduction is not None else reduce(X)
    beta_t = beta if (t is None or depth == 2) else beta * t ** (2 - depth)
    W = _end_to_end_from_dual(U, Y, beta_t, red, loss, solver)
    return network_from_atoms(*atoms_from_matrix(W), depth, t, "linear")


def fit(pb: Problem) -> Fit:
    """Globally optimal linear network for ``pb`` (the pipeline ``api.solve`` calls)."""
    red = reduce(pb.X)
    if pb.depth >= 3 and pb.t is None:
        return _fit_weight_decay(pb, red)
    return _fit_at(pb, red)


def fit_path(pb: Problem, betas: np.ndarray) -> list[Fit]:
    """Fits for several β sharing one decomposition, warm starts and compiled programs (``dn.path``).

    The certificate ingredients of all the networks are computed together
    (:func:`_precompute`), so each β costs O(d²K) beyond its own solve when n ≥ d.
    """
    red = reduce(pb.X)
    problems = [replace(pb, beta=float(beta)) for beta in betas]
    if pb.depth >= 3 and pb.t is None:
        fits = [_fit_weight_decay(sub, red) for sub in problems]
    elif _use_fast(pb):
        fits = _fast_path(problems, red)
    else:
        fits = [_fit_at(sub, red) for sub in problems]
    return _precompute(fits, pb, red)


# --------------------------------------------------------------------------- internals
def _network(W: np.ndarray, pb: Problem) -> Network:
    """Aligned rank-one layers of depth L whose product is W (docs/settings/linear.md#recovery)."""
    return network_from_atoms(*atoms_from_matrix(W), pb.depth, pb.t if pb.depth >= 3 else None, "linear")


def _fit_at(pb: Problem, red: Reduction) -> Fit:
    """Fit at the problem's own threshold (depth 2, or the t-form)."""
    W, duals, method, program = _end_to_end(pb, red, pb.beta_t, want_dual=False)
    return Fit(_network(W, pb), duals, method, program)


def _fast_path(problems: list[Problem], red: Reduction) -> list[Fit]:
    """The fast path along β, warm-started where the last two solutions point; weights in one product."""
    Zs: list[np.ndarray] = []
    methods = []
    for i, pb in enumerate(problems):
        warm = Zs[-1] if Zs else None
        if i >= 2 and problems[i - 1].beta_t != problems[i - 2].beta_t:
            # The solution moves smoothly with β between rank changes: extrapolating the last
            # step (clipped, as β may come in any order) cuts the proximal iterations ~3x.
            step = (pb.beta_t - problems[i - 1].beta_t) / (problems[i - 1].beta_t - problems[i - 2].beta_t)
            warm = Zs[-1] + float(np.clip(step, 0.0, 2.0)) * (Zs[-1] - Zs[-2])
        Z, _, method = _fast(red, pb.Y, pb.beta_t, pb.tol * 1e-2, warm, want_dual=False, loss=pb.loss)
        Zs.append(Z)
        methods.append(method)
    K = problems[0].n_outputs
    W = red.weights(np.hstack(Zs))
    return [Fit(_network(W[:, i * K:(i + 1) * K], pb), [], method)
            for i, (pb, method) in enumerate(zip(problems, methods))]


def _precompute(fits: list[Fit], pb: Problem, red: Reduction) -> list[Fit]:
    """Attach each network's loss, dual point U = −∇ℓ(XE) and ρ = ‖XᵀU‖, for all networks at once.

    Squared loss with n ≥ d goes through the d×d matrices of the reduction only:
    ½‖XE − Y‖² = ½(‖Y‖² − 2⟨E, XᵀY⟩ + ⟨E, XᵀX E⟩) and XᵀU = XᵀY − XᵀX E. This is the
    forward pass's arithmetic regrouped (O(d²K) per network instead of O(ndK)); its rounding
    is of order n·eps·P(0), far below any tolerance, and tests compare it with the forward
    pass of ``dn.certify``. U itself is formed only if a user asks for ``Solution.dual``.
    Otherwise one product X[E_1 … E_m] gives the predictions and one Xᵀ[U_1 … U_m] the ρ.
    """
    K = pb.n_outputs
    E = np.hstack([_end_to_end_of(f.network) for f in fits])
    blocks = [slice(i * K, (i + 1) * K) for i in range(len(fits))]
    if pb.loss.name == "squared" and red.gram is not None:
        XtY, yy = red.xty_cached(pb.Y), float(np.sum(pb.Y * pb.Y))
        GE = red.gram @ E
        out = []
        for f, cols in zip(fits, blocks):
            ey, ege = float(np.sum(E[:, cols] * XtY)), float(np.sum(E[:, cols] * GE[:, cols]))
            uu = max(yy - 2 * ey + ege, 0.0)                      # ‖U‖² = ‖Y − XE‖²
            dual = ImplicitDual(uy=yy - ey, uu=uu, form=partial(_residual, pb.X, pb.Y, E[:, cols]))
            rho1 = _norm(XtY - GE[:, cols])
            out.append(replace(f, precomputed=Precomputed(0.5 * uu, dual, (rho1, True))))
        return out
    F = pb.X @ E
    Us = [pb.loss.dual_point(F[:, cols], pb.Y) for cols in blocks]
    XtU = pb.X.T @ np.hstack(Us)
    return [replace(f, precomputed=Precomputed(pb.loss.value(F[:, cols], pb.Y), U, (_norm(XtU[:, cols]), True)))
            for f, U, cols in zip(fits, Us, blocks)]


def _end_to_end_of(net: Network) -> np.ndarray:
    """E = Σ_branches W_1⋯W_L: the linear map a linear network without biases computes."""
    return sum(np.linalg.multi_dot([W for W, _ in br]) if len(br) > 1 else br[0][0] for br in net.branches)


def _residual(X: np.ndarray, Y: np.ndarray, E: np.ndarray) -> np.ndarray:
    return Y - X @ E


def _use_fast(pb: Problem) -> bool:
    available = (has_fast_path(pb.loss, min(pb.X.shape), pb.n_outputs)
                 or smooth_intercept_base(pb.loss) is not None)
    if pb.method in ("fast", "closed-form"):
        if not available:
            which = "only for loss='squared', 'logistic', 'cross-entropy', 'hinge' or 'absolute'"
            raise InputError(f"The 'method' parameter of solve is {pb.method!r}, but the linear setting has a "
                             f"fast path for loss={pb.loss.name!r} {which}. Use method='auto' or method='cvxpy'.")
        return True
    return pb.method == "auto" and available


def _end_to_end(pb: Problem, red: Reduction, beta_t: float, want_dual: bool = True, warm: np.ndarray | None = None,
                out: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[np.ndarray], str, object]:
    """End-to-end W at threshold β_t, the dual candidates, the method, and the CVXPY problem.

    ``warm`` starts the fast path from reduced coordinates Z; the Z it finds is appended to
    ``out`` (the search over t warm-starts each threshold from the nearest one solved).

    The fast path's dual point U = −∇ℓ(XW) of a smooth loss is what the certificate
    recomputes from the network, so it is only passed on when ``want_dual`` (the weight-decay
    search needs it); a kinked loss's U (the envelope's gradient, not the network's own
    subgradient at its kinks) always is.
    """
    if _use_fast(pb):
        Z, U, method = _fast(red, pb.Y, beta_t, pb.tol * 1e-2, warm, want_dual=want_dual, loss=pb.loss)
        if out is not None:
            out.append(Z)
        keep = U is not None and (want_dual or not pb.loss.smooth)
        return red.weights(Z), [U] if keep else [], method, None
    # One compiled program per reduction: the weight-decay search re-solves it along t (DPP).
    key = ("dual", pb.loss.name)
    if key not in red.programs:
        _warn_if_slow_semidefinite(pb, red)
        red.programs[key] = dual_program(pb.X, pb.Y, 2, beta_t, None, pb.loss, red)
    program = red.programs[key]
    program.set_beta(beta_t)
    U, method = solve_cvxpy(program, pb.solver)
    W = _end_to_end_from_dual(U, pb.Y, beta_t, red, pb.loss, pb.solver)
    return W, [U], method, program.problem


def _end_to_end_from_dual(U: np.ndarray, Y: np.ndarray, beta_t: float, red: Reduction, loss: Loss | None,
                          solver: str | None) -> np.ndarray:
    # XᵀU = V diag(s) U_xᵀU: its top singular directions with value β_t carry W (docs/settings/linear.md#vector-outputs, docs/theory/losses.md#general-dual).
    SR = red.design_t(U)
    A, sig, _ = np.linalg.svd(SR, full_matrices=False)
    active = A[:, sig >= beta_t * (1 - 1e-3)]   # solver duals are accurate to ~1e-8; be generous
    if loss is None or loss.name == "squared":
        # X W = Y − U, so W = V diag(1/s) U_xᵀ (Y − U), kept on the active directions: a solver's
        # U is accurate to ~sqrt(its tolerance), and what leaks into the inactive directions
        # (all of them when W* = 0) costs β_t‖W‖ at first order (ECOS: relative gaps ~1e-4).
        Z = red.coords(Y - U) / red.s[:, None]
        return red.weights(active @ (active.T @ Z))
    if active.shape[1] == 0:
        return np.zeros((red.X.shape[1], Y.shape[1]))
    # The directions of an interior-point dual are only accurate to ~sqrt(its tolerance), and
    # for kinked losses (hinge, absolute) that error reaches the value at first order (relative
    # gaps ~1e-5). So the weights solve the primal over all r reduced directions (a program the
    # size of the dual), which is accurate to the solver's own tolerance.
    program = red.programs.get(("primal", loss.name))
    if program is None:
        program = red.programs[("primal", loss.name)] = _reduced_primal(red, Y, loss)
    program.set_beta(beta_t)
    solve_cvxpy(program, solver)
    return red.weights(program.lift())


def _reduced_primal(red: Reduction, Y: np.ndarray, loss: Loss) -> DualProgram:
    """min_Z ℓ(U_x diag(s) Z) + β_t‖Z‖ in CVXPY, β_t a parameter; ``lift`` returns Z."""
    K = Y.shape[1]
    if K > 1:
        # CVXPY writes the nuclear norm of an r×K matrix with an r×r matrix variable, which
        # interior-point solvers factor densely: refuse before the machine runs out of memory.
        _check_memory((red.rank + K) ** 4 // 4, "the nuclear-norm program of a non-squared loss")
    Z = cp.Variable((red.rank, K))
    threshold = cp.Parameter(nonneg=True, name="beta_t")
    penalty = cp.norm(Z[:, 0], 2) if K == 1 else cp.normNuc(Z)
    problem = cp.Problem(cp.Minimize(loss.primal(red.design @ Z, Y) + threshold * penalty))
    return DualProgram(problem, threshold, lambda: Z.value, 2)


def _fit_weight_decay(pb: Problem, red: Reduction) -> Fit:
    """Weight decay on all L ≥ 3 layers: search over t (docs/settings/linear.md#weight-decay-on-all-layers); the certificate decides."""
    if pb.loss.name == "squared" and pb.n_outputs > 1 and _use_fast(pb) and red.rank < pb.n_samples:
        return _fit_weight_decay_reduced(pb, red)
    solved: dict[float, np.ndarray] = {}

    def solve_at(beta_t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
        out: list[np.ndarray] = []
        W, duals, method, _ = _end_to_end(pb, red, beta_t, warm=_warm_start(solved, beta_t), out=out)
        if out:
            solved[beta_t] = out[0]
        return (*atoms_from_matrix(W), duals[0], method)

    return fit_weight_decay(pb, solve_at, lambda U: rho(U, pb.X, pb.depth, 1.0)[0], "linear")


def _fit_weight_decay_reduced(pb: Problem, red: Reduction) -> Fit:
    """The search over t on the r reduced rows (squared loss, several outputs), lifted back to X.

    With X = U_x diag(s) Vᵀ, a linear network with first layer V W₁ has outputs U_x F on X,
    where F is its output with first layer W₁ on the r×r data diag(s); its loss is
    ½‖F − Q‖² + ½‖(I − P)Y‖² (Q = U_xᵀY) and its penalty that of W₁ (V has orthonormal
    columns). So the search, its forward passes and the L-BFGS polish of several outputs run
    on r rows instead of n (digits: 61 instead of 1797), with values shifted by a constant.
    Dual points R of the reduced problem lift to U = Y − U_x(Q − R); the certificate checks
    the lifted network against the full problem.

    Each proximal solve stops at a gap of tol/10 of P(0) rather than tol/100: the interval
    bound over the dual points met loses at most that gap, still a tenth of ``tol``, and the
    search's solves take about a fifth fewer iterations (digits, depth 3: 2700 instead of 3250).
    """
    S, Q = np.diag(red.s), red.coords_cached(pb.Y)
    outside = max(float(np.sum(pb.Y * pb.Y)) - float(np.sum(Q * Q)), 0.0)
    small = Reduction(S, red.s, V=np.eye(red.rank), gram=S * S, outside=outside)
    fit = _fit_weight_decay(replace(pb, X=S, Y=Q, tol=10.0 * pb.tol), small)
    net = fit.network
    branches = [[(red.weights(br[0][0]), br[0][1]), *br[1:]] for br in net.branches]
    lift = lambda R: pb.Y - red.lift(Q - R)  # noqa: E731
    return replace(fit, network=Network(branches, net.activation), duals=[lift(U) for U in fit.duals],
                   method=fit.method + f" (on the {red.rank} reduced rows)",
                   dual_path=[(t, lift(U)) for t, U in fit.dual_path])


def _warm_start(solved: dict[float, np.ndarray], beta_t: float) -> np.ndarray | None:
    """Reduced solution at β_t predicted from the two nearest thresholds solved (linear in log β_t).

    Solutions move smoothly with the threshold between rank changes; the step beyond the
    nearer point is clipped to twice the distance between the two, as a grid step would be.
    """
    if not solved:
        return None
    near = sorted(solved, key=lambda b: abs(math.log(b / beta_t)))[:2]
    if len(near) < 2 or abs(math.log(beta_t / near[0])) < 1e-3:
        # Close to a solved threshold (Brent's last steps, the nodes around t*) the nearest
        # solution is already within the solver's tolerance; a difference of two such
        # solutions is mostly their rounding, and extrapolating it would amplify that.
        return solved[near[0]]
    step = math.log(beta_t / near[0]) / math.log(near[0] / near[1])
    return solved[near[0]] + float(np.clip(step, -1.0, 2.0)) * (solved[near[0]] - solved[near[1]])


#: cone size (rank + K) from which the vector-output program takes interior-point solvers many
#: seconds (measured: 0.6 s at 110, 85 s at 510 with CLARABEL)
SLOW_CONE = 200


def _warn_if_slow_semidefinite(pb: Problem, red: Reduction) -> None:
    """Say so before a vector-output CVXPY program whose semidefinite cone makes it very slow."""
    K, size = pb.n_outputs, red.rank + pb.n_outputs
    if K == 1 or size < SLOW_CONE:
        return
    faster = ("method='fast' solves the same problem, certified, without a generic solver (0.1 s at rank 500)"
              if pb.loss.name == "squared" else "loss='squared' has a fast path that needs no generic solver")
    warn(f"method='cvxpy' with {K} outputs builds a semidefinite program with a {size}x{size} cone (rank of X "
         "plus outputs). Interior-point solvers take tens of seconds to many minutes at this size (measured at "
         "K = 10: 85 s with CLARABEL and 29 s with SCS at rank 500; CLARABEL unfinished after 10 minutes at "
         f"rank 1000). {faster}.", PerformanceWarning)


def _check_memory(n_coefficients: int, what: str) -> None:
    """Refuse to build a dense program whose solver would exhaust memory."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    # Interior-point solvers copy the data into their own formats and factor a KKT system
    # with dense blocks; 40x the dense size is a conservative envelope, not a measurement.
    needed = 40 * 8 * n_coefficients
    if needed > available:
        raise SolverError(f"Building {what} with {n_coefficients:,} dense coefficients would need about "
                          f"{needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB available. "
                          "Use loss='squared' (which reduces to rank(X) variables) or fewer samples.")
