"""First-order solver for the convex program over a pattern set, and for the fixed-atom group lasso.

The program of docs/settings/two_layer.md over patterns D_i (and D'_i for the w_i),

    min ℓ(Σ_i D_i A v_i − Σ_i D'_i A w_i) + β Σ_i (‖v_i‖ + ‖w_i‖)  s.t.  (2D_i − I)Av_i ≥ 0, (2D'_i − I)Aw_i ≥ 0,

is a group lasso whose groups carry polyhedral cone constraints. It is solved by an augmented
Lagrangian on the cone constraints (as in Mishkin, Sahiner & Pilanci 2022): each subproblem
is smooth plus group norms, solved by accelerated proximal gradient (FISTA with adaptive
restart); the multipliers μ_i ≥ 0 are then updated by μ ← (μ − ϱ(2D − I)Aθ)_+. Nonsmooth
losses (hinge, absolute) enter through a second multiplier on the link F = Σ D_i A θ_i: the
subproblem sees the Moreau envelope of ℓ, whose gradient is a subgradient of ℓ at the
proximal point (the method of multipliers on the link).

Certificate (NumPy, trusting no solver). A dual point u (−∇ℓ at the predictions, or the
link multiplier) and ANY λ_i ≥ 0 give max{cᵀθ : θ ∈ K_i, ‖θ‖ ≤ 1} ≤ ‖c + B_iᵀλ_i‖ with
B_i = (2D_i − I)A and c = ±AᵀD_i u (the constraint term is ≥ 0 on K_i). The AL multipliers
are such λ (at the subproblem's optimum they make the bound equal to β on active groups),
and NNLS tightens the largest bounds. With ρ̄ the largest bound, c·u with c ≤ β/ρ̄ is
feasible for the restricted dual, so ``lower`` = max_c −ℓ*(−cu) is a proven lower bound
on the restricted program (:func:`dualnet.certificate.scaled_dual_value`). With an
unpenalized coordinate (``free=1``, the bias column) the bound also needs the free
component of c + Bᵀλ to vanish; it is zeroed exactly by raising one λ_j of the right sign,
and is infinite when no such j exists (up to round-off at the 1e-12 relative level).

The returned primal point is feasible: a group whose cone constraints the iterate violates
is replaced by its Euclidean projection onto its cone (NNLS on the polar cone), and the
reported ``value`` and ``F`` are those of the ReLU network's forward pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from ...certificate import scaled_dual_value
from ...errors import InputError
from ...losses import Loss, get_loss

__all__ = ["AtomFit", "PatternFit", "solve_atoms", "solve_patterns"]

#: Lipschitz constants of ∇ℓ (per sample) for the smooth losses
_SMOOTH = {"squared": 1.0, "logistic": 0.25, "cross-entropy": 0.5}
#: proximal-gradient steps between multiplier updates (restarting momentum more often was slower)
_INNER = 500
#: cone penalty ϱ relative to the balance ϱ‖A‖² = L_ℓ‖M‖² (measured: 1 and 100 converged slower)
_RHO = 10.0
#: rounds combined by the dual extrapolation
_ANDERSON = 5
#: link penalty of the nonsmooth losses: start, growth factor when the link residual falls by less
#: than _GROW_IF in a round, and cap (measured on hinge/absolute: a fixed 1, 10 or 100 each failed one)
_RHO_LINK, _GROW_IF, _GROW_BY, _RHO_LINK_MAX = 1.0, 0.9, 2.0, 16.0


@dataclass
class _Fit:
    F: np.ndarray
    U: np.ndarray
    value: float
    lower: float
    p0: float
    iterations: int
    seconds: float
    converged: bool
    stopped: str
    state: dict = field(repr=False, default_factory=dict)

    @property
    def gap(self) -> float:
        """``value − lower``: a proven bound on the distance to the restricted optimum."""
        return self.value - self.lower

    @property
    def rel_gap(self) -> float:
        """``gap / P(0)``."""
        return self.gap / self.p0 if self.p0 > 0 else self.gap


@dataclass
class PatternFit(_Fit):
    """Solution of the program over a pattern set by :func:`solve_patterns`.

    Attributes
    ----------
    V, W : ndarray (r + free, P), (r + free, P')
        The groups v_i, w_i (the layout of ``program._program``); they satisfy the cone
        constraints (violating groups were projected onto their cones).
    D, Dw : ndarray of bool (n, P), (n, P')
        The patterns they belong to.
    F : ndarray (n, 1)
        Predictions of the recovered ReLU network, Σ(Av_i)_+ − Σ(Aw_i)_+.
    U : ndarray (n, 1)
        The dual point that gave ``lower``, inside the loss's domain.
    value : float
        ℓ(F) + β Σ(‖v_i‖ + ‖w_i‖) at (V, W): the objective of the recovered network.
    lower : float
        A proven lower bound on the optimum of the program over these patterns.
    p0 : float
        P(0), the loss of the zero network (the scale of ``tol``).
    iterations : int
        Proximal-gradient steps taken.
    seconds : float
    converged : bool
        ``value − lower ≤ tol·P(0)``.
    stopped : str
        "converged", "max_iter" or "time_limit".
    """

    V: np.ndarray = field(default=None, repr=False)
    W: np.ndarray = field(default=None, repr=False)
    D: np.ndarray = field(default=None, repr=False)
    Dw: np.ndarray = field(default=None, repr=False)


@dataclass
class AtomFit(_Fit):
    """Solution of the group lasso over fixed atoms by :func:`solve_atoms`.

    Attributes
    ----------
    W : ndarray (m, K)
        Output weights, one row per atom.
    F, U, value, lower, p0, iterations, seconds, converged, stopped
        As in :class:`PatternFit`; ``lower`` is exact here (no cones: ρ̄ = max_j ‖Uᵀg_j‖).
    """

    W: np.ndarray = field(default=None, repr=False)


# ============================================================================ losses
def _lipschitz(loss: Loss) -> float | None:
    """The Lipschitz constant of ∇ℓ, None for a nonsmooth loss.

    A loss minimized over a free intercept, min_b ℓ(F + 1bᵀ) (``base`` is ℓ; the estimators'),
    keeps ℓ's constant: its conjugate is ℓ* on the subspace 1ᵀU = 0, as strongly convex.
    """
    return _SMOOTH.get(getattr(loss, "base", loss).name)


def _prox(loss: Loss, q: np.ndarray, Y: np.ndarray, t: float) -> np.ndarray:
    """argmin_F ℓ(F) + ‖F − q‖²/(2t) for the nonsmooth losses (and for them with a free intercept)."""
    if getattr(loss, "base", None) is not None:
        return _prox_intercept(loss.base, q, Y, t)
    if loss.name == "hinge":
        z = Y * q                                  # (1 − z)_+ in z = y f, y = ±1
        return Y * np.where(z < 1.0 - t, z + t, np.maximum(z, 1.0))
    if loss.name == "absolute":
        r = q - Y
        return Y + np.sign(r) * np.maximum(np.abs(r) - t, 0.0)
    raise InputError(f"solve_patterns has no proximal operator for loss={loss.name!r}.")


def _prox_intercept(base: Loss, q: np.ndarray, Y: np.ndarray, t: float) -> np.ndarray:
    """The prox of g(F) = min_b ℓ(F + 1bᵀ) for an elementwise ℓ: F = prox_tℓ(q + 1bᵀ) − 1bᵀ.

    With G = F + 1bᵀ the prox is min over b of the Moreau envelope of ℓ at q + 1bᵀ, convex
    in b with derivative Σ_i (q + b − prox_tℓ(q + b))_i / t, non-decreasing: bisection per
    column. Each term lies in [−t, t] (hinge, absolute), so b* lies in the bracket below.
    """
    lo = (Y - q).min(axis=0) - t - 1.0
    hi = (Y - q).max(axis=0) + t + 1.0
    for _ in range(100):
        b = 0.5 * (lo + hi)
        z = q + b
        up = (z - _prox(base, z, Y, t)).sum(axis=0) > 0
        lo, hi = np.where(up, lo, b), np.where(up, b, hi)
    b = 0.5 * (lo + hi)
    return _prox(base, q + b, Y, t) - b


class _Link:
    """The smooth function of the predictions the subproblems see, and its dual point.

    Smooth losses: ℓ itself. Nonsmooth ones: the Moreau envelope min_F ℓ(F) + (ϱ/2)‖F − q‖²
    at q = prediction + η/ϱ, with the multiplier η of the link updated between subproblems.
    """

    def __init__(self, loss: Loss, Y: np.ndarray, eta: np.ndarray | None, rho: float | None):
        self.loss, self.Y = loss, Y
        self.smooth = _lipschitz(loss) is not None
        if not self.smooth:
            self.rho = rho or _RHO_LINK
            self.eta = np.zeros_like(Y) if eta is None else eta
            self.residual = np.inf

    @property
    def lipschitz(self) -> float:
        return _lipschitz(self.loss) if self.smooth else self.rho

    def grad(self, F: np.ndarray) -> np.ndarray:
        if self.smooth:
            return -self.loss.dual_point(F, self.Y)
        q = F + self.eta / self.rho
        return self.rho * (q - _prox(self.loss, q, self.Y, 1.0 / self.rho))

    def update(self, F: np.ndarray) -> None:
        """Method-of-multipliers step on the link: η becomes a subgradient of ℓ at the proximal point.

        The penalty ϱ grows (×5, up to 1e4) while the link residual ‖F − prox‖ does not halve.
        """
        if self.smooth:
            return
        eta = self.grad(F)
        residual = float(np.linalg.norm(eta - self.eta)) / self.rho      # ‖F − prox(F + η/ϱ)‖
        self.eta = eta
        if residual > _GROW_IF * self.residual and self.rho < _RHO_LINK_MAX:
            self.rho *= _GROW_BY
        self.residual = residual

    def duals(self, F: np.ndarray) -> list[np.ndarray]:
        """Dual-point candidates: −∇ℓ(F), and −η for nonsmooth losses."""
        out = [self.loss.project_dual(self.loss.dual_point(F, self.Y), self.Y)]
        if not self.smooth:
            out.append(self.loss.project_dual(-self.eta, self.Y))
        return out


# ============================================================================ FISTA
def _shrink(T: np.ndarray, t: float, pen: int) -> np.ndarray:
    """Prox of t Σ_g ‖θ_g[:pen]‖ over the columns θ_g (the free rows pass unchanged)."""
    norms = np.linalg.norm(T[:pen], axis=0)
    scale = np.maximum(1.0 - t / np.maximum(norms, 1e-300), 0.0)
    out = T.copy()
    out[:pen] *= scale
    return out


def _fista(grad, T: np.ndarray, L: float, beta: float, pen: int, max_iter: int,
           deadline: float) -> tuple[np.ndarray, int]:
    """Accelerated proximal gradient with gradient-based restart (O'Donoghue & Candès): (θ, steps)."""
    X, Yp, t = T, T, 1.0
    for k in range(1, max_iter + 1):
        Xn = _shrink(Yp - grad(Yp) / L, beta / L, pen)
        if np.sum((Yp - Xn) * (Xn - X)) > 0:            # momentum points uphill: restart
            t = 1.0
        tn = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        Yp = Xn + ((t - 1.0) / tn) * (Xn - X)
        X, t = Xn, tn
        if k % 20 == 0 and time.perf_counter() > deadline:
            return X, k
    return X, max_iter


def _power_norm2(op, adj, shape: tuple[int, ...], iters: int = 60, seed: int = 0) -> float:
    """‖op‖² by power iteration on adj∘op (from below; callers add a margin)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    lam = 0.0
    for _ in range(iters):
        x = x / max(float(np.linalg.norm(x)), 1e-300)
        y = adj(op(x))
        new = float(np.sum(x * y))
        x = y
        if abs(new - lam) <= 1e-6 * new:
            lam = new
            break
        lam = new
    return lam


# ====================================================================== pattern program
def _check(A: np.ndarray, Y: np.ndarray, beta: float, where: str) -> tuple[np.ndarray, np.ndarray]:
    A = np.asarray(A, dtype=float)
    Y = np.asarray(Y, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if A.ndim != 2 or Y.ndim != 2 or Y.shape[0] != A.shape[0]:
        raise InputError(f"The design and 'Y' of {where} must have the same number of rows. Got shapes "
                         f"{A.shape} and {np.shape(Y)}. Pass Y with one row per sample.")
    if not (np.isfinite(beta) and beta > 0):
        raise InputError(f"The 'beta' parameter of {where} must be a positive number. Got {beta!r} instead.")
    return A, Y


def _carry(D: np.ndarray, old_D: np.ndarray | None, old: np.ndarray | None, rows: int) -> np.ndarray:
    """Columns of ``old`` (indexed by the patterns ``old_D``) placed at the same patterns of ``D``."""
    out = np.zeros((rows, D.shape[1]))
    if old is None or old_D is None or old_D.shape[0] != D.shape[0]:
        return out
    where = {col.tobytes(): j for j, col in enumerate(old_D.T)}
    for i, col in enumerate(D.T):
        j = where.get(col.tobytes())
        if j is not None:
            out[:, i] = old[:, j]
    return out


def _stop(gap: float, target: float, deadline: float, steps: int, max_iter: int) -> str | None:
    """Why an outer loop stops now ("converged", "time_limit", "max_iter"), or None to go on."""
    if gap <= target:
        return "converged"
    if time.perf_counter() > deadline:
        return "time_limit"
    return "max_iter" if steps >= max_iter else None


def solve_patterns(A: np.ndarray, Y: np.ndarray, D: np.ndarray, beta: float, loss: str | Loss = "squared", *,
                   free: int = 0, Dw: np.ndarray | None = None, start: PatternFit | None = None,
                   tol: float = 1e-8, max_iter: int = 50_000, time_limit: float | None = None) -> PatternFit:
    """Solve the convex program over the patterns ``D`` (docs/settings/two_layer.md, K = 1) to a proven gap.

    min ℓ(Σ_i D_i A(v_i − w_i)) + β Σ_i (‖v_i‖ + ‖w_i‖) s.t. (2D_i − I)Av_i ≥ 0, (2D_i − I)Aw_i ≥ 0,
    the same program as ``program._program`` (whose variables have the same layout), by an
    augmented Lagrangian with FISTA subproblems, without CVXPY.

    Parameters
    ----------
    A : ndarray (n, r + free)
        The design (reduced coordinates, with the bias column last when ``free=1``).
    Y : ndarray (n, 1)
        Labels (one output).
    D : ndarray of bool (n, P)
        Patterns of the v_i; ``Dw`` (default ``D``) those of the w_i.
    beta : float
    loss : str or Loss
        Any loss of :mod:`dualnet.losses`.
    free : int
        The last ``free`` coordinates of every group are unpenalized (0 or 1).
    start : PatternFit, optional
        A previous solution (other patterns or another β): its groups and multipliers are
        carried over by pattern, which makes re-solves after adding patterns cheap.
    tol : float
        Stop when ``value − lower ≤ tol·P(0)``.
    max_iter : int
        Cap on proximal-gradient steps.
    time_limit : float, optional
        Seconds; the best point found by then is returned with ``stopped="time_limit"``.

    Returns
    -------
    PatternFit

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0], [-1.0]]); D = np.array([[True, False], [False, True]])
    >>> fit = solve_patterns(A, np.array([[1.0], [1.0]]), D, beta=0.5)
    >>> round(fit.value, 6), fit.converged, fit.lower <= 0.75 <= fit.value
    (0.75, True, True)
    """
    t0 = time.perf_counter()
    A, Y = _check(A, Y, beta, "solve_patterns")
    loss = get_loss(loss, "solve_patterns")
    if Y.shape[1] != 1:
        raise InputError(f"The 'Y' parameter of solve_patterns must have one column (the pattern program is for "
                         f"one output). Got {Y.shape[1]} columns. Use solve_atoms for vector outputs.")
    D = np.asarray(D, dtype=bool)
    Dw = D if Dw is None else np.asarray(Dw, dtype=bool)
    for name, M in (("D", D), ("Dw", Dw)):
        if M.ndim != 2 or M.shape[0] != A.shape[0]:
            raise InputError(f"The '{name}' parameter of solve_patterns must be a boolean array with one row per "
                             f"sample ({A.shape[0]}). Got shape {M.shape}. Pass patterns as columns (n, P).")
    if free not in (0, 1) or free >= A.shape[1]:
        raise InputError(f"The 'free' parameter of solve_patterns must be 0 or 1 (the bias column, last in A) and "
                         f"smaller than A's {A.shape[1]} columns. Got {free!r}.")
    n, p = A.shape
    pen = p - free
    Pv = D.shape[1]
    Dall = np.hstack([D, Dw]).astype(float)
    sig = np.concatenate([np.ones(Pv), -np.ones(Dw.shape[1])])
    Dsig, S = Dall * sig, 2.0 * Dall - 1.0
    deadline = t0 + (np.inf if time_limit is None else float(time_limit))
    p0 = loss.zero_value(Y)

    if start is not None:
        T = np.hstack([_carry(D, start.D, start.V, p), _carry(Dw, start.Dw, start.W, p)])
        mu = np.hstack([_carry(D, start.D, start.state.get("mu_v"), n), _carry(Dw, start.Dw, start.state.get("mu_w"),
                                                                             n)])
        lam = np.hstack([_carry(D, start.D, start.state.get("lam_v"), n),
                         _carry(Dw, start.Dw, start.state.get("lam_w"), n)])
        link = _Link(loss, Y, start.state.get("eta"), start.state.get("rho_link"))
    else:
        T, mu = np.zeros((p, Dall.shape[1])), np.zeros((n, Dall.shape[1]))
        lam = mu.copy()
        link = _Link(loss, Y, None, None)

    norm_A = float(np.linalg.norm(A, 2)) ** 2 if A.size else 0.0
    rho_c = start.state.get("rho_cone") if start is not None else None
    # lam: multipliers of every group for the certificate (any λ ≥ 0 is valid): the AL ones, improved
    # by _rho_bound; mu: the AL multipliers.
    work = np.any(T != 0, axis=0)      # the working set: groups the subproblems optimize
    steps, best, stopped, grow, history = 0, None, "max_iter", True, []
    while True:
        Z = A @ T
        F = (Z * Dsig).sum(axis=1, keepdims=True)
        extra = [start.U] if (start is not None and steps == 0 and start.U is not None
                              and start.U.shape == Y.shape) else []
        history.append(link.duals(F)[-1])
        extra += _extrapolated(history[-_ANDERSON - 1:], Y, loss)
        fit, bounds = _finish(A, Y, beta, loss, T, S, Dsig, sig, lam, link, F, pen, free, extra)
        if best is None or fit[1] - fit[2] < best[1] - best[2]:
            best, best_lam = fit, lam.copy()
        stopped = _stop(best[1] - best[2], tol * p0, deadline, steps, max_iter)
        if stopped is not None:
            break
        # Grow the working set by the groups whose dual constraint the point violates most, and
        # drop the zero groups whose constraint holds (each step then costs less).
        out = np.flatnonzero(~work & (bounds > beta))
        if out.size:
            add = out[np.argsort(-bounds[out])][: max(10, int(work.sum()) // 2)]
            work[add] = True
            grow = True
        idle = work & ~np.any(T != 0, axis=0) & (bounds <= beta)
        if np.any(idle):
            work &= ~idle
            grow = True
        idx = np.flatnonzero(work)
        if grow:
            norm_M, rho_c = _scales(A, Dsig[:, idx], link.lipschitz, norm_A, rho_c)
            grow = False
        Tw, muw, k = _al_round(A, Dsig[:, idx], S[:, idx], T[:, idx], mu[:, idx], link, beta, pen, rho_c,
                                     link.lipschitz * norm_M + rho_c * norm_A, min(_INNER, max_iter - steps),
                                     deadline)
        T[:, idx], mu[:, idx] = Tw, muw
        lam[:, idx] = muw
        steps += k
    Tb, value, lower, Fb, U = best
    state = {"mu_v": mu[:, :Pv], "mu_w": mu[:, Pv:], "lam_v": best_lam[:, :Pv], "lam_w": best_lam[:, Pv:],
             "rho_cone": rho_c}
    if not link.smooth:
        state.update(eta=link.eta, rho_link=link.rho)
    return PatternFit(F=Fb, U=U, value=value, lower=lower, p0=p0, iterations=steps,
                      seconds=time.perf_counter() - t0, converged=bool(value - lower <= tol * p0), stopped=stopped,
                      state=state, V=Tb[:, :Pv], W=Tb[:, Pv:], D=D, Dw=Dw)


def _scales(A: np.ndarray, Dsig: np.ndarray, lip: float, norm_A: float, rho_c: float | None
            ) -> tuple[float, float]:
    """‖M‖² of the working set's prediction map (with a margin) and the cone penalty ϱ (balanced against it)."""
    def forward(Th: np.ndarray) -> np.ndarray:
        return ((A @ Th) * Dsig).sum(axis=1, keepdims=True)

    def adjoint(G: np.ndarray) -> np.ndarray:
        return A.T @ (Dsig * G)

    norm_M = _power_norm2(forward, adjoint, (A.shape[1], Dsig.shape[1])) * 1.05
    balanced = max(_RHO * lip * norm_M / max(norm_A, 1e-300), 1e-12)
    return norm_M, balanced if rho_c is None else max(rho_c, balanced)


def _al_round(A, Dsig, S, T, mu, link, beta, pen, rho_c, L, steps, deadline):
    """FISTA steps on the augmented Lagrangian, then the multiplier updates (cones, and the link)."""
    def grad(Th: np.ndarray) -> np.ndarray:
        Z = A @ Th
        g = link.grad((Z * Dsig).sum(axis=1, keepdims=True))
        H = np.maximum(mu - rho_c * S * Z, 0.0)
        return A.T @ (Dsig * g - S * H)

    T, k = _fista(grad, T, L, beta, pen, steps, deadline)
    Z = A @ T
    mu = np.maximum(mu - rho_c * S * Z, 0.0)
    link.update((Z * Dsig).sum(axis=1, keepdims=True))
    return T, mu, k


def _finish(A, Y, beta, loss, T, S, Dsig, sig, lam, link, F, pen, free, extra=()):
    """((feasible θ, its value, proven lower bound, its predictions, the dual point used), group bounds)."""
    Tf = _repair(A, T, S, pen)
    Ff = (np.maximum(A @ Tf, 0.0) * sig).sum(axis=1, keepdims=True)        # the ReLU network's forward pass
    value = loss.value(Ff, Y) + beta * float(np.linalg.norm(Tf[:pen], axis=0).sum())
    best_lower, best_U, best_bounds = -np.inf, None, None
    for U in [*link.duals(F), loss.project_dual(loss.dual_point(Ff, Y), Y), *extra]:
        if free:
            U = _centered(U, Y, loss)
        rho, bounds = _rho_bound(A, U, S, Dsig, lam, pen, beta)
        lower = scaled_dual_value(U, Y, loss, beta, rho)[0] if np.isfinite(rho) else 0.0
        if lower > best_lower:
            best_lower, best_U, best_bounds = lower, U, bounds
    return (Tf, value, max(best_lower, 0.0), Ff, best_U), best_bounds


def _extrapolated(us: list[np.ndarray], Y: np.ndarray, loss: Loss) -> list[np.ndarray]:
    """Anderson extrapolation of the dual points of the last rounds (dual extrapolation, as in Celer).

    The multiplier method converges about linearly, so the affine combination Σc_k u_k with
    Σc_k = 1 that minimizes the norm of the combined differences points well past the last
    iterate. It is only one more candidate: the certificate scales whatever it is into the
    dual feasible set.
    """
    if len(us) < 3:
        return []
    R = np.stack([(b - a).ravel() for a, b in zip(us, us[1:])], axis=1)
    G = R.T @ R
    try:
        z = np.linalg.solve(G + 1e-12 * np.trace(G) * np.eye(len(G)), np.ones(len(G)))
    except np.linalg.LinAlgError:
        return []
    if not np.all(np.isfinite(z)) or z.sum() == 0:
        return []
    c = z / z.sum()
    return [loss.project_dual(sum(ck * u for ck, u in zip(c, us[1:])), Y)]


def _centered(U: np.ndarray, Y: np.ndarray, loss: Loss) -> np.ndarray:
    """The dual point project_dual(U − τ) with 1ᵀU = 0 (a free constant in the program needs it).

    Every loss with one output has an elementwise domain, so the sum is non-increasing in
    τ; bisection finds its zero to round-off.
    """
    if loss.name == "squared":
        return U - U.mean()
    lo, hi = -np.abs(U).max() - 2.0 * np.abs(Y).max() - 1.0, np.abs(U).max() + 2.0 * np.abs(Y).max() + 1.0
    best = loss.project_dual(U, Y)
    for _ in range(200):
        tau = 0.5 * (lo + hi)
        V = loss.project_dual(U - tau, Y)
        total = float(V.sum())
        if abs(total) < abs(float(best.sum())):
            best = V
        if total > 0:
            lo = tau
        elif total < 0:
            hi = tau
        else:
            break
    return best


def _repair(A: np.ndarray, T: np.ndarray, S: np.ndarray, pen: int) -> np.ndarray:
    """Project every group that violates its cone constraints onto its cone (NNLS on the polar cone)."""
    Tf = T.copy()
    Z = S * (A @ T)
    scale = np.linalg.norm(A, axis=1)[:, None] * np.linalg.norm(T, axis=0)[None, :]
    bad = np.flatnonzero(np.any(Z < -1e-14 * scale, axis=0) | np.any((Z < 0) & (scale == 0), axis=0))
    for g in bad:
        if not np.any(T[:, g]):
            continue
        B = S[:, g, None] * A
        lam, _ = nnls(B.T, -T[:, g], maxiter=50 * max(B.shape))
        Tf[:, g] = T[:, g] + B.T @ lam
        if np.any(B @ Tf[:, g] < -1e-12 * np.linalg.norm(A, axis=1) * np.linalg.norm(Tf[:, g])):
            Tf[:, g] = 0.0                      # NNLS failed to reach the cone: the zero group is feasible
    return Tf


def _rho_bound(A: np.ndarray, U: np.ndarray, S: np.ndarray, Dsig: np.ndarray, lam: np.ndarray, pen: int,
               beta: float, pg_steps: int = 30, n_tighten: int = 20) -> tuple[float, np.ndarray]:
    """A rigorous upper bound on max_i max{c_iᵀθ : θ ∈ K_i, ‖θ[:pen]‖ ≤ 1}, c_i = σ_i AᵀD_i u, and per-group bounds.

    Each group's bound is ‖c_i + B_iᵀλ_i‖ for λ_i ≥ 0 (``lam``, updated in place): the AL
    multipliers, improved by projected-gradient steps on min ‖c_i + B_iᵀλ_i‖² for the groups
    above β; the largest few are then tightened by NNLS, stopping once no other bound
    exceeds the tightened maximum. Any λ ≥ 0 gives a valid bound, so all of this only
    tightens it.
    """
    C = A.T @ (Dsig * U[:, :1])
    if pen < A.shape[1]:
        _rescale_one_sided(C, lam, S, pen)
    bounds = _group_bounds(A, C + A.T @ (S * lam), S, pen)
    hot = np.flatnonzero(bounds > beta)
    if hot.size and pg_steps:
        step = 1.0 / max(float(np.linalg.norm(A, 2)) ** 2, 1e-300)
        Sh, Ch, Lh = S[:, hot], C[:, hot], lam[:, hot]
        Yh, t = Lh, 1.0
        for _ in range(pg_steps):
            Ln = np.maximum(Yh - step * Sh * (A @ (Ch + A.T @ (Sh * Yh))), 0.0)
            tn = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            Yh, Lh, t = Ln + ((t - 1.0) / tn) * (Ln - Lh), Ln, tn
        new = _group_bounds(A, Ch + A.T @ (Sh * Lh), Sh, pen)
        better = new < bounds[hot]
        lam[:, hot[better]] = Lh[:, better]
        bounds[hot] = np.minimum(new, bounds[hot])
    order = np.argsort(-bounds)
    best = 0.0
    for j, g in enumerate(order):
        if bounds[g] <= best:
            return best, bounds
        if j >= n_tighten:
            return float(bounds[g]), bounds        # the largest bound not tightened caps the rest
        B = S[:, g, None] * A
        if pen == A.shape[1]:
            lg, _ = nnls(B.T, -C[:, g], maxiter=50 * max(B.shape))
        else:
            lg, _ = _nnls_free(B, C[:, g], pen)
            lg = lg[:, None]
            _rescale_one_sided(C[:, [g]], lg, S[:, [g]], pen)
            lg = lg[:, 0]
        tight = _group_bounds(A, (C[:, g] + B.T @ lg)[:, None], S[:, [g]], pen)[0]
        if tight < bounds[g]:
            bounds[g], lam[:, g] = tight, lg
        best = max(best, bounds[g])
    return best, bounds


def _rescale_one_sided(C: np.ndarray, lam: np.ndarray, S: np.ndarray, pen: int) -> None:
    """For groups whose rows all have one sign s, scale λ ≥ 0 so the free component c + sΣλ is zero.

    No single row can then cancel an excess (every row pushes the same way), but shrinking
    λ can: t = −c_free/(sΣλ) when it is ≥ 0, else λ = 0. Modifies ``lam`` in place.
    """
    one_sided = np.all(S == S[:1], axis=0)
    if not np.any(one_sided):
        return
    s = S[0, one_sided]
    total = s * lam[:, one_sided].sum(axis=0)
    c = C[pen, one_sided]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(total != 0, -c / np.where(total != 0, total, 1.0), 0.0)
    lam[:, one_sided] *= np.clip(t, 0.0, None)


def _nnls_free(B: np.ndarray, c: np.ndarray, pen: int) -> tuple[np.ndarray, float]:
    """NNLS for min ‖(c + Bᵀλ)[:pen]‖ with the free components weighted heavily (then zeroed exactly)."""
    w = 1e3 * max(float(np.linalg.norm(B[:, :pen])), 1.0)
    M = B.T.copy()
    M[pen:] *= w
    rhs = -c.copy()
    rhs[pen:] *= w
    return nnls(M, rhs, maxiter=50 * max(B.shape))


def _group_bounds(A: np.ndarray, R: np.ndarray, S: np.ndarray, pen: int) -> np.ndarray:
    """‖R_i[:pen]‖ after zeroing the free components of R_i = c_i + B_iᵀλ_i by raising one λ_j.

    Adding δ ≥ 0 to λ_j adds δ s_j a_j: with s_j = −sign(e) and δ = |e| the free component
    e vanishes. The row j with the smallest ‖a_j[:pen]‖ among those of the right sign is
    used. Without such a row the bound is +inf (the cone contains a free direction along
    which the objective grows), unless |e| is round-off.
    """
    out = np.linalg.norm(R[:pen], axis=0)
    if pen == A.shape[1]:
        return out
    e = R[pen]
    a_norm = np.linalg.norm(A[:, :pen], axis=1)
    ok = S == -np.sign(e)[None, :]
    j = np.argmin(np.where(ok, a_norm[:, None], np.inf), axis=0)
    has = ok[j, np.arange(R.shape[1])]
    fixed = R[:pen] + (np.abs(e) * S[j, np.arange(R.shape[1])])[None, :] * A[j, :pen].T
    out = np.where(has & (e != 0), np.linalg.norm(fixed, axis=0), out)
    scale = np.abs(R).sum(axis=0) + 1e-300
    return np.where(~has & (np.abs(e) > 1e-12 * scale), np.inf, out)


# ========================================================================= fixed atoms
def solve_atoms(G: np.ndarray, Y: np.ndarray, beta: float, loss: str | Loss = "squared", *,
                start: AtomFit | None = None, tol: float = 1e-8, max_iter: int = 50_000,
                time_limit: float | None = None) -> AtomFit:
    """Group lasso over fixed atoms: min ℓ(G W; Y) + β Σ_j ‖W_j‖₂ over W (m×K), by FISTA (no CVXPY).

    The vector-output master of the cutting plane (atoms g_j = (X w_j)_+ with fixed
    directions). Its dual constraint is ‖Uᵀg_j‖ ≤ β for every atom, computed exactly, so
    ``lower`` is a proven lower bound on this program. Nonsmooth losses go through the
    multiplier of the link F = G W, as in :func:`solve_patterns`.

    Parameters
    ----------
    G : ndarray (n, m)
        The atoms, one per column.
    Y : ndarray (n, K)
    beta : float
    loss : str or Loss
    start : AtomFit, optional
        A previous solution: its rows are those of the first atoms of ``G`` (the cutting
        plane appends atoms), the others start at zero.
    tol, max_iter, time_limit
        As in :func:`solve_patterns`.

    Returns
    -------
    AtomFit

    Examples
    --------
    >>> import numpy as np
    >>> fit = solve_atoms(np.eye(2), np.array([[2.0, 0.0], [0.0, 1.0]]), beta=0.5)
    >>> np.round(fit.W, 6).tolist(), fit.converged
    ([[1.5, 0.0], [0.0, 0.5]], True)
    """
    t0 = time.perf_counter()
    G, Y = _check(G, Y, beta, "solve_atoms")
    loss = get_loss(loss, "solve_atoms")
    n, m = G.shape
    deadline = t0 + (np.inf if time_limit is None else float(time_limit))
    p0 = loss.zero_value(Y)
    T = np.zeros((Y.shape[1], m))
    if start is not None and start.W is not None and start.W.shape[1] == Y.shape[1]:
        k = min(m, start.W.shape[0])
        T[:, :k] = start.W[:k].T
    link = _Link(loss, Y, start.state.get("eta") if start else None, start.state.get("rho_link") if start else None)
    norm_G = float(np.linalg.norm(G, 2)) ** 2 if G.size else 1.0

    def grad(Th: np.ndarray) -> np.ndarray:
        return (G.T @ link.grad(G @ Th.T)).T

    steps, best, stopped = 0, None, "max_iter"
    while True:
        F = G @ T.T
        value = loss.value(F, Y) + beta * float(np.linalg.norm(T, axis=0).sum())
        lower, U = -np.inf, None
        for cand in link.duals(F):
            rho = float(np.linalg.norm(G.T @ cand, axis=1).max(initial=0.0))
            low = scaled_dual_value(cand, Y, loss, beta, rho)[0]
            if low > lower:
                lower, U = low, cand
        if best is None or value - lower < best[1] - best[2]:
            best = (T.copy(), value, max(lower, 0.0), F, U)
        stopped = _stop(best[1] - best[2], tol * p0, deadline, steps, max_iter)
        if stopped is not None:
            break
        T, k = _fista(grad, T, link.lipschitz * norm_G, beta, Y.shape[1], min(_INNER, max_iter - steps), deadline)
        link.update(G @ T.T)
        steps += k
    Tb, value, lower, Fb, U = best
    state = {} if link.smooth else {"eta": link.eta, "rho_link": link.rho}
    return AtomFit(F=Fb, U=U, value=value, lower=lower, p0=p0, iterations=steps, seconds=time.perf_counter() - t0,
                   converged=bool(value - lower <= tol * p0), stopped=stopped, state=state, W=Tb.T.copy())
