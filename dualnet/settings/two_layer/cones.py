"""The mathematics of a branch-and-bound certificate for ρ(u) and its re-check (docs/settings/two_layer.md).

Cones of directions, the bound a cone's multipliers prove, its floating-point margin, and
:func:`check_certificate`, which re-checks a certificate with NumPy alone (it never calls
the search of :mod:`.bnb` nor any solver).

ρ(u) = max_{‖z‖≤1} |f(z)|, f(z) = Σ_i u_i (a_iᵀz)_+ (A = n×r reduced design), is
max(ρ⁺(u), ρ⁺(−u)) with ρ⁺(v) = max_{‖z‖≤1} Σ_i v_i (a_iᵀz)_+. On a simplicial cone
C = {Rα : α ≥ 0} and for z = Rα ∈ C, ‖z‖ ≤ 1:

* terms with v_i > 0 are convex and positively homogeneous, so their sum is at most
  Σ_k α_k p_k, p_k = Σ_{v_i>0} v_i (a_iᵀr_k)_+ (interpolation through the rays);
* a term with v_i < 0 is −|v_i|(t)_+ ≤ −μ_i|v_i| t for every μ_i ∈ [0, 1] (exact with
  μ_i = 1 or 0 when the sign of a_iᵀz is fixed on C);
* λᵀα ≥ 0 for λ ≥ 0, so with M = R⁻¹ (α = Mz), f(z) ≤ qᵀz, q = Mᵀ(p + λ) − Σ μ_i|v_i| a_i,
  and max f over C ∩ ball ≤ ‖q‖ for ANY μ ∈ [0, 1], λ ≥ 0.

The roots are the r+1 cones of the exact simplex {e_1, …, e_r, −𝟙/√r}, which cover R^r
exactly; each split halves a cone across the midpoint of an edge. Every node bound is
recomputed with a floating-point safety margin (rounding in p, s and q; the residual
E = MR − I of the computed inverse); the rounding of each stored midpoint ray (which may
leave slivers of width δ uncovered) costs S·δ, S = Σ|u_i|‖a_i‖ being a Lipschitz constant
of f. A point of a leaf lies in every cone on its path from the root, so each leaf counts
with the smallest bound on its path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

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
    """Rays of the root simplex, rows [−𝟙/√r, e_1, …, e_r]: Σ e_k is exactly on the ray −v_0."""
    return np.vstack([np.full(r, -1.0 / np.sqrt(r)), np.eye(r)])


def _root_cones(r: int) -> np.ndarray:
    """The r+1 root cones: every r-subset of the root rays (row k leaves ray k out)."""
    return np.array([[j for j in range(r + 1) if j != k] for k in range(r + 1)], dtype=np.int64)


def _midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m = a + b
    return m / np.sqrt(np.sum(m * m, axis=-1, keepdims=True))


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


def _cone_terms(A: np.ndarray, v: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cone (b×r×r rays as columns) and signed weights v (b×n): T = AR, p and the default μ.

    p_k = Σ_{v_i>0} v_i (a_iᵀr_k)_+; default μ_i = 1 for v_i < 0 with a_iᵀr_k ≥ 0 for all k, else 0.
    """
    T = np.matmul(A, R)                                   # batched BLAS (einsum here does not use it)
    p = _weigh(np.maximum(v, 0.0), np.maximum(T, 0.0))
    mu = ((v < 0) & np.all(T >= 0, axis=2)).astype(float)
    return T, p, mu


