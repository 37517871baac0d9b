"""Networks as sums of branches: the objects dualnet solves for and certifies.

A :class:`Network` is a sum of branches (docs/theory/framework.md#architectures, the parallel architecture); each
branch is a plain multilayer perceptron given as a list of layers ``(W, b)`` with ``W``
of shape (fan_in, fan_out) and ``b`` of shape (fan_out,) or ``None``. A standard network
is a network with one branch. Biases are never penalized; weight decay is
(β/2)·Σ‖W‖²_F over every weight matrix of every branch.

Batch normalization (docs/settings/batchnorm.md#setting). A network built with ``batchnorm=[(γ, α), ...]`` (one
pair per branch) normalizes the pre-activations of its last hidden layer before the
activation: BN_{γ,α}(z) = γ·s_n·P_⊥z/‖P_⊥z‖ + α with s_n = √n (``bn_scale="std"``, the
batch standard deviation, ε = 0) or s_n = 1 (``bn_scale="l2"``). Conventions:

* :meth:`Network.forward` (and ``hidden``, ``objective``) use train-mode BN: the statistics
  of the batch passed in. On the training batch this is the function that was trained
  and certified.
* :meth:`Network.predict` uses the training-batch statistics stored in ``bn_stats``
  (eval mode), so predictions on new data do not depend on the other test samples.
  ``Network.with_batch_statistics(X_train)`` stores them; every network dualnet recovers
  or trains has them. On the training batch ``predict`` and ``forward`` agree.
* The penalty is (β/2)Σ(γ² + α² + ‖W_L‖²): the weights before BN are left out. BN makes the
  function invariant to the scale of every layer before it, so their weight decay can be
  driven to 0 without changing the function; its infimum 0 is not attained, and the
  objective reports that infimum (docs/settings/batchnorm.md#setting). The t-form constraints on those layers can
  likewise always be met by rescaling, so with BN the objective does not depend on ``t``.
* A column whose centered pre-activation vanishes (up to round-off) has no direction; its
  normalized part is taken as 0, so the neuron outputs σ(α).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg

from ._io import write_atomic
from .errors import InputError
from .losses import get_loss
from .validation import as_array, as_data, as_labels, check_beta, check_t

__all__ = ["BN_SCALES", "Network", "bn_apply", "bn_statistics"]

Layer = tuple[np.ndarray, "np.ndarray | None"]
ACTIVATIONS = ("relu", "linear")
BN_SCALES = ("std", "l2")


def _sigma(Z: np.ndarray, activation: str) -> np.ndarray:
    return np.maximum(Z, 0.0) if activation == "relu" else Z


def bn_statistics(Z: np.ndarray, bn_scale: str = "std") -> tuple[np.ndarray, np.ndarray]:
    """Per-column batch mean and divisor ‖P_⊥z‖/s_n of pre-activations Z (n_samples, width).

    s_n = √n for ``"std"`` (the batch standard deviation, ε = 0) and 1 for ``"l2"``. A
    column that is constant up to round-off gets divisor 0 (normalized part 0).
    """
    mean = Z.mean(axis=0)
    norms = np.linalg.norm(Z - mean, axis=0)
    s_n = np.sqrt(Z.shape[0]) if bn_scale == "std" else 1.0
    # Centering a constant column leaves round-off of relative size ~eps; do not blow it up.
    tiny = 1e-12 * np.linalg.norm(Z, axis=0)
    return mean, np.where(norms > tiny, norms / s_n, 0.0)


def bn_apply(Z: np.ndarray, gamma: np.ndarray, alpha: np.ndarray, mean: np.ndarray, div: np.ndarray) -> np.ndarray:
    """γ·(Z − mean)/div + α per column (the normalized part is 0 where div = 0)."""
    Zhat = np.divide(Z - mean, div, out=np.zeros_like(Z), where=div > 0)
    return gamma * Zhat + alpha


def _check_plain(module: Any, what: str, bases: Any) -> None:
    """Refuse a torch module whose computation is not its base class's (own forward, or hooks)."""
    base = next(b for b in (bases if isinstance(bases, tuple) else (bases,)) if isinstance(module, b))
    if type(module).forward is not base.forward:
        raise InputError(f"{what} is {type(module).__name__}, a subclass of nn.{base.__name__} with its own "
                         f"forward, so its weights need not mean what nn.{base.__name__}'s do. Copy the weights "
                         f"into a plain nn.{base.__name__} (or dn.Network.from_weights) if its function is the same.")
    if module._forward_hooks or module._forward_pre_hooks:
        raise InputError(f"{what} ({type(module).__name__}) has forward hooks, which may change its output. "
                         "Remove the hooks, or copy the weights into a module without them.")


