"""The proven lower bound of the program over a pattern set (NumPy, trusting no solver), and feasibility repair.

A dual point u (−∇ℓ at the predictions, or the link multiplier) and ANY λ_i ≥ 0 give
max{cᵀθ : θ ∈ K_i, ‖θ‖ ≤ 1} ≤ ‖c + B_iᵀλ_i‖ with B_i = (2D_i − I)A and c = ±AᵀD_i u (the
constraint term is ≥ 0 on K_i). The solvers' multipliers are such λ (at the optimum they
make the bound equal to β on active groups), and NNLS tightens the largest bounds. With ρ̄
the largest bound, c·u with c ≤ β/ρ̄ is feasible for the restricted dual, so ``lower`` =
max_c −ℓ*(−cu) is a proven lower bound on the restricted program
(:func:`dualnet.certificate.scaled_dual_value`). With an unpenalized coordinate (``free=1``,
the bias column) the bound also needs the free component of c + Bᵀλ to vanish; it is zeroed
exactly by raising one λ_j of the right sign, and is infinite when no such j exists (up to
round-off at the 1e-12 relative level).

The primal point is made feasible first: a group whose cone constraints the iterate
violates is replaced by its Euclidean projection onto its cone (NNLS on the polar cone).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import nnls

from ...certificate import scaled_dual_value
from ...losses import Loss


def _finish(A, Y, beta, loss, T, S, Dsig, sig, lam, link, F, pen, free, extra=()):
    """((feasible θ, its value, proven lower bound, its predictions, the dual point used), group bounds)."""
    Tf = _repair(A, T, S, pen)
    Ff = (np.maximum(A @ Tf, 0.0) * sig).sum(axis=1, keepdims=True)        # the ReLU network's forward pass
    value = loss.value(Ff, Y) + beta * float(np.linalg.norm(Tf[:pen], axis=0).sum())
    best_lower, best_U, best_bounds = -np.inf, None, None
    tried: list[np.ndarray] = []
    candidates = [*link.duals(F), *extra]
    if not (extra and link.smooth):
        # With a smooth loss and an extrapolated point, the repaired point's own dual point is left
        # out: on peer problem A it never gave the best bound in a first-order round, and its
        # certificate was a third of theirs (8 % of the solve).
        candidates.insert(len(link.duals(F)), loss.project_dual(loss.dual_point(Ff, Y), Y))
    for U in candidates:
        if free:
            U = _centered(U, Y, loss)
        # Only an exact repeat is skipped (a Newton point's own dual point comes twice, F is then Ff):
        # a second pass over one equal up to round-off continues its multipliers' projected gradient,
        # and skipping it (allclose at 1e-12) left rank 3, n = 2000's masters short of their gap, 3x
        # the time in Newton.
        if any(np.array_equal(U, V) for V in tried):
            continue
        tried.append(U)
        rho, bounds = _rho_bound(A, U, S, Dsig, lam, pen, beta)
        lower = scaled_dual_value(U, Y, loss, beta, rho)[0] if np.isfinite(rho) else 0.0
        if lower > best_lower:
            best_lower, best_U, best_bounds = lower, U, bounds
    return (Tf, value, max(best_lower, 0.0), Ff, best_U), best_bounds


def _better_multipliers(A, U, S, Dsig, pen, first, second) -> np.ndarray:
    """Per group, whichever multipliers bound better at the dual point U: the smaller ‖c_i + B_iᵀλ_i‖."""
    C = A.T @ (Dsig * U[:, :1])
    keep = _group_bounds(A, C + A.T @ (S * first), S, pen) <= _group_bounds(A, C + A.T @ (S * second), S, pen)
    return np.where(keep[None, :], first, second)


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
    bad = bad[np.any(T[:, bad] != 0, axis=0)]
    if bad.size:
        done = _project_on_faces(A, T[:, bad], S[:, bad])
        Tf[:, bad[done[0]]] = done[1]
        bad = bad[~done[0]]
    for g in bad:
        B = S[:, g, None] * A
        Tf[:, g] = _project(B, T[:, g])
        if np.any(B @ Tf[:, g] < -1e-12 * np.linalg.norm(A, axis=1) * np.linalg.norm(Tf[:, g])):
            Tf[:, g] = 0.0                      # NNLS failed to reach the cone: the zero group is feasible
    return Tf


#: rounds of the batched active-set projection (groups not settled by then go to NNLS one by one)
_PROJECT_ROUNDS = 15


def _project_on_faces(A: np.ndarray, T: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projections of the groups ``T`` onto their cones, all groups at once: (which groups settled, their θ).

    An active-set method on the faces: θ' = θ + B_Rᵀλ with B_Rθ' = 0 for the rows R (least
    squares, padded to the largest R as in Newton's multipliers), starting from the row θ
    violates most; per round and group the most negative λ_j leaves R, or else the row θ'
    violates most enters. Where λ ≥ 0 and θ' satisfies every row, θ' meets the optimality
    conditions of the projection onto the cone, so it is that projection; the groups not
    settled within _PROJECT_ROUNDS are left to NNLS (measured on peer problem A: an NNLS per
    violating group took 8 % of the solve).
    """
    a_norm = np.linalg.norm(A, axis=1)[:, None]
    G = np.arange(T.shape[1])
    settled, out = np.zeros(T.shape[1], dtype=bool), np.zeros_like(T)
    active = np.zeros(S.shape, dtype=bool)
    active[np.argmin(S * (A @ T) / a_norm, axis=0), G] = True
    todo = G
    for _ in range(_PROJECT_ROUNDS):
        Tg, Sg, act, cols = T[:, todo], S[:, todo], active[:, todo], np.arange(todo.size)
        count = act.sum(axis=0)
        rows = np.argsort(~act, axis=0, kind="stable")[: max(int(count.max()), 1)]     # active rows first
        valid = np.arange(rows.shape[0])[:, None] < count[None, :]
        B = (Sg[rows, cols] * valid)[:, :, None] * A[rows]                              # m × G × p
        lam = -np.einsum("gmp,pg->gm", np.linalg.pinv(B.transpose(1, 2, 0)), Tg).T     # m × G
        new = Tg + np.einsum("mgp,mg->pg", B, lam)
        slack = Sg * (A @ new) / a_norm
        negative = valid & (lam < -1e-12 * np.abs(lam).max(axis=0, initial=0.0)[None, :])
        violated = slack < -1e-12 * np.linalg.norm(new, axis=0)
        done = ~negative.any(axis=0) & ~violated.any(axis=0)
        settled[todo[done]], out[:, todo[done]] = True, new[:, done]
        leave = negative.any(axis=0)
        enter = ~leave & ~done
        worst = np.argmin(np.where(valid, lam, np.inf), axis=0)
        act[rows[worst[leave], cols[leave]], cols[leave]] = False
        act[np.argmin(slack[:, enter], axis=0), cols[enter]] = True
        active[:, todo] = act
        todo = todo[~done]
        if todo.size == 0:
            break
    return settled, out[:, settled]


