"""The ``dualnet`` command line (also ``python -m dualnet``).

Commands: ``demo`` (one built-in problem per setting), ``solve`` (a data file), ``certify``
(a saved network on a data file) and ``path`` (a regularization path). Exit codes: 0 on
success (a result that is not certified is still a result), 2 on bad input with a one-line
message, 1 when a solver fails. ``--json`` prints a stable JSON document (docs/cli.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import __version__
from ._io import check_distinct, output_path, write_atomic
from ._labels import CLASS_LOSSES, decode_classes, encode_classes
from .errors import DualnetError, InputError, SettingError, SolverError
from .losses import get_loss
from .validation import check_choice

#: The ``schema`` field of every JSON document the command line writes (docs/cli.md).
JSON_SCHEMA = "dualnet-cli/1"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --------------------------------------------------------------------------- data files
def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _label_columns(spec: str | None, header: list[str] | None, n_columns: int, path: str) -> list[int]:
    """Column indices named by ``--labels`` (names or integer indices, comma-separated; default the last)."""
    if spec is None:
        return [n_columns - 1]
    picked = []
    for token in (t.strip() for t in spec.split(",")):
        if header is not None and token in header:
            picked.append(header.index(token))
        elif token.lstrip("-").isdigit() and -n_columns <= int(token) < n_columns:
            picked.append(int(token) % n_columns)
        else:
            names = f" or one of the header names {header}" if header else " (the file has no header row)"
            raise InputError(f"The '--labels' option must name a column of {path}: an index in "
                             f"[{-n_columns}, {n_columns - 1}]{names}. Got {token!r} instead.")
    if len(set(picked)) != len(picked) or len(picked) >= n_columns:
        raise InputError(f"The '--labels' option must name distinct columns and leave at least one feature column "
                         f"in {path}. Got {spec!r} instead.")
    return picked


def _read_csv(path: str, labels: str | None) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if any(cell.strip() for cell in r)]
    if not rows:
        raise InputError(f"The data file {path} is empty. Pass a CSV file with one sample per row.")
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    n_columns = len(header) if header is not None else len(rows[0]) if rows else 0
    if not rows or n_columns < 2:
        raise InputError(f"The data file {path} must have at least one sample row and two columns (features and "
                         f"labels). Got {len(rows)} rows and {n_columns} columns.")
    for i, row in enumerate(rows):
        if len(row) != n_columns:
            line = i + 1 + (header is not None)
            raise InputError(f"Line {line} of {path} has {len(row)} fields but the file has {n_columns} columns. "
                             "Every row must have the same number of fields.")
    label_idx = _label_columns(labels, header, n_columns, path)
    table = np.array(rows, dtype=str)
    feature_idx = [j for j in range(n_columns) if j not in label_idx]
    try:
        X = table[:, feature_idx].astype(np.float64)
    except ValueError:
        i, j = next((i, j) for j in feature_idx for i in range(len(rows)) if not _is_number(rows[i][j]))
        name = f"column {j}" + (f" ({header[j]!r})" if header else "")
        raise InputError(f"Feature {name} of {path} must be numeric. Got {rows[i][j]!r} on line "
                         f"{i + 1 + (header is not None)}. Pick the label column with --labels.") from None
    y = np.char.strip(table[:, label_idx])
    _check_labels_present(y, label_idx, header, path)
    y = y.astype(np.float64) if all(_is_number(v) for v in y.ravel()) else y
    return X, (y[:, 0] if len(label_idx) == 1 else y)


#: Cells that spreadsheets and pandas write for a missing value.
MISSING = ("", "na", "nan", "n/a", "null", "none", "?", "-")


def _check_labels_present(y: np.ndarray, label_idx: list[int], header: list[str] | None, path: str) -> None:
    """A missing label would turn a regression column into classes (or a NaN): name its line instead."""
    for i, j in zip(*np.nonzero(np.isin(np.char.lower(y), MISSING))):
        column = label_idx[j]
        name = f"column {column}" + (f" ({header[column]!r})" if header else "")
        raise InputError(f"The label {name} of {path} is missing on line {i + 1 + (header is not None)} "
                         f"(got {str(y[i, j])!r}). Every sample needs a label: drop that row or fill in its label.")


def _read_npy(path: str, labels: str | None) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as fh:         # np.load(path) leaks the handle when the file is damaged
        table = np.load(fh, allow_pickle=False)
        if not isinstance(table, np.ndarray):
            files = table.files
    if not isinstance(table, np.ndarray):
        raise InputError(f"The NPY file {path} holds an NPZ archive (arrays {files}), not one array. "
                         "Rename it to .npz if it holds arrays 'X' and 'y'.")
    if table.ndim != 2 or table.shape[1] < 2:
        raise InputError(f"The NPY file {path} must hold a 2-D array with feature columns and label columns. "
                         f"Got shape {table.shape}. Save numpy.column_stack([X, y]), or X and y in an NPZ file.")
    label_idx = _label_columns(labels, None, table.shape[1], path)
    X = np.delete(table, label_idx, axis=1)
    y = table[:, label_idx]
    return X, (y[:, 0] if len(label_idx) == 1 else y)


def _read_npz(path: str, labels: str | None) -> tuple[np.ndarray, np.ndarray]:
    if labels is not None:
        raise InputError(f"The '--labels' option applies to CSV and NPY files; the NPZ file {path} holds its "
                         "labels in the array 'y'. Drop --labels.")
    with open(path, "rb") as fh:         # np.load(path) leaks the handle when the file is damaged
        data = np.load(fh, allow_pickle=False)
        if isinstance(data, np.ndarray):
            raise InputError(f"The NPZ file {path} holds a single array of shape {data.shape} (an NPY file), not "
                             "arrays 'X' and 'y'. Rename it to .npy, or write numpy.savez(path, X=X, y=y).")
        missing = [k for k in ("X", "y") if k not in data.files]
        if missing:
            raise InputError(f"The NPZ file {path} must hold arrays named 'X' and 'y'. Got arrays {data.files}. "
                             "Write it with numpy.savez(path, X=X, y=y).")
        return data["X"], data["y"]


def read_data(path: str, labels: str | None, loss: str,
              where: str = "solve") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Features, label matrix and classes (None for numeric labels) from a CSV, NPY or NPZ file.

    Labels are classes when the loss is a classification loss (hinge, logistic,
    cross-entropy) or when the label column is not numeric; classes are encoded by
    :func:`dualnet._labels.encode_classes`. Numeric labels with squared or absolute loss
    are used as they are. ``where`` names the command in messages about ``loss``.
    """
    loss = get_loss(loss, where).name
    readers = {".csv": _read_csv, ".txt": _read_csv, ".npy": _read_npy, ".npz": _read_npz}
    suffix = Path(path).suffix.lower()
    if suffix not in readers:
        raise InputError(f"The DATA file must be a .csv, .npy or .npz file. Got {path!r} instead. "
                         "Convert it, e.g. with numpy.savez(path, X=X, y=y).")
    try:
        X, y = readers[suffix](path, labels)
    except OSError as err:
        raise InputError(f"Cannot read the DATA file {path!r}: {err.strerror or err}.") from None
    except DualnetError:
        raise
    except (ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, csv.Error) as err:
        # numpy and csv report a corrupt or mislabelled file in many ways; all mean "not readable".
        raise InputError(f"Cannot read the DATA file {path!r}: {type(err).__name__}: {err}.") from None
    classes = None
    numeric = np.issubdtype(np.asarray(y).dtype, np.number)
    if np.ndim(y) == 1 and (loss in CLASS_LOSSES or not numeric):
        if numeric and not np.all(np.mod(y, 1) == 0):
            raise InputError(f"The label column of {path!r} holds non-integer numbers, which are not class labels, "
                             f"but loss={loss!r} needs classes. Use --loss squared (or absolute) for regression.")
        y, classes = encode_classes(y, loss, "the DATA file")
    elif not numeric:
        raise InputError(f"The label columns of {path!r} must be numeric when there are several. "
                         "Pick one class column with --labels.")
    return X, y, classes


