"""Column generation over patterns: a restricted master program grown by the oracle (docs/settings/two_layer.md).

The master is the convex program over a few patterns, seeded from a short L-BFGS
training run (or the user's network); the oracle adds the patterns the master's dual
point violates most, until ρ(U) ≤ β(1 + eps). Vector outputs (K > 1) use column
generation over neurons with fixed directions (the dual constraint is copositive-type).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from ...budget import Budget, Progress
from ...certificate import scaled_dual_value
from ...errors import InputError
from ...losses import Loss, get_loss
from ...network import Network
from ...problem import DualProgram, Fit, Problem
from .._solve import solve_cvxpy
from .arrangement import MAX_PATTERNS, Geometry, _hyperplanes, _sample, _unique_columns, pattern_bound
from .oracles import OracleResult, _bias_oracle, _bnb_oracle, _cone_max, _inexact_reason, _oracle
from .program import _center, _design, _network_from_program, _program, _support_resolve
from .solver import PatternFit, solve_atoms, solve_patterns


@dataclass
class CuttingPlaneResult:
    """Outcome of :func:`cutting_plane`.

    Attributes
    ----------
    network : Network
        The recovered network (optimal for the final pattern set).
    U : ndarray (n, K)
        Dual point of the final master program.
    value : float
        Objective of the final master program.
    rho : float
        Oracle value ρ(U) at the end (compare with β).
    exact : bool
        Whether the oracle was exact (then ρ(U) ≤ β(1 + eps) proves optimality).
    converged : bool
        Whether ρ(U) ≤ β(1 + eps) was reached.
    iterations : list of dict
        One record per master solve: iteration, patterns, value, rho/beta, seconds.
    D : ndarray of bool (n, P)
        The final pattern set.
    reason : str
        Why the result is not a proof ("" when exact and converged).
    method : str
        How it was solved (iterations, patterns, master solver).
    stopped : str
        What cut the loop short (the time budget), "" otherwise.
    """

    network: Network
    U: np.ndarray
    value: float
    rho: float
    exact: bool
    converged: bool
    iterations: list[dict[str, Any]]
    D: np.ndarray = field(repr=False)
    reason: str = ""
    method: str = ""
    stopped: str = ""


#: Seeding where the oracle cannot be exact: up to this many L-BFGS trainings, of this width (at most
#: n + 1) and this many iterations. The program over their neurons' patterns holds each of them as a
#: feasible point, so its optimum is at most the best of their values (docs/settings/two_layer.md#cutting-planes).
SEED_RUNS, SEED_WIDTH, SEED_ITER = 3, 100, 1000


def seed_runs(X: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, seeds: Sequence[int], bias: bool,
              budget: Budget) -> list[Network]:
    """L-BFGS trainings from the given seeds, each within what is left of ``budget`` (none once it is spent)."""
    from ...train import train

    nets: list[Network] = []
    for s in seeds:
        if budget.expired():
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nets.append(train(X, Y, beta=beta, depth=2, width=int(min(X.shape[0] + 1, SEED_WIDTH)), loss=loss,
                              bias=bias, seed=s, max_iter=SEED_ITER,
                              time_limit=None if budget.time_limit is None else max(budget.remaining(), 1e-3)))
    return nets


def neuron_patterns(nets: Sequence[Network], X: np.ndarray) -> np.ndarray:
    """The distinct activation patterns 1[Xw + b > 0] of the networks' neurons (dead ones dropped)."""
    pre = np.hstack([X @ br[0][0] + (0.0 if br[0][1] is None else br[0][1]) for net in nets for br in net.branches])
    D = _unique_columns(pre > 0)
    return D[:, D.any(axis=0)]


