"""E5 (docs/examples.md): neural collapse emerges while training a batch-normalized ReLU network.

For a ReLU network with batch normalization before the last activation, one-hot labels and
the high-dimensional regime (n − 1 ≤ trunk width), the global optimum is known in closed
form, P = Σ_k H_{β/√n}(√n_k) (docs/settings/batchnorm.md#closed-form-relu), and at the optimum
every sample of class c has the last-hidden representation √(n/n_c)·e_c: the features collapse
to their class means (NC1), the centered means form a simplex equiangular tight frame (NC2)
and the classifier aligns with them (NC3) (docs/settings/batchnorm.md#neural-collapse). This
script trains such a network from a random start with
full-batch Adam (exact NumPy gradients from ``dualnet.train.bn_objective_and_gradient``),
and records at every iteration the objective against the closed form (certified by
``dn.solve(..., batchnorm=True)``) and the collapse metrics of ``dn.collapse_metrics``.

Setup (sizes are our choice): Gaussian X with n = 30 samples in d = 40 dimensions,
K = 3 balanced classes, β = 1, depth 3 (a ReLU trunk of width 40, then 16 BN neurons).

Run:  python docs/examples/fig5_neural_collapse.py [--quick] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import time

import numpy as np
from _common import Adam, parser, pyplot, save_figure, write_csv

import dualnet as dn
from dualnet.train import bn_objective_and_gradient

NAME = "fig5_neural_collapse"
COLUMNS = ["iteration", "objective", "closed_form", "certified_value", "nc1", "nc2", "nc3", "within_scatter",
           "cosine_error", "norm_spread"]
BETA, WIDTHS, LR = 1.0, (40, 16), 0.1


def huber(s: float, lam: float) -> float:
    return 0.5 * s * s if abs(s) <= lam else lam * abs(s) - 0.5 * lam * lam


def features_2d(net: dn.Network, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Last-hidden features, centered, in the plane of the two leading centered class-mean directions."""
    H = net.hidden(X)
    means = np.array([H[labels == c].mean(axis=0) for c in np.unique(labels)])
    centered = means - H.mean(axis=0)
    _, _, Vt = np.linalg.svd(centered, full_matrices=False)
    return (H - H.mean(axis=0)) @ Vt[:2].T


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    n, d, K = 30, 40, 3
    steps = 600 if args.quick else 3000
    X = rng.standard_normal((n, d))
    labels = np.repeat(np.arange(K), n // K)
    Y = np.eye(K)[labels]
    closed = sum(huber(np.sqrt(np.sum(labels == k)), BETA / np.sqrt(n)) for k in range(K))   # batchnorm.md
    sol = dn.solve(X, Y, beta=BETA, depth=len(WIDTHS) + 1, batchnorm=True)
    dims = [d, *WIDTHS, K]
    Ws = [rng.standard_normal((dims[l], dims[l + 1])) / np.sqrt(dims[l]) for l in range(len(dims) - 1)]
    gamma, alpha = rng.standard_normal(WIDTHS[-1]), 0.5 * rng.standard_normal(WIDTHS[-1])
    opt = Adam([*Ws, gamma, alpha], LR)

    def network() -> dn.Network:
        return dn.Network([[(W, None) for W in Ws]], "relu", batchnorm=[(gamma, alpha)])

    rows, first = [], features_2d(network(), X, labels)
    for k in range(steps + 1):
        net = network()
        value, grads, bn_grads = bn_objective_and_gradient(net, X, Y, BETA)
        nc = dn.collapse_metrics(net, X, labels)
        rows.append([k, value, closed, sol.value, nc.nc1, nc.nc2, nc.nc3, nc.within_scatter, nc.cosine_error,
                     nc.norm_spread])
        if k < steps:
            # Cosine decay of the step size to 0 over the run.
            opt.step([g for g, _ in grads[0]] + list(bn_grads[0]), LR * 0.5 * (1 + np.cos(np.pi * k / steps)))
    net = network()
    cert = dn.certify(net, X, Y, beta=BETA)
    final = dn.collapse_metrics(net, X, labels)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / f"{NAME}.csv", COLUMNS, rows)
    plot(rows, first, features_2d(net, X, labels), labels, args.out / f"{NAME}.png")
    off = final.cosines[~np.eye(K, dtype=bool)]
    print(f"{NAME}: n={n}, d={d}, K={K}, beta={BETA}; closed form {closed:.8f} = certified {sol.value:.8f} "
          f"({sol.certified}); after {steps} Adam steps objective - closed form = {rows[-1][1] - closed:.2e} "
          f"(dn.certify relative gap {cert.rel_gap:.1e}); NC1 {final.nc1:.1e}, NC2 {final.nc2:.1e}, "
          f"NC3 {final.nc3:.1e}, "
          f"centered-mean cosines in [{off.min():.4f}, {off.max():.4f}] (ETF: {-1 / (K - 1):.4f}), norms "
          f"{np.round(final.centered_norms, 4).tolist()}; {time.perf_counter() - start:.1f} s")


def plot(rows: list, first: np.ndarray, last: np.ndarray, labels: np.ndarray, path) -> None:
    plt = pyplot()
    if plt is None:
        return
    A = np.array(rows, dtype=float)
    it = A[:, 0]
    fig, ax = plt.subplots(1, 3, figsize=(16, 4.2))
    ax[0].semilogy(it, np.maximum(A[:, 1] - A[:, 2], 1e-16), color="k")
    ax[0].set_title(r"objective − closed form $\sum_k H_{\beta/\sqrt{n}}(\sqrt{n_k})$")
    for col, name in ((4, "NC1 (within-class variability)"), (5, "NC2 (distance to simplex ETF)"),
                      (6, "NC3 (classifier–mean alignment)")):
        ax[1].semilogy(it, np.maximum(A[:, col], 1e-16), label=name)
    ax[1].set_title("neural-collapse metrics (dn.collapse_metrics)")
    ax[1].legend(fontsize=8)
    for a in ax[:2]:
        a.set_xlabel("Adam iteration")
    for c in np.unique(labels):
        ax[2].plot(*first[labels == c].T, "o", color=f"C{c}", alpha=0.25, ms=4)
        ax[2].plot(*last[labels == c].T, "*", color=f"C{c}", ms=14, label=f"class {c}")
    means = np.array([last[labels == c].mean(axis=0) for c in np.unique(labels)])
    ax[2].fill(*means.T, facecolor="none", edgecolor="k", lw=0.8, ls="--")      # the simplex (equilateral for K = 3)
    ax[2].set_title("last-hidden features, centered, in the plane\nof the class means (faint: start, stars: end)")
    ax[2].set_aspect("equal", adjustable="datalim")
    ax[2].legend(fontsize=8)
    fig.suptitle("E5: batch-normalized ReLU network (BN before the last ReLU), one-hot labels", y=1.07)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
