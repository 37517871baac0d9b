"""A spline as atoms (kinks, ramps) and the networks that compute it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...losses import Loss
from ...network import Network
from .grid import Grid
from .primal import PrimalProgram

__all__ = ["Atoms", "breakpoints", "knots_of", "network_from_atoms", "predictions", "ramp_atoms", "two_layer_atoms",
           "atoms_objective", "values_on_grid"]


@dataclass(frozen=True)
class Atoms:
    """A spline as atoms: f(x) = b0 + Σ kinks + Σ ramps.

    ``right``/``left``: (m, K) amplitudes of (x − ξ_k)_+ and (ξ_k − x)_+ (depth 2);
    ``ramps``: list of (p, q, c) with c ∈ R^K for c·((x − ξ_p)_+ − (x − ξ_q)_+) (depth ≥ 3).
    """

    grid: Grid
    b0: np.ndarray
    right: np.ndarray | None = None
    left: np.ndarray | None = None
    ramps: tuple[tuple[int, int, np.ndarray], ...] = ()

    @property
    def cost(self) -> float:
        """Σ‖amplitude‖: the ℓ1 (group) norm the finite programs penalize."""
        total = sum(float(np.linalg.norm(cc)) for _, _, cc in self.ramps)
        for A in (self.right, self.left):
            if A is not None:
                total += float(np.sum(np.linalg.norm(A, axis=1)))
        return total


def values_on_grid(atoms: Atoms) -> np.ndarray:
    """The spline of ``atoms`` at ξ_1..ξ_m, shape (m, K), by two cumulative sums: O(m + atoms).

    A right kink at ξ_k adds its amplitude to the slopes right of ξ_k, a left kink adds it
    across ξ_k and has slope −z left of it, a ramp (p, q, c) has slope c on [ξ_p, ξ_q].
    """
    grid, K = atoms.grid, atoms.b0.size
    jumps = np.zeros((grid.m, K))
    first = np.array(atoms.b0, dtype=float).reshape(K).copy()         # f(ξ_1)
    start = np.zeros(K)                                                # slope left of ξ_1
    if atoms.right is not None:
        jumps += atoms.right
    if atoms.left is not None:
        jumps += atoms.left
        start -= atoms.left.sum(axis=0)
        first += (grid.knots - grid.knots[0]) @ atoms.left
    for p, q, c in atoms.ramps:
        jumps[p] += c
        jumps[q] -= c
    slopes = start + np.cumsum(jumps, axis=0)[:-1]                    # on [ξ_j, ξ_{j+1}]
    steps = np.cumsum(grid.gaps[:, None] * slopes, axis=0)
    return first + np.vstack([np.zeros((1, K)), steps])


def atoms_objective(atoms: Atoms, loss: Loss, Y: np.ndarray, beta_t: float) -> tuple[float, float]:
    """(loss + β_t·cost, loss): the objective of the network of ``atoms`` (two layers, or the t-form at β_t).

    The loss comes from the spline's values on the grid (O(n + atoms), no network); each
    atom's neuron or branch pays β_t times its amplitude (docs/settings/spline.md#recovery).
    """
    value = loss.value(values_on_grid(atoms)[atoms.grid.group], Y)
    return value + beta_t * atoms.cost, value


def two_layer_atoms(values: np.ndarray, grid: Grid) -> Atoms:
    """The cheapest right/left ReLU representation of the values at ξ_1..ξ_m (one output, closed form).

    With slopes s_j and slope changes D_k at interior kinks (positive mass P, negative N),
    each D_k is split between a right and a left atom of its own sign; the left atoms'
    total Z′ = clip(−s_1, −N, P) leaves the smallest affine remainder c_0 = s_1 + Z′ for
    the right atom at ξ_1. The cost is Σ|D_k| + |c_0| (= :func:`interpolation_value`).
    """
    F = np.asarray(values, dtype=float).reshape(-1)
    m = grid.m
    right, left = np.zeros((m, 1)), np.zeros((m, 1))
    if m == 1:
        return Atoms(grid, F[:1].copy(), right, left)
    s = np.diff(F) / grid.gaps
    D = np.diff(s)
    P, N = float(np.sum(np.maximum(D, 0))), float(np.sum(np.maximum(-D, 0)))
    Zl = float(np.clip(-s[0], -N, P))
    if Zl >= 0:
        zl = np.maximum(D, 0) * (Zl / P if P > 0 else 0.0)
    else:
        zl = np.minimum(D, 0) * (-Zl / N if N > 0 else 0.0)
    right[0, 0] = s[0] + Zl
    right[1:m - 1, 0] = D - zl
    left[1:m - 1, 0] = zl
    b0 = F[:1] - np.sum(left[:, 0] * (grid.knots - grid.knots[0]))
    return Atoms(grid, b0, right, left)


def ramp_atoms(values: np.ndarray, grid: Grid) -> Atoms:
    """The cheapest ramp representation of the values (one output, closed form).

    The zero-padded slopes jump by δ_k at ξ_k with Σδ = 0; pairing each jump with the
    latest open jump of the other sign (a stack) writes f − f(ξ_1) as Σ c·ramp with
    Σ|c| = ½Σ|δ|, which is also a lower bound since every ramp adds 2|c| to Σ|δ|.
    """
    F = np.asarray(values, dtype=float).reshape(-1)
    if grid.m == 1:
        return Atoms(grid, F[:1].copy())
    s = np.diff(F) / grid.gaps
    return Atoms(grid, F[:1].copy(), ramps=_ramps_from_jumps(np.diff(np.r_[0.0, s, 0.0])))


def _ramps_from_jumps(jumps: np.ndarray) -> tuple[tuple[int, int, np.ndarray], ...]:
    """Pair the slope jumps δ_k (at ξ_1..ξ_m, Σδ = 0) into ramps (p, q, c), p < q."""
    ramps: list[tuple[int, int, np.ndarray]] = []
    stack: list[list[float]] = []                        # [position, signed open amount]
    for k, d in enumerate(np.asarray(jumps, dtype=float)):
        while d != 0 and stack and np.sign(stack[-1][1]) == -np.sign(d):
            p, amount = stack[-1]
            used = min(abs(d), abs(amount))
            ramps.append((int(p), k, np.array([np.sign(amount) * used])))
            stack[-1][1] = amount - np.sign(amount) * used
            d = d - np.sign(d) * used
            if stack[-1][1] == 0:
                stack.pop()
        if d != 0:
            stack.append([k, d])
    return tuple(r for r in ramps if r[2][0] != 0)


def _atoms_from_program(prog: PrimalProgram, K: int) -> Atoms:
    """The solver's own atoms of a solved primal (round-off pruned): the fallback recovery."""
    grid = prog.grid
    c = np.asarray(prog.variables["c"].value, dtype=float).reshape(-1)
    if grid.m == 1:
        return Atoms(grid, c)
    if prog.kind == "kinks":
        right, left = np.zeros((grid.m, K)), np.zeros((grid.m, K))
        right[:-1] = _pruned(prog.variables["z"].value)
        left[1:] = _pruned(prog.variables["z_left"].value)
        b0 = c - left.T @ (grid.knots - grid.knots[0])
        return Atoms(grid, b0, right, left)
    if prog.kind == "slopes":
        s = np.asarray(prog.variables["slopes"].value, dtype=float)[:, 0]
        return Atoms(grid, c, ramps=_ramps_from_jumps(_pruned(np.diff(np.r_[0.0, s, 0.0])[:, None])[:, 0]))
    C = _pruned(prog.variables["ramps"].value)
    ramps = tuple((int(p), int(q), C[i].copy()) for i, (p, q) in enumerate(prog.pairs) if np.any(C[i] != 0))
    return Atoms(grid, c, ramps=ramps)