# ------------------------------------------------------------------------------ output
def _check_distinct(args: argparse.Namespace) -> None:
    """No output may overwrite an input file or another output of the same command."""
    inputs = {option: getattr(args, attr, None) for option, attr in (("DATA", "data"), ("NET", "net"))}
    outputs = {option: getattr(args, attr, None) for option, attr in
               (("--output", "output"), ("--json-out", "json_out"), ("--plot", "plot"))}
    if outputs["--output"] is not None and Path(outputs["--output"]).suffix != ".npz":    # Network.save adds .npz
        outputs["--output"] = Path(str(outputs["--output"]) + ".npz")
    check_distinct(inputs, outputs)


def _number(x: float) -> float | None:
    """JSON has no inf or NaN: those become null."""
    return float(x) if math.isfinite(x) else None


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    """Print the text report, or the JSON document with --json; write --json-out atomically."""
    body = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    if args.json_out is not None:
        write_atomic(args.json_out, lambda fh: fh.write(body.encode()))
    print(body if args.json else text, end="" if args.json else "\n")


def _data_doc(path: str, X: np.ndarray, Y: np.ndarray, classes: np.ndarray | None) -> dict[str, Any]:
    Y2 = np.asarray(Y).reshape(len(Y), -1)
    return {"path": path, "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]), "n_outputs": int(Y2.shape[1]),
            "classes": None if classes is None else [str(c) for c in classes]}


