"""The β → 0 limit: the minimum-norm interpolating network (docs/settings/spline.md#interpolation-limit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from ...errors import InputError
from ...network import Network
from ...validation import as_labels, check_choice, check_solver, check_t
from .._solve import solve_cvxpy
from .atoms import Atoms, knots_of, network_from_atoms, ramp_atoms, two_layer_atoms
from .grid import Grid, make_grid
from .primal import _kink_slopes, _values_from_slopes

__all__ = ["Interpolant", "interpolation_value", "min_norm_interpolant"]


# --------------------------------------------------------------------------- interpolation limit
def interpolation_value(x: np.ndarray, y: np.ndarray, depth: int = 2, t: float = 1.0) -> float:
    """Minimal Σ|output weights| of a network interpolating (x, y) (docs/settings/spline.md#interpolation-limit, corrected).

    With slopes s_k of the piecewise-linear interpolant and D = Σ_k |s_k − s_{k−1}|:
    depth 2: max(D, (D + |s_1 + s_{n−1}|)/2); depth L ≥ 3 (t-form):
    t^{2−L}·(|s_1| + D + |s_{n−1}|)/2. (docs/settings/spline.md#interpolation-limit prints max(D, |s_1 + s_{n−1}|) for depth 2,
    which overstates the value when the end slopes dominate: y = x costs 1, not 2.)

    Examples
    --------
    >>> from dualnet.settings.spline import interpolation_value
    >>> interpolation_value([-1.0, 0.0, 1.0], [0.0, 1.0, 0.0]), interpolation_value([0.0, 1.0, 2.0], [0.0, 1.0, 2.0])
    (2.0, 1.0)
    >>> interpolation_value([-2.0, -1.0, 0.0, 1.0, 2.0], [0, 0, 1, 0, 0], depth=3)    # one ramp pair, not 4 kinks
    2.0
    """
    grid = make_grid(np.asarray(x, dtype=float).reshape(-1, 1))
    F = grid.means(np.asarray(y, dtype=float).reshape(-1, 1))[:, 0]
    if grid.m == 1:
        return 0.0
    s = np.diff(F) / grid.gaps
    D = float(np.sum(np.abs(np.diff(s))))
    if depth == 2:
        return float(max(D, 0.5 * (D + abs(s[0] + s[-1]))))
    return float(t ** (2 - depth) * 0.5 * (abs(s[0]) + D + abs(s[-1])))


@dataclass(frozen=True)
class Interpolant:
    """The minimum-norm interpolating network: the β → 0 limit (docs/settings/spline.md#interpolation-limit).

    Attributes
    ----------
    value : float
        Minimal Σ|output weights| with the hidden layers normalized (the R-form cost);
        a weight-decay network with weight β pays β·value.
    knots : ndarray
        Data points where the interpolant changes slope.
    network : Network
        An interpolating network of that cost (balanced two-layer, or deep t-form).
    method : str
        "closed-form" or "cvxpy:<SOLVER>" (how ``value`` was computed).
    atoms : Atoms
        The spline as atoms: right/left ReLU amplitudes at each ξ_k (depth 2) or ramps
        (p, q, c) (depth ≥ 3), and the output bias.
    depth : int
        Number of weight layers of ``network``.
    t : float
        Its radius in the t-form (depth ≥ 3).
    program : cvxpy.Problem or None
        The LP that was solved (``method="cvxpy"``).
    """

    value: float
    knots: np.ndarray
    network: Network
    method: str
    atoms: Atoms | None = field(default=None, repr=False)
    depth: int = 2
    t: float = 1.0
    program: cp.Problem | None = field(default=None, repr=False)

    def predict(self, x: Any) -> np.ndarray:
        """Interpolant at the points ``x`` (1-D)."""
        return self.network.forward(np.asarray(x, dtype=float).reshape(-1, 1))[:, 0]


def min_norm_interpolant(x: Any, y: Any, *, depth: int = 2, t: float = 1.0, method: str = "closed-form",
                         solver: str | None = None) -> Interpolant:
    """The cheapest ReLU network with biases that interpolates one-dimensional data.

    The β → 0 limit of :func:`dualnet.solve` with ``bias=True`` (docs/settings/spline.md#interpolation-limit): among the
    networks with f(x_i) = y_i, one of least Σ|output weights| (hidden layers
    normalized; t-form for depth ≥ 3). It is the linear spline through the data with
    kinks at data points.

    Parameters
    ----------
    x : array-like of shape (n_samples,) or (n_samples, 1)
    y : array-like of shape (n_samples,)
        Repeated x values must carry equal y values.
    depth : int, default 2
    t : float, default 1.0
        Radius of layers 1..L−2 (depth ≥ 3).
    method : {"closed-form", "cvxpy"}, default "closed-form"
        The closed formula (:func:`interpolation_value`) or the LP in CVXPY.
    solver : str, optional
        CVXPY solver for ``method="cvxpy"``.

    Returns
    -------
    Interpolant

    Examples
    --------
    >>> import dualnet as dn
    >>> fit = dn.min_norm_interpolant([-1.0, 0.0, 1.0], [0.0, 1.0, 0.0])
    >>> fit.value, fit.knots.tolist()
    (2.0, [0.0])
    >>> fit.predict([-0.5, 0.5]).round(6).tolist()
    [0.5, 0.5]
    """
    X = _as_inputs(x)
    Y, _ = as_labels(y, X.shape[0], "min_norm_interpolant")
    if Y.shape[1] != 1:
        raise InputError(f"The 'y' parameter of min_norm_interpolant must be 1-D (one output). Got shape {Y.shape} "
                         "instead. Interpolate each output separately.")
    from ...validation import check_depth

    depth = check_depth(depth, "min_norm_interpolant")
    t = check_t(t, "min_norm_interpolant")
    t = 1.0 if t is None else t
    method = check_choice(method, "method", ("closed-form", "cvxpy"), "min_norm_interpolant")
    solver = check_solver(solver, "min_norm_interpolant")
    grid = make_grid(X)
    values = grid.means(Y)
    spread = np.abs(Y - values[grid.group])
    if np.any(spread > 1e-12 * max(1.0, float(np.max(np.abs(Y))))):
        i = int(np.argmax(spread))
        raise InputError(f"The 'y' parameter of min_norm_interpolant must take one value per distinct x. Got "
                         f"different y values at x={float(X[i, 0])!r}. No network interpolates them; use dn.solve with "
                         "bias=True and a small beta instead.")
    atoms = two_layer_atoms(values, grid) if depth == 2 else ramp_atoms(values, grid)
    net = network_from_atoms(atoms, depth, t if depth >= 3 else None)
    knots = knots_of(net, grid, values)
    if method == "closed-form":
        value = interpolation_value(grid.knots, values[:, 0], depth, t)
        return Interpolant(value, knots, net, "closed-form", atoms, depth, t)
    prog = _interpolation_lp(grid, values, depth, t)
    _, how = solve_cvxpy(prog, solver)
    return Interpolant(float(prog.value), knots, net, how, atoms, depth, t, prog)


def _as_inputs(x: Any) -> np.ndarray:
    from ...validation import as_array, as_data

    # Through validation first: a non-numeric x (a string, a list of names) is an InputError, not NumPy's ValueError.
    arr = as_array(x, "x", "min_norm_interpolant")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    X = as_data(arr, "min_norm_interpolant", "x")
    if X.shape[1] != 1:
        raise InputError(f"The 'x' parameter of min_norm_interpolant must be one-dimensional (n_samples,) or "
                         f"(n_samples, 1). Got shape {X.shape} instead. Pass a single feature.")
    return X


def _interpolation_lp(grid: Grid, values: np.ndarray, depth: int, t: float) -> cp.Problem:
    """Min Σ|z| + Σ|z′| (depth 2) or t^{2−L}·½ TV(zero-padded slopes) s.t. the network interpolates."""
    m = grid.m
    c = cp.Variable((1, 1))
    if m == 1:
        return cp.Problem(cp.Minimize(0), [c == values[:1]])
    if depth == 2:
        z, zl = cp.Variable((m - 1, 1)), cp.Variable((m - 1, 1))
        slopes = _kink_slopes(z, zl, m)
        cost = cp.sum(cp.abs(z)) + cp.sum(cp.abs(zl))
    else:
        slopes = cp.Variable((m - 1, 1))
        jumps = cp.vstack([slopes[:1], slopes[1:] - slopes[:-1], -slopes[-1:]]) if m > 2 else cp.vstack(
            [slopes, -slopes])
        cost = t ** (2 - depth) * 0.5 * cp.sum(cp.abs(jumps))
    return cp.Problem(cp.Minimize(cost), [_values_from_slopes(c, slopes, grid, 1) == values])
