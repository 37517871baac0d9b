"""The records the entry points return: :class:`Solution` (one solved problem) and :class:`Path` (one per β)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import cvxpy as cp
import numpy as np

from .certificate import ImplicitDual, describe_gap, relative_to_value
from .convention import Convention, InUserUnits
from .network import Network

__all__ = ["Path", "Solution"]


@dataclass(frozen=True)
class Solution(InUserUnits):
    """A solved problem: the recovered network and its certificate.

    Attributes
    ----------
    certified : bool
        ``rel_gap <= tol``, the gap being measured to a proven lower bound.
    gap, rel_gap : float
        ``value - lower_bound`` and that over P(0), the objective of the zero network
        (``rel_gap`` is what ``tol`` applies to).
    rel_gap_value : float
        ``gap / value`` (property): the "% from optimal" reading that ``print(sol)`` shows.
        A small ``rel_gap`` can hide a large ``rel_gap_value`` when the optimum is a small
        fraction of P(0).
    value : float
        Objective of :attr:`network`, by a NumPy forward pass.
    lower_bound : float
        A proven lower bound on the global optimum over networks of any width. Never an
        estimate (see :attr:`bound_estimate`).
    setting, reference, method : str
        Which setting was used, the theorem behind it, and how it was solved
        (a closed form, a fast path, or ``"cvxpy:<SOLVER>"``).
    time : float
        Wall-clock seconds of the whole solve, certificate included.
    network : Network
        The recovered weights.
    dual : ndarray (n_samples, n_outputs)
        The dual point that gave :attr:`lower_bound`.
    program : cvxpy.Problem or None
        The CVXPY program that was solved, if any. A pickled or deep-copied Solution leaves
        it out (None): CVXPY programs hold solver objects that cannot be copied; everything
        else, the certificate included, is kept. ``dn.dual_program`` rebuilds the program.
    proven : bool
        Whether :attr:`lower_bound` comes from a dual point whose ρ was computed exactly
        or bounded above rigorously (False: only the trivial bound of the zero dual point
        is proven). ``exact`` is an alias kept for compatibility.
    bound_estimate : float or None
        The bound an *estimate* of ρ would give, where ρ could not be proven tight. Not a
        proof; None otherwise.
    reason : str
        Why the result is not certified ("" when it is), solver faults included (a solver
        that failed and was replaced, or an ``optimal_inaccurate`` solve, is also named in
        :attr:`method`).
    info : dict
        Setting-specific details (for example the radius ``t`` found for weight decay).
    convention : Convention or None
        The user's training objective when ``solve`` got ``weight_decay=``: ``user_value``,
        ``user_lower_bound`` and ``user_gap`` give the figures in its units (``value`` etc.
        stay in dualnet's, at β = ``convention.beta``).
    """

    certified: bool
    gap: float
    rel_gap: float
    value: float
    lower_bound: float
    setting: str
    method: str
    time: float
    network: Network = field(repr=False)
    _dual: np.ndarray | ImplicitDual = field(repr=False)
    reference: str = field(repr=False, default="")
    program: cp.Problem | None = field(repr=False, default=None)
    proven: bool = field(repr=False, default=True)
    reason: str = field(repr=False, default="")
    depth: int = field(repr=False, default=2)
    beta: float = field(repr=False, default=0.0)
    t: float | None = field(repr=False, default=None)
    loss: str = field(repr=False, default="squared")
    info: dict[str, Any] = field(repr=False, default_factory=dict)
    vector_output: bool = field(repr=False, default=False)
    bound_estimate: float | None = field(repr=False, default=None)
    convention: Convention | None = field(repr=False, default=None)

    @property
    def exact(self) -> bool:
        """Alias of :attr:`proven` (its former name)."""
        return self.proven

    @cached_property
    def dual(self) -> np.ndarray:
        """The dual point that gave :attr:`lower_bound` (formed on first use for ``path`` solutions)."""
        return self._dual.form() if isinstance(self._dual, ImplicitDual) else self._dual

    def __getstate__(self) -> dict[str, Any]:
        # pickle and copy.deepcopy: the CVXPY program is left out (see the ``program`` attribute).
        return {**self.__dict__, "program": None}

    def __copy__(self) -> Solution:
        clone = object.__new__(Solution)
        clone.__dict__.update(self.__dict__)
        return clone

    @property
    def rel_gap_value(self) -> float:
        """``gap / value``: the value is within this fraction of the optimum ("% from optimal")."""
        return relative_to_value(self.gap, self.value)

    @property
    def knots(self) -> np.ndarray | None:
        """Kink positions of a one-dimensional spline fit (setting "relu-1d"), else None."""
        return self.info.get("knots")

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of :attr:`network` (1-D when the labels were 1-D); BN uses stored statistics."""
        F = self.network.predict(X)
        return F[:, 0] if self.vector_output else F

    def __str__(self) -> str:
        status = "certified" if self.certified else "NOT certified"
        lines = [f"dualnet solution ({status}) - setting {self.setting}, depth {self.depth}, beta {self.beta:g}"
                 + ("" if self.t is None else f", t {self.t:g}"),
                 f"  value        {self.value:.10g}",
                 f"  lower bound  {self.lower_bound:.10g}",
                 f"  gap          {describe_gap(self.gap, self.value, self.lower_bound, self.rel_gap)}",
                 f"  method       {self.method} in {self.time:.3g} s",
                 f"  reference    {self.reference}"]
        if self.bound_estimate is not None:
            lines.insert(3, f"  estimate     {self.bound_estimate:.10g} (estimated bound, not a proof)")
        if self.convention is not None:
            lines.append(f"  {self._user_line()}")
        if self.reason:
            lines.append(f"  reason       {self.reason}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Path:
    """A regularization path: one :class:`Solution` per β, with arrays for plotting.

    ``path[i]`` is the :class:`Solution` at ``betas[i]``; ``len(path)`` the number of β.

    Attributes
    ----------
    betas : ndarray
        The β values, in the order given.
    solutions : list of Solution
        One solved problem per β.
    values, lower_bounds, rel_gaps, rel_gap_values : ndarray
        ``value``, ``lower_bound``, ``rel_gap`` and ``rel_gap_value`` of each solution.
    certified : ndarray of bool
        Which solutions are certified.
    """

    betas: np.ndarray
    solutions: list[Solution] = field(repr=False)

    @property
    def values(self) -> np.ndarray:
        return np.array([s.value for s in self.solutions])

    @property
    def lower_bounds(self) -> np.ndarray:
        return np.array([s.lower_bound for s in self.solutions])

    @property
    def rel_gaps(self) -> np.ndarray:
        return np.array([s.rel_gap for s in self.solutions])

    @property
    def rel_gap_values(self) -> np.ndarray:
        return np.array([s.rel_gap_value for s in self.solutions])

    @property
    def certified(self) -> np.ndarray:
        return np.array([s.certified for s in self.solutions])

    def __len__(self) -> int:
        return len(self.solutions)

    def __getitem__(self, i: int) -> Solution:
        return self.solutions[i]
