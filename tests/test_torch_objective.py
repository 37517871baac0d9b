"""PyTorch's training conventions, translated: dualnet's value is the objective torch minimized.

Independent oracles: torch's own optimizers define the objective (one step of
``SGD``/``Adam`` with ``weight_decay`` equals one step on J = L + (wd/2)·Σ‖θ‖² written by
hand), and J recomputed by hand in torch (float64) must equal ``user_value``.
"""

from __future__ import annotations

import numpy as np
import pytest

import dualnet as dn
from dualnet.errors import InputError

torch = pytest.importorskip("torch", reason="torch is not installed (the 'torch' extra)")
nn = torch.nn

WD = 0.01


def _data(n: int = 30, d: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.sin(2.0 * X[:, 0]) + 0.5 * X[:, -1] ** 2 + 0.1 * rng.standard_normal(n)


def _model(d: int, bias: bool = True, seed: int = 0, width: int = 8) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, width, bias=bias), nn.ReLU(), nn.Linear(width, 1, bias=bias)).double()


def _groups(model: nn.Sequential, wd: float, decay_biases: bool) -> list[dict]:
    """Parameter groups as PyTorch users write them: biases apart with weight_decay=0, or all decayed."""
    if decay_biases:
        return [{"params": list(model.parameters()), "weight_decay": wd}]
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, nn.Linear) and m.bias is not None]
    return [{"params": weights, "weight_decay": wd}, {"params": biases, "weight_decay": 0.0}]


def _loss_module(loss: str, reduction: str):
    return {"squared": nn.MSELoss, "logistic": nn.SoftMarginLoss, "absolute": nn.L1Loss}[loss](reduction=reduction)


def _torch_objective(model, X, y, loss: str, reduction: str, wd: float, decay_biases: bool):
    """J by hand: the loss module's value plus (wd/2)·Σ‖θ‖² over the decayed parameters."""
    F = model(torch.as_tensor(X))
    decayed = [p for g in _groups(model, wd, decay_biases) if g["weight_decay"] > 0 for p in g["params"]]
    return _loss_module(loss, reduction)(F, torch.as_tensor(y)[:, None]) + 0.5 * wd * sum((p ** 2).sum()
                                                                                          for p in decayed)


def _train(model, X, y, optimizer: str, loss: str, reduction: str, decay_biases: bool, steps: int = 200):
    opt_class = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
    opt = opt_class(_groups(model, WD, decay_biases), lr=0.01 if optimizer == "sgd" else 0.02)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)[:, None]
    for _ in range(steps):
        opt.zero_grad()
        _loss_module(loss, reduction)(model(Xt), yt).backward()       # the decay is the optimizer's
        opt.step()
    return model


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_torch_weight_decay_is_the_gradient_of_half_wd_norm_squared(optimizer: str) -> None:
    """One step with weight_decay=wd on L equals one step without it on L + (wd/2)·Σ‖θ‖²."""
    X, y = _data()
    a, b = _model(2), _model(2)
    opt_class = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
    opt_a, opt_b = opt_class(a.parameters(), lr=0.1, weight_decay=WD), opt_class(b.parameters(), lr=0.1)
    for _ in range(3):
        opt_a.zero_grad()
        nn.MSELoss()(a(torch.as_tensor(X)), torch.as_tensor(y)[:, None]).backward()
        opt_a.step()
        opt_b.zero_grad()
        _torch_objective(b, X, y, "squared", "mean", WD, True).backward()
        opt_b.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


CONVENTIONS = [("sgd", "squared", "mean", False), ("adam", "squared", "mean", True), ("adam", "squared", "sum", False),
               ("sgd", "absolute", "mean", True), ("adam", "logistic", "mean", False)]


@pytest.mark.parametrize("optimizer, loss, reduction, decay_biases", CONVENTIONS)
def test_certify_reports_the_objective_torch_minimized(optimizer, loss, reduction, decay_biases) -> None:
    X, y = _data()
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    model = _train(_model(2), X, y, optimizer, loss, reduction, decay_biases)
    J = float(_torch_objective(model, X, y, loss, reduction, WD, decay_biases).detach())
    cert = dn.certify(model, X, y, weight_decay=WD, reduction=reduction, optimizer=optimizer,
                      decay_biases=decay_biases, loss=loss)
    assert cert.user_value == pytest.approx(J, rel=1e-10)
    conv = dn.beta_from_torch(WD, 30, reduction=reduction, optimizer=optimizer, decay_biases=decay_biases, loss=loss)
    assert cert.convention == conv
    net = dn.Network.from_torch(model)
    # In dualnet's units the value is the objective at beta (plus the decayed biases' penalty).
    assert cert.value == pytest.approx(net.objective(X, y, conv.beta, loss) + conv.bias_penalty(net), rel=1e-12)
    assert cert.user_lower_bound <= J * (1 + 1e-9)
    assert cert.user_gap == pytest.approx(J - cert.user_lower_bound, rel=1e-9, abs=1e-12)
    assert "in your units" in str(cert)
    if decay_biases:
        assert "decays the biases" in cert.reason