def _pruned(A: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Zero the rows that are solver round-off (norm ≤ rtol × the largest row)."""
    A = np.asarray(A, dtype=float).copy()
    norms = np.linalg.norm(A, axis=1)
    if norms.size and norms.max() > 0:
        A[norms <= rtol * norms.max()] = 0.0
    return A


# --------------------------------------------------------------------------- networks
def network_from_atoms(atoms: Atoms, depth: int, t: float | None) -> Network:
    """A network whose function is the spline of ``atoms``.

    Depth 2: one hidden neuron per atom, w = ±√‖z‖, b = ∓√‖z‖ ξ, output z/√‖z‖, output
    bias b0 (weight decay cost β‖z‖ per neuron, docs/settings/spline.md#primal-and-dual). Depth ≥ 3: one width-1 branch
    per ramp in the t-form, layers 1..L−2 of norm t, the last two balanced; with
    ``t=None`` every branch is then balanced for weight decay on all layers.
    """
    K = atoms.b0.size
    if depth == 2:
        return _two_layer_network(atoms, K)
    tt = 1.0 if t is None else t
    branches = [_ramp_branch(atoms.grid.knots[p], atoms.grid.knots[q], cc, depth, tt) for p, q, cc in atoms.ramps]
    if not branches:
        branches = [[(np.zeros((1, 1)), np.zeros(1))] + [(np.zeros((1, 1)), None)] * (depth - 2)
                    + [(np.zeros((1, K)), None)]]
    W, _ = branches[0][-1]
    branches[0][-1] = (W, atoms.b0.copy())
    net = Network(branches, "relu")
    return net.balanced() if t is None else net


def _two_layer_network(atoms: Atoms, K: int) -> Network:
    pos, sign, amp = [], [], []
    for A, orient in ((atoms.right, 1.0), (atoms.left, -1.0)):
        if A is None:
            continue
        for k in np.flatnonzero(np.linalg.norm(A, axis=1) > 0):
            pos.append(atoms.grid.knots[k])
            sign.append(orient)
            amp.append(A[k])
    if not amp:
        return Network([[(np.zeros((1, 1)), np.zeros(1)), (np.zeros((1, K)), atoms.b0.copy())]], "relu")
    pos, sign, amp = np.array(pos), np.array(sign), np.array(amp)
    root = np.sqrt(np.linalg.norm(amp, axis=1))
    W1 = (sign * root)[None, :]
    return Network([[(W1, -sign * root * pos), (amp / root[:, None], atoms.b0.copy())]], "relu")


def _ramp_branch(p: float, q: float, c: np.ndarray, depth: int, t: float) -> list:
    """Width-1 branch computing c·((x − p)_+ − (x − q)_+), layers 1..L−2 of norm t.

    Layer 1 gives t(q − x)_+; the next layer (bias t·(scale)(q − p)) turns it into the ramp
    σ(const − ·); further layers multiply by t; the last two layers split the rest evenly.
    """
    amp = float(np.linalg.norm(c))
    a = np.sqrt(amp * t ** (2 - depth))                  # balances the last two layers (Lemma A.1)
    last = (c / amp * a)[None, :]
    layers = [(np.array([[-t]]), np.array([t * q]))]
    if depth == 3:
        layers.append((np.array([[-a]]), np.array([a * t * (q - p)])))
    else:
        layers.append((np.array([[-t]]), np.array([t * t * (q - p)])))
        layers += [(np.array([[t]]), None) for _ in range(depth - 4)]
        layers.append((np.array([[a]]), None))
    layers.append((last, None))
    return layers


#: largest rows × (widest layer) of one block of a forward pass (32 MB of float64)
BLOCK_ENTRIES = 4_000_000

#: rows checked against a direct forward pass when predictions are interpolated between breakpoints
CHECK_ROWS = 256


def predictions(net: Network, X: np.ndarray) -> np.ndarray:
    """``net.forward(X)`` in O(n + width·breakpoints) for one input, else in row blocks (O(n + block) memory).

    On one-dimensional inputs a ReLU network whose breakpoints are known (:func:`breakpoints`)
    is affine between consecutive ones, so a forward pass at the breakpoints inside the
    data's range and at its ends, then linear interpolation, gives its predictions on every
    row, whatever n (at n = 3·10⁵ with 2 000–4 000 neurons, 0.1 s instead of 6–12 s per pass).
    Rows spread over the data (:data:`CHECK_ROWS`) are compared with a direct forward pass;
    a disagreement beyond round-off falls back to the blocked pass.
    """
    knots = breakpoints(net) if X.ndim == 2 and X.shape[1] == 1 else None
    if knots is not None and X.shape[0] > 4 * (knots.size + 2):
        F = _interpolated(net, X[:, 0], knots)
        if F is not None:
            return F
    return _blocked(net, X)


def _blocked(net: Network, X: np.ndarray) -> np.ndarray:
    # The forward pass holds one branch's layers at a time, so a block's memory is rows × the widest
    # layer, not rows × all neurons: sized by the sum, the t-form's thousands of width-1 branches got
    # blocks of a few hundred rows and a Python call per branch and block (1.4 million calls, 26 s
    # of the 85 s at n = 10⁶, depth 3).
    width = max((int(W.shape[1]) for branch in net.branches for W, _ in branch[:-1]), default=1)
    rows = max(1, BLOCK_ENTRIES // max(width, 1))
    if X.shape[0] <= rows:
        return net.forward(X)
    return np.vstack([net.forward(X[i:i + rows]) for i in range(0, X.shape[0], rows)])


def _interpolated(net: Network, x: np.ndarray, knots: np.ndarray) -> np.ndarray | None:
    """Predictions by interpolation between the values at the breakpoints, or None if a checked row disagrees."""
    lo, hi = float(np.min(x)), float(np.max(x))
    pts = np.unique(np.r_[lo, knots[(knots > lo) & (knots < hi)], hi])
    at_pts = _blocked(net, pts[:, None])
    F = np.stack([np.interp(x, pts, at_pts[:, k]) for k in range(at_pts.shape[1])], axis=1)
    rows = np.linspace(0, x.size - 1, min(CHECK_ROWS, x.size)).astype(int)
    direct = net.forward(x[rows, None])
    scale = max(1.0, float(np.max(np.abs(at_pts))))
    return F if np.max(np.abs(direct - F[rows])) <= 1e-9 * scale else None


def breakpoints(net: Network) -> np.ndarray | None:
    """Inputs where a ReLU network of one input may change slope (sorted), or None when not known here.

    Known for branches of depth 2 (a hidden neuron kinks at −b/w) and for branches whose
    hidden layers all have width one (the ramps and chains built here): every
    pre-activation z_l of such a branch is a monotone function of x (a composition of
    monotone maps), so it crosses zero at most once, where z_{l−1} = −b_l/w_l when that
    is positive, and so on down to x = (c − b_1)/w_1.
    """
    if net.activation != "relu" or net.batchnorm is not None or net.n_features != 1:
        return None
    found: list[np.ndarray] = []
    for branch in net.branches:
        hidden = branch[:-1]
        if len(hidden) == 1:
            W, b = hidden[0]
            w, c = W[0], (np.zeros(W.shape[1]) if b is None else b)
            found.append(-c[w != 0] / w[w != 0])
        elif all(W.shape[1] == 1 for W, _ in hidden):
            found.append(_chain_breakpoints([(float(W[0, 0]), 0.0 if b is None else float(b[0])) for W, b in hidden]))
        else:
            return None
    return np.unique(np.concatenate(found)) if found else np.zeros(0)


def _chain_breakpoints(layers: list[tuple[float, float]]) -> np.ndarray:
    """Where z_l = w_l σ(z_{l−1}) + b_l (z_1 = w_1 x + b_1) crosses zero, each l (at most one point each)."""
    points = []
    for top in range(len(layers)):
        level = 0.0                                     # the value z_top must take
        for w, b in layers[top:0:-1]:                   # z_l = level ⇔ σ(z_{l−1}) = (level − b_l)/w_l
            level = (level - b) / w if w != 0 else -1.0
            if level <= 0:                              # σ(z) = level < 0 never; = 0 on a half-line (no new kink)
                break
        else:
            w1, b1 = layers[0]
            if w1 != 0:
                points.append((level - b1) / w1)
    return np.array(points)


def knots_of(net: Network, grid: Grid, Y: np.ndarray | None = None, rtol: float = 1e-6) -> np.ndarray:
    """Data points where the function of ``net`` changes slope.

    A change counts when it exceeds rtol × (the larger of the network's steepest slope and
    the labels' spread over the input range), so solver round-off on a flat fit is not a
    kink. Every network built here has its breakpoints at data points, so the function is
    evaluated at the distinct inputs and one point beyond each end.
    """
    x = grid.knots
    if grid.m == 1:
        return x[:0]
    span = float(x[-1] - x[0])
    pts = np.r_[x[0] - span, x, x[-1] + span]
    F = predictions(net, pts[:, None])
    slopes = np.diff(F, axis=0) / np.diff(pts)[:, None]
    jumps = np.linalg.norm(np.diff(slopes, axis=0), axis=1)
    scale = float(np.max(np.linalg.norm(slopes, axis=1)))
    if Y is not None:
        scale = max(scale, float(np.max(np.ptp(Y, axis=0))) / span)
    return x[jumps > rtol * scale] if scale > 0 else x[:0]