def _result_doc(res: Any) -> dict[str, Any]:
    """The outcome fields shared by a Solution and a Certificate."""
    return {"certified": bool(res.certified), "exact": bool(res.exact), "value": _number(res.value),
            "lower_bound": _number(res.lower_bound), "gap": _number(res.gap), "rel_gap": _number(res.rel_gap),
            "setting": res.setting, "reason": res.reason}


def _solution_doc(sol: Any) -> dict[str, Any]:
    return {**_result_doc(sol), "method": sol.method, "reference": sol.reference, "time": float(sol.time)}


def _network_doc(net: Any, path: Path | str | None) -> dict[str, Any]:
    return {"path": None if path is None else str(path), "depth": net.depth, "n_branches": net.n_branches,
            "activation": net.activation, "n_features": net.n_features, "n_outputs": net.n_outputs}


def _header(command: str) -> dict[str, Any]:
    return {"schema": JSON_SCHEMA, "command": command, "dualnet_version": __version__}


def _data_line(path: str, X: np.ndarray, Y: np.ndarray, classes: np.ndarray | None) -> str:
    doc = _data_doc(path, X, Y, classes)
    text = f"data: {path}, {doc['n_samples']} samples, {doc['n_features']} features, {doc['n_outputs']} output(s)"
    return text + ("" if classes is None else f", classes {', '.join(doc['classes'])}")


# ---------------------------------------------------------------------------- commands
def _demo(args: argparse.Namespace) -> int:
    """Solve one built-in problem per setting and print each certificate."""
    from .api import solve
    from .datasets import DEMOS
    from .settings import SETTINGS

    header = (f"{'setting':<16}{'data':<13}{'depth':>6}{'value':>15}{'lower bound':>15}{'rel. gap':>11}"
              f"{'certified':>11}{'time':>9}")
    print(f"dualnet {__version__}: one built-in problem per setting\n")
    print(header)
    print("-" * len(header))
    failures = 0
    for name, data, make, kwargs in DEMOS:
        if name not in SETTINGS:          # a setting this version does not provide
            continue
        X, y = make()
        start = time.perf_counter()
        try:
            sol = solve(X, y, setting=name, **kwargs)
        except (SolverError, SettingError) as err:
            failures += 1
            print(f"{name:<16}{data:<13}{kwargs.get('depth', 2):>6}  failed: {err}")
            continue
        print(f"{name:<16}{data:<13}{sol.depth:>6}{sol.value:>15.8g}{sol.lower_bound:>15.8g}{sol.rel_gap:>11.2e}"
              f"{'yes' if sol.certified else 'no':>11}{time.perf_counter() - start:>8.2f}s")
        if args.verbose:
            print("   ", sol.method, "|", sol.reason or sol.reference)
    print("\nrel. gap: (value - lower bound) / P(0), where P(0) is the objective of the zero network (for the "
          "squared loss half the sum of squared labels), the scale of the problem.\n"
          "certified: rel. gap <= tol (1e-6 here; tol= in dualnet.solve) and the dual feasibility was computed "
          "exactly, so the lower bound is a proof.\n"
          "A negative rel. gap (about -1e-16) is round-off: value and lower bound agree to machine precision.\n"
          "The iris row is Fisher's Iris data, bundled with dualnet. The diabetes rows are the diabetes data of "
          "Efron et al. (2004; 442 patients, bundled; targets centered), ReLU networks on 2 of its features (bmi, s5) "
          "and on all 10: with 2 the activation patterns are enumerated and the optimum is certified; with 10 "
          "(about 3e18 patterns) the search stops at time_limit=10 s and the lower bound, still a proof, is loose.")
    return 1 if failures else 0


