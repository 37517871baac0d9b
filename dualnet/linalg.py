"""Linear-algebra helpers shared by the settings: whitening, and per-array caches.

``whiten`` is public (``dn.whiten``); ``cached`` lets a setting's ``rho`` reuse an
expensive quantity of X (a Gram matrix, a factorization) across the many calls a
certificate makes, without trusting a stale value when X changes.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import InputError
from .validation import as_data

__all__ = ["cached", "whiten"]


def whiten(X: Any, rtol: float = 1e-7) -> np.ndarray:
    """Whiten on the sample axis: return Z = (X Xᵀ)^{-1/2} X, so that Z Zᵀ = I_n.

    The rows of Z are orthonormal, which is the whitened setting of docs/settings/whitened.md
    (``setting="relu-whitened"``). Z is the matrix with orthonormal rows closest to X
    (if X = A diag(s) Bᵀ is a thin SVD, Z = A Bᵀ): the symmetric (ZCA) whitening of
    the samples.

    **This changes the problem being solved.** A network that is optimal for Z is
    optimal for Z, not for X, and the map mixes samples (row i of Z combines all rows
    of X), so it has no out-of-sample counterpart: new inputs cannot be whitened the
    same way. Use it when the whitened problem is the one you want to study.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Needs n_samples ≤ n_features and full row rank.
    rtol : float, default 1e-7
        Rows are treated as linearly dependent when the smallest singular value of X is
        at most ``rtol`` times the largest.

    Returns
    -------
    ndarray of shape (n_samples, n_features)

    Raises
    ------
    InputError
        When n_samples > n_features or X does not have full row rank.

    Examples
    --------
    >>> import numpy as np
    >>> import dualnet as dn
    >>> Z = dn.whiten(np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    >>> np.allclose(Z @ Z.T, np.eye(2))
    True
    """
    X = as_data(X, "whiten")
    n, d = X.shape
    if n > d:
        raise InputError(f"The 'X' parameter of whiten must have n_samples <= n_features (X Xᵀ = I needs "
                         f"orthonormal rows). Got shape {X.shape} instead. Whitening on the sample axis is only "
                         "possible with at least as many features as samples: use fewer samples, or a setting "
                         "that does not need whitened data.")
    # One eigendecomposition of the n×n Gram matrix (an SVD of X costs far more when d is
    # large); the Gram squares the condition number, so re-whiten the result until
    # Z Zᵀ = I to round-off (one extra pass for well-conditioned X).
    lam, V = np.linalg.eigh(X @ X.T)
    if lam[0] <= (rtol ** 2) * lam[-1]:
        ratio = np.sqrt(max(lam[0], 0.0) / lam[-1]) if lam[-1] > 0 else 0.0
        rank = int(np.sum(lam > (rtol ** 2) * lam[-1]))
        raise InputError(f"The 'X' parameter of whiten must have full row rank {n} (linearly independent "
                         f"samples). Got rank {rank} (smallest/largest singular value {ratio:.3g} <= "
                         f"rtol={rtol:g}) instead. Remove duplicate or linearly dependent samples.")
    Z = (V / np.sqrt(lam)) @ (V.T @ X)
    for _ in range(2):
        G = Z @ Z.T
        if np.max(np.abs(G - np.eye(n))) <= 1e-12:
            break
        lam, V = np.linalg.eigh(G)
        Z = (V / np.sqrt(lam)) @ (V.T @ Z)
    return Z


# ------------------------------------------------------------------------------ caches
_CACHE: dict[tuple[int, str], tuple[weakref.ref, tuple, Any]] = {}
_PROBES: dict[int, np.ndarray] = {}


def _fingerprint(X: np.ndarray) -> tuple:
    """Cheap identity of X's contents: shape, buffer, and two linear probes (one pass each)."""
    flat = X.reshape(-1)
    probe = _probe(flat.size)
    return (X.shape, X.__array_interface__["data"][0], float(flat.sum()), float(flat @ probe))


def _probe(size: int) -> np.ndarray:
    if size not in _PROBES:
        if len(_PROBES) > 8:
            _PROBES.clear()
        _PROBES[size] = np.random.default_rng(size).standard_normal(size)
    return _PROBES[size]


def digest(*arrays: np.ndarray) -> bytes:
    """A digest of the arrays' shapes and contents (as float64): a cache key that a changed array never matches.

    Examples
    --------
    >>> a = np.arange(3.0)
    >>> digest(a) == digest(a.copy()), digest(a) == digest(a[::-1])
    (True, False)
    """
    h = hashlib.blake2b(digest_size=20)
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=float)
        h.update(repr(a.shape).encode())
        h.update(a.data)
    return h.digest()


def cached(X: np.ndarray, name: str, compute: Callable[[np.ndarray], Any]) -> Any:
    """``compute(X)``, reused while the same array with the same contents is passed again.

    The key is the array object itself (held weakly) plus a fingerprint of its contents
    (two O(size) passes), so a modified or new array is recomputed. Keeps a few entries.
    """
    key = (id(X), name)
    hit = _CACHE.get(key)
    stamp = _fingerprint(X)
    if hit is not None and hit[0]() is X and hit[1] == stamp:
        return hit[2]
    value = compute(X)
    if len(_CACHE) > 16:
        for k in [k for k, v in _CACHE.items() if v[0]() is None] or list(_CACHE)[:8]:
            _CACHE.pop(k, None)
    try:
        _CACHE[key] = (weakref.ref(X), stamp, value)
    except TypeError:           # objects without weak references are simply not cached
        pass
    return value
