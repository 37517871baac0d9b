"""Non-convex training of the same objective, as an independent oracle and a baseline.

``train`` minimizes the weight-decay objective ℓ(f_θ(X); Y) + (β/2)Σ‖W‖²_F over the
weights of a network of given widths with SciPy's L-BFGS and exact gradients by
backpropagation (NumPy only). It is what tests compare certified optima against: a
trained network must never end below a certified lower bound.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize

from .losses import get_loss
from .network import BN_SCALES, Network, bn_statistics
from .validation import as_data, as_labels, check_beta, check_choice, check_depth, check_time_limit

__all__ = ["bn_objective_and_gradient", "objective_and_gradient", "train"]


def _shapes(d: int, widths: Sequence[int], K: int) -> list[tuple[int, int]]:
    dims = [d, *widths, K]
    return [(dims[i], dims[i + 1]) for i in range(len(dims) - 1)]


def _unpack(theta: np.ndarray, shapes: list[tuple[int, int]], n_branches: int, bias: bool) -> list[list]:
    branches, pos = [], 0
    for _ in range(n_branches):
        layers = []
        for (a, b) in shapes:
            W = theta[pos:pos + a * b].reshape(a, b)
            pos += a * b
            bb = None
            if bias:
                bb = theta[pos:pos + b]
                pos += b
            layers.append((W, bb))
        branches.append(layers)
    return branches


def objective_and_gradient(net: Network, X: np.ndarray, Y: np.ndarray, beta: float, loss: Any = "squared"
                           ) -> tuple[float, list[list[tuple[np.ndarray, np.ndarray | None]]]]:
    """Weight-decay objective of ``net`` and its gradient with respect to every (W, b)."""
    loss = get_loss(loss)
    X = as_data(X, "objective_and_gradient")
    Y, _ = as_labels(Y, X.shape[0], "objective_and_gradient")
    F = net.forward(X)
    value = loss.value(F, Y) + net.penalty(beta)
    G = -loss.dual_point(F, Y)            # ∇_F ℓ = −U
    grads = []
    for branch in net.branches:
        acts, pre = [X], []
        for W, b in branch[:-1]:
            Z = acts[-1] @ W + (0 if b is None else b)
            pre.append(Z)
            acts.append(np.maximum(Z, 0) if net.activation == "relu" else Z)
        delta = G
        layer_grads = []
        for l in range(len(branch) - 1, -1, -1):
            W, b = branch[l]
            gW = acts[l].T @ delta + beta * W
            gb = None if b is None else delta.sum(axis=0)
            layer_grads.append((gW, gb))
            if l > 0:
                delta = delta @ W.T
                if net.activation == "relu":
                    delta = delta * (pre[l - 1] > 0)
        grads.append(layer_grads[::-1])
    return value, grads


def bn_objective_and_gradient(net: Network, X: np.ndarray, Y: np.ndarray, beta: float, loss: Any = "squared"
                              ) -> tuple[float, list[list[tuple[np.ndarray, np.ndarray | None]]],
                                         list[tuple[np.ndarray, np.ndarray]]]:
    """Objective of a network with batch normalization (train mode) and its gradients.

    Returns the value, the gradients of every (W, b), and those of every branch's (γ, α).
    Only γ, α and the last layer carry weight decay (docs/settings/batchnorm.md#setting, :mod:`dualnet.network`).
    """
    loss = get_loss(loss)
    F = net.forward(X)
    value = loss.value(F, Y) + net.penalty(beta)
    G = -loss.dual_point(F, Y)
    s_n2 = float(X.shape[0]) if net.bn_scale == "std" else 1.0
    grads, bn_grads = [], []
    for branch, (gamma, alpha) in zip(net.branches, net.batchnorm):
        acts, pre = [X], []
        for W, b in branch[:-2]:
            pre.append(acts[-1] @ W + (0 if b is None else b))
            acts.append(np.maximum(pre[-1], 0) if net.activation == "relu" else pre[-1])
        W, b = branch[-2]
        Z = acts[-1] @ W + (0 if b is None else b)
        mean, div = bn_statistics(Z, net.bn_scale)
        Zhat = np.divide(Z - mean, div, out=np.zeros_like(Z), where=div > 0)
        H = gamma * Zhat + alpha
        A = np.maximum(H, 0) if net.activation == "relu" else H
        WL, bL = branch[-1]
        layer_grads = [(A.T @ G + beta * WL, None if bL is None else G.sum(axis=0))]
        dH = G @ WL.T
        if net.activation == "relu":
            dH = dH * (H > 0)
        bn_grads.append(((Zhat * dH).sum(axis=0) + beta * gamma, dH.sum(axis=0) + beta * alpha))
        g = dH * gamma
        # Zhat = s_n·P_⊥z/‖P_⊥z‖: its Jacobian is (1/div)(P_⊥ − ẑẑᵀ/s_n²) per column.
        delta = np.divide(g - g.mean(axis=0) - Zhat * (Zhat * g).sum(axis=0) / s_n2, div,
                          out=np.zeros_like(g), where=div > 0)
        for l in range(len(branch) - 2, -1, -1):
            W, b = branch[l]
            layer_grads.append((acts[l].T @ delta, None if b is None else delta.sum(axis=0)))
            if l > 0:
                delta = delta @ W.T
                if net.activation == "relu":
                    delta = delta * (pre[l - 1] > 0)
        grads.append(layer_grads[::-1])
    return value, grads, bn_grads


def train(X: Any, y: Any, *, beta: float, depth: int = 2, width: int | Sequence[int] = 10,
          activation: str = "relu", loss: Any = "squared", bias: bool = False, n_branches: int = 1,
          seed: int | None = 0, init: Network | None = None, init_scale: float = 0.5,
          max_iter: int = 5000, gtol: float = 1e-10, batchnorm: bool = False, bn_scale: str = "std",
          time_limit: float | None = None) -> Network:
    """Train a network on the weight-decay objective with L-BFGS from a random start.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training inputs, as in :func:`dualnet.solve`.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Labels, as in :func:`dualnet.solve`.
    beta : float
        Weight-decay strength.
    depth : int
        Number of weight layers.
    width : int or sequence of int
        Hidden width, one int for every hidden layer or a list of depth−1 ints.
    activation : str
        As in :func:`dualnet.solve`.
    loss : str or Loss
        As in :func:`dualnet.solve`.
    bias : bool
        Whether layers have (unpenalized) biases.
    n_branches : int
        Number of parallel branches (1 = a standard network).
    seed : int or None
        Seed of the random initialization.
    init : Network, optional
        Start from this network instead (its architecture is kept).
    init_scale : float
        Scale of the random initialization.
    max_iter : int
        Maximum number of L-BFGS iterations.
    gtol : float
        L-BFGS stopping tolerance on the projected gradient.
    batchnorm : bool
        Batch normalization before the last activation (docs/settings/batchnorm.md#setting); only γ, α and the last
        layer are penalized. The returned network stores the training-batch statistics for
        ``predict``.
    bn_scale : {"std", "l2"}
        "std" normalizes by the batch standard deviation, "l2" by the norm, as in
        :class:`dualnet.Network`.
    time_limit : float, optional
        Seconds L-BFGS may run (None: no limit); the last iterate is returned when it runs out.

    Returns
    -------
    Network

    Examples
    --------
    >>> import numpy as np
    >>> import dualnet as dn
    >>> from dualnet.train import train
    >>> net = train(np.eye(2), np.array([3.0, 4.0]), beta=1.0, activation="linear", width=3)
    >>> round(net.objective(np.eye(2), np.array([3.0, 4.0]), beta=1.0), 6)
    4.5
    """
    X = as_data(X, "train")
    Y, _ = as_labels(y, X.shape[0], "train")
    beta = check_beta(beta, "train")
    depth = check_depth(depth, "train")
    loss = get_loss(loss, "train")
    bn_scale = check_choice(bn_scale, "bn_scale", BN_SCALES, "train")
    bn0 = None
    if init is not None:
        batchnorm, bn_scale, bn0 = init.batchnorm is not None, init.bn_scale, init.batchnorm
        n_branches = init.n_branches
        widths = [W.shape[1] for W, _ in init.branches[0][:-1]]
        # With biases anywhere, every layer gets one (zeros where the start had none: unpenalized
        # biases only widen the family, and the start's function is unchanged).
        bias = any(b is not None for br in init.branches for _, b in br)
        activation = init.activation
        theta0 = np.concatenate([np.concatenate([W.ravel()] + ([] if not bias else
                                                               [np.zeros(W.shape[1]) if b is None else b]))
                                 for br in init.branches for W, b in br])
    else:
        widths = [int(width)] * (depth - 1) if np.isscalar(width) else [int(w) for w in width]
    shapes = _shapes(X.shape[1], widths, Y.shape[1])
    if init is None:
        rng = np.random.default_rng(seed)
        parts = []
        for _ in range(n_branches):
            for a, b in shapes:
                parts.append(rng.standard_normal(a * b) * init_scale / np.sqrt(a))
                if bias:
                    parts.append(rng.standard_normal(b) * init_scale)
        theta0 = np.concatenate(parts)
        if batchnorm:
            bn0 = [(rng.standard_normal(widths[-1]), rng.standard_normal(widths[-1]) * init_scale)
                   for _ in range(n_branches)]
    n_weights = theta0.size
    if batchnorm:
        theta0 = np.concatenate([theta0, *(np.concatenate(pair) for pair in bn0)])

    def build(theta: np.ndarray) -> Network:
        branches = _unpack(theta[:n_weights], shapes, n_branches, bias)
        if not batchnorm:
            return Network(branches, activation)
        pairs = theta[n_weights:].reshape(n_branches, 2, widths[-1])
        return Network(branches, activation, [(g, a) for g, a in pairs], bn_scale)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        net = build(theta)
        if batchnorm:
            value, grads, bn_grads = bn_objective_and_gradient(net, X, Y, beta, loss)
        else:
            (value, grads), bn_grads = objective_and_gradient(net, X, Y, beta, loss), []
        flat = [np.concatenate([gW.ravel()] + ([] if gb is None else [gb])) for br in grads for gW, gb in br]
        return value, np.concatenate(flat + [np.concatenate(pair) for pair in bn_grads])

    deadline = np.inf if time_limit is None else time.perf_counter() + check_time_limit(time_limit, "train")

    def stop_at_deadline(intermediate_result: Any) -> None:
        if time.perf_counter() >= deadline:
            raise StopIteration      # SciPy ends the run and returns the last iterate

    res = minimize(fun, theta0, jac=True, method="L-BFGS-B", callback=stop_at_deadline,
                   options={"maxiter": max_iter, "gtol": gtol, "ftol": 1e-15, "maxcor": 30})
    net = build(res.x)
    return net.with_batch_statistics(X) if batchnorm else net
