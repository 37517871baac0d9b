"""Convex losses, their CVXPY terms, and their conjugate (dual) terms (docs/theory/losses.md).

Each loss ℓ(F; Y) acts on predictions F of shape (n_samples, n_outputs). The dual of a
regularized network's training problem is ``max_U -ℓ*(-U)`` subject to the setting's
constraint on U; every class here supplies that objective both in CVXPY and in NumPy,
and the dual point ``U = -∇ℓ(F)`` a network's predictions give.

All sums run over samples (no averaging), matching the package conventions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import cvxpy as cp
import numpy as np
from scipy.special import entr, expit

from .errors import InputError
from .validation import check_choice

__all__ = ["LOSSES", "Loss", "get_loss"]


class Loss:
    """Interface of a convex loss ℓ(F; Y), summed over samples.

    Subclasses implement the five methods below. Dual points are kept inside the
    conjugate's domain by every method that returns one, and scaling a dual point by
    c in [0, 1] keeps it there (the certificate relies on this).
    """

    name: ClassVar[str] = ""

    def check_labels(self, Y: np.ndarray, where: str = "solve") -> None:
        """Raise :class:`InputError` when labels do not fit the loss (``where``: the caller's name)."""

    def value(self, F: np.ndarray, Y: np.ndarray) -> float:
        """ℓ(F; Y) in NumPy."""
        raise NotImplementedError

    def primal(self, F: cp.Expression, Y: np.ndarray) -> cp.Expression:
        """ℓ(F; Y) as a convex CVXPY expression."""
        raise NotImplementedError

    def dual(self, U: cp.Expression, Y: np.ndarray) -> tuple[cp.Expression, list[cp.Constraint]]:
        """-ℓ*(-U) as a concave CVXPY expression, and the conjugate's domain constraints."""
        raise NotImplementedError

    def dual_value(self, U: np.ndarray, Y: np.ndarray) -> float:
        """-ℓ*(-U) in NumPy; -inf outside the domain."""
        raise NotImplementedError

    def dual_point(self, F: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """U = -∇ℓ(F) (a negated subgradient for nonsmooth losses)."""
        raise NotImplementedError

    def project_dual(self, U: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Nearest point of the conjugate's domain (repairs solver round-off)."""
        return U

    def zero_value(self, Y: np.ndarray) -> float:
        """P(0): the loss of the zero network, the scale of relative gaps."""
        return self.value(np.zeros_like(Y), Y)

    #: whether ℓ is twice differentiable (hinge and absolute are not), i.e. has :meth:`curvature`
    smooth: ClassVar[bool] = True
    #: whether ℓ is piecewise linear with kinks at F = Y and has :meth:`moreau` (hinge, absolute)
    kinked: ClassVar[bool] = False

    def curvature(self, F: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Second derivatives ∂²ℓ/∂F_ik² of a loss that acts entry by entry (n×K)."""
        raise NotImplementedError

    def moreau(self, F: np.ndarray, Y: np.ndarray, mu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The Moreau envelope ℓ_μ(F) = min_G ℓ(G; Y) + ‖F − G‖²/(2μ) of a kinked loss, entry by entry.

        Returns the entries of ℓ_μ (n×K, summing to ℓ_μ(F)), the dual point U = −∇ℓ_μ(F)
        (always inside the conjugate's domain: the gradient of an envelope is a subgradient
        of ℓ at the prox point) and the curvature ∂²ℓ_μ/∂F_ik² (1/μ where the envelope is
        quadratic, else 0). Its dual is that of ℓ with −μ‖U‖²/2 added, and ℓ_μ ≥ ℓ − μ/2 per
        entry whose subgradients are bounded by 1: the smoothed fast paths of
        :mod:`dualnet.settings._reduced` rest on these two facts.
        """
        raise NotImplementedError

    def hessian_blocks(self, F: np.ndarray, Y: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Bᵀ H_i B for every sample (n×q×q), H_i the Hessian of ℓ in row i of F; B is K×q.

        The Newton solvers of the settings need only these blocks: with F = A Z Bᵀ the
        Hessian of ℓ in Z is Σ_i (a_i a_iᵀ) ⊗ Bᵀ H_i B.
        """
        return _diagonal_blocks(self.curvature(F, Y), B)

    def __repr__(self) -> str:
        return f"Loss({self.name!r})"


class Squared(Loss):
    """½‖F − Y‖²_F."""

    name = "squared"

    def value(self, F, Y):
        return 0.5 * float(np.sum((F - Y) ** 2))

    def primal(self, F, Y):
        return 0.5 * cp.sum_squares(F - Y)

    def dual(self, U, Y):
        return cp.sum(cp.multiply(U, Y)) - 0.5 * cp.sum_squares(U), []

    def dual_value(self, U, Y):
        return float(np.sum(U * Y) - 0.5 * np.sum(U * U))

    def dual_point(self, F, Y):
        return Y - F

    def curvature(self, F, Y):
        return np.ones_like(F)


def _check_pm_one(Y: np.ndarray, loss: str, where: str) -> None:
    if not np.all(np.abs(Y) == 1):
        bad = np.unique(Y[np.abs(Y) != 1])[:5]
        raise InputError(
            f"The 'y' parameter of {where} must hold labels in {{-1, +1}} for loss={loss!r}. "
            f"Got values such as {bad.tolist()} instead. Map classes to -1/+1, e.g. y = 2*y - 1 for 0/1 labels.")


class Hinge(Loss):
    """Σ (1 − y f)_+ with labels in {−1, +1} (elementwise for several outputs)."""

    name = "hinge"

    def check_labels(self, Y, where="solve"):
        _check_pm_one(Y, self.name, where)

    def value(self, F, Y):
        return float(np.sum(np.maximum(1.0 - Y * F, 0.0)))

    def primal(self, F, Y):
        return cp.sum(cp.pos(1 - cp.multiply(Y, F)))

    def dual(self, U, Y):
        lam = cp.multiply(Y, U)
        return cp.sum(lam), [lam >= 0, lam <= 1]

    def dual_value(self, U, Y):
        lam = Y * U
        if np.any(lam < 0) or np.any(lam > 1):
            return -np.inf
        return float(np.sum(lam))

    def dual_point(self, F, Y):
        return Y * (Y * F < 1)

    def project_dual(self, U, Y):
        return Y * np.clip(Y * U, 0.0, 1.0)

    def moreau(self, F, Y, mu):
        # (1 − y f)_+ smoothed in the slack s = 1 − y f: 0, s²/(2μ), s − μ/2 (y² = 1).
        s = 1.0 - Y * F
        return _huber_pos(s, mu), Y * np.clip(s / mu, 0.0, 1.0), ((s > 0) & (s < mu)) / mu

    smooth = False
    kinked = True


class Logistic(Loss):
    """Σ log(1 + exp(−y f)) with labels in {−1, +1}."""

    name = "logistic"

    def check_labels(self, Y, where="solve"):
        _check_pm_one(Y, self.name, where)

    def value(self, F, Y):
        return float(np.sum(np.logaddexp(0.0, -Y * F)))

    def primal(self, F, Y):
        return cp.sum(cp.logistic(-cp.multiply(Y, F)))

    def dual(self, U, Y):
        lam = cp.multiply(Y, U)
        return cp.sum(cp.entr(lam) + cp.entr(1 - lam)), []

    def dual_value(self, U, Y):
        lam = Y * U
        if np.any(lam < 0) or np.any(lam > 1):
            return -np.inf
        return float(np.sum(entr(lam) + entr(1.0 - lam)))

    def dual_point(self, F, Y):
        return Y * expit(-Y * F)

    def curvature(self, F, Y):
        p = expit(-Y * F)
        return p * (1.0 - p)

    def project_dual(self, U, Y):
        return Y * np.clip(Y * U, 0.0, 1.0)


class Absolute(Loss):
    """Σ |f − y|."""

    name = "absolute"

    def value(self, F, Y):
        return float(np.sum(np.abs(F - Y)))

    def primal(self, F, Y):
        return cp.sum(cp.abs(F - Y))

    def dual(self, U, Y):
        return cp.sum(cp.multiply(U, Y)), [cp.abs(U) <= 1]

    def dual_value(self, U, Y):
        if np.any(np.abs(U) > 1):
            return -np.inf
        return float(np.sum(U * Y))

    def dual_point(self, F, Y):
        return np.sign(Y - F)

    def project_dual(self, U, Y):
        return np.clip(U, -1.0, 1.0)

    def moreau(self, F, Y, mu):
        # |y − f| smoothed: the Huber function of the residual r = y − f.
        r = Y - F
        return _huber_pos(np.abs(r), mu), np.clip(r / mu, -1.0, 1.0), (np.abs(r) < mu) / mu

    smooth = False
    kinked = True


class CrossEntropy(Loss):
    """Softmax cross-entropy Σ_i [logsumexp(f_i) − y_iᵀ f_i] with one-hot rows y_i."""

    name = "cross-entropy"

    def check_labels(self, Y, where="solve"):
        one_hot = np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1)
        if not one_hot or Y.shape[1] < 2:
            raise InputError(
                f"The 'y' parameter of {where} must be one-hot rows (n_samples, n_classes>=2) for "
                f"loss='cross-entropy'. Got an array of shape {Y.shape} that is not one-hot. "
                "Encode integer labels with numpy.eye(n_classes)[labels].")

    def value(self, F, Y):
        # logsumexp by hand: scipy's log_softmax costs several times more at these sizes, and
        # the Newton solvers evaluate this many times per solve.
        m = F.max(axis=1, keepdims=True)
        return float(np.sum(np.log(np.exp(F - m).sum(axis=1))) + np.sum(m) - np.sum(Y * F))

    def primal(self, F, Y):
        return cp.sum(cp.log_sum_exp(F, axis=1)) - cp.sum(cp.multiply(Y, F))

    def dual(self, U, Y):
        P = Y - U
        return cp.sum(cp.entr(P)), [P >= 0, cp.sum(P, axis=1) == 1]

    def dual_value(self, U, Y):
        P = Y - U
        if np.any(P < 0) or np.any(np.abs(P.sum(axis=1) - 1) > 1e-9):
            return -np.inf
        return float(np.sum(entr(P)))

    def dual_point(self, F, Y):
        return Y - _softmax(F)

    def hessian_blocks(self, F, Y, B):
        # H_i = diag(p_i) − p_i p_iᵀ (softmax), so Bᵀ H_i B = Bᵀ diag(p_i) B − (Bᵀp_i)(Bᵀp_i)ᵀ.
        P = _softmax(F)
        PB = P @ B
        return _diagonal_blocks(P, B) - PB[:, :, None] * PB[:, None, :]

    def project_dual(self, U, Y):
        P = np.clip(Y - U, 0.0, None)
        total = P.sum(axis=1, keepdims=True)
        P = np.where(total > 0, P / np.where(total > 0, total, 1.0), Y)
        return Y - P


def _huber_pos(s: np.ndarray, mu: float) -> np.ndarray:
    """The Moreau envelope of s ↦ max(s, 0): 0, s²/(2μ) on (0, μ), s − μ/2 beyond."""
    return np.where(s <= 0, 0.0, np.where(s < mu, s * s / (2.0 * mu), s - 0.5 * mu))


def _softmax(F: np.ndarray) -> np.ndarray:
    E = np.exp(F - F.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _diagonal_blocks(D: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Bᵀ diag(d_i) B for every row d_i of D (n×K), as one matrix product: n×q×q."""
    q = B.shape[1]
    return (D @ (B[:, :, None] * B[:, None, :]).reshape(B.shape[0], q * q)).reshape(-1, q, q)


LOSSES: dict[str, Loss] = {cls.name: cls() for cls in (Squared, Hinge, Logistic, Absolute, CrossEntropy)}


def get_loss(loss: Any, where: str = "solve") -> Loss:
    """Return the :class:`Loss` named ``loss`` (or ``loss`` itself if it is one)."""
    if isinstance(loss, Loss):
        return loss
    return LOSSES[check_choice(loss, "loss", LOSSES, where)]
