"""Duality-gap certificates: the one place gaps are computed.

The certificate trusts no solver. The value of a network is recomputed by a NumPy
forward pass; a dual point U is taken from the network's own predictions
(U = −∇ℓ(F), docs/theory/losses.md#conjugates) and from any candidate the caller supplies; each candidate is
scaled by c ≥ 0 into the dual feasible set {U : ρ(U) ≤ β} using the setting's
support function ρ (docs/theory/framework.md#extreme-points), and the best scaled dual value is a lower bound on the
global optimum by weak duality. ``lower_bound`` is always a proof: a setting's ρ is
either exact or a proven upper bound ρ̄ ≥ ρ (enough, since cU with c ≤ β/ρ̄ is still dual
feasible). Where a setting can only *estimate* ρ (from below), the estimate gives a
separate number, ``bound_estimate``, which is not a proof, and the proof falls back to
the zero dual point (the trivial bound).

Weight decay on all layers of a deep homogeneous network (``t=None``, depth L ≥ 3) is
handled through docs/theory/framework.md#weight-decay-and-t: P_WD = min_t [P_t + β(L−2)t²/2] with
ρ_t = t^{L−2}ρ_1, and the minimum over t is bounded below rigorously on intervals
(DESIGN.md, "Weight decay on deep networks"), never read off a grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize_scalar

from .convention import Convention, InUserUnits
from .losses import Loss

__all__ = ["Certificate", "DualBound", "ImplicitDual", "RhoValue", "describe_gap", "dual_lower_bound",
           "relative_to_value", "scaled_dual_value",
           "wd_lower_bound", "wd_path_bound_at", "wd_path_lower_bound"]


@dataclass(frozen=True)
class ImplicitDual:
    """A squared-loss dual point U known through the two numbers its bound needs.

    Under the squared loss −ℓ*(−cU) = c⟨U, Y⟩ − c²‖U‖²/2, so a dual point enters the
    certificate only through ``uy = ⟨U, Y⟩``, ``uu = ‖U‖²`` and its ρ. A setting that can
    compute these without forming U (a linear predictor through XᵀX and XᵀY, for a β path)
    passes this instead of an array; ``form()`` builds U (n×K) when a user asks for it.
    """

    uy: float
    uu: float
    form: Callable[[], np.ndarray] = field(repr=False, compare=False)


#: a dual point: an (n_samples, n_outputs) array, or an :class:`ImplicitDual` (squared loss)
DualPoint = np.ndarray | ImplicitDual


@dataclass(frozen=True)
class Certificate(InUserUnits):
    """Outcome of certifying one network on one problem.

    Attributes
    ----------
    certified : bool
        ``rel_gap <= tol``, the gap being measured to a proven lower bound.
    rel_gap : float
        ``gap / P(0)``, P(0) being the objective of the zero network: the measure ``tol``
        applies to. When a fit is good the optimum is a small fraction of P(0), so read
        :attr:`rel_gap_value` for the distance from the optimum.
    rel_gap_value : float
        ``gap / value`` (property): the value is within this fraction of the optimum (the
        "% from optimal" reading; 0 when value and gap are 0, ``inf`` when only the value is).
    gap : float
        ``value - lower_bound`` (≥ 0 up to round-off).
    value : float
        Objective of the network, by a NumPy forward pass.
    lower_bound : float
        A proven lower bound on the global optimum (weak duality at a dual point made
        feasible with an exact ρ or a proven upper bound on it). Never an estimate.
    proven : bool
        Whether ``lower_bound`` comes from a dual point whose ρ was computed exactly or
        bounded above rigorously. False only when the setting could merely estimate ρ;
        ``lower_bound`` is then the trivial bound of the zero dual point (still a proof).
        ``exact`` is an alias kept for compatibility.
    bound_estimate : float or None
        What the lower bound would be if the setting's *estimate* of ρ (a value attained
        by some direction, so ρ is at least that) were exact. Not a proof; None when ρ
        was proven tight.
    p0 : float
        Objective of the zero network.
    rho : float
        Support value ρ(U) of the dual point that gave the bound (at t = 1 for weight
        decay on deep networks).
    scale : float
        The factor c applied to that dual point.
    setting : str
        Setting whose ρ was used.
    reason : str
        Why the result is not certified ("" when it is).
    convention : Convention or None
        The user's training objective when ``certify`` got ``weight_decay=`` (then
        ``user_value``, ``user_lower_bound`` and ``user_gap`` give the figures in its units;
        ``value``, ``lower_bound`` and ``gap`` stay in dualnet's, at β = ``convention.beta``).
    """

    certified: bool
    rel_gap: float
    gap: float
    value: float
    lower_bound: float
    proven: bool
    p0: float
    rho: float
    scale: float
    setting: str
    reason: str = ""
    dual: DualPoint | None = field(default=None, repr=False, compare=False)
    bound_estimate: float | None = None
    convention: Convention | None = None

    @property
    def exact(self) -> bool:
        """Alias of :attr:`proven` (its former name)."""
        return self.proven

    @property
    def rel_gap_value(self) -> float:
        """``gap / value``: how far the value may be from the optimum, the "% from optimal" reading."""
        return relative_to_value(self.gap, self.value)

    def __str__(self) -> str:
        status = "certified" if self.certified else "NOT certified"
        text = (f"{status}: value {self.value:.10g}, lower bound {self.lower_bound:.10g}, "
                f"gap {describe_gap(self.gap, self.value, self.lower_bound, self.rel_gap)}, setting {self.setting}")
        if self.bound_estimate is not None:
            text += f"\n  estimated bound (not a proof): {self.bound_estimate:.10g}"
        if self.convention is not None:
            text += f"\n  {self._user_line()}"
        return text + (f"\n  reason: {self.reason}" if self.reason else "")


class RhoValue(NamedTuple):
    """What a setting's ``rho`` returns: ρ's value, whether it is proven, and an estimate.

    ``proven`` is True when ``value`` is ρ itself or a proven upper bound on it (then the
    certificate's bound is a proof). ``estimate`` is an optional value attained by some
    direction (so ρ ≥ estimate), for the estimated bound. A plain ``(value, proven)``
    pair is accepted too.
    """

    value: float
    proven: bool
    estimate: float | None = None


def as_rho_value(res: tuple) -> RhoValue:
    """A :class:`RhoValue` from a setting's ``rho`` result (a pair or a RhoValue)."""
    return res if isinstance(res, RhoValue) else RhoValue(float(res[0]), bool(res[1]), *res[2:3])


@dataclass(frozen=True)
class DualBound:
    """The best certified lower bound over dual candidates (:func:`dual_lower_bound`).

    ``lower_bound`` is a proof; ``estimate`` (or None) is the bound an estimated ρ would
    give; ``U``, ``rho`` and ``scale`` describe the dual point behind ``lower_bound``.
    """

    lower_bound: float
    U: DualPoint
    rho: float
    scale: float
    proven: bool
    estimate: float | None = None


def relative_to_value(gap: float, value: float) -> float:
    """``gap / value`` (objectives are ≥ 0): 0 when both vanish, ``inf`` for a positive gap at value 0."""
    if value > 0:
        return gap / value
    return 0.0 if gap <= 0 else float("inf")


def describe_gap(gap: float, value: float, lower_bound: float, rel_gap: float) -> str:
    """The gap as a user reads it: absolute, percent of the value, and over P(0) (what ``tol`` applies to).

    A lower bound ≤ 0 says nothing about a nonnegative objective; it is named as trivial so
    that a small gap over P(0) is never read as a small distance from the optimum.
    """
    share = relative_to_value(gap, value)
    percent = "inf" if not np.isfinite(share) else f"{100 * share:.3g}%"
    text = f"{gap:.3g} ({percent} of the value; {rel_gap:.3g} of P(0), the measure tol applies to)"
    if value > 0 and lower_bound <= 0:
        text += " - the lower bound is trivial (<= 0) and proves nothing"
    return text


def _squared_terms(U: DualPoint, Y: np.ndarray) -> tuple[float, float]:
    """(⟨U, Y⟩, ‖U‖²): all the squared loss's dual value needs."""
    if isinstance(U, ImplicitDual):
        return U.uy, U.uu
    return float(np.sum(U * Y)), float(np.sum(U * U))


def _phi(loss: Loss, U: DualPoint, Y: np.ndarray) -> Callable[[float], float]:
    """C ↦ −ℓ*(−cU): concave in c."""
    if loss.name == "squared":
        a, b = _squared_terms(U, Y)
        return lambda c: c * a - 0.5 * c * c * b
    return lambda c: loss.dual_value(c * U, Y)


def _best_scale(loss: Loss, U: DualPoint, Y: np.ndarray, c_hi: float) -> tuple[float, float]:
    """Max over c in [0, c_hi] of −ℓ*(−cU); returns (value, c). Every value returned was evaluated."""
    phi = _phi(loss, U, Y)
    if loss.name == "squared":
        a, b = _squared_terms(U, Y)
        c = 0.0 if b == 0 else min(max(a / b, 0.0), c_hi)
        return phi(c), c
    # Non-squared conjugates are finite on c in [0, 1] for the dual points we build
    # (every loss keeps its domain under shrinking), so search there.
    c_hi = min(c_hi, 1.0)
    candidates = [0.0, c_hi]
    top = phi(c_hi) if c_hi > 0 else -np.inf
    if np.isfinite(top) and phi(c_hi * (1 - 1e-9)) <= top:
        # Concave φ still rising at c_hi: its maximum on [0, c_hi] is there (the usual case for
        # a solver's dual point, whose ρ is the threshold), so the scalar search is skipped.
        return top, c_hi
    if c_hi > 0:
        res = minimize_scalar(lambda c: -phi(c), bounds=(0.0, c_hi), method="bounded",
                              options={"xatol": 1e-12 * max(c_hi, 1e-300)})
        candidates.append(float(res.x))
    values = [(phi(c), c) for c in candidates]
    return max((v for v in values if np.isfinite(v[0])), default=(-np.inf, 0.0))


def scaled_dual_value(U: DualPoint, Y: np.ndarray, loss: Loss, beta: float, rho: float) -> tuple[float, float]:
    """Best dual value over the feasible scalings cU, c ≤ β/ρ (docs/certificate.md#the-bound item 4)."""
    c_max = np.inf if rho <= 0 else beta / rho
    return _best_scale(loss, U, Y, c_max)


def wd_lower_bound(U: DualPoint, Y: np.ndarray, loss: Loss, beta: float, depth: int, rho1: float,
                   max_rounds: int = 40) -> tuple[float, float]:
    """Rigorous lower bound on weight decay over all L ≥ 3 layers from one dual direction U.

    For every t > 0 and every c ≤ β/(t^{L−2}ρ_1), P_t ≥ φ(c) := −ℓ*(−cU) (weak duality;
    ρ_1 is ρ at t = 1), so P_WD ≥ inf over c of φ(c) + pen(c), where
    pen(c) = β(L−2)t(c)²/2 at the largest radius t(c) = (β/(ρ_1 c))^{1/(L−2)} that still
    makes cU feasible. On an interval [c_a, c_b] the concave φ lies above its chord, and
    chord + pen is convex in c, so its minimum has a closed form: a bound per interval
    whose slack is second order in the interval width. Intervals whose bound sits below
    the best value seen are split until the bound stops moving.

    Returns the bound and the radius t at which it is attained.
    """
    k = depth - 2
    phi = _phi(loss, U, Y)
    best, c_star = _best_scale(loss, U, Y, np.inf)
    if rho1 <= 0 or c_star <= 0:
        return best, 0.0                 # U is feasible at every t (or useless): no trade-off
    kappa = 0.5 * beta * k * (beta / rho1) ** (2.0 / k)        # pen(c) = kappa c^{-2/k}
    pen = lambda c: kappa * c ** (-2.0 / k)  # noqa: E731
    t_of = lambda c: (beta / (rho1 * c)) ** (1.0 / k)  # noqa: E731
    # c >= c* (t <= t(c*)): P_t >= φ(c*) = best. Below c*, partition (0, c*].
    nodes = np.concatenate([[0.0], c_star * np.geomspace(1e-12, 1.0, 257)])
    values = np.array([phi(c) for c in nodes])
    for _ in range(max_rounds):
        lows, argmins = _interval_bounds(nodes, values, kappa, k)
        target = min(best, float(np.min(values[1:] + pen(nodes[1:]))))
        loose = lows < target - 1e-13 * max(1.0, abs(target))
        if not np.any(loose) or nodes.size > 20000:   # the bound is valid at any stage; this caps the work
            break
        a, b = nodes[:-1][loose], nodes[1:][loose]
        new = (a[:, None] + (b - a)[:, None] * np.linspace(0, 1, 9)[None, 1:-1]).ravel()
        nodes = np.concatenate([nodes, new])
        order = np.argsort(nodes)
        values = np.concatenate([values, [phi(c) for c in new]])[order]
        nodes = nodes[order]
    lows, argmins = _interval_bounds(nodes, values, kappa, k)
    i = int(np.argmin(lows))
    if lows[i] >= best:
        return best, t_of(c_star)
    return float(lows[i]), float(t_of(argmins[i]))


def _interval_bounds(nodes: np.ndarray, values: np.ndarray, kappa: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Min over c in [c_a, c_b] of chord(c) + kappa c^{-2/k}, for every interval (vectorized)."""
    a, b = nodes[:-1], nodes[1:]
    slope = (values[1:] - values[:-1]) / (b - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Stationary point of slope·c + kappa c^{-2/k}: c = (2 kappa / (k slope))^{k/(k+2)}.
        c = np.where(slope > 0, (2 * kappa / (k * np.where(slope > 0, slope, 1.0))) ** (k / (k + 2.0)), b)
    c = np.clip(c, np.maximum(a, 1e-300), b)
    return values[:-1] + slope * (c - a) + kappa * c ** (-2.0 / k), c


def wd_path_lower_bound(path: Iterable[tuple[float, np.ndarray]], Y: np.ndarray, loss: Loss, beta: float,
                        depth: int, rho: Callable[[np.ndarray], tuple]) -> tuple[float, bool]:
    """Rigorous lower bound on weight decay over all L ≥ 3 layers from dual points at several t.

    D(λ) = max{−ℓ*(−U) : ρ_1(U) ≤ λ} is concave and non-decreasing in the threshold λ, and
    P_t ≥ D(β t^{2−L}). A dual point U_i found at radius t_i, scaled to feasibility, gives
    d_i ≤ D(λ_i) with λ_i = β t_i^{2−L}. Between nodes D lies above the upper concave hull
    of the points (λ_i, d_i) (so a poor dual point never lowers the bound), and chord +
    β(L−2)t(λ)²/2 is convex in λ with a closed-form minimum, so min_t [P_t + β(L−2)t²/2] is
    bounded below with second-order slack (docs/theory/framework.md#weight-decay-and-t).

    Returns the bound (a proof) and whether every ρ was proven.
    """
    bound, exact, _ = wd_path_bound_at(path, Y, loss, beta, depth, rho)
    return bound, exact


def wd_path_bound_at(path: Iterable[tuple[float, np.ndarray]], Y: np.ndarray, loss: Loss, beta: float,
                     depth: int, rho: Callable[[np.ndarray], tuple]) -> tuple[float, bool, float]:
    """:func:`wd_path_lower_bound` and the radius t at which it is attained (0.0: below every t met).

    A dual point at that radius is what would raise the bound most (a search adds it there).
    """
    k = depth - 2
    lams, vals, exact = [0.0], [loss.dual_value(np.zeros_like(Y), Y)], True
    for t_i, U in path:
        U = loss.project_dual(np.asarray(U, dtype=float), Y)
        r1, ok, _ = as_rho_value(rho(U))
        if not ok:           # an estimated ρ proves nothing: this point contributes the trivial bound
            r1, exact = np.inf, False
        lam = beta * t_i ** (-k)
        lams.append(lam)
        vals.append(scaled_dual_value(U, Y, loss, lam, r1)[0])
    order = np.argsort(lams)
    nodes = np.asarray(lams)[order]
    values = np.maximum.accumulate(np.asarray(vals)[order])      # D is non-decreasing in λ
    nodes, idx = np.unique(nodes, return_index=True)
    values = np.maximum.reduceat(values, idx) if len(idx) else values
    hull = _upper_hull(nodes, values)                            # D is concave: above the hull of its points
    kappa = 0.5 * beta * k * beta ** (2.0 / k)                   # β(L−2)t²/2 = kappa λ^{-2/k}
    lows, at = _interval_bounds(nodes[hull], values[hull], kappa, k)
    if lows.size and np.min(lows) < values[-1]:
        lam = float(at[int(np.argmin(lows))])
        return float(np.min(lows)), exact, float((beta / lam) ** (1.0 / k)) if lam > 0 else np.inf
    return float(values[-1]), exact, 0.0


def _upper_hull(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Indices of the upper concave hull of the points (x_i, y_i), x increasing (monotone chain)."""
    keep: list[int] = []
    for i in range(x.size):
        while len(keep) >= 2 and ((y[keep[-1]] - y[keep[-2]]) * (x[i] - x[keep[-2]])
                                  <= (y[i] - y[keep[-2]]) * (x[keep[-1]] - x[keep[-2]])):
            keep.pop()                           # the middle point lies on or below the chord
        keep.append(i)
    return keep


def dual_lower_bound(candidates: Iterable[DualPoint], Y: np.ndarray, loss: Loss, beta: float, depth: int,
                     t: float | None, rho: Callable[[np.ndarray], tuple],
                     homogeneous: bool = True, path: Iterable[tuple[float, np.ndarray]] = ()) -> DualBound:
    """Best certified lower bound over dual candidates.

    Parameters
    ----------
    candidates : iterable of (n_samples, n_outputs) arrays or ImplicitDual
        Dual points (any; they are projected into the loss's domain and scaled).
        An :class:`ImplicitDual` is for the squared loss, whose domain is everything.
    rho : callable
        ``rho(U) -> RhoValue`` or ``(value, proven)``: the support value at t = 1 (or the
        setting's own convention when ``homogeneous`` is False).
    homogeneous : bool
        Whether ρ_t = t^{L−2} ρ_1 (true for every setting without batch normalization).
    path : iterable of (t, U)
        Dual points found at several radii t, for weight decay on deep networks
        (:func:`wd_path_lower_bound`).

    Returns
    -------
    DualBound
        A proven ``lower_bound``: a candidate whose ρ is only estimated contributes the
        trivial bound of the zero dual point to it, and its estimated bound to ``estimate``.
    """
    found: list[tuple[float, DualPoint, float, float, bool]] = []
    estimates: list[float] = []

    def bound(U: DualPoint, rho1: float) -> tuple[float, float]:
        if homogeneous and depth >= 3 and t is None:
            return wd_lower_bound(U, Y, loss, beta, depth, rho1)[0], float("nan")
        rho_t = rho1 * (t ** (depth - 2) if (homogeneous and t is not None and depth >= 3) else 1.0)
        return scaled_dual_value(U, Y, loss, beta, rho_t)

    for U in candidates:
        if not isinstance(U, ImplicitDual):
            U = loss.project_dual(np.asarray(U, dtype=float), Y)
        value, proven, estimate = as_rho_value(rho(U))
        if proven:
            lb, scale = bound(U, value)
            found.append((lb, U, value, scale, True))
            if estimate is not None and estimate < value:
                estimates.append(bound(U, estimate)[0])
        else:       # an estimate from below is no proof: only the zero dual point (c = 0) is certain
            found.append((bound(U, np.inf)[0], U, np.inf, 0.0, False))
            estimates.append(bound(U, value)[0])
    path = list(path)
    if path and homogeneous and depth >= 3 and t is None:
        lb, exact = wd_path_lower_bound(path, Y, loss, beta, depth, rho)
        found.append((lb, path[-1][1], float("nan"), float("nan"), exact))
    lb, U, rho_value, scale, proven = max(found, key=lambda f: (f[0], f[4]))     # every entry is a proof
    estimate = max(estimates) if estimates and max(estimates) > lb else None
    return DualBound(float(lb), U, float(rho_value), float(scale), bool(proven), estimate)
