"""Weight decay on every layer of a deep network, through a search over t (MATH Lemma A.2).

P_WD = min_t [P_t + β(L−2)t²/2]. The search here only *finds* a good network: the
value of each candidate is its own weight-decay objective (a NumPy forward pass), so
it is an upper bound whatever the search does. Whether it is optimal is decided by the
certificate (:func:`dualnet.certificate.wd_lower_bound`), never by the grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .chains import network_from_atoms
from .network import Network
from .problem import Fit, Problem

__all__ = ["fit_weight_decay", "polish", "search_t"]

Atoms = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]


def fit_weight_decay(pb: Problem, solve_at: Callable[[float], Atoms], rho1: Callable[[np.ndarray], float],
                     activation: str) -> Fit:
    """Weight decay on all L ≥ 3 layers of a homogeneous network (MATH Lemma A.2).

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

    t_star, value, (net, U) = search_t(evaluate, t_lo, t_hi)
    method = f"search over t ({len(methods)} solves, each {methods[-1]})"
    if K > 1:
        # Several outputs: weight decay penalizes Σ_k s_k^{2/L} (MATH §2.4), which one shared
        # t does not minimize. Polish the merged network with L-BFGS on the true objective.
        net, value, method = polish(pb, net, value, method)
    if value >= p0:
        net, U = zero, U0
    return Fit(net, [U], method, info={"t": t_star}, dual_path=dual_path)


def polish(pb: Problem, net: Network, value: float, method: str, restarts: int = 0
           ) -> tuple[Network, float, str]:
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

    Returns
    -------
    net, value, method
        The best of ``net`` and the trained candidates.
    """
    from .train import train

    start = net.to_mlp()
    common = dict(beta=pb.beta, depth=pb.depth, loss=pb.loss, activation=net.activation, max_iter=3000)
    width = max(16, 4 * max((W.shape[1] for W, _ in start.branches[0][:-1]), default=1))
    candidates = [(train(pb.X, pb.Y, bias=pb.bias, init=start, **common), " + L-BFGS polish")]
    candidates += [(train(pb.X, pb.Y, bias=pb.bias, width=width, seed=seed, **common),
                    f" (bettered by L-BFGS from random start {seed}, width {width})") for seed in range(restarts)]
    best_how = ""
    for candidate, how in candidates:
        candidate_value = candidate.objective(pb.X, pb.Y, pb.beta, pb.loss)
        if candidate_value < value:
            net, value, best_how = candidate, candidate_value, how
    return net, value, method + best_how


def search_t(evaluate: Callable[[float], tuple[float, Any]], t_lo: float, t_hi: float,
             n_grid: int = 25, n_golden: int = 60, xtol: float = 1e-10, max_basins: int = 3
             ) -> tuple[float, float, Any]:
    """Minimize ``evaluate(t) -> (value, payload)`` over t in [t_lo, t_hi].

    A log-spaced grid locates the basins, then golden-section search on log t refines each of
    the (at most ``max_basins``) best local minima of the grid. More than one matters: near
    the β where the optimum jumps to zero, the near-zero network at t_lo is a local minimum
    whose value (≈ P(0)) can beat every grid point of the true basin, which lies between two
    worse grid points. Returns (t, value, payload) of the best point evaluated.
    """
    if not (0 < t_lo < t_hi):
        value, payload = evaluate(t_lo)
        return t_lo, value, payload
    grid = np.geomspace(t_lo, t_hi, n_grid)
    results = [evaluate(float(t)) for t in grid]
    values = np.array([r[0] for r in results])
    i = int(np.argmin(values))
    best = (float(grid[i]), float(values[i]), results[i][1])
    padded = np.concatenate([[np.inf], values, [np.inf]])
    minima = [j for j in range(n_grid) if padded[j + 1] <= min(padded[j], padded[j + 2])]
    for j in sorted(minima, key=lambda j: values[j])[:max_basins]:
        a, b = math.log(grid[max(j - 1, 0)]), math.log(grid[min(j + 1, n_grid - 1)])
        refined = _golden(evaluate, a, b, n_golden, xtol)
        if refined[1] < best[1]:
            best = refined
    return best


def _golden(evaluate: Callable[[float], tuple[float, Any]], a: float, b: float, n_golden: int, xtol: float
            ) -> tuple[float, float, Any]:
    """Golden-section search of ``evaluate(exp(x))`` over x in [a, b]; the best point evaluated."""
    invphi = (math.sqrt(5) - 1) / 2
    c, d = b - invphi * (b - a), a + invphi * (b - a)
    fc, fd = evaluate(math.exp(c)), evaluate(math.exp(d))
    best = (math.inf, math.inf, None)
    for _ in range(n_golden):
        for x, r in ((c, fc), (d, fd)):
            if r[0] < best[1]:
                best = (math.exp(x), float(r[0]), r[1])
        if b - a < xtol:
            break
        if fc[0] <= fd[0]:
            b, d, fd = d, c, fc
            c = b - invphi * (b - a)
            fc = evaluate(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + invphi * (b - a)
            fd = evaluate(math.exp(d))
    return best
