"""E3 (docs/examples.md): deep ReLU networks on whitened data, SGD and Adam against the certified optimum.

With whitened inputs (X Xᵀ = I) and one-hot labels, the regularized training problem of a
deep ReLU network has a closed-form global optimum (docs/settings/whitened.md#closed-forms):
P_t = Σ_k H_{β_t}(√n_k), β_t = β t^{2−L}, attained by one aligned nonnegative chain per
class (docs/settings/whitened.md#recovery). ``dn.solve`` returns it with a certificate. This script trains the same
architecture from random starts with PyTorch (full-batch Adam, and minibatch SGD with
momentum) and records, per epoch, the training objective, the certified lower bound of
the trained network (``dn.certify``) at the end, and train/test accuracy.

Problem (the paper's form): the parallel architecture in the t-form with
t = 1, i.e. layers 1..L−2 of every branch in the Frobenius ball ‖W_l‖_F ≤ 1 (projected after
each step) and weight decay (β/2)(‖w_{L−1}‖² + ‖w_L‖²) on the last two layers; for L = 2
this is plain weight decay. (Weight decay on all layers of a deep network with several
outputs is not certified by dualnet: docs/settings/linear.md#vector-outputs.)

Data: scikit-learn's bundled ``load_digits`` (8×8 images, nothing downloaded), 5 training
images per digit, ZCA-whitened on the sample axis with ``dn.whiten``. That whitening is a
linear map of the features, Z = X M with M = X⁺Z = (XᵀX)^{+1/2}, so held-out digits are
mapped with the same M and give a test accuracy. Without scikit-learn (or with
``--data sampled``) the synthetic "sampled" data are used instead: X = Qᵀ with
orthonormal Q, random balanced labels, no test set.

Run:  python docs/examples/fig3_whitened_relu_sgd.py [--quick] [--seed 0] [--out DIR] [--data digits|sampled]
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _common import parser, pyplot, require_torch, save_figure, write_csv

import dualnet as dn

NAME = "fig3_whitened_relu_sgd"
COLUMNS = ["data", "depth", "optimizer", "epoch", "objective", "optimum", "train_accuracy", "test_accuracy",
           "optimum_train_accuracy", "optimum_test_accuracy"]
BETA, T = 0.1, 1.0


# ------------------------------------------------------------------------------ data
def digits(rng: np.random.Generator, per_class: int, n_test: int) -> tuple | None:
    """Whitened digits: (Z, Y, Z_test, labels_test), or None without scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    images, labels = load_digits(return_X_y=True)
    images = images / 16.0
    train = np.concatenate([rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in range(10)])
    rest = np.setdiff1d(np.arange(labels.size), train)
    test = rng.choice(rest, min(n_test, rest.size), replace=False)
    Z = dn.whiten(images[train])                  # Z Zᵀ = I: the whitened setting (docs/settings/whitened.md)
    M = np.linalg.pinv(images[train]) @ Z         # Z = X M, so new inputs are whitened as x M
    return Z, np.eye(10)[labels[train]], images[test] @ M, labels[test]


def sampled(rng: np.random.Generator, n: int, d: int, K: int) -> tuple:
    """The "sampled" data: X = Qᵀ with Q (d×n) orthonormal, balanced random labels, no test set."""
    Q, _ = np.linalg.qr(rng.standard_normal((d, n)))
    labels = rng.permutation(np.arange(n) % K)
    return Q.T.copy(), np.eye(K)[labels], None, None


# ------------------------------------------------------------------------- networks
def init_params(torch, rng: np.random.Generator, d: int, K: int, depth: int, branches: int, width: int) -> list:
    """Parallel network: per branch W_1 (d×h), W_l (h×h), w_{L−1} (h), w_L (K); for L = 2, w_1 (d), w_2 (K)."""
    def tensor(shape, scale):
        return torch.tensor(rng.standard_normal(shape) * scale, dtype=torch.float64, requires_grad=True)

    if depth == 2:
        return [tensor((branches, d), 1 / np.sqrt(d)), tensor((branches, K), 0.1)]
    params = [tensor((branches, d, width), 1 / np.sqrt(d * width))]
    params += [tensor((branches, width, width), 1 / width) for _ in range(depth - 3)]
    return params + [tensor((branches, width), 1 / np.sqrt(width)), tensor((branches, K), 0.1)]


