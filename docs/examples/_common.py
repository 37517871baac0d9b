"""Shared plumbing of the figure scripts: command line, atomic outputs, optional imports, Adam.

Every script in this folder reproduces one figure of the paper (docs/examples.md) with dualnet's
public API. They all take ``--quick`` (a small run for CI, under a minute on 2 cores),
``--seed`` and ``--out DIR``, write the plotted series as CSV and the figure as PNG, both
atomically (a temporary file in the same folder, then ``os.replace``), and print one
summary line. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "output"
_UMASK = os.umask(0)
os.umask(_UMASK)
#: Exit code of a script whose optional dependency (torch) is missing.
EXIT_MISSING = 3


def parser(description: str) -> argparse.ArgumentParser:
    """The command line every figure script shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="small sizes and few iterations (CI: under a minute on 2 cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"output folder for the CSV and PNG (default {DEFAULT_OUT})")
    return p


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary file next to ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)        # mkstemp makes 0600 files; outputs are ordinary files
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV atomically; floats with 12 significant digits."""
    def fmt(v: Any) -> Any:
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.12g}"
        if isinstance(v, (bool, np.bool_)):
            return int(v)
        return v

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for row in rows:
                if len(row) != len(header):
                    raise ValueError(f"row of length {len(row)} for {len(header)} columns")
                w.writerow([fmt(v) for v in row])

    return _atomic(path, write)


def pyplot() -> Any:
    """matplotlib.pyplot with the Agg backend, or None (with a note) when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        print("note: matplotlib is not installed, so no PNG is written (pip install 'dualnet[plot]'); "
              "the CSV is complete.", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    out = _atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return out


def require_torch() -> Any:
    """Import torch, or exit with a clear message (exit code 3) when it is not installed."""
    try:
        import torch
    except ImportError:
        print(f"{Path(sys.argv[0]).name}: this figure trains networks with PyTorch, which is not installed. "
              "Install the optional extra: pip install 'dualnet[torch]' (CPU build: pip install torch).",
              file=sys.stderr)
        sys.exit(EXIT_MISSING)
    return torch


class Adam:
    """Adam on a list of NumPy arrays (Kingma & Ba), updated in place.

    Used where a plain gradient loop with exact NumPy gradients (``dualnet.train``) is all
    a figure needs, so those figures run without PyTorch.
    """

    def __init__(self, params: list[np.ndarray], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-12):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.k = 0

    def step(self, grads: list[np.ndarray], lr: float | None = None) -> None:
        b1, b2 = self.betas
        self.k += 1
        lr = self.lr if lr is None else lr
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            mhat = m / (1 - b1 ** self.k)
            vhat = v / (1 - b2 ** self.k)
            p -= lr * mhat / (np.sqrt(vhat) + self.eps)


def checkpoints(n_steps: int, n_points: int) -> np.ndarray:
    """About ``n_points`` iteration counts in [0, n_steps], log-spaced (0 and n_steps included)."""
    pts = np.unique(np.round(np.geomspace(1, n_steps, max(n_points - 1, 1))).astype(int))
    return np.unique(np.concatenate([[0], pts, [n_steps]]))
