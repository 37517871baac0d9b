"""scikit-learn estimators whose ``fit`` computes the certified global optimum.

:class:`ConvexNetRegressor` and :class:`ConvexNetClassifier` wrap :func:`dualnet.solve`:
``fit`` validates the data the scikit-learn way, solves the weight-decay problem in the
setting that fits, and stores the recovered network with its certificate (``certified_``,
``lower_bound_``, ``value_``, ``gap_``, ``rel_gap_``). By default (``fit_intercept=True``, scikit-learn's
convention) the model has an unpenalized intercept, and the certificate is for that problem.
They work in pipelines, grid searches and ``cross_val_score`` like any estimator.

Needs scikit-learn (``pip install 'dualnet[sklearn]'``); the rest of dualnet does not.
Examples are in ``docs/howto/sklearn.md`` (this module is skipped by the doctest run when
scikit-learn is missing).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("dualnet.sklearn needs scikit-learn >= 1.6. Install it with pip install 'dualnet[sklearn]'.") \
        from err
import cvxpy as cp
from scipy.optimize import minimize
from scipy.special import expit, softmax

from ._labels import decode_classes, encode_classes
from .api import _problem, choose_setting, solve
from .results import Solution
from .errors import InputError
from .losses import Loss, get_loss
from .network import Network
from .validation import check_n_jobs, check_time_limit

__all__ = ["ConvexNetClassifier", "ConvexNetRegressor"]


class _WithIntercept(Loss):
    """min over b of ℓ(F + 1bᵀ; Y): the loss of a model with an unpenalized intercept b ∈ R^K.

    Minimizing over b is a partial minimization of a convex function, so this is a convex
    loss of F, and its conjugate is ℓ* restricted to 1ᵀU = 0: the dual of any setting gains
    that one constraint and keeps its own (ρ is unchanged). A setting that works through the
    loss's terms therefore solves, and the certificate certifies, the intercept problem.
    """

    #: no curvature is implemented here, so the settings' Newton fast paths leave it to CVXPY
    smooth = False

    def __init__(self, base: Loss) -> None:
        self.base = base
        self.name = f"{base.name}+intercept"        # type: ignore[misc]  # an instance's own name

    def check_labels(self, Y, where="solve"):
        self.base.check_labels(Y, where)

    def intercept(self, F: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The best b (K,) for predictions F: closed forms for squared, absolute and hinge losses."""
        R = Y - F
        if self.base.name == "squared":
            return R.mean(axis=0)
        if self.base.name == "absolute":
            return np.median(R, axis=0)
        if self.base.name == "hinge":
            return np.array([_hinge_intercept(F[:, k], Y[:, k]) for k in range(Y.shape[1])])
        # Smooth losses (logistic, cross-entropy): the gradient in b is −1ᵀU.
        fun = lambda b: self.base.value(F + b, Y)                  # noqa: E731
        jac = lambda b: -self.base.dual_point(F + b, Y).sum(axis=0)  # noqa: E731
        return minimize(fun, np.zeros(Y.shape[1]), jac=jac, method="BFGS", options={"gtol": 1e-12}).x

    def value(self, F, Y):
        return self.base.value(F + self.intercept(F, Y), Y)

    def primal(self, F, Y):
        b = cp.Variable((1, Y.shape[1]), name="intercept")
        return self.base.primal(F + np.ones((Y.shape[0], 1)) @ b, Y)

    def dual(self, U, Y):
        objective, constraints = self.base.dual(U, Y)
        return objective, [*constraints, cp.sum(U, axis=0) == 0]

    def dual_value(self, U, Y):
        # The conjugate is finite only on 1ᵀU = 0; allow the rounding of the column sums.
        if np.any(np.abs(U.sum(axis=0)) > 1e-12 * (1.0 + np.abs(U).sum(axis=0))):
            return -np.inf
        return self.base.dual_value(U, Y)

    def dual_point(self, F, Y):
        return self.project_dual(self.base.dual_point(F + self.intercept(F, Y), Y), Y)

    def project_dual(self, U, Y):
        """Into the base domain, centered; then toward a centered interior point until it is inside."""
        U = self.base.project_dual(U, Y)
        U = U - U.mean(axis=0)
        if np.isfinite(self.base.dual_value(U, Y)):
            return U
        inner = self._interior(Y)
        lo, hi = 0.0, 1.0                               # the domain is convex and `inner` inside it
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if np.isfinite(self.base.dual_value((1 - mid) * U + mid * inner, Y)) else (mid, hi)
        return (1 - hi) * U + hi * inner

    def _interior(self, Y: np.ndarray) -> np.ndarray:
        """A centered dual point inside the base loss's domain (each class present)."""
        if self.base.name == "cross-entropy":
            return Y - Y.mean(axis=0)                   # probabilities = class frequencies
        if self.base.name in ("hinge", "logistic"):
            share = (Y > 0).mean(axis=0)                # λ = share of the other class: 1ᵀ(y∘λ) = 0
            return Y * np.where(Y > 0, 1.0 - share, share)
        return np.zeros_like(Y)