def _problem_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(depth=args.depth, activation=args.activation, loss=args.loss, bias=args.bias,
                batchnorm=args.batchnorm, t=args.t, setting=args.setting, method=args.method, solver=args.solver,
                tol=args.tol)


def _problem_doc(args: argparse.Namespace, sol: Any) -> dict[str, Any]:
    """The problem as solved (names normalized by validation, so 'LINEAR' shows as 'linear')."""
    return {"depth": sol.depth, "beta": sol.beta, "t": sol.t, "activation": sol.network.activation,
            "loss": sol.loss, "bias": args.bias, "batchnorm": args.batchnorm, "tol": args.tol}


def _solve(args: argparse.Namespace) -> int:
    """Solve one problem from a data file, print the certificate, optionally save the network."""
    from .api import solve

    output = output_path(args.output, "--output")
    X, Y, classes = read_data(args.data, args.labels, args.loss)
    sol = solve(X, Y, beta=args.beta, **_problem_kwargs(args))
    saved = sol.network.save(output) if output is not None else None
    accuracy = None
    if classes is not None:
        accuracy = float(np.mean(decode_classes(sol.network.predict(X), classes) ==
                                 decode_classes(np.asarray(Y).reshape(len(Y), -1), classes)))
    doc = {**_header("solve"), "data": _data_doc(args.data, X, Y, classes), "problem": _problem_doc(args, sol),
           "result": {**_solution_doc(sol), "train_accuracy": accuracy}, "network": _network_doc(sol.network, saved)}
    text = [_data_line(args.data, X, Y, classes), str(sol)]
    if accuracy is not None:
        text.append(f"  training accuracy {accuracy:.4g}")
    if saved is not None:
        text.append(f"network saved to {saved}")
    _emit(args, doc, "\n".join(text))
    return 0


def _torch_state(path: str, activation: str | None) -> Any:
    """A Network from a PyTorch state_dict of an nn.Sequential of Linear layers."""
    try:
        import torch
    except ImportError:
        raise InputError(f"Reading the PyTorch file {path!r} needs PyTorch, which is not installed. Install it "
                         "(pip install 'dualnet[torch]') or save the network with dualnet.Network.save.") from None
    from .network import Network

    if activation is not None:
        activation = check_choice(activation, "--activation", ("relu", "linear"), "certify")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types (pickle, zip, runtime); all mean "not readable"
        raise InputError(f"Cannot read the PyTorch file {path!r} as a state_dict ({type(err).__name__}; dualnet "
                         "loads tensors only, never pickled code). Save it with "
                         "torch.save(model.state_dict(), path).") from None
    if not isinstance(state, dict) or not state:
        raise InputError(f"The PyTorch file {path!r} must hold the state_dict of an nn.Sequential. Got "
                         f"{type(state).__name__}. Save it with torch.save(model.state_dict(), path).")
    layers: dict[int, dict[str, Any]] = {}
    for key, value in state.items():
        index, _, name = str(key).partition(".")
        if not index.isdigit() or name not in ("weight", "bias") or not isinstance(value, torch.Tensor):
            raise InputError(f"The PyTorch file {path!r} has the entry {key!r}; dualnet reads state_dicts of an "
                             "nn.Sequential of Linear and ReLU layers only (keys '0.weight', '0.bias', ...).")
        layers.setdefault(int(index), {})[name] = value
    indices = sorted(layers)
    if any("weight" not in layers[i] or layers[i]["weight"].ndim != 2 for i in indices):
        raise InputError(f"The PyTorch file {path!r} has a layer without a 2-D weight; dualnet reads Linear "
                         "layers only.")
    gaps = {b - a for a, b in zip(indices, indices[1:])}
    if len(gaps) > 1 or gaps - {1, 2}:
        raise InputError(f"The PyTorch file {path!r} does not look like Linear, ReLU, ..., Linear (layer indices "
                         f"{indices}). Rebuild the module and pass it to dualnet.certify in Python.")
    if gaps == {2} and activation is None:
        # A state_dict does not say what the parameterless modules between the Linear layers are.
        raise InputError(f"The PyTorch file {path!r} has a module without parameters between its Linear layers "
                         f"(layer indices {indices}); a state_dict does not say whether it is a ReLU, a Tanh or a "
                         "Dropout. Pass --activation relu if they are ReLU layers.")
    if gaps == {1} and activation == "relu":
        raise InputError(f"The '--activation' option is 'relu', but the Linear layers of {path!r} are adjacent "
                         f"(layer indices {indices}), with no module between them. Pass --activation linear.")
    inferred = "linear" if gaps == {1} else "relu"
    weights = [(layers[i]["weight"].detach().double().numpy().T.copy(),
                None if "bias" not in layers[i] else layers[i]["bias"].detach().double().numpy().copy())
               for i in indices]
    return Network.from_weights(weights, activation=activation or inferred)


