"""Plain records passed between the API and the setting modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from .budget import Budget
from .certificate import ImplicitDual
from .losses import Loss
from .network import Network

__all__ = ["DualProgram", "Fit", "Precomputed", "Problem"]


@dataclass(frozen=True)
class Problem:
    """A validated training problem (float64 arrays, checked scalars)."""

    X: np.ndarray
    Y: np.ndarray
    depth: int
    beta: float
    t: float | None
    loss: Loss
    activation: str = "relu"
    bias: bool = False
    batchnorm: bool = False
    method: str = "auto"
    solver: str | None = None
    tol: float = 1e-6
    options: dict[str, Any] = field(default_factory=dict)
    #: the call's time budget (``time_limit``); settings poll it between units of work
    budget: Budget = field(default_factory=Budget)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.Y.shape[1]

    @property
    def beta_t(self) -> float:
        """Effective dual threshold β t^{2−L} of the t-form (β itself for depth 2 or t=None)."""
        if self.t is None or self.depth == 2:
            return self.beta
        return self.beta * self.t ** (2 - self.depth)


@dataclass(frozen=True)
class Precomputed:
    """Certificate ingredients a setting computed for many networks at once (``dn.path``).

    ``loss_value`` is the network's loss (its penalty is added by the certificate),
    ``dual`` the dual point of its predictions, ``rho`` that point's (ρ at t = 1, exact).
    """

    loss_value: float
    dual: np.ndarray | ImplicitDual
    rho: tuple[float, bool]


@dataclass
class Fit:
    """What a setting's ``fit`` returns: a network and the dual points it came from."""

    network: Network
    duals: list[np.ndarray]
    method: str
    program: cp.Problem | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: dual points (t, U) at several radii, for weight decay on deep networks (certificate.wd_path_lower_bound)
    dual_path: list[tuple[float, np.ndarray]] = field(default_factory=list)
    #: the network's own certificate ingredients, when the setting batched them (``dn.path``)
    precomputed: Precomputed | None = None
    #: the budget the certificate runs under when the setting chose one itself (a default time budget
    #: when the call gave no ``time_limit``); None: the call's own
    budget: Budget | None = None


@dataclass
class DualProgram:
    """A compiled CVXPY dual program with its threshold as a DPP parameter.

    Attributes
    ----------
    problem : cvxpy.Problem
        The dual (a maximization). Its optimal value is the dual value D (including
        constants), so ``problem.value`` compares directly with a primal objective.
    threshold : cvxpy.Parameter
        The effective threshold β·t^{2−L}; :meth:`set_beta` updates it.
    lift : callable
        Maps the solved variables to the full dual point U of shape (n_samples, n_outputs).
    depth : int
        The depth the threshold was built for.
    t : float or None
        The radius the threshold was built for (None: plain weight decay, or depth 2).
    """

    problem: cp.Problem
    threshold: cp.Parameter
    lift: Callable[[], np.ndarray]
    depth: int
    t: float | None = None

    def set_beta(self, beta: float, t: float | None = None) -> None:
        t = self.t if t is None else t
        scale = 1.0 if (t is None or self.depth == 2) else t ** (2 - self.depth)
        self.threshold.value = beta * scale

    @property
    def U(self) -> np.ndarray:
        """The dual point of the last solve, shape (n_samples, n_outputs)."""
        return self.lift()

    def solve(self, **kwargs: Any) -> float:
        """Solve with CVXPY (keyword arguments go to ``cvxpy.Problem.solve``); returns D."""
        return float(self.problem.solve(**kwargs))
