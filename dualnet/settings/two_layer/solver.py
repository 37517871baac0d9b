"""The convex program over a pattern set, solved without CVXPY to a proven gap.

The program of docs/settings/two_layer.md over patterns D_i (and D'_i for the w_i),

    min ℓ(Σ_i D_i A v_i − Σ_i D'_i A w_i) + β Σ_i (‖v_i‖ + ‖w_i‖)  s.t.  (2D_i − I)Av_i ≥ 0, (2D'_i − I)Aw_i ≥ 0,

is a group lasso whose groups carry polyhedral cone constraints. The pieces live beside
this module: the augmented Lagrangian with FISTA subproblems (:mod:`.proximal`), the proven
lower bound of the restricted program and the feasibility repair (:mod:`.restricted`), and
the results (:mod:`.fits`). The group lasso over fixed atoms (vector outputs) is in
:mod:`.atoms` and is re-exported here.

The returned primal point is feasible: a group whose cone constraints the iterate violates
is replaced by its Euclidean projection onto its cone, and the reported ``value`` and ``F``
are those of the ReLU network's forward pass.
"""

from __future__ import annotations

import time

import numpy as np

from ...errors import InputError
from ...losses import Loss, get_loss
from .atoms import solve_atoms
from .fits import AtomFit, PatternFit, _check, _stop
from .newton import _active_set_newton
from .proximal import _INNER, _al_round, _Link, _scales
from .restricted import _better_multipliers, _extrapolated, _finish

__all__ = ["AtomFit", "PatternFit", "solve_atoms", "solve_patterns"]

