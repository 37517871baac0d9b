"""Bad input: every message names the parameter, what was got, what was expected, and the fix.

Also: solver failures are reported with the solver's status and retried once with another
installed solver (tested with a monkeypatched failing ``cvxpy.Problem.solve``).
"""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np
import pytest

import dualnet as dn
from dualnet.errors import DualnetError, InputError, SettingError, SolverError

X4 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, -1.0]])
Y4 = np.array([1.0, -1.0, 1.0, -1.0])
BASE = {"beta": 1.0, "activation": "linear"}
# The solver-fault tests below pass method="cvxpy" with the hinge loss: the CVXPY route is what they exercise.


def nan_at(A: np.ndarray, value: float = np.nan) -> np.ndarray:
    A = np.array(A, dtype=float)
    A.flat[1] = value
    return A


# (id, X, y, keyword overrides, exception, pattern: parameter, got, expected, fix)
CASES = [
    ("X-nan", nan_at(X4), Y4, {}, InputError,
     r"The 'X' parameter of solve must be finite \(no NaN or inf\)\. Got 1 non-finite entries instead\. "
     r"Drop or impute"),
    ("X-inf", nan_at(X4, np.inf), Y4, {}, InputError, r"'X' parameter of solve must be finite.*Got 1 non-finite"),
    ("y-nan", X4, nan_at(Y4), {}, InputError, r"'y' parameter of solve must be finite.*Got 1 non-finite.*impute"),
    ("y-ninf", X4, nan_at(Y4, -np.inf), {}, InputError, r"'y' parameter of solve must be finite"),
    ("X-text", [["a", "b"]], Y4, {}, InputError,
     r"'X' parameter of solve must be array-like of real numbers\. Got \[\['a', 'b'\]\] instead\. Convert it"),
    ("X-1d", X4[:, 0], Y4, {}, InputError,
     r"'X' parameter of solve must be a 2-D array of shape \(n_samples, n_features\)\. Got an array with ndim=1 "
     r"and shape \(4,\) instead\. For one feature, pass x\.reshape\(-1, 1\)"),
    ("X-3d", X4[:, :, None], Y4, {}, InputError, r"'X' parameter.*2-D array.*Got an array with ndim=3.*Reshape it"),
    ("X-empty", np.zeros((0, 2)), np.zeros(0), {}, InputError,
     r"'X' parameter of solve must be non-empty\. Got shape \(0, 2\) instead\. Pass at least one sample"),
    ("y-3d", X4, Y4[:, None, None], {}, InputError,
     r"'y' parameter of solve must be a 1-D array \(n_samples,\) or a 2-D array \(n_samples, n_outputs\)\. "
     r"Got an array with ndim=3 instead\. Flatten"),
    ("y-rows", X4, Y4[:3], {}, InputError,
     r"'y' parameter of solve must be of length n_samples=4 \(the rows of X\)\. Got 3 rows instead\. "
     r"X and y must hold the same samples"),
    ("y-no-columns", X4, np.zeros((4, 0)), {}, InputError,
     r"'y' parameter of solve must be of shape \(n_samples, n_outputs\) with n_outputs >= 1\. "
     r"Got shape \(4, 0\) instead\. Pass a 1-D array for one output"),
    ("depth-1", X4, Y4, {"depth": 1}, InputError,
     r"The 'depth' parameter of solve must be an int in the range \[2, inf\) \(the number of weight layers\)\. "
     r"Got 1 instead\. A two-layer network has depth=2"),
    ("depth-float", X4, Y4, {"depth": 2.5}, InputError, r"'depth' parameter.*int.*Got 2\.5 instead\. A two-layer"),
    ("depth-bool", X4, Y4, {"depth": True}, InputError, r"'depth' parameter.*Got True instead"),
    ("depth-str", X4, Y4, {"depth": "3"}, InputError, r"'depth' parameter.*Got '3' instead"),
    ("beta-zero", X4, Y4, {"beta": 0.0}, InputError,
     r"The 'beta' parameter of solve must be a positive finite float\. Got 0\.0 instead\. Weight decay must be "
     r"positive"),
    ("beta-negative", X4, Y4, {"beta": -1}, InputError, r"'beta' parameter.*positive finite.*Got -1\.0 instead"),
    ("beta-nan", X4, Y4, {"beta": np.nan}, InputError, r"'beta' parameter.*positive finite.*Got nan instead"),
    ("beta-inf", X4, Y4, {"beta": np.inf}, InputError, r"'beta' parameter.*positive finite.*Got inf instead"),
    ("beta-str", X4, Y4, {"beta": "1"}, InputError, r"'beta' parameter.*positive finite float\. Got '1' instead"),
    ("beta-none", X4, Y4, {"beta": None}, InputError, r"'beta' parameter.*Got None instead\. Weight decay"),
    ("t-zero", X4, Y4, {"depth": 3, "t": 0.0}, InputError,
     r"The 't' parameter of solve must be a positive finite float\. Got 0\.0 instead\. Use t=None for plain"),
    ("t-nan", X4, Y4, {"depth": 3, "t": np.nan}, InputError, r"'t' parameter.*Got nan instead\. Use t=None"),
    ("tol-one", X4, Y4, {"tol": 1.0}, InputError,
     r"The 'tol' parameter of solve must be a float in \(0, 1\)\. Got 1\.0 instead\. A typical value is 1e-6"),
    ("tol-negative", X4, Y4, {"tol": -1e-6}, InputError, r"'tol' parameter.*positive.*Got -1e-06 instead\. A typ"),
    ("loss-unknown", X4, Y4, {"loss": "l2"}, InputError,
     r"The 'loss' parameter of solve must be one of 'squared', 'hinge', 'logistic', 'absolute', "
     r"'cross-entropy'\. Got 'l2' instead\. Pass one of those names"),
    ("loss-typo", X4, Y4, {"loss": "Hinje"}, InputError,
     r"'loss' parameter.*Got 'Hinje' instead\. Did you mean 'hinge'\?"),
    ("activation-unknown", X4, Y4, {"activation": "tanh"}, InputError,
     r"The 'activation' parameter of solve must be one of 'relu', 'linear'\. Got 'tanh' instead\. Pass one of those"),
    ("method-unknown", X4, Y4, {"method": "newton"}, InputError,
     r"The 'method' parameter of solve must be one of 'auto', 'fast', 'closed-form', 'cvxpy'\. "
     r"Got 'newton' instead\. Pass one of those names"),
    ("method-typo", X4, Y4, {"method": "cvxp"}, InputError, r"'method' parameter.*Did you mean 'cvxpy'\?"),
    ("setting-unknown", X4, Y4, {"setting": "convex"}, InputError,
     r"The 'setting' parameter of solve must be 'auto' or one of 'linear'.*Got 'convex' instead\. Use setting='auto'"),
    ("solver-unknown", X4, Y4, {"method": "cvxpy", "solver": "NEWTON"}, InputError,
     r"The 'solver' parameter of solve must be an installed CVXPY solver: CLARABEL.*Got 'NEWTON' instead\. "
     r"Pass solver=None"),
    ("solver-type", X4, Y4, {"method": "cvxpy", "solver": 3}, InputError,
     r"The 'solver' parameter of solve must be None or a CVXPY solver name.*Got 3 instead\. Pass solver=None"),
    ("bias-type", X4, Y4, {"bias": "yes"}, InputError,
     r"The 'bias' parameter of solve must be True or False\. Got 'yes' instead\. Pass bias=True or bias=False"),
    ("batchnorm-type", X4, Y4, {"batchnorm": 1}, InputError,
     r"The 'batchnorm' parameter of solve must be True or False\. Got 1 instead\. Pass batchnorm=True"),
    ("hinge-01", X4, (Y4 > 0).astype(float), {"loss": "hinge"}, InputError,
     r"The 'y' parameter of solve must hold labels in \{-1, \+1\} for loss='hinge'\. Got values such as \[0\.0\] "
     r"instead\. Map classes to -1/\+1, e\.g\. y = 2\*y - 1"),
    ("logistic-real", X4, 0.5 * Y4, {"loss": "logistic"}, InputError,
     r"'y' parameter of solve must hold labels in \{-1, \+1\} for loss='logistic'\. Got values such as "
     r"\[-0\.5, 0\.5\]"),
    ("cross-entropy-not-one-hot", X4, np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [1.0, 0.0]]),
     {"loss": "cross-entropy"}, InputError,
     r"The 'y' parameter of solve must be one-hot rows \(n_samples, n_classes>=2\) for loss='cross-entropy'\. "
     r"Got an array of shape \(4, 2\) that is not one-hot\. Encode integer labels with numpy\.eye"),
    ("cross-entropy-vector", X4, Y4, {"loss": "cross-entropy"}, InputError,
     r"'y' parameter of solve must be one-hot rows.*Got an array of shape \(4, 1\)"),
    ("setting-does-not-fit", X4, Y4, {"activation": "relu", "setting": "linear"}, SettingError,
     r"The data do not fit setting 'linear': activation='relu': this setting is for linear networks.*"
     r"Remedies: activation='linear'"),
]


