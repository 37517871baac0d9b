"""The figure scripts of docs/examples run with --quick and write sane CSVs (and PNGs).

Each script runs in a subprocess with ``--out tmp_path``. The checks are the invariants
each figure is about, not its exact numbers: training never ends below a certified lower
bound, certified optima are certified, lower bounds never exceed the optimum (weak
duality), and the structure each figure shows (ranks, alignment, kinks, collapse).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
HAS_MPL = importlib.util.find_spec("matplotlib") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
TOL = 1e-6      # absolute slack for "never below the certified optimum" (solver round-off)


def run(script: str, out: Path, *extra: str, block: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run a figure script with --quick; ``block`` makes importing those packages fail (as if missing).

    Blocking puts a stub package that raises ImportError ahead of site-packages on PYTHONPATH.
    """
    env = dict(os.environ)
    if block:
        stubs = out.parent / f"stubs-{out.name}"
        for name in block:
            (stubs / name).mkdir(parents=True, exist_ok=True)
            (stubs / name / "__init__.py").write_text(
                f"raise ImportError(\"No module named '{name}' (blocked by tests/test_examples.py)\")\n")
        env["PYTHONPATH"] = os.pathsep.join([str(stubs), *filter(None, [env.get("PYTHONPATH")])])
    cmd = [sys.executable, str(EXAMPLES / script), "--quick", "--seed", "0", "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def read(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Header and columns of a CSV (numeric columns as float arrays, others as str arrays)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert body, f"{path.name} has no rows"
    cols = {}
    for j, name in enumerate(header):
        values = [r[j] for r in body]
        try:
            cols[name] = np.array([float(v) for v in values])
        except ValueError:
            cols[name] = np.array(values)
    return header, cols


def check_outputs(proc: subprocess.CompletedProcess, out: Path, name: str, columns: list[str]
                  ) -> dict[str, np.ndarray]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name}:"), proc.stdout      # one summary line
    header, cols = read(out / f"{name}.csv")
    assert header == columns
    if HAS_MPL:
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not list(out.glob(".*")), "temporary files left behind"
    return cols


@pytest.mark.slow
def test_fig1_rank_vs_beta(tmp_path: Path) -> None:
    cols = check_outputs(run("fig1_rank_vs_beta.py", tmp_path), tmp_path, "fig1_rank_vs_beta",
                         ["data", "beta", "rank_trained", "rank_predicted", "rank_closed_form", "objective_trained",
                          "value_certified", "lower_bound", "certified"])
    assert set(cols["data"]) == {"gaussian", "whitened"}
    assert np.all(cols["certified"] == 1)
    assert np.all(cols["objective_trained"] >= cols["lower_bound"] - TOL)
    # Rank falls from full to 0 along beta (the staircase) and training finds the same rank.
    for data in ("gaussian", "whitened"):
        rank = cols["rank_predicted"][cols["data"] == data]
        assert rank[0] > 0 and rank[-1] == 0 and np.all(np.diff(rank) <= 0)
    assert np.mean(cols["rank_trained"] == cols["rank_predicted"]) >= 0.8    # L-BFGS may stop short at a step
    white = cols["data"] == "whitened"
    np.testing.assert_array_equal(cols["rank_predicted"][white], cols["rank_closed_form"][white])


@pytest.mark.slow
def test_fig2_deep_linear_alignment(tmp_path: Path) -> None:
    L = 4
    columns = (["iteration", "objective", "optimum", "lower_bound", "t_star"]
               + [f"ratio_{l}" for l in range(1, L)] + [f"align_{l}_{l + 1}" for l in range(1, L)]
               + [f"fro_{l}" for l in range(1, L + 1)])
    cols = check_outputs(run("fig2_deep_linear_alignment.py", tmp_path), tmp_path, "fig2_deep_linear_alignment",
                         columns)
    np.testing.assert_array_equal(cols["iteration"], np.arange(cols["iteration"].size))    # every iteration
    assert np.all(cols["objective"] >= cols["optimum"] - TOL)
    np.testing.assert_allclose(cols["optimum"], cols["lower_bound"], rtol=1e-6)            # certified
    assert cols["objective"][-1] - cols["optimum"][-1] < 1e-2 * (cols["objective"][0] - cols["optimum"][0])
    for l in range(1, L):
        assert cols[f"ratio_{l}"][-1] > 0.999 > cols[f"ratio_{l}"][0]          # rank one emerges
        assert cols[f"align_{l}_{l + 1}"][-1] > 0.999                          # aligned
    for l in range(1, L + 1):
        np.testing.assert_allclose(cols[f"fro_{l}"][-1], cols["t_star"][-1], rtol=1e-2)    # balanced at t*