def forward(torch, params: list, X):
    """Sum over branches of relu(... relu(X W_1) ... w_{L−1}) w_Lᵀ."""
    if len(params) == 2:
        return torch.relu(X @ params[0].T) @ params[1]
    A = torch.relu(torch.einsum("nd,mdh->mnh", X, params[0]))
    for W in params[1:-2]:
        A = torch.relu(torch.einsum("mnh,mhk->mnk", A, W))
    g = torch.relu(torch.einsum("mnh,mh->mn", A, params[-2]))
    return g.T @ params[-1]


def objective(torch, params: list, X, Y, scale: float = 1.0):
    """scale·½‖F − Y‖² + (β/2)(‖w_{L−1}‖² + ‖w_L‖²) (the t-form; plain weight decay for L = 2)."""
    F = forward(torch, params, X)
    return scale * 0.5 * ((F - Y) ** 2).sum() + 0.5 * BETA * sum((p ** 2).sum() for p in params[-2:])


def project(torch, params: list) -> None:
    """Layers 1..L−2 of every branch back into the Frobenius ball of radius t."""
    with torch.no_grad():
        for W in params[:-2]:
            norms = W.flatten(1).norm(dim=1).clamp_min(1e-300)
            W.mul_((T / norms).clamp(max=1.0).view(-1, *([1] * (W.dim() - 1))))


def to_network(params: list) -> dn.Network:
    """The trained parallel network as a dualnet Network (one branch per PyTorch branch)."""
    P = [p.detach().numpy() for p in params]
    if len(P) == 2:
        return dn.Network.from_weights([P[0].T, P[1]])
    branches = []
    for j in range(P[0].shape[0]):
        layers = [(P[0][j], None)] + [(W[j], None) for W in P[1:-2]]
        branches.append(layers + [(P[-2][j][:, None], None), (P[-1][j][None, :], None)])
    return dn.Network(branches)


def accuracy(F: np.ndarray, labels: np.ndarray | None) -> float:
    return float(np.mean(np.argmax(F, axis=1) == labels)) if labels is not None else np.nan