def _certify(args: argparse.Namespace) -> int:
    """Certify a saved network (.npz from dualnet, or a PyTorch state_dict) on a data file."""
    from .api import certify
    from .network import Network

    suffix = Path(args.net).suffix.lower()
    if suffix == ".npz":
        if args.activation is not None:
            raise InputError(f"The '--activation' option applies to PyTorch state_dicts; the dualnet network file "
                             f"{args.net!r} records its activation ({Network.load(args.net).activation!r}). "
                             "Drop --activation.")
        net = Network.load(args.net)
    elif suffix in (".pt", ".pth"):
        net = _torch_state(args.net, args.activation)
    else:
        raise InputError(f"The NET file must be a .npz network saved by dualnet or a PyTorch .pt/.pth state_dict. "
                         f"Got {args.net!r} instead.")
    X, Y, classes = read_data(args.data, args.labels, args.loss, "certify")
    cert = certify(net, X, Y, beta=args.beta, loss=args.loss, t=args.t, setting=args.setting, tol=args.tol)
    doc = {**_header("certify"), "data": _data_doc(args.data, X, Y, classes),
           "problem": {"beta": args.beta, "t": args.t, "loss": get_loss(args.loss, "certify").name, "tol": args.tol},
           "result": {**_result_doc(cert), "p0": _number(cert.p0)}, "network": _network_doc(net, args.net)}
    _emit(args, doc, "\n".join([_data_line(args.data, X, Y, classes), f"network: {net!r}", str(cert)]))
    return 0


#: The most values one START:STOP:NUM of --betas may ask for (each is a solve).
MAX_BETAS = 10_000


def _betas(tokens: Sequence[str]) -> np.ndarray:
    """Numbers, or START:STOP:NUM for NUM values spaced geometrically from START to STOP."""
    values: list[float] = []
    for token in tokens:
        parts = token.split(":")
        try:
            if len(parts) == 3:
                count = int(parts[2])
                if not 1 <= count <= MAX_BETAS:
                    raise InputError(f"The '--betas' option asks for {count} values in {token!r}; NUM must be in "
                                     f"[1, {MAX_BETAS}] (each value is one solve). Example: --betas 1e-3:1:20.")
                values.extend(np.geomspace(float(parts[0]), float(parts[1]), count).tolist())
            elif len(parts) == 1:
                values.append(float(token))
            else:
                raise ValueError
        except ValueError as err:
            if isinstance(err, InputError):
                raise
            raise InputError(f"The '--betas' option must be positive numbers or START:STOP:NUM (geometric spacing). "
                             f"Got {token!r} instead. Example: --betas 1e-3:1:20.") from None
    return np.array(values)


