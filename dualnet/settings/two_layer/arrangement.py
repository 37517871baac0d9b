"""Arrangement patterns of X in reduced coordinates: exact enumeration and sampling (docs/settings/two_layer.md).

A first-layer weight w = V z acts through A = U_x diag(s) (X = A Vᵀ, ‖w‖ = ‖z‖), so a
pattern D = diag(1[Xw ≥ 0]) is a chamber of the central arrangement {z : a_iᵀz = 0}.
Chambers are enumerated exactly when the counting bound P ≤ 2Σ_{k<r} C(m−1, k) is small
(r = 1, 2 directly; r ≥ 3 through the extreme rays of the chambers), sampled otherwise.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError
from ..linear import Reduction, reduce

#: exact enumeration (and so an exact oracle) when the counting bound is at most this
MAX_PATTERNS = 50_000
#: patterns per task handed to an executor
CHUNK = 512


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
    """Counting bound of docs/settings/two_layer.md: at most 2Σ_{k=0}^{r−1} C(n−1, k) patterns (r = rank X).

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
    """Every arrangement pattern of X, exactly (docs/settings/two_layer.md).

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


