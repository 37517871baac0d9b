"""Results of the restricted solvers (:mod:`.solver`, :mod:`.atoms`), their input check and stopping rule."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ...errors import InputError


@dataclass
class _Fit:
    F: np.ndarray
    U: np.ndarray
    value: float
    lower: float
    p0: float
    iterations: int
    seconds: float
    converged: bool
    stopped: str
    state: dict = field(repr=False, default_factory=dict)

    @property
    def gap(self) -> float:
        """``value − lower``: a proven bound on the distance to the restricted optimum."""
        return self.value - self.lower

    @property
    def rel_gap(self) -> float:
        """``gap / P(0)``."""
        return self.gap / self.p0 if self.p0 > 0 else self.gap


@dataclass
class PatternFit(_Fit):
    """Solution of the program over a pattern set by :func:`solve_patterns`.

    Attributes
    ----------
    V, W : ndarray (r + free, P), (r + free, P')
        The groups v_i, w_i (the layout of ``program._program``); they satisfy the cone
        constraints (violating groups were projected onto their cones).
    D, Dw : ndarray of bool (n, P), (n, P')
        The patterns they belong to.
    F : ndarray (n, 1)
        Predictions of the recovered ReLU network, Σ(Av_i)_+ − Σ(Aw_i)_+.
    U : ndarray (n, 1)
        The dual point that gave ``lower``, inside the loss's domain.
    value : float
        ℓ(F) + β Σ(‖v_i‖ + ‖w_i‖) at (V, W): the objective of the recovered network.
    lower : float
        A proven lower bound on the optimum of the program over these patterns.
    p0 : float
        P(0), the loss of the zero network (the scale of ``tol``).
    iterations : int
        Proximal-gradient steps taken (the Newton steps on the working set are ``state["newton_steps"]``).
    seconds : float
    converged : bool
        ``value − lower ≤ tol·P(0)``.
    stopped : str
        "converged", "max_iter" or "time_limit".
    """

    V: np.ndarray = field(default=None, repr=False)
    W: np.ndarray = field(default=None, repr=False)
    D: np.ndarray = field(default=None, repr=False)
    Dw: np.ndarray = field(default=None, repr=False)


@dataclass
class AtomFit(_Fit):
    """Solution of the group lasso over fixed atoms by :func:`solve_atoms`.

    Attributes
    ----------
    W : ndarray (m, K)
        Output weights, one row per atom.
    F, U, value, lower, p0, iterations, seconds, converged, stopped
        As in :class:`PatternFit`; ``lower`` is exact here (no cones: ρ̄ = max_j ‖Uᵀg_j‖).
    """

    W: np.ndarray = field(default=None, repr=False)


def _check(A: np.ndarray, Y: np.ndarray, beta: float, where: str) -> tuple[np.ndarray, np.ndarray]:
    A = np.asarray(A, dtype=float)
    Y = np.asarray(Y, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if A.ndim != 2 or Y.ndim != 2 or Y.shape[0] != A.shape[0]:
        raise InputError(f"The design and 'Y' of {where} must have the same number of rows. Got shapes "
                         f"{A.shape} and {np.shape(Y)}. Pass Y with one row per sample.")
    if not (np.isfinite(beta) and beta > 0):
        raise InputError(f"The 'beta' parameter of {where} must be a positive number. Got {beta!r} instead.")
    return A, Y


def _stop(gap: float, target: float, deadline: float, steps: int, max_iter: int) -> str | None:
    """Why an outer loop stops now ("converged", "time_limit", "max_iter"), or None to go on."""
    if gap <= target:
        return "converged"
    if time.perf_counter() > deadline:
        return "time_limit"
    return "max_iter" if steps >= max_iter else None
