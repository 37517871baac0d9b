"""scikit-learn estimators whose ``fit`` computes the certified global optimum.

:class:`ConvexNetRegressor` and :class:`ConvexNetClassifier` wrap :func:`dualnet.solve`:
``fit`` validates the data the scikit-learn way, solves the weight-decay problem in the
setting that fits, and stores the recovered network with its certificate (``certified_``,
``lower_bound_``, ``value_``, ``rel_gap_``). They work in pipelines, grid searches and
``cross_val_score`` like any estimator.

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
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("dualnet.sklearn needs scikit-learn >= 1.6. Install it with pip install 'dualnet[sklearn]'.") \
        from err
from scipy.special import expit, softmax

from ._labels import decode_classes, encode_classes
from .api import Solution, solve
from .losses import Loss, get_loss
from .network import Network

__all__ = ["ConvexNetClassifier", "ConvexNetRegressor"]


class _ConvexNet(BaseEstimator):
    """Parameters and the certified fit shared by the regressor and the classifier."""

    _where = "ConvexNet.fit"

    def _store(self, depth: int, beta: float, activation: str, loss: str | Loss, t: float | None, setting: str,
               method: str, solver: str | None, tol: float, bias: bool, batchnorm: bool) -> None:
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

    def _solve(self, X: np.ndarray, Y: np.ndarray) -> None:
        sol = solve(X, Y, beta=self.beta, depth=self.depth, activation=self.activation, loss=self.loss,
                    bias=self.bias, batchnorm=self.batchnorm, t=self.t, setting=self.setting, method=self.method,
                    solver=self.solver, tol=self.tol)
        self.solution_: Solution = sol
        self.network_: Network = sol.network
        self.certified_ = bool(sol.certified)
        self.lower_bound_ = float(sol.lower_bound)
        self.value_ = float(sol.value)
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
        return self.network_.predict(X)


class ConvexNetRegressor(RegressorMixin, _ConvexNet):
    """Regression by the globally optimal weight-decay-regularized network, with a certificate.

    ``fit`` calls :func:`dualnet.solve` and keeps the recovered network. The default
    ``activation="linear"`` works on any data (the ``linear`` setting); ReLU networks need
    data that fit a ReLU setting (for example ``depth=2``, or whitened, rank-one or
    one-dimensional data), and ``fit`` raises :class:`dualnet.SettingError` otherwise.

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
        As in :func:`dualnet.solve`.

    Attributes
    ----------
    certified_ : bool
        The fit is certified globally optimal (relative gap ≤ ``tol``, ρ computed exactly).
    lower_bound_, value_, rel_gap_ : float
        Certified lower bound on the global optimum, objective of ``network_``, relative gap.
    setting_ : str
        The setting that was used.
    network_ : Network
        The recovered network.
    solution_ : Solution
        Everything :func:`dualnet.solve` returned.
    n_features_in_ : int
    """

    _where = "ConvexNetRegressor.fit"

    def __init__(self, depth: int = 2, beta: float = 1.0, activation: str = "linear", loss: str | Loss = "squared",
                 t: float | None = None, setting: str = "auto", method: str = "auto", solver: str | None = None,
                 tol: float = 1e-6, bias: bool = False, batchnorm: bool = False) -> None:
        self._store(depth, beta, activation, loss, t, setting, method, solver, tol, bias, batchnorm)

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
    usual classification loss (solved with CVXPY). The networks have no biases, so there is
    no intercept: with ``loss="squared"`` and one-hot labels that costs accuracy (0.80 on the
    Iris data against 0.97 with cross-entropy); squared loss is the one the ReLU settings
    for one-hot labels (whitened data, batch normalization) support. See
    :class:`ConvexNetRegressor` for the other parameters. ``predict_proba`` exists for
    ``loss="cross-entropy"`` (softmax) and ``"logistic"`` (sigmoid, normalized over classes
    for one-vs-rest).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    certified_, lower_bound_, value_, rel_gap_, setting_, network_, solution_, n_features_in_
        As in :class:`ConvexNetRegressor`.
    """

    _where = "ConvexNetClassifier.fit"

    def __init__(self, depth: int = 2, beta: float = 1.0, activation: str = "linear",
                 loss: str | Loss = "cross-entropy", t: float | None = None, setting: str = "auto",
                 method: str = "auto", solver: str | None = None, tol: float = 1e-6, bias: bool = False,
                 batchnorm: bool = False) -> None:
        self._store(depth, beta, activation, loss, t, setting, method, solver, tol, bias, batchnorm)

    def fit(self, X: Any, y: Any) -> ConvexNetClassifier:
        """Encode the classes, solve for the globally optimal network and certify it; returns self."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
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
