"""Weight decay on every layer of a deep network, through a search over t (docs/theory/framework.md#weight-decay-and-t).

P_WD = min_t [P_t + β(L−2)t²/2]. The search here only *finds* a good network: the
value of each candidate is its own weight-decay objective (a NumPy forward pass), so
it is an upper bound whatever the search does. Whether it is optimal is decided by the
certificate (:func:`dualnet.certificate.wd_lower_bound`), never by the grid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from .budget import Budget, Progress
from .certificate import wd_path_lower_bound
from .chains import network_from_atoms
from .network import Network
from .problem import Fit, Problem

__all__ = ["fit_weight_decay", "polish", "search_t"]

Atoms = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]


def fit_weight_decay(pb: Problem, solve_at: Callable[[float], Atoms], rho1: Callable[[np.ndarray], float],
                     activation: str) -> Fit:
    """Weight decay on all L ≥ 3 layers of a homogeneous network (docs/theory/framework.md#weight-decay-and-t).

    Parameters
    ----------
    pb : the problem (``pb.t`` is None, ``pb.depth`` ≥ 3).
    solve_at : callable
        ``solve_at(beta_t) -> (P, s, Qo, U, method)``: the optimal atoms of the t-form at
        threshold β_t = β t^{2−L} (see :func:`dualnet.chains.network_from_atoms`), the dual
        point there, and how it was found.
    rho1 : callable
        ρ at t = 1, used only to bracket the search.
    activation : activation of the network to build.

    Every dual point met during the search goes into ``Fit.dual_path``, from which the
    certificate bounds min over t rigorously; the search itself proves nothing.
    """
    L, beta = pb.depth, pb.beta
    p0 = pb.loss.zero_value(pb.Y)
    U0 = pb.loss.dual_point(np.zeros_like(pb.Y), pb.Y)
    r0 = rho1(U0)
    # Nonzero networks need β t^{2−L} < ρ_1(U(0)); the penalty alone exceeds P(0) beyond t_hi.
    t_lo = (beta / r0) ** (1.0 / (L - 2)) if r0 > 0 else 1.0
    t_hi = float(np.sqrt(2.0 * p0 / (beta * (L - 2))))
    d, K = pb.X.shape[1], pb.n_outputs
    zero = network_from_atoms(np.zeros((d, 0)), np.zeros(0), np.zeros((0, K)), L, None, activation)
    if not t_lo < t_hi:
        return Fit(zero, [U0], "closed-form (zero network: beta exceeds every active threshold)",
                   dual_path=[(t_lo, U0)])
    methods: list[str] = []
    dual_path: list[tuple[float, np.ndarray]] = []

    def evaluate(t: float) -> tuple[float, tuple[Network, np.ndarray]]:
        P, s, Qo, U, method = solve_at(beta * t ** (2 - L))
        methods.append(method)
        dual_path.append((t, U))
        net = network_from_atoms(P, s, Qo, L, None, activation)
        return net.objective(pb.X, pb.Y, beta, pb.loss), (net, U)

    progress = Progress("dualnet: search over t")
    # Fifteen grid points (a factor ~2 apart in t on typical brackets) locate the basins: Brent
    # refines each between its grid neighbours, and the regression scan near the jump to the
    # zero network (tests/settings/test_linear.py) still finds the true basin.
    # Brent's steps reach the optimal t to ~1e-7 in log t: the value's error is second order
    # in that (~1e-14 relative), and the interval bound's slack is second order in the
    # spacing of the nodes around the optimum.
    t_star, value, (net, U) = search_t(evaluate, t_lo, t_hi, n_grid=15, xtol=1e-7, budget=pb.budget,
                                       report=_reporter(progress, pb, dual_path, rho1))
    progress.close()
    for t in _bound_nodes(t_star, [t for t, _ in dual_path], t_lo, t_hi):
        if pb.budget.expired():
            break
        v, payload = evaluate(t)
        if v < value:
            t_star, value, (net, U) = t, v, payload
    method = f"search over t ({len(methods)} solves, each {methods[-1]})"
    info: dict[str, Any] = {"t": t_star}
    if pb.budget.expired():
        info["stopped"] = pb.budget.stop_reason()
    elif K > 1 and not (pb.loss.name == "cross-entropy" and K == 2):
        # (Two classes under cross-entropy: an optimal W has W1 = 0, hence rank one, and the
        # search over one t is then exact; see dualnet.settings._reduced.)
        # Several outputs: weight decay penalizes Σ_k s_k^{2/L} (docs/settings/linear.md#weight-decay-on-all-layers), which one shared
        # t does not minimize. Polish the merged network with L-BFGS on the true objective.
        net, value, method = polish(pb, net, value, method)
    if value >= p0:
        net, U = zero, U0
    # The certificate always tries the network's own dual point −∇ℓ(F); U is another candidate
    # only if it differs (a fast solver's U is that point, and each candidate costs a bound).
    own = pb.loss.dual_point(net.forward(pb.X), pb.Y)
    duals = [] if np.allclose(own, U, rtol=0.0, atol=1e-12 * max(1.0, float(np.max(np.abs(U))))) else [U]
    return Fit(net, duals, method, info=info, dual_path=dual_path)


def _bound_nodes(t_star: float, met: list[float], t_lo: float, t_hi: float, closest: float = 1e-6,
                 ratio: float = 6.0) -> list[float]:
    """Radii to add so that the dual points around t* form a geometric sequence on both sides.

    The interval bound (:func:`dualnet.certificate.wd_path_lower_bound`) on a node interval
    of width w at distance d from the optimal t is loose by about w²/d² times a ratio of
    curvatures, so nodes must approach t* geometrically from each side (down to
    ``closest`` in log t, ``ratio`` apart). Brent's steps provide some; this fills the rest.
    """
    logs = np.log(np.asarray(met) / t_star)
    nodes = []
    for side in (-1.0, 1.0):
        have = np.sort(side * logs[side * logs > 0])
        reach = math.log(t_hi / t_star) if side > 0 else math.log(t_star / t_lo)
        target = closest
        # Beyond a distance of 1 in log t the grid's own spacing is already a small ratio.
        while target < min(reach, 1.0):
            if not np.any((have >= target / math.sqrt(ratio)) & (have <= target * math.sqrt(ratio))):
                nodes.append(t_star * math.exp(side * target))
            target *= ratio
    return nodes


def _reporter(progress: Progress, pb: Problem, dual_path: list[tuple[float, np.ndarray]],
              rho1: Callable[[np.ndarray], float]) -> Callable[[float, float], None]:
    """Progress of the search: best t and value, and (every tenth step) the interval bound so far.

    The bound is :func:`dualnet.certificate.wd_path_lower_bound` over the dual points met,
    the same proof the certificate computes at the end; it is only computed once the line
    is shown (runs longer than the progress delay).
    """
    state = {"calls": 0, "bound": -math.inf}

    def report(t: float, value: float) -> None:
        state["calls"] += 1
        shown = time.perf_counter() - progress.start >= progress.delay
        if shown and state["calls"] % 10 == 0:
            state["bound"], _ = wd_path_lower_bound(dual_path, pb.Y, pb.loss, pb.beta, pb.depth,
                                                    lambda U: (rho1(U), True))
        progress.update(t=t, value=value, bound=state["bound"], solves=state["calls"])

    return report


#: L-BFGS iterations between the stall checks of :func:`polish`
CHUNK = 200


def polish(pb: Problem, net: Network, value: float, method: str, restarts: int = 0, stall: float | None = None,
           budget: Budget | None = None, width: int | None = None) -> tuple[Network, float, str]:
    """L-BFGS on the true weight-decay objective from ``net`` merged into one MLP; the best found.

    For settings whose search over one shared t cannot reach the weight-decay optimum
    (several outputs, several active branches). The value stays an upper bound either way,
    and the certificate still decides.

    Parameters
    ----------
    pb : Problem
        The weight-decay problem (``pb.t`` is None).
    net, value : Network, float
        The network found so far and its objective.
    method : str
        How it was found; the returned description says what, if anything, bettered it.
    restarts : int
        Seeded random starts (seeds 0, 1, ...) of a network four times as wide (at least 16)
        that compete with the polished start, for landscapes where it stays in a poor basin.
        They run first: under a ``budget`` a random start that finds a better basin gains
        more than the run from ``net``, which mostly refines its own (measured: a random
        start certified the deep 1-D case the search leaves 0.13% above its bound).
    stall : float, optional
        Run L-BFGS in chunks of :data:`CHUNK` iterations and stop a run once a chunk lowers
        its objective by at most ``stall`` (None: one run of 3000 iterations).
    budget : Budget, optional
        Time for all the runs together; a run stops when it expires, keeping its last iterate.
    width : int, optional
        Width of the random starts (None: four times the start's widest layer, at least 16).

    Returns
    -------
    net, value, method
        The best of ``net`` and the trained candidates.
    """
    from .train import train

    start = net.to_mlp()
    common = dict(beta=pb.beta, depth=pb.depth, loss=pb.loss, activation=net.activation)
    if width is None:
        width = max(16, 4 * max((W.shape[1] for W, _ in start.branches[0][:-1]), default=1))

    def run(best: float = math.inf, **how: Any) -> Network | None:
        """One L-BFGS run; ``best``: the objective at its start (a first chunk that gains at most ``stall`` ends it)."""
        if stall is None and budget is None:
            return train(pb.X, pb.Y, bias=pb.bias, max_iter=3000, **common, **how)
        current: Network | None = None
        for _ in range(3000 // CHUNK):
            if budget is not None and budget.expired():
                break
            left = None if budget is None else max(budget.remaining(), 1e-3)
            step = train(pb.X, pb.Y, bias=pb.bias, max_iter=CHUNK, time_limit=left, **common,
                         **(how if current is None else {"init": current}))
            step_value = step.objective(pb.X, pb.Y, pb.beta, pb.loss)
            gain, current, best = best - step_value, (step if step_value < best else current), min(best, step_value)
            if stall is not None and gain <= stall:
                break
        return current

    candidates = [(run(width=width, seed=seed), f" (bettered by L-BFGS from random start {seed}, width {width})")
                  for seed in range(restarts)]
    candidates.append((run(value, init=start), " + L-BFGS polish"))
    best_how = ""
    for candidate, how in candidates:
        if candidate is None:
            continue
        candidate_value = candidate.objective(pb.X, pb.Y, pb.beta, pb.loss)
        if candidate_value < value:
            net, value, best_how = candidate, candidate_value, how
    return net, value, method + best_how


def search_t(evaluate: Callable[[float], tuple[float, Any]], t_lo: float, t_hi: float,
             n_grid: int = 25, n_golden: int = 60, xtol: float = 1e-10, max_basins: int = 3,
             budget: Budget | None = None, report: Callable[[float, float], None] | None = None
             ) -> tuple[float, float, Any]:
    """Minimize ``evaluate(t) -> (value, payload)`` over t in [t_lo, t_hi].

    A log-spaced grid, evaluated in increasing t so that a setting warm-starting each solve
    from the last moves by one grid step, locates the basins; Brent's method (parabolic
    steps, golden-section safeguard) on log t then refines each of the (at most
    ``max_basins``) best local minima of the grid, with at most ``n_golden`` evaluations
    each and stopping at width ``xtol`` in log t. More than one basin matters: near the β
    where the optimum jumps to zero, the near-zero network at t_lo is a local minimum whose
    value (≈ P(0)) can beat every grid point of the true basin, which lies between two worse
    grid points. Returns (t, value, payload) of the best point evaluated.

    ``budget``: once it expires no further t is evaluated and the best point so far is
    returned (the caller reads ``budget.expired()``). ``report(t, value)`` is called after
    every evaluation with the best point so far (progress lines).
    """
    best: list[Any] = [math.inf, math.inf, None]

    def tracked(t: float) -> float:
        if budget is not None and budget.expired() and best[2] is not None:
            raise _OutOfTime
        value, payload = evaluate(t)
        if value < best[1] or best[2] is None:
            best[:] = [t, float(value), payload]
        if report is not None:
            report(best[0], best[1])
        return float(value)

    try:
        if not (0 < t_lo < t_hi):
            tracked(t_lo)
            return tuple(best)  # type: ignore[return-value]
        grid = np.geomspace(t_lo, t_hi, n_grid)
        values = np.array([tracked(float(t)) for t in grid])
        padded = np.concatenate([[np.inf], values, [np.inf]])
        minima = [j for j in range(n_grid) if padded[j + 1] <= min(padded[j], padded[j + 2])]
        for j in sorted(minima, key=lambda j: values[j])[:max_basins]:
            a, b = math.log(grid[max(j - 1, 0)]), math.log(grid[min(j + 1, n_grid - 1)])
            minimize_scalar(lambda x: tracked(math.exp(x)), bounds=(a, b), method="bounded",
                            options={"xatol": xtol, "maxiter": n_golden})
    except _OutOfTime:
        pass
    return tuple(best)  # type: ignore[return-value]


class _OutOfTime(Exception):
    """Raised inside the search when the budget has run out (caught by :func:`search_t`)."""
