"""The mathematics of a branch-and-bound certificate for ρ(u) and its re-check (docs/settings/two_layer.md).

Cones of directions, the bound a cone's multipliers prove, its floating-point margin, and
:func:`check_certificate`, which re-checks a certificate with NumPy alone (it never calls
the search of :mod:`.bnb` nor any solver).

ρ(u) = max_{‖z‖≤1} |f(z)|, f(z) = Σ_i u_i (a_iᵀz)_+ (A = n×r reduced design), is
max(ρ⁺(u), ρ⁺(−u)) with ρ⁺(v) = max_{‖z‖≤1} Σ_i v_i (a_iᵀz)_+. On a simplicial cone
C = {Rα : α ≥ 0} and for z = Rα ∈ C, ‖z‖ ≤ 1:

* terms with v_i > 0 are convex and positively homogeneous, so their sum is at most
  cᵀz + Σ_k α_k p_k (interpolation through the rays; a term positive at every ray is linear
  on C and goes to c exactly, see :func:`_cone_terms`);
* a term with v_i < 0 is −|v_i|(t)_+ ≤ −μ_i|v_i| t for every μ_i ∈ [0, 1] (exact with
  μ_i = 1 or 0 when the sign of a_iᵀz is fixed on C);
* λᵀα ≥ 0 for λ ≥ 0, so with M = R⁻¹ (α = Mz), f(z) ≤ qᵀz, q = c + Mᵀ(p + λ) − Σ μ_i|v_i| a_i,
  and max f over C ∩ ball ≤ ‖q‖ for ANY μ ∈ [0, 1], λ ≥ 0.

The roots are the r+1 cones of the simplex {−𝟙, e_1, …, e_r}, which cover R^r exactly. Rays
are integer vectors and a split halves a cone across the ray 2^i·r_i + 2^j·r_j of one edge
(near the middle of the arc), computed exactly (entries below 2^52), so the leaves cover R^r
exactly: there is no sliver to pay for.
Every node bound is recomputed with a floating-point safety margin (rounding in p, c, s and
q; the residual E = MR − I of the computed inverse). A point of a leaf lies in every cone on
its path from the root, so each leaf counts with the smallest bound on its path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ...errors import InputError

EPS = float(np.finfo(float).eps)

@dataclass(frozen=True)
class BnbCertificate:
    """Leaves of a bisection tree over cones of directions with the multipliers of their bounds.

    Node k is the cone spanned by ``rays[cones[k]]``; ``parent[k] = -1`` for the 2(r+1) roots
    (the r+1 root cones once for ρ⁺(u) and once for ρ⁺(−u), ``sign[k]`` = ±1). Every node
    that is not a leaf has exactly two children, its halves across the midpoint of one edge;
    ``leaves`` lists the others. Node k bounds f_σ on its cone with λ = ``lam[k]`` and μ_i =
    ``mu_val[mu_ptr[k]:mu_ptr[k+1]]`` for the samples ``mu_idx[…]`` (other samples with
    σu_i < 0 take μ_i = 1 if a_iᵀz ≥ 0 on the cone, else 0); ``bounds[k]`` is its claimed
    proven bound, and ``upper`` the maximum over leaves of the smallest bound on each
    leaf's path from its root.
    """

    rays: np.ndarray = field(repr=False)
    cones: np.ndarray = field(repr=False)
    parent: np.ndarray = field(repr=False)
    sign: np.ndarray = field(repr=False)
    leaves: np.ndarray = field(repr=False)
    lam: np.ndarray = field(repr=False)
    mu_ptr: np.ndarray = field(repr=False)
    mu_idx: np.ndarray = field(repr=False)
    mu_val: np.ndarray = field(repr=False)
    bounds: np.ndarray = field(repr=False)
    upper: float

    @property
    def n_leaves(self) -> int:
        return len(self.leaves)


# ======================================================================== geometry of cones
def _root_rays(r: int) -> np.ndarray:
    """Rays of the root simplex, rows [−𝟙, e_1, …, e_r] (integers: Σ e_k + (−𝟙) = 0 exactly)."""
    return np.vstack([np.full(r, -1.0), np.eye(r)])


def _root_cones(r: int) -> np.ndarray:
    """The r+1 root cones: every r-subset of the root rays (row k leaves ray k out)."""
    return np.array([[j for j in range(r + 1) if j != k] for k in range(r + 1)], dtype=np.int64)


#: rays are integer vectors below this size, so that r_i + r_j is computed exactly
RAY_MAX = 2.0 ** 52


def _midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The ray 2^i·a + 2^j·b (i, j ≥ 0, one of them 0) splitting an edge near its angular midpoint.

    The power of two brings the shorter ray to the length of the longer within a factor 2,
    so the split stays near the middle of the arc; the sum of integer vectors is exact
    (entries below RAY_MAX), or None when it would not be.
    """
    ea, eb = np.frexp(np.sqrt(a @ a))[1], np.frexp(np.sqrt(b @ b))[1]
    m = np.ldexp(a, max(eb - ea, 0)) + np.ldexp(b, max(ea - eb, 0))
    return m if np.all(np.abs(m) < RAY_MAX) else None


