"""The grid of distinct inputs and the support values r_k, l_k, ρ (docs/settings/spline.md#primal-and-dual; deep: package docstring).

Everything here is O(nK) NumPy: prefix and suffix sums over the sorted inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ...losses import Loss

__all__ = ["Grid", "left_values", "make_grid", "project_dual", "rho", "right_values"]


@dataclass(frozen=True)
class Grid:
    """Distinct sorted inputs ξ_1 < … < ξ_m and, for every sample, the index of its ξ.

    ``knots[group]`` is the input in the caller's order, so predictions and dual points
    computed on the grid go back to the original order by indexing with ``group``.
    """

    knots: np.ndarray
    group: np.ndarray

    @property
    def m(self) -> int:
        return self.knots.size

    @property
    def gaps(self) -> np.ndarray:
        return np.diff(self.knots)

    @property
    def counts(self) -> np.ndarray:
        """Samples at each ξ_k (floats, every one ≥ 1), shape (m,)."""
        return np.bincount(self.group, minlength=self.m).astype(float)

    def sums(self, U: np.ndarray) -> np.ndarray:
        """Σ of the rows of U over the samples at each ξ_k, shape (m, K)."""
        G = np.zeros((self.m, U.shape[1]))
        np.add.at(G, self.group, U)
        return G

    def means(self, U: np.ndarray) -> np.ndarray:
        """Mean of the rows of U over the samples at each ξ_k, shape (m, K)."""
        return self.sums(U) / self.counts[:, None]

    def aggregation(self) -> sp.csr_matrix:
        """The m×n 0/1 matrix that sums samples per distinct input (n nonzeros)."""
        n = self.group.size
        return sp.csr_matrix((np.ones(n), (self.group, np.arange(n))), shape=(self.m, n))


def make_grid(X: np.ndarray) -> Grid:
    """Sort the one-dimensional inputs and merge repeated values into one kink position."""
    knots, group = np.unique(np.asarray(X, dtype=float).reshape(-1), return_inverse=True)
    return Grid(knots, group.reshape(-1))


# --------------------------------------------------------------------------- support values
def right_values(U: np.ndarray, grid: Grid) -> np.ndarray:
    """r_k = Σ_i (x_i − ξ_k)_+ u_i for k = 1..m (r_m = 0), by suffix sums: O(nK)."""
    G = grid.sums(U)
    T = np.cumsum(G[::-1], axis=0)[::-1]            # T_j = Σ_{l ≥ j} G_l
    r = np.zeros_like(G)
    r[:-1] = np.cumsum((grid.gaps[:, None] * T[1:])[::-1], axis=0)[::-1]
    return r


def left_values(U: np.ndarray, grid: Grid) -> np.ndarray:
    """l_k = Σ_i (ξ_k − x_i)_+ u_i for k = 1..m (l_1 = 0), by prefix sums: O(nK)."""
    P = np.cumsum(grid.sums(U), axis=0)             # P_j = Σ_{l ≤ j} G_l
    l = np.zeros_like(P)
    l[1:] = np.cumsum(grid.gaps[:, None] * P[:-1], axis=0)
    return l


def _diameter(R: np.ndarray) -> tuple[float, bool]:
    """Largest ‖r_j − r_k‖ (exact), or a rigorous upper bound for very many rows."""
    if R.shape[1] == 1:
        return float(np.ptp(R)), True
    if R.shape[0] <= 5000:
        best = 0.0
        for start in range(0, R.shape[0], 256):          # direct differences (no cancellation), 256·m·K memory
            diff = R[start:start + 256, None, :] - R[None, :, :]
            best = max(best, float(np.max(np.linalg.norm(diff, axis=2))))
        return best, True
    return 2.0 * float(np.max(np.linalg.norm(R - R.mean(axis=0), axis=1))), True


def _centered(U: np.ndarray) -> bool:
    """1ᵀU = 0 up to rounding: 32·n·eps·(Σ|u_i| + n·max|u_i|) per column.

    Projections of a centered point onto a loss's domain (clipping, renormalizing rows)
    move each entry by a few eps times its scale; such a U is the rounded image of an
    exactly centered one, whose dual value and ρ differ by the same order.
    """
    n = U.shape[0]
    A = np.abs(U)
    tol = 32.0 * n * np.finfo(float).eps * (A.sum(axis=0) + n * A.max(axis=0)) + 1e-300
    return bool(np.all(np.abs(U.sum(axis=0)) <= tol))


def rho(U: np.ndarray, X: np.ndarray, depth: int, t: float = 1.0) -> tuple[float, bool]:
    """Support value ρ(U) = sup over branches g of ‖Uᵀg‖, exact (docs/settings/spline.md#primal-and-dual; deep: module docstring).

    Depth 2: max_k max(‖r_k‖, ‖l_k‖), the sup over |w| ≤ 1 and every bias b of
    ‖Uᵀ(xw + b)_+‖, attained at a data point. Depth L ≥ 3: t^{L−2} times the diameter of
    {r_k}. The free output bias makes the sup infinite unless 1ᵀU = 0; ``inf`` is
    returned then (the certificate centers its candidates with :func:`project_dual`).

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.settings import spline
    >>> X, u = np.array([[-1.0], [0.0], [1.0]]), np.array([[-0.1], [0.2], [-0.1]])
    >>> [round(spline.rho(u, X, L, 1.0)[0], 12) for L in (2, 3)]       # docs/theory/known-answers.md#t9: active at β = 0.1
    [0.1, 0.1]
    """
    U = np.asarray(U, dtype=float).reshape(U.shape[0], -1)
    if not _centered(U):
        return float("inf"), True
    grid = make_grid(X)
    if grid.m == 1:
        return 0.0, True
    r = right_values(U, grid)
    if depth == 2:
        l = left_values(U, grid)
        return float(max(np.max(np.linalg.norm(r, axis=1)), np.max(np.linalg.norm(l, axis=1)))), True
    diameter, exact = _diameter(r)
    return diameter * t ** (depth - 2), exact


def project_dual(U: np.ndarray, Y: np.ndarray, loss: Loss) -> np.ndarray:
    """A dual point with 1ᵀU = 0 inside the loss's domain, close to ``U``.

    The free output bias forces 1ᵀU = 0. Centering the columns is the projection onto
    that hyperplane; when it leaves the conjugate's domain (hinge, logistic, absolute,
    cross-entropy), the smallest mix with a centered interior point brings it back. Both
    steps keep 1ᵀU = 0, so the certificate's bound stays valid.
    """
    U = np.asarray(U, dtype=float)
    Uc = U - U.mean(axis=0)
    if loss.name == "squared" or np.isfinite(loss.dual_value(Uc, Y)):
        return Uc
    inner = _interior_point(Y, loss)
    if not np.isfinite(loss.dual_value(inner, Y)):
        return Uc
    lo, hi = 0.0, 1.0                     # smallest θ with (1 − θ)U_c + θ·inner in the domain
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if np.isfinite(loss.dual_value((1 - mid) * Uc + mid * inner, Y)) else (mid, hi)
    return (1 - hi) * Uc + hi * inner


def _interior_point(Y: np.ndarray, loss: Loss) -> np.ndarray:
    """A dual point with 1ᵀU = 0 strictly inside the loss's domain (when one exists)."""
    n = Y.shape[0]
    if loss.name in ("hinge", "logistic"):
        # λ_i = y_i u_i ∈ [0, 1]; λ = n_∓/n on the ± class makes Σ y_i λ_i = 0.
        pos, neg = np.sum(Y > 0, axis=0), np.sum(Y < 0, axis=0)
        return Y * np.where(Y > 0, neg / n, pos / n)
    if loss.name == "cross-entropy":
        return Y - Y.mean(axis=0)         # P = class frequencies in every row
    return np.zeros_like(Y)