# ------------------------------------------------------------------------- training
def run(torch, data: tuple, depth: int, optimizer: str, epochs: int, seed: int, branches: int, width: int
        ) -> tuple[list[tuple], dn.Network]:
    Z, Y, Z_test, labels_test = data
    n = Z.shape[0]
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    params = init_params(torch, rng, Z.shape[1], Y.shape[1], depth, branches, width)
    project(torch, params)
    X, Yt = torch.as_tensor(Z), torch.as_tensor(Y)
    Xtest = None if Z_test is None else torch.as_tensor(Z_test)
    labels = Y.argmax(axis=1)
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=0.01)
        batches = [np.arange(n)]                                   # full batch: one step per epoch
    else:
        opt = torch.optim.SGD(params, lr=0.02, momentum=0.9)
        batches = None
    # Cosine decay of the step size to 0: constant steps leave projected Adam and minibatch
    # SGD oscillating above the optimum.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    history = []
    for epoch in range(epochs + 1):
        with torch.no_grad():
            value = float(objective(torch, params, X, Yt))
            train_acc = accuracy(forward(torch, params, X).numpy(), labels)
            test_acc = np.nan if Xtest is None else accuracy(forward(torch, params, Xtest).numpy(), labels_test)
        history.append((epoch, value, train_acc, test_acc))
        if epoch == epochs:
            break
        order = batches if optimizer == "adam" else np.array_split(rng.permutation(n), n // 10)
        for idx in order:
            opt.zero_grad()
            # Minibatch loss scaled by n/|batch| so that its expectation is the full objective.
            objective(torch, params, X[idx], Yt[idx], n / len(idx)).backward()
            opt.step()
            project(torch, params)
        sched.step()
    return history, to_network(params)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", choices=("digits", "sampled"), default="digits",
                   help="whitened digits (needs scikit-learn) or the synthetic 'sampled' data")
    args = p.parse_args()
    torch = require_torch()
    torch.set_num_threads(1)                     # tiny matrices: threads cost more than they give
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    depths, epochs = ((2, 3), 300) if args.quick else ((2, 3, 4), 2000)
    data, name = None, args.data
    if args.data == "digits":
        data = digits(rng, per_class=3, n_test=200 if args.quick else 1000)
        if data is None:
            name = "sampled"
            print("note: scikit-learn is not installed, so the synthetic 'sampled' data replace the "
                  "whitened digits; pip install scikit-learn for the real-data figure.", file=sys.stderr)
    if data is None:
        data = sampled(rng, n=50, d=100, K=5)
    Z, Y, Z_test, labels_test = data
    table, curves, certs = [], {}, {}
    for depth in depths:
        sol = dn.solve(Z, Y, beta=BETA, depth=depth, t=None if depth == 2 else T)     # certified optimum
        opt_train = accuracy(sol.predict(Z), Y.argmax(axis=1))
        opt_test = np.nan if Z_test is None else accuracy(sol.predict(Z_test), labels_test)
        for optimizer in ("adam", "sgd"):
            history, net = run(torch, data, depth, optimizer, epochs, args.seed, branches=3 * Y.shape[1], width=4)
            certs[(depth, optimizer)] = dn.certify(net, Z, Y, beta=BETA, t=None if depth == 2 else T)
            curves[(depth, optimizer)] = (history, sol.value, opt_test)
            table += [[name, depth, optimizer, e, v, sol.value, tr, te, opt_train, opt_test]
                      for e, v, tr, te in history]
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / f"{NAME}.csv", COLUMNS, table)
    plot(curves, name, args.out / f"{NAME}.png")
    finals = ", ".join(f"L={d} {o}: {h[-1][1] - opt:.2e}" for (d, o), (h, opt, _) in curves.items())
    below = min(row[4] - row[5] for row in table)
    te = [c[2] for c in curves.values()]
    tests = ", ".join(f"L={d} {o} {h[-1][3]:.3f}" for (d, o), (h, _, _) in curves.items())
    print(f"{NAME}: data={name}, beta={BETA}, t={T}; optimum {curves[(depths[0], 'adam')][1]:.6f} (certified); "
          f"final objective - optimum: {finals}; min over all epochs of objective - optimum = {below:.2e}; "
          f"test accuracy optimum {te[0]:.3f}, trained {tests}; certified gaps of trained nets "
          f"{', '.join(f'{c.rel_gap:.1e}' for c in certs.values())} (relative); {time.perf_counter() - start:.1f} s")


def plot(curves: dict, name: str, path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(1, 3, figsize=(16, 4))
    optimum = next(iter(curves.values()))[1]
    colors = {d: f"C{i}" for i, d in enumerate(sorted({d for d, _ in curves}))}
    styles = {"adam": "-", "sgd": ":"}
    for (depth, optimizer), (history, opt, _) in curves.items():
        H = np.array(history, dtype=float)
        label = f"L = {depth}, {'Adam (full batch)' if optimizer == 'adam' else 'SGD + momentum'}"
        ax[0].plot(H[:, 0], H[:, 1], styles[optimizer], color=colors[depth], label=label)
        ax[1].loglog(np.maximum(H[:, 0], 1), np.maximum(H[:, 1] - opt, 1e-16), styles[optimizer],
                     color=colors[depth], label=label)
        if not np.all(np.isnan(H[:, 3])):
            ax[2].plot(H[:, 0], H[:, 3], styles[optimizer], color=colors[depth], label=label)
    ax[0].axhline(optimum, color="k", ls="--", lw=1, label="certified optimum (dn.solve)")
    ax[0].set_ylim(optimum - 0.05 * optimum, optimum + 1.5 * optimum)
    ax[0].set_title("training objective")
    ax[1].set_title("objective − certified optimum")
    opt_test = next(iter(curves.values()))[2]
    if np.isnan(opt_test):
        ax[2].text(0.5, 0.5, "no held-out samples\n(synthetic 'sampled' data)", ha="center", va="center",
                   transform=ax[2].transAxes)
    else:
        ax[2].axhline(opt_test, color="k", ls="--", lw=1, label="certified optimum")
        ax[2].set_ylim(0, 1)
    ax[2].set_title("test accuracy (held-out digits)")
    for a in ax:
        a.set_xlabel("epoch")
    ax[0].legend(fontsize=7)
    ax[2].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"E3: deep ReLU, whitened {name} data, one-hot labels, β = {BETA}, t-form with t = {T} "
                 "(parallel branches)", y=1.03)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