#: projected-gradient steps on the multipliers per certificate. Measured on peer problem A (CPU seconds,
#: Newton steps; loaded machine): 20: 1.67, 121; 30: 1.73, 125; 40: 1.48, 85; 45: 1.52, 74; 60: 1.62, 77;
#: 90: 1.82, 66 (tighter bounds let the working set grow by the right groups, so Newton's entry rounds
#: need fewer steps). On two other draws of its 250 patterns (gates seeds 2, 3): 30: 1.87 and 1.85 s,
#: 40: 1.97 and 1.91 s, 45: 1.82 and 1.85 s.
_PG_STEPS = 45


def _rho_bound(A: np.ndarray, U: np.ndarray, S: np.ndarray, Dsig: np.ndarray, lam: np.ndarray, pen: int,
               beta: float, pg_steps: int = _PG_STEPS, n_tighten: int = 20) -> tuple[float, np.ndarray]:
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
        Sh, Ch = S[:, hot], C[:, hot]
        Lh = _accelerated_pg(A, Sh, Ch, Sh * lam[:, hot], pg_steps) * Sh
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
            lg = _polar_nnls(B, C[:, g])
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


def _accelerated_pg(A: np.ndarray, S: np.ndarray, C: np.ndarray, M: np.ndarray, steps: int) -> np.ndarray:
    """Accelerated projected gradient on min ‖c_i + Aᵀm_i‖² over m_i = s_i∘λ_i, λ_i ≥ 0 (all groups at once).

    The multipliers are carried with their rows' signs (m = S∘λ): the projection is then a
    clip to [0, ∞) or (−∞, 0] per row and the step needs no products with S (a third less
    time than in λ). They run in single precision (half the memory traffic): any λ ≥ 0 gives
    a valid bound, and the caller evaluates ‖c + Bᵀλ‖ in double precision.
    """
    f32 = np.float32
    # Held transposed (groups × samples): the products then run about a fifth faster.
    step_A = np.ascontiguousarray(A.T / max(float(np.linalg.norm(A, 2)) ** 2, 1e-300), dtype=f32)
    low = np.ascontiguousarray(np.where(S > 0, 0.0, -np.inf).T, dtype=f32)
    high = np.ascontiguousarray(np.where(S > 0, np.inf, 0.0).T, dtype=f32)
    A32, C = A.astype(f32), np.ascontiguousarray(C.T, dtype=f32)
    last = ahead = np.ascontiguousarray(M.T, dtype=f32)
    t = 1.0
    for _ in range(steps):
        G = ahead @ A32
        G += C
        new = G @ step_A
        np.subtract(ahead, new, out=new)
        np.maximum(new, low, out=new)              # np.clip with array bounds took twice as long
        np.minimum(new, high, out=new)
        tn = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))     # a Python float: keeps single precision single
        ahead = new - last
        ahead *= (t - 1.0) / tn
        ahead += new
        last, t = new, tn
    return last.T.astype(float)


