"""The multipliers of a batch of cones, and the bounds they prove (the inner step of :mod:`.bnb`).

For each cone the search hands over, a short batched accelerated projected gradient
(:func:`_fista`) finds multipliers λ, μ whose bound (:func:`.cones._bounds`) orders the
queue; cones a sharper bound may prune get more iterations, and those within ``POLISH`` of
the threshold a BVLS polish (:func:`_multipliers`), when the search asks (``sharpen``).
:func:`_evaluate` is one task of this work, run in-process or on an executor.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import lsq_linear

from .cones import EPS, Terms, _bounds, _cone_terms, _inverses, _rows, _weigh

#: projected-gradient iterations (at most) for the multipliers of a cone that may be pruned
ITERS = 150
#: projected-gradient iterations every cone gets (enough to order the queue)
ITERS_OPEN = 25
#: cones with h_low ≤ threshold < bound ≤ SHARPEN × threshold get ITERS more (they may be pruned)
#: when they reach the top of the queue. Within 5 %: farther, the longer solves (2-3 % gained at
#: rank 5) left the cone above the threshold (rank 5, n = 200, 15 s: ρ̄/β 1.13 at 1.5, 1.07 at 1.05)
SHARPEN = 1.05
#: cones with bound in (threshold, POLISH × threshold] get their multipliers polished by BVLS
POLISH = 1.01
#: columns μ_j solved for per round, per dimension, in the multipliers of one cone
FREE = 3


def _bvls(B: np.ndarray, b: np.ndarray, r: int) -> np.ndarray | None:
    """The x minimizing ‖Bx − b‖ over x_{:r} ≥ 0, x_{r:} ∈ [0, 1] (scipy's BVLS); None when it fails."""
    m = B.shape[1] - r
    bounds = (np.zeros(r + m), np.concatenate([np.full(r, np.inf), np.ones(m)]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = lsq_linear(B, b, bounds=bounds, method="bvls").x
    except (ValueError, np.linalg.LinAlgError):
        return None
    return np.concatenate([np.maximum(x[:r], 0.0), np.clip(x[r:], 0.0, 1.0)]) if np.all(np.isfinite(x)) else None


def _multipliers(Mk: np.ndarray, p: np.ndarray, s_fix: np.ndarray, W: np.ndarray, z: np.ndarray,
                 scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(λ, μ_J) approximately minimizing ‖Mᵀ(p + λ) − s_fix − Wμ‖, λ ≥ 0, μ ∈ [0, 1] (bounded least squares).

    At the optimum z = q/‖q‖ maximizes the over-estimate and μ_j = 1[w_jᵀz > 0] except on
    the hyperplanes through z (complementary slackness), so with many columns only the
    FREE ones nearest to the hyperplanes through the current z (start: the cone's centre)
    are solved for, the rest fixed by their side, for a few rounds. Any feasible pair gives
    a valid bound; the best is kept (λ = 0, μ = 1[w_jᵀz > 0] if every solve fails).
    """
    r, m = Mk.shape[0], W.shape[1]
    Bl, b = Mk.T / scale, (s_fix - Mk.T @ p) / scale
    Wn = W / scale
    dist = 1.0 / np.maximum(np.sqrt(np.sum(W * W, axis=0)), 1e-300)
    best_lam, best_mu = np.zeros(r), (W.T @ z > 0).astype(float)
    best = np.linalg.norm(Bl @ best_lam - Wn @ best_mu - b)
    free_prev = None
    for _ in range(1 if m <= FREE * r else 4):
        side = W.T @ z
        free = np.sort(np.argsort(np.abs(side) * dist)[: FREE * r])
        if free_prev is not None and np.array_equal(free, free_prev):
            break
        mu = (side > 0).astype(float)
        mu[free] = 0.0
        x = _bvls(np.hstack([Bl, -Wn[:, free]]), b + Wn @ mu, r)
        if x is None:
            break
        mu[free] = x[r:]
        q = Bl @ x[:r] - Wn @ mu - b
        val = float(np.linalg.norm(q))
        if val < best:
            best, best_lam, best_mu = val, x[:r], mu
        if val == 0:
            break
        z, free_prev = q / val, free
    return best_lam, best_mu


def _fista(B: np.ndarray, t: np.ndarray, ub: np.ndarray, x: np.ndarray, iters: int) -> np.ndarray:
    """Batched accelerated projected gradient for min ½‖B_k x − t_k‖² over 0 ≤ x ≤ ub (b×r×m stacks).

    Columns are scaled to unit norm first (the facet normals Mᵀ of thin cones are long);
    zero columns (padding) are held at 0. Returns x clipped into the box.
    """
    cn = np.sqrt(np.sum(B * B, axis=1))
    D = np.where(cn > 0, 1.0 / np.where(cn > 0, cn, 1.0), 0.0)
    Bs = B * D[:, None, :]
    hi = np.where(D > 0, ub / np.where(D > 0, D, 1.0), 0.0)
    L = np.linalg.eigvalsh(Bs @ np.transpose(Bs, (0, 2, 1)))[:, -1:] * 1.01 + 1e-300
    y = np.clip(np.where(D > 0, x / np.where(D > 0, D, 1.0), 0.0), 0.0, hi)
    Bt = np.ascontiguousarray(np.transpose(Bs, (0, 2, 1))) / L[:, :, None]
    t = t[:, :, None]
    y, w, step = y[:, :, None], y[:, :, None], 1.0
    hi = hi[:, :, None]
    last = np.inf
    for it in range(iters):
        if it % 25 == 24:                 # stop once the objective no longer moves
            obj = float(np.sum((Bs @ y - t) ** 2))
            if obj >= last * (1 - 1e-9):
                break
            last = obj
        y_new = np.minimum(np.maximum(w - Bt @ (Bs @ w - t), 0.0), hi)
        step_new = 0.5 * (1 + np.sqrt(1 + 4 * step * step))
        w = y_new + ((step - 1) / step_new) * (y_new - y)
        y, step = y_new, step_new
    return np.clip(y[:, :, 0] * D, 0.0, ub)


#: a row is fixed on a cone when |a_iᵀr_k| > FIXED·4(r+2)ε‖a_i‖‖r_k‖ with one sign at every ray:
#: FIXED times the "near" threshold of :func:`.cones._cone_terms`, so that its sign and its
#: distance from that threshold survive the rounding at any sub-cone's rays
FIXED = 8.0


def _fixed(A: np.ndarray, T: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (b×m) whose sign is fixed on the cone with a margin: (positive at every ray, negative at every ray).

    A sub-cone's rays are positive combinations of the cone's, so |a_iᵀz|/‖z‖ over its rays
    is at least the minimum over the cone's: a row fixed here is fixed, and not near a ray,
    on every descendant, where it contributes exactly a linear term (or nothing).
    """
    r = A.shape[-1]
    nr = np.sqrt(np.sum(R * R, axis=1))
    na = np.sqrt(np.sum(A * A, axis=-1))
    tol = FIXED * 4 * (r + 2) * EPS * na[..., None] * nr[:, None, :]
    return np.all(T > tol, axis=2), np.all(T < -tol, axis=2)


def _evaluate(args: tuple) -> tuple:
    """Bounds of a batch of cones (one task): multipliers, proven bounds and candidate directions.

    Multipliers for every cone come from a batched accelerated projected gradient; a cone
    whose bound lands just above the pruning threshold while its concave over-estimate h
    stays below it (so a sharper bound may prune it) is polished by BVLS (:func:`_multipliers`).
    With ``rows`` (b×m sample indices, padded where ``valid`` is False) each cone is evaluated
    on those rows only, the others being fixed on it with their linear part ``d`` (b×r,
    Σ v_i a_i over the rows positive on the cone): the same bound as on all rows, at the
    cost of m rows. Returns (bounds, λ (b×r), [(J, μ_J)], candidates (r×k), [rows not
    fixed], d of the rows fixed, h_low), the rows and d for the cone's children, h_low ≤ the
    best bound any multipliers give (+inf for a cone too thin to bound): the search sharpens
    a cone (``sharpen``: ITERS more iterations, then BVLS) only if h_low is below its threshold.
    """
    A_all, u, R, sign, S, threshold, rows, valid, d, sharpen = args
    n = A_all.shape[0]
    if rows is None:                                          # all rows (the roots)
        A, v, valid = A_all, sign[:, None] * u[None, :], True
    else:
        A = A_all[rows]                                       # b×m×r: each cone's own rows
        v = np.where(valid, sign[:, None] * u[rows], 0.0)   # padding weighs nothing
    terms = _cone_terms(A, v, R)
    if d is not None:
        terms = terms._replace(c=terms.c + d)
    T, p, mu, c = terms.T, terms.p, terms.mu, terms.c
    M, kappa, eps_E = _inverses(R)
    b, r = R.shape[0], R.shape[1]
    centre = R.sum(axis=2)
    centre = centre / np.sqrt(np.sum(centre * centre, axis=1, keepdims=True))
    Ac = centre @ A.T if A.ndim == 2 else np.einsum("bmj,bj->bm", A, centre)     # b×m
    h_centre = (np.einsum("bk,bkj,bj->b", p, M, centre) + np.sum(c * centre, axis=1)
                + np.sum(np.minimum(v, 0.0) * np.maximum(Ac, 0.0), axis=1))
    # f at the unit rays (R's columns are scaled by powers of two, not to unit length: f at an
    # unscaled ray, up to √r times f at the unit one, blocked the sharpening of cones for good)
    h_rays = ((_weigh(v, np.maximum(T, 0.0)) + (0.0 if d is None else np.einsum("bj,bjk->bk", d, R)))
              / np.sqrt(np.sum(R * R, axis=1))).max(axis=1)
    h_low = np.maximum(h_centre, h_rays)                      # ≤ the best bound any multipliers give
    absv = np.abs(v)
    crossing = (v < 0) & (T.max(axis=2) > 0) & (T.min(axis=2) < 0)      # concave terms whose sign changes
    Js = [np.flatnonzero(c) for c in crossing]
    m = max((len(J) for J in Js), default=0)
    B = np.zeros((b, r, r + m))
    ub = np.zeros((b, r + m))
    x0 = np.zeros((b, r + m))
    B[:, :, :r] = np.transpose(M, (0, 2, 1)) / S
    ub[:, :r] = np.inf

    def rows_of(k: int) -> np.ndarray:
        """Cone k's rows: all of A, or its own (b×m×r)."""
        return A if A.ndim == 2 else A[k]

    for k, J in enumerate(Js):
        B[k, :, r:r + len(J)] = -(rows_of(k)[J].T * absv[k, J]) / S
        ub[k, r:r + len(J)] = 1.0
        x0[k, r:r + len(J)] = Ac[k, J] > 0
    s_fix = _rows(mu * absv, A) - c                             # the fixed part of s, less the linear terms
    target = (s_fix - np.einsum("bkj,bk->bj", M, p)) / S
    ok = np.isfinite(kappa)
    x = np.zeros_like(x0)
    if np.any(ok):
        x[ok] = _fista(B[ok], target[ok], ub[ok], x0[ok], ITERS_OPEN)

    def bounds_of(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for k, J in enumerate(Js):
            mu[k, J] = x[k, r:r + len(J)]
        return _bounds(A, v, terms, R, M, kappa, eps_E, x[:, :r], mu, S, n)

    bound, q = bounds_of(x)
    # Most cones are split whatever their multipliers (h_low > threshold, or a bound far above
    # it): a short solve orders the queue. Those a sharper bound may prune get ITERS more, when
    # the search asks (``sharpen``: it does so for a cone that reaches the top of its queue).
    more = ok & (h_low <= threshold) & (bound > threshold) & (bound <= SHARPEN * threshold) & sharpen
    if np.any(more):
        x[more] = _fista(B[more], target[more], ub[more], x[more], ITERS)
        bound, q = bounds_of(x)
    lam = x[:, :r].copy()
    polish = np.flatnonzero(ok & (bound > threshold) & (h_low <= threshold) & (bound <= POLISH * threshold)
                            & sharpen)
    for k in polish:
        nq = np.linalg.norm(q[k])
        z = q[k] / nq if nq > 0 else centre[k]
        lam_k, mu_J = _multipliers(M[k], p[k], s_fix[k], rows_of(k)[Js[k]].T * absv[k, Js[k]], z, S)
        mu_k = mu[k].copy()
        mu_k[Js[k]] = mu_J
        one = Terms(*(a[k:k + 1] for a in terms))
        bk, qk = _bounds(A if A.ndim == 2 else A[k:k + 1], v[k:k + 1], one, R[k:k + 1], M[k:k + 1], kappa[k:k + 1],
                         eps_E[k:k + 1], lam_k[None], mu_k[None], S, n)
        if bk[0] < bound[k]:
            bound[k], q[k], lam[k], mu[k] = bk[0], qk[0], lam_k, mu_k
    sparse = [(J if rows is None else rows[k, J], mu[k, J]) for k, J in enumerate(Js)]
    nq = np.sqrt(np.sum(q * q, axis=1, keepdims=True))
    Zq = (q / np.where(nq > 0, nq, 1.0)).T                   # maximizers of the linear over-estimate
    pos, neg = _fixed(A, T, R)
    d_own = (0.0 if d is None else d) + _rows(np.where(pos & valid, v, 0.0), A)
    free = ~pos & ~neg & valid
    own = [np.flatnonzero(free[k]) if rows is None else rows[k][free[k]] for k in range(b)]
    return bound, lam, sparse, np.hstack([Zq, centre.T]), own, d_own, np.where(ok, h_low, np.inf)