def test_solve_under_torch_conventions_beats_the_trained_model() -> None:
    X, y = _data()
    model = _train(_model(2), X, y, "adam", "squared", "mean", decay_biases=False)
    J_model = float(_torch_objective(model, X, y, "squared", "mean", WD, False).detach())
    sol = dn.solve(X, y, weight_decay=WD, decay_biases=False, bias=True, init=model)
    assert sol.certified, sol.reason
    J_sol = float(_torch_objective(sol.network.to_torch(), X, y, "squared", "mean", WD, False).detach())
    assert sol.user_value == pytest.approx(J_sol, rel=1e-9)
    assert sol.user_value <= J_model + 1e-12
    assert sol.user_lower_bound <= sol.user_value
    assert sol.beta == pytest.approx(30 * WD / 2)       # MSELoss mean: beta = n·wd/2


def test_path_under_torch_conventions_equals_solve_at_each_weight_decay() -> None:
    X, y = _data()
    wds = [WD, 10 * WD]
    p = dn.path(X, y, weight_decay=wds, decay_biases=False, activation="linear")
    assert p.certified.all()
    for wd, sol in zip(wds, p):
        one = dn.solve(X, y, weight_decay=wd, decay_biases=False, activation="linear")
        assert sol.beta == pytest.approx(one.beta)
        assert sol.user_value == pytest.approx(one.user_value, rel=1e-8)
        assert sol.user_lower_bound <= sol.user_value
    with pytest.raises(InputError, match=r"both 'betas' .*'weight_decay'"):
        dn.path(X, y, [1.0], weight_decay=wds, activation="linear")
    with pytest.raises(InputError, match=r"'reduction' without 'weight_decay'"):
        dn.path(X, y, [1.0], reduction="sum", activation="linear")


def test_beta_from_torch_formulas() -> None:
    # J = (k/N)·P: k = 2 for MSELoss (no ½), N the entries a mean averages.
    assert dn.beta_from_torch(1e-3, 100).beta == pytest.approx(0.05)
    assert dn.beta_from_torch(1e-3, 100, n_outputs=3).beta == pytest.approx(0.15)
    assert dn.beta_from_torch(1e-3, 100, reduction="sum").beta == pytest.approx(5e-4)
    assert dn.beta_from_torch(1e-3, 100, loss="logistic").beta == pytest.approx(0.1)
    assert dn.beta_from_torch(1e-3, 100, loss="cross-entropy", n_outputs=3).beta == pytest.approx(0.1)
    assert dn.beta_from_torch(1e-3, 100).to_user(50.0) == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(weight_decay=WD, optimizer="adamw"), r"'optimizer'.*decoupled"),
    (dict(weight_decay=0.0), r"'weight_decay'.*Got 0"),
    (dict(weight_decay=-1.0), r"'weight_decay'"),
    (dict(weight_decay=WD, reduction="avg"), r"'reduction'.*'mean'"),
    (dict(weight_decay=WD, decay_biases="yes"), r"'decay_biases'"),
    (dict(weight_decay=WD, beta=1.0), r"both 'beta'.*'weight_decay'"),
    (dict(beta=1.0, reduction="mean"), r"'reduction' without 'weight_decay'"),
    (dict(), r"'beta' parameter of certify.*Got None"),
])
def test_conventions_refused_with_a_clear_error(kwargs, pattern) -> None:
    X, y = _data()
    with pytest.raises(InputError, match=pattern):
        dn.certify(_model(2), X, y, **kwargs)


