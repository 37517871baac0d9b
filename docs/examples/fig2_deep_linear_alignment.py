"""E2 (docs/examples.md): deep linear network, rank-one and aligned layers emerge during training.

For a deep linear network with a scalar output and weight decay on all L layers, every
optimal layer is rank-one, consecutive layers are aligned (the right singular vector of W_l
is the left singular vector of W_{l+1}) and all layers have the same Frobenius norm
t* = ‖w*‖^{1/L} (docs/settings/linear.md#recovery). ``dn.solve`` finds that optimum and its t* with a
certificate; this script runs plain full-batch gradient descent on the non-convex network
(exact NumPy gradients from ``dualnet.train.objective_and_gradient``) from a random start
and records at every iteration

* ‖W_l‖_2/‖W_l‖_F (1 for a rank-one layer),
* |v_1(W_l)ᵀ u_1(W_{l+1})| (1 for aligned layers),
* ‖W_l‖_F (t* at the optimum), and the objective minus the certified optimum.

Sizes, β = 0.1 and the step size are our choice (the paper's could not be read).

Run:  python docs/examples/fig2_deep_linear_alignment.py [--quick] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import time

import numpy as np
from _common import parser, pyplot, save_figure, write_csv

import dualnet as dn
from dualnet.train import objective_and_gradient

NAME = "fig2_deep_linear_alignment"
DEPTH, WIDTH, BETA, LR = 4, 10, 0.1, 0.05


def columns(depth: int) -> list[str]:
    return (["iteration", "objective", "optimum", "lower_bound", "t_star"]
            + [f"ratio_{l}" for l in range(1, depth)]
            + [f"align_{l}_{l + 1}" for l in range(1, depth)]
            + [f"fro_{l}" for l in range(1, depth + 1)])


def data(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian regression data, scaled so ‖X‖_2 = 1 and ‖y‖ = 3 (one step size fits every seed)."""
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)
    return X / np.linalg.norm(X, 2), 3 * y / np.linalg.norm(y)


def structure(Ws: list[np.ndarray]) -> tuple[list[float], list[float], list[float]]:
    """Spectral/Frobenius ratios of the hidden layers, alignments of consecutive layers, norms."""
    svds = [np.linalg.svd(W) for W in Ws]
    ratios = [s[0] / np.linalg.norm(s) for _, s, _ in svds[:-1]]
    aligns = [abs(svds[l][2][0] @ svds[l + 1][0][:, 0]) for l in range(len(Ws) - 1)]
    return ratios, aligns, [float(np.linalg.norm(W)) for W in Ws]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n, d, steps = (12, 6, 800) if args.quick else (20, 10, 3000)
    X, y = data(rng, n, d)
    sol = dn.solve(X, y, beta=BETA, depth=DEPTH, activation="linear")       # certified WD optimum, t*
    t_star = sol.info["t"]
    dims = [d] + [WIDTH] * (DEPTH - 1) + [1]
    Ws = [rng.standard_normal((dims[l], dims[l + 1])) * 0.5 / np.sqrt(dims[l]) for l in range(DEPTH)]
    Y = y[:, None]
    rows = []
    for k in range(steps + 1):
        net = dn.Network.from_weights(Ws, activation="linear")
        value, grads = objective_and_gradient(net, X, Y, BETA)
        ratios, aligns, fros = structure(Ws)
        rows.append([k, value, sol.value, sol.lower_bound, t_star, *ratios, *aligns, *fros])
        if k < steps:
            for W, (gW, _) in zip(Ws, grads[0]):
                W -= LR * gW
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / f"{NAME}.csv", columns(DEPTH), rows)
    plot(rows, args.out / f"{NAME}.png")
    last = rows[-1]
    print(f"{NAME}: L={DEPTH}, {steps} GD steps; final objective - certified optimum = {last[1] - sol.value:.2e}; "
          f"min ratio ||W||_2/||W||_F = {min(last[5:5 + DEPTH - 1]):.8f}, "
          f"min alignment = {min(last[4 + DEPTH:3 + 2 * DEPTH]):.8f}, norms {np.round(last[-DEPTH:], 5).tolist()} "
          f"vs t* = {t_star:.5f}; {time.perf_counter() - start:.1f} s")


def plot(rows: list[list[float]], path) -> None:
    plt = pyplot()
    if plt is None:
        return
    A = np.array(rows, dtype=float)
    it, L = A[:, 0], DEPTH
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    gap = A[:, 1] - A[:, 2]
    ax[0].semilogy(it, np.maximum(gap, 1e-16), color="k")
    ax[0].set_title("objective − certified optimum")
    for l in range(L - 1):
        ax[1].semilogy(it, np.maximum(1 - A[:, 5 + l], 1e-16), label=f"$W_{l + 1}$")
        ax[2].semilogy(it, np.maximum(1 - A[:, 4 + L + l], 1e-16), label=f"$W_{l + 1}, W_{l + 2}$")
    ax[1].set_title(r"$1 - \|W_l\|_2 / \|W_l\|_F$  (0 = rank one)")
    ax[2].set_title(r"$1 - |v_1(W_l)^T u_1(W_{l+1})|$  (0 = aligned)")
    for l in range(L):
        ax[3].plot(it, A[:, 3 + 2 * L + l], label=f"$\\|W_{l + 1}\\|_F$")
    ax[3].axhline(A[0, 4], color="k", ls="--", lw=1, label=r"$t^*$ (dn.solve)")
    ax[3].set_title("Frobenius norms (balanced at $t^*$)")
    for a in ax:
        a.set_xlabel("gradient-descent iteration")
    for a in ax[1:]:
        a.legend(fontsize=8)
    fig.suptitle(f"E2: deep linear network (L = {L}, width {WIDTH}, β = {BETA}), full-batch gradient descent",
                 y=1.03)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
