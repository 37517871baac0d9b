"""E1 (docs/examples.md): rank of the hidden layer of a two-layer linear network against β.

A two-layer linear network with weight decay, ½‖X W_1 W_2 − Y‖² + (β/2)(‖W_1‖² + ‖W_2‖²),
is nuclear-norm regression in disguise (docs/settings/linear.md#vector-outputs): its end-to-end matrix solves
min_W ½‖XW − Y‖² + β‖W‖_*, so the rank of W_1 falls in steps as β grows and is 0 from
β = σ_1(XᵀY) on. For whitened X (X Xᵀ = I) the steps sit at the singular values of Y:
rank = #{k : σ_k(Y) > β}.

For each β the script trains the non-convex network from a random start with L-BFGS
(``dualnet.train.train``, width 10) and compares the numerical rank of its W_1 with the
rank of the certified optimum from ``dn.path`` (one decomposition for all β), on Gaussian
data and on whitened data. Sizes and β grid are our choice (the paper's could not be read).

Run:  python docs/examples/fig1_rank_vs_beta.py [--quick] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import time

import numpy as np
from _common import parser, pyplot, save_figure, write_csv

import dualnet as dn
from dualnet.train import train

NAME = "fig1_rank_vs_beta"
COLUMNS = ["data", "beta", "rank_trained", "rank_predicted", "rank_closed_form", "objective_trained",
           "value_certified", "lower_bound", "certified"]
#: singular values of W_1 below RANK_RTOL times the largest W_1 of the sweep count as zero
RANK_RTOL = 1e-3


def datasets(rng: np.random.Generator, quick: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Gaussian X (n > d) and whitened X (rows orthonormal, n < d), Gaussian labels with K = 5."""
    n, d, K = (12, 6, 4) if quick else (20, 10, 5)
    gaussian = (rng.standard_normal((n, d)), rng.standard_normal((n, K)))
    Q, _ = np.linalg.qr(rng.standard_normal((2 * d, d)))           # X = Qᵀ: d samples, 2d features
    whitened = (Q.T.copy(), rng.standard_normal((d, K)))
    return {"gaussian": gaussian, "whitened": whitened}


def first_layer(net: dn.Network) -> np.ndarray:
    """W_1 of the network as one standard MLP (branches merged; penalty and function kept)."""
    return net.to_mlp().branches[0][0][0]


def numerical_rank(W: np.ndarray, scale: float) -> int:
    return int(np.sum(np.linalg.svd(W, compute_uv=False) > RANK_RTOL * scale))


def sweep(X: np.ndarray, Y: np.ndarray, betas: np.ndarray, seed: int, width: int) -> list[dict]:
    solutions = dn.path(X, Y, betas, activation="linear")
    rows = []
    for beta, sol in zip(betas, solutions):
        net = train(X, Y, beta=float(beta), depth=2, width=width, activation="linear", seed=seed, gtol=1e-9)
        rows.append(dict(beta=float(beta), W1=first_layer(net), W1_opt=first_layer(sol.network),
                         objective=net.objective(X, Y, beta=float(beta)), value=sol.value,
                         lower_bound=sol.lower_bound, certified=sol.certified))
    return rows


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n_betas, width = (7, 6) if args.quick else (30, 10)
    table, panels = [], {}
    for name, (X, Y) in datasets(rng, args.quick).items():
        sv = np.linalg.svd(X.T @ Y, compute_uv=False)
        sigma1 = sv[0]                                  # W* = 0 from beta = sigma_1(XᵀY) on (linear.md)
        # From below the smallest singular value (full rank) to past sigma_1 (rank 0).
        betas = np.geomspace(0.3 * sv[-1], 1.3 * sigma1, n_betas)
        rows = sweep(X, Y, betas, args.seed, width)
        # One scale per data set: the largest W_1 of the sweep (the least regularized), so a
        # vanishing W_1 at large beta has rank 0 rather than the rank of its round-off.
        scale = max(np.linalg.norm(r["W1"], 2) for r in rows)
        closed = np.linalg.svd(Y, compute_uv=False) if name == "whitened" else None
        for r in rows:
            r["rank_trained"] = numerical_rank(r["W1"], scale)
            r["rank_predicted"] = numerical_rank(r["W1_opt"], scale)
            r["rank_closed_form"] = int(np.sum(closed > r["beta"])) if closed is not None else np.nan
            table.append([name, r["beta"], r["rank_trained"], r["rank_predicted"], r["rank_closed_form"],
                          r["objective"], r["value"], r["lower_bound"], r["certified"]])
        panels[name] = (rows, sigma1, closed)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / f"{NAME}.csv", COLUMNS, table)
    plot(panels, args.out / f"{NAME}.png")
    agree = sum(row[2] == row[3] for row in table)
    worst = max(row[7] - row[5] for row in table)          # lower bound - trained objective, must be <= 0
    print(f"{NAME}: rank of trained W_1 equals the certified optimum's rank at {agree}/{len(table)} betas; "
          f"all {sum(row[8] for row in table)} optima certified; max(lower bound - trained objective) = "
          f"{worst:.2e}; {time.perf_counter() - start:.1f} s")


def plot(panels: dict, path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, (name, (rows, sigma1, closed)) in zip(axes[0], panels.items()):
        betas = np.array([r["beta"] for r in rows])
        if closed is not None:
            dense = np.geomspace(betas[0], betas[-1], 2000)
            ax.plot(dense, (closed[None, :] > dense[:, None]).sum(axis=1), color="0.6", lw=1,
                    label=r"closed form #$\{k: \sigma_k(Y) > \beta\}$")
        ax.plot(betas, [r["rank_predicted"] for r in rows], "s", color="C0", ms=4,
                label="certified optimum (dn.path)")
        ax.plot(betas, [r["rank_trained"] for r in rows], "o", color="C1", ms=8, mfc="none",
                label="trained W$_1$ (L-BFGS)")
        ax.axvline(sigma1, color="k", ls="--", lw=1, label=r"$\sigma_1(X^TY)$")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel(r"rank of $W_1$")
        ax.set_title(f"{name} X")
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("E1: two-layer linear network, rank of the hidden layer vs weight decay", y=1.03)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