@pytest.mark.parametrize("X, y, overrides, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_solve_rejects_bad_input(X, y, overrides, exc, pattern) -> None:
    with pytest.raises(exc, match=pattern) as info:
        dn.solve(X, y, **{**BASE, **overrides})
    assert isinstance(info.value, DualnetError)


def test_error_classes() -> None:
    assert issubclass(InputError, ValueError) and issubclass(SettingError, ValueError)
    assert issubclass(SolverError, RuntimeError)
    assert all(issubclass(e, DualnetError) for e in (InputError, SettingError, SolverError))


def test_input_arrays_are_not_modified_and_ints_are_accepted() -> None:
    X = np.array([[1, 0], [0, 1]])
    y = np.array([3, 4])
    before = X.copy(), y.copy()
    sol = dn.solve(X, y, **BASE)
    assert sol.value == pytest.approx(4.5)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(y, before[1])


def test_solver_not_installed() -> None:
    missing = next((s for s in ("MOSEK", "GUROBI", "XPRESS", "CPLEX") if s not in cp.installed_solvers()), None)
    if missing is None:
        pytest.skip("every commercial solver tried is installed here")
    with pytest.raises(SolverError, match=rf"The 'solver' parameter of solve names {missing!r}, which is not "
                                          rf"installed\. Installed CVXPY solvers: CLARABEL.*Install it "
                                          rf"\(pip install {missing.lower()}\) or pass one of those"):
        dn.solve(X4, Y4, **BASE, method="cvxpy", solver=missing.lower())


# ------------------------------------------------------------- other entry points
def test_path_rejects_bad_betas() -> None:
    with pytest.raises(InputError, match=r"'betas' parameter of path must hold at least one value\. Got an empty "
                                         r"array instead\. Pass e\.g\. numpy\.geomspace"):
        dn.path(X4, Y4, [], activation="linear")
    with pytest.raises(InputError, match=r"'betas' parameter of path must be a 1-D array of positive floats\. "
                                         r"Got \['a'\] instead\. Pass numbers"):
        dn.path(X4, Y4, ["a"], activation="linear")
    with pytest.raises(InputError, match=r"'beta' parameter of path must be a positive finite float\. Got -1\.0"):
        dn.path(X4, Y4, [1.0, -1.0], activation="linear")


def test_dual_program_validates() -> None:
    with pytest.raises(InputError, match=r"'depth' parameter of dual_program must be an int"):
        dn.dual_program(X4, Y4, beta=1.0, depth=0, activation="linear")
    with pytest.raises(InputError, match=r"'X' parameter of dual_program must be finite"):
        dn.dual_program(nan_at(X4), Y4, beta=1.0, activation="linear")


def test_certify_validates() -> None:
    net = dn.Network.from_weights([np.ones((2, 1)), np.ones((1, 1))], activation="linear")
    with pytest.raises(InputError, match=r"The 'net' parameter of certify must be a dualnet\.Network, a list of "
                                         r"weight arrays \[W1, W2, \.\.\.\].*Got str instead\. Wrap raw weights"):
        dn.certify("net", X4, Y4, beta=1.0)
    with pytest.raises(InputError, match=r"'net' parameter of certify must have depth >= 2.*Got depth 1"):
        dn.certify(dn.Network.from_weights([np.ones((2, 1))], "linear"), X4, Y4, beta=1.0)
    with pytest.raises(InputError, match=r"The network maps 2 features to 1 outputs, but X has 3 columns.*"
                                         r"Pass the data the network was trained on"):
        dn.certify(net, np.ones((4, 3)), Y4, beta=1.0)
    deep = dn.Network.from_weights([np.ones((2, 1)), 3 * np.ones((1, 1)), np.ones((1, 1))], "linear")
    with pytest.raises(InputError, match=r"violates the t-form constraint \|\|W_l\|\|_F <= t=1\.0.*Pass t=None"):
        dn.certify(deep, X4, Y4, beta=1.0, t=1.0)
    with pytest.raises(InputError, match=r"'beta' parameter of certify must be a positive finite float"):
        dn.certify(net, X4, Y4, beta=0)
    with pytest.raises(InputError, match=r"'y' parameter of certify must be finite"):
        dn.certify(net, X4, nan_at(Y4), beta=1.0)
    with pytest.raises(InputError, match=r"'dual' parameter of certify must be of length n_samples=4"):
        dn.certify(net, X4, Y4, beta=1.0, dual=np.ones(3))
    with pytest.raises(InputError, match=r"'y' parameter of certify must hold labels in \{-1, \+1\} for "
                                         r"loss='hinge'.*Map classes"):
        dn.certify(net, X4, (Y4 > 0).astype(float), beta=1.0, loss="hinge")


def test_misspelt_keyword_is_rejected() -> None:
    with pytest.raises(InputError, match=r"'dpeth'.*did you mean 'depth'\?.*Remove them or fix their spelling"):
        dn.solve(X4, Y4, **BASE, dpeth=3)


def test_option_of_another_setting_is_rejected() -> None:
    with pytest.raises(InputError, match=r"'bn_scale' is an option of setting batchnorm.*Options of 'linear': none"):
        dn.solve(X4, Y4, **BASE, bn_scale="l2")


# ------------------------------------------------------------------ solver failures
@pytest.fixture
def failing_solver(monkeypatch):
    """``fail(names, how)``: make ``cvxpy.Problem.solve`` fail for the named solvers.

    ``how="raise"`` raises cvxpy's SolverError; ``how="status"`` returns with status
    'infeasible', as a solver that gives up would.
    """
    original = cp.Problem.solve
    calls: list[str] = []

    def fail(names: set[str], how: str = "raise") -> list[str]:
        def patched(self, *args, **kwargs):
            name = kwargs.get("solver")
            calls.append(name)
            if name in names:
                if how == "raise":
                    raise cp.error.SolverError(f"Solver '{name}' failed. Try another solver.")
                if how in ("runtime", "memory"):
                    raise RuntimeError("segfault-like failure") if how == "runtime" else MemoryError()
                if how == "inaccurate":          # a real solution, reported as inaccurate
                    value = original(self, *args, **kwargs)
                    self._status = cp.OPTIMAL_INACCURATE
                    return value
                self._status = cp.INFEASIBLE
                return -np.inf
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cp.Problem, "solve", patched)
        return calls

    return fail