def _hinge_intercept(f: np.ndarray, y: np.ndarray) -> float:
    """The b minimizing Σ (1 − y_i(f_i + b))_+ for y_i = ±1: a kink where the slope turns ≥ 0."""
    kinks = y - f                                       # 1 − y_i(f_i + b) = 0 at b = y_i − f_i
    order = np.argsort(kinks)
    k, pos = kinks[order], y[order] > 0
    # Slope just right of kink j: negatives at or left of it count +1, positives right of it −1.
    slope = np.cumsum(~pos) - (pos.sum() - np.cumsum(pos))
    return float(k[np.argmax(slope >= 0)]) if np.any(slope >= 0) else float(k[-1])


def _check_class_labels(y: np.ndarray, where: str) -> None:
    """Labels a classifier can take; continuous targets and unknown types get a dualnet message.

    The messages keep scikit-learn's words ("continuous", "Unknown label type"), which its
    estimator checks look for.
    """
    kind = type_of_target(y)
    if kind.startswith("continuous"):
        values = np.asarray(y, dtype=np.float64).ravel()
        example = float(values[np.flatnonzero(values != np.round(values))[0]])
        raise InputError(f"The 'y' parameter of {where} must be class labels (strings, ints, or floats with whole "
                         f"values). Got continuous values (target type {kind!r}, e.g. {example!r}) instead. "
                         "For a numeric target use ConvexNetRegressor; to classify, bin it first, e.g. "
                         "numpy.digitize(y, bins).")
    if kind == "unknown":
        raise InputError(f"The 'y' parameter of {where} must be class labels of one type (strings or numbers). Got "
                         f"an array of dtype {np.asarray(y).dtype} that scikit-learn cannot classify (Unknown label "
                         "type: 'unknown') instead. Convert the labels with numpy.asarray(y, dtype=str) or to ints.")
    check_classification_targets(y)


