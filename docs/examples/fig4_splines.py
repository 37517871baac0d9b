"""E4 (docs/examples.md): one-dimensional data, deep ReLU networks fit linear splines with kinks at the data.

With scalar inputs, biases (unpenalized, docs/settings/spline.md#setting) and small weight decay, the
optimal ReLU network is a linear spline whose kinks sit at data points, close to the
linear-spline interpolant as β → 0 (docs/settings/spline.md). For each depth L ∈ {2, 3, 4} the script

* solves the problem with ``dn.solve(..., bias=True)`` (setting ``relu-1d``): weight decay
  for L = 2 and the paper's t-form with t = 1 (layers 1..L−2 in unit Frobenius balls,
  parallel branches) for L ≥ 3, each with a certificate;
* trains a standard width-50 network with weight decay on all layers from random starts
  (L-BFGS, ``dualnet.train.train``, best of 3), and checks its objective against the
  certified lower bound of the weight-decay problem (``dn.solve(..., t=None)``);
* finds the kinks of both functions exactly (the breakpoints of a piecewise-linear
  network, propagated layer by layer) and their distance to the nearest data point.

Data (sizes are our choice): 8 points, x uniform on [−2, 2], y ~ N(0, 1), β = 1e-3.

Run:  python docs/examples/fig4_splines.py [--quick] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import time

import numpy as np
from _common import parser, pyplot, save_figure, write_csv

import dualnet as dn
from dualnet.train import train

NAME = "fig4_splines"
COLUMNS = ["depth", "series", "x", "f"]
SUMMARY = ["depth", "form", "value", "lower_bound", "certified", "objective_trained", "wd_value", "wd_lower_bound",
           "n_kinks", "max_kink_distance", "n_kinks_trained", "max_kink_distance_trained"]
BETA = 1e-3


def kinks(net: dn.Network, lo: float, hi: float, rtol: float = 1e-2) -> np.ndarray:
    """Kinks of a 1-D piecewise-linear network on [lo, hi], exactly.

    Between consecutive breakpoints every pre-activation is affine in x, so its zeros are
    found by linear interpolation; they become breakpoints of the next layer. A breakpoint
    is a kink of f when the slope of f changes there by more than ``rtol`` times the
    largest slope change (the tiny neurons an unfinished training leaves behind are not
    counted).
    """
    points = {lo, hi}
    for branch in net.branches:
        bp = np.array([lo, hi])
        for l in range(len(branch) - 1):
            # Pre-activations of layer l at the current breakpoints (affine in x between them).
            A = bp[:, None]
            for W, b in branch[:l]:
                A = np.maximum(A @ W + (0 if b is None else b), 0.0)
            W, b = branch[l]
            Z = A @ W + (0 if b is None else b)
            za, zb = Z[:-1], Z[1:]
            i, j = np.nonzero(za * zb < 0)
            roots = bp[i] + (bp[i + 1] - bp[i]) * za[i, j] / (za[i, j] - zb[i, j])
            bp = np.unique(np.concatenate([bp, roots]))
        points.update(bp.tolist())
    xs = np.array(sorted(points))
    f = net.forward(xs[:, None])[:, 0]
    slopes = np.diff(f) / np.diff(xs)
    jumps = np.abs(np.diff(slopes))
    if jumps.size == 0 or jumps.max() == 0:
        return np.array([])
    return xs[1:-1][jumps > rtol * jumps.max()]


def distance_to_data(k: np.ndarray, x: np.ndarray) -> float:
    """Largest distance of a kink inside [x_1, x_n] to the nearest data point.

    Kinks outside the data hull are not determined by the data: a ReLU with its kink at
    any ξ ≤ x_1 is affine on every data point and costs the same, so only kinks inside
    the hull can be asked to sit at data points.
    """
    k = k[(k >= x[0]) & (k <= x[-1])]
    return float(np.max(np.min(np.abs(k[:, None] - x[None, :]), axis=1))) if k.size else 0.0


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n, width, max_iter, starts = (6, 20, 1500, 1) if args.quick else (8, 50, 5000, 3)
    x = np.sort(rng.uniform(-2, 2, n))
    y = rng.standard_normal(n)
    X = x[:, None]
    lo, hi = x[0] - 0.4, x[-1] + 0.4
    grid = np.linspace(lo, hi, 801)
    series = [[0, "data", xi, yi] for xi, yi in zip(x, y)]
    series += [[0, "interpolant", g, v] for g, v in zip(grid[(grid >= x[0]) & (grid <= x[-1])],
                                                         np.interp(grid[(grid >= x[0]) & (grid <= x[-1])], x, y))]
    summary, panels = [], {}
    for depth in (2, 3, 4):
        t = None if depth == 2 else 1.0
        sol = dn.solve(X, y, beta=BETA, depth=depth, bias=True, t=t)
        wd = sol if depth == 2 else dn.solve(X, y, beta=BETA, depth=depth, bias=True)   # weight-decay bounds
        # Non-convex training lands at different stationary points from different starts: keep the best.
        nets = [train(X, y, beta=BETA, depth=depth, width=width, bias=True, seed=args.seed + s, max_iter=max_iter)
                for s in range(starts)]
        net = min(nets, key=lambda m: m.objective(X, y, beta=BETA))
        f_opt, f_tr = sol.predict(grid[:, None]), net.forward(grid[:, None])[:, 0]
        k_opt, k_tr = kinks(sol.network, lo, hi), kinks(net, lo, hi)
        series += [[depth, "certified", g, v] for g, v in zip(grid, f_opt)]
        series += [[depth, "trained", g, v] for g, v in zip(grid, f_tr)]
        series += [[depth, "kink_certified", k, v] for k, v in zip(k_opt, sol.predict(k_opt[:, None]))]
        series += [[depth, "kink_trained", k, v] for k, v in zip(k_tr, net.forward(k_tr[:, None])[:, 0])]
        summary.append([depth, "weight decay" if t is None else "t-form t=1", sol.value, sol.lower_bound,
                        sol.certified, net.objective(X, y, beta=BETA), wd.value, wd.lower_bound, k_opt.size,
                        distance_to_data(k_opt, x), k_tr.size, distance_to_data(k_tr, x)])
        panels[depth] = (grid, f_opt, f_tr, k_opt, k_tr)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / f"{NAME}.csv", COLUMNS, series)
    write_csv(args.out / f"{NAME}_summary.csv", SUMMARY, summary)
    plot(x, y, panels, starts, args.out / f"{NAME}.png")
    parts = "; ".join(f"L={r[0]} ({r[1]}): certified={bool(r[4])}, {r[8]} kinks, max distance to data {r[9]:.1e}, "
                      f"trained WD {r[10]} kinks (max distance {r[11]:.2f}), trained - WD lower bound "
                      f"{r[5] - r[7]:.2e}" for r in summary)
    print(f"{NAME}: n={n}, beta={BETA}; {parts}; {time.perf_counter() - start:.1f} s")


def plot(x: np.ndarray, y: np.ndarray, panels: dict, starts: int, path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), sharey=True)
    inside = np.linspace(x[0], x[-1], 400)
    for ax, (depth, (grid, f_opt, f_tr, k_opt, k_tr)) in zip(axes, panels.items()):
        ax.plot(inside, np.interp(inside, x, y), color="0.6", lw=4, alpha=0.5, label="linear-spline interpolant")
        ax.plot(grid, f_opt, color="C0", lw=1.5, label="certified optimum (dn.solve)")
        ax.plot(grid, f_tr, color="C1", lw=1, ls="--", label=f"trained, weight decay (best of {starts} L-BFGS starts)")
        for k in k_opt:
            ax.axvline(k, color="C0", lw=0.8, alpha=0.6)
        ax.plot(k_tr, np.full(k_tr.size, ax.get_ylim()[0]), "^", color="C1", ms=7, clip_on=False,
                label="kinks of the trained network")
        ax.plot(x, y, "ko", ms=5, label="data", zorder=5)
        form = "weight decay" if depth == 2 else "t-form, t = 1"
        ax.set_title(f"L = {depth} ({form}): {k_opt.size} kinks, all at data points"
                     if distance_to_data(k_opt, x) < 1e-6 else f"L = {depth} ({form})", fontsize=10)
        ax.set_xlabel("x")
    axes[0].set_ylabel("f(x)")
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"E4: 1-D ReLU networks with biases, β = {BETA}: linear splines, kinks (vertical lines) at the data",
                 y=1.03)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