def _path(args: argparse.Namespace) -> int:
    """Solve along a list of betas, print (and optionally plot) values, bounds and gaps."""
    from .api import path

    plot = output_path(args.plot, "--plot")
    if plot is not None:
        _plot_backend(plot)                # fail before solving when matplotlib is missing
    betas = _betas(args.betas)
    X, Y, classes = read_data(args.data, args.labels, args.loss, "path")
    result = path(X, Y, betas, **_problem_kwargs(args))
    if plot is not None:
        _plot_path(result, plot)
    points = [{"beta": float(b), **_solution_doc(s)} for b, s in zip(result.betas, result.solutions)]
    doc = {**_header("path"), "data": _data_doc(args.data, X, Y, classes),
           "problem": {**_problem_doc(args, result[0]), "beta": None, "betas": [float(b) for b in result.betas]},
           "points": points,
           "plot": None if plot is None else str(plot)}
    header = f"{'beta':>12}{'value':>16}{'lower bound':>16}{'rel. gap':>11}{'certified':>11}"
    lines = [_data_line(args.data, X, Y, classes), f"setting {result[0].setting}, method {result[0].method}", "",
             header, "-" * len(header)]
    lines += [f"{s.beta:>12.4g}{s.value:>16.9g}{s.lower_bound:>16.9g}{s.rel_gap:>11.2e}"
              f"{'yes' if s.certified else 'no':>11}" for s in result.solutions]
    if plot is not None:
        lines.append(f"\nplot saved to {plot}")
    _emit(args, doc, "\n".join(lines))
    return 0


def _plot_backend(path: Path) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("The '--plot' option needs matplotlib, which is not installed. Install it "
                         "(pip install 'dualnet[plot]') or drop --plot.") from None
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lstrip(".").lower() not in formats:
        raise InputError(f"The '--plot' option must end in one of {', '.join('.' + f for f in sorted(formats))}. "
                         f"Got {str(path)!r} instead.")


