"""Input coercion and checks: the only place user input is validated.

Every function here returns clean values (float64 arrays, ints, floats) or raises
:class:`~dualnet.errors.InputError` with a message that names the parameter, what was
got, what was expected, and the fix. Internals downstream assume clean input.
"""

from __future__ import annotations

import difflib
import numbers
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import InputError, SolverError

__all__ = [
    "as_array",
    "as_data",
    "as_labels",
    "check_beta",
    "check_choice",
    "check_count",
    "check_flag",
    "check_depth",
    "check_n_jobs",
    "check_options",
    "check_solver",
    "check_t",
    "check_tol",
    "check_weight_decay",
    "describe",
]


#: numpy >= 1.25 moved the warning to numpy.exceptions (pyproject allows numpy 1.24)
_ComplexWarning = getattr(np, "exceptions", np).ComplexWarning


def _fail(param: str, where: str, expected: str, got: Any, fix: str = "") -> InputError:
    """Build the one message format every input error uses."""
    text = f"The '{param}' parameter of {where} must be {expected}. Got {got} instead."
    if fix:
        text += f" {fix}"
    return InputError(text)


def describe(value: Any) -> str:
    """A short description of ``value`` for the "Got ..." part of a message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _detach(value: Any) -> Any:
    """A torch tensor as a NumPy array (detached from autograd, on the CPU); anything else unchanged."""
    if type(value).__module__.partition(".")[0] == "torch" and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


def _as_float_array(value: Any, param: str, where: str, finite: bool = True) -> np.ndarray:
    value = _detach(value)
    if isinstance(value, np.ma.MaskedArray):
        # np.asarray drops the mask, so masked entries would silently count as data.
        raise _fail(param, where, "a plain array (masks are not supported)", "a numpy masked array",
                    "Drop the masked samples (e.g. X[~mask.any(axis=1)]) or fill them (arr.filled(value)).")
    try:
        with warnings.catch_warnings():
            # float64 conversion of complex numbers drops the imaginary part: another problem.
            warnings.simplefilter("error", _ComplexWarning)
            arr = np.asarray(value, dtype=np.float64)
    except _ComplexWarning:
        raise _fail(param, where, "real (not complex)", describe(np.asarray(value)),
                    "dualnet solves real problems; pass arr.real only if the imaginary part is meant to be dropped.")\
            from None
    except (TypeError, ValueError, OverflowError):
        raise _fail(param, where, "array-like of real numbers", describe(value),
                    "Convert it with numpy.asarray(..., dtype=float).") from None
    if finite and arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise _fail(param, where, "finite (no NaN or inf)", f"{bad} non-finite entries",
                    "Drop or impute those samples before calling.")
    return arr


def as_array(value: Any, param: str, where: str, finite: bool = True) -> np.ndarray:
    """A real array-like as float64 (complex, masked and non-numeric input refused; NaN too when ``finite``)."""
    return _as_float_array(value, param, where, finite)


def as_data(X: Any, where: str = "solve", param: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous float64 array of shape (n_samples, n_features).

    A copy is made when needed, so the caller's array is never modified.
    """
    arr = _as_float_array(X, param, where)
    if arr.ndim != 2:
        fix = ("For one feature, pass x.reshape(-1, 1)." if arr.ndim == 1
               else "Reshape it to (n_samples, n_features).")
        raise _fail(param, where, "a 2-D array of shape (n_samples, n_features)",
                    f"an array with ndim={arr.ndim} and shape {arr.shape}", fix)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise _fail(param, where, "non-empty", f"shape {arr.shape}", "Pass at least one sample and feature.")
    return np.ascontiguousarray(arr)


def as_labels(Y: Any, n_samples: int, where: str = "solve", param: str = "y") -> tuple[np.ndarray, bool]:
    """Return labels as a float64 array of shape (n_samples, n_outputs).

    Returns
    -------
    Y : ndarray of shape (n_samples, n_outputs)
    was_vector : bool
        True when the input was 1-D, so predictions can be returned 1-D as well.
    """
    arr = _as_float_array(Y, param, where)
    if arr.ndim == 1:
        arr, was_vector = arr[:, None], True
    elif arr.ndim == 2:
        was_vector = False
    else:
        raise _fail(param, where, "a 1-D array (n_samples,) or a 2-D array (n_samples, n_outputs)",
                    f"an array with ndim={arr.ndim}", "Flatten the extra axes.")
    if arr.shape[0] != n_samples:
        raise _fail(param, where, f"of length n_samples={n_samples} (the rows of X)",
                    f"{arr.shape[0]} rows", "X and y must hold the same samples in the same order.")
    if arr.shape[1] < 1:
        raise _fail(param, where, "of shape (n_samples, n_outputs) with n_outputs >= 1", f"shape {arr.shape}",
                    "Pass a 1-D array for one output.")
    return np.ascontiguousarray(arr), was_vector


