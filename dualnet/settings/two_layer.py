"""Two-layer ReLU networks on any data: hyperplane arrangements and cutting planes (MATH §8).

Reference: Pilanci & Ergen, "Neural Networks are Convex Regularizers", ICML 2020 (the
finite convex program over arrangement patterns, MATH §8.2); Ergen & Pilanci, ICML 2021
(arXiv 2002.09773v4), the extreme-point view of the dual (MATH §A.4, §8.1); Ergen &
Pilanci, JMLR 2021 (cutting planes, MATH §8.3).

The pieces, in the order the documentation derives them (docs/settings/two_layer.md):

1. **Patterns.** D = diag(1[Xg ≥ 0]) over all g. Everything lives in the reduced
   coordinates of the linear setting: X = U_x diag(s) Vᵀ of rank r, A = U_x diag(s)
   (n×r), and a first-layer weight w = V z has Xw = Az and ‖w‖ = ‖z‖. The patterns are
   the chambers of the central arrangement {z : a_iᵀz = 0}; they are enumerated exactly
   when the counting bound P ≤ 2Σ_{k<r} C(m−1, k) is small (r = 1, 2 directly; r ≥ 3
   through the extreme rays of the chambers), and sampled otherwise.
2. **Convex program** (group lasso with cone constraints) over a pattern set, and its
   dual (MATH §8.2).
3. **Oracle** ρ(u) = max_{‖w‖≤1} |uᵀ(Xw)_+| = max over patterns of ‖Π_{K_i}(±A ᵀD_i u)‖,
   K_i = {z : (2D_i − I)Az ≥ 0} (Moreau: the largest linear value over a cone ∩ ball is the
   norm of the projection onto the cone). r ≤ 2: closed form over angular sectors.
   r ≥ 3: one NNLS per pattern, whose value ‖c + Bᵀλ‖ with λ ≥ 0 is an upper bound for ANY
   λ, so the maximum over a complete enumeration is a rigorous upper bound (exact).
   Otherwise: a many-start ascent that gives a lower estimate (not a proof).
4. **Cutting plane** (MATH §8.3): a restricted master program over a few patterns, seeded
   from a short L-BFGS training run, grown by the oracle until ρ(U) ≤ β(1 + ε).
5. **Recovery**: each nonzero v_i becomes the neuron v_i/√‖v_i‖ with output weight
   +√‖v_i‖ (−√‖w_i‖ for w_i), whose weight decay equals the convex objective.

Biases (``bias=True``) follow the package convention (biases unpenalized, MATH §4.1
Variant A): the atoms are (Xw + b)_+ with ‖w‖ ≤ 1 and b free. See :func:`check`.
Vector outputs (K > 1): the dual constraint sup‖Uᵀ(Xw)_+‖ ≤ β is copositive-type
(MATH §8.1); the network is optimized by column generation over neurons and the bound is
an estimate (never certified).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
from scipy.optimize import nnls

from ..errors import InputError
from ..losses import Loss, get_loss
from ..network import Network
from ..problem import DualProgram, Fit, Problem
from ._solve import solve_cvxpy
from .linear import Reduction, reduce

NAME = "relu-two-layer"
REFERENCE = ("Pilanci & Ergen (ICML 2020) convex program of two-layer ReLU networks; Ergen & Pilanci "
             "(ICML 2021, JMLR 2021) extreme points and cutting planes (MATH §8)")
ACTIVATIONS = ("relu",)
HOMOGENEOUS = True

#: exact enumeration (and so an exact oracle) when the counting bound is at most this
MAX_PATTERNS = 50_000
#: patterns per task handed to an executor
CHUNK = 512

__all__ = [
    "OracleResult",
    "Patterns",
    "check",
    "convex_program",
    "cutting_plane",
    "dual_program",
    "enumerate_patterns",
    "fit",
    "oracle",
    "pattern_bound",
    "patterns",
    "recover",
    "rho",
    "sample_patterns",
]


# =========================================================================== geometry
@dataclass
class Geometry:
    """X in the reduced coordinates of :func:`dualnet.settings.linear.reduce`.

    ``A`` (n×r) replaces X: a first-layer weight w = V z has Xw = Az and ‖w‖ = ‖z‖.
    """

    red: Reduction
    A: np.ndarray

    @property
    def rank(self) -> int:
        return self.A.shape[1]

    def to_weights(self, Z: np.ndarray) -> np.ndarray:
        """First-layer weights (d×k) of reduced directions Z (r×k)."""
        if Z.shape[1] == 0 or self.rank == 0:
            return np.zeros((self.red.X.shape[1], Z.shape[1]))
        return self.red.weights(Z)

    def to_reduced(self, W: np.ndarray) -> np.ndarray:
        """Reduced coordinates Vᵀw of first-layer weights W (d×k); the part outside the row space of X is dropped."""
        if self.rank == 0:
            return np.zeros((0, W.shape[1]))
        return self.red.coords(self.red.X @ W) / self.red.s[:, None]


def geometry(X: np.ndarray) -> Geometry:
    """Reduced coordinates of X (one eigendecomposition, as in the linear setting)."""
    red = reduce(X)
    A = red.design if red.rank else np.zeros((X.shape[0], 0))
    return Geometry(red, np.ascontiguousarray(A))


# =========================================================================== patterns
def pattern_bound(n: int, r: int) -> int:
    """Counting bound of MATH §8.2: at most 2Σ_{k=0}^{r−1} C(n−1, k) patterns (r = rank X).

    Examples
    --------
    >>> pattern_bound(6, 2), pattern_bound(500, 2), pattern_bound(200, 10) > 10**15
    (12, 1000, True)
    """
    if n <= 0 or r <= 0:
        return 1
    return 2 * sum(math.comb(n - 1, k) for k in range(min(r, n)))


@dataclass(frozen=True)
class Patterns:
    """A set of arrangement patterns D_i = diag(1[Xg_i ≥ 0]) as the columns of a boolean matrix.

    Attributes
    ----------
    D : ndarray of bool, shape (n_samples, P)
        Column i is the diagonal of D_i.
    exact : bool
        Whether D holds every pattern of X (complete enumeration).
    bound : int
        The counting bound 2Σ_{k<r} C(m−1, k) (m distinct hyperplanes).
    reason : str
        How the set was made, and why it is not complete when it is not.
    """

    D: np.ndarray
    exact: bool
    bound: int
    reason: str = ""

    @property
    def count(self) -> int:
        return self.D.shape[1]


def _hyperplanes(A: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Distinct hyperplanes {z : a_iᵀz = 0} as unit normals with a canonical sign (m×r)."""
    norms = np.linalg.norm(A, axis=1)
    H = A[norms > tol * max(norms.max(initial=0.0), 1e-300)]
    H = H / np.linalg.norm(H, axis=1, keepdims=True)
    lead = np.argmax(np.abs(H) > 1e-9, axis=1)
    H = H * np.sign(H[np.arange(len(H)), lead])[:, None]
    # Round for deduplication only: normals equal to ~1e-10 are the same hyperplane.
    _, idx = np.unique(np.round(H, 10), axis=0, return_index=True)
    return H[np.sort(idx)]


