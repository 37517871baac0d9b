"""First-order pieces of the restricted solvers: the augmented Lagrangian with FISTA subproblems.

The cone constraints (2D_i − I)Aθ_i ≥ 0 of the pattern program are handled by an augmented
Lagrangian (as in Mishkin, Sahiner & Pilanci 2022): each subproblem is smooth plus group
norms, solved by accelerated proximal gradient (FISTA with adaptive restart); the
multipliers μ_i ≥ 0 are then updated by μ ← (μ − ϱ(2D − I)Aθ)_+. Nonsmooth losses (hinge,
absolute) enter through a second multiplier on the link F = Σ D_i A θ_i: the subproblem sees
the Moreau envelope of ℓ, whose gradient is a subgradient of ℓ at the proximal point (the
method of multipliers on the link).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ...errors import InputError
from ...losses import Loss

#: Lipschitz constants of ∇ℓ (per sample) for the smooth losses
_SMOOTH = {"squared": 1.0, "logistic": 0.25, "cross-entropy": 0.5}
#: proximal-gradient steps between multiplier updates (restarting momentum more often was slower)
_INNER = 500
#: cone penalty ϱ relative to the balance ϱ‖A‖² = L_ℓ‖M‖² (measured: 1 and 100 converged slower)
_RHO = 10.0
#: link penalty of the nonsmooth losses: start, growth factor when the link residual falls by less
#: than _GROW_IF in a round, and cap (measured on hinge/absolute: a fixed 1, 10 or 100 each failed one)
_RHO_LINK, _GROW_IF, _GROW_BY, _RHO_LINK_MAX = 1.0, 0.9, 2.0, 16.0


def _lipschitz(loss: Loss) -> float | None:
    """The Lipschitz constant of ∇ℓ, None for a nonsmooth loss.

    A loss minimized over a free intercept, min_b ℓ(F + 1bᵀ) (``base`` is ℓ; the estimators'),
    keeps ℓ's constant: its conjugate is ℓ* on the subspace 1ᵀU = 0, as strongly convex.
    """
    return _SMOOTH.get(getattr(loss, "base", loss).name)


def _prox(loss: Loss, q: np.ndarray, Y: np.ndarray, t: float) -> np.ndarray:
    """argmin_F ℓ(F) + ‖F − q‖²/(2t) for the nonsmooth losses (and for them with a free intercept)."""
    if getattr(loss, "base", None) is not None:
        return _prox_intercept(loss.base, q, Y, t)
    if loss.name == "hinge":
        z = Y * q                                  # (1 − z)_+ in z = y f, y = ±1
        return Y * np.where(z < 1.0 - t, z + t, np.maximum(z, 1.0))
    if loss.name == "absolute":
        r = q - Y
        return Y + np.sign(r) * np.maximum(np.abs(r) - t, 0.0)
    raise InputError(f"solve_patterns has no proximal operator for loss={loss.name!r}.")


def _prox_intercept(base: Loss, q: np.ndarray, Y: np.ndarray, t: float) -> np.ndarray:
    """The prox of g(F) = min_b ℓ(F + 1bᵀ) for an elementwise ℓ: F = prox_tℓ(q + 1bᵀ) − 1bᵀ.

    With G = F + 1bᵀ the prox is min over b of the Moreau envelope of ℓ at q + 1bᵀ, convex
    in b with derivative Σ_i (q + b − prox_tℓ(q + b))_i / t, non-decreasing: bisection per
    column. Each term lies in [−t, t] (hinge, absolute), so b* lies in the bracket below.
    """
    lo = (Y - q).min(axis=0) - t - 1.0
    hi = (Y - q).max(axis=0) + t + 1.0
    for _ in range(100):
        b = 0.5 * (lo + hi)
        z = q + b
        up = (z - _prox(base, z, Y, t)).sum(axis=0) > 0
        lo, hi = np.where(up, lo, b), np.where(up, b, hi)
    b = 0.5 * (lo + hi)
    return _prox(base, q + b, Y, t) - b


class _Link:
    """The smooth function of the predictions the subproblems see, and its dual point.

    Smooth losses: ℓ itself. Nonsmooth ones: the Moreau envelope min_F ℓ(F) + (ϱ/2)‖F − q‖²
    at q = prediction + η/ϱ, with the multiplier η of the link updated between subproblems.
    """

    def __init__(self, loss: Loss, Y: np.ndarray, eta: np.ndarray | None, rho: float | None):
        self.loss, self.Y = loss, Y
        self.smooth = _lipschitz(loss) is not None
        if not self.smooth:
            self.rho = rho or _RHO_LINK
            self.eta = np.zeros_like(Y) if eta is None else eta
            self.residual = np.inf

    @property
    def lipschitz(self) -> float:
        return _lipschitz(self.loss) if self.smooth else self.rho

    def grad(self, F: np.ndarray) -> np.ndarray:
        if self.smooth:
            return -self.loss.dual_point(F, self.Y)
        q = F + self.eta / self.rho
        return self.rho * (q - _prox(self.loss, q, self.Y, 1.0 / self.rho))

    def update(self, F: np.ndarray) -> None:
        """Method-of-multipliers step on the link: η becomes a subgradient of ℓ at the proximal point.

        The penalty ϱ grows (×5, up to 1e4) while the link residual ‖F − prox‖ does not halve.
        """
        if self.smooth:
            return
        eta = self.grad(F)
        residual = float(np.linalg.norm(eta - self.eta)) / self.rho      # ‖F − prox(F + η/ϱ)‖
        self.eta = eta
        if residual > _GROW_IF * self.residual and self.rho < _RHO_LINK_MAX:
            self.rho *= _GROW_BY
        self.residual = residual

    def duals(self, F: np.ndarray) -> list[np.ndarray]:
        """Dual-point candidates: −∇ℓ(F), and −η for nonsmooth losses."""
        out = [self.loss.project_dual(self.loss.dual_point(F, self.Y), self.Y)]
        if not self.smooth:
            out.append(self.loss.project_dual(-self.eta, self.Y))
        return out


# ============================================================================ FISTA
def _shrink(T: np.ndarray, t: float, pen: int) -> np.ndarray:
    """Prox of t Σ_g ‖θ_g[:pen]‖ over the columns θ_g (the free rows pass unchanged); overwrites ``T``."""
    norms = np.sqrt(np.einsum("ij,ij->j", T[:pen], T[:pen]))
    np.maximum(norms, 1e-300, out=norms)
    np.divide(t, norms, out=norms)
    np.subtract(1.0, norms, out=norms)
    np.maximum(norms, 0.0, out=norms)
    T[:pen] *= norms
    return T


def _fista(grad, T: np.ndarray, L: float, beta: float, pen: int, max_iter: int,
           deadline: float) -> tuple[np.ndarray, int]:
    """Accelerated proximal gradient with gradient-based restart (O'Donoghue & Candès): (θ, steps)."""
    X, Yp, t = T, T, 1.0
    for k in range(1, max_iter + 1):
        Xn = grad(Yp)
        Xn *= -1.0 / L
        Xn += Yp
        Xn = _shrink(Xn, beta / L, pen)
        step = Xn - X
        if np.vdot(Yp - Xn, step) > 0:                  # momentum points uphill: restart
            t = 1.0
        tn = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))      # a Python float: keeps single precision single
        step *= (t - 1.0) / tn
        Yp = step
        Yp += Xn
        X, t = Xn, tn
        if k % 20 == 0 and time.perf_counter() > deadline:
            return X, k
    return X, max_iter


