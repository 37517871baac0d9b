"""Neural-collapse metrics of a network's last hidden layer (docs/settings/batchnorm.md#neural-collapse).

Neural Collapse (Papyan, Han & Donoho, PNAS 2020) is the geometry of the last hidden layer
at the end of training: the features of each class collapse to their class mean (NC1),
the centered class means form a simplex equiangular tight frame (NC2), and the classifier
aligns with the class means (NC3). For batch-normalized networks Ergen & Pilanci (ICML
2021, v3/v4) derive it from convex duality: at the optimum every sample of class c has
the last-hidden representation h_i = √(n/n_c)·e_c (docs/settings/batchnorm.md#closed-form-relu, in the normalization
γ² + α² = 1). :func:`collapse_metrics` measures it for any network, dualnet's own or one
trained elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError
from .network import Network
from .validation import as_data

__all__ = ["CollapseMetrics", "collapse_metrics"]


@dataclass(frozen=True)
class CollapseMetrics:
    """Neural-collapse measurements of one network on one labelled batch.

    Every distance is 0 under exact collapse. Classes are those present in the labels,
    in increasing order; features are restricted to the active neurons of the last
    hidden layer.

    Attributes
    ----------
    nc1 : float
        tr(Σ_W Σ_B^†)/K: within-class variability relative to the between-class spread.
        Σ_W = (1/n)Σ_c Σ_{i∈c}(h_i − μ_c)(h_i − μ_c)ᵀ and Σ_B = (1/K)Σ_c(μ_c − μ_G)(μ_c − μ_G)ᵀ.
    nc2 : float
        Distance of the centered class means to a simplex ETF,
        ‖G/‖G‖_F − E/‖E‖_F‖_F with G = MMᵀ the Gram matrix of the centered means (rows of M,
        μ_c − μ_G) and E = I − 11ᵀ/K the Gram matrix of a simplex ETF.
    nc3 : float
        Classifier–mean alignment ‖W̃/‖W̃‖_F − M/‖M‖_F‖_F, W̃ the class classifiers (columns
        of the last layer, one per class) centered over classes. NaN when the network's
        outputs do not correspond one-to-one to the classes.
    within_scatter : float
        tr(Σ_W), the absolute within-class scatter (0 = every sample at its class mean).
    between_scatter : float
        tr(Σ_B).
    norm_spread : float
        std/mean of the centered-mean norms ‖μ_c − μ_G‖ (0 = equal norms).
    cosine_error : float
        max over c ≠ c' of |cos(μ_c − μ_G, μ_c' − μ_G) + 1/(K − 1)| (0 = simplex angles).
    centered_norms : ndarray of shape (K,)
        ‖μ_c − μ_G‖ (all √(K−1) at the BN optimum with balanced classes, docs/settings/batchnorm.md#neural-collapse).
    cosines : ndarray of shape (K, K)
        Cosines between centered class means.
    means : ndarray of shape (K, n_active)
        Class means μ_c (not centered; orthogonal with norms √(n/n_c) at the BN optimum).
    global_mean : ndarray of shape (n_active,)
        μ_G = (1/n)Σ_i h_i.
    counts : ndarray of shape (K,)
        Samples per class.
    classes : ndarray of shape (K,)
        The class labels (column indices for one-hot labels).
    n_active : int
        Neurons kept (outgoing weight norm above ``active_rtol`` times the largest).
    """

    nc1: float
    nc2: float
    nc3: float
    within_scatter: float
    between_scatter: float
    norm_spread: float
    cosine_error: float
    centered_norms: np.ndarray = field(repr=False)
    cosines: np.ndarray = field(repr=False)
    means: np.ndarray = field(repr=False)
    global_mean: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    classes: np.ndarray = field(repr=False)
    n_active: int = field(repr=False, default=0)


def _class_ids(labels: Any, n: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(class index per sample, class labels, whether the labels were one-hot columns)."""
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.shape[:1] != (n,) or arr.ndim > 2:
        raise InputError(f"The 'labels' parameter of collapse_metrics must be a 1-D array of n_samples={n} class "
                         f"labels or an (n_samples, K) one-hot array. Got shape {arr.shape} instead.")
    if arr.ndim == 2:
        ones = np.sum(arr == 1, axis=1)
        if not (np.all((arr == 0) | (arr == 1)) and np.all(ones == 1)):
            raise InputError("The 'labels' parameter of collapse_metrics must have one-hot rows (entries 0 or 1, "
                             f"exactly one 1 per row). Got {int(np.count_nonzero(ones != 1))} rows that are not. "
                             "Pass class labels as a 1-D array instead.")
        columns = np.argmax(arr, axis=1)
        classes, ids = np.unique(columns, return_inverse=True)
        return ids, classes, True
    classes, ids = np.unique(arr, return_inverse=True)
    return ids, classes, False


def collapse_metrics(net: Any, X: Any, labels: Any, *, activation: str = "relu",
                     active_rtol: float = 1e-4) -> CollapseMetrics:
    """Neural-collapse metrics (NC1–NC3) of the last hidden layer of ``net`` on ``X``.

    Parameters
    ----------
    net : Network or list of weight arrays
        Any network, for example one trained elsewhere (``[W1, W2, ...]`` with
        ``activation``). With batch normalization the features use the statistics of the
        batch ``X`` (train mode), as :meth:`Network.hidden` does.
    X : array-like of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,) or (n_samples, K)
        Class labels, or one-hot rows. NC3 needs the network's outputs to be the classes
        (output k scores class k: one-hot columns, or integer labels 0..K−1).
    activation : {"relu", "linear"}, default "relu"
        Activation of a network given as a weight list.
    active_rtol : float, default 1e-4
        Neurons whose outgoing weights have norm at most ``active_rtol`` times the largest
        are dropped (docs/settings/batchnorm.md#neural-collapse restricts to active neurons; weight decay leaves inactive
        ones near zero). 0 keeps every neuron with nonzero outgoing weights.

    Returns
    -------
    CollapseMetrics

    Examples
    --------
    >>> import numpy as np
    >>> import dualnet as dn
    >>> X = np.random.default_rng(0).standard_normal((6, 8))
    >>> labels = np.repeat([0, 1, 2], 2)
    >>> sol = dn.solve(X, np.eye(3)[labels], beta=0.8, batchnorm=True)
    >>> nc = dn.collapse_metrics(sol.network, X, labels)
    >>> round(nc.within_scatter, 12), round(nc.nc2, 12), nc.cosines.round(6)[0].tolist()
    (0.0, 0.0, [1.0, -0.5, -0.5])
    """
    if isinstance(net, (list, tuple)) and len(net) > 0:
        net = Network.from_weights(net, activation=activation)
    if not isinstance(net, Network):
        raise InputError("The 'net' parameter of collapse_metrics must be a dualnet.Network or a list of weight "
                         f"arrays [W1, W2, ...]. Got {type(net).__name__} instead.")
    if net.depth < 2:
        raise InputError(f"The 'net' parameter of collapse_metrics must have a hidden layer (depth >= 2). "
                         f"Got depth {net.depth}.")
    X = as_data(X, "collapse_metrics")
    ids, classes, one_hot = _class_ids(labels, X.shape[0])
    K = classes.size
    if K < 2:
        raise InputError(f"The 'labels' parameter of collapse_metrics must hold at least two classes. Got {K}.")
    W_out = np.vstack([br[-1][0] for br in net.branches])          # (width, n_outputs), rows = neurons
    row_norms = np.linalg.norm(W_out, axis=1)
    active = row_norms > active_rtol * row_norms.max() if row_norms.max() > 0 else row_norms >= 0
    H = net.hidden(X)[:, active]
    return _metrics(H, ids, classes, _classifiers(W_out[active], classes, one_hot))


def _classifiers(W: np.ndarray, classes: np.ndarray, one_hot: bool) -> np.ndarray | None:
    """Class classifiers as rows (K, n_active), or None when outputs are not the classes."""
    if one_hot:
        return W[:, classes].T if classes.max() < W.shape[1] else None
    integral = np.issubdtype(classes.dtype, np.number) and np.all(np.mod(classes, 1) == 0)
    if integral and classes.min() >= 0 and classes.max() < W.shape[1] and W.shape[1] > 1:
        return W[:, classes.astype(int)].T
    return None


def _metrics(H: np.ndarray, ids: np.ndarray, classes: np.ndarray, C: np.ndarray | None) -> CollapseMetrics:
    n, K = H.shape[0], classes.size
    counts = np.bincount(ids, minlength=K)
    means = np.zeros((K, H.shape[1]))
    np.add.at(means, ids, H)
    means /= counts[:, None]
    mu_G = H.mean(axis=0)
    M = means - mu_G
    R = H - means[ids]
    within = float(np.sum(R * R)) / n
    between = float(np.sum(M * M)) / K
    # tr(Σ_W Σ_B^†) with Σ_B = MᵀM/K = V S² Vᵀ/K: (K/n)‖R V S⁻¹‖², never forming width×width matrices.
    _, s, Vt = np.linalg.svd(M, full_matrices=False)
    keep = s > (s[0] if s.size else 0.0) * max(M.shape) * np.finfo(float).eps
    nc1 = (K / n) * float(np.sum((R @ Vt[keep].T / s[keep]) ** 2)) / K if np.any(keep) else np.nan
    G = M @ M.T
    norms = np.sqrt(np.diag(G))
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines = G / np.outer(norms, norms)
        E = np.eye(K) - 1.0 / K
        nc2 = float(np.linalg.norm(G / np.linalg.norm(G) - E / np.linalg.norm(E)))
        off = ~np.eye(K, dtype=bool)
        cosine_error = float(np.max(np.abs(cosines[off] + 1.0 / (K - 1))))
        norm_spread = float(np.std(norms) / np.mean(norms))
        nc3 = np.nan
        if C is not None:
            Ct = C - C.mean(axis=0)
            nc3 = float(np.linalg.norm(Ct / np.linalg.norm(Ct) - M / np.linalg.norm(M)))
    return CollapseMetrics(nc1=float(nc1), nc2=nc2, nc3=nc3, within_scatter=within, between_scatter=between,
                           norm_spread=norm_spread, cosine_error=cosine_error, centered_norms=norms, cosines=cosines,
                           means=means, global_mean=mu_G, counts=counts, classes=classes, n_active=H.shape[1])