@pytest.mark.parametrize("how", ["raise", "status"])
def test_failed_solver_is_retried_with_another(failing_solver, how: str) -> None:
    calls = failing_solver({"CLARABEL"}, how)
    sol = dn.solve(X4, Y4, **BASE, loss="hinge", method="cvxpy", solver="CLARABEL")
    assert calls[:2] == ["CLARABEL", "ECOS"]               # one retry, with another installed solver
    fault = "SolverError" if how == "raise" else "status 'infeasible'"
    assert sol.method == f"cvxpy:ECOS (after CLARABEL: {fault})"     # the fault is named
    assert sol.certified and sol.reason == ""


@pytest.mark.parametrize("how, fault", [("runtime", "RuntimeError"), ("memory", "MemoryError"),
                                        ("inaccurate", "status 'optimal_inaccurate'")])
def test_any_solver_fault_is_retried_and_named(failing_solver, how: str, fault: str) -> None:
    calls = failing_solver({"CLARABEL"}, how)
    sol = dn.solve(X4, Y4, **BASE, loss="hinge", method="cvxpy")
    assert calls[:2] == ["CLARABEL", "ECOS"]
    assert sol.method == f"cvxpy:ECOS (after CLARABEL: {fault})" and sol.certified


def test_inaccurate_everywhere_is_used_but_named(failing_solver) -> None:
    """No optimal solve: the first inaccurate one is re-solved and used; the NumPy certificate decides."""
    reference = dn.solve(X4, Y4, **BASE, loss="hinge", method="cvxpy")
    calls = failing_solver({"CLARABEL", "ECOS", "SCS"}, "inaccurate")
    sol = dn.solve(X4, Y4, **BASE, loss="hinge", method="cvxpy")
    assert calls[:3] == ["CLARABEL", "ECOS", "CLARABEL"]
    assert sol.method == "cvxpy:CLARABEL (after ECOS: status 'optimal_inaccurate') (optimal_inaccurate)"
    assert sol.certified and sol.value == pytest.approx(reference.value, rel=1e-6)
    assert "inaccurate" in dn.settings._solve.fault_note(sol.method)


