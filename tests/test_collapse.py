"""Neural-collapse metrics (docs/settings/batchnorm.md#neural-collapse) against direct formulas and exact collapse geometries.

A two-layer ReLU network with X = I_n and a nonnegative first layer H has hidden layer
exactly H, so any feature matrix can be fed through the public entry point.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualnet as dn
from dualnet.errors import InputError
from dualnet.network import Network
from dualnet.train import train


def features_net(H: np.ndarray, W_out: np.ndarray) -> Network:
    """A network whose last hidden layer on X = I_n is H (H ≥ 0)."""
    return Network.from_weights([H, W_out], activation="relu")


def reference(H: np.ndarray, labels: np.ndarray, W_out: np.ndarray) -> dict[str, float]:
    """NC1–NC3 written out with explicit covariance matrices and a pseudo-inverse."""
    classes = np.unique(labels)
    K, n = classes.size, H.shape[0]
    means = np.array([H[labels == c].mean(axis=0) for c in classes])
    mu_G = H.mean(axis=0)
    Sigma_W = sum(np.outer(h - means[np.searchsorted(classes, c)], h - means[np.searchsorted(classes, c)])
                  for h, c in zip(H, labels)) / n
    M = means - mu_G
    Sigma_B = M.T @ M / K
    G = M @ M.T
    E = np.eye(K) - 1 / K
    Wc = W_out[:, classes].T
    Wc = Wc - Wc.mean(axis=0)
    return {"nc1": np.trace(Sigma_W @ np.linalg.pinv(Sigma_B)) / K,
            "nc2": np.linalg.norm(G / np.linalg.norm(G) - E / np.linalg.norm(E)),
            "nc3": np.linalg.norm(Wc / np.linalg.norm(Wc) - M / np.linalg.norm(M)),
            "within": np.trace(Sigma_W), "between": np.trace(Sigma_B)}


def test_matches_direct_formulas() -> None:
    rng = np.random.default_rng(0)
    n, m, K = 12, 5, 3
    labels = np.arange(n) % K
    H = np.abs(rng.standard_normal((n, m))) + 2.0 * np.eye(K, m)[labels]
    W_out = rng.standard_normal((m, K))
    nc = dn.collapse_metrics(features_net(H, W_out), np.eye(n), labels)
    ref = reference(H, labels, W_out)
    assert nc.nc1 == pytest.approx(ref["nc1"], rel=1e-10)
    assert nc.nc2 == pytest.approx(ref["nc2"], rel=1e-12)
    assert nc.nc3 == pytest.approx(ref["nc3"], rel=1e-12)
    assert nc.within_scatter == pytest.approx(ref["within"], rel=1e-12)
    assert nc.between_scatter == pytest.approx(ref["between"], rel=1e-12)
    assert nc.n_active == m and nc.counts.tolist() == [4, 4, 4]
    assert nc.nc1 > 0.01 and nc.nc2 > 0.01


def test_exact_simplex_etf_and_aligned_classifier() -> None:
    """h_i = √K e_c (the BN optimum, docs/settings/batchnorm.md#neural-collapse): every distance is 0, norms √(K−1), cosines −1/(K−1)."""
    K, per = 4, 3
    labels = np.repeat(np.arange(K), per)
    H = np.sqrt(K) * np.eye(K)[labels]
    nc = dn.collapse_metrics(features_net(H, 0.7 * np.eye(K)), np.eye(K * per), labels)
    assert nc.nc1 == 0 and nc.within_scatter == 0
    assert nc.nc2 <= 1e-15 and nc.nc3 <= 1e-15 and nc.cosine_error <= 1e-15 and nc.norm_spread <= 1e-15
    np.testing.assert_allclose(nc.centered_norms, np.sqrt(K - 1), rtol=1e-15)
    np.testing.assert_allclose(nc.cosines[~np.eye(K, dtype=bool)], -1 / (K - 1), rtol=1e-14)


def test_one_hot_and_integer_labels_agree_and_weight_lists() -> None:
    rng = np.random.default_rng(1)
    labels = np.array([2, 0, 1, 1, 0, 2, 2, 1])
    H = np.abs(rng.standard_normal((8, 4)))
    W_out = rng.standard_normal((4, 3))
    a = dn.collapse_metrics(features_net(H, W_out), np.eye(8), labels)
    b = dn.collapse_metrics([H, W_out], np.eye(8), np.eye(3)[labels])      # a weight list, one-hot labels
    for field in ("nc1", "nc2", "nc3", "within_scatter", "cosine_error"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-13)


def test_nc3_needs_outputs_that_are_the_classes() -> None:
    rng = np.random.default_rng(2)
    labels = np.array([-1.0, 1.0, 1.0, -1.0])                 # ±1 labels, one output: no class classifiers
    nc = dn.collapse_metrics(features_net(np.abs(rng.standard_normal((4, 3))), rng.standard_normal((3, 1))),
                             np.eye(4), labels)
    assert np.isnan(nc.nc3) and np.isfinite(nc.nc1)
    assert nc.classes.tolist() == [-1.0, 1.0]


def test_inactive_neurons_are_dropped() -> None:
    """A neuron with (near) zero outgoing weights does not count (docs/settings/batchnorm.md#neural-collapse: active neurons)."""
    labels = np.repeat(np.arange(3), 2)
    H = np.hstack([np.sqrt(3) * np.eye(3)[labels], np.arange(6.0)[:, None]])   # 4th neuron: not collapsed
    W_out = np.vstack([np.eye(3), 1e-9 * np.ones((1, 3))])
    kept = dn.collapse_metrics(features_net(H, W_out), np.eye(6), labels)
    assert kept.n_active == 3 and kept.within_scatter == 0
    everything = dn.collapse_metrics(features_net(H, W_out), np.eye(6), labels, active_rtol=0.0)
    assert everything.n_active == 4 and everything.within_scatter > 0.1


def test_closed_form_bn_network_collapses() -> None:
    """known answer T11 through the public API: scatter 0, cosines −0.5, ETF distance 0, NC3 0."""
    X = np.random.default_rng(0).standard_normal((6, 8))
    labels = np.repeat(np.arange(3), 2)
    sol = dn.solve(X, np.eye(3)[labels], beta=0.8, batchnorm=True)
    nc = dn.collapse_metrics(sol.network, X, labels)
    assert nc.within_scatter <= 1e-20 and nc.nc1 <= 1e-20
    np.testing.assert_allclose(nc.cosines[~np.eye(3, dtype=bool)], -0.5, atol=1e-12)
    assert nc.nc2 <= 1e-12 and nc.nc3 <= 1e-12 and nc.norm_spread <= 1e-12


def test_network_trained_elsewhere() -> None:
    """A plain (non-BN) ReLU network from L-BFGS: the metrics agree with the direct formulas."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 4))
    labels = np.arange(9) % 3
    net = train(X, np.eye(3)[labels], beta=0.1, width=6, seed=0, max_iter=100)
    nc = dn.collapse_metrics(net, X, labels, active_rtol=0.0)
    W_out = net.branches[0][-1][0]
    active = np.linalg.norm(W_out, axis=1) > 0
    ref = reference(net.hidden(X)[:, active], labels, W_out[active])
    assert nc.nc1 == pytest.approx(ref["nc1"], rel=1e-8)
    assert nc.nc2 == pytest.approx(ref["nc2"], rel=1e-12)
    assert nc.nc3 == pytest.approx(ref["nc3"], rel=1e-12)


def test_result_is_frozen_and_repr_leads_with_metrics() -> None:
    labels = np.repeat(np.arange(2), 2)
    nc = dn.collapse_metrics(features_net(np.eye(2)[labels], np.eye(2)), np.eye(4), labels)
    assert repr(nc).startswith("CollapseMetrics(nc1=")
    with pytest.raises(AttributeError):
        nc.nc1 = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("net, labels, match", [
    ("weights", np.zeros(4), "at least two classes"),
    ("weights", np.arange(3), "n_samples=4"),
    ("weights", np.array([[1, 1], [0, 1], [1, 0], [0, 1]]), "one-hot rows"),
    (np.eye(2), np.arange(4) % 2, "dualnet.Network or a list"),
])
def test_errors(net, labels, match) -> None:
    if isinstance(net, str):
        net = [np.eye(4), np.ones((4, 2))]
    with pytest.raises(InputError, match=match):
        dn.collapse_metrics(net, np.eye(4), labels)
