"""The ``dualnet`` command line.

Subprocess runs for the real entry point (exit codes, one-line errors, JSON on stdout), and
in-process ``main`` for the many input messages (fast).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dualnet as dn
from dualnet.cli import JSON_SCHEMA, main, read_data
from dualnet.datasets import IRIS_CLASSES, IRIS_CSV, load_iris
from dualnet.train import train

RESULT_KEYS = {"certified": bool, "exact": bool, "value": float, "lower_bound": float, "gap": float,
               "rel_gap": float, "setting": str, "reason": str}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dualnet", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def check_types(doc: dict, keys: dict) -> None:
    for key, kind in keys.items():
        assert isinstance(doc[key], kind), (key, doc[key])


@pytest.fixture
def regression(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A CSV without header: 30 samples, 4 features, label in the last column."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(30)
    path = tmp_path / "reg.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",")
    return path, X, y


# ------------------------------------------------------------------------- subprocess
def test_demo_prints_one_certified_row_per_setting_and_the_iris_row(tmp_path: Path) -> None:
    proc = run("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith(tuple(dn.api.SETTINGS))]
    assert {r[0] for r in rows} == set(dn.api.SETTINGS)
    iris = [r for r in rows if "iris" in r]
    assert len(iris) == 1 and iris[0][0] == "linear" and iris[0][-2] == "yes"
    # The real regression table with ReLU networks: certified on two features; on all ten the
    # proven lower bound is below the value (a loose proof, in 10 s plus one unit of work).
    diabetes = {r[1]: r for r in rows if r[1].startswith("diabetes")}
    assert diabetes["diabetes:2"][-2] == "yes"
    value, lower, rel_gap = map(float, diabetes["diabetes:10"][3:6])
    assert 0 < lower <= value and rel_gap > 0 and float(diabetes["diabetes:10"][-1].rstrip("s")) < 30


def test_solve_then_certify_round_trip_with_json(tmp_path: Path) -> None:
    """Iris (class names in the last column) with cross-entropy: the saved network certifies again."""
    proc = run("solve", IRIS_CSV, "--beta", "1", "--activation", "linear", "--loss", "cross-entropy",
               "--output", "net.npz", "--json", "--json-out", "solve.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc == json.loads((tmp_path / "solve.json").read_text())
    assert (doc["schema"], doc["command"], doc["dualnet_version"]) == (JSON_SCHEMA, "solve", dn.__version__)
    assert doc["data"] == {"path": str(IRIS_CSV), "n_samples": 150, "n_features": 4, "n_outputs": 3,
                           "classes": list(IRIS_CLASSES)}
    check_types(doc["result"], {**RESULT_KEYS, "method": str, "reference": str, "time": float,
                                "train_accuracy": float})
    assert doc["result"]["certified"] and doc["result"]["setting"] == "linear"
    assert doc["network"]["path"] == "net.npz" and doc["network"]["activation"] == "linear"
    assert doc["problem"] == {"depth": 2, "beta": 1.0, "t": None, "activation": "linear", "loss": "cross-entropy",
                              "bias": False, "batchnorm": False, "tol": 1e-6}
    # The same optimum from the library (an independent run, not the CLI's numbers).
    X, Y = load_iris(one_hot=True)
    sol = dn.solve(X, Y, beta=1.0, activation="linear", loss="cross-entropy")
    np.testing.assert_allclose(doc["result"]["value"], sol.value, rtol=1e-7)
    assert doc["result"]["train_accuracy"] == np.mean(sol.predict(X).argmax(1) == Y.argmax(1))

    proc = run("certify", "net.npz", IRIS_CSV, "--beta", "1", "--loss", "cross-entropy", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cert = json.loads(proc.stdout)
    check_types(cert["result"], {**RESULT_KEYS, "p0": float})
    # The certificate of the saved network uses only its own predictions, so its bound is a
    # little weaker than the solver's dual; the value is the same forward pass.
    assert cert["result"]["value"] == pytest.approx(doc["result"]["value"], rel=1e-12)
    assert cert["result"]["lower_bound"] <= cert["result"]["value"] * (1 + 1e-9)
    assert cert["result"]["rel_gap"] < 1e-5


@pytest.mark.parametrize("args, code, message", [
    (["solve", "missing.csv", "--beta", "1"], 2, "Cannot read the DATA file 'missing.csv'"),
    (["solve", "reg.csv", "--beta", "-1"], 2, "The 'beta' parameter of solve must be a positive finite float"),
    (["solve", "reg.csv"], 2, "the following arguments are required: --beta"),
    (["solve", "reg.csv", "--beta", "1", "--activation", "linear", "--method", "cvxpy", "--solver", "MOSEK"], 1,
     "'MOSEK', which is not installed"),
])
def test_exit_codes_and_one_line_messages(tmp_path: Path, regression, args, code, message) -> None:
    proc = run(*args, cwd=regression[0].parent)
    assert proc.returncode == code
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_help_of_every_command(tmp_path: Path) -> None:
    for command in ("demo", "solve", "certify", "path"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0 and all(c in proc.stdout for c in ("demo", "solve", "certify", "path"))


# --------------------------------------------------------------------------- in process
def test_solve_regression_csv_text_output(regression, capsys) -> None:
    path, X, y = regression
    assert main(["solve", str(path), "--beta", "0.5", "--depth", "3", "--activation", "linear"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"data: {path}, 30 samples, 4 features, 1 output(s)\n")
    sol = dn.solve(X, y, beta=0.5, depth=3, activation="linear")
    assert "dualnet solution (certified)" in out and f"{sol.value:.10g}" in out


def test_csv_header_named_label_column_and_npy_npz_agree(tmp_path: Path, regression) -> None:
    path, X, y = regression
    named = tmp_path / "named.csv"
    table = np.column_stack([y, X])       # label first this time
    np.savetxt(named, table, delimiter=",", header="target,a,b,c,d", comments="")
    np.save(tmp_path / "t.npy", table)
    np.savez(tmp_path / "t.npz", X=X, y=y)
    for file, labels in ((named, "target"), (named, "0"), (tmp_path / "t.npy", "0"), (tmp_path / "t.npz", None)):
        Xr, Yr, classes = read_data(str(file), labels, "squared")
        np.testing.assert_allclose(Xr, X, rtol=1e-15)
        np.testing.assert_allclose(Yr, y, rtol=1e-15)
        assert classes is None


def test_class_labels_are_encoded_for_each_loss() -> None:
    X, Y, classes = read_data(str(IRIS_CSV), None, "hinge")
    assert classes.tolist() == list(IRIS_CLASSES) and X.shape == (150, 4)
    np.testing.assert_array_equal(Y, 2 * load_iris(one_hot=True)[1] - 1)      # one-vs-rest ±1
    _, Y, _ = read_data(str(IRIS_CSV), "species", "squared")                  # names: one-hot
    np.testing.assert_array_equal(Y, load_iris(one_hot=True)[1])


def test_path_prints_a_row_per_beta_and_plots(tmp_path: Path, regression, capsys) -> None:
    pytest.importorskip("matplotlib")
    path, X, y = regression
    plot = tmp_path / "path.png"
    assert main(["path", str(path), "--betas", "0.1:10:3", "30", "--activation", "linear", "--plot", str(plot),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["problem"]["betas"] == pytest.approx([0.1, 1.0, 10.0, 30.0])
    assert [p["certified"] for p in doc["points"]] == [True] * 4
    reference = dn.path(X, y, [0.1, 1.0, 10.0, 30.0], activation="linear")
    np.testing.assert_allclose([p["value"] for p in doc["points"]], reference.values, rtol=1e-9)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and doc["plot"] == str(plot)
    assert list(tmp_path.glob("*.tmp")) == []          # the atomic write left no temporary file


def test_certify_a_pytorch_state_dict(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((12, 2)), rng.standard_normal(12)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    net = train(X, y, beta=0.3, depth=2, width=8, seed=0)
    torch.save(net.to_torch().state_dict(), tmp_path / "n.pt")
    args = ["certify", str(tmp_path / "n.pt"), str(tmp_path / "d.npz"), "--beta", "0.3", "--json-out",
            str(tmp_path / "c.json")]
    assert main(args) == 2                   # the state_dict cannot say that index 1 is a ReLU (not a Tanh)
    args += ["--activation", "relu"]
    assert main(args) == 0
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["network"]["activation"] == "relu" and doc["network"]["depth"] == 2
    expected = dn.certify(net, X, y, beta=0.3)
    assert doc["result"]["value"] == pytest.approx(expected.value, rel=1e-12)
    assert doc["result"]["lower_bound"] == pytest.approx(expected.lower_bound, rel=1e-9)


@pytest.mark.parametrize("args, message", [
    (["solve", "{reg}", "--beta", "1", "--labels", "z"], "The '--labels' option must name a column"),
    (["solve", "{reg}", "--beta", "1", "--labels", "0,1,2,3,4"], "leave at least one feature column"),
    (["solve", "{dir}/data.parquet", "--beta", "1"], "The DATA file must be a .csv, .npy or .npz file"),
    (["solve", "{reg}", "--beta", "1", "--output", "{dir}/no/net.npz"], "The '--output' option must be a path in"),
    (["solve", "{reg}", "--beta", "1", "--depth", "3"], "No setting in which dualnet can certify"),
    (["solve", "{reg}", "--beta", "1", "--loss", "hinge"], "holds non-integer numbers, which are not class labels"),
    (["solve", "{dir}/one_class.csv", "--beta", "1", "--loss", "hinge"], "must hold at least 2 classes"),
    (["path", "{reg}", "--betas", "1:x:3"], "The '--betas' option must be positive numbers or START:STOP:NUM"),
    (["path", "{reg}", "--betas", "0"], "The 'beta' parameter of path must be a positive finite float"),
    (["certify", "{dir}/net.txt", "{reg}", "--beta", "1"], "The NET file must be a .npz network"),
    (["certify", "{reg}.npz", "{reg}", "--beta", "1"], "Could not read a dualnet network"),
    (["solve", "{dir}/ragged.csv", "--beta", "1"], "Line 2 of"),
    (["solve", "{dir}/xy.npz", "--beta", "1", "--labels", "0"], "The '--labels' option applies to CSV and NPY"),
    (["solve", "{dir}/bad.npz", "--beta", "1"], "must hold arrays named 'X' and 'y'"),
])
def test_bad_input_messages(tmp_path: Path, regression, capsys, args, message) -> None:
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    (tmp_path / "one_class.csv").write_text("x,label\n1,a\n2,a\n")
    np.savez(tmp_path / "xy.npz", X=np.ones((3, 2)), y=np.ones(3))
    np.savez(tmp_path / "bad.npz", A=np.ones((3, 2)))
    (tmp_path / "reg.csv.npz").write_text("not a zip file")
    args = [a.format(reg=regression[0], dir=tmp_path) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dualnet: error: ") and message in err[0]


def test_missing_optional_dependencies_are_bad_input(tmp_path: Path, regression, capsys, monkeypatch) -> None:
    """Without matplotlib or torch the command says what to install (and solves nothing first)."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["path", str(regression[0]), "--betas", "1", "--plot", str(tmp_path / "p.png")]) == 2
    assert "pip install 'dualnet[plot]'" in capsys.readouterr().err
    (tmp_path / "n.pt").write_bytes(b"")
    assert main(["certify", str(tmp_path / "n.pt"), str(regression[0]), "--beta", "1"]) == 2
    assert "pip install 'dualnet[torch]'" in capsys.readouterr().err