def _bounds(A: np.ndarray, v: np.ndarray, p: np.ndarray, M: np.ndarray, kappa: np.ndarray, eps_E: np.ndarray,
            lam: np.ndarray, mu: np.ndarray, S: float) -> tuple[np.ndarray, np.ndarray]:
    """Proven bounds of max f_v over cone ∩ ball for given multipliers (b cones); also q.

    ‖q‖ with q = Mᵀ(p + λ) − Aᵀ(μ|v|), plus the rounding in p, s, q and ‖q‖ (γ = 4(n+2r)ε
    relative to the sizes of the terms) and the inverse residual: (p+λ)ᵀα = (p+λ)ᵀMz −
    (p+λ)ᵀEα with ‖α‖ ≤ κ. Capped by S, which bounds f on the whole ball.
    """
    n, r = A.shape
    pl = p + lam
    q = np.einsum("bkj,bk->bj", M, pl) - (mu * np.abs(v)) @ A
    raw = np.sqrt(np.sum(q * q, axis=1))
    npl = np.sqrt(np.sum(pl * pl, axis=1))
    nM = np.sqrt(np.sum(M * M, axis=(1, 2)))
    gamma = 4 * (n + 2 * r) * EPS
    margin = gamma * (nM * (np.sqrt(r) * S + npl) + 2 * S + raw) + eps_E * kappa * npl
    with np.errstate(invalid="ignore"):
        bound = np.where(np.isfinite(kappa), raw + margin, S)
    return np.minimum(bound, S), q


def _widen(bound: np.ndarray, delta: np.ndarray, S: float) -> np.ndarray:
    """Leaf bound with the coverage slack δ: f(z) ≤ f(y) + S‖z − y‖ for y in the cone, ‖y‖ ≤ 1 + δ."""
    return np.minimum(bound * (1 + delta) + S * delta, S) * (1 + 4 * EPS)


def _mid_error(r: int) -> float:
    """Bound on ‖m − m*‖ for a computed midpoint m of two unit rays (m* the exact one)."""
    return 2 * (r + 4) * EPS