def _power_norm2(op, adj, shape: tuple[int, ...], iters: int = 60, seed: int = 0) -> float:
    """‖op‖² by power iteration on adj∘op (from below; callers add a margin)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    lam = 0.0
    for _ in range(iters):
        x = x / max(float(np.linalg.norm(x)), 1e-300)
        y = adj(op(x))
        new = float(np.sum(x * y))
        x = y
        if abs(new - lam) <= 1e-6 * new:
            lam = new
            break
        lam = new
    return lam


def _scales(A: np.ndarray, Dsig: np.ndarray, lip: float, norm_A: float, rho_c: float | None
            ) -> tuple[float, float]:
    """‖M‖² of the working set's prediction map (with a margin) and the cone penalty ϱ (balanced against it)."""
    def forward(Th: np.ndarray) -> np.ndarray:
        return ((A @ Th) * Dsig).sum(axis=1, keepdims=True)

    def adjoint(G: np.ndarray) -> np.ndarray:
        return A.T @ (Dsig * G)

    norm_M = _power_norm2(forward, adjoint, (A.shape[1], Dsig.shape[1])) * 1.05
    balanced = max(_RHO * lip * norm_M / max(norm_A, 1e-300), 1e-12)
    return norm_M, balanced if rho_c is None else max(rho_c, balanced)


def _al_round(A, Dsig, S, T, mu, link, beta, pen, rho_c, L, steps, deadline, single=False):
    """FISTA steps on the augmented Lagrangian, then the multiplier updates (cones, and the link).

    With ``single`` the steps run in single precision (half the memory traffic; the caller
    asks for it only far from the optimum, where the round-off of 1e-7 is far below the
    gap), and the iterate and multipliers come back in double precision.
    """
    if single:
        A, Dsig, S, T, mu = (M.astype(np.float32) for M in (A, Dsig, S, T, mu))
    # The n × G arrays are held transposed (G × n): the broadcast of the link's gradient and the sum
    # over groups then run along contiguous rows (measured at G = 168: 10 % less time per step).
    DsigT, ST, muT = (np.ascontiguousarray(M.T) for M in (Dsig, S, mu))
    rho_S, At = rho_c * ST, np.ascontiguousarray(A.T)
    H, zero = np.empty_like(muT), np.zeros_like(muT)

    def grad(Th: np.ndarray) -> np.ndarray:
        # In place on two G × n buffers (measured: 2-3× faster than with temporaries, G = 225-450).
        Z = Th.T @ At
        g = link.grad(np.einsum("ij,ij->j", Z, DsigT)[:, None]).astype(Z.dtype)     # mixed precision: 3× slower
        np.multiply(rho_S, Z, out=H)
        np.subtract(muT, H, out=H)
        np.maximum(H, zero, out=H)              # against a scalar 0: 8× slower (no vectorized loop)
        np.multiply(H, ST, out=H)
        np.multiply(DsigT, g[:, 0], out=Z)
        np.subtract(Z, H, out=Z)
        return (Z @ A).T

    T, k = _fista(grad, T, L, beta, pen, steps, deadline)
    Z = A @ T
    mu = np.maximum(mu - rho_c * S * Z, 0.0)
    link.update((Z * Dsig).sum(axis=1, keepdims=True).astype(float))
    return T.astype(float), mu.astype(float), k
