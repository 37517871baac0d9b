"""One-dimensional data with biases: linear splines with kinks at the data points (docs/settings/spline.md).

Reference: Ergen & Pilanci, "Revealing the Structure of Deep Neural Networks via Convex
Duality", ICML 2021 (arXiv 2002.09773v4), the one-dimensional / spline corollary; docs/settings/spline.md,
bias convention Variant A (hidden biases and the output bias free, weights penalized).

Inputs are scalars x_1, …, x_n, sorted here into the distinct values ξ_1 < … < ξ_m.
Repeated x values are kept as separate rows of the loss (exact for every loss, nothing
is averaged); they share one kink position. Two dictionaries of atoms appear:

* depth 2 (docs/settings/spline.md#primal-and-dual): the right- and left-facing ReLUs (x − ξ_k)_+ and (ξ_k − x)_+,
  2m atoms, dual constraint max_k max(|r_k|, |l_k|) ≤ β, where
  r_k = Σ_i (x_i − ξ_k)_+ u_i and l_k = Σ_i (ξ_k − x_i)_+ u_i;
* depth L ≥ 3, parallel branches in the t-form: the *ramps*
  t^{L−2}((x − ξ_p)_+ − (x − ξ_q)_+), p < q, dual constraint
  t^{L−2}(max_k r_k − min_k r_k) ≤ β (diameter of the r_k for several outputs).

The deep dictionary is larger than the two-layer one scaled by t^{L−2} (docs/settings/spline.md#deep-networks
conjectured they coincide). The deep constraint is exact: a ramp is
σ(c − t(q − x)_+) with a bias in the second layer, and conversely every deep branch g
satisfies |uᵀg| ≤ t^{L−2}(max r − min r), because the functional
C(f) = |f′(x_1+)| + TV(f′ on [x_1, x_n]) + |f′(x_n−)| is a seminorm that a ReLU does not
increase, equals 2|w| for a first-layer neuron, grows by at most ‖W_l‖_F per layer, and
bounds |uᵀf| by C(f)/2 · (max r − min r) when 1ᵀu = 0 (docs/settings/spline.md has the
proof and the measured counterexample to the two-layer reduction).

Every program is written in O(n) form: r and l are double cumulative sums of u
(``cp.cumsum``), and the primal predictions are double cumulative sums of the atom
amplitudes, so no n×n atom matrix is formed.

The package's modules follow the mathematics: ``grid`` (distinct inputs, the support
values r, l and ρ), ``dual`` and ``primal`` (the finite programs), ``conic`` (the
squared-loss dual written for CLARABEL directly, O(n) memory at large n), ``atoms`` (kinks, ramps
and the networks computing them), ``recovery`` (an optimal spline from a dual point),
``fit`` (the setting's pipeline), ``deep_decay`` (weight decay on all layers of a deep
network) and ``interpolation`` (the β → 0 limit).
"""

from __future__ import annotations

import numpy as np

from .atoms import Atoms, atoms_objective, breakpoints, knots_of, network_from_atoms, predictions
from .deep_decay import chain_network
from .dual import dual_candidates, dual_program
from .fit import fit, fit_path
from .grid import Grid, left_values, make_grid, project_dual, rho, right_values
from .interpolation import Interpolant, interpolation_value, min_norm_interpolant
from .primal import PrimalProgram, primal_program
from .recovery import recover, recover_atoms

NAME = "relu-1d"
REFERENCE = ("Ergen & Pilanci (ICML 2021), one-dimensional data: linear splines with kinks at the data points "
             "(docs/settings/spline.md, Variant A)")
ACTIVATIONS = ("relu",)
#: keyword options of dn.solve this setting reads (others are refused)
OPTIONS: tuple[str, ...] = ()
HOMOGENEOUS = True

#: Largest number of distinct x values for depth ≥ 3 with several outputs: the exact deep
#: constraint is a diameter, which needs one cone per pair of kinks (O(m²)).
MAX_PAIRWISE = 100

__all__ = ["Atoms", "Grid", "Interpolant", "PrimalProgram", "atoms_objective", "breakpoints", "chain_network", "check",
           "dual_candidates", "dual_program", "fit", "fit_path", "interpolation_value", "knots_of", "left_values",
           "make_grid", "min_norm_interpolant", "network_from_atoms", "predictions", "primal_program", "project_dual",
           "recover", "recover_atoms", "rho", "right_values"]


# --------------------------------------------------------------------------- contract
def check(X: np.ndarray, Y: np.ndarray, depth: int, activation: str = "relu", bias: bool = False,
          batchnorm: bool = False, **opts: object) -> list[str]:
    """Assumptions of this setting that the problem breaks ([] when it applies)."""
    problems = []
    if X.shape[1] != 1:
        problems.append(f"n_features={X.shape[1]}: this setting is for one-dimensional inputs (needs 1)")
    if not bias:
        problems.append("bias=False: the spline setting is for networks with biases (pass bias=True)")
    if activation != "relu":
        problems.append(f"activation={activation!r}: this setting is for ReLU networks")
    if batchnorm:
        problems.append("batchnorm=True: use the 'batchnorm' setting")
    if not problems and depth >= 3 and Y.shape[1] > 1:
        m = np.unique(X[:, 0]).size
        if m > MAX_PAIRWISE:
            problems.append(f"depth={depth} with n_outputs={Y.shape[1]} and {m} distinct x values: the exact deep "
                            f"program needs one cone per pair of inputs; supported up to {MAX_PAIRWISE} distinct "
                            "values (use depth=2 or one output)")
    return problems