def check_depth(depth: Any, where: str = "solve") -> int:
    """``depth`` is the number of weight layers L, an int >= 2."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 2:
        raise _fail("depth", where, "an int in the range [2, inf) (the number of weight layers)",
                    describe(depth), "A two-layer network has depth=2.")
    return int(depth)


def _positive_float(value: Any, param: str, where: str, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(param, where, "a positive finite float", describe(value), fix)
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise _fail(param, where, "a positive finite float", repr(value), fix)
    return value


def check_beta(beta: Any, where: str = "solve") -> float:
    """``beta`` is the weight-decay strength, a positive finite float."""
    return _positive_float(beta, "beta", where,
                           "Weight decay must be positive; for the beta -> 0 limit see "
                           "dn.min_norm_interpolant or use a small beta such as 1e-6.")


def check_weight_decay(weight_decay: Any, where: str = "solve") -> float:
    """``weight_decay`` is PyTorch's optimizer strength, a positive finite float (0 has no optimum)."""
    if isinstance(weight_decay, numbers.Real) and not isinstance(weight_decay, bool) and weight_decay == 0:
        raise _fail("weight_decay", where, "positive", "0",
                    "Without weight decay the objective has no minimum to certify (its infimum is approached by ever "
                    "larger weights); train with weight_decay > 0, or see dn.min_norm_interpolant for that limit.")
    return _positive_float(weight_decay, "weight_decay", where, "Pass the optimizer's weight_decay, e.g. 1e-3.")