def test_time_limit_reaches_the_solver_and_a_stopped_solve_is_named(monkeypatch) -> None:
    """With time_limit, CLARABEL gets the time left; a solve it ends is used, not retried, and named."""
    original = cp.Problem.solve
    seen: list[dict] = []

    def stopped_by_time(self, *args, **kwargs):
        seen.append(kwargs)
        value = original(self, *args, **kwargs)
        time.sleep(0.02)                       # past the 10 ms limit, as a solve it stopped would be
        self._status = cp.USER_LIMIT
        return value

    monkeypatch.setattr(cp.Problem, "solve", stopped_by_time)
    sol = dn.solve(X4, Y4, **BASE, loss="hinge", method="cvxpy", time_limit=0.01)
    assert seen[0]["solver"] == "CLARABEL" and seen[0]["time_limit"] >= dn.settings._solve.MIN_SOLVER_TIME
    # Every solve (the dual, then the primal recovery) is CLARABEL alone: a stopped one is not retried.
    assert all(k["solver"] == "CLARABEL" for k in seen) and sol.method == "cvxpy:CLARABEL (stopped by time_limit)"
    assert sol.certified or "time_limit stopped CLARABEL" in sol.reason
    monkeypatch.setattr(cp.Problem, "solve", original)
    plain = dn.solve(X4, Y4, **BASE, loss="hinge", method="cvxpy")      # no time_limit: no option passed
    assert plain.method == "cvxpy:CLARABEL"


