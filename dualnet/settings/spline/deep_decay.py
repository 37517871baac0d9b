"""Weight decay on all layers of a deep network on 1-D data: a search over t (docs/theory/framework.md).

Two families of networks compete (docs/settings/spline.md#deep-weight-decay):

* parallel ramps: the ramp program at β t^{2−L}, one width-1 branch per ramp, each
  branch balanced; weight decay then charges each branch (β L/2) s_j^{2/L}, a concave
  price per branch that at large depth is nearly the same for every active branch;
* one chain: the two-layer program at β t^{2−L} (a spline of two-layer cost V₂), its
  two layers followed by width-1 layers; all kinks share one path, so weight decay
  charges (β L/2) V₂^{2/L} once.

The lower bound (``wd_path_lower_bound``) charges a spline f the ramp cost V_r(f) of one
shared path, (β L/2) V_r^{2/L}. Since V₂ ≤ 2 V_r, the chain lies within a factor 2^{2/L}
of it on the penalty. Neither end is tight in general: a network that folds its input
(f(|x − c|), a composition) pays exactly V_r for some functions of several ramps (two equal
hats: V_r = 4, V₂ = 8), which no family here builds, and for others the least cost of a
deep network is unknown, so the two bounds need not meet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize_scalar

from ...budget import Budget
from ...certificate import wd_path_bound_at
from ...network import Network
from ...problem import DualProgram, Fit, Problem
from ...weight_decay import polish
from .atoms import Atoms, _two_layer_network, atoms_objective, knots_of, network_from_atoms
from .conic import ConicDual
from .dual import dual_for, solve_dual
from .grid import make_grid, project_dual, rho

#: seeded random-start L-BFGS runs that compete with the polished search result under weight
#: decay on deep networks (its landscape has basins the one-t search does not reach)
RESTARTS = 2

#: width of those random starts: a deep network on 1-D data folds its input, so a narrow one reaches
#: many kinks; four times the found network's widest layer (its kinks, for the chain) made one L-BFGS
#: iteration at depth 8 outlast the polish's whole budget (measured: 2.4 s against a 0.6 s share)
RESTART_WIDTH = 16

#: time of all L-BFGS polishing, as a multiple of the search's own (wall) time, without time_limit:
#: the random start that certifies the case of tests/settings/test_spline.py::
#: test_deep_weight_decay_is_polished_to_the_bound needs about 0.6 of the search's time
POLISH_SHARE = 0.6

#: points of each family's coarse pass over t (log-spaced on [t_lo, t_hi])
N_GRID = 9

#: most solves spent raising the lower bound, and refining each family's best value
MAX_BOUND_NODES = 8
MAX_REFINE = 8

#: a family's value is refined until a step is predicted to gain at most this fraction of tol·value
REFINE_STALL = 0.01

#: the chain's refinement stops once |log t − log V₂(t)/L| or its bracket in log t is this small
BALANCE_TOL = 1e-6

#: a point's atoms are recovered only while its estimated value (squared loss: from the dual point
#: alone) is within this fraction above the best value found (measured: the estimate exceeds the
#: recovered value by at most 4e-4 relative)
PRUNE = 0.01

#: the dual-point estimate is used only where the penalty β_t C is at least this fraction of P(0)
ESTIMATE_FLOOR = 1e-5

#: the recovery of ``fit``: (dual point U, its value, method, problem, t, β_t) → (atoms, method)
Recover = Callable[[np.ndarray, float, str, Problem, "float | None", float], "tuple[Atoms, str]"]

NOTE = ("weight decay on all layers of a deep network: the lower bound min over t of D_t + beta(L-2)t^2/2 charges "
        "a spline the ramp cost V_r of one shared path, (beta L/2) V_r^(2/L) (proven: a ReLU network's slope "
        "variation is at most twice the product of its layer norms); the networks built here pay that price per "
        "ramp (parallel ramps) or the two-layer cost V_2 <= 2 V_r once (one chain). Neither end is known to be "
        "tight: networks that fold the input (compositions such as g(|x - c|), not built here) reach the bound "
        "for some functions of several ramps, and no tighter lower bound is proven, so the optimum lies "
        "between the two and the network returned is the best one found, not a proven optimum")

__all__ = ["chain_network", "fit_weight_decay"]


def chain_network(two_layer: Network, depth: int, knots: np.ndarray) -> Network | None:
    """The function of a two-layer network computed by a depth-L chain at weight-decay cost (β L/2)(‖W₁‖‖W₂‖)^{2/L}.

    Layers 1–2 are the two-layer network's (its head h without the output bias). Layer 2's
    bias lifts h above zero on the inputs' range extended by ten spans on each side, so
    the width-1 layers 3..L pass it on unchanged there; the output bias takes the lift
    back. Every layer gets norm τ = (‖W₁‖‖W₂‖)^{1/L}: the product of the layer scales is
    one, so the function is the two-layer network's, and the penalty is (β L/2) τ² by
    AM–GM the least for that product. With a neuron-wise balanced two-layer network
    (|w_k| = |a_k|) the product is its two-layer cost V₂. One output only (None otherwise,
    or for a constant network).

    Examples
    --------
    >>> import numpy as np
    >>> from dualnet.network import Network
    >>> from dualnet.settings.spline import chain_network
    >>> two = Network([[(np.array([[1.0, -1.0]]), np.array([0.0, 0.0])), (np.array([[1.0], [1.0]]), np.array([0.5]))]])
    >>> x = np.array([[-1.0], [0.0], [2.0]])
    >>> deep = chain_network(two, 5, x[:, 0])
    >>> deep.depth, np.allclose(deep.forward(x), two.forward(x)), round(deep.penalty(1.0), 5)   # (5/2)·2^{2/5}
    (5, True, 3.29877)
    """
    (W1, b1), (W2, b0) = two_layer.branches[0]
    n1, n2 = float(np.linalg.norm(W1)), float(np.linalg.norm(W2))
    if depth < 3 or W2.shape[1] != 1 or two_layer.n_branches != 1 or n1 * n2 == 0:
        return None
    tau = (n1 * n2) ** (1.0 / depth)
    a, c = tau / n1, tau / n2
    span = float(np.ptp(knots)) or 1.0
    ends = np.r_[knots.min() - 10 * span, knots, knots.max() + 10 * span][:, None]
    head = np.maximum(ends @ (W1 * a) + b1 * a, 0.0) @ (W2 * c)           # h is linear between these points
    lift = max(0.0, -float(head.min())) + 1.0
    layers = [(W1 * a, b1 * a), (W2 * c, np.array([lift]))]
    layers += [(np.array([[tau]]), None) for _ in range(depth - 3)]
    layers.append((np.array([[tau]]), np.asarray(b0, dtype=float) - lift * tau ** (depth - 2)))
    return Network([layers], "relu")


@dataclass
class _Point:
    """One solve of the search: the family's network at t, its weight-decay value and the dual point met."""

    t: float
    value: float                    # the network's; a lower bound on it where ``atoms`` is None
    atoms: Atoms | None             # None: not recovered (the estimate put it above the best value)
    U: np.ndarray
    family: str                     # "ramps" (parallel branches) or "chain"
    loss: float                     # the fit's loss (estimated where ``atoms`` is None)
    cost: float                     # C, the program's Σ‖amplitude‖ at t
    floor: float                    # (β L/2) C^{2/L}: no larger t values the family below it


