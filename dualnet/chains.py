"""Networks built from atoms: aligned rank-one chains (docs/settings/linear.md#recovery, docs/settings/rank_one.md#recovery, docs/settings/whitened.md#recovery).

Several settings recover an optimal network as a sum of atoms s_k · σ(X p_k) q_kᵀ whose
first-layer pre-activations X p_k are nonnegative for ReLU settings (so every ReLU on
the chain acts as the identity). This module turns such atoms into a :class:`Network`
of any depth, in the parameterization the user asked for:

* depth 2: one two-layer network with one neuron per atom, balanced (docs/settings/linear.md#secular-equation);
* depth ≥ 3, weight decay on all layers (``t=None``): one branch per atom, every layer
  scaled by s_k^{1/L} (balanced norms, docs/settings/linear.md#recovery);
* depth ≥ 3, the t-form: layers 1..L−2 of norm t and the last two layers balanced
  (docs/theory/framework.md#rescaling).

Every hidden layer is rank-one and the chain is aligned: the right singular vector of
one layer is the left singular vector of the next (the width-1 chain makes this exact).
"""

from __future__ import annotations

import numpy as np

from .network import Network

__all__ = ["atoms_from_matrix", "network_from_atoms"]


def atoms_from_matrix(W: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compact SVD W = Σ s_k p_k q_kᵀ, dropping s_k ≤ rtol·s_1. Returns (P, s, Qo) with Qo (r, K)."""
    P, s, Qt = np.linalg.svd(W, full_matrices=False)
    keep = s > rtol * (s[0] if s.size else 0.0)
    if not np.any(keep) or s[0] == 0:
        return P[:, :0], s[:0], Qt[:0]
    return P[:, keep], s[keep], Qt[keep]


def network_from_atoms(P: np.ndarray, s: np.ndarray, Qo: np.ndarray, depth: int, t: float | None,
                       activation: str) -> Network:
    """Network whose function is Σ_k s_k σ(X p_k) q_kᵀ (for nonnegative X p_k under ReLU).

    Parameters
    ----------
    P : (n_features, r) unit first-layer directions.
    s : (r,) nonnegative amplitudes.
    Qo : (r, n_outputs) unit output directions.
    depth : number of weight layers L ≥ 2.
    t : None for weight decay on all layers, or the Frobenius radius of the t-form.
    activation : "relu" or "linear".
    """
    d, K = P.shape[0], Qo.shape[1]
    if s.size == 0:                      # the zero network
        layers = [(np.zeros((d, 1)), None)] + [(np.zeros((1, 1)), None)] * (depth - 2) + [(np.zeros((1, K)), None)]
        return Network([layers], activation)
    if depth == 2:
        root = np.sqrt(s)
        return Network([[(P * root, None), (root[:, None] * Qo, None)]], activation)
    branches = []
    for p, sk, q in zip(P.T, s, Qo):
        if t is None:
            a = sk ** (1.0 / depth)
            scales = [a] * depth
        else:
            last = np.sqrt(sk * t ** (2 - depth))     # balances the last two layers (Lemma A.1)
            scales = [t] * (depth - 2) + [last, last]
        layers = [(scales[0] * p[:, None], None)]
        layers += [(np.array([[c]]), None) for c in scales[1:-1]]
        layers.append((scales[-1] * q[None, :], None))
        branches.append(layers)
    return Network(branches, activation)
