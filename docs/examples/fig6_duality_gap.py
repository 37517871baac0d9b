"""E6 (docs/examples.md): the certified duality gap of a network while it trains.

``dn.certify`` turns any network into a certificate: its objective P(θ) by a forward pass
and a lower bound on the global optimum from the dual point U = Y − f_θ(X), scaled into the
dual feasible set (docs/certificate.md#the-bound). The gap P(θ) − lower bound therefore bounds how far the
network is from the global optimum, without knowing the optimum. This script trains two
networks (exact NumPy gradients from ``dualnet.train.objective_and_gradient``) and
certifies the iterate at log-spaced iterations:

* a two-layer linear network with 3 outputs (nuclear-norm regression, docs/settings/linear.md#vector-outputs), L-BFGS;
* a narrow (width 5) two-layer ReLU network on 2-D inputs (the exact hyperplane-arrangement
  certificate of docs/settings/two_layer.md), full-batch Adam from four random starts: some reach the global
  optimum and the gap closes, others stall at a worse stationary point and the
  certificate says so.

The true suboptimality P(θ) − P* uses the certified optimum of ``dn.solve`` and is plotted
next to the certified gap, which is never smaller (weak duality).

Run:  python docs/examples/fig6_duality_gap.py [--quick] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import time

import numpy as np
from _common import Adam, checkpoints, parser, pyplot, save_figure, write_csv
from scipy.optimize import minimize

import dualnet as dn
from dualnet.train import objective_and_gradient

NAME = "fig6_duality_gap"
COLUMNS = ["problem", "run", "iteration", "objective", "optimum", "lower_bound", "gap", "rel_gap", "exact",
           "certified"]
LR_ADAM = 0.05


def train_with_certificates(X: np.ndarray, Y: np.ndarray, beta: float, width: int, activation: str, seed: int,
                            optimizer: str, max_iter: int, n_checkpoints: int) -> list[tuple]:
    """Train a two-layer network (L-BFGS or Adam); (iteration, Certificate) at log-spaced iterations."""
    d, K = X.shape[1], Y.shape[1]
    shapes = [(d, width), (width, K)]
    rng = np.random.default_rng(seed)
    theta = np.concatenate([rng.standard_normal(a * b) * 0.5 / np.sqrt(a) for a, b in shapes])

    def network(theta: np.ndarray) -> dn.Network:
        W1 = theta[:d * width].reshape(d, width)
        return dn.Network.from_weights([W1, theta[d * width:].reshape(width, K)], activation=activation)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grads = objective_and_gradient(network(theta), X, Y, beta)
        return value, np.concatenate([g.ravel() for g, _ in grads[0]])

    marks = set(checkpoints(max_iter, n_checkpoints).tolist())
    records = [(0, dn.certify(network(theta), X, Y, beta=beta))]
    if optimizer == "adam":
        opt = Adam([theta], LR_ADAM)
        for k in range(1, max_iter + 1):
            # Cosine decay of the step size to 0 over the run.
            opt.step([fun(theta)[1]], LR_ADAM * 0.5 * (1 + np.cos(np.pi * (k - 1) / max_iter)))
            if k in marks:
                records.append((k, dn.certify(network(theta), X, Y, beta=beta)))
        return records
    it = [0]

    def callback(theta: np.ndarray) -> None:
        it[0] += 1
        if it[0] in marks:
            records.append((it[0], dn.certify(network(theta), X, Y, beta=beta)))

    res = minimize(fun, theta, jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": max_iter, "gtol": 1e-12, "ftol": 1e-16, "maxcor": 30})
    if records[-1][0] != it[0]:
        records.append((it[0], dn.certify(network(res.x), X, Y, beta=beta)))      # where L-BFGS stopped
    return records


def problems(rng: np.random.Generator) -> dict[str, tuple]:
    """(X, Y, beta, width, activation, optimizer, number of random starts) per problem.

    L-BFGS converges to round-off on the smooth linear problem; on the ReLU network it
    stops at a kink within ~100 iterations, so that one is trained with Adam.
    """
    X = rng.standard_normal((20, 6))
    Y = X @ rng.standard_normal((6, 3)) + 0.5 * rng.standard_normal((20, 3))
    Xr = rng.standard_normal((20, 2))
    yr = (np.sin(2 * Xr[:, 0]) + 0.1 * rng.standard_normal(20))[:, None]
    return {"two-layer linear, K=3 (L-BFGS)": (X, Y, 2.0, 6, "linear", "lbfgs", 1),
            "two-layer ReLU, d=2, width 5 (Adam)": (Xr, yr, 1.0, 5, "relu", "adam", 4)}


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    max_iter, n_checkpoints = (600, 12) if args.quick else (3000, 30)
    table, curves = [], {}
    for name, (X, Y, beta, width, activation, optimizer, starts) in problems(rng).items():
        sol = dn.solve(X, Y, beta=beta, activation=activation)           # certified optimum P*
        for run in range(starts):
            records = train_with_certificates(X, Y, beta, width, activation, args.seed + run, optimizer, max_iter,
                                              n_checkpoints)
            curves[(name, run)] = (records, sol.value)
            table += [[name, run, k, c.value, sol.value, c.lower_bound, c.gap, c.rel_gap, c.exact, c.certified]
                      for k, c in records]
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / f"{NAME}.csv", COLUMNS, table)
    plot(curves, args.out / f"{NAME}.png")
    parts = []
    for (name, run), (records, opt) in curves.items():
        k, c = records[-1]
        parts.append(f"{name} run {run}: {k} iterations, P - P* {c.value - opt:.1e}, certified gap {c.gap:.1e} "
                     f"(relative {c.rel_gap:.1e}, certified={c.certified})")
    slack = min(row[4] - row[5] for row in table)      # optimum - lower bound, >= 0 by weak duality
    print(f"{NAME}: " + "; ".join(parts) + f"; min(P* - lower bound) over all checkpoints {slack:.1e}; "
          f"{time.perf_counter() - start:.1f} s")


def plot(curves: dict, path) -> None:
    plt = pyplot()
    if plt is None:
        return
    names = list(dict.fromkeys(name for name, _ in curves))
    fig, axes = plt.subplots(1, len(names), figsize=(6.2 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for (nm, run), (records, opt) in curves.items():
            if nm != name:
                continue
            it = np.array([max(k, 1) for k, _ in records])
            ax.loglog(it, [max(c.gap, 1e-16) for _, c in records], "-", color=f"C{run}", marker=".",
                      label=f"certified gap (start {run})")
            ax.loglog(it, [max(c.value - opt, 1e-16) for _, c in records], ":", color=f"C{run}",
                      label=f"true P − P* (start {run})")
        ax.set_title(name)
        ax.set_xlabel("iteration (0 plotted at 1)")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("P(θ) − lower bound  (solid),  P(θ) − P*  (dotted)")
    fig.suptitle("E6: certified duality gap of the iterate during training (dn.certify)", y=1.03)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
