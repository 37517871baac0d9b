"""scikit-learn estimators: the library's estimator checks, and certified fits against dn.solve and training."""

from __future__ import annotations

import pickle
import time

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
from dualnet.datasets import IRIS_CLASSES, load_diabetes, load_iris, make_gaussian, make_rank_one  # noqa: E402
from dualnet.losses import get_loss  # noqa: E402
from dualnet.settings.two_layer.proximal import _prox  # noqa: E402
from dualnet.sklearn import ConvexNetClassifier, ConvexNetRegressor, _WithIntercept  # noqa: E402
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


def test_default_classifier_on_digits_takes_the_fast_path() -> None:
    # Ten classes, 64 features: the intercept problem went to CVXPY's semidefinite program
    # and ran for more than 15 minutes; the factored fast path with a free intercept is certified.
    load_digits = pytest.importorskip("sklearn.datasets").load_digits
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    start = time.process_time()
    clf = ConvexNetClassifier().fit(X, y)
    assert time.process_time() - start < 60        # about 1 s of CPU here; generous for shared machines
    assert clf.certified_ and "intercept" in clf.solution_.method
    assert clf.score(X, y) > 0.95


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
    with pytest.raises(dn.InputError, match="'y' parameter of ConvexNetClassifier.fit .* continuous .* "
                                            "ConvexNetRegressor"):
        ConvexNetClassifier().fit(X, y)
    with pytest.raises(dn.InputError, match="Unknown label type"):
        ConvexNetClassifier().fit(X, (y > 0).astype(float).astype(object) + 0.5)
    with pytest.raises(dn.InputError, match="'n_jobs' parameter of ConvexNetRegressor.fit"):
        ConvexNetRegressor(n_jobs=0).fit(X, y)
    with pytest.raises(dn.InputError, match="'time_limit' parameter of ConvexNetRegressor.fit"):
        ConvexNetRegressor(time_limit=-1.0).fit(X, y)


def relu_lbfgs_with_intercept(X: np.ndarray, y: np.ndarray, beta: float, loss: str, seeds=(0, 1)) -> float:
    """The best objective of L-BFGS training (ReLU, width 20, free intercept) from several starts: an upper bound."""
    free = _WithIntercept(get_loss(loss))      # min over b inside the loss; its gradient is the centered residual
    return min(train(X, y, beta=beta, width=20, loss=free, seed=seed, max_iter=1000).objective(X, y, beta, loss=free)
               for seed in seeds)


def test_relu_estimator_defaults_fit_an_ordinary_table() -> None:
    # A real table (rank 10): the two-layer program by default, within its time budget, with a
    # proven lower bound that no trained network beats, and the gap between them reported.
    X, y = load_diabetes()
    X, y = X[::4], y[::4]                                   # 111 patients keep the test fast
    start = time.perf_counter()
    reg = ConvexNetRegressor(activation="relu", beta=1.0, time_limit=3.0).fit(X, y)
    # the budget is polled between units of work (a master solve, an oracle round), so a unit may overrun it
    assert time.perf_counter() - start < 3.0 + 10.0
    assert reg.setting_ == "relu-two-layer" and reg.network_.depth == 2
    assert reg.lower_bound_ <= reg.value_ and reg.gap_ == pytest.approx(reg.value_ - reg.lower_bound_)
    assert reg.certified_ == (reg.rel_gap_ <= reg.tol)
    assert reg.score(X, y) > 0.4                            # the linear model scores 0.52
    F = reg.network_.forward(X) + reg.intercept_
    assert reg.value_ == pytest.approx(0.5 * np.sum((F[:, 0] - y) ** 2) + reg.network_.penalty(1.0), rel=1e-9)
    assert relu_lbfgs_with_intercept(X, y, 1.0, "squared") >= reg.lower_bound_ * (1 - 1e-9)


@pytest.mark.parametrize("estimator", [ConvexNetRegressor(activation="relu", time_limit=1e-3),
                                       ConvexNetClassifier(activation="relu", time_limit=1e-3)])
