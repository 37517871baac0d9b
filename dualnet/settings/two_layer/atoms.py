"""The group lasso over fixed atoms (the vector-output master of the cutting plane), by FISTA."""

from __future__ import annotations

import time

import numpy as np

from ...certificate import scaled_dual_value
from ...losses import Loss, get_loss
from .fits import AtomFit, _check, _stop
from .proximal import _INNER, _fista, _Link

__all__ = ["solve_atoms"]


def solve_atoms(G: np.ndarray, Y: np.ndarray, beta: float, loss: str | Loss = "squared", *,
                start: AtomFit | None = None, tol: float = 1e-8, max_iter: int = 50_000,
                time_limit: float | None = None) -> AtomFit:
    """Group lasso over fixed atoms: min ℓ(G W; Y) + β Σ_j ‖W_j‖₂ over W (m×K), by FISTA (no CVXPY).

    The vector-output master of the cutting plane (atoms g_j = (X w_j)_+ with fixed
    directions). Its dual constraint is ‖Uᵀg_j‖ ≤ β for every atom, computed exactly, so
    ``lower`` is a proven lower bound on this program. Nonsmooth losses go through the
    multiplier of the link F = G W, as in :func:`solve_patterns`.

    Parameters
    ----------
    G : ndarray (n, m)
        The atoms, one per column.
    Y : ndarray (n, K)
    beta : float
    loss : str or Loss
    start : AtomFit, optional
        A previous solution: its rows are those of the first atoms of ``G`` (the cutting
        plane appends atoms), the others start at zero.
    tol, max_iter, time_limit
        As in :func:`solve_patterns`.

    Returns
    -------
    AtomFit

    Examples
    --------
    >>> import numpy as np
    >>> fit = solve_atoms(np.eye(2), np.array([[2.0, 0.0], [0.0, 1.0]]), beta=0.5)
    >>> np.round(fit.W, 6).tolist(), fit.converged
    ([[1.5, 0.0], [0.0, 0.5]], True)
    """
    t0 = time.perf_counter()
    G, Y = _check(G, Y, beta, "solve_atoms")
    loss = get_loss(loss, "solve_atoms")
    n, m = G.shape
    deadline = t0 + (np.inf if time_limit is None else float(time_limit))
    p0 = loss.zero_value(Y)
    T = np.zeros((Y.shape[1], m))
    if start is not None and start.W is not None and start.W.shape[1] == Y.shape[1]:
        k = min(m, start.W.shape[0])
        T[:, :k] = start.W[:k].T
    link = _Link(loss, Y, start.state.get("eta") if start else None, start.state.get("rho_link") if start else None)
    norm_G = float(np.linalg.norm(G, 2)) ** 2 if G.size else 1.0

    def grad(Th: np.ndarray) -> np.ndarray:
        return (G.T @ link.grad(G @ Th.T)).T

    steps, best, stopped = 0, None, "max_iter"
    while True:
        F = G @ T.T
        value = loss.value(F, Y) + beta * float(np.linalg.norm(T, axis=0).sum())
        lower, U = -np.inf, None
        for cand in link.duals(F):
            rho = float(np.linalg.norm(G.T @ cand, axis=1).max(initial=0.0))
            low = scaled_dual_value(cand, Y, loss, beta, rho)[0]
            if low > lower:
                lower, U = low, cand
        if best is None or value - lower < best[1] - best[2]:
            best = (T.copy(), value, max(lower, 0.0), F, U)
        stopped = _stop(best[1] - best[2], tol * p0, deadline, steps, max_iter)
        if stopped is not None:
            break
        T, k = _fista(grad, T, link.lipschitz * norm_G, beta, Y.shape[1], min(_INNER, max_iter - steps), deadline)
        link.update(G @ T.T)
        steps += k
    Tb, value, lower, Fb, U = best
    state = {} if link.smooth else {"eta": link.eta, "rho_link": link.rho}
    return AtomFit(F=Fb, U=U, value=value, lower=lower, p0=p0, iterations=steps, seconds=time.perf_counter() - t0,
                   converged=bool(value - lower <= tol * p0), stopped=stopped, state=state, W=Tb.T.copy())
