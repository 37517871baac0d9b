"""Every public entry point fed its bad values: a dualnet error naming the parameter, inputs untouched.

One table per surface (Python functions and options, torch modules, the command line). A
row is a class of bad input found by a hostile sweep (or its neighbour); the assertion is
the same for all: a :class:`~dualnet.errors.DualnetError` whose message names the
parameter, and arrays passed in are unchanged. For the command line: exit code 2, one line
on stderr, no traceback, and the input files byte for byte unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dualnet as dn
from dualnet.cli import main
from dualnet.errors import DualnetError

RNG = np.random.default_rng(0)
X = RNG.standard_normal((8, 3))
Y = RNG.standard_normal(8)
NET = dn.Network.from_weights([RNG.standard_normal((3, 4)), RNG.standard_normal((4, 1))])
LIN = {"beta": 1.0, "activation": "linear"}
RELU = {"beta": 1.0}


def masked(A: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.masked_array(A, mask=np.zeros_like(A, dtype=bool) | (np.arange(A.size).reshape(A.shape) == 1))


# (id, call taking (X, y) copies, parameter the message must name)
CASES: list[tuple[str, Callable[[np.ndarray, np.ndarray], Any], str]] = [
    # silent changes of the problem
    ("X-complex", lambda X, y: dn.solve(X + 1j, y, **LIN), "X"),
    ("X-complex-zero-imag", lambda X, y: dn.solve(X + 0j, y, **LIN), "X"),
    ("y-complex", lambda X, y: dn.solve(X, y + 1j, **LIN), "y"),
    ("y-complex-list", lambda X, y: dn.solve(X, [1j] * 8, **LIN), "y"),
    ("X-masked", lambda X, y: dn.solve(masked(X), y, **LIN), "X"),
    ("y-masked", lambda X, y: dn.solve(X, masked(y), **LIN), "y"),
    ("certify-dual-complex", lambda X, y: dn.certify(NET, X, y, beta=1.0, dual=y + 1j), "dual"),
    ("certify-bias-not-the-networks", lambda X, y: dn.certify(NET, X, y, beta=1.0, bias=True), "bias"),
    ("path-X-complex", lambda X, y: dn.path(X + 1j, y, [1.0], activation="linear"), "X"),
    ("whiten-complex", lambda X, y: dn.whiten(X.T + 1j), "X"),
    ("weights-complex", lambda X, y: dn.Network.from_weights([np.ones((3, 2)) + 1j, np.ones((2, 1))]), "W"),
    ("weights-text", lambda X, y: dn.Network.from_weights(["a"]), "W"),
    # options of the two-layer setting (validated before any setting runs)
    ("max_iter-0", lambda X, y: dn.solve(X, y, **RELU, max_iter=0), "max_iter"),
    ("max_iter-float", lambda X, y: dn.solve(X, y, **RELU, max_iter=2.5), "max_iter"),
    ("seed-str", lambda X, y: dn.solve(X, y, **RELU, seed="a"), "seed"),
    ("seed-negative", lambda X, y: dn.solve(X, y, **RELU, seed=-1), "seed"),
    ("max_patterns-str", lambda X, y: dn.solve(X, y, **RELU, max_patterns="many"), "max_patterns"),
    ("max_patterns-0", lambda X, y: dn.solve(X, y, **RELU, max_patterns=0), "max_patterns"),
    ("n_patterns-negative", lambda X, y: dn.solve(X, y, **RELU, n_patterns=-3), "n_patterns"),
    ("patterns-0", lambda X, y: dn.solve(X, y, **RELU, patterns=0), "patterns"),
    ("patterns-typo", lambda X, y: dn.solve(X, y, **RELU, patterns="exakt"), "patterns"),
    ("patterns-float", lambda X, y: dn.solve(X, y, **RELU, patterns=1.5), "patterns"),
    ("executor-str", lambda X, y: dn.solve(X, y, **RELU, executor="x"), "executor"),
    ("top-0", lambda X, y: dn.solve(X, y, **RELU, top=0), "top"),
    ("top-str", lambda X, y: dn.solve(X, y, **RELU, top="5"), "top"),
    ("eps-negative", lambda X, y: dn.solve(X, y, **RELU, eps=-1e-7), "eps"),
    ("eps-str", lambda X, y: dn.solve(X, y, **RELU, eps="small"), "eps"),
    ("progress-str", lambda X, y: dn.solve(X, y, **RELU, progress="yes"), "progress"),
    ("progress-int", lambda X, y: dn.solve(X, y, **RELU, progress=2), "progress"),
    ("train_iter-0", lambda X, y: dn.solve(X, y, **RELU, train_iter=0), "train_iter"),
    ("train_iter-str", lambda X, y: dn.solve(X, y, **RELU, train_iter="300"), "train_iter"),
    ("n_starts-0", lambda X, y: dn.solve(X, y, **RELU, n_starts=0), "n_starts"),
    ("path-max_iter-0", lambda X, y: dn.path(X, y, [1.0], max_iter=0), "max_iter"),
    ("dual_program-seed", lambda X, y: dn.dual_program(X, y, beta=1.0, seed=1.5), "seed"),
    # options of the other settings
    ("whiten_tol-None", lambda X, y: dn.solve(X, y, **LIN, whiten_tol=None), "whiten_tol"),
    ("whiten_tol-negative", lambda X, y: dn.solve(X, y, **LIN, whiten_tol=-1.0), "whiten_tol"),
    ("rank_one_tol-list", lambda X, y: dn.solve(X, y, **LIN, rank_one_tol=[1]), "rank_one_tol"),
    ("rank_one_tol-one", lambda X, y: dn.solve(X, y, **LIN, rank_one_tol=1.0), "rank_one_tol"),
    ("bn_scale-typo", lambda X, y: dn.solve(X, y, **LIN, batchnorm=True, bn_scale="sdt"), "bn_scale"),
    # other public parameters
    ("time_limit-str", lambda X, y: dn.solve(X, y, **LIN, time_limit="a"), "time_limit"),
    ("time_limit-zero", lambda X, y: dn.solve(X, y, **LIN, time_limit=0), "time_limit"),
    ("betas-2d", lambda X, y: dn.path(X, y, [[1.0, 2.0], [3.0, 4.0]], activation="linear"), "betas"),
    ("betas-None", lambda X, y: dn.path(X, y, None, activation="linear"), "betas"),
    ("betas-complex", lambda X, y: dn.path(X, y, [1j], activation="linear"), "betas"),
    ("save-missing-folder", lambda X, y: NET.save("/nonexistent-folder/net.npz"), "path"),
    ("interpolant-x-str", lambda X, y: dn.min_norm_interpolant("x", y), "x"),
    ("interpolant-x-names", lambda X, y: dn.min_norm_interpolant(["a", "b"], [1.0, 2.0]), "x"),
]


@pytest.mark.parametrize("call, param", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_is_a_dualnet_error_naming_the_parameter(call, param: str) -> None:
    Xc, yc = X.copy(), Y.copy()
    with pytest.raises(DualnetError, match=rf"'{param}'"):
        call(Xc, yc)
    np.testing.assert_array_equal(Xc, X)
    np.testing.assert_array_equal(yc, Y)


def test_torch_tensors_requiring_grad_are_detached_and_unchanged() -> None:
    torch = pytest.importorskip("torch")
    Xt, yt = torch.tensor(X, requires_grad=True), torch.tensor(Y, requires_grad=True)
    sol = dn.solve(Xt, yt, **LIN)
    assert sol.certified and sol.value == pytest.approx(dn.solve(X, Y, **LIN).value, rel=1e-12)
    assert Xt.requires_grad and Xt.grad is None and np.array_equal(Xt.detach().numpy(), X)


# ------------------------------------------------------------------ torch modules
def _torch_cases() -> list[tuple[str, Any, str]]:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class DoubledLinear(nn.Linear):
        def forward(self, x):                   # not what the weights say
            return 2 * super().forward(x)

    class ShiftedSequential(nn.Sequential):
        def forward(self, x):
            return super().forward(x) + 1

    hooked = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    hooked[0].register_forward_hook(lambda module, inputs, output: 3 * output)
    return [
        ("subclass-forward", nn.Sequential(DoubledLinear(3, 4), nn.ReLU(), nn.Linear(4, 1)), "own forward"),
        ("sequential-forward", ShiftedSequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), "own forward"),
        ("tanh", nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)), "Tanh"),
        ("dropout", nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(), nn.Linear(4, 1)), "Dropout"),
        ("hook", hooked, "hooks"),
    ]


def test_torch_modules_that_are_not_plain_linear_relu_are_refused() -> None:
    for _name, module, words in _torch_cases():
        with pytest.raises(dn.InputError, match=words):
            dn.certify(module, X, Y, beta=1.0)


# ------------------------------------------------------------------- the command line
def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    np.savez(tmp_path / "d.npz", X=X, y=Y)
    np.save(tmp_path / "d.npy", np.column_stack([X, Y]))
    (tmp_path / "fake.npz").write_bytes((tmp_path / "d.npy").read_bytes())      # an .npy renamed .npz
    (tmp_path / "fake.npy").write_bytes((tmp_path / "d.npz").read_bytes())      # an .npz renamed .npy
    (tmp_path / "cut.npz").write_bytes((tmp_path / "d.npz").read_bytes()[:200])  # a truncated archive
    rows = ["a,b,c,y"] + [",".join(f"{v:.6f}" for v in (*x, t)) for x, t in zip(X, Y)]
    (tmp_path / "na.csv").write_text("\n".join(rows[:3] + [rows[3].rsplit(",", 1)[0] + ",NA"] + rows[4:]) + "\n")
    (tmp_path / "empty.csv").write_text("\n".join(rows[:5] + [rows[5].rsplit(",", 1)[0] + ","] + rows[6:]) + "\n")
    NET.save(tmp_path / "net.npz")
    np.savez(tmp_path / "notnet.npz", format=np.array("dualnet.Network/1"), activation=np.array("relu"))
    torch = pytest.importorskip("torch")
    torch.save(NET.to_torch().state_dict(), tmp_path / "net.pt")
    return tmp_path


CLI_CASES = [
    ("missing-label-NA", ["solve", "na.csv", "--beta", "1"], "missing on line 4"),
    ("missing-label-empty", ["solve", "empty.csv", "--beta", "1"], "missing on line 6"),
    ("output-is-input", ["solve", "d.npz", "--beta", "1", "--output", "d.npz"], "overwrite the input"),
    ("output-suffix-is-input", ["solve", "d.npz", "--beta", "1", "--output", "d"], "overwrite the input"),
    ("json-out-is-input", ["solve", "d.npz", "--beta", "1", "--json-out", "d.npz"], "overwrite the input"),
    ("outputs-collide", ["solve", "d.npz", "--beta", "1", "--output", "o.npz", "--json-out", "o.npz"],
     "overwrite the other output"),
    ("plot-is-input", ["path", "d.npz", "--betas", "1", "--plot", "d.npz"], "overwrite the input"),
    ("certify-json-is-net", ["certify", "net.npz", "d.npz", "--beta", "1", "--json-out", "net.npz"],
     "overwrite the input"),
    ("output-folder-missing", ["solve", "d.npz", "--beta", "1", "--output", "no/such/net.npz"], "existing folder"),
    ("output-is-folder", ["solve", "d.npz", "--beta", "1", "--json-out", "."], "is a folder"),
    ("betas-huge-count", ["path", "d.npz", "--betas", "1:10:100000000000"], "NUM must be in"),
    ("betas-float-count", ["path", "d.npz", "--betas", "1:10:1e11"], "'--betas' option"),
    ("npy-named-npz", ["solve", "fake.npz", "--beta", "1"], "Rename it to .npy"),
    ("npz-named-npy", ["solve", "fake.npy", "--beta", "1"], "Rename it to .npz"),
    ("truncated-data", ["solve", "cut.npz", "--beta", "1"], "Cannot read the DATA file"),
    ("truncated-net", ["certify", "cut.npz", "d.npz", "--beta", "1"], "Could not read a dualnet network"),
    ("npy-net", ["certify", "fake.npz", "d.npz", "--beta", "1"], "not a network saved by"),
    ("incomplete-net", ["certify", "notnet.npz", "d.npz", "--beta", "1"], "damaged or incomplete"),
    ("state-dict-without-activation", ["certify", "net.pt", "d.npz", "--beta", "1"], "--activation relu"),
    ("state-dict-activation-typo", ["certify", "net.pt", "d.npz", "--beta", "1", "--activation", "tanh"],
     "'--activation'"),
    ("option-tol", ["solve", "d.npz", "--beta", "1", "--tol", "2"], "'tol'"),
    ("activation-for-npz-net", ["certify", "net.npz", "d.npz", "--beta", "1", "--activation", "linear"],
     "Drop --activation"),
]


@pytest.mark.parametrize("args, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_exits_2_and_leaves_inputs_untouched(files: Path, capsys, monkeypatch, args, message) -> None:
    monkeypatch.chdir(files)
    before = _digest(files)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dualnet: error: ") and message in err[0], err
    assert _digest(files) == before                      # nothing written, nothing overwritten
    assert not list(files.glob(".*.tmp"))


def test_cli_symlinked_output_is_followed_not_replaced(files: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(files)
    Path("real.json").write_text("{}")
    Path("link.json").symlink_to("real.json")
    assert main(["solve", "d.npz", "--beta", "1", "--activation", "linear", "--json-out", "link.json"]) == 0
    assert Path("link.json").is_symlink() and '"schema"' in Path("real.json").read_text()


# ------------------------------------------------------------------ objects
@pytest.mark.parametrize("kwargs", [dict(LIN), dict(LIN, method="cvxpy"), dict(RELU), dict(RELU, method="cvxpy"),
                                    dict(LIN, loss="hinge")], ids=["fast", "linear-cvxpy", "relu", "relu-cvxpy",
                                                                   "hinge"])
def test_solutions_pickle_and_deep_copy(kwargs) -> None:
    y = np.sign(Y) if kwargs.get("loss") == "hinge" else Y
    sol = dn.solve(X, y, **kwargs)
    for clone in (pickle.loads(pickle.dumps(sol)), copy.deepcopy(sol)):
        assert clone.program is None                     # left out: CVXPY programs hold solver objects
        assert (clone.value, clone.lower_bound, clone.certified) == (sol.value, sol.lower_bound, sol.certified)
        np.testing.assert_array_equal(clone.predict(X), sol.predict(X))
        np.testing.assert_array_equal(clone.dual, sol.dual)
    assert copy.copy(sol).program is sol.program


# ------------------------------------------------------------- degenerate labels
@pytest.mark.parametrize("kwargs", [dict(RELU), dict(RELU, method="cvxpy"), dict(LIN), dict(LIN, depth=3),
                                    dict(RELU, loss="absolute")], ids=["relu", "relu-cvxpy", "linear", "deep",
                                                                       "absolute"])
def test_zero_labels_give_the_zero_network_certified(kwargs) -> None:
    sol = dn.solve(X, np.zeros(8), **kwargs)
    assert sol.certified and sol.value == 0.0 and sol.lower_bound == 0.0 and sol.reason == ""
    np.testing.assert_array_equal(sol.predict(X), np.zeros(8))


def test_constant_labels_with_biases_give_the_bias_only_network() -> None:
    x = np.linspace(-1.0, 1.0, 7)[:, None]
    sol = dn.solve(x, np.full(7, 2.5), beta=0.1, bias=True)
    assert sol.certified and sol.value == 0.0
    np.testing.assert_array_equal(sol.predict(x), np.full(7, 2.5))


def test_certify_with_zero_labels_says_why() -> None:
    cert = dn.certify(NET, X, np.zeros(8), beta=1.0)
    assert not cert.certified and "zero network is optimal" in cert.reason


def test_pattern_arrays_are_checked_against_the_data() -> None:
    D = X @ RNG.standard_normal((3, 5)) > 0
    assert dn.solve(X, Y, beta=1.0, method="cvxpy", patterns=D).value > 0      # a valid array is accepted
    for bad in (D[:5], D.astype(float) * 2, D[:, :0], D[:, 0]):
        with pytest.raises(dn.InputError, match=r"'patterns'"):
            dn.solve(X, Y, beta=1.0, method="cvxpy", patterns=bad)
