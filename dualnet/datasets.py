"""Small problems that satisfy each setting's assumptions, for demos, tests and benchmarks.

Every generator is seeded and returns ``(X, y)`` float64 arrays; nothing is downloaded.
Two small real datasets ship inside the package: Fisher's Iris data (:func:`load_iris`) and
the diabetes data of Efron et al. (:func:`load_diabetes`); sources and licenses in
``dualnet/data/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEMOS", "IRIS_CLASSES", "IRIS_CSV", "load_iris", "make_gaussian", "make_one_d", "make_rank_one",
           "make_whitened"]

#: Fisher's Iris data as bundled CSV (header row; the last column is the species name).
IRIS_CSV = Path(__file__).resolve().parent / "data" / "iris.csv"
IRIS_CLASSES = ("setosa", "versicolor", "virginica")


def load_iris(one_hot: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fisher's Iris data (1936): 150 flowers, 4 measurements in cm, 3 species (real data, bundled).

    Parameters
    ----------
    one_hot : bool, default False
        Return the labels as one-hot rows (for ``loss="cross-entropy"``) instead of class indices.

    Returns
    -------
    X : ndarray of shape (150, 4)
        Sepal length, sepal width, petal length, petal width (cm), float64.
    y : ndarray of shape (150,) or (150, 3)
        Class indices 0, 1, 2 in the order of :data:`IRIS_CLASSES` (int64), or one-hot float64 rows.

    Examples
    --------
    >>> X, y = load_iris()
    >>> X.shape, y.shape, np.bincount(y).tolist()
    ((150, 4), (150,), [50, 50, 50])
    >>> X[0].tolist()
    [5.1, 3.5, 1.4, 0.2]
    """
    X = np.loadtxt(IRIS_CSV, delimiter=",", skiprows=1, usecols=(0, 1, 2, 3), dtype=np.float64)
    names = np.loadtxt(IRIS_CSV, delimiter=",", skiprows=1, usecols=4, dtype=str)
    y = np.searchsorted(np.array(IRIS_CLASSES), names).astype(np.int64)
    return X, (np.eye(len(IRIS_CLASSES))[y] if one_hot else y)


#: The diabetes data as bundled CSV (header row; the last column is the target), in original units.
DIABETES_CSV = Path(__file__).resolve().parent / "data" / "diabetes.csv"
DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def load_diabetes(scaled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The diabetes data (Efron et al., 2004): 442 patients, 10 baseline variables, a disease measure (bundled).

    The same table as scikit-learn's ``load_diabetes``, without scikit-learn: the response is a
    quantitative measure of disease progression one year after baseline (25 to 346).

    Parameters
    ----------
    scaled : bool, default True
        Scale each feature as scikit-learn does: centered, divided by its standard deviation
        times √n_samples (each column then has unit Euclidean norm). False: original units
        (age in years, sex coded 1/2, body mass index, blood pressure, six serum measurements).

    Returns
    -------
    X : ndarray of shape (442, 10)
        The features in the order of :data:`DIABETES_FEATURES`, float64.
    y : ndarray of shape (442,)
        Disease progression, float64.

    Examples
    --------
    >>> X, y = load_diabetes()
    >>> X.shape, y.shape, round(float(y.mean()), 2)
    ((442, 10), (442,), 152.13)
    >>> np.linalg.norm(X, axis=0).round(12).tolist() == [1.0] * 10
    True
    >>> load_diabetes(scaled=False)[0][0].tolist()
    [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0]
    """
    table = np.loadtxt(DIABETES_CSV, delimiter=",", skiprows=1, dtype=np.float64)
    X, y = table[:, :-1], table[:, -1]
    if scaled:
        X = (X - X.mean(axis=0)) / (X.std(axis=0) * np.sqrt(X.shape[0]))
    return X, y


def make_gaussian(n_samples: int = 40, n_features: int = 5, n_outputs: int = 1, seed: int = 0,
                  noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs and labels from a random linear map plus noise (any setting of any data).

    Examples
    --------
    >>> X, y = make_gaussian(10, 3)
    >>> X.shape, y.shape
    ((10, 3), (10,))
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    W = rng.standard_normal((n_features, n_outputs))
    Y = X @ W + noise * rng.standard_normal((n_samples, n_outputs))
    return X, (Y[:, 0] if n_outputs == 1 else Y)


def make_rank_one(n_samples: int = 20, n_features: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X = c a0ᵀ with c ≥ 0 (docs/settings/rank_one.md), labels from a noisy function of c."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.1, 2.0, n_samples)
    a0 = rng.standard_normal(n_features)
    return np.outer(c, a0), np.sin(2 * c) + 0.1 * rng.standard_normal(n_samples)


def make_whitened(n_samples: int = 12, n_features: int = 20, n_classes: int | None = None,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X with orthonormal rows (X Xᵀ = I, docs/settings/whitened.md); scalar labels, or one-hot with ``n_classes``."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n_features, n_samples)))
    if n_classes is None:
        return Q.T.copy(), rng.standard_normal(n_samples)
    labels = np.arange(n_samples) % n_classes
    rng.shuffle(labels)
    return Q.T.copy(), np.eye(n_classes)[labels]


def make_one_d(n_samples: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scalar inputs on [−2, 2] (docs/examples.md#e4) as a column, and Gaussian labels."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, n_samples))
    return x[:, None], rng.standard_normal(n_samples)


def _one_hot_gaussian(n_samples: int = 12, n_features: int = 20, n_classes: int = 3,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % n_classes
    return rng.standard_normal((n_samples, n_features)), np.eye(n_classes)[labels]


def _diabetes(columns: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The diabetes data (scaled features, a subset of them) with centered targets."""
    X, y = load_diabetes()
    return (X if columns is None else X[:, list(columns)]), y - y.mean()


#: Demo problems: (setting, data name, make data, keyword arguments of dn.solve), in the order shown.
DEMOS: list[tuple[str, str, Callable[[], tuple[np.ndarray, np.ndarray]], dict[str, Any]]] = [
    ("linear", "gaussian", lambda: make_gaussian(200, 20, 3), dict(depth=2, beta=1.0, activation="linear")),
    ("linear", "gaussian", lambda: make_gaussian(200, 20, 1), dict(depth=4, beta=1.0, activation="linear")),
    ("linear", "iris (real)", lambda: load_iris(one_hot=True),
     dict(depth=2, beta=1.0, activation="linear", loss="cross-entropy")),
    ("relu-rank-one", "rank-one", lambda: make_rank_one(30, 6), dict(depth=4, beta=0.5)),
    ("relu-1d", "1-d", lambda: make_one_d(10), dict(depth=2, beta=0.05, bias=True)),
    ("relu-whitened", "whitened", lambda: make_whitened(12, 30, n_classes=3), dict(depth=3, beta=0.5, t=1.0)),
    ("batchnorm", "gaussian", lambda: _one_hot_gaussian(12, 20, 3), dict(depth=2, beta=0.5, batchnorm=True)),
    ("relu-two-layer", "gaussian", lambda: make_gaussian(12, 2, seed=1), dict(depth=2, beta=0.3)),
    # Real data, targets centered (no intercept): two features can be certified (rank 2, the
    # arrangement is enumerated); all ten only bounded (rank 10), within a time budget.
    ("relu-two-layer", "diabetes:2", lambda: _diabetes((2, 8)), dict(depth=2, beta=1.0, time_limit=30.0,
                                                                     progress=False)),
    ("relu-two-layer", "diabetes:10", _diabetes, dict(depth=2, beta=1.0, time_limit=10.0, progress=False)),
]