#: rounds combined by the dual extrapolation
_ANDERSON = 5
#: proven gap (relative to P(0)) at which Newton on the working set takes over (smooth losses), and the
#: factor by which the first-order rounds must close the gap before it tries again. Measured on peer
#: problem A (tol 1e-6; first-order alone: 69 500 steps): Newton from 3e-3 after 8 000 first-order
#: steps, from 1e-2 after 4 000 (the fastest), from 5e-2 after 2 000 but with 5× the Newton steps
#: (far from the optimum its faces are wrong and many groups enter and leave).
_POLISH, _POLISH_AGAIN = 1e-2, 10.0
#: proven gap (relative to P(0)) above which the first-order rounds run in single precision
_SINGLE = 1e-2
#: normalized slack a_jᵀθ/(‖a_j‖‖θ‖) below which a row starts tight in the Newton polish
_TIGHT = 1e-6
#: rounds of group entry in the Newton polish (peer problem A from 1e-2 needs 5; a bad start can cycle), and
#: groups entering per round (6 rounds of 20 were too few from 1e-2)
_ENTER_ROUNDS, _ENTER = 12, 40
#: entries (samples × face coordinates) up to which Newton's system is formed: 128 MB
_NEWTON_ENTRIES = 2 ** 24
#: groups entering the working set per first-order round: the most of _GROW_MIN, a share of all groups
#: and a fraction of the working set. Measured on peer problem A (500 groups) and two other draws of its
#: patterns (CPU seconds, sum of the three): at least 10: 4.8, 20: 4.4, 25: 4.1, 30: 4.6 (early rounds on a
#: handful of groups cost the loop's overhead and leave the working set far from the optimum's ~90 groups).
_GROW_MIN, _GROW_SHARE, _GROW_FRACTION = 10, 0.05, 0.5


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
    # lam: multipliers of every group for the certificate (any λ ≥ 0 is valid), improved by _rho_bound
    # and, before each certificate, replaced group by group by the AL multipliers mu where those bound
    # better (measured on peer problem A and two other pattern draws: 14% less time than taking mu
    # for every working group, as the certificate's projected-gradient work is kept).
    work = np.any(T != 0, axis=0)      # the working set: groups the subproblems optimize
    steps, best, stopped, grow, history = 0, None, "max_iter", True, []
    newton, polish_at = 0, _POLISH * p0
    newton_ok = link.smooth and type(loss).curvature is not Loss.curvature     # Newton needs ∇²ℓ
    while True:
        Z = A @ T
        F = (Z * Dsig).sum(axis=1, keepdims=True)
        extra = [start.U] if (start is not None and steps == 0 and start.U is not None
                              and start.U.shape == Y.shape) else []
        history.append(link.duals(F)[-1])
        extra += _extrapolated(history[-_ANDERSON - 1:], Y, loss)
        if steps:
            lam = _better_multipliers(A, (extra or link.duals(F))[-1], S, Dsig, pen, mu, lam)
        fit, bounds = _finish(A, Y, beta, loss, T, S, Dsig, sig, lam, link, F, pen, free, extra)
        if best is None or fit[1] - fit[2] < best[1] - best[2]:
            best, best_lam = fit, lam.copy()
        stopped = _stop(best[1] - best[2], tol * p0, deadline, steps, max_iter)
        if stopped is None and newton_ok and best[1] - best[2] <= polish_at and _fits_newton(A, S, best[0], pen):
            # Close enough for the working set and the faces to be (nearly) those of the optimum:
            # Newton finishes. If its point does not certify, the first-order rounds go on and
            # Newton tries again once they have closed the gap _POLISH_AGAIN times more.
            polish_at = (best[1] - best[2]) / _POLISH_AGAIN
            cand, cand_lam, k = _polish(A, Y, beta, loss, best[0], S, Dsig, sig, lam, link, pen, free, tol * p0,
                                        deadline)
            newton += k
            if cand[1] - cand[2] < best[1] - best[2]:
                best, best_lam = cand, cand_lam
            stopped = _stop(best[1] - best[2], tol * p0, deadline, steps, max_iter)
        if stopped is not None:
            break
        # Grow the working set by the groups whose dual constraint the point violates most, and
        # drop the zero groups whose constraint holds (each step then costs less).
        out = np.flatnonzero(~work & (bounds > beta))
        if out.size:
            grow_by = max(_GROW_MIN, int(_GROW_SHARE * work.size), int(_GROW_FRACTION * work.sum()))
            add = out[np.argsort(-bounds[out])][:grow_by]
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
                                     deadline, single=best[1] - best[2] > _SINGLE * p0)
        T[:, idx], mu[:, idx] = Tw, muw
        steps += k
    Tb, value, lower, Fb, U = best
    state = {"mu_v": mu[:, :Pv], "mu_w": mu[:, Pv:], "lam_v": best_lam[:, :Pv], "lam_w": best_lam[:, Pv:],
             "rho_cone": rho_c, "newton_steps": newton}
    if not link.smooth:
        state.update(eta=link.eta, rho_link=link.rho)
    return PatternFit(F=Fb, U=U, value=value, lower=lower, p0=p0, iterations=steps,
                      seconds=time.perf_counter() - t0, converged=bool(value - lower <= tol * p0), stopped=stopped,
                      state=state, V=Tb[:, :Pv], W=Tb[:, Pv:], D=D, Dw=Dw)


