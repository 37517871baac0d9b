"""Shared fixtures: known-answer cases (docs/theory/known-answers.md), per-solver tolerances, random instances.

Known-answer cases are registered once in :data:`KNOWN_CASES` and reached through the
``known_case`` fixture (one test per case) or ``known_cases`` (a dict by id). Solvers run
through ``solver_tol``, a parametrization in the style of cvxpy's
``tests/solver_test_helpers.py``: each solver with its own tolerance.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import pytest

# --------------------------------------------------------------------------- solvers
#: (solver, absolute tolerance on objective values, scaled by max(1, |P|)).
#: CLARABEL and ECOS are interior-point methods and reach ~1e-8 relative accuracy by
#: default. SCS is a first-order (ADMM) splitting method whose default stopping rule is
#: eps_abs = eps_rel = 1e-4 on residuals, so its objective is only good to ~1e-3.
SOLVER_TOLS: list[tuple[str, float]] = [("CLARABEL", 1e-6), ("ECOS", 1e-6), ("SCS", 1e-3)]


@pytest.fixture(params=SOLVER_TOLS, ids=[name for name, _ in SOLVER_TOLS])
def solver_tol(request: pytest.FixtureRequest) -> tuple[str, float]:
    """(solver name, tolerance); skipped (and reported by ``-rs``) when not installed."""
    name, tol = request.param
    if name not in cp.installed_solvers():
        pytest.skip(f"CVXPY solver {name} is not installed")
    return name, tol


# --------------------------------------------------------------------- known answers
@dataclass(frozen=True)
class Case:
    """One hand-derivable instance of docs/theory/known-answers.md with the numbers the spec gives.

    ``kwargs`` go to :func:`dualnet.solve`; every ``expected`` entry that is not None is
    asserted by the tests (``F`` predictions, ``U`` dual point, ``rank`` of the end-to-end
    map, ``t_star`` the radius of the weight-decay optimum, ``norm_f`` = ‖F‖_F).
    """

    id: str
    X: np.ndarray
    y: np.ndarray
    kwargs: dict[str, Any]
    value: float
    setting: str = "linear"
    F: np.ndarray | None = None
    U: np.ndarray | None = None
    rank: int | None = None
    t_star: float | None = None
    norm_f: float | None = None
    #: absolute tolerance of ``value``: 1e-9 for closed forms; 1e-6 where the spec quotes 7
    #: digits (T4) or only a CVXPY path exists (hinge, logistic: interior-point accuracy)
    atol: float = 1e-9

    @property
    def n_outputs(self) -> int:
        return 1 if self.y.ndim == 1 else self.y.shape[1]


_I2 = np.eye(2)
_Y34 = np.array([3.0, 4.0])
_LIN = {"activation": "linear"}

KNOWN_CASES: list[Case] = [
    Case("T1", _I2, _Y34, {**_LIN, "beta": 1.0}, 4.5,
         F=np.array([[2.4], [3.2]]), U=np.array([[0.6], [0.8]]), rank=1),
    Case("T2", _I2, _Y34, {**_LIN, "beta": 6.0}, 12.5,
         F=np.zeros((2, 1)), U=np.array([[3.0], [4.0]]), rank=0),
    Case("T3-beta2", _I2, np.diag([3.0, 1.0]), {**_LIN, "beta": 2.0}, 4.5,
         F=np.diag([1.0, 0.0]), U=np.diag([2.0, 1.0]), rank=1),
    Case("T3-beta0.5", _I2, np.diag([3.0, 1.0]), {**_LIN, "beta": 0.5}, 1.75,
         F=np.diag([2.5, 0.5]), U=np.diag([0.5, 0.5]), rank=2),
    # Weight decay on every layer: the known answer quotes 7 digits; r* = ‖w*‖ solves r = 5 − r^{1−2/L}.
    Case("T4-L3", _I2, _Y34, {**_LIN, "beta": 1.0, "depth": 3}, 4.207669,
         t_star=1.637306, norm_f=4.389241, rank=1, atol=1e-6),
    Case("T4-L4", _I2, _Y34, {**_LIN, "beta": 1.0, "depth": 4}, 4.367209,
         t_star=1.458910, norm_f=4.530168, rank=1, atol=1e-6),
    Case("T4-t1", _I2, _Y34, {**_LIN, "beta": 1.0, "depth": 3, "t": 1.0}, 4.5,
         F=np.array([[2.4], [3.2]]), U=np.array([[0.6], [0.8]]), rank=1),
    Case("T15-parallel", _I2, _I2, {**_LIN, "beta": 0.5, "depth": 3, "t": 1.0}, 0.75,
         F=0.5 * _I2, U=0.5 * _I2, rank=2),
    Case("T12-beta1", _I2, np.array([1.0, -1.0]), {**_LIN, "beta": 1.0, "loss": "hinge"}, np.sqrt(2.0),
         F=np.array([[1.0], [-1.0]]), rank=1, atol=1e-6),
    Case("T12-beta2", _I2, np.array([1.0, -1.0]), {**_LIN, "beta": 2.0, "loss": "hinge"}, 2.0,
         F=np.zeros((2, 1)), rank=0, atol=1e-6),
    Case("T13", _I2, np.array([1.0, -1.0]), {**_LIN, "beta": 1.0, "loss": "logistic"}, 2 * np.log(2.0),
         F=np.zeros((2, 1)), U=np.array([[0.5], [-0.5]]), rank=0, atol=1e-6),
]


@pytest.fixture(params=KNOWN_CASES, ids=[c.id for c in KNOWN_CASES])
def known_case(request: pytest.FixtureRequest) -> Case:
    """Each registered known-answer case in turn."""
    return request.param


@pytest.fixture(scope="session")
def known_cases() -> dict[str, Case]:
    """All registered known-answer cases by id."""
    return {c.id: c for c in KNOWN_CASES}


# ------------------------------------------------------------------ random instances
def random_instance(seed: int, n: int, d: int, K: int, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray, float]:
    """Gaussian X (n×d), labels from a planted linear map plus noise, and a fitting β.

    β = 0.3·‖XᵀY‖₂ keeps the optimum away from zero (W* = 0 exactly when β ≥ ‖XᵀY‖₂).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, K)) + noise * rng.standard_normal((n, K))
    beta = 0.3 * float(np.linalg.norm(X.T @ Y, 2))
    return X, Y, beta


@pytest.fixture(scope="session")
def make_instance():
    """``make_instance(seed, n, d, K) -> (X, Y, beta)``, deterministic in its arguments."""
    return random_instance


@functools.cache
def _trained_values(key: tuple, seeds: tuple[int, ...], **kwargs: Any) -> tuple[float, ...]:
    from dualnet.train import train

    X, Y = (np.frombuffer(b, dtype=np.float64).reshape(s) for b, s in key)
    return tuple(train(X, Y, seed=seed, **kwargs).objective(X, Y, kwargs["beta"], kwargs.get("loss", "squared"))
                 for seed in seeds)


@pytest.fixture(scope="session")
def trained_values():
    """Objectives reached by non-convex L-BFGS training, one per random start (cached).

    Call as ``trained_values(X, Y, seeds=(0, 1, 2), **train_kwargs)``.
    """

    def run(X: np.ndarray, Y: np.ndarray, seeds: tuple[int, ...] = (0, 1, 2), **kwargs: Any) -> np.ndarray:
        X, Y = np.ascontiguousarray(X, dtype=float), np.ascontiguousarray(Y, dtype=float)
        key = ((X.tobytes(), X.shape), (Y.tobytes(), Y.shape))
        return np.array(_trained_values(key, tuple(seeds), **kwargs))

    return run