def _child_delta(delta_parent: np.ndarray, kappa_child: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Coverage slack of a child: the exact-midpoint child ⊂ parent is within 2κ‖m − m*‖‖y‖ of it."""
    return delta_parent + 4 * (1 + delta_parent) * kappa_child * e


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


def _check_tree(c: BnbCertificate, n: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Check that the nodes form bisection trees of the root cones (for both signs).

    Returns, per node, the rounding ‖m − m*‖ bound of the midpoint ray that made it (0 for
    roots) and the indices of the leaves.
    """
    N = len(c.cones)
    n_roots = 2 * (r + 1)
    rays = np.asarray(c.rays, dtype=float)
    cones, parent, sign = np.asarray(c.cones), np.asarray(c.parent), np.asarray(c.sign)
    if rays.ndim != 2 or rays.shape[1] != r or cones.shape != (N, r) or parent.shape != (N,) or sign.shape != (N,):
        raise InputError(f"certificate arrays have inconsistent shapes for rank {r}: rays {rays.shape}, cones "
                         f"{cones.shape}, parent {parent.shape}, sign {sign.shape}")
    if N < n_roots or len(rays) < r + 1 or not np.array_equal(rays[: r + 1], _root_rays(r)):
        raise InputError("certificate does not start from the root simplex {-1/sqrt(r), e_1, ..., e_r}")
    roots = np.vstack([_root_cones(r)] * 2)
    if (not np.array_equal(cones[:n_roots], roots) or np.any(parent[:n_roots] != -1)
            or not np.array_equal(sign[:n_roots], np.repeat([1, -1], r + 1))):
        raise InputError("certificate roots are not the r+1 root cones for each sign of u")
    if np.any(cones < 0) or np.any(cones >= len(rays)):
        raise InputError("certificate cones index rays that do not exist")
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
    gap = np.sqrt(np.sum((rays[m] - _midpoint(rays[cones[P, i]], rays[cones[P, j]])) ** 2, axis=1))
    ok &= gap <= 1e-13
    if not np.all(ok):
        bad = int(P[rows[~ok][0]])
        raise InputError(f"certificate node {bad}: its children are not its halves across the midpoint of an edge")
    e = np.zeros(N)
    e[first] = e[second] = gap + _mid_error(r)
    leaves = np.flatnonzero(count == 0)
    if not np.array_equal(np.asarray(c.leaves), leaves):
        raise InputError("certificate leaves are not the nodes without children")
    return e, leaves


def _check_bounds(A: np.ndarray, u: np.ndarray, c: BnbCertificate, delta: np.ndarray, S: float) -> np.ndarray:
    """Recompute every node's bound from its multipliers (in blocks, to bound memory)."""
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
    out = np.zeros(N)
    for lo in range(0, N, 1024):
        blk = np.arange(lo, min(lo + 1024, N))
        R = np.transpose(rays[cones[blk]], (0, 2, 1))
        v = sign[blk, None] * u[None, :]
        _, p, mu = _cone_terms(A, v, R)
        sl = slice(ptr[blk[0]], ptr[blk[-1] + 1])
        mu[owner[sl] - lo, idx[sl]] = val[sl]
        M, kappa, eps_E = _inverses(R)
        bound, _ = _bounds(A, v, p, M, kappa, eps_E, lam[blk], mu, S)
        out[blk] = _widen(bound, delta[blk], S)
    return out


def check_certificate(A: np.ndarray, u: np.ndarray,
                      certificate: BnbCertificate | tuple[BnbCertificate, ...]) -> float:
    """Re-check a branch-and-bound certificate in NumPy alone; return the proven bound on ρ(u).

    Checks that the nodes form bisection trees of the root simplex for both signs of u (so
    the leaves cover R^r, up to slivers from rounded midpoints, paid for by S·δ), that every
    multiplier is feasible (λ ≥ 0, μ ∈ [0, 1] and only on samples with σu_i < 0), and
    recomputes every node's bound with its floating-point margin; a leaf counts with the
    smallest bound on its path from the root. For U with K columns
    (a tuple of K certificates) it returns (Σ_k ρ̄_k²)^{1/2} ≥ max_{‖z‖≤1} ‖Uᵀ(Az)_+‖.

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
    if not isinstance(certificate, BnbCertificate):
        raise InputError(f"certificate must be a BnbCertificate. Got {type(certificate).__name__} instead.")
    n, r = A.shape
    S = _lipschitz(A, u)
    if r == 0 or S == 0:
        return 0.0
    e, leaves = _check_tree(certificate, n, r)
    R = np.transpose(np.asarray(certificate.rays, float)[np.asarray(certificate.cones)], (0, 2, 1))
    kappa = np.concatenate([_inverses(R[i:i + 4096])[1] for i in range(0, len(R), 4096)])
    delta = np.zeros(len(R))
    parent = np.asarray(certificate.parent)
    for k in range(2 * (r + 1), len(R)):           # parents come first (checked)
        delta[k] = _child_delta(delta[parent[k]], kappa[k], e[k])
    bounds = _check_bounds(A, u, certificate, delta, S)
    claimed = np.asarray(certificate.bounds, float)
    if claimed.shape != bounds.shape:
        raise InputError(f"certificate has {claimed.shape} bounds for {bounds.shape[0]} nodes")
    too_low = ~(bounds <= claimed * (1 + 1e-9) + 1e-12 * S)
    if np.any(too_low):
        k = int(np.flatnonzero(too_low)[0])
        raise InputError(f"certificate node {k}: its multipliers prove {bounds[k]:.17g}, not the bound "
                         f"{claimed[k]:.17g} it claims")
    eff = bounds.copy()
    for k in range(2 * (r + 1), len(eff)):         # a leaf's points lie in every cone of its path
        eff[k] = min(eff[k], eff[parent[k]])
    upper = float(eff[leaves].max(initial=0.0))
    if not upper <= certificate.upper * (1 + 1e-9) + 1e-12 * S:
        raise InputError(f"certificate claims upper={certificate.upper!r} below its leaves' maximum {upper!r}")
    return upper