@pytest.mark.parametrize("a, c", [(1e-8, 1e-8), (1e8, 1e8), (1e8, 1e-8), (1e-8, 1e8)])
@pytest.mark.parametrize("kind", ["relu-bias", "linear-deep"])
def test_certify_rescales_internally(kind: str, a: float, c: float) -> None:
    """The same network in other units (X·a, y·c) gets the same verdict and relative gap."""
    X, y = _data()
    kwargs = dict(bias=True) if kind == "relu-bias" else dict(activation="linear", depth=3)
    sol = dn.solve(X, y, beta=0.2, **kwargs)
    assert sol.certified
    # Every layer times s with s^L = c/a, layer l's bias times a·s^l: outputs times c,
    # loss times c², weight decay times s², so beta·c²/s² keeps P(user) = c²·P.
    L = sol.network.depth
    s = (c / a) ** (1 / L)
    net = dn.Network([[(s * W, None if b is None else a * s ** (l + 1) * b) for l, (W, b) in enumerate(br)]
                      for br in sol.network.branches], sol.network.activation)
    cert = dn.certify(net, a * X, c * y, beta=0.2 * c ** 2 / s ** 2)
    assert cert.certified, cert.reason
    assert cert.value == pytest.approx(c ** 2 * sol.value, rel=1e-9)
    assert cert.lower_bound <= cert.value * (1 + 1e-9)
    assert cert.rel_gap == pytest.approx(sol.rel_gap, abs=1e-7)


def test_float32_models_and_biases_in_every_layer() -> None:
    X, y = _data()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Linear(50, 1))        # float32, biases, wide
    cert = dn.certify(model, X, y, beta=0.2)
    ref = dn.certify(dn.Network.from_torch(model.double()), X, y, beta=0.2)
    assert cert.value == ref.value and cert.lower_bound == ref.lower_bound
    assert cert.proven and cert.lower_bound <= cert.value


def test_a_wide_biased_network_on_a_table_returns_within_its_budget() -> None:
    """The issue's case in small: 10 features, width 50, biases everywhere (beyond enumeration)."""
    import time

    X, y = _data(n=80, d=10, seed=3)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 50), nn.ReLU(), nn.Linear(50, 1))
    start = time.perf_counter()
    cert = dn.certify(model, X, y, beta=10.0, time_limit=3.0)
    # The budget is polled between units of work (one many-start search or branch and bound
    # node): a few seconds of slack on a loaded machine.
    assert time.perf_counter() - start < 20.0
    assert np.isfinite(cert.lower_bound) and cert.lower_bound <= cert.value
    assert cert.certified or cert.reason


def test_torch_modules_it_cannot_read_are_refused() -> None:
    X, y = _data()
    with pytest.raises(InputError, match=r"Tanh"):
        dn.certify(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)), X, y, beta=1.0)
    with pytest.raises(InputError, match=r"nn.Sequential"):
        dn.certify(nn.Linear(2, 1), X, y, beta=1.0)
    with pytest.raises(InputError, match=r"complex"):
        dn.certify(nn.Sequential(nn.Linear(2, 4, dtype=torch.complex64), nn.ReLU(),
                                 nn.Linear(4, 1, dtype=torch.complex64)), X, y, beta=1.0)
    with pytest.raises(InputError, match=r"device meta"):
        dn.certify(nn.Sequential(nn.Linear(2, 4, device="meta"), nn.ReLU(), nn.Linear(4, 1, device="meta")), X, y,
                   beta=1.0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_any_real_dtype_is_read_as_float64(dtype: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)).to(getattr(torch, dtype))
    net = dn.Network.from_torch(model)
    assert net.branches[0][0][0].dtype == np.float64
    np.testing.assert_array_equal(net.branches[0][0][0], model[0].weight.detach().double().numpy().T)


def test_warm_start_on_a_table_is_no_worse_than_the_model_and_proves_its_gap() -> None:
    """solve(init=model) beyond enumeration, in a short budget: at least as good as the model."""
    X, y = _data(n=80, d=10, seed=3)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = _train(_model(10, width=20), X, y, "adam", "squared", "sum", decay_biases=False, steps=100)
    J = float(_torch_objective(model, X, y, "squared", "sum", WD, False).detach())
    sol = dn.solve(X, y, weight_decay=WD, reduction="sum", decay_biases=False, bias=True, init=model,
                   time_limit=4.0)
    assert sol.user_value <= J * (1 + 1e-12)
    assert np.isfinite(sol.lower_bound) and sol.lower_bound <= sol.value
    assert sol.certified or sol.reason


def test_a_budget_too_short_for_the_solver_returns_the_init_network() -> None:
    X, y = _data(n=80, d=10, seed=3)
    good = dn.solve(X, y, beta=1.0, bias=True, time_limit=6.0).network      # better than the first master
    sol = dn.solve(X, y, beta=1.0, bias=True, init=good, time_limit=0.05)
    assert sol.value <= good.objective(X, y, 1.0) * (1 + 1e-12)
    assert sol.lower_bound <= sol.value