def _seed_patterns(X: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, init: Any, seed: int,
                   bias: bool, train_iter: int, time_limit: float | None = None) -> tuple[np.ndarray, Network | None]:
    """Patterns of a user network's neurons, or of a short L-BFGS run (docs/settings/two_layer.md seeding)."""
    if init is None:
        from ...train import train

        width = int(min(X.shape[0] + 1, 32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # an expired budget leaves 0 s, which train refuses: a few L-BFGS steps still seed the patterns
            init = train(X, Y, beta=beta, depth=2, width=width, loss=loss, bias=bias, seed=seed,
                         max_iter=train_iter, time_limit=None if time_limit is None else max(time_limit, 1e-3))
    init = as_network(init, X.shape[1])
    return neuron_patterns([init], X), init


def cutting_plane(X: np.ndarray, y: np.ndarray, beta: float, loss: str | Loss = "squared", *, init: Any = None,
                  bias: bool = False, seed: int = 0, max_iter: int = 100, top: int = 5, eps: float = 1e-7,
                  solver: str | None = None, executor: Executor | None = None, progress: bool | None = None,
                  max_patterns: int = MAX_PATTERNS, n_starts: int = 200, train_iter: int = 300,
                  patterns: np.ndarray | None = None, polish_rounds: int = 3, budget: Budget | None = None,
                  master: str = "cvxpy") -> CuttingPlaneResult:
    """Column generation over patterns: restricted master program plus the oracle (docs/settings/two_layer.md).

    Starts from the patterns of ``init`` (a Network, weight list or torch module) or of a
    short L-BFGS run, solves the convex program over them, asks the oracle for the most
    violated patterns of the dual point, adds up to ``top`` of them, and repeats until
    ρ(U) ≤ β(1 + eps). With the exact oracle that is a proof of global optimality (up to
    ``eps``); with the many-start oracle (large rank) it is not, and ``reason`` says so.
    ``budget`` (a :class:`dualnet.budget.Budget`) stops the loop between master solves;
    the last master's network is returned (it is feasible, its value is an upper bound).
    ``master`` is "cvxpy" (an interior-point solve per round, accurate enough to certify) or
    "first-order" (:func:`.solver.solve_patterns`, warm-started, as accurate as the oracle's
    last violation asks: faster per round where the oracle is a many-start estimate).

    Examples
    --------
    >>> import numpy as np
    >>> res = cutting_plane(np.array([[1.0], [-1.0]]), np.array([1.0, 1.0]), beta=0.5)
    >>> res.converged, res.exact, round(res.value, 6)
    (True, True, 0.75)
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(y, dtype=float).reshape(X.shape[0], -1)
    loss = get_loss(loss)
    budget = budget or Budget(None)
    if Y.shape[1] != 1:
        raise InputError(f"cutting_plane handles one output (the pattern program of docs/settings/two_layer.md). Got y with "
                         f"{Y.shape[1]} columns. Use dualnet.solve, which handles vector outputs by column "
                         "generation over neurons.")
    geo, A = _design(X, bias)
    free = int(bias)
    D, net0 = _initial_patterns(X, Y, A, beta, loss, init, seed, bias, train_iter, patterns, budget)
    seeds = geo.to_reduced(_first_layer(net0, False)) if (net0 is not None and not bias) else None
    history: list[dict[str, Any]] = []
    bar = Progress("cutting plane", progress)
    polish_left, stopped = polish_rounds, ""
    p0 = loss.zero_value(Y)
    first_order, master = master == "first-order", None
    # The first first-order master starts at the seed network itself (a point of the program over D):
    # its value can only go down from there.
    warm = _as_start(geo, A, D, net0, bias, loss.zero_value(Y)) if first_order and net0 is not None else None
    res_oracle = None
    by_bnb = not bias and _bnb_rank(A, max_patterns)
    search, closed = None, False
    violation, tight = 1.0, False
    try:
        for it in range(max_iter):
            start = time.perf_counter()
            # Inexact column generation: a master need not be more accurate than the violation the
            # oracle found last (ρ/β − 1), which costs the bound about that share of the optimum
            # (not of P(0), the scale of the master's tol: at P* ≪ P(0) a tol of the violation
            # itself left the master unchanged by the patterns added, rank 3, n = 2000); the
            # accuracy reaches eps as the loop converges. Branch and bound answers about the
            # master's exact dual point: its masters are solved to eps throughout (to eps times
            # P*/P(0) they cost minutes at n = 2000).
            share = 1.0 if master is None or p0 <= 0 else min(1.0, max(master.value, 0.0) / p0)
            tol = eps if by_bnb or tight else max(eps, min(1e-4, 0.1 * violation) * share)
            m = _master(A, Y, D, beta, loss, free, solver, first_order, master, tol=tol, budget=budget, warm=warm)
            u = _center(m.U, Y, loss) if bias else loss.project_dual(m.U, Y)
            if by_bnb:
                # Branch and bound asks "is ρ ≤ β(1 + ε/2)?" from the last round's leaves and atoms: a
                # proof, or the violated chambers it met (measured at rank 3, n = 2000: the many-start
                # oracle saw no violation at ρ/β = 1.003 and crept for a dozen rounds). It brackets ρ
                # to 5·eps every round: its proven bound can close the gap as soon as the master's
                # dual point allows, and the cones above the best value met are refined until they
                # yield its chambers (a coarse bracket of 1 % pruned those: 4-11 violated chambers a
                # round instead of 64, at the same cost per round, and twice the rounds).
                last = None if res_oracle is None else res_oracle.Z[:, :BNB_WARM]
                known = [Z for Z in (last, seeds) if Z is not None]
                r, search = _bnb_oracle(A, u, beta * (1 + eps / 2), top=top, seeds=np.hstack(known) if known else None,
                                        executor=executor, rtol=5 * eps, warm=search, n_starts=n_starts // 4,
                                        seconds=None if budget.time_limit is None else max(budget.remaining(), 1e-3))
            else:
                r = _cutting_oracle(A, u, X, bias, top, seeds, executor, max_patterns, n_starts, seed + it, budget)
            master, U, res_oracle = m, u, r          # one complete iteration: master and oracle agree
            violation = max(res_oracle.value / beta - 1.0, 0.0)
            bound = scaled_dual_value(U, Y, loss, beta, res_oracle.proven_upper)[0]
            history.append({"iteration": it, "patterns": D.shape[1], "value": master.value,
                            "rho/beta": res_oracle.value / beta, "exact": res_oracle.exact, "bound": bound,
                            "oracle": res_oracle.method,
                            "seconds": time.perf_counter() - start})
            bar.update(iteration=it + 1, patterns=D.shape[1], value=master.value, bound=bound,
                       rel_gap=(master.value - bound) / p0 if p0 > 0 else 0.0,
                       rho_over_beta=res_oracle.value / beta)
            if budget.expired():
                stopped = budget.stop_reason()
                break
            closed = by_bnb and p0 > 0 and master.value - bound <= 10 * eps * p0
            if closed:
                break                               # proven: the gap is within tol = 10·eps (dn.solve)
            # A branch-and-bound round is costly: it adds every violated chamber it met (up to BNB_TOP).
            new = _next_patterns(geo, A, X, Y, master, U, res_oracle, beta, loss, free, bias,
                                 max(top, BNB_TOP) if by_bnb else top, eps, train_iter,
                                 polish_left, budget)
            if new is None:
                break
            if new[1] is not None:              # patterns of an L-BFGS polish: seed the oracle with its neurons
                polish_left -= 1
                seeds = geo.to_reduced(_first_layer(new[1], False)) if not bias else seeds
            # Drop patterns the master left unused: the current solution stays feasible, so the
            # master value cannot go up, and the programs stay small.
            if _unique_columns(np.hstack([D, new[0]])).shape[1] == D.shape[1]:
                # The oracle repeats known patterns: an inexact master's error, or a numerical stall.
                if first_order and not tight:
                    tight = True           # one more master, to eps, before calling it a stall
                    continue
                break
            # Branch-and-bound rounds keep every pattern: dropped ones came back a few rounds later.
            kept = D if by_bnb else D[:, _used(master, D, free)]
            D = _unique_columns(np.hstack([kept, new[0]]))
    except KeyboardInterrupt:
        if master is None:                  # nothing to return yet
            bar.close()
            raise
        stopped = "interrupted (Ctrl-C); the result is the last complete master program's network"
    bar.close()
    converged = res_oracle.value <= beta * (1 + eps)
    proof = res_oracle.exact or res_oracle.upper <= beta * (1 + eps)      # nan (no proven bound) is no proof
    Vv, Wv = master.V, master.W
    # A clean re-solve on the support of an interior-point master (first-order ones are sparse
    # already); skipped once the budget is spent.
    if not stopped and not first_order:
        clean = _support_resolve(A, Y, master.D, master.D, Vv, Wv, master.value, beta, loss, free, solver)
        if clean is not None:
            Vv, Wv = clean[0], clean[1]
    net = _network_from_program(geo, Vv, Wv, 1, free)
    reason = ""
    searched = res_oracle.exact or (by_bnb and not res_oracle.reason)     # the oracle finished its search
    if not searched:
        reason = res_oracle.reason
    elif not (converged and proof or closed):
        reason = (f"stopped after {len(history)} iterations with rho/beta = {res_oracle.value / beta:.6g} > 1 + eps "
                  f"(max_iter={max_iter})")
    method = f"cutting plane ({len(history)} iterations, {master.D.shape[1]} patterns, {master.method})"
    return CuttingPlaneResult(net, U, master.value, res_oracle.value, res_oracle.exact, converged, history,
                              master.D, reason, method, stopped)


@dataclass
class _Master:
    """A solved restricted master program: group variables, dual point, value, how."""

    V: np.ndarray
    W: np.ndarray
    U: np.ndarray
    value: float
    method: str
    D: np.ndarray          # the patterns it was solved over
    fit: Any = None        # the first-order solver's state, for warm starts


def _master(A: np.ndarray, Y: np.ndarray, D: np.ndarray, beta: float, loss: Loss, free: int,
            solver: str | None, first_order: bool = False, start: _Master | None = None, tol: float = 1e-8,
            budget: Budget | None = None, warm: PatternFit | None = None) -> _Master:
    """The convex program over the patterns D (docs/settings/two_layer.md).

    By CVXPY, or by the first-order solver (:func:`.solver.solve_patterns`, warm-started from
    the last master, or from ``warm`` before the first) when ``first_order`` and no CVXPY
    ``solver`` is named.
    """
    if solver is not None or not first_order:
        program, V, W = _program(A, Y, D, beta, loss, free)
        U, method = solve_cvxpy(program, solver)
        return _Master(np.asarray(V.value), np.asarray(W.value), U, float(program.problem.value), method, D)
    remaining = (budget or Budget(None)).remaining()
    fit = solve_patterns(A, Y, D, beta, loss, free=free, start=warm if start is None else start.fit, tol=tol,
                         time_limit=None if remaining == np.inf else max(remaining, 1e-3))
    return _Master(fit.V, fit.W, fit.U, fit.value, "first-order", D, fit)


def _initial_patterns(X: np.ndarray, Y: np.ndarray, A: np.ndarray, beta: float, loss: Loss, init: Any, seed: int,
                      bias: bool, train_iter: int, patterns: np.ndarray | None, budget: Budget
                      ) -> tuple[np.ndarray, Network | None]:
    """The first master's patterns: given ones (with those of ``init``), or those of ``init`` or a short run's."""
    if patterns is not None:
        # Given patterns, and those of a given network (the seeding trainings' best, whose neurons
        # also start the oracle's search and the first master).
        net0 = None if init is None else as_network(init, X.shape[1])
        D = np.asarray(patterns, dtype=bool)
        D = D if net0 is None else _unique_columns(np.hstack([D, neuron_patterns([net0], X)]))
    else:
        # The seeding run may take a quarter of the budget: the masters and the oracle need the rest.
        D, net0 = _seed_patterns(X, Y, beta, loss, init, seed, bias, train_iter, budget.sub(0.25).time_limit)
    if D.shape[1] == 0:
        D = _sample(A, 8, seed, None, False).D
    if bias:      # the all-ones pattern carries the free constant, which forces 1ᵀU = 0 in the master
        D = _unique_columns(np.hstack([D, np.ones((X.shape[0], 1), dtype=bool)]))
    return D, net0


def _as_start(geo: Geometry, A: np.ndarray, D: np.ndarray, net: Network, bias: bool, p0: float
              ) -> PatternFit | None:
    """A two-layer network as a point of the program over D: each neuron's a·(w; b) joins the group of its pattern.

    Neurons sharing a pattern and a sign add up (the network's function is linear on a
    pattern), and β Σ‖v_i‖ ≤ β Σ|a|‖w‖ ≤ its weight decay, so the point's value is at most
    the network's. None when the network is not one branch of two layers with one output.
    """
    if len(net.branches) != 1 or len(net.branches[0]) != 2 or net.n_outputs != 1:
        return None
    (W1, b1), (W2, _) = net.branches[0]
    Z = geo.to_reduced(W1)
    if bias:
        Z = np.vstack([Z, np.zeros((1, Z.shape[1])) if b1 is None else b1[None, :]])
    elif b1 is not None:
        return None
    a = W2[:, 0]
    index = {col.tobytes(): i for i, col in enumerate(D.T)}
    V, W = np.zeros((A.shape[1], D.shape[1])), np.zeros((A.shape[1], D.shape[1]))
    for j, d in enumerate((A @ Z > 0).T):
        i = index.get(d.tobytes())
        if i is not None and a[j] != 0:
            (V if a[j] > 0 else W)[:, i] += abs(a[j]) * Z[:, j]
    return PatternFit(F=None, U=None, value=np.inf, lower=-np.inf, p0=p0, iterations=0, seconds=0.0,
                      converged=False, stopped="", V=V, W=W, D=D, Dw=D)


def _used(master: _Master, D: np.ndarray, free: int) -> np.ndarray:
    """Patterns whose groups the master left nonzero (with a bias, the all-ones pattern always)."""
    r = master.V.shape[0] - free
    group = np.linalg.norm(master.V[:r], axis=0) + np.linalg.norm(master.W[:r], axis=0)
    used = group > 1e-7 * max(float(group.max(initial=0.0)), 1e-300)
    return used | D.all(axis=0) if free else used


def _next_patterns(geo: Geometry, A: np.ndarray, X: np.ndarray, Y: np.ndarray, master: _Master, U: np.ndarray,
                   res_oracle: OracleResult, beta: float, loss: Loss, free: int, bias: bool, top: int, eps: float,
                   train_iter: int, polish_left: int, budget: Budget) -> tuple[np.ndarray, Network | None] | None:
    """Patterns to add, with the polished network they came from (None when the oracle gave them).

    None when the loop is done: the oracle finds no violated pattern and is exact, or it
    is a many-start estimate and an L-BFGS polish of the master's network (up to
    ``polish_left`` times) finds nothing better.
    """
    if res_oracle.value > beta * (1 + eps):
        return res_oracle.D[:, res_oracle.values > beta * (1 + eps)][:, :top], None
    if res_oracle.exact or res_oracle.upper <= beta * (1 + eps) or polish_left == 0:
        return None
    # A many-start oracle can miss violated patterns: let L-BFGS, started from the master's
    # network, look for a better one, and feed its patterns back.
    polished = _polish(_network_from_program(geo, master.V, master.W, 1, free), X, Y, beta, loss, train_iter,
                       budget.sub(0.5).time_limit)
    if polished.objective(X, Y, beta, loss) >= master.value - 1e-9 * max(1.0, master.value):
        return None
    new = _unique_columns(np.hstack([X @ W1 + (0.0 if b1 is None else b1) > 0
                                     for W1, b1 in (br[0] for br in polished.branches)]))
    if not bias:                 # keep the patterns the current dual point finds violated
        u = U[:, 0]
        vals = np.array([max(_cone_max(A, d, A.T @ (d * u))[0], _cone_max(A, d, -(A.T @ (d * u)))[0])
                         for d in new.T])
        hot = np.flatnonzero(vals > beta * (1 + eps))
        if hot.size:
            new = new[:, hot[np.argsort(-vals[hot])][: 2 * top]]
    return new, polished


def _polish(net: Network, X: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, max_iter: int,
            time_limit: float | None = None) -> Network:
    """L-BFGS on the non-convex objective from ``net`` (dualnet.train)."""
    from ...train import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(X, Y, beta=beta, loss=loss, init=net, max_iter=max_iter,
                     time_limit=None if time_limit is None else max(time_limit, 1e-3))   # 0 s: budget spent


def _first_layer(net: Network, bias: bool) -> np.ndarray:
    cols = []
    for br in net.branches:
        W, b = br[0]
        cols.append(np.vstack([W, b[None, :]]) if bias else W)
    Wf = np.hstack(cols)
    if bias and Wf.shape[0] == net.n_features:       # a network without biases seeding a bias problem
        Wf = np.vstack([Wf, np.zeros((1, Wf.shape[1]))])
    return Wf


#: ranks at which branch and bound is the cutting plane's oracle where patterns cannot be enumerated:
#: each round it proves ρ ≤ β(1 + ε/2) or returns the violated chambers it met (rank 3, n = 2000: about
#: 3 000 cones, 3-12 s a round on 2 shared cores)
BNB_RANK = 3
#: the last round's atoms that start branch and bound
BNB_WARM = 16
#: patterns a branch-and-bound round may add: every violated chamber it met, up to the size of its pool of
#: best directions (one per chamber). Measured at rank 3, n = 2000: 5 rounds to a proof (20 a round with
#: coarse brackets took 8-9)
BNB_TOP = 64


def _bnb_rank(A: np.ndarray, max_patterns: int) -> bool:
    """Whether the cutting plane's oracle is branch and bound: rank 3..BNB_RANK, too many patterns to enumerate."""
    r = A.shape[1]
    return 3 <= r <= BNB_RANK and pattern_bound(len(_hyperplanes(A)), r) > max_patterns


def _cutting_oracle(A: np.ndarray, U: np.ndarray, X: np.ndarray, bias: bool, top: int, seeds: np.ndarray | None,
                    executor: Executor | None, max_patterns: int, n_starts: int, seed: int,
                    budget: Budget | None = None) -> OracleResult:
    """The oracle in the coordinates of the master program (with a bias: patterns of the augmented data)."""
    if not bias:
        return _oracle(A, U, top=top, seeds=seeds, executor=executor, progress=False, max_patterns=max_patterns,
                       n_starts=n_starts, seed=seed, budget=budget)
    return _bias_oracle(U, X, top=top, executor=executor, progress=False, max_patterns=max_patterns,
                        n_starts=n_starts, seed=seed, budget=budget)


def as_network(net: Any, n_features: int | None = None) -> Network:
    """A :class:`Network` from a Network, a weight list, or a torch ``nn.Sequential``."""
    if isinstance(net, Network):
        out = net
    elif isinstance(net, (list, tuple)) and len(net) > 0:
        out = Network.from_weights(net)
    elif type(net).__module__.startswith("torch"):
        out = Network.from_torch(net)
    else:
        raise InputError("The 'init' parameter must be a dualnet.Network, a list of weight arrays or a torch "
                         f"nn.Sequential. Got {type(net).__name__} instead.")
    if n_features is not None and out.n_features != n_features:
        raise InputError(f"The 'init' network takes {out.n_features} input features but X has {n_features} "
                         "columns. Pass a network trained on these data.")
    return out


# ===================================================================== vector outputs
def _fixed_atom_master(G: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, solver: str | None
                       ) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Min ℓ(G W; Y) + β Σ_j ‖W_j‖₂ over output weights W (m×K) for fixed atoms G (n×m)."""
    n, m = G.shape
    Wv = cp.Variable((m, Y.shape[1]), name="Wout")
    F = cp.Variable(Y.shape, name="F")
    link = F == G @ Wv
    problem = cp.Problem(cp.Minimize(loss.primal(F, Y) + beta * cp.sum(cp.norm(Wv, 2, axis=1))), [link])
    U, method = solve_cvxpy(DualProgram(problem, cp.Parameter(), lambda: np.asarray(link.dual_value), 2), solver)
    return Wv.value, loss.project_dual(U, Y), float(problem.value), method


def _atom_master(G: np.ndarray, Y: np.ndarray, beta: float, loss: Loss, solver: str | None, start: Any,
                 tol: float, budget: Budget) -> tuple[np.ndarray, np.ndarray, float, str, Any]:
    """The vector-output master over fixed atoms: by FISTA (warm-started), or CVXPY when a solver is named."""
    if solver is not None:
        return (*_fixed_atom_master(G, Y, beta, loss, solver), None)
    remaining = budget.remaining()
    fit = solve_atoms(G, Y, beta, loss, start=start, tol=tol,
                      time_limit=None if remaining == np.inf else max(remaining, 1e-3))
    return fit.W, fit.U, fit.value, "first-order", fit


def _fit_vector(pb: Problem, geo: Geometry, opts: dict[str, Any], budget: Budget) -> Fit:
    """K > 1: column generation over neurons with the many-start oracle (docs/settings/two_layer.md).

    The bound is proven (ρ bounded above) but loose, so the result is certified only when
    that loose bound happens to close the gap.
    """
    A, X, Y = geo.A, pb.X, pb.Y
    _, net0 = _seed_patterns(X, Y, pb.beta, pb.loss, opts["init"], opts["seed"], False, opts["train_iter"],
                             budget.sub(0.25).time_limit)
    Z = geo.to_reduced(_first_layer(net0, False))
    Z = Z[:, np.linalg.norm(Z, axis=0) > 0]
    Z = Z / np.linalg.norm(Z, axis=0)
    history: list[dict[str, Any]] = []
    state, stopped = None, ""
    for it in range(opts["max_iter"]):
        Wout, U, value, method, state = _atom_master(np.maximum(A @ Z, 0.0), Y, pb.beta, pb.loss, pb.solver, state,
                                                     opts["eps"], budget)
        res = _oracle(A, U, top=opts["top"], seeds=Z, n_starts=opts["n_starts"], seed=opts["seed"] + it,
                      budget=budget)
        history.append({"iteration": it, "atoms": Z.shape[1], "value": value, "rho/beta": res.value / pb.beta,
                        "exact": False})
        Z_master = Z
        new = res.Z[:, res.values > pb.beta * (1 + opts["eps"])][:, : opts["top"]]
        # An inexact master can make known atoms look violated: only new directions count.
        new = new[:, np.max(Z.T @ new, axis=0, initial=-1.0) < 1 - 1e-9] if new.shape[1] else new
        if budget.expired():
            stopped = budget.stop_reason()
            break
        if new.shape[1] == 0:
            break
        Z = np.hstack([Z, new])          # solve_atoms' warm start expects the old atoms first
    Z = Z_master                          # the atoms of the last master (the loop may have grown Z)
    norms = np.linalg.norm(Wout, axis=1)
    keep = norms > 1e-9 * max(norms.max(initial=0.0), 1e-300)
    if not np.any(keep):
        net = _network_from_program(geo, np.zeros((geo.rank, 0)), np.zeros((geo.rank, 0)), Y.shape[1])
    else:
        root = np.sqrt(norms[keep])
        net = Network([[(geo.to_weights(Z[:, keep] * root), None), (Wout[keep] / root[:, None], None)]])
    duals = [U]
    if not stopped:
        # Directions are fixed in the master; a short L-BFGS polish moves them (kept only if better).
        polished = _polish(net, X, Y, pb.beta, pb.loss, 500, budget.sub(0.9).time_limit)
        if polished.objective(X, Y, pb.beta, pb.loss) < net.objective(X, Y, pb.beta, pb.loss):
            net = polished
            duals.append(pb.loss.dual_point(polished.forward(X), Y))
    info = {"iterations": history, "oracle": "heuristic", "reason": _inexact_reason(*A.shape, Y.shape[1], 0, 0),
            "stopped": stopped}
    return Fit(net, duals, f"column generation over neurons ({len(history)} iterations, {method})", None, info)