class _Search:
    """The search over t for both families, its dual points, and how far the lower bound can still move.

    Each solve is the convex program at β t^{2−L} (one direct conic program per family,
    re-solved at each threshold); the family's weight-decay value is computed from the atoms
    (the spline on the grid, O(n + atoms)), so no network is built until the best is known.
    The atoms are recovered only where the value estimated from the dual point alone
    (:meth:`_estimate`) is within :data:`PRUNE` of the best; elsewhere the point keeps that
    lower estimate, its dual point and its cost. ``ceiling`` is min over the solves of (the
    program's objective at t) + β(L−2)t²/2: an upper bound on min_t [D_t + β(L−2)t²/2], the
    most any set of dual points can prove, so once the proven bound is within tol·P(0) of it,
    more solves cannot move the bound.
    """

    def __init__(self, pb: Problem, recover: Recover) -> None:
        self.pb, self.recover = pb, recover
        self.p0 = pb.loss.zero_value(pb.Y)
        self.stall = pb.tol * self.p0
        self.points: list[_Point] = []
        self.dual_path: list[tuple[float, np.ndarray]] = []
        self.methods: list[str] = []
        self.ceiling = math.inf
        self.programs: dict[str, DualProgram | ConicDual] = {}
        self.grids: dict[str, np.ndarray] = {}
        self.grid = make_grid(pb.X)
        self._rho: dict[int, tuple[float, bool]] = {}
        self._bound: tuple[int, tuple[float, bool, float]] = (-1, (-math.inf, False, 0.0))

    def evaluate(self, family: str, t: float) -> _Point:
        for point in self.points:
            if point.family == family and point.t == t:
                return point
        pb, L, beta = self.pb, self.pb.depth, self.pb.beta
        beta_t = beta * t ** (2 - L)
        program = self._program(family)
        if family == "ramps":
            program.set_beta(beta, t)
            sub, t_form = replace(pb, t=t), t
        else:
            program.set_beta(beta_t)
            sub, t_form = replace(pb, depth=2, t=None, beta=beta_t), None
        U, target, method = solve_dual(program, sub)
        U = project_dual(U, pb.Y, pb.loss)
        estimate = self._estimate(U, beta_t, family)
        best = min((p.value for p in self.points if p.atoms is not None), default=math.inf)
        if estimate is not None and estimate[0] > (1.0 + PRUNE) * best:
            (value, cost), atoms, objective = estimate, None, target
            loss = 0.5 * float(np.sum(U * U))
        else:
            atoms, method = self.recover(U, target, method, sub, t_form, beta_t)
            if family == "ramps":
                scales = [float(np.linalg.norm(c)) for _, _, c in atoms.ramps]   # one balanced branch per ramp
            else:
                scales = [atoms.cost] if atoms.cost > 0 else [math.inf]         # one chain of cost V₂
            objective, loss = atoms_objective(atoms, pb.loss, pb.Y, beta_t)
            value, cost = loss + 0.5 * beta * L * sum(c ** (2.0 / L) for c in scales), atoms.cost
        # P_t ≤ this objective for both families (the two-layer dictionary is inside the ramps'); the
        # dual value where the atoms were not recovered (P_t = D_t up to the solver's accuracy)
        self.ceiling = min(self.ceiling, objective + 0.5 * beta * (L - 2) * t * t)
        point = _Point(t, value, atoms, U, family, loss, cost, 0.5 * beta * L * cost ** (2.0 / L))
        self.points.append(point)
        self.methods.append(method)
        self.dual_path.append((t, U))
        return point

    def _estimate(self, U: np.ndarray, beta_t: float, family: str) -> tuple[float, float] | None:
        """(a lower bound on the family's value at t, the program's cost) from the dual point alone; squared loss.

        At the optimum the residual is U, so the loss is ½‖U‖², the fit F = Y − U and, with
        P_t = D_t = ⟨U, Y⟩ − ½‖U‖², the cost is C = ⟨U, Y − U⟩/β_t. The chain's value is
        loss + (β L/2) C^{2/L}. The ramps pay at least that, and at least loss + (β L/4)
        Σ_k |δ_k|^{2/L} with δ_k the slope jumps of F (zero slope outside the data): each
        ramp makes two jumps, and a jump shared by ramps is at most the sum of their
        amplitudes, which the concave power splits. Jumps below 1% of the largest are left out:
        the interior point smears a sparse spline's jumps (measured: a jump of 0.2% of the
        largest that the recovered atoms do not have added 0.7% to the value at depth 3). None
        (recover) unless squared loss, and where β_t C is below :data:`ESTIMATE_FLOOR` of P(0):
        there the solver's accuracy, divided by β_t, swamps the cost (measured: 1266 for 480).
        """
        if self.pb.loss.name != "squared":
            return None
        Y, L, beta = self.pb.Y, self.pb.depth, self.pb.beta
        loss = 0.5 * float(np.sum(U * U))
        penalty = float(np.sum(U * (Y - U)))                                  # β_t C
        if penalty < ESTIMATE_FLOOR * self.p0:
            return None
        cost = penalty / beta_t
        value = loss + 0.5 * beta * L * cost ** (2.0 / L)
        if family == "ramps" and self.grid.m >= 2:
            F = self.grid.means(Y - U)
            slopes = np.diff(F, axis=0) / self.grid.gaps[:, None]
            jumps = np.linalg.norm(np.diff(slopes, axis=0, prepend=0.0, append=0.0), axis=1)
            jumps = jumps[jumps > 1e-2 * jumps.max(initial=0.0)]
            value = max(value, loss + 0.25 * beta * L * float(np.sum(jumps ** (2.0 / L))))
        return value, cost

    def _program(self, family: str) -> DualProgram | ConicDual:
        """The family's dual, built once and re-solved at every threshold."""
        if family not in self.programs:
            depth, t = (self.pb.depth, 1.0) if family == "ramps" else (2, None)
            self.programs[family] = dual_for(self.pb, depth, t, many=True)
        return self.programs[family]

    def best(self, family: str | None = None) -> _Point:
        """The least value met (of ``family``); overall always a recovered point (no other is below it)."""
        return min((p for p in self.points if family in (None, p.family)), key=lambda p: p.value)

    def bound(self) -> tuple[float, bool, float]:
        """The certificate's bound from the dual points met, whether proven, and the radius where it is attained."""
        if self._bound[0] != len(self.dual_path):
            pb = self.pb
            self._bound = (len(self.dual_path),
                           wd_path_bound_at(self.dual_path, pb.Y, pb.loss, pb.beta, pb.depth, self._rho_at))
        return self._bound[1]

    def _rho_at(self, U: np.ndarray) -> tuple[float, bool]:
        key = id(U)
        if key not in self._rho:
            self._rho[key] = rho(U, self.pb.X, self.pb.depth, 1.0)
        return self._rho[key]

    def meets(self) -> bool:
        """Whether the dual points met certify the best network (the certificate's own bound)."""
        bound, exact, _ = self.bound()
        return exact and self.best().value - bound <= self.stall

    def done(self) -> bool:
        return self.meets() or self.pb.budget.expired()

    def scan(self, family: str, t_lo: float, t_hi: float) -> None:
        """The family's coarse pass, in increasing t, until no larger t can give a lower value.

        The program's cost C is non-increasing in its threshold β t^{2−L} (compare the two
        optimality conditions), so every larger t values the family at least (β L/2) C^{2/L}:
        the chain pays it exactly, the ramps Σ s_j^{2/L} ≥ (Σ s_j)^{2/L} (concave power). The
        pass also ends once the fit interpolates (loss within tol·P(0)): larger t only move
        the spline toward the least-cost interpolant (measured at depth 50: five more points
        within 3e-6 of each other, each needing the finite primal as β t^{2−L} fell below
        1e-9). At t_lo the program has only the constant network, which no chain computes: the
        chain's pass starts one step above it.
        """
        grid = np.geomspace(t_lo, t_hi, N_GRID)
        self.grids[family] = grid
        for t in grid[1:] if family == "chain" else grid:
            if self.pb.budget.expired():
                return
            point = self.evaluate(family, float(t))
            if point.floor > self.best().value or point.loss <= self.stall:
                return

    def tighten(self) -> None:
        """Ramp solves where the bound is attained, until it is within tol·P(0) of what it could reach."""
        for _ in range(MAX_BOUND_NODES):
            bound, exact, t_at = self.bound()
            met = [p.t for p in self.points]
            if (not exact or self.ceiling - bound <= self.stall or not 0 < t_at < math.inf
                    or min(abs(math.log(t_at / t)) for t in met) < 1e-6 or self.done()):
                return
            self.evaluate("ramps", t_at)

    def refine(self, family: str, stall: float) -> None:
        """The family's best t near its best grid point, in at most :data:`MAX_REFINE` solves.

        The chain's by a root of its balance (:meth:`_balance_root`) where the grid brackets
        one; otherwise Brent's method in log t between the neighbours of the best grid point:
        parabolic steps with golden-section safeguards (the value is not smooth in t where the
        active kinks change: a sharp valley at depth 50). Either stops once the best value is
        within ``stall`` of the proven bound.
        """
        bound, exact, _ = self.bound()     # the bound so far: the refinement's points only raise it

        def value(x: float) -> _Point:
            if self.pb.budget.expired() or exact and self.best().value - bound <= stall:
                raise _Stop                 # out of time, or no gain left that could be proven
            return self.evaluate(family, math.exp(x))

        try:
            if family != "chain" or not self._balance_root(value):
                self._brent(family, value)
        except _Stop:
            pass

    def _brent(self, family: str, value: Callable[[float], _Point]) -> None:
        ts = sorted({p.t for p in self.points if p.family == family} | set(self.grids.get(family, ())))
        j = ts.index(self.best(family).t)
        if j in (0, len(ts) - 1) or not np.isfinite(self.best(family).value):
            return                          # at an end of the scanned range, or nothing to refine
        minimize_scalar(lambda x: value(x).value, bounds=(math.log(ts[j - 1]), math.log(ts[j + 1])),
                        method="bounded", options={"xatol": 1e-5, "maxiter": MAX_REFINE})

    def _balance_root(self, value: Callable[[float], _Point]) -> bool:
        """The chain's best t: a root of h(t) = log t − log V₂(t)/L, by the Illinois method.

        Along the program's path the loss moves by −β_t dV₂ (the derivative of its optimal
        objective in β_t is V₂), so the chain's value loss + (β L/2)V₂^{2/L} has derivative
        V₂'·(β V₂^{2/L−1} − β_t) in β_t, V₂' ≤ 0: it falls where h < 0 (t < V₂(t)^{1/L}) and
        rises where h > 0. Its local minima are where h turns from negative to positive: the
        program's t is then the chain's own layer norm. The grid pair that brackets such a
        turn next to the best value is narrowed (the root is found in 3–4 solves where Brent's
        method on the value took 8). False when the grid brackets no turn.
        """
        h = self._balance
        grid = sorted((p for p in self.points if p.family == "chain" and p.cost > 0), key=lambda p: p.t)
        brackets = [(a, b) for a, b in zip(grid, grid[1:]) if h(a) < 0 <= h(b)]
        if not brackets:
            return False
        a, b = min(brackets, key=lambda ab: min(ab[0].value, ab[1].value))
        (xa, ha), (xb, hb), side = (math.log(a.t), h(a)), (math.log(b.t), h(b)), 0
        for _ in range(MAX_REFINE):
            x = (xa * hb - xb * ha) / (hb - ha)
            point = value(x)
            hx = h(point)
            if hx < 0:
                xa, ha, hb, side = x, hx, hb / 2 if side < 0 else hb, -1     # Illinois: halve the stuck end
            else:
                xb, hb, ha, side = x, hx, ha / 2 if side > 0 else ha, 1
            if abs(hx) <= BALANCE_TOL or xb - xa <= BALANCE_TOL:
                break
        return True

    def _balance(self, point: _Point) -> float:
        """h(t) = log t − log V₂(t)/L for a chain point (+∞ for the constant network, V₂ = 0)."""
        return math.log(point.t) - math.log(point.cost) / self.pb.depth if point.cost > 0 else math.inf


