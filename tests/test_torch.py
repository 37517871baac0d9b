"""PyTorch networks: conversion both ways, certification of a trained network, and improving it.

The objective PyTorch minimizes here is the package's: ½Σ(f − y)² + (β/2)(‖W₁‖² + ‖W₂‖²),
biases unpenalized. A network trained by Adam is certified (a valid, exact lower bound), then
``dn.solve`` started from it reaches a certified optimum that is never worse.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualnet as dn
from dualnet.errors import InputError, SettingError

torch = pytest.importorskip("torch", reason="torch is not installed (the 'torch' extra)")
nn = torch.nn


def _data(n: int = 30, d: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.sin(2.0 * X[:, 0]) + 0.5 * X[:, -1] ** 2 + 0.1 * rng.standard_normal(n)


def _train(X: np.ndarray, y: np.ndarray, beta: float, bias: bool, width: int = 8, steps: int = 300,
           seed: int = 0) -> nn.Sequential:
    """A few hundred seeded Adam steps on the weight-decay objective (float64)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(X.shape[1], width, bias=bias), nn.ReLU(), nn.Linear(width, 1, bias=bias)).double()
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        objective = _objective(model, Xt, yt, beta)
        objective.backward()
        opt.step()
    return model


def _objective(model: nn.Sequential, Xt, yt, beta: float):
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    return 0.5 * ((model(Xt)[:, 0] - yt) ** 2).sum() + 0.5 * beta * sum((W ** 2).sum() for W in weights)


def test_from_torch_and_back_keep_the_function() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    X = np.random.default_rng(1).standard_normal((7, 3))
    net = dn.Network.from_torch(model)
    assert net.depth == 3 and net.activation == "relu" and net.n_outputs == 2
    np.testing.assert_allclose(net.forward(X), model(torch.as_tensor(X)).detach().numpy(), rtol=1e-12, atol=1e-12)
    back = net.to_torch()
    np.testing.assert_allclose(back(torch.as_tensor(X)).detach().numpy(), net.forward(X), rtol=1e-12, atol=1e-12)
    linear = dn.Network.from_torch(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)))
    assert linear.activation == "linear"


def test_to_torch_merges_branches() -> None:
    rng = np.random.default_rng(2)
    net = dn.Network([[(rng.standard_normal((2, 3)), None), (rng.standard_normal((3, 1)), None)],
                      [(rng.standard_normal((2, 2)), None), (rng.standard_normal((2, 1)), None)]])
    X = rng.standard_normal((5, 2))
    np.testing.assert_allclose(net.to_torch()(torch.as_tensor(X)).detach().numpy(), net.forward(X), atol=1e-12)


@pytest.mark.parametrize("bias", [False, True])
def test_certify_a_torch_network_then_improve_it(bias: bool) -> None:
    X, y = _data()
    beta = 0.2
    model = _train(X, y, beta, bias)
    torch_value = float(_objective(model, torch.as_tensor(X), torch.as_tensor(y), beta).detach())
    cert = dn.certify(model, X, y, beta=beta)
    assert cert.setting == "relu-two-layer" and cert.exact
    assert cert.value == pytest.approx(torch_value, rel=1e-12)    # same objective, same conventions
    assert cert.gap >= -1e-9 * max(1.0, cert.value)               # weak duality
    sol = dn.solve(X, y, beta=beta, bias=bias, init=model)
    assert sol.certified, sol.reason
    assert sol.value <= cert.value + 1e-9
    assert cert.lower_bound <= sol.value + 1e-9 * max(1.0, sol.value)
    # The optimum is certified again from the network alone (any network, any dual candidate).
    again = dn.certify(sol.network, X, y, beta=beta)
    assert again.certified and again.value == pytest.approx(sol.value, rel=1e-12)


def test_certify_explains_what_it_cannot_certify() -> None:
    X, y = _data(12, 2, seed=3)
    torch.manual_seed(3)
    deep = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    with pytest.raises(SettingError, match="depth=3"):
        dn.certify(deep, X, y, beta=0.1)
    vector = nn.Sequential(nn.Linear(2, 4, bias=False), nn.ReLU(), nn.Linear(4, 3, bias=False)).double()
    cert = dn.certify(vector, X, np.eye(3)[np.arange(12) % 3], beta=0.1)
    assert not cert.certified and "copositive" in cert.reason
    assert cert.bound_estimate is not None and cert.lower_bound < cert.bound_estimate <= cert.value


def test_bad_torch_modules_and_shapes_get_clear_errors() -> None:
    X, y = _data(10, 2, seed=4)
    with pytest.raises(InputError, match="Layer 1 of the torch module is Tanh"):
        dn.certify(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)), X, y, beta=0.1)
    with pytest.raises(InputError, match="Conv1d"):
        dn.Network.from_torch(nn.Sequential(nn.Conv1d(1, 1, 2), nn.Linear(3, 1)))
    with pytest.raises(InputError, match="nn.Sequential"):
        dn.Network.from_torch(nn.Linear(2, 1))
    with pytest.raises(InputError, match="end with one"):
        dn.Network.from_torch(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    wide = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with pytest.raises(InputError, match="maps 3 features to 1 outputs, but X has 2 columns"):
        dn.certify(wide, X, y, beta=0.1)
    with pytest.raises(InputError, match="n_samples=10"):
        dn.certify(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)), X, y[:7], beta=0.1)
    with pytest.raises(InputError, match="takes 3 input features but X has 2"):
        dn.solve(X, y, beta=0.1, init=wide)