@pytest.mark.slow
def test_fig3_whitened_relu_sgd(tmp_path: Path) -> None:
    if not HAS_TORCH:
        proc = run("fig3_whitened_relu_sgd.py", tmp_path)
        assert proc.returncode == 3 and "PyTorch" in proc.stderr and "pip install" in proc.stderr
        pytest.skip("torch is not installed: checked the script's message, the figure itself was not run")
    cols = check_outputs(run("fig3_whitened_relu_sgd.py", tmp_path), tmp_path, "fig3_whitened_relu_sgd",
                         ["data", "depth", "optimizer", "epoch", "objective", "optimum", "train_accuracy",
                          "test_accuracy", "optimum_train_accuracy", "optimum_test_accuracy"])
    assert np.all(cols["objective"] >= cols["optimum"] - TOL)        # SGD/Adam never beat the certified optimum
    expected = "digits" if importlib.util.find_spec("sklearn") is not None else "sampled"
    assert set(cols["data"]) == {expected}
    for key in ("train_accuracy", "optimum_train_accuracy") + (("test_accuracy",) if expected == "digits" else ()):
        assert np.all((cols[key] >= 0) & (cols[key] <= 1))
    for depth in np.unique(cols["depth"]):
        for opt in ("adam", "sgd"):
            run_ = (cols["depth"] == depth) & (cols["optimizer"] == opt)
            obj = cols["objective"][run_]
            assert obj[-1] < obj[0]


@pytest.mark.slow
def test_fig3_without_sklearn_or_torch(tmp_path: Path) -> None:
    """Without scikit-learn the synthetic data are used (and said); without torch, a clear message."""
    proc = run("fig3_whitened_relu_sgd.py", tmp_path / "no_torch", block=("torch",))
    assert proc.returncode == 3
    assert "PyTorch" in proc.stderr and "pip install" in proc.stderr
    if not HAS_TORCH:
        pytest.skip("torch is not installed, so the run without scikit-learn cannot train")
    out = tmp_path / "no_sklearn"
    proc = run("fig3_whitened_relu_sgd.py", out, block=("sklearn",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scikit-learn is not installed" in proc.stderr and "data=sampled" in proc.stdout
    _, cols = read(out / "fig3_whitened_relu_sgd.csv")
    assert set(cols["data"]) == {"sampled"} and np.all(np.isnan(cols["test_accuracy"]))
    assert np.all(cols["objective"] >= cols["optimum"] - TOL)


@pytest.mark.slow
def test_fig4_splines(tmp_path: Path) -> None:
    cols = check_outputs(run("fig4_splines.py", tmp_path), tmp_path, "fig4_splines", ["depth", "series", "x", "f"])
    assert {"data", "interpolant", "certified", "trained", "kink_certified"} <= set(cols["series"])
    header, summary = read(tmp_path / "fig4_splines_summary.csv")
    assert header[:5] == ["depth", "form", "value", "lower_bound", "certified"]
    np.testing.assert_array_equal(summary["depth"], [2, 3, 4])
    assert np.all(summary["certified"] == 1)
    assert np.all(summary["max_kink_distance"] < 1e-6)          # kinks of the optimum sit at data points
    assert np.all(summary["objective_trained"] >= summary["wd_lower_bound"] - TOL)
    assert np.all(summary["wd_value"] >= summary["wd_lower_bound"] - TOL)
    # The certified kinks are where the certified curve bends: each is a data x.
    data_x = cols["x"][cols["series"] == "data"]
    kinks = cols["x"][cols["series"] == "kink_certified"]
    inside = kinks[(kinks >= data_x.min()) & (kinks <= data_x.max())]
    assert inside.size > 0 and np.all(np.min(np.abs(inside[:, None] - data_x[None, :]), axis=1) < 1e-6)


@pytest.mark.slow
def test_fig5_neural_collapse(tmp_path: Path) -> None:
    cols = check_outputs(run("fig5_neural_collapse.py", tmp_path), tmp_path, "fig5_neural_collapse",
                         ["iteration", "objective", "closed_form", "certified_value", "nc1", "nc2", "nc3",
                          "within_scatter", "cosine_error", "norm_spread"])
    np.testing.assert_allclose(cols["closed_form"], cols["certified_value"], rtol=1e-8)
    assert np.all(cols["objective"] >= cols["closed_form"] - TOL)
    for key in ("nc1", "nc2", "nc3", "cosine_error"):
        assert cols[key][-1] < 1e-2 * cols[key][0]                  # collapse emerges during training
    assert cols["nc1"][-1] < 1e-4 and cols["cosine_error"][-1] < 1e-2


@pytest.mark.slow
def test_fig6_duality_gap(tmp_path: Path) -> None:
    cols = check_outputs(run("fig6_duality_gap.py", tmp_path), tmp_path, "fig6_duality_gap",
                         ["problem", "run", "iteration", "objective", "optimum", "lower_bound", "gap", "rel_gap",
                          "exact", "certified"])
    assert np.all(cols["exact"] == 1)
    assert np.all(cols["lower_bound"] <= cols["optimum"] + TOL)     # weak duality at every checkpoint
    assert np.all(cols["objective"] >= cols["optimum"] - TOL)
    np.testing.assert_allclose(cols["gap"], cols["objective"] - cols["lower_bound"], atol=1e-9)
    linear = np.array(["linear" in p for p in cols["problem"]])
    assert cols["certified"][linear][-1] == 1                       # the linear network ends certified
    relu = ~linear
    assert np.unique(cols["run"][relu]).size >= 2


@pytest.mark.slow
def test_without_matplotlib_the_csv_is_still_written(tmp_path: Path) -> None:
    proc = run("fig6_duality_gap.py", tmp_path, block=("matplotlib",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "matplotlib is not installed" in proc.stderr
    assert (tmp_path / "fig6_duality_gap.csv").exists() and not (tmp_path / "fig6_duality_gap.png").exists()