def _polish(A, Y, beta, loss, T, S, Dsig, sig, lam, link, pen, free, tol, deadline):
    """Newton on the working set of the feasible point ``T``: ((θ, value, lower, F, U), multipliers, steps).

    A row starts tight where its normalized slack is below _TIGHT (at most p − 1 per group:
    a nonzero θ leaves at least one direction). When the certificate of Newton's point finds
    groups outside the working set whose dual constraint is violated, they enter along
    their steepest feasible direction (the projection of c_i onto their cone, c_i + B_iᵀλ_i
    with the certificate's NNLS multipliers) and Newton runs again. The groups Newton does
    not optimize keep their multipliers ``lam`` for the certificate.
    """
    lam, steps, best = lam.copy(), 0, None
    for _ in range(_ENTER_ROUNDS):
        Tn, lam_n, k = _active_set_newton(A, Y, loss, beta, pen, Dsig, S, T, _tight_rows(A, S, T, pen), 1e-6 * tol,
                                          deadline)
        steps += k
        active = np.any(Tn != 0, axis=0)
        lam[:, active] = lam_n[:, active]
        F = ((A @ Tn) * Dsig).sum(axis=1, keepdims=True)
        fit, bounds = _finish(A, Y, beta, loss, Tn, S, Dsig, sig, lam, link, F, pen, free)
        if best is None or fit[1] - fit[2] < best[0][1] - best[0][2]:
            best = (fit, lam.copy())
        out = np.flatnonzero(~active & (bounds > beta * (1.0 + 1e-9)))
        if fit[1] - fit[2] <= tol or out.size == 0 or time.perf_counter() > deadline:
            break
        T = Tn.copy()
        out = out[np.argsort(-bounds[out])][:_ENTER]
        U = fit[4]
        C = A.T @ (Dsig[:, out] * U)
        direction = C + A.T @ (S[:, out] * lam[:, out])            # on each cone: the projection of c_i
        direction /= np.maximum(np.linalg.norm(direction[:pen], axis=0), 1e-300)
        curvature = float(np.max(loss.curvature(F, Y)))
        kappa = curvature * np.sum((Dsig[:, out] * (A @ direction)) ** 2, axis=0)
        step = direction * ((bounds[out] - beta) / np.maximum(kappa, 1e-300))
        T[:, out] = _joint_scale(A, Y, loss, beta, pen, F, Dsig[:, out], step) * step
    return best[0], best[1], steps


def _joint_scale(A, Y, loss, beta, pen, F, Dsig, step) -> float:
    """One scale t ∈ (0, 1] for the entering groups' steps: a Newton step on t ↦ ℓ(F + tΔF) + βt Σ‖step_i‖.

    Each step alone minimizes a quadratic model for its own group; together, where their
    directions overlap, they overshoot (measured on peer problem A: the value doubled and
    most entering groups left again; jointly scaled, 108 Newton steps instead of 143).
    """
    dF = ((A @ step) * Dsig).sum(axis=1, keepdims=True)
    slope = float(np.sum(-loss.dual_point(F, Y) * dF)) + beta * float(np.linalg.norm(step[:pen], axis=0).sum())
    curve = float(np.sum(loss.curvature(F, Y) * dF ** 2))
    if slope >= 0 or curve <= 0:
        return 1.0
    return min(1.0, -slope / curve)


def _fits_newton(A: np.ndarray, S: np.ndarray, T: np.ndarray, pen: int) -> bool:
    """Whether Newton's system on the faces of ``T`` (n × face coordinates, formed in full) stays small.

    Measured at n = 20 000, d = 50 (β = 20, the master over 100 patterns, 200 groups of 51
    coordinates): one Newton step (conjugate gradients on a system of up to 1.6 GB) took 138 s,
    past the solve's time budget, and the peak memory was 3.3 GB; the first-order rounds go on
    there instead.
    """
    free_rows = A.shape[1] - _tight_rows(A, S, T, pen).sum(axis=0)
    coordinates = int(free_rows[np.any(T[:pen] != 0, axis=0)].sum())
    return A.shape[0] * coordinates <= _NEWTON_ENTRIES


def _tight_rows(A: np.ndarray, S: np.ndarray, T: np.ndarray, pen: int) -> np.ndarray:
    """Rows whose normalized slack a_jᵀθ/(‖a_j‖‖θ‖) is below _TIGHT, at most p − 1 per nonzero group."""
    slack = S * (A @ T)
    scale = np.linalg.norm(A, axis=1)[:, None] * np.linalg.norm(T, axis=0)[None, :]
    normalized = slack / np.maximum(scale, 1e-300)
    rank = np.argsort(np.argsort(normalized, axis=0, kind="stable"), axis=0)
    return np.any(T[:pen] != 0, axis=0)[None, :] & (normalized <= _TIGHT) & (rank < A.shape[1] - 1)
