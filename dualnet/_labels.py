"""Class labels to the label matrices the losses expect, and back (CLI and scikit-learn estimators).

One rule, shared by ``dualnet solve`` and :class:`dualnet.sklearn.ConvexNetClassifier`:

* ``loss="cross-entropy"``: one-hot rows, one column per class (two columns for two classes);
* two classes with any other loss: one column, −1 for the first class and +1 for the second
  (classes in sorted order);
* more than two classes: one-hot rows for "squared" and "absolute" (the Neural Collapse
  convention), one-vs-rest ±1 columns for "hinge" and "logistic".

Predictions go back to classes by the sign of the single column, or the largest column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["CLASS_LOSSES", "decode_classes", "encode_classes"]

#: Losses whose labels are classes (encoded by :func:`encode_classes`), never numbers.
CLASS_LOSSES = ("hinge", "logistic", "cross-entropy")


def encode_classes(labels: Any, loss: str, where: str = "solve") -> tuple[np.ndarray, np.ndarray]:
    """Label matrix ``Y`` (n_samples, n_columns) float64 and the sorted classes.

    Examples
    --------
    >>> Y, classes = encode_classes(["b", "a", "b"], "hinge")
    >>> Y[:, 0].tolist(), classes.tolist()
    ([1.0, -1.0, 1.0], ['a', 'b'])
    >>> encode_classes([2, 0, 1], "cross-entropy")[0].tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    classes, index = np.unique(np.asarray(labels), return_inverse=True)
    index = index.reshape(-1)
    if classes.size < 2:
        raise InputError(f"The 'y' parameter of {where} must hold at least 2 classes for classification. Got "
                         f"{classes.size} class{'' if classes.size == 1 else 'es'} ({classes.tolist()!r}) instead. "
                         "Pass labels of several classes, or a regression loss with numeric labels.")
    n_classes = classes.size
    if loss == "cross-entropy" or (n_classes > 2 and loss not in ("hinge", "logistic")):
        return np.eye(n_classes)[index], classes
    if n_classes == 2:
        return np.where(index == 1, 1.0, -1.0)[:, None], classes
    return 2.0 * np.eye(n_classes)[index] - 1.0, classes


def decode_classes(F: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Classes predicted by network outputs ``F`` (n_samples, n_columns) made by :func:`encode_classes`.

    Examples
    --------
    >>> decode_classes(np.array([[0.3], [-2.0]]), np.array(["a", "b"])).tolist()
    ['b', 'a']
    """
    index = (F[:, 0] > 0).astype(int) if F.shape[1] == 1 else np.argmax(F, axis=1)
    return classes[index]
