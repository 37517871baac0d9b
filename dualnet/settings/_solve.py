"""Running CVXPY: solver choice, failure reports, a retry with another installed solver on any fault."""

from __future__ import annotations

import functools
import warnings

import cvxpy as cp
import numpy as np

from ..budget import current_budget
from ..errors import SolverError
from ..problem import DualProgram

__all__ = ["fault_note", "solve_cvxpy", "solver_order"]

PREFERRED = ("CLARABEL", "ECOS", "SCS")


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


def _cannot_take_cones(err: BaseException) -> bool:
    """CVXPY's refusals of a solver for the program's cone types (not a failed solve)."""
    text = str(err)
    return isinstance(err, cp.error.SolverError) and ("do not support the cones" in text or
                                                       "cannot solve this problem" in text)


INACCURATE = f"status {cp.OPTIMAL_INACCURATE!r}"
STOPPED = f"status {cp.USER_LIMIT!r}"
#: Each solver's option for a limit in seconds (ECOS has none: it stops at its iteration limit).
TIME_OPTION = {"CLARABEL": "time_limit", "SCS": "time_limit_secs"}
#: The least time a solve is given once the call's budget has run out: enough for a point to certify.
MIN_SOLVER_TIME = 1.0


def _time_limit(name: str) -> dict[str, float]:
    """The solver option that ends a solve with the call's budget (none without a limit)."""
    budget = current_budget()
    if budget.time_limit is None or name not in TIME_OPTION:
        return {}
    return {TIME_OPTION[name]: max(budget.remaining(), MIN_SOLVER_TIME)}


def _attempt(problem: cp.Problem, name: str) -> tuple[str | None, bool]:
    """Solve with solver ``name``: (None when optimal, else what went wrong; whether it was a cone refusal)."""
    try:
        with warnings.catch_warnings():
            # Solvers warn about inaccurate solutions; the status says so and the certificate judges accuracy.
            warnings.simplefilter("ignore")
            problem.solve(solver=name, **_time_limit(name))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001 - any solver fault (RuntimeError, MemoryError, ...) earns a retry
        text = str(err).splitlines()[0][:200] if str(err).strip() else ""
        return f"{type(err).__name__}: {text}" if text else type(err).__name__, _cannot_take_cones(err)
    return (None if problem.status == cp.OPTIMAL else f"status {problem.status!r}"), False


def solve_cvxpy(program: DualProgram | cp.Problem, solver: str | None) -> tuple[np.ndarray | None, str]:
    """Solve ``program``; on any fault retry once with another installed solver.

    ``program`` is a :class:`DualProgram` or a plain ``cvxpy.Problem`` (a restricted primal,
    whose variables the caller reads). A solver that raises (any exception) or ends with a
    status other than ``optimal`` (``optimal_inaccurate`` included) is followed by the next
    installed solver; a solver that cannot take the program's cones (ECOS has no
    semidefinite cone) is passed over without counting. When no attempt is optimal but one
    was ``optimal_inaccurate``, that solution is used: the NumPy certificate decides whether
    it is certified. Inside :func:`dualnet.budget.within` (``solve``, ``certify`` and ``path``
    with ``time_limit``) CLARABEL and SCS get the time left (at least ``MIN_SOLVER_TIME``);
    a solve the limit ended returns its last iterate, marked ``" (stopped by time_limit)"``.

    Returns the lifted dual point (None for a plain problem) and the method,
    ``"cvxpy:<SOLVER>"``, followed by ``" (after <SOLVER>: <fault>, ...)"`` when an attempt
    failed and by ``" (optimal_inaccurate)"`` for an inaccurate solution; :func:`fault_note`
    puts that into words for a result's ``reason``. Raises :class:`SolverError` naming
    every solver tried and the status or message each gave.
    """
    problem = program.problem if isinstance(program, DualProgram) else program
    tried: list[tuple[str, str]] = []
    attempts = 0
    for name in solver_order(solver):
        if attempts == 2:
            break
        fault, refused = _attempt(problem, name)
        if fault is None:
            return _result(program, name, tried, "")
        if fault == STOPPED and current_budget().expired():
            # The call's time_limit ended the solve: its last point is the answer, and the
            # certificate says how good it is (another solver would get no time).
            return _result(program, name, tried, " (stopped by time_limit)")
        if not refused:
            attempts += 1
            tried.append((name, fault))
    inaccurate = [n for n, f in tried if f == INACCURATE]
    if inaccurate:
        name = inaccurate[0]
        # A later attempt overwrote the variables: solve again with the solver that came closest.
        fault = INACCURATE if name == tried[-1][0] else _attempt(problem, name)[0]
        if fault in (None, INACCURATE):
            return _result(program, name, [t for t in tried if t[0] != name], "" if fault is None else
                           " (optimal_inaccurate)")
    raise SolverError("CVXPY could not solve the program. Tried " + "; ".join(f"{n}: {f}" for n, f in tried) +
                      ". Try another solver (solver=...) or rescale the data.")


def _result(program: DualProgram | cp.Problem, name: str, tried: list[tuple[str, str]],
            suffix: str) -> tuple[np.ndarray | None, str]:
    faults = [(n, f if f.startswith("status") else f.partition(":")[0]) for n, f in tried]
    after = f" (after {', '.join(f'{n}: {f}' for n, f in faults)})" if faults else ""
    return (program.lift() if isinstance(program, DualProgram) else None), f"cvxpy:{name}{after}{suffix}"


def fault_note(method: str) -> str:
    """Words for a result's ``reason`` from a method string of :func:`solve_cvxpy` ("" without faults).

    Examples
    --------
    >>> fault_note("cvxpy:ECOS (after CLARABEL: RuntimeError)")
    'the solver run had faults (CLARABEL: RuntimeError; ECOS was used instead)'
    >>> fault_note("cvxpy:CLARABEL (optimal_inaccurate)")
    'CLARABEL reported an inaccurate solution (optimal_inaccurate)'
    >>> fault_note("cvxpy:CLARABEL")
    ''
    """
    if not method.startswith("cvxpy:"):
        return ""
    name = method[len("cvxpy:"):].split(" ", 1)[0]
    notes = []
    if " (after " in method:
        faults = method.split(" (after ", 1)[1].split(")", 1)[0]
        notes.append(f"the solver run had faults ({faults}; {name} was used instead)")
    if method.endswith(" (optimal_inaccurate)"):
        notes.append(f"{name} reported an inaccurate solution (optimal_inaccurate)")
    if method.endswith(" (stopped by time_limit)"):
        notes.append(f"time_limit stopped {name} before it converged; the network comes from its last iterate")
    return "; ".join(notes)
