"""scikit-learn estimators: the library's estimator checks, and certified fits against dn.solve and training."""

from __future__ import annotations

import pickle

import cvxpy as cp
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import dualnet as dn  # noqa: E402
from dualnet._labels import encode_classes  # noqa: E402
from dualnet.datasets import IRIS_CLASSES, load_iris, make_gaussian, make_rank_one  # noqa: E402
from dualnet.losses import get_loss  # noqa: E402
from dualnet.sklearn import ConvexNetClassifier, ConvexNetRegressor  # noqa: E402
from dualnet.train import train  # noqa: E402


# Every check applies to the defaults (linear networks work on any data), so nothing is
# expected to fail. The classifiers cover the three label encodings (one-hot cross-entropy,
# one-hot squared, ±1 logistic); cross-entropy and logistic add predict_proba and so the
# probability checks. ReLU estimators are left out: the checks' data (n_samples >
# n_features) fit only the two-layer program, and its cutting plane makes the ~50 fits take
# minutes; their SettingError is tested below.
@parametrize_with_checks([ConvexNetRegressor(), ConvexNetClassifier(), ConvexNetClassifier(loss="squared"),
                          ConvexNetClassifier(loss="logistic")])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def iris_names() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris()
    return X, np.array(IRIS_CLASSES)[y]


def test_regressor_is_the_certified_solve() -> None:
    X, y = make_gaussian(40, 5)
    reg = ConvexNetRegressor(depth=3, beta=0.5, fit_intercept=False).fit(X, y)
    sol = dn.solve(X, y, depth=3, beta=0.5, activation="linear")
    assert reg.certified_ and reg.setting_ == "linear" and reg.n_features_in_ == 5
    assert reg.value_ == pytest.approx(sol.value, rel=1e-12)
    assert reg.lower_bound_ <= reg.value_ and reg.rel_gap_ <= 1e-6
    np.testing.assert_allclose(reg.predict(X), sol.predict(X), rtol=1e-10, atol=1e-12)
    assert reg.predict(X).shape == (40,)
    # Training never beats a certified lower bound (an independent non-convex oracle).
    for seed in (0, 1):
        trained = train(X, y, beta=0.5, depth=3, width=5, activation="linear", seed=seed)
        assert trained.objective(X, y, 0.5) >= reg.lower_bound_ * (1 - 1e-9)


def test_regressor_multi_output_and_relu_setting() -> None:
    X, Y = make_gaussian(30, 4, n_outputs=2)
    reg = ConvexNetRegressor().fit(X, Y)
    assert reg.predict(X).shape == (30, 2) and reg.certified_
    X1, y1 = make_rank_one(20, 5)
    relu = ConvexNetRegressor(activation="relu", depth=3, beta=0.5, fit_intercept=False).fit(X1, y1)
    assert relu.setting_ == "relu-rank-one" and relu.certified_
    assert relu.value_ == pytest.approx(dn.solve(X1, y1, depth=3, beta=0.5).value, rel=1e-9)


# Training accuracy measured on Iris: 0.97 (cross-entropy), 0.96 (hinge, logistic), 0.80
# (squared loss to one-hot rows without an intercept); guessing gives 1/3.
@pytest.mark.parametrize("loss, labels, min_score", [
    ("squared", "one-hot", 0.78), ("cross-entropy", "one-hot", 0.95), ("hinge", "one-vs-rest", 0.95),
    ("logistic", "one-vs-rest", 0.95)])
def test_classifier_on_iris_encodes_classes_for_the_loss(loss: str, labels: str, min_score: float) -> None:
    X, names = iris_names()
    clf = ConvexNetClassifier(loss=loss, beta=1.0, fit_intercept=False).fit(X, names)
    assert clf.classes_.tolist() == list(IRIS_CLASSES) and clf.certified_
    one_hot = load_iris(one_hot=True)[1]
    expected = one_hot if labels == "one-hot" else 2 * one_hot - 1
    np.testing.assert_array_equal(clf.solution_.dual.shape, expected.shape)
    sol = dn.solve(X, expected, beta=1.0, activation="linear", loss=loss)
    assert clf.value_ == pytest.approx(sol.value, rel=1e-9)
    assert clf.score(X, names) > min_score
    assert clf.decision_function(X).shape == (150, 3)
    if loss in ("cross-entropy", "logistic"):
        np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
        assert (clf.classes_[clf.predict_proba(X).argmax(1)] == clf.predict(X)).all()
    else:
        assert not hasattr(clf, "predict_proba")


def intercept_oracle(X: np.ndarray, Y: np.ndarray, beta: float, loss: str) -> float:
    """The optimum of ℓ(XW + 1bᵀ) + β‖W‖ (two-layer linear, b free) from one CVXPY program."""
    W, b = cp.Variable((X.shape[1], Y.shape[1])), cp.Variable((1, Y.shape[1]))
    penalty = cp.norm(W[:, 0], 2) if Y.shape[1] == 1 else cp.normNuc(W)
    F = X @ W + np.ones((X.shape[0], 1)) @ b
    problem = cp.Problem(cp.Minimize(get_loss(loss).primal(F, Y) + beta * penalty))
    problem.solve(solver="CLARABEL")
    return problem.value


