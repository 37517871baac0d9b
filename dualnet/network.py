"""Networks as sums of branches: the objects dualnet solves for and certifies.

A :class:`Network` is a sum of branches (MATH §A.1, the parallel architecture); each
branch is a plain multilayer perceptron given as a list of layers ``(W, b)`` with ``W``
of shape (fan_in, fan_out) and ``b`` of shape (fan_out,) or ``None``. A standard network
is a network with one branch. Biases are never penalized; weight decay is
(β/2)·Σ‖W‖²_F over every weight matrix of every branch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg

from .errors import InputError
from .losses import get_loss
from .validation import as_data, as_labels, check_beta, check_t

__all__ = ["Network"]

Layer = tuple[np.ndarray, "np.ndarray | None"]
ACTIVATIONS = ("relu", "linear")


def _sigma(Z: np.ndarray, activation: str) -> np.ndarray:
    return np.maximum(Z, 0.0) if activation == "relu" else Z


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

    def __init__(self, branches: Sequence[Sequence[Any]], activation: str = "relu"):
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

    @staticmethod
    def _clean_branch(branch: Sequence[Any], j: int) -> list[Layer]:
        if len(branch) < 1:
            raise InputError(f"Branch {j} of the Network has no layers; give it at least one (W, b).")
        layers: list[Layer] = []
        for l, layer in enumerate(branch):
            W, b = (layer, None) if isinstance(layer, np.ndarray) else tuple(layer)
            W = np.array(W, dtype=np.float64, ndmin=2)
            b = None if b is None else np.array(b, dtype=np.float64).reshape(-1)
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
    def _branch_hidden(self, X: np.ndarray, branch: list[Layer]) -> np.ndarray:
        A = X
        for W, b in branch[:-1]:
            Z = A @ W
            if b is not None:
                Z = Z + b
            A = _sigma(Z, self.activation)
        return A

    def hidden(self, X: Any) -> np.ndarray:
        """Last hidden layer activations of all branches, side by side (n_samples, Σ width)."""
        X = self._check_input(X)
        if self.depth < 2:
            raise InputError("A one-layer Network has no hidden layer.")
        return np.hstack([self._branch_hidden(X, br) for br in self.branches])

    def forward(self, X: Any) -> np.ndarray:
        """Predictions F of shape (n_samples, n_outputs)."""
        X = self._check_input(X)
        F = np.zeros((X.shape[0], self.n_outputs))
        for br in self.branches:
            W, b = br[-1]
            F += self._branch_hidden(X, br) @ W
            if b is not None:
                F += b
        return F

    __call__ = forward

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
        """Regularization: (β/2)Σ‖W‖²_F, or with ``t`` only the last two layers (the t-form)."""
        beta = check_beta(beta, where="Network.penalty")
        t = check_t(t, where="Network.penalty")
        norms2 = self.layer_norms() ** 2
        if t is not None and self.depth >= 3:
            norms2 = norms2[:, -2:]
        return 0.5 * beta * float(norms2.sum())

    def t_violation(self, t: float) -> float:
        """Largest ‖W_l‖_F − t over the constrained layers 1..L−2 of every branch (≤ 0 if feasible)."""
        if self.depth < 3:
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
        """
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

    def to_mlp(self) -> Network:
        """One standard MLP with the same function and penalty (block-diagonal merge)."""
        if self.n_branches == 1:
            return Network(self.branches, self.activation)
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
        return Network([layers], self.activation)

    def pruned(self, atol: float = 0.0) -> Network:
        """Drop branches whose last layer is zero (up to ``atol``); keeps at least one."""
        keep = [br for br in self.branches if np.linalg.norm(br[-1][0]) > atol or br[-1][1] is not None]
        return Network(keep or self.branches[:1], self.activation)

    # ---------------------------------------------------------------- storage
    def save(self, path: str | os.PathLike) -> Path:
        """Write the network to a ``.npz`` file atomically (a crash never leaves half a file)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
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
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Read a network written by :meth:`save`."""
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InputError(f"Could not read a dualnet network from {str(path)!r}: {err}") from None
        with data:
            if "format" not in data or not str(data["format"]).startswith("dualnet.Network"):
                raise InputError(f"{str(path)!r} is not a network saved by dualnet.Network.save.")
            n_branches, depth = int(data["n_branches"]), int(data["depth"])
            branches = [[(data[f"W_{j}_{l}"], data[f"b_{j}_{l}"] if f"b_{j}_{l}" in data else None)
                         for l in range(depth)] for j in range(n_branches)]
            return cls(branches, str(data["activation"]))

    @classmethod
    def from_weights(cls, weights: Sequence[Any], activation: str = "relu") -> Network:
        """A one-branch network from ``[W1, W2, ...]`` or ``[(W1, b1), (W2, b2), ...]``."""
        return cls([list(weights)], activation)

    # ------------------------------------------------------------------- misc
    def copy(self) -> Network:
        return Network([[(W.copy(), None if b is None else b.copy()) for W, b in br] for br in self.branches],
                       self.activation)

    def __repr__(self) -> str:
        widths = [br[0][0].shape[1] for br in self.branches]
        return (f"Network(depth={self.depth}, branches={self.n_branches}, n_features={self.n_features}, "
                f"n_outputs={self.n_outputs}, activation={self.activation!r}, first-layer widths={widths})")
