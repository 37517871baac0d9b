"""Network: forward pass, penalty, objective, merges, rescalings and storage.

Transformations are checked by the invariants they must keep (the function computed, the
penalty), never by comparing raw weight matrices.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from dualnet.errors import InputError
from dualnet.losses import LOSSES
from dualnet.network import Network


def random_network(seed: int, depth: int, n_branches: int, activation: str = "relu", bias: bool = False,
                   d: int = 3, K: int = 2, width: int = 4) -> Network:
    rng = np.random.default_rng(seed)
    dims = [d] + [width] * (depth - 1) + [K]
    branches = [[(rng.standard_normal((dims[l], dims[l + 1])), rng.standard_normal(dims[l + 1]) if bias else None)
                 for l in range(depth)] for _ in range(n_branches)]
    return Network(branches, activation)


ARCHS = [(depth, n_branches, activation, bias) for depth in (2, 3, 4) for n_branches in (1, 3)
         for activation in ("relu", "linear") for bias in (False, True)]
ARCH_IDS = [f"L{a[0]}-m{a[1]}-{a[2]}{'-bias' if a[3] else ''}" for a in ARCHS]


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(99).standard_normal((7, 3))


# ------------------------------------------------------------------ forward, penalty
def test_forward_by_hand() -> None:
    W1 = np.array([[1.0, -1.0], [2.0, 0.5]])
    W2 = np.array([[1.0], [3.0]])
    x = np.array([[1.0, 1.0], [-1.0, 0.0]])
    relu = Network.from_weights([W1, W2], activation="relu")
    lin = Network.from_weights([W1, W2], activation="linear")
    # pre-activations: [[3, -0.5], [-1, 1]] -> relu [[3, 0], [0, 1]] -> [3, 3]; linear -> [1.5, 2]
    np.testing.assert_array_equal(relu.forward(x), [[3.0], [3.0]])
    np.testing.assert_array_equal(lin.forward(x), [[1.5], [2.0]])
    np.testing.assert_array_equal(relu(x), relu.forward(x))
    np.testing.assert_array_equal(relu.hidden(x), [[3.0, 0.0], [0.0, 1.0]])


def test_forward_with_biases_by_hand() -> None:
    net = Network.from_weights([(np.array([[1.0]]), np.array([-1.0])), (np.array([[2.0]]), np.array([0.5]))])
    np.testing.assert_array_equal(net.forward(np.array([[0.0], [3.0]])), [[0.5], [4.5]])


@pytest.mark.parametrize("arch", ARCHS, ids=ARCH_IDS)
def test_forward_is_the_sum_of_branches(arch, X) -> None:
    net = random_network(0, *arch)
    parts = sum(Network([br], net.activation).forward(X) for br in net.branches)
    np.testing.assert_allclose(net.forward(X), parts, rtol=1e-12, atol=1e-12)


def test_penalty_and_t_form_by_hand() -> None:
    W = [np.full((2, 1), 1.0), np.full((1, 1), 2.0), np.full((1, 1), 3.0)]
    net = Network.from_weights([(W[0], np.ones(1)), (W[1], None), (W[2], np.ones(1))])
    assert net.penalty(beta=2.0) == pytest.approx(2.0 + 4.0 + 9.0)       # (β/2)Σ‖W‖², biases free
    assert net.penalty(beta=2.0, t=5.0) == pytest.approx(4.0 + 9.0)       # t-form: last two layers only
    np.testing.assert_allclose(net.layer_norms(), [[np.sqrt(2.0), 2.0, 3.0]])
    assert net.t_violation(1.0) == pytest.approx(np.sqrt(2.0) - 1.0)
    two = Network.from_weights([W[0], W[1]])
    assert two.penalty(1.0, t=0.1) == two.penalty(1.0)                   # t is irrelevant at depth 2
    assert two.t_violation(0.1) == -np.inf


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_objective_is_loss_plus_penalty(loss: str, X) -> None:
    net = random_network(1, 3, 2, K=3)
    rng = np.random.default_rng(1)
    Y = {"hinge": np.sign(rng.standard_normal((7, 3))), "logistic": np.sign(rng.standard_normal((7, 3))),
         "cross-entropy": np.eye(3)[rng.integers(0, 3, 7)]}.get(loss, rng.standard_normal((7, 3)))
    expected = LOSSES[loss].value(net.forward(X), Y) + net.penalty(0.7)
    assert net.objective(X, Y, beta=0.7, loss=loss) == pytest.approx(expected, rel=1e-14)


def test_t_form_objective(X) -> None:
    net = random_network(2, 4, 2, K=1)
    y = np.random.default_rng(2).standard_normal(7)
    t = float(net.layer_norms()[:, :2].max())
    value = LOSSES["squared"].value(net.forward(X), y[:, None]) + 0.5 * 0.3 * np.sum(net.layer_norms()[:, 2:] ** 2)
    assert net.objective(X, y, beta=0.3, t=t) == pytest.approx(value, rel=1e-14)
    with pytest.raises(InputError, match=r"violates the t-form constraint \|\|W_l\|\|_F <= t=.*Pass t=None"):
        net.objective(X, y, beta=0.3, t=0.9 * t)


# ------------------------------------------------------------------- transformations
@pytest.mark.parametrize("arch", ARCHS, ids=ARCH_IDS)
def test_to_mlp_same_function_and_penalty(arch, X) -> None:
    net = random_network(3, *arch)
    mlp = net.to_mlp()
    assert mlp.n_branches == 1 and mlp.depth == net.depth
    np.testing.assert_allclose(mlp.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)
    assert mlp.penalty(0.4) == pytest.approx(net.penalty(0.4), rel=1e-13)
    if net.depth >= 3:
        assert mlp.penalty(0.4, t=1.0) == pytest.approx(net.penalty(0.4, t=1.0), rel=1e-13)


@pytest.mark.parametrize("arch", ARCHS, ids=ARCH_IDS)
def test_balanced_same_function_lower_penalty_equal_norms(arch, X) -> None:
    net = random_network(4, *arch)
    # Unbalance the first branch so balancing has something to do.
    net.branches[0][0] = (5.0 * net.branches[0][0][0], None if net.branches[0][0][1] is None
                          else 5.0 * net.branches[0][0][1])
    bal = net.balanced()
    np.testing.assert_allclose(bal.forward(X), net.forward(X), rtol=1e-11, atol=1e-11)
    assert bal.penalty(1.0) <= net.penalty(1.0) * (1 + 1e-14)
    assert bal.penalty(1.0) < net.penalty(1.0)               # strictly: branch 0 was unbalanced
    norms = bal.layer_norms()
    np.testing.assert_allclose(norms, norms[:, :1] * np.ones_like(norms), rtol=1e-12)
    # AM-GM: the balanced penalty is L·(Π‖W_l‖)^{2/L}/2 per branch.
    prod = np.prod(net.layer_norms(), axis=1)
    assert bal.penalty(1.0) == pytest.approx(0.5 * net.depth * np.sum(prod ** (2 / net.depth)), rel=1e-12)


def test_balanced_leaves_a_dead_branch_alone(X) -> None:
    net = random_network(5, 3, 2)
    net.branches[1][1] = (np.zeros_like(net.branches[1][1][0]), None)
    bal = net.balanced()
    np.testing.assert_allclose(bal.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(bal.layer_norms()[1], net.layer_norms()[1])


def test_pruned_drops_dead_branches(X) -> None:
    net = random_network(6, 3, 3)
    net.branches[1][-1] = (np.zeros_like(net.branches[1][-1][0]), None)
    pr = net.pruned()
    assert pr.n_branches == 2
    np.testing.assert_allclose(pr.forward(X), net.forward(X), rtol=1e-12, atol=1e-12)
    dead = Network([[(np.ones((3, 1)), None), (np.zeros((1, 2)), None)]])
    assert dead.pruned().n_branches == 1                     # keeps one branch


def test_copy_is_independent(X) -> None:
    net = random_network(7, 2, 2)
    dup = net.copy()
    dup.branches[0][0][0][:] = 0.0
    assert not np.allclose(dup.forward(X), net.forward(X))
    assert "Network(depth=2, branches=2, n_features=3, n_outputs=2" in repr(net)


# ------------------------------------------------------------------------- storage
@pytest.mark.parametrize("arch", ARCHS[::3], ids=ARCH_IDS[::3])
def test_save_load_round_trip(arch, X, tmp_path) -> None:
    net = random_network(8, *arch)
    path = net.save(tmp_path / "net")
    assert path.name == "net.npz" and path.exists()
    back = Network.load(path)
    assert (back.activation, back.depth, back.n_branches) == (net.activation, net.depth, net.n_branches)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))          # bitwise: no rounding in npz
    assert back.penalty(0.5) == net.penalty(0.5)
    assert [[b is None for _, b in br] for br in back.branches] == [[b is None for _, b in br] for br in net.branches]


def test_save_is_atomic(tmp_path, monkeypatch) -> None:
    """A crash while writing leaves the previous file intact and no temporary file behind."""
    old, new = random_network(9, 2, 1), random_network(10, 2, 1)
    path = old.save(tmp_path / "model.npz")
    before = path.read_bytes()

    def crash(fh, **arrays):
        fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_load_errors(tmp_path) -> None:
    with pytest.raises(InputError, match=r"Could not read a dualnet network from '.*missing\.npz'"):
        Network.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.ones(2))
    with pytest.raises(InputError, match=r"is not a network saved by dualnet\.Network\.save"):
        Network.load(tmp_path / "other.npz")


# -------------------------------------------------------------------------- errors
def test_construction_errors() -> None:
    W = np.ones((2, 2))
    with pytest.raises(InputError, match=r"'activation' parameter of Network must be one of.*Got 'tanh'"):
        Network([[W, W]], "tanh")
    with pytest.raises(InputError, match=r"'branches' parameter of Network must hold at least one branch"):
        Network([])
    with pytest.raises(InputError, match=r"same number of layers. Got \[1, 2\]"):
        Network([[W], [W, W]])
    with pytest.raises(InputError, match=r"Layer 1 of branch 0 takes 3 inputs but layer 0 gives 2 outputs"):
        Network([[W, np.ones((3, 1))]])
    with pytest.raises(InputError, match=r"Layer 0 of branch 0: b must have shape \(2,\).*Got shape \(3,\)"):
        Network([[(W, np.ones(3)), W]])
    with pytest.raises(InputError, match=r"Layer 0 of branch 0 holds NaN or inf"):
        Network([[np.array([[np.nan, 1.0]]), W]])
    with pytest.raises(InputError, match=r"same n_features to the same n_outputs"):
        Network([[W, W], [np.ones((3, 2)), W]])


def test_forward_input_errors() -> None:
    net = random_network(11, 2, 1)
    with pytest.raises(InputError, match=r"'X' parameter of Network.forward must have n_features=3.*Got 2 columns"):
        net.forward(np.ones((4, 2)))
    with pytest.raises(InputError, match=r"'X' parameter of Network.forward must be finite.*Got 1 non-finite"):
        net.forward(np.array([[1.0, np.inf, 0.0]]))


def test_training_starts_from_a_network_with_some_biases_missing() -> None:
    # A start whose layers mix biases and none (a recovered spline network, say) trains with a
    # bias in every layer: zeros where there were none, so the start's function is kept.
    from dualnet.train import train

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 2)), rng.standard_normal(20)
    start = Network([[(rng.standard_normal((2, 3)), rng.standard_normal(3)), (rng.standard_normal((3, 1)), None)]],
                    "relu")
    before = start.objective(X, y, 0.1)
    net = train(X, y, beta=0.1, init=start, max_iter=200)
    assert all(b is not None for _, b in net.branches[0])
    assert net.objective(X, y, 0.1) <= before