@pytest.mark.parametrize("loss", ["cross-entropy", "hinge", "logistic", "absolute", "squared"])
def test_classifier_intercept_is_unpenalized_and_certified(loss: str) -> None:
    # Standardized Iris: no feature acts as a constant, so the intercept matters.
    X, names = iris_names()
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    clf = ConvexNetClassifier(loss=loss).fit(Xs, names)
    without = ConvexNetClassifier(loss=loss, fit_intercept=False).fit(Xs, names)
    Y = encode_classes(names, loss, "test")[0]
    assert clf.certified_ and clf.lower_bound_ <= clf.value_
    # An independent oracle: the convex program with a free b, solved directly.
    assert clf.value_ == pytest.approx(intercept_oracle(Xs, Y, 1.0, loss), rel=1e-6)
    # value_ is the objective of the model the estimator predicts with.
    F = clf.network_.forward(Xs) + clf.intercept_
    assert clf.value_ == pytest.approx(get_loss(loss).value(F, Y) + clf.network_.penalty(1.0), rel=1e-9)
    assert clf.value_ <= without.value_ * (1 + 1e-9)
    if loss != "squared":     # squared loss on one-hot rows: the intercept is the class share
        assert clf.score(Xs, names) > without.score(Xs, names)


def test_regressor_intercept_on_diabetes() -> None:
    # The diabetes targets have mean 152: without an intercept the certified model has R² < 0.
    load_diabetes = pytest.importorskip("sklearn.datasets").load_diabetes
    X, y = load_diabetes(return_X_y=True)
    reg = ConvexNetRegressor().fit(X, y)
    assert reg.certified_ and reg.score(X, y) > 0.5
    assert ConvexNetRegressor(fit_intercept=False).fit(X, y).score(X, y) < 0
    assert reg.value_ == pytest.approx(intercept_oracle(X, y[:, None], 1.0, "squared"), rel=1e-7)
    np.testing.assert_allclose(reg.predict(X), reg.network_.predict(X)[:, 0] + reg.intercept_[0], rtol=1e-12)


def test_intercept_with_relu_settings() -> None:
    X1, y1 = make_rank_one(20, 5)
    relu = ConvexNetRegressor(activation="relu", depth=3, beta=0.5).fit(X1, y1 + 3.0)
    assert relu.setting_ == "relu-rank-one" and relu.certified_
    # Shifting the targets moves the intercept, not the certified value.
    assert relu.value_ == pytest.approx(ConvexNetRegressor(activation="relu", depth=3, beta=0.5).fit(X1, y1).value_,
                                        rel=1e-6)
    with pytest.raises(dn.InputError, match="fit_intercept=False"):
        ConvexNetRegressor(batchnorm=True).fit(X1, y1)


def test_binary_classifier_uses_one_plus_minus_one_output() -> None:
    X, names = iris_names()
    keep = names != "setosa"
    clf = ConvexNetClassifier(loss="logistic", fit_intercept=False).fit(X[keep], names[keep])
    assert clf.network_.n_outputs == 1
    sol = dn.solve(X[keep], np.where(names[keep] == "virginica", 1.0, -1.0), beta=1.0, activation="linear",
                   loss="logistic")
    assert clf.value_ == pytest.approx(sol.value, rel=1e-7)
    f = clf.decision_function(X[keep])
    assert ((f > 0) == (clf.predict(X[keep]) == "virginica")).all()
    np.testing.assert_allclose(clf.predict_proba(X[keep])[:, 1], 1 / (1 + np.exp(-f)), rtol=1e-12)


def test_pipeline_grid_search_and_pickle() -> None:
    X, names = iris_names()
    pipe = make_pipeline(StandardScaler(), ConvexNetClassifier(loss="squared"))
    scores = cross_val_score(pipe, X, names, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.6
    grid = GridSearchCV(ConvexNetRegressor(), {"beta": [0.1, 10.0]}, cv=2).fit(*make_gaussian(30, 3))
    assert grid.best_params_["beta"] in (0.1, 10.0)
    clf = ConvexNetClassifier(method="cvxpy").fit(X, names)      # cross-entropy's default is the fast path
    assert clf.solution_.program is not None         # solved by CVXPY
    again = pickle.loads(pickle.dumps(clf))
    assert again.solution_.program is None           # solver objects are not picklable; the rest is kept
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.certified_ == clf.certified_ and clone(clf).get_params() == clf.get_params()


def test_errors_are_dualnet_errors() -> None:
    X, y = make_gaussian(20, 3)
    with pytest.raises(dn.SettingError, match="No setting in which dualnet can certify"):
        ConvexNetRegressor(activation="relu", depth=3).fit(X, y)
    with pytest.raises(dn.InputError, match="The 'depth' parameter of solve must be an int"):
        ConvexNetRegressor(depth=1).fit(X, y)
    with pytest.raises(dn.InputError, match="The 'loss' parameter of ConvexNetClassifier.fit must be one of"):
        ConvexNetClassifier(loss="hinj").fit(X, y > 0)
    with pytest.raises(ValueError, match="Unknown label type"):
        ConvexNetClassifier().fit(X, y)
