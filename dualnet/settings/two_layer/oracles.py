"""The extreme-point oracle ρ(U) = max_{‖w‖≤1} ‖Uᵀ(Xw)_+‖ (docs/settings/two_layer.md).

max over patterns of ‖Π_{K_i}(±AᵀD_i u)‖, K_i = {z : (2D_i − I)Az ≥ 0} (Moreau: the
largest linear value over a cone ∩ ball is the norm of the projection onto the cone).
r ≤ 2: closed form over angular sectors. r ≥ 3: one NNLS per pattern, whose value
‖c + Bᵀλ‖ with λ ≥ 0 is an upper bound for ANY λ, so the maximum over a complete
enumeration is a rigorous upper bound (exact). Otherwise a many-start ascent gives a
lower estimate (not a proof); the proven upper bound then comes from branch and bound
(:mod:`.bnb`).
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import nnls

from ...budget import Budget
from ...linalg import digest
from .arrangement import (
    CHUNK,
    MAX_PATTERNS,
    Patterns,
    _cached_enumeration,
    _directions_2d,
    _hyperplanes,
    _patterns_of,
    _run,
    _unique_columns,
    geometry,
    pattern_bound,
)


@dataclass(frozen=True)
class OracleResult:
    """ρ(U) = max over unit first-layer weights w of ‖Uᵀ(Xw)_+‖ and the atoms attaining it.

    Attributes
    ----------
    value : float
        ρ(U): a rigorous upper bound equal to ρ up to round-off when ``exact``; otherwise
        the best value found (a lower estimate).
    exact : bool
        Whether every pattern was examined exactly.
    method : str
        "sectors" (rank ≤ 2), "enumeration+nnls", or "heuristic (... starts)".
    reason : str
        Why the value is not exact ("" when it is).
    Z : ndarray (r, k)
        Reduced unit directions of the best atoms found, best first.
    values : ndarray (k,)
        Their values ‖Uᵀ(AZ)_+‖.
    D : ndarray of bool (n, k)
        Their patterns.
    upper : float
        A proven upper bound on ρ(U): ``value`` itself when ``exact``, otherwise the
        best bound proven (branch and bound over cones, or the norm bound of
        :func:`norm_bound`). ``nan`` means "not computed" and reads as ``value`` when exact.
    """

    value: float
    exact: bool
    method: str
    reason: str
    Z: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    D: np.ndarray = field(repr=False)
    upper: float = float("nan")

    @property
    def proven_upper(self) -> float:
        """A proven upper bound on ρ(U) (``value`` when exact)."""
        return self.value if self.exact else self.upper


def norm_bound(A: np.ndarray, U: np.ndarray) -> float:
    """A proven upper bound on ρ(U) = max_{‖z‖≤1} ‖Uᵀ(Az)_+‖ from norms alone (no search).

    One output: Σ_{u_i>0} u_i(a_iᵀz)_+ ≤ ‖u_+‖·‖(A_+z)_+‖ ≤ ‖u_+‖·σ_max(A_+) (Cauchy–Schwarz
    on the rows where u is positive), and also ≤ Σ_{u_i>0} u_i‖a_i‖; the same for −u.
    Several outputs: ‖Uᵀ(Az)_+‖ ≤ ‖U‖₂‖Az‖ ≤ ‖U‖₂σ_max(A), and ≤ (Σ_k ρ̄(u_k)²)^{1/2}.
    Cheap and loose; branch and bound tightens it.

    Examples
    --------
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> float(norm_bound(A, np.array([[1.0], [1.0]])))     # ρ = √2 here: the bound is tight
    1.4142135623730951
    """
    row_norms = np.linalg.norm(A, axis=1)

    def one(u: np.ndarray) -> float:
        best = 0.0
        for side in (u > 0, u < 0):
            if np.any(side):
                w = np.abs(u[side])
                best = max(best, min(float(np.linalg.norm(w)) * float(np.linalg.norm(A[side], 2)),
                                     float(w @ row_norms[side])))
        return best

    per_output = float(np.sqrt(sum(one(u) ** 2 for u in U.T)))
    if U.shape[1] == 1:
        return per_output
    return min(per_output, float(np.linalg.norm(U, 2)) * float(np.linalg.norm(A, 2)))


def _cone_max(A: np.ndarray, d: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Max cᵀz over ‖z‖ ≤ 1, (2D − I)Az ≥ 0: ‖Π_K(c)‖, by NNLS on the polar cone (Moreau).

    Returns the value ‖c + Bᵀλ‖ (an upper bound for any λ ≥ 0, so a rigorous one), the
    maximizer z = Π_K(c)/‖Π_K(c)‖ and the multipliers λ (one per row of A).
    """
    B = np.where(d[:, None], A, -A)
    nb = np.linalg.norm(B, axis=1)
    keep = nb > 0
    lam = np.zeros(A.shape[0])
    if not np.any(keep):
        nc = float(np.linalg.norm(c))
        return nc, (c / nc if nc > 0 else c), lam
    Bk = B[keep] / nb[keep, None]
    lk, _ = nnls(Bk.T, -c, maxiter=50 * max(Bk.shape))
    p = c + Bk.T @ lk
    lam[keep] = lk / nb[keep]
    val = float(np.linalg.norm(p))
    return val, (p / val if val > 0 else np.zeros_like(c)), lam