def _on_edge(m: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows where m = 2^i·a + b or a + 2^i·b exactly for an integer i ≥ 0 (m strictly inside the edge's cone)."""
    def scaled_copy(d: np.ndarray, x: np.ndarray) -> np.ndarray:       # d == 2^i x, i ≥ 0, x ≠ 0
        k = np.argmax(np.abs(x), axis=1)
        rows = np.arange(len(x))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = d[rows, k] / x[rows, k]
        i = np.frexp(np.where(ratio > 0, ratio, 1.0))[1] - 1
        return (ratio > 0) & (i >= 0) & np.all(np.ldexp(x, i[:, None]) == d, axis=1) & np.any(x != 0, axis=1)
    return scaled_copy(m - b, a) | scaled_copy(m - a, b)


def _scaled(R: np.ndarray) -> np.ndarray:
    """Rays (columns of b×r×r) times exact powers of two, largest entry in [1/2, 1): the same cones.

    The power comes from the largest entry (exact, unlike a norm), so the search and the
    check scale alike on any machine, and the cone's inverse is not skewed by ray lengths.
    """
    _, e = np.frexp(np.max(np.abs(R), axis=-2, keepdims=True))
    return np.ldexp(R, -e)


def _lipschitz(A: np.ndarray, u: np.ndarray) -> float:
    """S = Σ|u_i|‖a_i‖ (rounded up): a Lipschitz constant of f and a bound on ρ(u) itself."""
    n, r = A.shape
    return float(np.abs(u) @ np.sqrt(np.sum(A * A, axis=1))) * (1 + 4 * (n + r) * EPS)


def _inverses(R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """M ≈ R⁻¹ (b×r×r stack, R's columns are the rays), bound κ ≥ ‖R⁻¹‖₂ and ε ≥ ‖MR − I‖₂.

    ε adds the rounding of the product MR to its computed residual; κ = ‖M‖_F/(1 − ε)
    since R⁻¹ = (I + E)⁻¹M. κ = inf when ε ≥ 1/2 (a cone too thin to bound this way).
    """
    r = R.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            M = np.linalg.inv(R)
        except np.linalg.LinAlgError:
            M = np.stack([np.linalg.pinv(Ri) for Ri in R])
        nM = np.sqrt(np.sum(M * M, axis=(1, 2)))
        nR = np.sqrt(np.sum(R * R, axis=(1, 2)))
        E = M @ R - np.eye(r)
        eps_E = np.sqrt(np.sum(E * E, axis=(1, 2))) + 2 * r * EPS * nM * nR
    ok = np.isfinite(eps_E) & (eps_E < 0.5)
    kappa = np.where(ok, nM / np.where(ok, 1 - eps_E, 1.0), np.inf)
    return M, kappa, np.where(ok, eps_E, np.inf)


def _weigh(v: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Σ_i v_bi T_bik for b stacks (b×n, b×n×k): one batched product."""
    return np.matmul(v[:, None, :], T)[:, 0, :]


def _rows(w: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Σ_i w_bi a_i (b×r) for one A (n×r) or per-cone rows (b×m×r, the search's restricted rows)."""
    return w @ A if A.ndim == 2 else _weigh(w, A)


class Terms(NamedTuple):
    """What the bound of a batch of cones needs from the data (see :func:`_cone_terms`)."""

    T: np.ndarray        # b×n×r: a_iᵀr_k
    p: np.ndarray        # b×r: interpolated values of the convex terms that are not linear on the cone
    mu: np.ndarray       # b×n: default μ (1 where a concave term is positive at every ray)
    c: np.ndarray        # b×r: Σ v_i a_i over the convex terms positive at every ray (linear there)
    err: np.ndarray      # b×r: Σ |v_i|‖a_i‖‖r_k‖ over the terms whose rounding can reach p_k


def _cone_terms(A: np.ndarray, v: np.ndarray, R: np.ndarray) -> Terms:
    """Per cone (b×r×r rays as columns) and signed weights v (b×n): the terms of its bound.

    A may also be b×m×r, each cone's own rows (the search passes the rows whose hyperplane
    may cross the cone, :mod:`.bnb`); the other rows' linear part is then added to c by the caller.

    A convex term (v_i > 0) positive at every ray is split as (t)_+ = t + (−t)_+ (an identity):
    its linear part goes to c exactly and only (−t)_+, zero at the rays, is interpolated.
    So p_k = Σ_{v_i>0} v_i (±a_iᵀr_k)_+ holds only the terms that change sign on the cone, and
    on a thin cone the rounding of p, which R⁻¹ amplifies, stays small (with p = all convex
    terms it grew like ‖R⁻¹‖·S and stalled the search near 1e-5). The rounding of p_k is
    at most 2γ·err_k: only terms whose computed a_iᵀr_k is positive or within its rounding of
    zero contribute any. Default μ_i = 1 for v_i < 0 with a_iᵀr_k ≥ 0 for all k, else 0.
    """
    r = A.shape[-1]
    T = np.matmul(A, R)                                   # batched BLAS (einsum here does not use it)
    vp = np.maximum(v, 0.0)
    lin = (v > 0) & np.all(T >= 0, axis=2)
    P = np.maximum(np.where(lin[:, :, None], -T, T), 0.0)
    nr = np.sqrt(np.sum(R * R, axis=1))                   # b×r ray norms
    na = np.sqrt(np.sum(A * A, axis=-1))                  # n, or b×m for per-cone rows
    near = (P > 0) | (np.abs(T) <= 4 * (r + 2) * EPS * na[..., None] * nr[:, None, :])
    err = _weigh(vp * na, near * nr[:, None, :])
    mu = ((v < 0) & np.all(T >= 0, axis=2)).astype(float)
    return Terms(T, _weigh(vp, P), mu, _rows(vp * lin, A), err)


def _bounds(A: np.ndarray, v: np.ndarray, t: Terms, R: np.ndarray, M: np.ndarray, kappa: np.ndarray,
            eps_E: np.ndarray, lam: np.ndarray, mu: np.ndarray, S: float,
            n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Proven bounds of max f_v over cone ∩ ball for given multipliers (b cones); also q.

    The smaller of two bounds on the same over-estimate L(z) = cᵀz + pᵀR⁻¹z − Σ μ_i|v_i|a_iᵀz:

    * ‖q‖ with q = c + Mᵀ(p + λ) − Aᵀ(μ|v|), plus the rounding (γ = 4(n+2r)ε): of p (2γ·err,
      times κ ≥ ‖R⁻¹‖ as it enters through α = R⁻¹z), of the product Mᵀ(p + λ), of c, s and q;
      and the inverse residual: (p+λ)ᵀα = (p+λ)ᵀMz − (p+λ)ᵀEα with ‖α‖ ≤ κ;
    * the vertex bound max_k (h_k/‖r_k‖)_+ / g, h_k = L(r_k) = cᵀr_k + p_k − Σ μ_i|v_i|a_iᵀr_k,
      g = min_k ĉᵀr_k/‖r_k‖ for the unit centre ĉ: for z = Rα, α ≥ 0, L(z) = Σ α_k h_k
      ≤ max_k (h_k/‖r_k‖)_+ Σ α_k‖r_k‖ and g Σ α_k‖r_k‖ ≤ ĉᵀz ≤ ‖z‖ (see :func:`_vertex_bounds`).

    Capped by S, which bounds f on the whole ball. With per-cone rows (A b×m×r), ``n`` is the
    number of samples, so that the margin is the one the check computes on all rows.
    """
    n, r = (A.shape[-2] if n is None else n), A.shape[-1]
    pl = t.p + lam
    q = t.c + np.einsum("bkj,bk->bj", M, pl) - _rows(mu * np.abs(v), A)
    raw = np.sqrt(np.sum(q * q, axis=1))
    npl = np.sqrt(np.sum(pl * pl, axis=1))
    nM = np.sqrt(np.sum(M * M, axis=(1, 2)))
    gamma = 4 * (n + 2 * r) * EPS
    with np.errstate(invalid="ignore"):
        margin = gamma * (2 * kappa * np.sqrt(np.sum(t.err * t.err, axis=1)) + nM * npl + 3 * S + raw) \
            + eps_E * kappa * npl
        bound = np.where(np.isfinite(kappa), raw + margin, S)
    return np.minimum(np.minimum(bound, _vertex_bounds(A, v, t, R, mu, S, gamma)), S), q


def _vertex_bounds(A: np.ndarray, v: np.ndarray, t: Terms, R: np.ndarray, mu: np.ndarray, S: float,
                   gamma: float) -> np.ndarray:
    """The vertex bound of :func:`_bounds` with its rounding margin (+inf when g ≤ 1/4: a wide cone).

    It needs no inverse of R, so it stays tight on thin cones, where ‖R⁻¹‖ reaches 1e3 and
    the multipliers of ‖q‖ are not found in time (rank 5: a cone of 1° kept the bound 1.023
    of an ancestor while its over-estimate peaked at 0.78, by CVXPY). Rounding:
    |Δh_k| ≤ γ(2·err_k + 3S‖r_k‖) (p as in :func:`_bounds`; c, the products and the sums),
    and g and the norms to a few ε, covered by the factor 1 + γ and 4rε taken off g.
    """
    r = R.shape[-1]
    h = np.einsum("bj,bjk->bk", t.c, R) + t.p - _weigh(mu * np.abs(v), t.T)
    nr = np.sqrt(np.sum(R * R, axis=1))                                   # b×r
    centre = R.sum(axis=2)
    centre = centre / np.sqrt(np.sum(centre * centre, axis=1, keepdims=True))
    g = np.min(np.einsum("bj,bjk->bk", centre, R) / nr, axis=1) - 4 * r * EPS
    top = np.max(np.maximum(h + gamma * (2 * t.err + 3 * S * nr), 0.0) / nr, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(g > 0.25, top / np.where(g > 0.25, g, 1.0) * (1 + gamma), np.inf)


# ======================================================================== the check
def _validate(A: np.ndarray, u: np.ndarray, name: str = "u") -> tuple[np.ndarray, np.ndarray]:
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or not np.all(np.isfinite(A)):
        raise InputError(f"The 'A' parameter must be a finite 2-D array (n_samples, rank). Got shape {A.shape} "
                         "instead. Pass geometry(X).A of arrangement.py.")
    u = np.asarray(u, dtype=float)
    if u.shape[0] != A.shape[0] or u.ndim not in (1, 2) or not np.all(np.isfinite(u)):
        raise InputError(f"The '{name}' parameter must be a finite array with {A.shape[0]} rows (one per sample of "
                         f"A). Got shape {u.shape} instead.")
    return np.ascontiguousarray(A), u


def _check_tree(c: BnbCertificate, n: int, r: int) -> np.ndarray:
    """Check that the nodes form bisection trees of the root cones (for both signs).

    Returns the indices of the leaves.
    """
    N = len(c.cones)
    n_roots = 2 * (r + 1)
    rays = np.asarray(c.rays, dtype=float)
    cones, parent, sign = np.asarray(c.cones), np.asarray(c.parent), np.asarray(c.sign)
    if rays.ndim != 2 or rays.shape[1] != r or cones.shape != (N, r) or parent.shape != (N,) or sign.shape != (N,):
        raise InputError(f"certificate arrays have inconsistent shapes for rank {r}: rays {rays.shape}, cones "
                         f"{cones.shape}, parent {parent.shape}, sign {sign.shape}")
    if N < n_roots or len(rays) < r + 1 or not np.array_equal(rays[: r + 1], _root_rays(r)):
        raise InputError("certificate does not start from the root simplex {-1, e_1, ..., e_r}")
    roots = np.vstack([_root_cones(r)] * 2)
    if (not np.array_equal(cones[:n_roots], roots) or np.any(parent[:n_roots] != -1)
            or not np.array_equal(sign[:n_roots], np.repeat([1, -1], r + 1))):
        raise InputError("certificate roots are not the r+1 root cones for each sign of u")
    if np.any(cones < 0) or np.any(cones >= len(rays)):
        raise InputError("certificate cones index rays that do not exist")
    if not (np.all(np.abs(rays) < RAY_MAX) and np.array_equal(rays, np.round(rays))):
        raise InputError("certificate rays must be integer vectors with entries below 2^52 (exact sums)")
    kids = np.arange(n_roots, N)
    par = parent[n_roots:]
    if np.any(par < 0) or np.any(par >= kids) or np.any(sign[n_roots:] != sign[par]):
        bad = kids[(par < 0) | (par >= kids) | (sign[n_roots:] != sign[np.clip(par, 0, N - 1)])][0]
        raise InputError(f"certificate node {bad}: its parent must be an earlier node of the same sign")
    count = np.bincount(par, minlength=N)
    if np.any((count != 0) & (count != 2)):
        bad = int(np.flatnonzero((count != 0) & (count != 2))[0])
        raise InputError(f"certificate node {bad} has {count[bad]} children; a split cone has exactly 2 "
                         "(a leaf was dropped)")
    order = np.argsort(par, kind="stable")
    first, second = kids[order[0::2]], kids[order[1::2]]
    P = par[order[0::2]]
    d1, d2 = cones[first] != cones[P], cones[second] != cones[P]
    ok = (d1.sum(axis=1) == 1) & (d2.sum(axis=1) == 1)
    i, j = np.argmax(d1, axis=1), np.argmax(d2, axis=1)
    rows = np.arange(len(P))
    m = cones[first, i]
    ok &= (i != j) & (cones[second, j] == m) & ~np.any(cones[P] == m[:, None], axis=1)
    # Integers below 2^52: the sums are exact, so the children cover their parent exactly.
    ok &= _on_edge(rays[m], rays[cones[P, i]], rays[cones[P, j]])
    if not np.all(ok):
        bad = int(P[rows[~ok][0]])
        raise InputError(f"certificate node {bad}: its children are not its halves across a ray 2^i r_i + 2^j r_j "
                         "of an edge")
    leaves = np.flatnonzero(count == 0)
    if not np.array_equal(np.asarray(c.leaves), leaves):
        raise InputError("certificate leaves are not the nodes without children")
    return leaves


def _check_bounds(A: np.ndarray, u: np.ndarray, c: BnbCertificate, S: float) -> np.ndarray:
    """Recompute every node's bound from its multipliers (in blocks, to bound memory).

    A node that claims no bound (+inf: a split node of a warm-started search) gets +inf
    without computing: a leaf is then bounded by the finite bounds on its path, its own
    among them, which is all the covering needs.
    """
    n, r = A.shape
    N = len(c.cones)
    lam, ptr, idx, val = (np.asarray(c.lam, float), np.asarray(c.mu_ptr), np.asarray(c.mu_idx),
                          np.asarray(c.mu_val, float))
    if lam.shape != (N, r) or ptr.shape != (N + 1,) or ptr[0] != 0 or np.any(np.diff(ptr) < 0) \
            or ptr[-1] != len(idx) or idx.shape != val.shape:
        raise InputError("certificate multipliers have inconsistent shapes")
    if not (np.all(np.isfinite(lam)) and np.all(lam >= 0)):
        raise InputError(f"certificate node {int(np.flatnonzero(~(lam >= 0).all(axis=1))[0])}: lambda must be >= 0")
    owner = np.repeat(np.arange(N), np.diff(ptr))
    if np.any(idx < 0) or np.any(idx >= n) or not np.all((val >= 0) & (val <= 1)):
        bad = owner[(idx < 0) | (idx >= n) | ~((val >= 0) & (val <= 1))][0]
        raise InputError(f"certificate node {bad}: mu must index samples and lie in [0, 1]")
    sign = np.asarray(c.sign, float)
    if np.any(sign[owner] * u[idx] >= 0):
        bad = owner[sign[owner] * u[idx] >= 0][0]
        raise InputError(f"certificate node {bad}: mu is given for a sample with a nonnegative weight")
    rays, cones = np.asarray(c.rays, float), np.asarray(c.cones)
    out = np.full(N, np.inf)
    claimed = np.asarray(c.bounds, float)
    todo = np.flatnonzero(~(claimed == np.inf)) if claimed.shape == (N,) else np.arange(N)
    for lo in range(0, len(todo), 1024):
        blk = todo[lo:lo + 1024]
        R = _scaled(np.transpose(rays[cones[blk]], (0, 2, 1)))
        v = sign[blk, None] * u[None, :]
        terms = _cone_terms(A, v, R)
        mu = terms.mu
        counts = ptr[blk + 1] - ptr[blk]                  # the block's μ entries (its nodes need not be contiguous)
        entries = np.arange(counts.sum()) + np.repeat(ptr[blk] - (np.cumsum(counts) - counts), counts)
        mu[np.repeat(np.arange(len(blk)), counts), idx[entries]] = val[entries]
        M, kappa, eps_E = _inverses(R)
        bound, _ = _bounds(A, v, terms, R, M, kappa, eps_E, lam[blk], mu, S)
        out[blk] = bound
    return out


def check_certificate(A: np.ndarray, u: np.ndarray,
                      certificate: BnbCertificate | tuple[BnbCertificate, ...]) -> float:
    """Re-check a branch-and-bound certificate in NumPy alone; return the proven bound on ρ(u).

    Checks that the nodes form bisection trees of the root simplex for both signs of u (so
    the leaves cover R^r exactly: integer rays, each split at an exact ray 2^i r_i + 2^j r_j of an edge), that every
    multiplier is feasible (λ ≥ 0, μ ∈ [0, 1] and only on samples with σu_i < 0), and
    recomputes every node's bound with its floating-point margin; a leaf counts with the
    smallest bound on its path from the root. For U with K columns
    (a tuple of K certificates) it returns (Σ_k ρ̄_k²)^{1/2} ≥ max_{‖z‖≤1} ‖Uᵀ(Az)_+‖; an
    output the search did not reach in time has the certificate None, and its ρ̄_k is the
    norm bound, recomputed.

    Raises
    ------
    InputError (a ValueError)
        Naming the node that fails, or when a node's recomputed bound exceeds the bound the
        certificate claims for it.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> from dualnet.settings.two_layer.bnb import rho_bound
    >>> res = rho_bound(A, np.array([1.0, -1.0]))
    >>> bool(abs(check_certificate(A, np.array([1.0, -1.0]), res.certificate) - 1.0) < 1e-9)
    True
    """
    A, u = _validate(A, u)
    if u.ndim == 2:
        if not isinstance(certificate, tuple) or len(certificate) != u.shape[1]:
            raise InputError(f"certificate must be a tuple of {u.shape[1]} certificates, one per column of U")
        parts = np.array([check_certificate(A, u[:, k], c) for k, c in enumerate(certificate)])
        return float(np.sqrt(np.sum(parts ** 2)) * (1 + 4 * (len(parts) + 2) * EPS))
    if certificate is None:                # an output the search never reached: the norm bound
        from .oracles import norm_bound
        return norm_bound(A, u[:, None])
    if not isinstance(certificate, BnbCertificate):
        raise InputError(f"certificate must be a BnbCertificate. Got {type(certificate).__name__} instead.")
    n, r = A.shape
    S = _lipschitz(A, u)
    if r == 0 or S == 0:
        return 0.0
    leaves = _check_tree(certificate, n, r)
    bounds = _check_bounds(A, u, certificate, S)
    claimed = np.asarray(certificate.bounds, float)
    if claimed.shape != bounds.shape:
        raise InputError(f"certificate has {claimed.shape} bounds for {bounds.shape[0]} nodes")
    too_low = ~(bounds <= claimed * (1 + 1e-9) + 1e-12 * S)
    if np.any(too_low):
        k = int(np.flatnonzero(too_low)[0])
        raise InputError(f"certificate node {k}: its multipliers prove {bounds[k]:.17g}, not the bound "
                         f"{claimed[k]:.17g} it claims")
    eff = bounds.copy()
    parent = np.asarray(certificate.parent)
    for k in range(2 * (r + 1), len(eff)):         # a leaf's points lie in every cone of its path
        eff[k] = min(eff[k], eff[parent[k]])
    upper = float(eff[leaves].max(initial=0.0))
    if not upper <= certificate.upper * (1 + 1e-9) + 1e-12 * S:
        raise InputError(f"certificate claims upper={certificate.upper!r} below its leaves' maximum {upper!r}")
    return upper