class _ConvexNet(BaseEstimator):
    """Parameters and the certified fit shared by the regressor and the classifier."""

    _where = "ConvexNet.fit"

    def _store(self, depth: int, beta: float, activation: str, loss: str | Loss, t: float | None, setting: str,
               method: str, solver: str | None, tol: float, bias: bool, batchnorm: bool, fit_intercept: bool,
               time_limit: float | None, n_jobs: int | None) -> None:
        # scikit-learn convention: __init__ only stores the parameters; fit validates them.
        self.depth = depth
        self.beta = beta
        self.activation = activation
        self.loss = loss
        self.t = t
        self.setting = setting
        self.method = method
        self.solver = solver
        self.tol = tol
        self.bias = bias
        self.batchnorm = batchnorm
        self.fit_intercept = fit_intercept
        self.time_limit = time_limit
        self.n_jobs = n_jobs

    def _parallel(self, X: np.ndarray, Y: np.ndarray, loss: Loss) -> dict[str, Any]:
        """``executor=`` for :func:`dualnet.solve` when ``n_jobs`` asks for workers and the setting can use them.

        Only the two-layer ReLU program has parallel parts (pattern enumeration, the oracle,
        branch and bound); the other settings refuse the option, so the setting is chosen first.
        The workers are joblib's reusable loky processes (joblib comes with scikit-learn).
        """
        n_jobs = check_n_jobs(self.n_jobs, self._where)
        if n_jobs is None or n_jobs == 1:
            return {}
        pb, _ = _problem(X, Y, depth=self.depth, beta=self.beta, t=self.t, loss=loss, activation=self.activation,
                         bias=self.bias, batchnorm=self.batchnorm, method=self.method, solver=self.solver, tol=self.tol,
                         options={}, where=self._where)
        if "executor" not in getattr(choose_setting(pb, self.setting, self._where), "OPTIONS", ()):
            return {}
        from joblib import effective_n_jobs
        from joblib.externals.loky import get_reusable_executor

        return {"executor": get_reusable_executor(max_workers=effective_n_jobs(n_jobs))}

    def _solve(self, X: np.ndarray, Y: np.ndarray) -> None:
        loss = get_loss(self.loss, self._where)
        intercept = self.fit_intercept and not self.bias       # bias=True: the network's own output bias
        if intercept and self.batchnorm:
            raise InputError(f"The 'fit_intercept' parameter of {self._where} must be False with batchnorm=True "
                             "(batch normalization already has an unpenalized shift per neuron). Got True. "
                             "Pass fit_intercept=False.")
        # Linear networks, squared loss: the intercept problem is the centered problem (the best
        # intercept is mean(Y) − f(mean(X))), which keeps the closed forms and fast paths.
        centered = intercept and self.activation == "linear" and loss.name == "squared"
        if centered:
            x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
            X, Y = X - x_mean, Y - y_mean
        elif intercept:
            loss = _WithIntercept(loss)
        time_limit = check_time_limit(self.time_limit, self._where)
        sol = solve(X, Y, beta=self.beta, depth=self.depth, activation=self.activation, loss=loss,
                    bias=self.bias, batchnorm=self.batchnorm, t=self.t, setting=self.setting, method=self.method,
                    solver=self.solver, tol=self.tol, time_limit=time_limit, **self._parallel(X, Y, loss))
        Y2 = Y.reshape(Y.shape[0], -1)
        if centered:
            self.intercept_ = np.reshape(y_mean, -1) - sol.network.predict(x_mean[None, :])[0]
        elif intercept:
            self.intercept_ = loss.intercept(sol.network.forward(X), Y2)
        else:
            self.intercept_ = np.zeros(Y2.shape[1])
        self.solution_: Solution = sol
        self.network_: Network = sol.network
        self.certified_ = bool(sol.certified)
        self.lower_bound_ = float(sol.lower_bound)
        self.value_ = float(sol.value)
        self.gap_ = float(sol.gap)
        self.rel_gap_ = float(sol.rel_gap)
        self.setting_ = sol.setting

    def __getstate__(self) -> dict[str, Any]:
        # The solved CVXPY program holds solver objects that cannot be pickled; the
        # network and the certificate can, so a pickled estimator keeps them.
        state = super().__getstate__()
        sol = state.get("solution_")
        if sol is not None and sol.program is not None:
            state["solution_"] = dataclasses.replace(sol, program=None)
        return state

    def _outputs(self, X: Any) -> np.ndarray:
        """Network outputs (n_samples, n_outputs) on validated ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.predict(X) + self.intercept_


class ConvexNetRegressor(RegressorMixin, _ConvexNet):
    """Regression by the globally optimal weight-decay-regularized network, with a certificate.

    ``fit`` calls :func:`dualnet.solve` and keeps the recovered network. The default
    ``activation="linear"`` works on any data (the ``linear`` setting). ``activation="relu"``
    with the default ``depth=2`` works on any data too (the two-layer program): certified
    when the activation patterns can be enumerated, otherwise a proven but possibly loose
    lower bound, within ``time_limit``. Deeper ReLU networks need data that fit a ReLU
    setting (whitened, rank-one or one-dimensional data), and ``fit`` raises
    :class:`dualnet.SettingError` otherwise.

    The model is ``network_(X) + intercept_``: the intercept is not penalized, and the
    certificate (``value_``, ``lower_bound_``) is for the problem with it. For linear networks
    and the squared loss the intercept problem is the centered one (features and targets minus
    their means), solved by the usual closed forms; otherwise the loss is minimized over the
    intercept inside the convex program, which adds the constraint 1ᵀU = 0 to the dual.

    Parameters
    ----------
    depth : int, default 2
        Number of weight layers L ≥ 2.
    beta : float, default 1.0
        Weight-decay strength β > 0. The loss is summed over samples (not averaged), so
        the effect of a given β grows weaker as the number of samples grows.
    activation : {"linear", "relu"}, default "linear"
    loss : {"squared", "absolute"} or Loss, default "squared"
    t : float or None, default None
        None is weight decay on all layers; a float is the paper's t-form (see :func:`dualnet.solve`).
    setting : str, default "auto"
    method : {"auto", "fast", "closed-form", "cvxpy"}, default "auto"
    solver : str or None, default None
        CVXPY solver for ``method="cvxpy"``.
    tol : float, default 1e-6
        Certified when the relative duality gap is at most ``tol``.
    bias, batchnorm : bool, default False
        As in :func:`dualnet.solve`. With ``bias=True`` the network's own (unpenalized) output
        bias is the intercept and ``fit_intercept`` has no effect; ``batchnorm=True`` needs
        ``fit_intercept=False``.
    fit_intercept : bool, default True
        Fit an unpenalized intercept (scikit-learn's convention). False fits the network alone
        (its value at X = 0 is 0); a penalized intercept is a column of ones in ``X``.
    time_limit : float or None, default None
        Seconds a fit may take (None: the setting's own budget). When it runs out the fit keeps
        the best network and the best proven lower bound found so far.
    n_jobs : int or None, default None
        Worker processes (joblib's, -1: one per core) for the parallel parts of the two-layer
        ReLU program; other settings run serially. To fit a β grid in parallel, give
        ``n_jobs`` to ``GridSearchCV`` instead.

    Attributes
    ----------
    certified_ : bool
        The fit is certified globally optimal (relative gap ≤ ``tol``, ρ computed exactly).
    lower_bound_, value_, gap_, rel_gap_ : float
        Proven lower bound on the global optimum, objective of ``network_``, their difference,
        and that difference relative to P(0) (the objective of the zero network).
    setting_ : str
        The setting that was used.
    network_ : Network
        The recovered network.
    intercept_ : ndarray of shape (n_outputs,)
        Added to the network's outputs (zeros when ``fit_intercept=False``).
    solution_ : Solution
        Everything :func:`dualnet.solve` returned (for linear networks with the squared loss
        and ``fit_intercept=True``: on the centered data).
    n_features_in_ : int
    """

    _where = "ConvexNetRegressor.fit"

    def __init__(self, depth: int = 2, beta: float = 1.0, activation: str = "linear", loss: str | Loss = "squared",
                 t: float | None = None, setting: str = "auto", method: str = "auto", solver: str | None = None,
                 tol: float = 1e-6, bias: bool = False, batchnorm: bool = False, fit_intercept: bool = True,
                 time_limit: float | None = None, n_jobs: int | None = None) -> None:
        self._store(depth, beta, activation, loss, t, setting, method, solver, tol, bias, batchnorm, fit_intercept,
                    time_limit, n_jobs)

    def fit(self, X: Any, y: Any) -> ConvexNetRegressor:
        """Solve for the globally optimal network on (X, y) and certify it; returns self."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._solve(X, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, of shape (n_samples,) when ``y`` was 1-D, else (n_samples, n_outputs)."""
        F = self._outputs(X)
        return F[:, 0] if self.solution_.vector_output else F

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ConvexNetClassifier(ClassifierMixin, _ConvexNet):
    """Classification by the globally optimal weight-decay-regularized network, with a certificate.

    Class labels of any type are encoded for the loss (``classes_`` keeps them sorted):
    one-hot rows for ``loss="cross-entropy"``; for two classes with any other loss one
    output, −1 for ``classes_[0]`` and +1 for ``classes_[1]``; for more classes one-hot rows
    with "squared" or "absolute" and one-vs-rest ±1 columns with "hinge" or "logistic".
    ``predict`` takes the sign of the one output, or the largest output.

    Defaults: ``activation="linear"`` works on any data; ``loss="cross-entropy"`` is the
    usual classification loss (solved with CVXPY); ``fit_intercept=True`` adds an unpenalized
    intercept to every output (a class prior), certified with the network. See
    :class:`ConvexNetRegressor` for the other parameters. ``predict_proba`` exists for
    ``loss="cross-entropy"`` (softmax) and ``"logistic"`` (sigmoid, normalized over classes
    for one-vs-rest).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    certified_, lower_bound_, value_, gap_, rel_gap_, setting_, network_, intercept_, solution_, n_features_in_
        As in :class:`ConvexNetRegressor`.
    """

    _where = "ConvexNetClassifier.fit"

    def __init__(self, depth: int = 2, beta: float = 1.0, activation: str = "linear",
                 loss: str | Loss = "cross-entropy", t: float | None = None, setting: str = "auto",
                 method: str = "auto", solver: str | None = None, tol: float = 1e-6, bias: bool = False,
                 batchnorm: bool = False, fit_intercept: bool = True, time_limit: float | None = None,
                 n_jobs: int | None = None) -> None:
        self._store(depth, beta, activation, loss, t, setting, method, solver, tol, bias, batchnorm, fit_intercept,
                    time_limit, n_jobs)

    def fit(self, X: Any, y: Any) -> ConvexNetClassifier:
        """Encode the classes, solve for the globally optimal network and certify it; returns self."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        _check_class_labels(y, self._where)
        Y, self.classes_ = encode_classes(y, get_loss(self.loss, self._where).name, self._where)
        self._solve(X, Y)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Network outputs: (n_samples,) for two classes (> 0 means ``classes_[1]``), else (n_samples, n_classes)."""
        F = self._outputs(X)
        if F.shape[1] == 1:
            return F[:, 0]
        return F[:, 1] - F[:, 0] if F.shape[1] == 2 else F

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels."""
        return decode_classes(self._outputs(X), self.classes_)

    def _has_proba(self) -> bool:
        # No validation here: hasattr(est, "predict_proba") must not raise for a bad loss.
        name = self.loss.name if isinstance(self.loss, Loss) else str(self.loss).lower()
        return name in ("cross-entropy", "logistic")

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes): softmax for cross-entropy, sigmoid for logistic."""
        F = self._outputs(X)
        if get_loss(self.loss, self._where).name == "cross-entropy":
            return softmax(F, axis=1)
        if F.shape[1] == 1:
            p = expit(F[:, 0])
            return np.column_stack([1.0 - p, p])
        P = expit(F)
        return P / P.sum(axis=1, keepdims=True)