def _directions_2d(H: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chambers of a central arrangement of lines in R²: arcs (lo, hi) and mid directions (2×P)."""
    phi = np.arctan2(H[:, 1], H[:, 0])
    bounds = np.sort(np.mod(np.concatenate([phi + np.pi / 2, phi - np.pi / 2]), 2 * np.pi))
    hi = np.append(bounds[1:], bounds[0] + 2 * np.pi)
    mid = 0.5 * (bounds + hi)
    return bounds, hi, np.vstack([np.cos(mid), np.sin(mid)])


def _directions(H: np.ndarray, subsets: Iterable[Sequence[int]] | None = None) -> np.ndarray:
    """One direction in the interior of every chamber of the central arrangement with normals H (m×r).

    r = 1, 2 directly. r ≥ 3: every chamber of an essential arrangement is a pointed cone
    with an extreme ray, the intersection of r−1 independent hyperplanes; the chambers at a
    ray ℓ are those of the hyperplanes through ℓ restricted to ℓ^⊥ (one dimension less),
    pushed off the ray by less than the distance to any other hyperplane. ``subsets``
    restricts the rays to those of the given (r−1)-subsets (to split the work).
    """
    m, r = H.shape
    if r == 1:
        return np.array([[1.0, -1.0]])
    if r == 2:
        return _directions_2d(H)[2]
    if subsets is None:
        subsets = itertools.combinations(range(m), r - 1)
    out, seen = [], set()
    for S in subsets:
        _, sv, Vt = np.linalg.svd(H[list(S)])
        if sv[-1] < 1e-9:            # dependent normals: not a ray
            continue
        ell = Vt[-1]
        dots = H @ ell
        on = np.abs(dots) <= 1e-10
        for sign in (1.0, -1.0):
            ray = sign * ell
            key = np.where(on, 0, np.sign(sign * dots)).astype(np.int8).tobytes()
            if key in seen:          # the same ray from another subset of its hyperplanes
                continue
            seen.add(key)
            B = Vt[:-1].T                               # orthonormal basis of ℓ^⊥ (r×(r−1))
            local = H[on] @ B
            local = local / np.linalg.norm(local, axis=1, keepdims=True)
            deltas = B @ _directions(_hyperplanes(local))
            off = np.abs(dots[~on])
            push = np.abs(H[~on] @ deltas)
            with np.errstate(divide="ignore"):
                eps = 0.5 * np.min(np.where(push > 0, off[:, None] / np.maximum(push, 1e-300), np.inf),
                                   axis=0, initial=np.inf)
            eps = np.minimum(eps, 0.5)
            out.append(ray[:, None] + eps * deltas)
    if not out:
        return np.zeros((r, 0))
    return np.hstack(out)


def _unique_columns(D: np.ndarray) -> np.ndarray:
    if D.shape[1] == 0:
        return D
    packed = np.packbits(D, axis=0)
    _, idx = np.unique(packed.T, axis=0, return_index=True)
    return D[:, np.sort(idx)]


def _patterns_of(A: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Patterns 1[Ag > 0] of interior directions g (columns of G)."""
    return A @ G > 0


def _subset_task(args: tuple[np.ndarray, np.ndarray, list[tuple[int, ...]]]) -> np.ndarray:
    A, H, subsets = args
    return _unique_columns(_patterns_of(A, _directions(H, subsets)))


def _sample_task(args: tuple[np.ndarray, int, int]) -> np.ndarray:
    A, count, seed = args
    G = np.random.default_rng(seed).standard_normal((A.shape[1], count))
    return _unique_columns(_patterns_of(A, G))


def _run(executor: Executor | None, fn: Callable[[Any], Any], tasks: list[Any], progress: bool | None,
         what: str) -> list[Any]:
    """Map ``fn`` over ``tasks`` serially or on ``executor``, with an optional tqdm bar."""
    results = map(fn, tasks) if executor is None else executor.map(fn, tasks)
    bar = _progress_bar(progress, len(tasks), what)
    out = []
    for res in results:
        out.append(res)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out


def _progress_bar(progress: bool | None, total: int, what: str) -> Any:
    """A tqdm bar when asked for (``progress=None``: only for long runs); None without tqdm."""
    if progress is False:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    # progress=None: the bar appears only once the run has lasted two seconds.
    return tqdm(total=total, desc=what, leave=False, delay=0.0 if progress else 2.0)


def enumerate_patterns(X: np.ndarray, *, executor: Executor | None = None, progress: bool | None = None,
                       max_patterns: int = MAX_PATTERNS) -> Patterns:
    """Every arrangement pattern of X, exactly (MATH §8.2).

    Parameters
    ----------
    X : ndarray (n_samples, n_features)
    executor : concurrent.futures.Executor, optional
        Splits the work (rank ≥ 3) into tasks; a process pool or ``dask.distributed``
        ``Client.get_executor()`` work.
    progress : bool, optional
        Show a tqdm progress bar (None: only for long runs; needs tqdm).
    max_patterns : int
        Refuse (raise) when the counting bound exceeds this.

    Returns
    -------
    Patterns
        With ``exact=True``; the count never exceeds the bound (checked).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> P = enumerate_patterns(X)
    >>> P.count, P.bound
    (6, 6)
    """
    return _enumerate(geometry(np.asarray(X, dtype=float)).A, executor, progress, max_patterns)


def _enumerate(A: np.ndarray, executor: Executor | None, progress: bool | None, max_patterns: int) -> Patterns:
    n, r = A.shape
    H = _hyperplanes(A) if r else np.zeros((0, 0))
    bound = pattern_bound(len(H), r) if r else 1
    if bound > max_patterns:
        raise InputError(f"X has rank {r} and {len(H)} distinct hyperplanes: up to {bound:,} patterns, more than "
                         f"max_patterns={max_patterns:,}. Use sampled patterns (patterns='sampled') or raise "
                         "max_patterns.")
    if r == 0:
        return Patterns(np.zeros((n, 1), dtype=bool), True, 1, "X = 0: the zero pattern only")
    if r <= 2 or executor is None and progress is not True:
        D = _patterns_of(A, _directions(H))
    else:
        subsets = list(itertools.combinations(range(len(H)), r - 1))
        size = max(1, -(-len(subsets) // 32))
        tasks = [(A, H, subsets[i:i + size]) for i in range(0, len(subsets), size)]
        D = np.hstack(_run(executor, _subset_task, tasks, progress, "enumerating patterns"))
    D = _unique_columns(D)
    if D.shape[1] > bound:
        raise AssertionError(f"pattern enumeration found {D.shape[1]} > bound {bound}")  # a bug, never user input
    return Patterns(D, True, bound, f"complete enumeration: {D.shape[1]} patterns (bound {bound}, rank {r})")


def sample_patterns(X: np.ndarray, n_patterns: int, *, seed: int = 0, executor: Executor | None = None,
                    progress: bool | None = None) -> Patterns:
    """Patterns 1[Xg ≥ 0] of ``n_patterns`` Gaussian g (seeded; duplicates removed).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((20, 3))
    >>> sample_patterns(X, 50, seed=1).count <= 50
    True
    """
    geo = geometry(np.asarray(X, dtype=float))
    return _sample(geo.A, int(n_patterns), seed, executor, progress)


def _sample(A: np.ndarray, count: int, seed: int, executor: Executor | None, progress: bool | None) -> Patterns:
    n, r = A.shape
    bound = pattern_bound(len(_hyperplanes(A)), r) if r else 1
    if r == 0:
        return Patterns(np.zeros((n, 1), dtype=bool), True, 1, "X = 0: the zero pattern only")
    seeds = np.random.SeedSequence(seed).spawn(max(1, -(-count // 4096)))
    sizes = [min(4096, count - 4096 * i) for i in range(len(seeds))]
    tasks = [(A, size, int(s.generate_state(1)[0])) for size, s in zip(sizes, seeds)]
    parts = _run(executor if len(tasks) > 1 else None, _sample_task, tasks, progress, "sampling patterns")
    D = _unique_columns(np.hstack(parts))
    return Patterns(D, False, bound, f"{D.shape[1]} distinct patterns from {count} Gaussian samples (seed {seed}) "
                                     f"of up to {bound:,}")


def patterns(X: np.ndarray, how: str | int = "auto", *, n_patterns: int = 100, seed: int = 0,
             max_patterns: int = MAX_PATTERNS, executor: Executor | None = None,
             progress: bool | None = None) -> Patterns:
    """Exact patterns when the counting bound allows, sampled ones otherwise.

    ``how`` is "auto", "exact" or "sampled" (an int is "sampled" with that many samples).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [-1.0]])
    >>> P = patterns(X)
    >>> P.exact, P.D.astype(int).T.tolist()
    (True, [[1, 0], [0, 1]])
    """
    geo = geometry(np.asarray(X, dtype=float))
    return _patterns(geo.A, how, n_patterns, seed, max_patterns, executor, progress)


def _patterns(A: np.ndarray, how: str | int, n_patterns: int, seed: int, max_patterns: int,
              executor: Executor | None, progress: bool | None) -> Patterns:
    if isinstance(how, (int, np.integer)) and not isinstance(how, bool):
        how, n_patterns = "sampled", int(how)
    if how not in ("auto", "exact", "sampled"):
        raise InputError(f"The 'patterns' parameter must be 'auto', 'exact', 'sampled' or an int. Got {how!r} instead.")
    bound = pattern_bound(len(_hyperplanes(A)), A.shape[1]) if A.shape[1] else 1
    if how == "exact" or (how == "auto" and bound <= max_patterns):
        return _enumerate(A, executor, progress, max_patterns if how == "auto" else max(max_patterns, bound))
    return _sample(A, n_patterns, seed, executor, progress)


_PATTERN_CACHE: dict[tuple, Patterns] = {}


def _cached_enumeration(A: np.ndarray, executor: Executor | None, progress: bool | None,
                        max_patterns: int) -> Patterns:
    """Enumerations are reused across oracle calls on the same data (a few entries kept)."""
    key = (A.shape, hash(A.tobytes()), max_patterns)
    if key not in _PATTERN_CACHE:
        if len(_PATTERN_CACHE) >= 4:
            _PATTERN_CACHE.pop(next(iter(_PATTERN_CACHE)))
        _PATTERN_CACHE[key] = _enumerate(A, executor, progress, max_patterns)
    return _PATTERN_CACHE[key]


# ============================================================================= oracle
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
    """

    value: float
    exact: bool
    method: str
    reason: str
    Z: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    D: np.ndarray = field(repr=False)


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


def _nnls_task(args: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact values of a chunk of patterns, in order of their upper bound ‖c_i‖, pruned.

    Returns (indices, values, maximizers) of the evaluated patterns; every pattern not
    evaluated has ‖c_i‖ (≥ its value) at most the ``top``-th largest value returned.
    """
    A, D, u, top = args
    C = A.T @ (D * u[:, None])
    upper = np.linalg.norm(C, axis=0)
    order = np.argsort(-upper)
    idx, vals, Zs = [], [], []
    for i in order:
        if len(vals) >= top and upper[i] <= np.sort(vals)[-top]:
            break
        v1, z1, _ = _cone_max(A, D[:, i], C[:, i])
        v2, z2, _ = _cone_max(A, D[:, i], -C[:, i])
        idx.append(i)
        vals.append(max(v1, v2))
        Zs.append(z1 if v1 >= v2 else z2)
    return np.array(idx, dtype=int), np.array(vals), np.array(Zs).T.reshape(A.shape[1], -1)


def _exact_values(A: np.ndarray, u: np.ndarray, P: Patterns, top: int, executor: Executor | None,
                  progress: bool | None) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    D = P.D
    chunks = [np.arange(i, min(i + CHUNK, D.shape[1])) for i in range(0, D.shape[1], CHUNK)]
    tasks = [(A, D[:, c], u, top) for c in chunks]
    results = _run(executor, _nnls_task, tasks, progress, "oracle (patterns)")
    idx = np.concatenate([c[res[0]] for c, res in zip(chunks, results)])
    vals = np.concatenate([res[1] for res in results])
    Z = np.hstack([res[2] for res in results])
    order = np.argsort(-vals)
    return float(vals[order[0]]) if vals.size else 0.0, Z[:, order], vals[order], D[:, idx[order]]


def _values(A: np.ndarray, U: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """‖Uᵀ(AZ)_+‖ for each column of Z."""
    return np.linalg.norm(U.T @ np.maximum(A @ Z, 0.0), axis=0)


def _ascent(A: np.ndarray, U: np.ndarray, Z: np.ndarray, iters: int = 60) -> np.ndarray:
    """Fixed-point ascent z ← Aᵀ D(z) U v / ‖·‖ with v = Uᵀg/‖Uᵀg‖ (the sign of uᵀg for K = 1)."""
    for _ in range(iters):
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


def _local_search(A: np.ndarray, u: np.ndarray, z: np.ndarray, rounds: int = 10) -> tuple[float, np.ndarray]:
    """Exact maximum in z's chamber, then moves to the best neighbouring chamber across an active facet."""
    d = A @ z > 0
    best, best_z = -np.inf, z
    for _ in range(rounds):
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
               top: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Many-start ascent for ρ(U): the best value found (a lower estimate), directions and values."""
    r = A.shape[1]
    rng = np.random.default_rng(seed)
    starts = [rng.standard_normal((r, n_starts))]
    if seeds is not None and seeds.size:
        starts.insert(0, seeds)
    Z = np.hstack(starts)
    Z = Z / np.maximum(np.linalg.norm(Z, axis=0), 1e-300)
    if U.shape[1] == 1:
        Z = np.hstack([Z, -Z])       # both signs of uᵀ(Az)_+
    Z = _ascent(A, U, Z)
    vals = _values(A, U, Z)
    order = np.argsort(-vals)
    Z, vals = Z[:, order], vals[order]
    if U.shape[1] == 1:
        # Exact values over the chambers of a larger random pool and of the ascent's end
        # points (pruned by the bound ‖c_i‖, as in the exact oracle): catches small basins.
        pool = rng.standard_normal((r, 10 * n_starts))
        D_pool = _unique_columns(np.hstack([_patterns_of(A, pool), A @ Z > 0]))
        idx, pvals, pZ = _nnls_task((A, D_pool, U[:, 0], max(top, 8)))
        Z, vals = np.hstack([pZ, Z]), np.concatenate([pvals, vals])
        order = np.argsort(-vals)
        Z, vals = Z[:, order], vals[order]
        # Then polish the best few exactly inside their chambers and their neighbours.
        keep = _unique_columns(A @ Z[:, : 4 * top] > 0)
        polished = []
        for j in range(min(keep.shape[1], max(8, top))):
            z0 = Z[:, np.flatnonzero(np.all((A @ Z > 0) == keep[:, [j]], axis=0))[0]]
            val, z = _local_search(A, U[:, 0], z0)
            polished.append((float(_values(A, U, z[:, None])[0]), z))
        if polished:
            Zp = np.array([z for _, z in polished]).T
            Z = np.hstack([Zp, Z])
            vals = np.concatenate([[v for v, _ in polished], vals])
            order = np.argsort(-vals)
            Z, vals = Z[:, order], vals[order]
    return float(vals[0]) if vals.size else 0.0, Z, vals


def _inexact_reason(n: int, r: int, K: int, bound: int, max_patterns: int, bias: bool = False) -> str:
    if K > 1:
        return (f"vector outputs (K={K}): sup ||U^T (Xw)_+|| over ||w|| <= 1 is a copositive-type problem "
                "(MATH §8.1; Sahiner et al., ICLR 2021) with no exact method here, so rho is a many-start "
                "estimate from below and the lower bound is not a proof")
    return (f"rank(X)={r}{' (with the bias column)' if bias else ''} allows up to {bound:.3g} arrangement patterns, "
            f"more than max_patterns={max_patterns:,}, so rho is a many-start estimate from below and the lower "
            "bound is not a proof")


def _oracle(A: np.ndarray, U: np.ndarray, *, top: int = 1, seeds: np.ndarray | None = None,
            executor: Executor | None = None, progress: bool | None = None, max_patterns: int = MAX_PATTERNS,
            n_starts: int = 200, seed: int = 0, exact: bool | None = None) -> OracleResult:
    n, r = A.shape
    K = U.shape[1]
    if r == 0 or not np.any(U):
        return OracleResult(0.0, True, "trivial", "", np.zeros((r, 0)), np.zeros(0), np.zeros((n, 0), dtype=bool))
    bound = pattern_bound(len(_hyperplanes(A)), r)
    can_exact = K == 1 and (r <= 2 or bound <= max_patterns)
    if can_exact and exact is not False:
        u = U[:, 0]
        if r <= 2:
            vals, Z, D = _sector_values(A, u)
            order = np.argsort(-vals)
            return OracleResult(float(vals[order[0]]), True, "sectors", "", Z[:, order], vals[order], D[:, order])
        P = _cached_enumeration(A, executor, progress, max_patterns)
        value, Z, vals, D = _exact_values(A, u, P, top, executor, progress)
        return OracleResult(value, True, "enumeration+nnls", "", Z, vals, D)
    value, Z, vals = _heuristic(A, U, seeds, n_starts, seed, top)
    reason = _inexact_reason(n, r, K, bound, max_patterns) if not can_exact else "heuristic oracle requested"
    return OracleResult(value, False, f"heuristic ({Z.shape[1]} starts)", reason, Z, vals, A @ Z > 0)


def oracle(U: np.ndarray, X: np.ndarray, *, top: int = 1, executor: Executor | None = None,
           progress: bool | None = None, max_patterns: int = MAX_PATTERNS, n_starts: int = 200, seed: int = 0,
           bias: bool = False) -> OracleResult:
    """Extreme-point oracle ρ(U) = max_{‖w‖≤1} ‖Uᵀ(Xw)_+‖ and its maximizing atoms (MATH §8.1, §8.3).

    Exact for one output: rank(X) ≤ 2 by a closed form over angular sectors; otherwise over
    the complete pattern enumeration (when the counting bound is at most ``max_patterns``)
    with one NNLS per pattern. Otherwise, and always for several outputs (a copositive-type
    problem), a many-start ascent gives a lower estimate and ``exact=False`` with the reason.
    With ``bias=True`` the atoms are (Xw + b)_+ with b free (MATH §4.1 Variant A); ρ is +inf
    unless the columns of U sum to zero.

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
                            n_starts=n_starts, seed=seed)
    return _oracle(geometry(X).A, U, top=top, executor=executor, progress=progress, max_patterns=max_patterns,
                   n_starts=n_starts, seed=seed)


def _bias_oracle(U: np.ndarray, X: np.ndarray, **kw: Any) -> OracleResult:
    """ρ for atoms (Xw + b)_+, ‖w‖ ≤ 1, b free (biases unpenalized, MATH §4.1 Variant A).

    b → +∞ makes the constant vector an atom of zero cost, so ρ = +∞ unless 1ᵀU = 0. Then,
    for fixed w, b ↦ Uᵀ(Xw + b1)_+ is piecewise linear with kinks at b = −x_iᵀw, so the
    supremum sits at a kink: ρ(U) = max_i ρ_0(U; X − 1x_iᵀ), the bias-free ρ of the data
    centred at each sample.
    """
    n = X.shape[0]
    scale = max(float(np.abs(U).sum()), 1e-300)
    if np.any(np.abs(U.sum(axis=0)) > 1e-9 * scale):
        return OracleResult(np.inf, True, "bias: 1ᵀU ≠ 0", "", np.zeros((X.shape[1], 0)), np.zeros(0),
                            np.zeros((n, 0), dtype=bool))
    best: OracleResult | None = None
    for i in range(n):
        res = oracle(U, X - X[i], bias=False, **kw)
        if best is None or res.value > best.value or (best.exact and not res.exact):
            exact = (best.exact if best is not None else True) and res.exact
            best = OracleResult(res.value if best is None else max(res.value, best.value), exact, res.method,
                                res.reason or (best.reason if best else ""), res.Z, res.values, res.D)
    assert best is not None
    return best


# ==================================================================== convex program
def _program(A: np.ndarray, Y: np.ndarray, D: np.ndarray, beta: float, loss: Loss, free: int = 0,
             Dw: np.ndarray | None = None) -> tuple[DualProgram, cp.Variable | None, cp.Variable | None]:
    """Group lasso with cone constraints over the patterns D (MATH §8.2), K = 1.

    min ℓ(Σ_i D_i A(v_i − w_i)) + β Σ_i (‖v_i‖ + ‖w_i‖) s.t. (2D_i − I)Av_i ≥ 0, (2D_i − I)Aw_i ≥ 0.
    ``Dw`` (default ``D``) gives the w_i their own patterns. The last ``free`` coordinates
    of each v_i, w_i are unpenalized (the bias column). The prediction is a variable tied by
    an equality whose multiplier is the dual point U.
    """
    n, r = A.shape
    Dw = D if Dw is None else Dw
    F = cp.Variable((n, 1), name="F")
    threshold = cp.Parameter(nonneg=True, name="beta")
    pen_rows = slice(0, r - free)
    fit_terms, penalty, constraints, groups = [], [], [], []
    for name, Dg, sign in (("V", D, 1.0), ("W", Dw, -1.0)):
        if Dg.shape[1] == 0:
            groups.append(None)
            continue
        G = cp.Variable((r, Dg.shape[1]), name=name)
        Dm = Dg.astype(float)
        fit_terms.append(sign * cp.sum(cp.multiply(Dm, A @ G), axis=1))
        penalty.append(cp.sum(cp.norm(G[pen_rows], 2, axis=0)) if r > free else 0)
        constraints.append(cp.multiply(2.0 * Dm - 1.0, A @ G) >= 0)
        groups.append(G)
    link = F[:, 0] == (cp.sum(fit_terms) if fit_terms else np.zeros(n))
    objective = loss.primal(F, Y) + (threshold * cp.sum(penalty) if penalty else 0)
    problem = cp.Problem(cp.Minimize(objective), [link, *constraints])
    program = DualProgram(problem, threshold, lambda: np.asarray(link.dual_value).reshape(n, 1), 2)
    program.set_beta(beta)
    return program, groups[0], groups[1]


def _values_of(G: cp.Variable | None, r: int) -> np.ndarray:
    return np.zeros((r, 0)) if G is None else np.asarray(G.value)


def _support_resolve(A: np.ndarray, Y: np.ndarray, D: np.ndarray, Dw: np.ndarray, V: np.ndarray, W: np.ndarray,
                     value: float, beta: float, loss: Loss, free: int, solver: str | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Re-solve over the groups an interior-point solution left visibly nonzero.

    Interior-point solvers leave every group slightly nonzero; the program restricted to
    the support has the same optimum and a clean solution. Returns (V, W, U), or None
    when the restricted value is worse (the support guess missed something).
    """
    r = A.shape[1] - free
    nv, nw = np.linalg.norm(V[:r], axis=0), np.linalg.norm(W[:r], axis=0)
    top = max(float(nv.max(initial=0.0)), float(nw.max(initial=0.0)), 1e-300)
    kv, kw = nv > 1e-6 * top, nw > 1e-6 * top
    if free:
        kv |= D.all(axis=0)
        kw |= Dw.all(axis=0)
    if kv.all() and kw.all():
        return None
    program, Vs, Ws = _program(A, Y, D[:, kv], beta, loss, free, Dw[:, kw])
    try:
        U, _ = solve_cvxpy(program, solver)
    except Exception:                       # a failed polish never spoils a solved program
        return None
    if not program.problem.value <= value + 1e-9 * max(1.0, abs(value)):
        return None
    return _values_of(Vs, A.shape[1]), _values_of(Ws, A.shape[1]), U


def convex_program(X: np.ndarray, y: np.ndarray, beta: float, D: np.ndarray | Patterns | None = None,
                   loss: str | Loss = "squared") -> cp.Problem:
    """The convex program of MATH §8.2 over the patterns ``D`` (all of them when None), as a CVXPY problem.

    Its optimal value is the global optimum of the two-layer ReLU network when ``D`` holds
    every pattern (and an upper bound on it otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> prob = convex_program(np.array([[1.0], [-1.0]]), np.array([1.0, 1.0]), beta=0.5)
    >>> round(float(prob.solve(solver="CLARABEL")), 6)
    0.75
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(y, dtype=float).reshape(X.shape[0], -1)
    geo = geometry(X)
    if D is None:
        D = _enumerate(geo.A, None, False, MAX_PATTERNS).D
    D = D.D if isinstance(D, Patterns) else np.asarray(D, dtype=bool)
    return _program(geo.A, Y, D, beta, get_loss(loss))[0].problem


# ========================================================================== recovery
def _network_from_program(geo: Geometry, V: np.ndarray, W: np.ndarray, K: int = 1, free: int = 0,
                          rtol: float = 1e-9) -> Network:
    """Neurons v_i/√‖v_i‖ with output +√‖v_i‖ and w_i/√‖w_i‖ with −√‖w_i‖ (MATH §8.2).

    With a bias column (``free=1``, the last coordinate) the norm is that of the weight
    part and the last coordinate is the unpenalized hidden bias; a column with zero weight
    part but a nonzero bias is a constant, which goes to the (unpenalized) output bias.
    """
    r = V.shape[0] - free
    cols, signs = np.hstack([V, W]), np.concatenate([np.ones(V.shape[1]), -np.ones(W.shape[1])])
    norms = np.linalg.norm(cols[:r], axis=0)
    scale = max(float(norms.max(initial=0.0)), 1e-300)
    keep = norms > rtol * scale
    const = 0.0
    if free:
        dead = ~keep
        const = float(np.sum(signs[dead] * np.maximum(cols[r, dead], 0.0)))
    cols, signs, norms = cols[:, keep], signs[keep], norms[keep]
    d = geo.red.X.shape[1]
    out_b = np.full(K, const) if free else None
    if cols.shape[1] == 0:
        return Network([[(np.zeros((d, 1)), np.zeros(1) if free else None), (np.zeros((1, K)), out_b)]])
    root = np.sqrt(norms)
    W1 = geo.to_weights(cols[:r] / root)                 # d × m in the original coordinates
    hidden_b = cols[r] / root if free else None
    out = (signs * root)[:, None] * np.ones((1, K))
    return Network([[(W1, hidden_b), (out, out_b)]])


def _design(X: np.ndarray, bias: bool) -> tuple[Geometry, np.ndarray]:
    """Geometry of X and the program's design: A, or [A, 1] with the bias as the last coordinate."""
    geo = geometry(X)
    return geo, (np.hstack([geo.A, np.ones((X.shape[0], 1))]) if bias else geo.A)


def recover(U: np.ndarray, X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None = None,
            loss: Loss | None = None, solver: str | None = None, D: np.ndarray | None = None,
            bias: bool = False) -> Network:
    """Two-layer network from a dual point U (MATH §A.4, §7.1).

    The active patterns are those whose exact oracle value reaches β (within 1e-4); the
    amplitudes and directions come from the convex program restricted to them.
    """
    loss = get_loss(loss or "squared")
    geo, A = _design(X, bias)
    if D is None:
        D = _enumerate(geometry(_augment(X, bias)).A, None, False, MAX_PATTERNS).D
    u = U[:, 0]
    if bias:
        # With a free bias the per-pattern value is not a cone projection; keep every pattern.
        active = list(range(D.shape[1]))
    else:
        C = A.T @ (D * u[:, None])
        active = [i for i in range(D.shape[1]) if np.linalg.norm(C[:, i]) >= beta * (1 - 1e-4) and
                  max(_cone_max(A, D[:, i], C[:, i])[0], _cone_max(A, D[:, i], -C[:, i])[0]) >= beta * (1 - 1e-4)]
    if not active:
        return _network_from_program(geo, np.zeros((A.shape[1], 0)), np.zeros((A.shape[1], 0)), Y.shape[1],
                                     int(bias))
    program, V, W = _program(A, Y, D[:, active], beta, loss, int(bias))
    solve_cvxpy(program, solver)
    Vv, Wv = V.value, W.value
    clean = _support_resolve(A, Y, D[:, active], D[:, active], Vv, Wv, program.problem.value, beta, loss, int(bias),
                             solver)
    if clean is not None:
        Vv, Wv = clean[0], clean[1]
    return _network_from_program(geo, Vv, Wv, Y.shape[1], int(bias))


def _augment(X: np.ndarray, bias: bool) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))]) if bias else X


# ====================================================================== cutting plane
@dataclass
class CuttingPlaneResult:
    """Outcome of :func:`cutting_plane`.

    Attributes
    ----------
    network : Network
        The recovered network (optimal for the final pattern set).
    U : ndarray (n, K)
        Dual point of the final master program.
    value : float
        Objective of the final master program.
    rho : float
        Oracle value ρ(U) at the end (compare with β).
    exact : bool
        Whether the oracle was exact (then ρ(U) ≤ β(1 + eps) proves optimality).
    converged : bool
        Whether ρ(U) ≤ β(1 + eps) was reached.
    iterations : list of dict
        One record per master solve: iteration, patterns, value, rho/beta, seconds.
    D : ndarray of bool (n, P)
        The final pattern set.
    reason : str
        Why the result is not a proof ("" when exact and converged).
    method : str
    """

    network: Network
    U: np.ndarray
    value: float
    rho: float
    exact: bool
    converged: bool
    iterations: list[dict[str, Any]]
    D: np.ndarray = field(repr=False)
    reason: str = ""
    method: str = ""


def _seed_patterns(X: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, init: Any, seed: int,
                   bias: bool, train_iter: int) -> tuple[np.ndarray, Network | None]:
    """Patterns of a user network's neurons, or of a short L-BFGS run (MATH §8.3 seeding)."""
    if init is None:
        from ..train import train

        width = int(min(X.shape[0] + 1, 32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            init = train(X, Y, beta=beta, depth=2, width=width, loss=loss, bias=bias, seed=seed,
                         max_iter=train_iter)
    init = as_network(init, X.shape[1])
    pre = np.hstack([X @ br[0][0] + (0.0 if br[0][1] is None else br[0][1]) for br in init.branches])
    D = _unique_columns(pre > 0)
    return D[:, D.any(axis=0)], init


def cutting_plane(X: np.ndarray, y: np.ndarray, beta: float, loss: str | Loss = "squared", *, init: Any = None,
                  bias: bool = False, seed: int = 0, max_iter: int = 100, top: int = 5, eps: float = 1e-7,
                  solver: str | None = None, executor: Executor | None = None, progress: bool | None = None,
                  max_patterns: int = MAX_PATTERNS, n_starts: int = 200, train_iter: int = 300,
                  patterns: np.ndarray | None = None, polish_rounds: int = 3) -> CuttingPlaneResult:
    """Column generation over patterns: restricted master program plus the oracle (MATH §8.3).

    Starts from the patterns of ``init`` (a Network, weight list or torch module) or of a
    short L-BFGS run, solves the convex program over them, asks the oracle for the most
    violated patterns of the dual point, adds up to ``top`` of them, and repeats until
    ρ(U) ≤ β(1 + eps). With the exact oracle that is a proof of global optimality (up to
    ``eps``); with the many-start oracle (large rank) it is not, and ``reason`` says so.

    Examples
    --------
    >>> import numpy as np
    >>> res = cutting_plane(np.array([[1.0], [-1.0]]), np.array([1.0, 1.0]), beta=0.5)
    >>> res.converged, res.exact, round(res.value, 6)
    (True, True, 0.75)
    """
    import time

    X = np.asarray(X, dtype=float)
    Y = np.asarray(y, dtype=float).reshape(X.shape[0], -1)
    loss = get_loss(loss)
    if Y.shape[1] != 1:
        raise InputError(f"cutting_plane handles one output (the pattern program of MATH §8.2). Got y with "
                         f"{Y.shape[1]} columns. Use dualnet.solve, which handles vector outputs by column "
                         "generation over neurons.")
    geo, A = _design(X, bias)
    free = int(bias)
    if patterns is not None:
        D = np.asarray(patterns, dtype=bool)
        net0 = None
    else:
        D, net0 = _seed_patterns(X, Y, beta, loss, init, seed, bias, train_iter)
    if D.shape[1] == 0:
        D = _sample(A, 8, seed, None, False).D
    if bias:      # the all-ones pattern carries the free constant, which forces 1ᵀU = 0 in the master
        D = _unique_columns(np.hstack([D, np.ones((X.shape[0], 1), dtype=bool)]))
    history: list[dict[str, Any]] = []
    bar = _progress_bar(progress if progress is not None else None, max_iter, "cutting plane")
    res_oracle = None
    method = ""
    polish_left = polish_rounds
    for it in range(max_iter):
        start = time.perf_counter()
        program, V, W = _program(A, Y, D, beta, loss, free)
        U, method = solve_cvxpy(program, solver)
        U = _center(U, Y, loss) if bias else loss.project_dual(U, Y)
        seeds = geo.to_reduced(_first_layer(net0, False)) if (net0 is not None and not bias) else None
        res_oracle = _cutting_oracle(A, U, X, bias, top, seeds, executor, max_patterns, n_starts, seed + it)
        history.append({"iteration": it, "patterns": D.shape[1], "value": float(program.problem.value),
                        "rho/beta": res_oracle.value / beta, "exact": res_oracle.exact,
                        "seconds": time.perf_counter() - start})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(patterns=D.shape[1], rho_over_beta=f"{res_oracle.value / beta:.6g}", refresh=False)
        if res_oracle.value <= beta * (1 + eps):
            if res_oracle.exact or polish_left == 0:
                break
            # A many-start oracle can miss violated patterns: let L-BFGS, started from the
            # master's network, look for a better one, and feed its patterns back.
            polish_left -= 1
            polished = _polish(_network_from_program(geo, V.value, W.value, 1, free), X, Y, beta, loss, train_iter)
            if polished.objective(X, Y, beta, loss) >= history[-1]["value"] - 1e-9 * max(1.0, history[-1]["value"]):
                break
            net0 = polished
            new = _unique_columns(np.hstack([X @ W1 + (0.0 if b1 is None else b1) > 0
                                             for W1, b1 in (br[0] for br in polished.branches)]))
            if not bias:                 # keep the patterns the current dual point finds violated
                u = U[:, 0]
                vals = np.array([max(_cone_max(A, d, A.T @ (d * u))[0], _cone_max(A, d, -(A.T @ (d * u)))[0])
                                 for d in new.T])
                hot = np.flatnonzero(vals > beta * (1 + eps))
                if hot.size:
                    new = new[:, hot[np.argsort(-vals[hot])][: 2 * top]]
        else:
            new = res_oracle.D[:, res_oracle.values > beta * (1 + eps)][:, :top]
        # Drop patterns the master left unused: the current solution stays feasible, so the
        # master value cannot go up, and the programs stay small.
        group = np.linalg.norm(V.value[: A.shape[1] - free], axis=0) + np.linalg.norm(W.value[: A.shape[1] - free],
                                                                                       axis=0)
        used = group > 1e-7 * max(float(group.max(initial=0.0)), 1e-300)
        if bias:
            used |= D.all(axis=0)
        merged = _unique_columns(np.hstack([D[:, used], new]))
        if _unique_columns(np.hstack([D, new])).shape[1] == D.shape[1]:
            break                                  # the oracle repeats known patterns: numerical stall
        D = merged
    if bar is not None:
        bar.close()
    assert res_oracle is not None
    converged = res_oracle.value <= beta * (1 + eps)
    Vv, Wv = V.value, W.value
    clean = _support_resolve(A, Y, D, D, Vv, Wv, history[-1]["value"], beta, loss, free, solver)
    if clean is not None:
        Vv, Wv = clean[0], clean[1]
    net = _network_from_program(geo, Vv, Wv, 1, free)
    reason = ""
    if not res_oracle.exact:
        reason = res_oracle.reason
    elif not converged:
        reason = (f"stopped after {len(history)} iterations with rho/beta = {res_oracle.value / beta:.6g} > 1 + eps "
                  f"(max_iter={max_iter})")
    return CuttingPlaneResult(net, U, history[-1]["value"], res_oracle.value, res_oracle.exact, converged, history,
                              D, reason, f"cutting plane ({len(history)} iterations, {D.shape[1]} patterns, {method})")


def _polish(net: Network, X: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, max_iter: int) -> Network:
    """L-BFGS on the non-convex objective from ``net`` (dualnet.train)."""
    from ..train import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(X, Y, beta=beta, loss=loss, init=net, max_iter=max_iter)


def _first_layer(net: Network, bias: bool) -> np.ndarray:
    cols = []
    for br in net.branches:
        W, b = br[0]
        cols.append(np.vstack([W, b[None, :]]) if bias else W)
    Wf = np.hstack(cols)
    if bias and Wf.shape[0] == net.n_features:       # a network without biases seeding a bias problem
        Wf = np.vstack([Wf, np.zeros((1, Wf.shape[1]))])
    return Wf


def _cutting_oracle(A: np.ndarray, U: np.ndarray, X: np.ndarray, bias: bool, top: int, seeds: np.ndarray | None,
                    executor: Executor | None, max_patterns: int, n_starts: int, seed: int) -> OracleResult:
    """The oracle in the coordinates of the master program (augmented ones with a bias)."""
    if not bias:
        return _oracle(A, U, top=top, seeds=seeds, executor=executor, progress=False, max_patterns=max_patterns,
                       n_starts=n_starts, seed=seed)
    res = _bias_oracle(U, X, top=top, executor=executor, progress=False, max_patterns=max_patterns,
                       n_starts=n_starts, seed=seed)
    # Patterns of (Xw + b)_+ at the atoms found are patterns of the augmented data.
    return res


def as_network(net: Any, n_features: int | None = None) -> Network:
    """A :class:`Network` from a Network, a weight list, or a torch ``nn.Sequential``."""
    if isinstance(net, Network):
        out = net
    elif isinstance(net, (list, tuple)) and len(net) > 0:
        out = Network.from_weights(net)
    elif type(net).__module__.startswith("torch"):
        out = Network.from_torch(net)
    else:
        raise InputError("The 'init' parameter must be a dualnet.Network, a list of weight arrays or a torch "
                         f"nn.Sequential. Got {type(net).__name__} instead.")
    if n_features is not None and out.n_features != n_features:
        raise InputError(f"The 'init' network takes {out.n_features} input features but X has {n_features} "
                         "columns. Pass a network trained on these data.")
    return out


# ===================================================================== vector outputs
def _fixed_atom_master(G: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, solver: str | None
                       ) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Min ℓ(G W; Y) + β Σ_j ‖W_j‖₂ over output weights W (m×K) for fixed atoms G (n×m)."""
    n, m = G.shape
    Wv = cp.Variable((m, Y.shape[1]), name="Wout")
    F = cp.Variable(Y.shape, name="F")
    link = F == G @ Wv
    problem = cp.Problem(cp.Minimize(loss.primal(F, Y) + beta * cp.sum(cp.norm(Wv, 2, axis=1))), [link])
    U, method = solve_cvxpy(DualProgram(problem, cp.Parameter(), lambda: np.asarray(link.dual_value), 2), solver)
    return Wv.value, loss.project_dual(U, Y), float(problem.value), method


def _fit_vector(pb: Problem, geo: Geometry, opts: dict[str, Any]) -> Fit:
    """K > 1: column generation over neurons with the many-start oracle; never certified (MATH §8.1)."""
    from ..train import train

    A, X, Y = geo.A, pb.X, pb.Y
    _, net0 = _seed_patterns(X, Y, pb.beta, pb.loss, opts["init"], opts["seed"], False, opts["train_iter"])
    Z = geo.to_reduced(_first_layer(net0, False))
    Z = Z[:, np.linalg.norm(Z, axis=0) > 0]
    Z = Z / np.linalg.norm(Z, axis=0)
    history = []
    for it in range(opts["max_iter"]):
        Wout, U, value, method = _fixed_atom_master(np.maximum(A @ Z, 0.0), Y, pb.beta, pb.loss, pb.solver)
        res = _oracle(A, U, top=opts["top"], seeds=Z, n_starts=opts["n_starts"], seed=opts["seed"] + it)
        history.append({"iteration": it, "atoms": Z.shape[1], "value": value, "rho/beta": res.value / pb.beta,
                        "exact": False})
        new = res.Z[:, res.values > pb.beta * (1 + opts["eps"])][:, : opts["top"]]
        if new.shape[1] == 0:
            break
        Z = np.hstack([Z, new])
    norms = np.linalg.norm(Wout, axis=1)
    keep = norms > 1e-9 * max(norms.max(initial=0.0), 1e-300)
    if not np.any(keep):
        net = _network_from_program(geo, np.zeros((geo.rank, 0)), np.zeros((geo.rank, 0)), Y.shape[1])
    else:
        root = np.sqrt(norms[keep])
        net = Network([[(geo.to_weights(Z[:, keep] * root), None), (Wout[keep] / root[:, None], None)]])
    # Directions are fixed in the master; a short L-BFGS polish moves them (kept only if better).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        polished = train(X, Y, beta=pb.beta, loss=pb.loss, init=net, max_iter=500)
    duals = [U]
    if polished.objective(X, Y, pb.beta, pb.loss) < net.objective(X, Y, pb.beta, pb.loss):
        net = polished
        duals.append(pb.loss.dual_point(polished.forward(X), Y))
    info = {"iterations": history, "oracle": "heuristic", "reason": _inexact_reason(*A.shape, Y.shape[1], 0, 0)}
    return Fit(net, duals, f"column generation over neurons ({len(history)} iterations, {method})", None, info)


# ========================================================================== contract
_OPTIONS = {"patterns": "auto", "n_patterns": 100, "seed": 0, "max_patterns": MAX_PATTERNS, "executor": None,
            "progress": None, "init": None, "max_iter": 100, "top": 5, "eps": None, "n_starts": 200,
            "train_iter": 300}
#: keyword options of dn.solve this setting reads (others are refused)
OPTIONS: tuple[str, ...] = tuple(_OPTIONS)


def _options(pb: Problem) -> dict[str, Any]:
    opts = {**_OPTIONS, **pb.options}         # api.solve already refused names not in OPTIONS
    if opts["eps"] is None:
        opts["eps"] = pb.tol / 10          # ρ ≤ β(1 + eps) costs at most ~eps·P(0) of the bound
    return opts


def check(X: np.ndarray, Y: np.ndarray, depth: int, activation: str = "relu", bias: bool = False,
          batchnorm: bool = False, **opts: object) -> list[str]:
    """Assumptions of this setting that the problem breaks ([] when it applies).

    Any data, depth 2, ReLU, no batch normalization. ``bias=True`` means unpenalized
    hidden and output biases (the package convention, MATH §4.1 Variant A). To penalize
    the bias with the weight (Variant B), append a column of ones to X instead: it is then
    an ordinary weight.
    """
    problems = []
    if activation != "relu":
        problems.append(f"activation={activation!r}: this setting is for ReLU networks")
    if batchnorm:
        problems.append("batchnorm=True: use the 'batchnorm' setting")
    if depth != 2:
        problems.append(f"depth={depth}: the exact convex program covers two-layer ReLU networks (depth=2) only; "
                        "deep ReLU networks on general data have no computable dual constraint (MATH §8.1), so "
                        "dualnet cannot certify them yet")
    return problems


def rho(U: np.ndarray, X: np.ndarray, depth: int = 2, t: float = 1.0, bias: bool = False,
        executor: Executor | None = None, progress: bool | None = None, max_patterns: int = MAX_PATTERNS,
        n_starts: int = 200, seed: int = 0, **_: Any) -> tuple[float, bool]:
    """ρ(U) = max_{‖w‖≤1} ‖Uᵀ(Xw)_+‖ and whether it is exact (see :func:`oracle`)."""
    res = oracle(U, X, executor=executor, progress=progress, max_patterns=max_patterns, n_starts=n_starts,
                 seed=seed, bias=bias)
    return res.value, res.exact


def rho_reason(pb: Problem) -> str:
    """Why :func:`rho` is not exact on ``pb`` ("" when it is)."""
    opts = problem_options(pb)
    A = geometry(pb.X).A
    r = A.shape[1]
    bound = pattern_bound(len(_hyperplanes(A)), r) if r else 1
    if pb.n_outputs == 1 and (r <= 2 or bound <= opts["max_patterns"]):
        return ""
    return _inexact_reason(pb.n_samples, r, pb.n_outputs, bound, opts["max_patterns"], pb.bias)


def problem_options(pb: Problem) -> dict[str, Any]:
    """Keyword arguments :func:`rho` and :func:`dual_program` take from ``pb`` (api hook)."""
    keys = ("executor", "progress", "max_patterns", "n_starts", "seed")
    return {"bias": pb.bias, **{k: pb.options.get(k, _OPTIONS[k]) for k in keys}}


def _center(U: np.ndarray, Y: np.ndarray, loss: Loss) -> np.ndarray:
    """A dual point with zero column sums inside the loss's domain (alternating projections)."""
    V = U
    for _ in range(100):
        V = loss.project_dual(V - V.mean(axis=0), Y)
        if np.all(np.abs(V.sum(axis=0)) <= 1e-12 * max(float(np.abs(V).sum()), 1e-300)):
            break
    return V


def dual_candidates(candidates: list[np.ndarray], pb: Problem) -> list[np.ndarray]:
    """With biases the dual needs 1ᵀU = 0 (free constants): add the centred candidates (api hook)."""
    if not pb.bias:
        return list(candidates)
    return [*candidates, *(_center(np.asarray(U, dtype=float), pb.Y, pb.loss) for U in candidates)]


def dual_program(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None, loss: Loss,
                 D: np.ndarray | None = None, bias: bool = False, max_patterns: int = MAX_PATTERNS,
                 **_: Any) -> DualProgram:
    """The dual of MATH §8.2 over the patterns D (every pattern when None), K = 1.

    max −ℓ*(−u) s.t. ‖AᵀD_i u + Aᵀ(2D_i − I)α_i‖ ≤ β, ‖−AᵀD_i u + Aᵀ(2D_i − I)α'_i‖ ≤ β, α, α' ≥ 0.
    With every pattern its value is the global optimum; with a subset it is a relaxation
    of the dual of the restricted primal (their values agree).
    """
    if Y.shape[1] != 1:
        raise InputError(f"The two-layer ReLU dual with {Y.shape[1]} outputs has a copositive-type constraint "
                         "(MATH §8.1) and no finite CVXPY form. Pass one output column.")
    A = _design(X, bias)[1]
    if D is None:
        D = _enumerate(geometry(_augment(X, bias)).A, None, False, max_patterns).D
    D = D[:, D.any(axis=0)]
    n, P = D.shape
    Dm, S = D.astype(float), 2.0 * D - 1.0
    u = cp.Variable((n, 1), name="U")
    alpha, alpha2 = cp.Variable((n, P), nonneg=True), cp.Variable((n, P), nonneg=True)
    threshold = cp.Parameter(nonneg=True, name="beta")
    objective, constraints = loss.dual(u, Y)
    Du = cp.multiply(Dm, u @ np.ones((1, P)))
    free = slice(A.shape[1] - 1, A.shape[1]) if bias else None
    for sign, a in ((1.0, alpha), (-1.0, alpha2)):
        M = A.T @ (sign * Du + cp.multiply(S, a))
        if free is None:
            constraints.append(cp.norm(M, 2, axis=0) <= threshold)
        else:                               # an unpenalized bias coordinate: its component must vanish
            constraints += [cp.norm(M[: A.shape[1] - 1], 2, axis=0) <= threshold, M[free] == 0]
    program = DualProgram(cp.Problem(cp.Maximize(objective), constraints), threshold, lambda: u.value, depth, t)
    program.set_beta(beta, t)
    return program


def fit(pb: Problem) -> Fit:
    """Globally optimal two-layer ReLU network for ``pb`` (the pipeline ``api.solve`` calls).

    ``method="auto"``: cutting plane (MATH §8.3). ``method="cvxpy"``: one convex program
    over all patterns (enumerated when the counting bound allows, otherwise
    ``n_patterns`` sampled ones; an upper bound then). Options (keyword arguments of
    ``dn.solve``): patterns, n_patterns, seed, max_patterns, executor, progress, init,
    max_iter, top, eps, n_starts, train_iter.
    """
    opts = _options(pb)
    if pb.method in ("fast", "closed-form"):
        raise InputError(f"The 'method' parameter of solve is {pb.method!r}, but two-layer ReLU networks on general "
                         "data have no closed form. Use method='auto' (cutting plane) or method='cvxpy' (one "
                         "convex program over the patterns).")
    geo, A = _design(pb.X, pb.bias)
    if pb.n_outputs > 1:
        if pb.bias:
            raise InputError("bias=True with several outputs is not supported by the 'relu-two-layer' setting. "
                             "Append a column of ones to X (a penalized bias) or use bias=False.")
        return _fit_vector(pb, geo, opts)
    if pb.method == "cvxpy":
        return _fit_full(pb, geo, A, opts)
    res = cutting_plane(pb.X, pb.Y, pb.beta, pb.loss, init=opts["init"], bias=pb.bias, seed=opts["seed"],
                        max_iter=opts["max_iter"], top=opts["top"], eps=opts["eps"], solver=pb.solver,
                        executor=opts["executor"], progress=opts["progress"], max_patterns=opts["max_patterns"],
                        n_starts=opts["n_starts"], train_iter=opts["train_iter"])
    info = {"iterations": res.iterations, "patterns": res.D.shape[1], "rho/beta": res.rho / pb.beta,
            "oracle_exact": res.exact, "reason": res.reason}
    return Fit(res.network, [res.U], res.method, None, info)


def _fit_full(pb: Problem, geo: Geometry, A: np.ndarray, opts: dict[str, Any]) -> Fit:
    how = opts["patterns"]
    if isinstance(how, np.ndarray):
        P = Patterns(how.astype(bool), False, 0, "given")
    else:
        P = _patterns(geometry(_augment(pb.X, pb.bias)).A, how, opts["n_patterns"], opts["seed"],
                      opts["max_patterns"], opts["executor"], opts["progress"])
    D = P.D[:, P.D.any(axis=0)]
    if pb.bias:
        D = _unique_columns(np.hstack([D, np.ones((pb.n_samples, 1), dtype=bool)]))
    program, V, W = _program(A, pb.Y, D, pb.beta, pb.loss, int(pb.bias))
    U, method = solve_cvxpy(program, pb.solver)
    Vv, Wv = V.value, W.value
    clean = _support_resolve(A, pb.Y, D, D, Vv, Wv, program.problem.value, pb.beta, pb.loss, int(pb.bias), pb.solver)
    if clean is not None:
        Vv, Wv = clean[0], clean[1]
    net = _network_from_program(geo, Vv, Wv, 1, int(pb.bias))
    info = {"patterns": D.shape[1], "patterns_exact": P.exact, "patterns_reason": P.reason}
    return Fit(net, [pb.loss.project_dual(U, pb.Y)], f"{method} ({D.shape[1]} patterns)", program.problem, info)
