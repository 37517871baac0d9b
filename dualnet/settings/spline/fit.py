"""The pipeline: solve the O(n) dual, recover a sparse network, fall back to the finite primal."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import InputError, SolverError
from ...network import Network
from ...problem import DualProgram, Fit, Precomputed, Problem
from .._solve import solve_cvxpy
from . import recovery
from .atoms import Atoms, _atoms_from_program, atoms_objective, knots_of, network_from_atoms, predictions
from .conic import ConicDual
from .deep_decay import fit_weight_decay
from .dual import dual_for, solve_dual
from .grid import Grid, make_grid, project_dual, rho
from .primal import primal_program

__all__ = ["fit", "fit_path"]

#: activity thresholds tried in turn by the recovery (relative to β_t; see :func:`_solve`)
ACTIVITY_TOLS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)


def _solve_atoms(dual: DualProgram | ConicDual, pb: Problem, t: float | None, beta_t: float
                 ) -> tuple[Atoms, np.ndarray, str]:
    """Solve the O(n) dual, then recover the atoms of a sparse optimal spline from its dual point (:func:`_recover`)."""
    U, target, method = solve_dual(dual, pb)
    U = project_dual(U, pb.Y, pb.loss)
    atoms, method = _recover(U, target, method, pb, t, beta_t)
    return atoms, U, method


def _recover(U: np.ndarray, target: float, method: str, pb: Problem, t: float | None, beta_t: float
             ) -> tuple[Atoms, str]:
    """The atoms of a sparse optimal spline from the dual point U of value ``target``, and how they were found.

    Only the atoms the dual point makes active enter the restricted primal, a small
    program. (The O(n) primal's own interior-point atoms carry round-off at every kink:
    noise of 1e-8 in the values is a slope change of 1e-8/gap².) The atoms are accepted
    when their objective (loss + β_t·cost, the t-form network's, computed on the grid)
    exceeds the dual value by at most 1e-7 relative (the interior-point accuracy) or half
    the certificate's tol. The activity threshold grows from 1e-6 (:data:`ACTIVITY_TOLS`):
    the fewest candidate atoms that reach the dual value give the sparsest network, and the
    restricted program's interior point spreads round-off over every candidate it is given
    (measured at n = 10⁴: 64 neurons from the 1e-6 set, 7256 from the 1e-2 set, same
    objective). When none is accepted the finite primal is solved and its own atoms are used.
    """
    # Interior-point accuracy (1e-7 relative), or half of what the certificate allows, whichever is
    # larger: at n = 10⁵ the restricted program's optimum sits 1.5e-6 relative above the dual value
    # (3e-7 of P(0)), which the certificate accepts but a 1e-7 test would send to the finite primal.
    p0 = pb.loss.zero_value(pb.Y)
    slack = max(1e-7 * max(1.0, abs(target), p0), 0.5 * pb.tol * p0)
    for act_tol in ACTIVITY_TOLS:
        try:
            atoms = recovery.recover_atoms(U, pb.X, pb.Y, pb.depth, beta_t, pb.loss, pb.solver, act_tol)
        except SolverError:
            continue
        if atoms_objective(atoms, pb.loss, pb.Y, beta_t)[0] <= target + slack:
            return atoms, method
    tt = t if pb.depth >= 3 else None
    prog = primal_program(pb.X, pb.Y, pb.depth, pb.beta, tt, pb.loss)
    _, how = solve_cvxpy(prog.problem, pb.solver)
    return _atoms_from_program(prog, pb.n_outputs), f"{method} + primal {how}"


def _solve(dual: DualProgram | ConicDual, pb: Problem, t: float | None, beta_t: float
           ) -> tuple[Network, np.ndarray, str]:
    """:func:`_solve_atoms` and the network of its atoms (two layers, or the t-form at ``t``)."""
    atoms, U, method = _solve_atoms(dual, pb, t, beta_t)
    return network_from_atoms(atoms, pb.depth, t if pb.depth >= 3 else None), U, method


def _precomputed(net: Network, pb: Problem) -> Precomputed:
    """The certificate's ingredients from one forward pass in row blocks (O(n) memory, not n × width)."""
    F = predictions(net, pb.X)
    own = pb.loss.dual_point(F, pb.Y)
    return Precomputed(pb.loss.value(F, pb.Y), own, rho(own, pb.X, pb.depth, 1.0))


def _fit(net: Network, U: np.ndarray, method: str, dual: DualProgram | ConicDual, pb: Problem, grid: Grid) -> Fit:
    return Fit(net, [U], method, getattr(dual, "problem", None), info={"knots": knots_of(net, grid, pb.Y)},
               precomputed=_precomputed(net, pb))


def _check_method(pb: Problem) -> None:
    if pb.method in ("fast", "closed-form"):
        raise InputError(f"The 'method' parameter of solve is {pb.method!r}, but the relu-1d setting has no closed "
                         "form for beta > 0 (its finite program is a convex QP). Use method='auto' or "
                         "method='cvxpy'; for the beta -> 0 limit use dn.min_norm_interpolant.")


def fit(pb: Problem) -> Fit:
    """Globally optimal spline network for ``pb`` (the pipeline ``api.solve`` calls)."""
    _check_method(pb)
    if pb.depth >= 3 and pb.t is None:
        return fit_weight_decay(pb, _recover)
    t = pb.t if pb.depth >= 3 else None
    dual = dual_for(pb, pb.depth, t)
    net, U, method = _solve(dual, pb, t, pb.beta_t)
    return _fit(net, U, method, dual, pb, make_grid(pb.X))


def fit_path(pb: Problem, betas: np.ndarray) -> list[Fit]:
    """Fits for several β re-using one compiled dual program (DPP; used by ``dn.path``)."""
    _check_method(pb)
    if pb.depth >= 3 and pb.t is None:
        return [fit_weight_decay(replace(pb, beta=float(b)), _recover) for b in betas]
    t = pb.t if pb.depth >= 3 else None
    dual = dual_for(pb, pb.depth, t)
    grid = make_grid(pb.X)
    fits = []
    for beta in betas:
        sub = replace(pb, beta=float(beta))
        dual.set_beta(sub.beta, t)
        net, U, method = _solve(dual, sub, t, sub.beta_t)
        fits.append(_fit(net, U, method, dual, sub, grid))
    return fits