class _Stop(Exception):
    """Ends a refinement early (caught in :meth:`_Search.refine`)."""


def fit_weight_decay(pb: Problem, recover: Recover) -> Fit:
    """Weight decay on all L ≥ 3 layers: a search over t (docs/theory/framework.md#weight-decay-and-t).

    Each t gives the ramp program at β t^{2−L}; its branches are balanced for weight decay
    and the network's own objective is minimized over t. A coarse pass first; unless its dual
    points certify the best network, solves are added where the lower bound is attained until
    it cannot move by more than tol·P(0) (:class:`_Search`), and the chain family (module
    docstring) gets its own coarse pass. The better family is refined (the chain by a root of
    its balance, the ramps by Brent's method; until its value is within REFINE_STALL·tol·value
    of the bound, or MAX_REFINE steps), and L-BFGS polishes the best network while the bounds
    do not meet. The certificate bounds
    min_t [D_t + β(L−2)t²/2] from the dual points met.
    """
    began = time.perf_counter()
    L, beta = pb.depth, pb.beta
    search = _Search(pb, recover)
    t_lo, t_hi = _radii(pb, L)
    if not t_lo < t_hi:                     # β beats every atom at every useful t: a constant fit
        point = search.evaluate("ramps", t_lo)
        return _fit(pb, search, point, f"constant fit ({search.methods[-1]})")
    search.scan("ramps", t_lo, t_hi)
    if not search.done():
        search.tighten()
    if not search.done() and pb.n_outputs == 1:
        t_lo2 = _radii(pb, 2)[0]
        if t_lo2 < t_hi:
            search.scan("chain", t_lo2, t_hi)
    # The best family's value is refined to REFINE_STALL·tol times the value itself even where the
    # bounds meet (a few parabolic steps): the network returned is then its family's best well
    # within what tol allows, also read relative to the value (a good fit is far below P(0)).
    coarse = {f: search.best(f).value for f in {p.family for p in search.points}}
    stall = REFINE_STALL * pb.tol * min(coarse.values())
    first, *rest = sorted(coarse, key=coarse.get)
    search.refine(first, stall)
    gain = coarse[first] - search.best(first).value
    for family in rest:                     # only if it is within twice what refining the first gained
        if coarse[family] < search.best(first).value + 2.0 * gain:
            search.refine(family, stall)
    if not search.done():
        search.tighten()
    point = search.best()
    net = _network(point, pb)
    value = net.objective(pb.X, pb.Y, beta, pb.loss)
    method = f"search over t ({len(search.methods)} solves, each {search.methods[-1]})"
    # One shared t cannot give several active ramps each its own scale: L-BFGS on the true
    # objective from RESTARTS seeded random starts, then from the found network, may close some
    # of the gap (measured: a random start certified a case the search left 0.13% above its
    # bound). Each run stops once a chunk of iterations gains at most tol·P(0) (what the
    # certificate could notice); all runs share POLISH_SHARE times the search's time (half of
    # what is left of time_limit when one is given). The certificate judges what they return.
    share = pb.budget.sub(0.5) if pb.budget.time_limit is not None else Budget(
        POLISH_SHARE * (time.perf_counter() - began))
    if not (search.meets() or pb.budget.expired()):
        # one call: the random starts, then the run from the found network (a second call would
        # repeat that run from the network it returned)
        net, value, method = polish(pb, net, value, method, restarts=RESTARTS, stall=search.stall, budget=share,
                                   width=RESTART_WIDTH)
    return _fit(pb, search, point, method, net)