def _plot_path(result: Any, path: Path) -> None:
    """Value and lower bound against beta, and the relative gap (written atomically)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 6.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(result.betas, result.values, "o-", label="value (recovered network)")
    top.plot(result.betas, result.lower_bounds, "x--", label="certified lower bound")
    top.set_ylabel("objective")
    top.set_xscale("log")
    top.legend()
    top.set_title(f"dualnet path, setting {result[0].setting}, depth {result[0].depth}")
    gaps = np.maximum(np.nan_to_num(result.rel_gaps, posinf=1.0), 1e-16)   # a log axis needs positive numbers
    bottom.semilogy(result.betas, gaps, "s-")
    bottom.set_xlabel("beta")
    bottom.set_ylabel("relative gap (floor 1e-16)")
    write_atomic(path, lambda fh: fig.savefig(fh, format=path.suffix.lstrip(".").lower()))


# ------------------------------------------------------------------------------ parser
def _add_problem_options(p: argparse.ArgumentParser, beta: bool = True) -> None:
    p.add_argument("data", metavar="DATA", help="a .csv (header row optional), .npy (2-D, labels as columns) or "
                   ".npz file (arrays X and y)")
    if beta:
        p.add_argument("--beta", type=float, required=True, help="weight-decay strength beta > 0")
    p.add_argument("--depth", type=int, default=2, help="number of weight layers L >= 2 (default 2)")
    p.add_argument("--activation", default="relu", help="relu (default) or linear")
    p.add_argument("--bias", action="store_true", help="biases (one-dimensional data)")
    p.add_argument("--batchnorm", action="store_true", help="batch normalization before the last activation")
    p.add_argument("--setting", default="auto", help="auto (default) or a setting name")
    p.add_argument("--method", default="auto", help="auto (default), fast, closed-form or cvxpy")
    p.add_argument("--solver", default=None, help="CVXPY solver for --method cvxpy (CLARABEL, ECOS, SCS, ...)")
    p.add_argument("--t", type=float, default=None, help="Frobenius radius of the hidden layers (the paper's "
                   "t-form); default: weight decay on all layers")
    _add_common_options(p)


def _add_common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--loss", default="squared", help="squared (default), absolute, hinge, logistic or "
                   "cross-entropy; classification losses encode the label column as classes")
    p.add_argument("--tol", type=float, default=1e-6, help="certified when the relative gap is at most tol "
                   "(default 1e-6)")
    p.add_argument("--labels", default=None, metavar="COLUMN", help="label column(s) of a CSV/NPY file: a "
                   "header name or an index, comma-separated for several outputs (default: the last column)")
    p.add_argument("--json", action="store_true", help="print a JSON document instead of text (docs/cli.md)")
    p.add_argument("--json-out", default=None, metavar="FILE", help="also write the JSON document to FILE")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dualnet", description="Globally optimal regularized neural networks by convex duality, "
                     "with a certificate. Exit codes: 0 success, 2 bad input, 1 solver failure.")
    parser.add_argument("--version", action="version", version=f"dualnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="solve one built-in problem per setting and print the certificates",
                          description="Solve one built-in problem per setting (and Fisher's Iris data) and print "
                          "setting, data, depth, value, lower bound, relative gap, certified and time.")
    demo.add_argument("-v", "--verbose", action="store_true", help="also print the method and reference")
    demo.set_defaults(func=_demo)

    solve = sub.add_parser("solve", help="globally optimal network for a data file, with its certificate",
                           description="Solve for the globally optimal network on DATA and print its certificate.")
    _add_problem_options(solve)
    solve.add_argument("--output", "-o", default=None, metavar="NET.npz", help="save the network (.npz, atomic)")
    solve.set_defaults(func=_solve)

    cert = sub.add_parser("certify", help="how far is a saved network from the global optimum?",
                          description="Certify NET (a .npz from dualnet or a PyTorch .pt state_dict of an "
                          "nn.Sequential of Linear/ReLU layers) on DATA: value, lower bound, gap.")
    cert.add_argument("net", metavar="NET", help="network file: .npz (dualnet) or .pt/.pth (torch state_dict)")
    cert.add_argument("data", metavar="DATA", help="a .csv, .npy or .npz data file (as for solve)")
    cert.add_argument("--beta", type=float, required=True, help="weight-decay strength the network was trained with")
    cert.add_argument("--t", type=float, default=None, help="t-form radius (default: weight decay on all layers)")
    cert.add_argument("--setting", default="auto", help="auto (default) or a setting name")
    cert.add_argument("--activation", default=None, help="for a .pt state_dict: relu or linear (required when the "
                      "Linear layers are separated by a parameterless module, which a state_dict does not name; "
                      "default linear for adjacent Linear layers)")
    _add_common_options(cert)
    cert.set_defaults(func=_certify)

    path = sub.add_parser("path", help="solve along a list of betas (a regularization path)",
                          description="Solve DATA for every beta, print value, lower bound and gap per beta, "
                          "and optionally plot them (needs matplotlib: pip install 'dualnet[plot]').")
    _add_problem_options(path, beta=False)
    path.add_argument("--betas", nargs="+", required=True, metavar="BETA", help="betas: numbers, or START:STOP:NUM "
                      "for NUM geometrically spaced values")
    path.add_argument("--plot", default=None, metavar="FILE.png", help="save a figure of the path (atomic)")
    path.set_defaults(func=_path)
    return parser


def _one_line(err: Exception) -> str:
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dualnet`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "json_out", None) is not None:
            args.json_out = output_path(args.json_out, "--json-out")
        _check_distinct(args)
        code = int(args.func(args))
        sys.stdout.flush()               # a closed pipe shows up here, inside the handlers below
        return code
    except (InputError, SettingError) as err:
        print(f"dualnet: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except SolverError as err:
        print(f"dualnet: solver failure: {_one_line(err)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of stdout went away (``dualnet ... | head``): stay quiet, as shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        print(f"dualnet: error: cannot write {err.filename or 'a file'}: {err.strerror or err}", file=sys.stderr)
        return 2
    except MemoryError:
        print("dualnet: solver failure: out of memory. Try fewer samples, a smaller problem, or another setting.",
              file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the command line promises one line, never a traceback
        print(f"dualnet: internal error: {type(err).__name__}: {_one_line(err)[:500]} (a bug in dualnet; please "
              "report it with the command line that caused it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