def _tensor_array(tensor: Any, what: str) -> np.ndarray:
    """A parameter of a torch module as a float64 array on the CPU (any real dtype, any device with data)."""
    if tensor.is_complex():
        raise InputError(f"{what} has complex weights ({tensor.dtype}); dualnet certifies real networks. Pass a "
                         "module with real weights.")
    try:
        return tensor.detach().to(device="cpu", dtype=_torch_float64()).numpy().copy()
    except (RuntimeError, NotImplementedError) as err:     # e.g. the "meta" device holds no values
        raise InputError(f"{what} has weights on device {tensor.device} that cannot be copied to the CPU ({err}). "
                         "Load or move the trained weights first, e.g. model.to('cpu').") from None


def _torch_float64() -> Any:
    import torch

    return torch.float64


class Network:
    """A sum of MLP branches with a common input and output.

    Parameters
    ----------
    branches : sequence of sequences of (W, b)
        ``branches[j][l] = (W, b)`` is layer ``l`` of branch ``j``. Every branch has the
        same number of layers, its first ``W`` has ``n_features`` rows and its last ``W``
        has ``n_outputs`` columns. ``b`` may be ``None`` (no bias).
    activation : {"relu", "linear"}
        Activation after every layer but the last.
    batchnorm : sequence of (gamma, alpha), optional
        Batch normalization before the last activation: one pair of arrays per branch,
        each of the width of that branch's last hidden layer (see the module docstring).
    bn_scale : {"std", "l2"}, default "std"
        Divide the centered pre-activation by the batch standard deviation ("std",
        s_n = √n) or by its ℓ2 norm ("l2", s_n = 1).
    bn_stats : sequence of (mean, div), optional
        Training-batch statistics used by :meth:`predict` (mean and ‖P_⊥z‖/s_n per
        neuron); :meth:`with_batch_statistics` computes them.

    Examples
    --------
    >>> import numpy as np
    >>> import dualnet as dn
    >>> net = dn.Network([[(np.array([[1.0], [0.0]]), None), (np.array([[2.0]]), None)]])
    >>> net.forward(np.array([[3.0, 5.0]]))
    array([[6.]])
    >>> net.penalty(beta=1.0)
    2.5
    """

    def __init__(self, branches: Sequence[Sequence[Any]], activation: str = "relu",
                 batchnorm: Sequence[Any] | None = None, bn_scale: str = "std",
                 bn_stats: Sequence[Any] | None = None):
        if activation not in ACTIVATIONS:
            raise InputError(f"The 'activation' parameter of Network must be one of {ACTIVATIONS}. "
                             f"Got {activation!r} instead.")
        if len(branches) == 0:
            raise InputError("The 'branches' parameter of Network must hold at least one branch. Got none.")
        self.activation = activation
        self.branches: list[list[Layer]] = [self._clean_branch(br, j) for j, br in enumerate(branches)]
        depths = {len(br) for br in self.branches}
        if len(depths) != 1:
            raise InputError(f"Every branch of a Network must have the same number of layers. Got {sorted(depths)}.")
        ends = {(br[0][0].shape[0], br[-1][0].shape[1]) for br in self.branches}
        if len(ends) != 1:
            raise InputError("Every branch must map the same n_features to the same n_outputs. "
                             f"Got (n_features, n_outputs) pairs {sorted(ends)}.")
        if bn_scale not in BN_SCALES:
            raise InputError(f"The 'bn_scale' parameter of Network must be one of {BN_SCALES}. "
                             f"Got {bn_scale!r} instead.")
        self.bn_scale = bn_scale
        self.batchnorm = None if batchnorm is None else self._clean_bn(batchnorm, "batchnorm")
        if bn_stats is not None and self.batchnorm is None:
            raise InputError("The 'bn_stats' parameter of Network needs batchnorm parameters. "
                             "Pass batchnorm=[(gamma, alpha), ...] as well, or drop bn_stats.")
        self.bn_stats = None if bn_stats is None else self._clean_bn(bn_stats, "bn_stats")

    def _clean_bn(self, pairs: Sequence[Any], param: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """One pair of per-neuron vectors per branch, each of the last hidden width."""
        if self.depth < 2:
            raise InputError(f"The '{param}' parameter of Network needs depth >= 2 (a hidden layer to "
                             f"normalize). Got depth {self.depth}.")
        if len(pairs) != self.n_branches:
            raise InputError(f"The '{param}' parameter of Network must hold one pair per branch "
                             f"({self.n_branches}). Got {len(pairs)} instead.")
        clean = []
        for j, (pair, br) in enumerate(zip(pairs, self.branches)):
            width = br[-2][0].shape[1]
            a, b = (np.array(v, dtype=np.float64).reshape(-1) for v in pair)
            if a.shape != (width,) or b.shape != (width,):
                raise InputError(f"The '{param}' parameter of Network, branch {j}: both vectors must have "
                                 f"length {width} (the last hidden width). Got {a.shape} and {b.shape} instead.")
            if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or (param == "bn_stats" and np.any(b < 0)):
                raise InputError(f"The '{param}' parameter of Network, branch {j}: values must be finite"
                                 + (" and divisors >= 0" if param == "bn_stats" else "") + ".")
            clean.append((a, b))
        return clean

    @staticmethod
    def _clean_branch(branch: Sequence[Any], j: int) -> list[Layer]:
        if len(branch) < 1:
            raise InputError(f"Branch {j} of the Network has no layers; give it at least one (W, b).")
        layers: list[Layer] = []
        for l, layer in enumerate(branch):
            pair = (layer, None) if isinstance(layer, np.ndarray) or not isinstance(layer, (tuple, list)) else layer
            if len(pair) != 2:
                raise InputError(f"Layer {l} of branch {j} must be an array W or a pair (W, b). Got "
                                 f"{type(layer).__name__} of length {len(pair)}.")
            W, b = pair
            where = f"Network (layer {l} of branch {j})"
            W = np.array(as_array(W, "W", where, finite=False), ndmin=2)
            b = None if b is None else np.array(as_array(b, "b", where, finite=False)).reshape(-1)
            if W.ndim != 2:
                raise InputError(f"Layer {l} of branch {j}: W must be 2-D (fan_in, fan_out). Got shape {W.shape}.")
            if b is not None and b.shape != (W.shape[1],):
                raise InputError(f"Layer {l} of branch {j}: b must have shape ({W.shape[1]},) to match W of "
                                 f"shape {W.shape}. Got shape {b.shape}.")
            if layers and layers[-1][0].shape[1] != W.shape[0]:
                raise InputError(f"Layer {l} of branch {j} takes {W.shape[0]} inputs but layer {l - 1} gives "
                                 f"{layers[-1][0].shape[1]} outputs.")
            if not np.all(np.isfinite(W)) or (b is not None and not np.all(np.isfinite(b))):
                raise InputError(f"Layer {l} of branch {j} holds NaN or inf weights.")
            layers.append((W, b))
        return layers

    # ------------------------------------------------------------------ shape
    @property
    def depth(self) -> int:
        """Number of weight layers L of each branch."""
        return len(self.branches[0])

    @property
    def n_features(self) -> int:
        return self.branches[0][0][0].shape[0]

    @property
    def n_outputs(self) -> int:
        return self.branches[0][-1][0].shape[1]

    @property
    def n_branches(self) -> int:
        return len(self.branches)

    # ---------------------------------------------------------------- forward
    def _branch_hidden(self, X: np.ndarray, j: int, stored: bool = False) -> np.ndarray:
        branch = self.branches[j]
        bn = self.batchnorm is not None
        A = X
        for l, (W, b) in enumerate(branch[:-1]):
            Z = A @ W
            if b is not None:
                Z = Z + b
            if bn and l == len(branch) - 2:
                mean, div = self.bn_stats[j] if stored else bn_statistics(Z, self.bn_scale)
                Z = bn_apply(Z, *self.batchnorm[j], mean, div)
            A = _sigma(Z, self.activation)
        return A

    def hidden(self, X: Any) -> np.ndarray:
        """Last hidden layer activations of all branches, side by side (n_samples, Σ width).

        With batch normalization these use the statistics of the batch ``X`` (train mode).
        """
        X = self._check_input(X)
        if self.depth < 2:
            raise InputError("A one-layer Network has no hidden layer.")
        return np.hstack([self._branch_hidden(X, j) for j in range(self.n_branches)])

    def _output(self, X: np.ndarray, stored: bool) -> np.ndarray:
        F = np.zeros((X.shape[0], self.n_outputs))
        for j, br in enumerate(self.branches):
            W, b = br[-1]
            F += self._branch_hidden(X, j, stored) @ W
            if b is not None:
                F += b
        return F

    def forward(self, X: Any) -> np.ndarray:
        """Predictions F of shape (n_samples, n_outputs).

        With batch normalization this is train mode: the statistics of the batch ``X``.
        Use :meth:`predict` for new data.
        """
        return self._output(self._check_input(X), stored=False)

    __call__ = forward

    def predict(self, X: Any) -> np.ndarray:
        """Predictions on new data (eval mode: BN uses the stored training statistics).

        Equal to :meth:`forward` for networks without batch normalization, and on the
        training batch for networks whose ``bn_stats`` came from it.
        """
        X = self._check_input(X)
        if self.batchnorm is None:
            return self._output(X, stored=False)
        if self.bn_stats is None:
            raise InputError("Network.predict needs the training-batch statistics of its batch normalization. "
                             "Got a network without bn_stats. Call net = net.with_batch_statistics(X_train) "
                             "first, or use net.forward(X) for batch statistics of X itself.")
        return self._output(X, stored=True)

    def with_batch_statistics(self, X: Any) -> Network:
        """A copy storing the BN statistics of the batch ``X`` (used by :meth:`predict`)."""
        X = self._check_input(X)
        if self.batchnorm is None:
            return self.copy()
        stats = []
        for br in self.branches:
            A = X
            for W, b in br[:-2]:
                A = _sigma(A @ W + (0.0 if b is None else b), self.activation)
            W, b = br[-2]
            stats.append(bn_statistics(A @ W + (0.0 if b is None else b), self.bn_scale))
        return Network(self.branches, self.activation, self.batchnorm, self.bn_scale, stats)

    def _check_input(self, X: Any) -> np.ndarray:
        X = as_data(X, where="Network.forward")
        if X.shape[1] != self.n_features:
            raise InputError(f"The 'X' parameter of Network.forward must have n_features={self.n_features} "
                             f"columns (the rows of the first weight matrix). Got {X.shape[1]} columns instead.")
        return X

    # -------------------------------------------------------------- objective
    def layer_norms(self) -> np.ndarray:
        """Frobenius norms, shape (n_branches, depth)."""
        return np.array([[np.linalg.norm(W) for W, _ in br] for br in self.branches])

    def penalty(self, beta: float, t: float | None = None) -> float:
        """Regularization: (β/2)Σ‖W‖²_F, or with ``t`` only the last two layers (the t-form).

        With batch normalization: (β/2)Σ(γ² + α² + ‖W_L‖²_F) for any ``t`` (the layers
        before BN are scale-invariant, see the module docstring).
        """
        beta = check_beta(beta, where="Network.penalty")
        t = check_t(t, where="Network.penalty")
        if self.batchnorm is not None:
            total = sum(float(g @ g + a @ a) + float(np.sum(br[-1][0] ** 2))
                        for (g, a), br in zip(self.batchnorm, self.branches))
            return 0.5 * beta * total
        norms2 = self.layer_norms() ** 2
        if t is not None and self.depth >= 3:
            norms2 = norms2[:, -2:]
        return 0.5 * beta * float(norms2.sum())

    def t_violation(self, t: float) -> float:
        """Largest ‖W_l‖_F − t over the constrained layers 1..L−2 of every branch (≤ 0 if feasible).

        −inf with batch normalization: rescaling the layers before BN meets any radius.
        """
        if self.depth < 3 or self.batchnorm is not None:
            return -np.inf
        return float(self.layer_norms()[:, :-2].max() - t)

    def objective(self, X: Any, Y: Any, beta: float, loss: Any = "squared", t: float | None = None) -> float:
        """Training objective ℓ(f(X); Y) + penalty, by a NumPy forward pass.

        With ``t`` the objective is the paper's constrained form: the penalty covers the
        last two layers and layers 1..L−2 must lie in Frobenius balls of radius ``t``.
        """
        X = self._check_input(X)
        Y, _ = as_labels(Y, X.shape[0], where="Network.objective")
        loss = get_loss(loss, where="Network.objective")
        if t is not None and self.t_violation(t) > 1e-9 * max(1.0, t):
            raise InputError(f"The network violates the t-form constraint ||W_l||_F <= t={t} by "
                             f"{self.t_violation(t):.3g}. Pass t=None for plain weight decay.")
        return loss.value(self.forward(X), Y) + self.penalty(beta, t)

    # ---------------------------------------------------------- transformations
    def balanced(self) -> Network:
        """The same function with each branch's layer norms made equal (minimizes weight decay).

        Positive homogeneity lets each layer be scaled by c_l > 0 with Π c_l = 1 without
        changing the function; the geometric mean of the norms minimizes Σ‖W_l‖² (AM–GM).
        Biases are rescaled by the running product so the function is unchanged.
        With batch normalization only (γ, α) and the rows of W_L are penalized: each
        neuron's (γ, α) and outgoing row are scaled to equal norms (Lemma A.1).
        """
        if self.batchnorm is not None:
            return self._balanced_bn()
        branches = []
        for br in self.branches:
            norms = np.array([np.linalg.norm(W) for W, _ in br])
            if np.any(norms == 0):
                branches.append(br)
                continue
            target = np.exp(np.mean(np.log(norms)))
            c = target / norms
            running = np.cumprod(c)
            branches.append([(W * c[l], None if b is None else b * running[l]) for l, (W, b) in enumerate(br)])
        return Network(branches, self.activation)

    def _balanced_bn(self) -> Network:
        branches, bns = [], []
        for br, (g, a) in zip(self.branches, self.batchnorm):
            W, b = br[-1]
            out = np.linalg.norm(W, axis=1)
            inn = np.sqrt(g * g + a * a)
            live = (out > 0) & (inn > 0)
            # σ(r·BN) = r·σ(BN) for r > 0; a neuron with a zero side contributes nothing.
            r = np.sqrt(np.divide(out, inn, out=np.zeros_like(out), where=live))
            branches.append([*br[:-1], (W / np.where(live, r, 1.0)[:, None] * live[:, None], b)])
            bns.append((g * r, a * r))
        return Network(branches, self.activation, bns, self.bn_scale, self.bn_stats)

    def _bn_kwargs(self) -> dict[str, Any]:
        return {"batchnorm": self.batchnorm, "bn_scale": self.bn_scale, "bn_stats": self.bn_stats}

    def to_mlp(self) -> Network:
        """One standard MLP with the same function and penalty (block-diagonal merge).

        Batch normalization is per neuron, so its parameters and statistics concatenate.
        """
        if self.n_branches == 1:
            return Network(self.branches, self.activation, **self._bn_kwargs())
        layers: list[Layer] = []
        for l in range(self.depth):
            Ws = [br[l][0] for br in self.branches]
            bs = [br[l][1] for br in self.branches]
            if l == 0 and self.depth > 1:
                W = np.hstack(Ws)
            elif l == self.depth - 1:
                W = np.vstack(Ws) if self.depth > 1 else np.sum(Ws, axis=0)
            else:
                W = scipy.linalg.block_diag(*Ws)
            if all(b is None for b in bs):
                b = None
            elif l == self.depth - 1:
                b = np.sum([np.zeros(W.shape[1]) if bb is None else bb for bb in bs], axis=0)
            else:
                b = np.concatenate([np.zeros(Wj.shape[1]) if bb is None else bb for Wj, bb in zip(Ws, bs)])
            layers.append((W, b))
        cat = lambda pairs: None if pairs is None else [tuple(np.concatenate(v) for v in zip(*pairs))]  # noqa: E731
        return Network([layers], self.activation, cat(self.batchnorm), self.bn_scale, cat(self.bn_stats))

    def pruned(self, atol: float = 0.0) -> Network:
        """Drop branches whose last layer is zero (up to ``atol``); keeps at least one."""
        keep = [j for j, br in enumerate(self.branches) if np.linalg.norm(br[-1][0]) > atol or br[-1][1] is not None]
        keep = keep or [0]
        pick = lambda pairs: None if pairs is None else [pairs[j] for j in keep]  # noqa: E731
        return Network([self.branches[j] for j in keep], self.activation, pick(self.batchnorm), self.bn_scale,
                       pick(self.bn_stats))

    # ---------------------------------------------------------------- storage
    def save(self, path: str | os.PathLike) -> Path:
        """Write the network to a ``.npz`` file atomically (a crash never leaves half a file)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
        if not Path(os.path.realpath(path)).parent.is_dir():
            raise InputError(f"The 'path' parameter of Network.save must be in an existing folder. Got {str(path)!r}, "
                             f"whose folder does not exist. Create it first.")
        arrays: dict[str, np.ndarray] = {
            "format": np.array("dualnet.Network/1"),
            "activation": np.array(self.activation),
            "n_branches": np.array(self.n_branches),
            "depth": np.array(self.depth),
        }
        for j, br in enumerate(self.branches):
            for l, (W, b) in enumerate(br):
                arrays[f"W_{j}_{l}"] = W
                if b is not None:
                    arrays[f"b_{j}_{l}"] = b
        if self.batchnorm is not None:
            arrays["bn_scale"] = np.array(self.bn_scale)
            for j, (g, a) in enumerate(self.batchnorm):
                arrays[f"bn_gamma_{j}"], arrays[f"bn_alpha_{j}"] = g, a
            for j, (m, s) in enumerate(self.bn_stats or []):
                arrays[f"bn_mean_{j}"], arrays[f"bn_div_{j}"] = m, s
        write_atomic(path, lambda fh: np.savez(fh, **arrays))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Read a network written by :meth:`save`."""
        try:
            with open(path, "rb") as fh:     # np.load(path) leaks the handle when the file is damaged
                try:
                    data = np.load(fh, allow_pickle=False)
                except ValueError as err:         # not an .npy/.npz file at all
                    raise OSError(str(err)) from None
                if not hasattr(data, "files"):          # a single .npy array, not an archive
                    raise InputError(f"{str(path)!r} is not a network saved by dualnet.Network.save (it holds one "
                                     "array of an .npy file). Save networks with Network.save.")
                return cls._from_arrays(data, str(path))
        except (OSError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(f"Could not read a dualnet network from {str(path)!r}: {err}") from None
        except (KeyError, ValueError, TypeError) as err:
            if isinstance(err, InputError):
                raise
            raise InputError(f"The network file {str(path)!r} is damaged or incomplete ({type(err).__name__}: "
                             f"{err}). Save the network again with Network.save.") from None

    @classmethod
    def _from_arrays(cls, data: Any, path: str) -> Network:
        """The network stored in an open archive written by :meth:`save`."""
        if "format" not in data or not str(data["format"]).startswith("dualnet.Network"):
            raise InputError(f"{path!r} is not a network saved by dualnet.Network.save.")
        n_branches, depth = int(data["n_branches"]), int(data["depth"])
        branches = [[(data[f"W_{j}_{l}"], data[f"b_{j}_{l}"] if f"b_{j}_{l}" in data else None)
                     for l in range(depth)] for j in range(n_branches)]
        pairs = lambda a, b: ([(data[f"{a}_{j}"], data[f"{b}_{j}"]) for j in range(n_branches)]  # noqa: E731
                              if f"{a}_0" in data else None)
        bn_scale = str(data["bn_scale"]) if "bn_scale" in data else "std"
        return cls(branches, str(data["activation"]), pairs("bn_gamma", "bn_alpha"), bn_scale,
                   pairs("bn_mean", "bn_div"))

    @classmethod
    def from_weights(cls, weights: Sequence[Any], activation: str = "relu", batchnorm: Any = None,
                     bn_scale: str = "std") -> Network:
        """A one-branch network from ``[W1, W2, ...]`` or ``[(W1, b1), (W2, b2), ...]``.

        ``batchnorm=(gamma, alpha)`` adds batch normalization before the last activation.
        """
        return cls([list(weights)], activation, None if batchnorm is None else [batchnorm], bn_scale)

    @classmethod
    def from_torch(cls, module: Any) -> Network:
        """A one-branch network from a torch ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers.

        ``Linear`` layers separated by ``ReLU`` give activation "relu", adjacent ones
        "linear"; ``Identity`` and ``Flatten`` are skipped. Weights of any real dtype on any
        device are copied to the CPU as float64 (``W = weight.T``); complex weights and
        devices without data ("meta") are refused. Biases are kept and, as everywhere in
        dualnet, not penalized.
        """
        from torch import nn

        if not isinstance(module, nn.Sequential):
            raise InputError("The 'module' parameter of Network.from_torch must be a torch nn.Sequential of Linear "
                             f"and ReLU layers. Got {type(module).__name__} instead.")
        _check_plain(module, "The torch module", nn.Sequential)
        layers: list[Layer] = []
        between: list[str] = []
        after = ""
        for i, m in enumerate(module):
            if isinstance(m, (nn.Linear, nn.ReLU, nn.Identity, nn.Flatten)):
                _check_plain(m, f"Layer {i} of the torch module", (nn.Linear, nn.ReLU, nn.Identity, nn.Flatten))
            if isinstance(m, nn.Linear):
                if layers:
                    between.append(after or "linear")
                W = _tensor_array(m.weight, f"Layer {i} of the torch module").T.copy()
                b = None if m.bias is None else _tensor_array(m.bias, f"Layer {i} of the torch module")
                layers.append((W, b))
                after = ""
            elif isinstance(m, nn.ReLU):
                if not layers or after:
                    raise InputError(f"Layer {i} of the torch module is a ReLU that does not follow a Linear layer. "
                                     "dualnet reads Linear, ReLU, Linear, ..., Linear.")
                after = "relu"
            elif not isinstance(m, (nn.Identity, nn.Flatten)):
                raise InputError(f"Layer {i} of the torch module is {type(m).__name__}, which dualnet cannot read. "
                                 "Network.from_torch supports nn.Sequential of Linear and ReLU layers only; a "
                                 "Dropout that is off at evaluation can be left out: nn.Sequential(*[m for m in "
                                 "model if not isinstance(m, nn.Dropout)]).")
        if not layers or after:
            raise InputError("The torch module must start with a Linear layer and end with one (no final "
                             f"activation). Got {[type(m).__name__ for m in module]}.")
        if len(set(between)) > 1:
            raise InputError("The torch module mixes ReLU and linear connections between Linear layers; dualnet "
                             "networks use one activation after every hidden layer.")
        return cls([layers], between[0] if between else "relu")

    def to_torch(self, dtype: Any = None) -> Any:
        """A torch ``nn.Sequential`` (float64 unless ``dtype``) with the same function.

        Several branches are first merged into one MLP (:meth:`to_mlp`), which keeps both
        the function and the weight-decay penalty.
        """
        import torch
        from torch import nn

        if self.batchnorm is not None:
            raise InputError("Network.to_torch does not convert batch normalization; use forward() instead.")
        net = self.to_mlp() if self.n_branches > 1 else self
        dtype = torch.float64 if dtype is None else dtype
        modules: list[Any] = []
        for l, (W, b) in enumerate(net.branches[0]):
            lin = nn.Linear(W.shape[0], W.shape[1], bias=b is not None, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(W.T, dtype=dtype))
                if b is not None:
                    lin.bias.copy_(torch.as_tensor(b, dtype=dtype))
            modules.append(lin)
            if l < net.depth - 1 and net.activation == "relu":
                modules.append(nn.ReLU())
        return nn.Sequential(*modules)

    # ------------------------------------------------------------------- misc
    def copy(self) -> Network:
        copy_pairs = lambda pairs: None if pairs is None else [(a.copy(), b.copy()) for a, b in pairs]  # noqa: E731
        return Network([[(W.copy(), None if b is None else b.copy()) for W, b in br] for br in self.branches],
                       self.activation, copy_pairs(self.batchnorm), self.bn_scale, copy_pairs(self.bn_stats))

    def __repr__(self) -> str:
        widths = [br[0][0].shape[1] for br in self.branches]
        return (f"Network(depth={self.depth}, branches={self.n_branches}, n_features={self.n_features}, "
                f"n_outputs={self.n_outputs}, activation={self.activation!r}, first-layer widths={widths}"
                + ("" if self.batchnorm is None else f", batchnorm={self.bn_scale!r}") + ")")