#: rows of the NNLS on the polar cone beyond which it works on the rows c violates most (measured at
#: n = 20 000, d = 50: 0.35 s for all rows, 0.01-0.03 s for 200-1000 rows, to the same bound)
_NNLS_ROWS = 1000


def _polar_nnls(B: np.ndarray, c: np.ndarray, rounds: int = 4, exact: bool = False) -> np.ndarray:
    """λ ≥ 0 (one per row of B) minimizing ‖c + Bᵀλ‖: NNLS, on a working set of rows when B is tall.

    c + Bᵀλ is then the projection of c onto the cone {θ : Bθ ≥ 0} (Moreau), and its norm
    bounds max{cᵀθ : Bθ ≥ 0, ‖θ‖ ≤ 1}. On tall B the working set starts from the rows c
    violates most and grows by the rows whose optimality condition bⱼᵀ(c + Bᵀλ) ≥ 0 fails.
    If that has not converged after ``rounds``, the λ found is kept (any λ ≥ 0 gives a valid
    bound, a smaller support at most a looser one), or with ``exact`` NNLS runs on all rows.
    """
    lam = np.zeros(B.shape[0])
    if B.shape[0] <= 2 * _NNLS_ROWS:
        lam[:] = nnls(B.T, -c, maxiter=50 * max(B.shape))[0]
        return lam
    row_norm = np.linalg.norm(B, axis=1)
    rows = np.argpartition((B @ c) / (row_norm + 1e-300), _NNLS_ROWS)[:_NNLS_ROWS]
    for _ in range(rounds):
        lam[:] = 0.0
        lam[rows] = nnls(B[rows].T, -c, maxiter=50 * max(len(rows), B.shape[1]))[0]
        bad = np.flatnonzero(B @ (c + B.T @ lam) < -1e-12 * row_norm * np.linalg.norm(c))   # round-off of c + Bᵀλ
        if bad.size == 0:
            return lam
        rows = np.union1d(rows, bad)
    if exact:
        lam[:] = nnls(B.T, -c, maxiter=50 * max(B.shape))[0]
    return lam


def _project(B: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The Euclidean projection of t onto the cone {θ : Bθ ≥ 0}."""
    return t + B.T @ _polar_nnls(B, t, exact=True)


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