def test_all_solvers_failing_reports_each_status(failing_solver) -> None:
    failing_solver({"CLARABEL", "ECOS", "SCS"}, "status")
    with pytest.raises(SolverError, match=r"CVXPY could not solve the program\. Tried CLARABEL: status 'infeasible'; "
                                          r"ECOS: status 'infeasible'\. Try another solver \(solver=\.\.\.\)"):
        dn.solve(X4, Y4, **BASE, loss="hinge", method="cvxpy")
    failing_solver({"SCS", "CLARABEL"}, "raise")
    with pytest.raises(SolverError, match=r"Tried SCS: SolverError: Solver 'SCS' failed.*; CLARABEL: SolverError"):
        dn.solve(X4, Y4, **BASE, method="cvxpy", solver="SCS")


def test_ecos_without_sdp_cone_falls_back() -> None:
    """A real failure: ECOS has no semidefinite cone, which K > 1 needs (spectral norm)."""
    Y = np.stack([Y4, 2 * Y4 + 1], axis=1)
    sol = dn.solve(X4, Y, **BASE, method="cvxpy", solver="ECOS")
    assert sol.method == "cvxpy:CLARABEL"
    assert sol.certified


def test_semidefinite_program_falls_back_past_ecos(failing_solver) -> None:
    """CLARABEL failing on a spectral-norm program: ECOS cannot take the cone, so SCS is the retry."""
    calls = failing_solver({"CLARABEL"}, "raise")
    Y = np.stack([Y4, 2 * Y4 + 1], axis=1)
    sol = dn.solve(X4, Y, **BASE, method="cvxpy", tol=1e-3)
    assert calls[:3] == ["CLARABEL", "ECOS", "SCS"]
    assert sol.method == "cvxpy:SCS (after CLARABEL: SolverError)"