def _sector_values(A: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact max over each chamber of |uᵀ(Az)_+|, rank ≤ 2: values (P,), maximizers (r×P), patterns (n×P)."""
    r = A.shape[1]
    if r == 1:
        Z = np.array([[1.0, -1.0]])
        D = _patterns_of(A, Z)
        return np.abs(u @ np.maximum(A @ Z, 0.0)), Z, D
    lo, hi, mid = _directions_2d(_hyperplanes(A))
    D = _patterns_of(A, mid)
    C = A.T @ (D * u[:, None])                      # on chamber k, uᵀ(Az)_+ = c_kᵀz
    best_val, best_z = np.full(D.shape[1], -np.inf), np.zeros((2, D.shape[1]))
    e_lo, e_hi = np.vstack([np.cos(lo), np.sin(lo)]), np.vstack([np.cos(hi), np.sin(hi)])
    for sigma in (1.0, -1.0):
        c = sigma * C
        nc = np.linalg.norm(c, axis=0)
        psi = np.mod(np.arctan2(c[1], c[0]) - lo, 2 * np.pi)
        inside = psi <= hi - lo                        # the unconstrained maximizer c/‖c‖ lies on the arc
        v_lo, v_hi = np.sum(c * e_lo, axis=0), np.sum(c * e_hi, axis=0)
        val = np.where(inside, nc, np.maximum(v_lo, v_hi))
        z = np.where(inside, c / np.where(nc > 0, nc, 1.0), np.where(v_lo >= v_hi, e_lo, e_hi))
        better = val > best_val
        best_val, best_z = np.where(better, val, best_val), np.where(better, z, best_z)
    return best_val, best_z, D


def _nnls_task(args: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Exact values of a chunk of patterns, in order of their upper bound ‖c_i‖, pruned.

    ``args`` is (A, D, u, top[, limit[, deadline]]). Returns (indices, values, maximizers)
    of the evaluated patterns and ``rest``, a proven upper bound on the value of every
    pattern left out: pruned ones have ‖c_i‖ (≥ their value) at most the ``top``-th value
    returned; with ``limit`` (at most that many evaluations) or ``deadline`` (a
    ``time.time()`` after which the scan stops), ``rest`` is the largest ‖c_i‖ not
    evaluated.
    """
    A, D, u, top, *rest_args = args
    limit = rest_args[0] if rest_args else None
    deadline = rest_args[1] if len(rest_args) > 1 else None
    C = A.T @ (D * u[:, None])
    upper = np.linalg.norm(C, axis=0)
    order = np.argsort(-upper)
    idx, vals, Zs = [], [], []
    rest = 0.0
    for i in order:
        if len(vals) >= top and upper[i] <= np.sort(vals)[-top]:
            break
        if (limit is not None and len(vals) >= limit) or (deadline is not None and time.time() >= deadline):
            rest = float(upper[i])         # the largest bound not evaluated (order is decreasing)
            break
        v1, z1, _ = _cone_max(A, D[:, i], C[:, i])
        v2, z2, _ = _cone_max(A, D[:, i], -C[:, i])
        idx.append(i)
        vals.append(max(v1, v2))
        Zs.append(z1 if v1 >= v2 else z2)
    return np.array(idx, dtype=int), np.array(vals), np.array(Zs).T.reshape(A.shape[1], -1), rest


def _exact_values(A: np.ndarray, u: np.ndarray, P: Patterns, top: int, executor: Executor | None,
                  progress: bool | None, budget: Budget | None = None
                  ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, float]:
    """The complete scan: (value, maximizers, values, patterns, rest); ``rest`` > value means it was cut short."""
    D = P.D
    remaining = (budget or Budget(None)).remaining()
    deadline = None if remaining == np.inf else time.time() + remaining
    chunks = [np.arange(i, min(i + CHUNK, D.shape[1])) for i in range(0, D.shape[1], CHUNK)]
    tasks = [(A, D[:, c], u, top, None, deadline) for c in chunks]
    results = _run(executor, _nnls_task, tasks, progress, "oracle (patterns)")
    idx = np.concatenate([c[res[0]] for c, res in zip(chunks, results)])
    vals = np.concatenate([res[1] for res in results])
    Z = np.hstack([res[2] for res in results])
    rest = max(res[3] for res in results)
    order = np.argsort(-vals)
    return float(vals[order[0]]) if vals.size else 0.0, Z[:, order], vals[order], D[:, idx[order]], rest


def _values(A: np.ndarray, U: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """‖Uᵀ(AZ)_+‖ for each column of Z."""
    return np.linalg.norm(U.T @ np.maximum(A @ Z, 0.0), axis=0)


def _ascent(A: np.ndarray, U: np.ndarray, Z: np.ndarray, iters: int = 60, budget: Budget | None = None
            ) -> np.ndarray:
    """Fixed-point ascent z ← Aᵀ D(z) U v / ‖·‖ with v = Uᵀg/‖Uᵀg‖ (the sign of uᵀg for K = 1).

    Once ``budget`` is spent it stops after a few steps (each is O(n r S) for S starts).
    """
    for k in range(iters):
        if k >= 5 and budget is not None and budget.expired():
            break
        G = A @ Z
        act = G > 0
        V = U.T @ np.maximum(G, 0.0)                       # K×S
        nv = np.linalg.norm(V, axis=0)
        V = np.where(nv > 0, V / np.where(nv > 0, nv, 1.0), 1.0 / np.sqrt(U.shape[1]))
        grad = A.T @ (act * (U @ V))
        ng = np.linalg.norm(grad, axis=0)
        Z_new = np.where(ng > 0, grad / np.where(ng > 0, ng, 1.0), Z)
        if np.allclose(Z_new, Z, atol=1e-12):
            break
        Z = Z_new
    return Z


def _local_search(A: np.ndarray, u: np.ndarray, z: np.ndarray, rounds: int = 10, budget: Budget | None = None
                  ) -> tuple[float, np.ndarray]:
    """Exact maximum in z's chamber, then moves to the best neighbouring chamber across an active facet.

    Each move costs up to 2r NNLS of n rows (slow at n = 20 000): ``budget`` stops the moves.
    """
    d = A @ z > 0
    best, best_z = -np.inf, z
    for k in range(rounds):
        if k and budget is not None and budget.expired():
            break
        c = A.T @ (d * u)
        cand = [(*_cone_max(A, d, s * c), d) for s in (1.0, -1.0)]
        val, zz, lam, _ = max(cand, key=lambda t: t[0])
        if val <= best * (1 + 1e-12):
            break
        best, best_z = val, zz
        active = np.flatnonzero(lam > 1e-12)
        active = active[np.argsort(-lam[active])][: A.shape[1]]        # the facets pressing hardest
        moves = []
        for j in active:
            if budget is not None and budget.expired():
                break
            d2 = d.copy()
            d2[j] = ~d2[j]
            c2 = A.T @ (d2 * u)
            moves.append((max(_cone_max(A, d2, c2)[0], _cone_max(A, d2, -c2)[0]), d2))
        if not moves:
            break
        top_val, top_d = max(moves, key=lambda t: t[0])
        if top_val <= best * (1 + 1e-12):
            break
        d = top_d
    return best, best_z


def _heuristic(A: np.ndarray, U: np.ndarray, seeds: np.ndarray | None, n_starts: int, seed: int,
               top: int, budget: Budget | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Many-start ascent for ρ(U): the best value found (a lower estimate), directions and values.

    The vectorized ascent always runs; the exact evaluations over a random pool and the
    local searches (the costly part at large rank) stop once ``budget`` is spent.
    """
    budget = budget or Budget(None)
    r = A.shape[1]
    rng = np.random.default_rng(seed)
    starts = [rng.standard_normal((r, n_starts))]
    if seeds is not None and seeds.size:
        starts.insert(0, seeds)
    Z = np.hstack(starts)
    Z = Z / np.maximum(np.linalg.norm(Z, axis=0), 1e-300)
    if U.shape[1] == 1:
        Z = np.hstack([Z, -Z])       # both signs of uᵀ(Az)_+
    Z = _ascent(A, U, Z, budget=budget)
    vals = _values(A, U, Z)
    order = np.argsort(-vals)
    Z, vals = Z[:, order], vals[order]
    if U.shape[1] == 1 and not budget.expired():
        # Exact values over the chambers of a larger random pool and of the ascent's end
        # points (pruned by the bound ‖c_i‖, as in the exact oracle): catches small basins.
        pool = rng.standard_normal((r, 10 * n_starts))
        D_pool = _unique_columns(np.hstack([_patterns_of(A, pool), A @ Z > 0]))
        # At large rank ‖c_i‖ prunes little, and each NNLS costs O(n r²): cap the evaluations.
        deadline = None if budget.time_limit is None else time.time() + budget.remaining()
        idx, pvals, pZ, _ = _nnls_task((A, D_pool, U[:, 0], max(top, 8), 4 * max(top, 8), deadline))
        Z, vals = np.hstack([pZ, Z]), np.concatenate([pvals, vals])
        order = np.argsort(-vals)
        Z, vals = Z[:, order], vals[order]
        # Then polish the best few exactly inside their chambers and their neighbours.
        keep = _unique_columns(A @ Z[:, : 4 * top] > 0)
        polished = []
        for j in range(min(keep.shape[1], max(8, top))):
            if budget.expired():
                break
            z0 = Z[:, np.flatnonzero(np.all((A @ Z > 0) == keep[:, [j]], axis=0))[0]]
            val, z = _local_search(A, U[:, 0], z0, budget=budget)
            polished.append((float(_values(A, U, z[:, None])[0]), z))
        if polished:
            Zp = np.array([z for _, z in polished]).T
            Z = np.hstack([Zp, Z])
            vals = np.concatenate([[v for v, _ in polished], vals])
            order = np.argsort(-vals)
            Z, vals = Z[:, order], vals[order]
    return float(vals[0]) if vals.size else 0.0, Z, vals


def _inexact_reason(n: int, r: int, K: int, bound: int, max_patterns: int, bias: bool = False) -> str:
    tail = ("so rho is bounded above by a proven but loose bound (the lower bound is a proof, possibly far from "
            "the optimum) and estimated from below by a many-start search (bound_estimate, not a proof)")
    if K > 1:
        return (f"vector outputs (K={K}): sup ||U^T (Xw)_+|| over ||w|| <= 1 is a copositive-type problem "
                f"(docs/settings/two_layer.md; Sahiner et al., ICLR 2021) with no exact method here, {tail}")
    return (f"rank(X)={r}{' (with the bias column)' if bias else ''} allows up to {bound:.3g} arrangement patterns, "
            f"more than max_patterns={max_patterns:,}, {tail}")


#: the rtol at which a finished branch-and-bound oracle's bound is tight enough for the certificate
TIGHT = 1e-5
#: proven results of finished branch-and-bound oracles, by the fingerprint of (A, u): the certificate
#: of a cutting plane's last dual point then reuses its oracle's proof instead of searching again
_PROVEN: dict[bytes, tuple[OracleResult, Any]] = {}
#: the last branch-and-bound search, by the fingerprint of A: its leaves start the next search on the same A
#: (the certificate's search for a network's own dual point after a cutting plane, rank 3, n = 2000: about
#: 2 s of CPU warm against 6 s from the root cones; its tree is refined where the nearby dual point peaked)
_LAST_SEARCH: dict[bytes, Any] = {}


def _searched(A: np.ndarray, res: Any) -> Any:
    """Keep ``res`` as the search that starts the next one on ``A``; returns it."""
    _LAST_SEARCH.clear()
    _LAST_SEARCH[digest(A)] = res
    return res


def _bnb_oracle(A: np.ndarray, U: np.ndarray, floor: float, *, top: int = 1, seeds: np.ndarray | None = None,
                executor: Executor | None = None, seconds: float | None = None, rtol: float = 1e-3,
                n_starts: int = 100, warm: Any = None) -> tuple[OracleResult, Any]:
    """The oracle of a cutting plane by branch and bound over cones (:mod:`.bnb`), one output.

    Asks "is ρ(u) ≤ floor?" (the cutting plane passes β(1 + ε/2), below its convergence test):
    while no value above floor is found, only cones whose bound is at most floor are pruned;
    above it, those within rtol of the best. The atoms are the best directions met in
    distinct chambers (their patterns are the most violated the search saw); ``upper`` is
    proven, and a finished proof of ρ ≤ floor, or a bracket to at most ``TIGHT``, is kept
    with its certificate for the certificate of the same point (:data:`_PROVEN`).
    ``warm`` (the search returned last, for a nearby u) starts the search from its leaves.
    Returns the result and the search (the next round's ``warm``).
    """
    from .bnb import rho_bound  # bnb builds on this module's ascent

    u = U[:, 0]
    res = _searched(A, rho_bound(A, u, rtol=rtol, time_limit=seconds, incumbent=seeds, executor=executor,
                                 n_starts=n_starts, floor=floor, warm=warm))
    Z = res.atoms if res.atoms is not None and res.atoms.shape[1] else res.z[:, None]
    vals = np.abs(u @ np.maximum(A @ Z, 0.0))
    order = np.argsort(-vals, kind="stable")
    Z, vals = Z[:, order], vals[order]
    how = "complete" if res.complete else res.stopped
    out = OracleResult(float(max(res.lower, vals[0] if vals.size else 0.0)), False,
                       f"branch and bound ({res.nodes} cones, {how})",
                       "" if res.complete else f"branch and bound stopped: {res.stopped}", Z, vals, A @ Z > 0,
                       float(res.upper))
    if res.complete and (res.lower <= floor or rtol <= TIGHT):      # a proof of ρ ≤ floor, or a tight bracket
        if len(_PROVEN) >= 8:
            _PROVEN.pop(next(iter(_PROVEN)))
        _PROVEN[digest(A, U)] = (out, res.certificate)
    return out, res


def _reuse(A: np.ndarray, U: np.ndarray) -> OracleResult | None:
    """The kept proof for (A, U), its bound re-checked by :func:`.cones.check_certificate` (NumPy alone)."""
    from .cones import check_certificate

    kept = _PROVEN.get(digest(A, U))
    if kept is None:
        return None
    out, certificate = kept
    try:
        upper = check_certificate(A, U[:, 0], certificate)
    except ValueError:            # a certificate that fails its check proves nothing: search again
        return None
    return replace(out, upper=max(float(upper), out.value))


def _oracle(A: np.ndarray, U: np.ndarray, *, top: int = 1, seeds: np.ndarray | None = None,
            executor: Executor | None = None, progress: bool | None = None, max_patterns: int = MAX_PATTERNS,
            n_starts: int = 200, seed: int = 0, exact: bool | None = None, budget: Budget | None = None,
            bound_time: float = 0.0, bound_rtol: float = 1e-6) -> OracleResult:
    n, r = A.shape
    K = U.shape[1]
    if r == 0 or not np.any(U):
        return OracleResult(0.0, True, "trivial", "", np.zeros((r, 0)), np.zeros(0), np.zeros((n, 0), dtype=bool))
    bound = pattern_bound(len(_hyperplanes(A)), r)
    can_exact = K == 1 and (r <= 2 or bound <= max_patterns)
    proven = _reuse(A, U) if not can_exact and bound_time > 0 else None
    if proven is not None:            # a cutting plane's oracle already proved ρ of this very point
        return proven
    if can_exact and exact is not False:
        u = U[:, 0]
        if r <= 2:
            vals, Z, D = _sector_values(A, u)
            order = np.argsort(-vals)
            return OracleResult(float(vals[order[0]]), True, "sectors", "", Z[:, order], vals[order], D[:, order])
        P = _cached_enumeration(A, executor, progress, max_patterns)
        value, Z, vals, D, rest = _exact_values(A, u, P, top, executor, progress, budget)
        if rest <= value:
            return OracleResult(value, True, "enumeration+nnls", "", Z, vals, D)
        # The time budget cut the scan short: the patterns left have values at most ‖c_i‖ ≤ rest.
        return OracleResult(value, False, "enumeration+nnls (cut short)", "the time budget ended the pattern scan "
                            "early, so rho is bounded above by the largest unscanned ||A^T D_i u||", Z, vals, D, rest)
    value, Z, vals = _heuristic(A, U, seeds, n_starts, seed, top, budget)
    reason = _inexact_reason(n, r, K, bound, max_patterns) if not can_exact else "heuristic oracle requested"
    method = f"heuristic ({Z.shape[1]} starts)"
    upper = max(norm_bound(A, U), value)
    seconds = min(bound_time, (budget or Budget(None)).remaining())
    if seconds > 0:
        res = _branch_and_bound(A, U, Z[:, : max(top, 8)], seconds, bound_rtol, executor)
        upper = max(min(upper, res.upper), value)
        method += f" + branch and bound ({res.nodes} cones, {'complete' if res.complete else res.stopped})"
        if res.lower > value:         # the search found a better atom: it leads the list
            Z = np.hstack([res.z[:, None], Z])
            vals = np.concatenate([[res.lower], vals])
            value = res.lower
    return OracleResult(value, False, method, reason, Z, vals, A @ Z > 0, upper)


def _branch_and_bound(A: np.ndarray, U: np.ndarray, Z: np.ndarray | None, seconds: float, rtol: float,
                      executor: Executor | None) -> Any:
    """A proven upper bound on ρ(U) within ``seconds``, started from the directions Z (:mod:`.bnb`).

    One output starts from the leaves of the last search on the same A (:data:`_LAST_SEARCH`).
    """
    from .bnb import rho_bound, rho_bound_vector      # bnb builds on this module's ascent

    if U.shape[1] == 1:
        return _searched(A, rho_bound(A, U[:, 0], rtol=rtol, time_limit=seconds, incumbent=Z, executor=executor,
                                      n_starts=0, warm=_LAST_SEARCH.get(digest(A))))
    return rho_bound_vector(A, U, rtol=rtol, time_limit=seconds, executor=executor)


def oracle(U: np.ndarray, X: np.ndarray, *, top: int = 1, executor: Executor | None = None,
           progress: bool | None = None, max_patterns: int = MAX_PATTERNS, n_starts: int = 200, seed: int = 0,
           bias: bool = False, budget: Budget | None = None, bound_time: float = 0.0,
           bound_rtol: float = 1e-6) -> OracleResult:
    """Extreme-point oracle ρ(U) = max_{‖w‖≤1} ‖Uᵀ(Xw)_+‖ and its maximizing atoms (docs/settings/two_layer.md).

    Exact for one output: rank(X) ≤ 2 by a closed form over angular sectors; otherwise over
    the complete pattern enumeration (when the counting bound is at most ``max_patterns``)
    with one NNLS per pattern. Otherwise, and always for several outputs (a copositive-type
    problem), a many-start ascent gives a lower estimate and ``exact=False`` with the reason.
    With ``bias=True`` the atoms are (Xw + b)_+ with b free (docs/settings/spline.md#setting Variant A); ρ is +inf
    unless the columns of U sum to zero. ``budget`` (:class:`dualnet.budget.Budget`) cuts
    the search short; the proven upper bound stays valid. Beyond enumeration the proven
    ``upper`` comes from norms, tightened by up to ``bound_time`` seconds of branch and bound
    over cones (:func:`dualnet.settings.two_layer.bnb.rho_bound`) to relative accuracy
    ``bound_rtol``.

    Examples
    --------
    >>> import numpy as np
    >>> res = oracle(np.array([1.0, 1.0]), np.array([[1.0], [-1.0]]))
    >>> res.value, res.exact
    (1.0, True)
    """
    X = np.asarray(X, dtype=float)
    U = np.asarray(U, dtype=float).reshape(X.shape[0], -1)
    if bias:
        return _bias_oracle(U, X, top=top, executor=executor, progress=progress, max_patterns=max_patterns,
                            n_starts=n_starts, seed=seed, budget=budget, bound_time=bound_time, bound_rtol=bound_rtol)
    return _oracle(geometry(X).A, U, top=top, executor=executor, progress=progress, max_patterns=max_patterns,
                   n_starts=n_starts, seed=seed, budget=budget, bound_time=bound_time, bound_rtol=bound_rtol)


def _bias_oracle(U: np.ndarray, X: np.ndarray, *, bound_time: float = 0.0, bound_rtol: float = 1e-6,
                 budget: Budget | None = None, executor: Executor | None = None, **kw: Any) -> OracleResult:
    """ρ for atoms (Xw + b)_+, ‖w‖ ≤ 1, b free (biases unpenalized, docs/settings/spline.md#setting Variant A).

    b → +∞ makes the constant vector an atom of zero cost, so ρ = +∞ unless 1ᵀU = 0. Then,
    for fixed w, b ↦ Uᵀ(Xw + b1)_+ is piecewise linear with kinks at b = −x_iᵀw, so the
    supremum sits at a kink: ρ(U) = max_i ρ_0(U; X − 1x_iᵀ), the bias-free ρ of the data
    centred at each sample. Beyond enumeration each centred problem has a proven upper
    bound by norms; the ``bound_time`` of branch and bound goes to the largest of them in
    turn (the maximum is what the certificate needs), until they all sit within
    ``bound_rtol`` of the best value found.
    """
    n = X.shape[0]
    scale = max(float(np.abs(U).sum()), 1e-300)
    if np.any(np.abs(U.sum(axis=0)) > 1e-9 * scale):
        return OracleResult(np.inf, True, "bias: 1ᵀU ≠ 0", "", np.zeros((X.shape[1], 0)), np.zeros(0),
                            np.zeros((n, 0), dtype=bool))
    budget = budget or Budget(None)
    results = [_centred(U, X - X[i], budget, executor, kw) for i in range(n)]
    i_best = int(np.argmax([res.value for res in results]))
    best = results[i_best]
    value = best.value
    uppers = np.array([res.proven_upper for res in results])
    method = best.method
    deadline = time.perf_counter() + min(bound_time, (budget or Budget(None)).remaining())
    tightened: set[int] = set()
    while time.perf_counter() < deadline:
        open_ = [i for i in np.argsort(-uppers) if uppers[i] > value * (1 + bound_rtol) and i not in tightened]
        if not open_:
            break
        i = int(open_[0])
        share = max((deadline - time.perf_counter()) / len(open_), 1e-3)
        start = results[i].Z[:, :8] if results[i].Z.shape[1] else None
        res = _branch_and_bound(geometry(X - X[i]).A, U, start, share, bound_rtol, executor)
        uppers[i] = min(uppers[i], max(res.upper, results[i].value))
        value = max(value, res.lower)
        tightened.add(i)
        method = f"{best.method} + branch and bound on {len(tightened)} of {n} centred problems"
    exact = all(res.exact for res in results)
    upper = max(float(uppers.max()), value)
    return OracleResult(value, exact, method, "" if exact else next(r.reason for r in results if not r.exact),
                        best.Z, best.values, best.D, upper)


def _centred(U: np.ndarray, Xi: np.ndarray, budget: Budget, executor: Executor | None, kw: dict) -> OracleResult:
    """One centred problem of the bias oracle; once the budget is spent, only its norm bound (proven, instant)."""
    if not budget.expired():
        return oracle(U, Xi, bias=False, budget=budget, executor=executor, **kw)
    A = geometry(Xi).A
    return OracleResult(0.0, False, "norm bound (time budget spent)", "the time budget ended the search",
                        np.zeros((A.shape[1], 0)), np.zeros(0), np.zeros((A.shape[0], 0), dtype=bool),
                        norm_bound(A, U))