def _radii(pb: Problem, depth: int) -> tuple[float, float]:
    """The radii bracketing the search over t.

    Below the first the family's program (``depth`` 2: the chain's) at β t^{2−L} has only
    the constant network; beyond the second the penalty β(L−2)t²/2 alone exceeds P(0).
    """
    L, beta = pb.depth, pb.beta
    p0 = pb.loss.zero_value(pb.Y)
    U0 = project_dual(pb.loss.dual_point(np.zeros_like(pb.Y), pb.Y), pb.Y, pb.loss)
    r0 = rho(U0, pb.X, depth, 1.0)[0]
    t_lo = (beta / r0) ** (1.0 / (L - 2)) if 0 < r0 < np.inf else 1.0
    return t_lo, float(np.sqrt(2.0 * p0 / (beta * (L - 2))))


def _network(point: _Point, pb: Problem) -> Network:
    """The family's network at the point: balanced parallel ramps, or one chain of depth L."""
    if point.family == "ramps":
        return network_from_atoms(point.atoms, pb.depth, None)
    return chain_network(_two_layer_network(point.atoms, pb.n_outputs), pb.depth, point.atoms.grid.knots)


def _fit(pb: Problem, search: _Search, point: _Point, method: str, net: Network | None = None) -> Fit:
    net = _network(point, pb) if net is None else net
    info = {"t": point.t, "knots": knots_of(net, make_grid(pb.X), pb.Y), "note": NOTE}
    if pb.budget.expired():
        info["stopped"] = pb.budget.stop_reason()
    program = search.programs.get("ramps")
    return Fit(net, [point.U], method, getattr(program, "problem", None), info=info, dual_path=search.dual_path)