def check_flag(value: Any, param: str, where: str = "solve", fix: str = "") -> bool:
    """``value`` is True or False (NumPy booleans too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(param, where, "True or False", describe(value), fix or f"Pass {param}=True or {param}=False.")
    return bool(value)


def check_count(value: Any, param: str, where: str = "solve", fix: str = "") -> int:
    """``value`` is an int >= 1 (a number of samples, outputs, ...)."""
    return _int_at_least(1, fix or "Pass a positive whole number.")(value, param, where)


def check_t(t: Any, where: str = "solve") -> float | None:
    """``t`` is None (weight decay on all layers) or the Frobenius radius, a positive float."""
    if t is None:
        return None
    return _positive_float(t, "t", where, "Use t=None for plain weight decay on all layers.")


def check_time_limit(time_limit: Any, where: str = "solve") -> float | None:
    """``time_limit`` is None (no limit) or a positive number of seconds."""
    if time_limit is None:
        return None
    return _positive_float(time_limit, "time_limit", where,
                           "Pass the number of seconds the call may take, e.g. time_limit=60, or None for no limit.")


def check_n_jobs(n_jobs: Any, where: str) -> int | None:
    """``n_jobs`` is None (serial) or a nonzero int, -1 meaning every core (joblib's convention).

    Examples
    --------
    >>> check_n_jobs(-1, "fit"), check_n_jobs(None, "fit")
    (-1, None)
    """
    if n_jobs is None or (isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, bool) and n_jobs != 0):
        return None if n_jobs is None else int(n_jobs)
    raise _fail("n_jobs", where, "None or a nonzero int", describe(n_jobs),
                "Pass the number of worker processes, -1 for one per core, or None to run serially.")


def check_tol(tol: Any, where: str = "solve") -> float:
    """``tol`` is the relative gap under which a result counts as certified."""
    value = _positive_float(tol, "tol", where, "A typical value is 1e-6.")
    if value >= 1:
        raise _fail("tol", where, "a float in (0, 1)", repr(value), "A typical value is 1e-6.")
    return value


def check_choice(value: Any, param: str, options: Iterable[str], where: str = "solve") -> str:
    """``value`` must be one of ``options`` (case-insensitive for strings)."""
    options = list(options)
    if isinstance(value, str) and value.lower() in options:
        return value.lower()
    close = difflib.get_close_matches(value.lower(), options, n=1) if isinstance(value, str) else []
    fix = f"Did you mean {close[0]!r}?" if close else "Pass one of those names (case does not matter)."
    raise _fail(param, where, "one of " + ", ".join(repr(o) for o in options), describe(value), fix)


def check_solver(solver: Any, where: str = "solve") -> str | None:
    """``solver`` is None (dualnet chooses) or the name of an installed CVXPY solver."""
    if solver is None:
        return None
    import cvxpy as cp

    fix = "Pass solver=None to let dualnet choose."
    if not isinstance(solver, str):
        raise _fail("solver", where, "None or a CVXPY solver name such as 'CLARABEL'", describe(solver), fix)
    name = solver.upper()
    if name not in cp.installed_solvers():
        known = {"CLARABEL", "ECOS", "SCS", "OSQP", "MOSEK", "GUROBI", "CVXOPT", "SCIPY", "GLPK", "HIGHS",
                 "COPT", "PIQP", "PROXQP", "SDPA", "XPRESS", "CPLEX", "NAG", "CBC", "GLOP", "PDLP", "QOCO"}
        if name in known:
            raise SolverError(
                f"The 'solver' parameter of {where} names {name!r}, which is not installed. Installed CVXPY solvers: "
                f"{', '.join(cp.installed_solvers())}. Install it (pip install {name.lower()}) "
                "or pass one of those.")
        raise _fail("solver", where, "an installed CVXPY solver: " + ", ".join(cp.installed_solvers()),
                    repr(solver), fix)
    return name


# ------------------------------------------------------------------ setting options
def _int_at_least(low: int, fix: str) -> Any:
    def check(value: Any, param: str, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise _fail(param, where, f"an int >= {low}", describe(value), fix)
        return int(value)
    return check


def _optional(check: Any) -> Any:
    return lambda value, param, where: None if value is None else check(value, param, where)


def _small_positive(value: Any, param: str, where: str) -> float:
    value = _positive_float(value, param, where, "Pass a small positive number such as 1e-8.")
    if value >= 1:
        raise _fail(param, where, "a float in (0, 1)", repr(value), "Pass a small positive number such as 1e-8.")
    return value


_PATTERNS_FIX = ("Pass 'auto', 'exact', 'sampled', the number of patterns to sample (an int >= 1), or a boolean "
                 "array (n_samples, n_patterns) of activation patterns.")


def _seconds_option(value: Any, param: str, where: str) -> float:
    fix = "Pass a number of seconds >= 0 (0 turns it off)."
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise _fail(param, where, "a finite float >= 0", describe(value), fix)
    return float(value)


def _patterns_option(value: Any, param: str, where: str, n_samples: int | None = None) -> str | int | np.ndarray:
    if isinstance(value, str):
        return check_choice(value, param, ("auto", "exact", "sampled"), where)
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        rows = f"{n_samples}" if n_samples is not None else "n_samples"
        if value.ndim != 2 or value.shape[1] < 1 or (n_samples is not None and value.shape[0] != n_samples) \
                or not np.isin(value, (0, 1)).all():
            raise _fail(param, where, f"a 0/1 array of shape ({rows}, n_patterns) when it is an array",
                        describe(value), _PATTERNS_FIX)
        return value
    return _int_at_least(1, _PATTERNS_FIX)(value, param, where)


def _progress_option(value: Any, param: str, where: str) -> bool | None:
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    raise _fail(param, where, "None, True or False", describe(value),
                "Pass progress=True for a progress bar, False for none, None for long runs only.")


def _executor_option(value: Any, param: str, where: str) -> Any:
    if value is None or callable(getattr(value, "map", None)):
        return value
    raise _fail(param, where, "None or an executor with a map method (concurrent.futures.Executor)",
                describe(value), "Pass e.g. concurrent.futures.ProcessPoolExecutor() or a dask "
                "Client().get_executor(), or None to run serially.")


def _bn_scale_option(value: Any, param: str, where: str) -> str:
    return check_choice(value, param, ("std", "l2"), where)


_COUNT = "Pass a positive whole number."
#: One checker per keyword option of the settings: ``check(value, param, where) -> clean value``.
#: api.solve, certify, path and dual_program apply it before any setting runs.
OPTION_SPECS: dict[str, Any] = {
    "patterns": _patterns_option,
    "n_patterns": _int_at_least(1, _COUNT + " It is the number of Gaussian samples of activation patterns."),
    "max_patterns": _int_at_least(1, _COUNT + " Above this many patterns dualnet samples instead of "
                                             "enumerating."),
    "seed": _int_at_least(0, "Pass a non-negative int, e.g. seed=0."),
    "executor": _executor_option,
    "progress": _progress_option,
    "max_iter": _int_at_least(1, _COUNT + " It caps the cutting-plane iterations."),
    "top": _int_at_least(1, _COUNT + " It is the number of neurons added per iteration."),
    "eps": _optional(lambda v, p, w: _positive_float(v, p, w, "Pass a small positive number such as 1e-7, or "
                                                              "None for tol/10.")),
    "n_starts": _int_at_least(1, _COUNT + " It is the number of random starts of the heuristic oracle."),
    "train_iter": _int_at_least(1, _COUNT + " It is the number of L-BFGS iterations of the start network."),
    "bound_time": _seconds_option,
    "whiten_tol": _small_positive,
    "rank_one_tol": _small_positive,
    "bn_scale": _bn_scale_option,
}


def check_options(options: dict[str, Any], where: str = "solve", n_samples: int | None = None) -> dict[str, Any]:
    """Check every keyword option with a spec in :data:`OPTION_SPECS` (others pass unchanged).

    ``n_samples`` (the rows of X) also checks the rows of a pattern array.

    Examples
    --------
    >>> check_options({"seed": 3, "patterns": "Sampled"})
    {'seed': 3, 'patterns': 'sampled'}
    >>> check_options({"max_iter": 0})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dualnet.errors.InputError: The 'max_iter' parameter of solve must be an int >= 1. Got 0 instead. Pass a ...
    """
    clean = {k: OPTION_SPECS[k](v, k, where) if k in OPTION_SPECS else v for k, v in options.items()}
    if n_samples is not None and isinstance(clean.get("patterns"), np.ndarray):    # rows are samples
        _patterns_option(clean["patterns"], "patterns", where, n_samples)
    return clean
