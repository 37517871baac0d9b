"""Running CVXPY: solver choice, failure reports, one retry with another installed solver."""

from __future__ import annotations

import functools
import warnings

import cvxpy as cp
import numpy as np

from ..errors import SolverError
from ..problem import DualProgram

__all__ = ["solve_cvxpy", "solver_order"]

PREFERRED = ("CLARABEL", "ECOS", "SCS")
_OK = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


@functools.cache
def _installed() -> tuple[str, ...]:
    # cp.installed_solvers() tries to import every known solver (~15 ms); ask once per process.
    return tuple(cp.installed_solvers())


def solver_order(requested: str | None) -> list[str]:
    """The requested solver (or the first preferred one), then the other installed preferred ones.

    :func:`solve_cvxpy` makes at most two real attempts; a solver that cannot take the
    program's cones (ECOS has no semidefinite cone) is passed over without counting.
    """
    installed = [s for s in PREFERRED if s in _installed()]
    if requested is None:
        return installed
    return [requested] + [s for s in installed if s != requested]


def _cannot_take_cones(err: Exception) -> bool:
    """CVXPY's refusals of a solver for the program's cone types (not a failed solve)."""
    text = str(err)
    return isinstance(err, cp.error.SolverError) and ("do not support the cones" in text or
                                                       "cannot solve this problem" in text)


def solve_cvxpy(program: DualProgram | cp.Problem, solver: str | None) -> tuple[np.ndarray | None, str]:
    """Solve ``program``; on failure retry once with another installed solver.

    ``program`` is a :class:`DualProgram` or a plain ``cvxpy.Problem`` (a restricted primal,
    whose variables the caller reads). Returns the lifted dual point (None for a plain
    problem) and ``"cvxpy:<SOLVER>"``. Raises :class:`SolverError` naming every solver tried
    and the status or message each gave.
    """
    problem = program.problem if isinstance(program, DualProgram) else program
    tried, attempts = [], 0
    for name in solver_order(solver):
        if attempts == 2:
            break
        try:
            with warnings.catch_warnings():
                # Solvers warn about inaccurate solutions; the certificate judges accuracy.
                warnings.simplefilter("ignore")
                problem.solve(solver=name)
        except (cp.error.SolverError, cp.error.DCPError, ValueError, ArithmeticError) as err:
            tried.append(f"{name}: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
            attempts += not _cannot_take_cones(err)
            continue
        attempts += 1
        status = problem.status
        if status in _OK:
            return (program.lift() if isinstance(program, DualProgram) else None), f"cvxpy:{name}"
        tried.append(f"{name}: status {status!r}")
    raise SolverError("CVXPY could not solve the program. Tried " + "; ".join(tried) +
                      ". Try another solver (solver=...) or rescale the data.")