def test_a_spent_budget_still_returns_a_network_with_a_proven_bound(estimator) -> None:
    # The budget runs out before the first L-BFGS seed: the fit returns what it has, and says so.
    X, y = load_diabetes()
    estimator.fit(X[::4], y[::4] if isinstance(estimator, ConvexNetRegressor) else y[::4] > 150)
    assert estimator.lower_bound_ <= estimator.value_ and "time_limit=0.001 s reached" in estimator.solution_.reason


@pytest.mark.parametrize("loss", ["hinge", "absolute"])
def test_relu_two_layer_with_intercept_and_a_nonsmooth_loss(loss: str) -> None:
    # The first-order master needs the prox of min_b ℓ(F + 1b): before it existed, these fits raised.
    X, names = iris_names()
    keep = names != "setosa"
    Xs = (X[keep] - X[keep].mean(axis=0)) / X[keep].std(axis=0)
    clf = ConvexNetClassifier(activation="relu", loss=loss, time_limit=3.0).fit(Xs, names[keep])
    Y = encode_classes(names[keep], loss, "test")[0]
    F = clf.network_.forward(Xs) + clf.intercept_
    assert clf.value_ == pytest.approx(get_loss(loss).value(F, Y) + clf.network_.penalty(1.0), rel=1e-9)
    assert clf.lower_bound_ <= clf.value_ and clf.score(Xs, names[keep]) > 0.9
    assert relu_lbfgs_with_intercept(Xs, Y, 1.0, loss) >= clf.lower_bound_ * (1 - 1e-9)


@pytest.mark.parametrize("loss", ["hinge", "absolute"])
def test_prox_of_a_loss_with_a_free_intercept_is_the_convex_program(loss: str) -> None:
    rng = np.random.default_rng(0)
    Y, q, t = np.sign(rng.standard_normal((15, 2))), rng.standard_normal((15, 2)), 0.7
    F, b = cp.Variable((15, 2)), cp.Variable((1, 2))
    base = get_loss(loss)
    cp.Problem(cp.Minimize(base.primal(F + np.ones((15, 1)) @ b, Y) + cp.sum_squares(F - q) / (2 * t))).solve(
        solver="CLARABEL")
    np.testing.assert_allclose(_prox(_WithIntercept(base), q, Y, t), F.value, atol=1e-6)   # CLARABEL's accuracy


@pytest.mark.slow
def test_n_jobs_runs_the_two_layer_program_on_workers_with_the_same_result(monkeypatch) -> None:
    # Rank-3 data: the arrangement is enumerated in tasks, which the workers run; the tasks and
    # their order are the same as in a serial run, so the results agree exactly.
    loky = pytest.importorskip("joblib.externals.loky")
    tasks: list[str] = []
    pool = loky.get_reusable_executor

    class Counted:                      # the workers' map, counted
        def __init__(self, *args, **kwargs):
            self.pool = pool(*args, **kwargs)

        def map(self, fn, *iterables, **kwargs):
            tasks.append(fn.__name__)
            return self.pool.map(fn, *iterables, **kwargs)

    monkeypatch.setattr(loky, "get_reusable_executor", Counted)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.maximum(X[:, 0], 0) - 0.5 * X[:, 1] + 0.1 * rng.standard_normal(40)
    serial = ConvexNetRegressor(activation="relu", beta=1.0).fit(X, y)
    parallel = ConvexNetRegressor(activation="relu", beta=1.0, n_jobs=2).fit(X, y)
    assert tasks and serial.certified_ and parallel.certified_
    assert parallel.value_ == serial.value_ and parallel.lower_bound_ == serial.lower_bound_
    np.testing.assert_array_equal(parallel.predict(X), serial.predict(X))
    # Settings without parallel parts ignore n_jobs (the option is not passed to them).
    tasks.clear()
    assert ConvexNetRegressor(n_jobs=2).fit(X, y).value_ == ConvexNetRegressor().fit(X, y).value_
    assert not tasks
