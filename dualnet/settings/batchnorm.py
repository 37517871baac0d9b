"""Batch-normalized networks and Neural Collapse (docs/settings/batchnorm.md).

Reference: Ergen & Pilanci, "Revealing the Structure of Deep Neural Networks via Convex
Duality", ICML 2021 (arXiv 2002.09773v3/v4: "architectures with batch normalization, for
arbitrary data", Neural Collapse). The paper body was not readable; the formulas are the
derivation of docs/settings/batchnorm.md, checked numerically. Follow-up: Ergen et al., "Demystifying Batch
Normalization in ReLU Networks", ICLR 2022 (arXiv 2103.01499).

Batch normalization before the last activation, BN_{γ,α}(z) = γ·s_n·P_⊥z/‖P_⊥z‖ + α1,
makes the output of a last-hidden neuron independent of the scale of everything before
it. After the rescaling of Lemma A.1 (γ² + α² ≤ 1, penalty β‖w_L‖) a neuron's BN output
ranges over the set

    {γ s_n q̂ + α1 : q̂ ∈ range(P_⊥A) unit, γ² + α² ≤ 1} = {Q D z : ‖z‖ ≤ 1},

where A is the trunk's output, Q = [Q_0, 1/√n] is an orthonormal basis of
range(P_⊥A) ⊕ span(1), and D = diag(s_n, …, s_n, √n). With s_n = √n ("std", the batch
standard deviation) D = √n·I and the set is a ball of radius √n (docs/settings/batchnorm.md#branch-set); with s_n = 1
("l2") it is an ellipsoid.

* Linear BN, any data (§6.3): P = min_Z ½‖QDZ − Y‖² + β‖Z‖_*. For "std" the minimizer is
  Z = SVT_{β/√n}(QᵀY)/√n in closed form; ρ(U) = ‖DQᵀU‖₂ exactly.
* ReLU BN (§6.2, §6.4): σ(BN(·)) lies in {v ≥ 0 : ‖v‖ ≤ √n} for any data, and fills it when
  rank(P_⊥A) = n − 1 (the high-dimensional regime). Whitened-data formulas then hold with
  threshold β/√n: per-class (or ±) shrinkage for one-hot and scalar labels.

The layers before BN are not penalized (their weight decay can be driven to 0 without
changing the function, see :mod:`dualnet.network`), so the value does not depend on the
depth or on ``t``, and ``HOMOGENEOUS`` is False. Recovered networks of depth ≥ 3 use an
unpenalized trunk: the identity for linear networks, [I, −I] followed by identities for
ReLU networks (whose output [X₊, X₋] is nonnegative, so later ReLUs pass it unchanged).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import cvxpy as cp
import numpy as np

from ..errors import InputError, SettingError
from ..linalg import digest
from ..losses import Loss, get_loss
from ..network import BN_SCALES, Network
from ..problem import DualProgram, Fit, Problem
from ..validation import check_choice
from ._reduced import has_fast_path, solve_reduced
from ._solve import solve_cvxpy

NAME = "batchnorm"
REFERENCE = ("Ergen & Pilanci (ICML 2021, arXiv 2002.09773v3/v4), batch-normalized networks and "
             "Neural Collapse (docs/settings/batchnorm.md)")
ACTIVATIONS = ("linear", "relu")
#: keyword options of dn.solve this setting reads (others are refused)
OPTIONS: tuple[str, ...] = ("bn_scale",)
HOMOGENEOUS = False

__all__ = ["Basis", "ClosedForm", "check", "closed_form", "dual_program", "fit", "fit_path", "make_basis",
           "problem_options", "recover", "rho"]


# --------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Basis:
    """The trunk output A and the SVD of its centered version, P_⊥A = Q_0 diag(s) Vᵀ (rank r).

    ``trunk`` holds the (unpenalized) layers 1..L−2 that produce A from X.
    """

    A: np.ndarray
    Q0: np.ndarray
    s: np.ndarray
    V: np.ndarray
    trunk: tuple[tuple[np.ndarray, None], ...] = ()

    @property
    def n(self) -> int:
        return self.A.shape[0]

    @property
    def rank(self) -> int:
        return self.s.size

    def scales(self, bn_scale: str) -> np.ndarray:
        """Diagonal of D: s_n on range(P_⊥A), √n on the constant direction."""
        s_n = np.sqrt(self.n) if bn_scale == "std" else 1.0
        return np.append(np.full(self.rank, s_n), np.sqrt(self.n))

    def coords(self, M: np.ndarray) -> np.ndarray:
        """QᵀM, shape (r + 1, K)."""
        return np.vstack([self.Q0.T @ M, M.sum(axis=0, keepdims=True) / np.sqrt(self.n)])

    def lift(self, Z: np.ndarray) -> np.ndarray:
        """QZ, shape (n, K)."""
        return self.Q0 @ Z[:-1] + Z[-1:] / np.sqrt(self.n)

    def inner_weights(self, C: np.ndarray) -> np.ndarray:
        """Weights w with P_⊥Aw the projection of each column of C onto range(P_⊥A)."""
        return self.V @ ((self.Q0.T @ C) / self.s[:, None])


_CACHE: OrderedDict[tuple[Any, ...], Basis] = OrderedDict()


def make_basis(X: np.ndarray, depth: int = 2, activation: str = "linear") -> Basis:
    """Trunk output A (X itself, or [X₊, X₋] for ReLU depth ≥ 3) and the SVD of P_⊥A.

    The numerical rank uses NumPy's default tolerance σ_1·max(n, p)·eps: BN ignores the
    scale of a direction, so any direction the SVD resolves is usable by a network.
    Check, fit and certificate all need the same SVD; the last few are kept, keyed by a
    digest of the contents of X (so an array changed in place is never served stale).
    """
    key = (depth, activation, digest(X))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    basis = _compute_basis(X, depth, activation)
    _CACHE[key] = basis
    if len(_CACHE) > 4:
        _CACHE.popitem(last=False)
    return basis


def _compute_basis(X: np.ndarray, depth: int, activation: str) -> Basis:
    d = X.shape[1]
    if depth == 2:
        A, trunk = X, ()
    else:
        first = np.eye(d) if activation == "linear" else np.hstack([np.eye(d), -np.eye(d)])
        p = first.shape[1]
        trunk = ((first, None),) + ((np.eye(p), None),) * (depth - 3)
        A = X if activation == "linear" else np.hstack([np.maximum(X, 0.0), np.maximum(-X, 0.0)])
    Ac = A - A.mean(axis=0)
    Q0, s, Vt = np.linalg.svd(Ac, full_matrices=False)
    keep = s > (s[0] if s.size else 0.0) * max(Ac.shape) * np.finfo(float).eps
    return Basis(A, Q0[:, keep], s[keep], Vt[keep].T, trunk)


def _norm(M: Any) -> Any:
    """Euclidean norm of a single column, spectral norm otherwise (CVXPY)."""
    return cp.norm(M[:, 0], 2) if M.shape[1] == 1 else cp.sigma_max(M)


def _kappa(U: np.ndarray) -> float:
    """κ(U) = max_{v ≥ 0, ‖v‖ ≤ 1} ‖Uᵀv‖: exact for one or two columns, else a rigorous upper bound.

    One column: max(‖u₊‖, ‖u₋‖) (docs/settings/whitened.md#branch-set). Two columns: the circle sweep of
    :func:`_kappa_two`. More: for v ≥ 0, (u_kᵀv)² ≤ max(‖u_k₊‖, ‖u_k₋‖)² for each column and
    ‖Uᵀv‖ ≤ ‖U‖₂, so the smaller of the two bounds holds.
    """
    per_column = np.maximum(np.linalg.norm(np.maximum(U, 0), axis=0), np.linalg.norm(np.maximum(-U, 0), axis=0))
    if U.shape[1] == 1:
        return float(per_column[0])
    if U.shape[1] == 2:
        return _kappa_two(U)
    return float(min(np.linalg.norm(U, 2), np.linalg.norm(per_column)))


def _kappa_two(U: np.ndarray) -> float:
    """max_{‖z‖=1} ‖(Uz)₊‖ for two columns (= κ(U): maximize over v ≥ 0 first, then over z).

    Row i is positive on the half circle of directions z(θ) within π/2 of its angle φ_i,
    so the active set is constant between the 2n breakpoints φ_i ± π/2. On each arc the
    objective is the quadratic form z(θ)ᵀM z(θ), M the sum of the active rows' outer
    products (updated by a cumulative sum over the sorted breakpoints), whose maximum on the
    arc is at an end or at an eigen-direction of M inside it: O(n log n) and exact.
    """
    rows = U[np.linalg.norm(U, axis=1) > 0]
    if rows.shape[0] == 0:
        return 0.0
    two_pi = 2 * np.pi
    phi = np.arctan2(rows[:, 1], rows[:, 0])
    outer = np.column_stack([rows[:, 0] ** 2, rows[:, 0] * rows[:, 1], rows[:, 1] ** 2])
    angles = np.concatenate([np.mod(phi - np.pi / 2, two_pi), np.mod(phi + np.pi / 2, two_pi)])
    order = np.argsort(angles, kind="stable")
    angles, deltas = angles[order], np.concatenate([outer, -outer])[order]
    # Active set on the arc that wraps around 2π, then one breakpoint at a time: M on (angles[k], angles[k+1]).
    before = np.cos(0.5 * (angles[-1] + angles[0] + two_pi) - phi) > 0
    M = outer[before].sum(axis=0) + np.cumsum(deltas, axis=0)
    lo, hi = angles, np.append(angles[1:], angles[0] + two_pi)
    psi = 0.5 * np.arctan2(2 * M[:, 1], M[:, 0] - M[:, 2])        # top eigen-direction of each M
    thetas = [lo, hi]
    for shift in (0.0, np.pi, two_pi, 3 * np.pi):                  # every representative of ±psi
        inside = (psi + shift > lo) & (psi + shift < hi)
        thetas.append(np.where(inside, psi + shift, lo))
    theta = np.concatenate(thetas)
    a, b, c = np.tile(M, (len(thetas), 1)).T
    values = a * np.cos(theta) ** 2 + 2 * b * np.cos(theta) * np.sin(theta) + c * np.sin(theta) ** 2
    return float(np.sqrt(max(float(values.max()), 0.0)))


# --------------------------------------------------------------------------- contract
def _bn_scale(opts: dict[str, Any], where: str = "solve") -> str:
    return check_choice(opts.get("bn_scale", "std"), "bn_scale", BN_SCALES, where)


def problem_options(pb: Problem) -> dict[str, Any]:
    """Keyword arguments ``rho`` and ``dual_program`` need beyond the common contract."""
    return {"activation": pb.activation, "bn_scale": _bn_scale(pb.options)}


def _one_hot_defects(Y: np.ndarray) -> tuple[int, int]:
    """(entries outside {0, 1}, rows without exactly one 1)."""
    binary = (Y == 0) | (Y == 1)
    return int(np.count_nonzero(~binary)), int(np.count_nonzero(np.sum(Y == 1, axis=1) != 1))


def _require_one_hot(Y: np.ndarray, where: str) -> None:
    """ReLU-BN formulas for several outputs hold for one-hot labels only."""
    bad_entries, bad_rows = _one_hot_defects(Y)
    if Y.shape[1] > 1 and (bad_entries or bad_rows):
        raise SettingError(f"{where} of the ReLU batchnorm setting needs one-hot labels when there are several "
                           f"outputs. Got {bad_entries} entries outside {{0, 1}} and {bad_rows} rows without exactly "
                           "one 1. Use one output column, one-hot labels, or activation='linear'.")


def check(X: np.ndarray, Y: np.ndarray, depth: int, activation: str = "relu", bias: bool = False,
          batchnorm: bool = False, loss: Loss | str | None = None, bn_scale: str = "std",
          **opts: object) -> list[str]:
    """Assumptions of this setting that the problem breaks ([] when it applies).

    ``batchnorm`` must be True. Linear networks fit for any data. ReLU networks need the
    high-dimensional regime rank(P_⊥A) = n − 1, where A is X for depth 2 and [X₊, X₋] for
    depth ≥ 3 (the trunk the recovery builds), and scalar or one-hot labels (one-hot:
    squared loss).

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.settings import batchnorm
    >>> X = np.random.default_rng(0).standard_normal((8, 3))
    >>> batchnorm.check(X, np.ones((8, 1)), 2, activation="linear", batchnorm=True)
    []
    >>> batchnorm.check(X, np.ones((8, 1)), 2, activation="relu", batchnorm=True)[0][:36]
    'rank(P_perp A) = 3 < n-1 = 7 (rank d'
    """
    if not batchnorm:
        return ["batchnorm=False: this setting is for batch normalization before the last activation "
                "(pass batchnorm=True)"]
    bn_scale = _bn_scale({"bn_scale": bn_scale})
    loss_name = get_loss(loss if loss is not None else "squared").name
    problems = []
    if activation not in ACTIVATIONS:
        problems.append(f"activation={activation!r}: this setting supports {ACTIVATIONS}")
    if bias:
        problems.append("bias=True: biases before BN are cancelled by its centering and the BN shift alpha "
                        "plays the role of the last hidden bias; drop the biases (b=None)")
    if activation != "relu":
        return problems
    if bn_scale == "l2":
        problems.append("bn_scale='l2' with activation='relu': the branch set is the ReLU image of an ellipsoid "
                        "and has no tractable dual; use bn_scale='std' or activation='linear'")
    K = Y.shape[1]
    if K > 1:
        bad_entries, bad_rows = _one_hot_defects(Y)
        if bad_entries or bad_rows:
            problems.append(f"{K} outputs but the labels are not one-hot ({bad_entries} entries outside {{0, 1}}, "
                            f"{bad_rows} rows without exactly one 1; tolerance 0): ReLU-BN with vector labels "
                            "is exact for one-hot labels only (use one column, one-hot labels, or "
                            "activation='linear')")
        if loss_name != "squared":
            problems.append(f"loss={loss_name!r} with {K} one-hot outputs: the ReLU-BN closed form is for "
                            "loss='squared' (one output column works with any loss)")
    basis = make_basis(X, depth, activation)
    n = X.shape[0]
    if basis.rank < n - 1:
        trunk = "A = X" if depth == 2 else "A = [X+, X-], the trunk of depth >= 3"
        deeper = "depth >= 3 (its trunk [X+, X-] doubles the features), " if depth == 2 else ""
        problems.append(f"rank(P_perp A) = {basis.rank} < n-1 = {n - 1} (rank deficit {n - 1 - basis.rank}; "
                        f"{trunk}; singular values below {max(basis.A.shape) * np.finfo(float).eps:.2g} x the "
                        "largest count as zero): ReLU-BN is exact in the high-dimensional regime only. Use "
                        f"activation='linear' (any data), {deeper}or more features than samples")
    return problems


def rho(U: np.ndarray, X: np.ndarray, depth: int, t: float = 1.0, activation: str | None = None,
        bn_scale: str = "std") -> tuple[float, bool]:
    """Support value ρ(U) = sup over BN branches g of ‖Uᵀg‖ (independent of depth and t).

    * linear: ‖DQᵀU‖₂ with Q from range(P_⊥X) ⊕ span(1), exact (any linear trunk has
      range inside range(X), and the identity trunk attains it);
    * relu: √n·κ(U), κ(U) = max_{v≥0, ‖v‖≤1} ‖Uᵀv‖ — exact in the high-dimensional regime
      and a rigorous upper bound for any data (σ(BN(·)) is nonnegative with norm ≤ √n).
      κ is exact for one column (max(‖u₊‖, ‖u₋‖)) and two (a circle sweep); for more it is
      bounded by min(‖U‖₂, ‖(max(‖u_k₊‖, ‖u_k₋‖))_k‖).
    * ``activation=None`` (unknown): the larger of the two, an upper bound for either.

    Returns (value, exact) with exact=True: every case is exact or a rigorous upper bound.
    """
    if activation is None:
        return max(rho(U, X, depth, t, "linear", bn_scale)[0], rho(U, X, depth, t, "relu", bn_scale)[0]), True
    if activation == "relu":
        return np.sqrt(U.shape[0]) * _kappa(U), True
    basis = make_basis(X, 2, "linear")
    SR = basis.scales(bn_scale)[:, None] * basis.coords(U)
    value = np.linalg.norm(SR) if U.shape[1] == 1 else np.linalg.norm(SR, 2)
    return float(value), True


class ClosedForm(NamedTuple):
    """Dual point U*, optimal predictions F* = Y − U* (squared loss), and the optimal value."""

    U: np.ndarray
    F: np.ndarray
    value: float


def _huber(s: np.ndarray, lam: float) -> np.ndarray:
    return np.where(s <= lam, 0.5 * s * s, lam * s - 0.5 * lam * lam)


def _shrink(v: np.ndarray, lam: float) -> np.ndarray:
    norm = np.linalg.norm(v)
    return v * max(0.0, 1.0 - lam / norm) if norm > 0 else v


def closed_form(X: np.ndarray, Y: np.ndarray, beta: float, depth: int = 2, activation: str = "linear",
                basis: Basis | None = None) -> ClosedForm:
    """Optimum of the BN network with ``bn_scale="std"`` and squared loss (docs/settings/batchnorm.md#closed-form-linear, docs/settings/batchnorm.md#closed-form-relu).

    Linear (any data): U* = Y − Q·SVT_{β/√n}(QᵀY) and
    P = ½‖(I − QQᵀ)Y‖² + Σ_k H_{β/√n}(σ_k(QᵀY)).
    ReLU (valid when :func:`check` passes: high-dimensional regime, scalar or one-hot
    labels): every column's positive and negative parts are shrunk by β/√n, and
    P = Σ_k H_{β/√n}(‖y_k₊‖) + H_{β/√n}(‖y_k₋‖).

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.settings.batchnorm import closed_form
    >>> round(closed_form(np.array([[0.0], [1.0]]), np.eye(2), beta=2 ** -0.5).value, 12)   # known answer T10
    0.75
    """
    n = X.shape[0]
    lam = beta / np.sqrt(n)
    if activation == "relu":
        _require_one_hot(Y, "closed_form")
        parts = [(np.maximum(Y, 0.0), 1.0), (np.maximum(-Y, 0.0), -1.0)]
        F = sum(sign * np.column_stack([_shrink(c, lam) for c in P.T]) for P, sign in parts)
        value = sum(float(np.sum(_huber(np.linalg.norm(P, axis=0), lam))) for P, _ in parts)
        return ClosedForm(Y - F, F, value)
    basis = basis if basis is not None else make_basis(X, depth, "linear")
    B = basis.coords(Y)
    A, sig, Bt = np.linalg.svd(B, full_matrices=False)
    F = basis.lift((A * np.maximum(sig - lam, 0.0)) @ Bt)
    value = 0.5 * (float(np.sum(Y * Y)) - float(np.sum(B * B))) + float(np.sum(_huber(sig, lam)))
    return ClosedForm(Y - F, F, value)


class _Program(DualProgram):
    """BN branch sets do not depend on depth or t: the threshold is β itself."""

    def set_beta(self, beta: float, t: float | None = None) -> None:
        self.threshold.value = beta


def dual_program(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None, loss: Loss,
                 activation: str = "relu", bn_scale: str = "std", basis: Basis | None = None) -> DualProgram:
    """The dual as a CVXPY program; the threshold β is a DPP parameter.

    * linear, squared loss: U = (I − QQᵀ)Y + QR, max ½‖Y‖² − ½‖R − QᵀY‖² s.t.
      ‖DR‖ ≤ β (size rank(X) + 1 by K, independent of n); other losses keep U ∈ R^{n×K}
      with ‖DQᵀU‖ ≤ β;
    * relu, one column: √n‖u₊‖ ≤ β and √n‖u₋‖ ≤ β (exact in the high-dimensional regime);
    * relu, one-hot labels (squared loss): U = Q_Y R with Q_Y = Y·diag(1/√n_k), and
      √n‖R‖₂ ≤ β. This restricts the exact (copositive-type) constraint, and its optimum
      is the exact dual optimum for one-hot labels: the closed-form U* lies in it (docs/settings/whitened.md#closed-forms).

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.losses import get_loss
    >>> from dualnet.settings.batchnorm import dual_program
    >>> prog = dual_program(np.array([[0.0], [1.0]]), np.eye(2), 2, 2 ** -0.5, None, get_loss("squared"),
    ...                     activation="linear")
    >>> round(prog.solve(solver="CLARABEL"), 6)
    0.75
    """
    n, K = Y.shape
    threshold = cp.Parameter(nonneg=True, name="beta")
    if activation == "linear":
        basis = basis if basis is not None else make_basis(X, 2, "linear")
        D = basis.scales(bn_scale)[:, None]
        if loss.name == "squared":
            B = basis.coords(Y)
            R = cp.Variable(B.shape, name="R")
            objective = 0.5 * float(np.sum(Y * Y)) - 0.5 * cp.sum_squares(R - B)
            constraints = [_norm(cp.multiply(D, R)) <= threshold]
            lift = lambda: Y - basis.lift(B - R.value)  # noqa: E731
        else:
            U = cp.Variable((n, K), name="U")
            objective, constraints = loss.dual(U, Y)
            Qt = np.hstack([basis.Q0, np.ones((n, 1)) / np.sqrt(n)]).T
            constraints = [*constraints, _norm(cp.multiply(D, Qt @ U)) <= threshold]
            lift = lambda: U.value  # noqa: E731
    elif K == 1:
        U = cp.Variable((n, 1), name="U")
        objective, constraints = loss.dual(U, Y)
        constraints = [*constraints, cp.norm(cp.pos(U[:, 0]), 2) <= threshold / np.sqrt(n),
                       cp.norm(cp.neg(U[:, 0]), 2) <= threshold / np.sqrt(n)]
        lift = lambda: U.value  # noqa: E731
    else:
        _require_one_hot(Y, "dual_program")
        counts = Y.sum(axis=0)
        QY = Y[:, counts > 0] / np.sqrt(counts[counts > 0])
        C = QY.T @ Y
        R = cp.Variable(C.shape, name="R")
        objective = 0.5 * float(np.sum(Y * Y)) - 0.5 * cp.sum_squares(R - C)
        constraints = [cp.sigma_max(R) <= threshold / np.sqrt(n)]
        lift = lambda: QY @ R.value  # noqa: E731
    program = _Program(cp.Problem(cp.Maximize(objective), constraints), threshold, lift, depth, t)
    program.set_beta(beta)
    return program


def recover(U: np.ndarray, X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None = None,
            loss: Loss | None = None, activation: str = "relu", bn_scale: str = "std", basis: Basis | None = None,
            solver: str | None = None) -> Network:
    """A BN network realizing the primal point of the dual point U (docs/settings/batchnorm.md#closed-form-linear, docs/settings/batchnorm.md#closed-form-relu).

    Squared loss: F = Y − U is split into atoms — the SVD of D⁻¹QᵀF (linear) or the
    positive and negative parts of each column (ReLU) — and each atom v (a BN output with
    ‖D⁻¹Qᵀv‖ = 1) becomes a neuron: α = mean(v), γ = ‖P_⊥v‖/s_n, inner weights with P_⊥Aw
    along P_⊥v, outgoing weights the atom's amplitude; (γ, α) and the outgoing row are then
    balanced for weight decay. Other losses: the atoms active in U (‖Uᵀg‖ = β) and their
    amplitudes from the restricted primal in CVXPY (docs/theory/losses.md#general-dual). Depth ≥ 3 adds the
    unpenalized trunk of :func:`make_basis`. The network stores its training-batch BN
    statistics for ``predict``.
    """
    basis = basis if basis is not None else make_basis(X, depth, activation)
    if loss is None or loss.name == "squared":
        F = Y - U
        V, W2 = _relu_atoms(F, bn_scale) if activation == "relu" else _linear_atoms(basis.coords(F), basis, bn_scale)
    else:
        V, W2 = _restricted_primal(U, Y, beta, loss, activation, bn_scale, basis, solver)
    return _network(V, W2, basis, X, activation, bn_scale)


def fit(pb: Problem) -> Fit:
    """Globally optimal BN network for ``pb`` (the pipeline ``api.solve`` calls)."""
    return fit_path(pb, np.array([pb.beta]))[0]


def fit_path(pb: Problem, betas: np.ndarray) -> list[Fit]:
    """Fits for several β sharing one SVD (closed form) or one compiled CVXPY program."""
    opts = problem_options(pb)
    basis = make_basis(pb.X, pb.depth, pb.activation)
    closed = _use_closed_form(pb, opts["bn_scale"])
    program, fits, Z = None, [], None
    for beta in betas:
        beta = float(beta)
        if closed and pb.loss.name != "squared":
            # Linear BN, logistic or cross-entropy: min_Z ℓ(QDZ) + β‖Z‖_* (docs/settings/batchnorm.md#closed-form-linear) by Newton
            # or L-BFGS, each β warm-started from the last.
            D = basis.scales(opts["bn_scale"])[:, None]
            Z, U, method = solve_reduced(basis.lift(D * np.eye(D.size)), pb.Y, pb.loss, beta, Z, pb.tol * 1e-2)
            net = _network(*_linear_atoms(D * Z, basis, opts["bn_scale"]), basis, pb.X, "linear", opts["bn_scale"])
            fits.append(Fit(net, [U], "SVD + " + method, None, _info(pb, opts, basis, beta, net)))
            continue
        if closed:
            cf = closed_form(pb.X, pb.Y, beta, pb.depth, pb.activation, basis)
            U, method, problem = cf.U, _CLOSED[pb.activation], None
        else:
            if program is None:
                program = dual_program(pb.X, pb.Y, pb.depth, beta, pb.t, pb.loss, basis=basis, **opts)
            program.set_beta(beta)
            U, method = solve_cvxpy(program, pb.solver)
            problem = program.problem
        net = recover(U, pb.X, pb.Y, pb.depth, beta, pb.t, pb.loss, basis=basis, solver=pb.solver, **opts)
        fits.append(Fit(net, [U], method, problem, _info(pb, opts, basis, beta, net)))
    return fits


def _info(pb: Problem, opts: dict[str, Any], basis: Basis, beta: float, net: Network) -> dict[str, Any]:
    return {"bn_scale": opts["bn_scale"], "rank": basis.rank, "n_neurons": _n_live(net),
            "threshold": float(beta / np.sqrt(pb.n_samples)) if opts["bn_scale"] == "std" else None}


# --------------------------------------------------------------------------- internals
_CLOSED = {"linear": "closed-form (SVD of the centered data, singular-value thresholding)",
           "relu": "closed-form (high-dimensional ReLU-BN: shrinkage of positive and negative label parts)"}


def _use_closed_form(pb: Problem, bn_scale: str) -> bool:
    # Squared loss with "std" scaling: closed form; other losses on linear networks (any
    # scaling): the reduced problem by Newton or L-BFGS (hinge and absolute: smoothed, kinks solved).
    available = (pb.loss.name == "squared" and bn_scale == "std") or (
        pb.loss.name != "squared" and has_fast_path(pb.loss, min(pb.X.shape), pb.n_outputs)
        and pb.activation == "linear")
    if pb.method in ("fast", "closed-form") and not available:
        raise InputError(f"The 'method' parameter of solve is {pb.method!r}, but the batchnorm setting has a closed "
                         f"form only for loss='squared' and bn_scale='std', and a fast path for the other losses "
                         f"only with activation='linear'. Got "
                         f"loss={pb.loss.name!r}, bn_scale={bn_scale!r}, activation={pb.activation!r} and "
                         f"{pb.n_outputs} outputs. Use method='auto' or method='cvxpy'.")
    return available and pb.method != "cvxpy"


def _n_live(net: Network) -> int:
    return int(np.count_nonzero(np.linalg.norm(net.branches[0][-1][0], axis=1)))


def _linear_atoms(QtF: np.ndarray, basis: Basis, bn_scale: str) -> tuple[np.ndarray, np.ndarray]:
    """Atoms of F = QQᵀF: the SVD of Z = D⁻¹QᵀF gives BN outputs QDa_k with amplitudes σ_k b_k."""
    D = basis.scales(bn_scale)
    A, sig, Bt = np.linalg.svd(QtF / D[:, None], full_matrices=False)
    keep = sig > 1e-12 * (sig[0] if sig.size else 0.0)
    return basis.lift(D[:, None] * A[:, keep]), sig[keep, None] * Bt[keep]


def _relu_atoms(F: np.ndarray, bn_scale: str) -> tuple[np.ndarray, np.ndarray]:
    """Atoms of F: each column's positive and negative parts as nonnegative BN outputs of norm √n."""
    n, K = F.shape
    s = np.sqrt(n) if bn_scale == "std" else 1.0
    V, W2 = [], []
    for k in range(K):
        for sign in (1.0, -1.0):
            part = np.maximum(sign * F[:, k], 0.0)
            norm = np.linalg.norm(part)
            if norm > 1e-14 * max(1.0, np.linalg.norm(F)):
                V.append(s * part / norm)
                W2.append(sign * norm / s * np.eye(K)[k])
    return np.array(V).T.reshape(n, -1), np.array(W2).reshape(-1, K)


def _restricted_primal(U: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, activation: str, bn_scale: str,
                       basis: Basis, solver: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Atoms active in U and their amplitudes from the restricted primal (docs/theory/losses.md#general-dual)."""
    n, K = Y.shape
    if activation == "relu":
        parts = [(sign, np.maximum(sign * U[:, 0], 0.0)) for sign in (1.0, -1.0)]
        # Solver duals are accurate to ~1e-8: take every nearly active atom, the primal sets amplitudes.
        cands = [(sign, np.sqrt(n) * p / np.linalg.norm(p)) for sign, p in parts
                 if np.sqrt(n) * np.linalg.norm(p) >= beta * (1 - 1e-3)]
        if not cands:
            return np.zeros((n, 0)), np.zeros((0, K))
        G = np.column_stack([sign * v for sign, v in cands])
        c = cp.Variable(len(cands), nonneg=True)
        restricted = cp.Problem(cp.Minimize(loss.primal(cp.reshape(G @ c, (n, 1), order="F"), Y)
                                            + beta * cp.sum(c)))
        solve_cvxpy(restricted, solver)
        return np.column_stack([v for _, v in cands]), np.array([[sign * ci] for (sign, _), ci in zip(cands, c.value)])
    D = basis.scales(bn_scale)[:, None]
    A, sig, _ = np.linalg.svd(D * basis.coords(U), full_matrices=False)
    active = A[:, sig >= beta * (1 - 1e-3)]
    if active.shape[1] == 0:
        return np.zeros((n, 0)), np.zeros((0, K))
    Z = cp.Variable((active.shape[1], K))
    design = basis.lift(D * active)
    penalty = cp.norm(Z[:, 0], 2) if K == 1 else cp.normNuc(Z)
    restricted = cp.Problem(cp.Minimize(loss.primal(design @ Z, Y) + beta * penalty))
    solve_cvxpy(restricted, solver)
    return _linear_atoms(D * (active @ Z.value), basis, bn_scale)


def _network(V: np.ndarray, W2: np.ndarray, basis: Basis, X: np.ndarray, activation: str, bn_scale: str) -> Network:
    """One BN network: trunk, inner weights toward the BN outputs V (columns), outgoing rows W2."""
    n, K = X.shape[0], W2.shape[1]
    if V.shape[1] == 0:                  # the zero network
        V, W2 = np.zeros((n, 1)), np.zeros((1, K))
    s_n = np.sqrt(n) if bn_scale == "std" else 1.0
    alpha = V.mean(axis=0)
    C = V - alpha
    gamma = np.linalg.norm(C, axis=0) / s_n
    w = basis.inner_weights(C)
    # Balance each neuron for weight decay (Lemma A.1): (γ, α)·r and the row / r, r² = ‖row‖/‖(γ, α)‖.
    size_in, size_out = np.hypot(gamma, alpha), np.linalg.norm(W2, axis=1)
    live = (size_in > 0) & (size_out > 0)
    r = np.sqrt(np.divide(size_out, size_in, out=np.ones_like(size_out), where=live))
    gamma, alpha, W2 = gamma * r * live, alpha * r * live, W2 / r[:, None] * live[:, None]
    layers = [*basis.trunk, (w, None), (W2, None)]
    return Network([layers], activation, [(gamma, alpha)], bn_scale).with_batch_statistics(X)
