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

__all__ = ["search_t"]


def search_t(evaluate: Callable[[float], tuple[float, Any]], t_lo: float, t_hi: float,
             n_grid: int = 25, n_golden: int = 60, xtol: float = 1e-10) -> tuple[float, float, Any]:
    """Minimize ``evaluate(t) -> (value, payload)`` over t in [t_lo, t_hi].

    A log-spaced grid locates the basin, then golden-section search on log t refines the
    best grid interval. Returns (t, value, payload) of the best point evaluated.
    """
    if not (0 < t_lo < t_hi):
        value, payload = evaluate(t_lo)
        return t_lo, value, payload
    grid = np.geomspace(t_lo, t_hi, n_grid)
    results = [evaluate(float(t)) for t in grid]
    values = np.array([r[0] for r in results])
    i = int(np.argmin(values))
    best = (float(grid[i]), float(values[i]), results[i][1])
    a = math.log(grid[max(i - 1, 0)])
    b = math.log(grid[min(i + 1, n_grid - 1)])
    invphi = (math.sqrt(5) - 1) / 2
    c, d = b - invphi * (b - a), a + invphi * (b - a)
    fc, fd = evaluate(math.exp(c)), evaluate(math.exp(d))
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
