"""Two-layer ReLU networks on any data: hyperplane arrangements and cutting planes (docs/settings/two_layer.md).

Reference: Pilanci & Ergen, "Neural Networks are Convex Regularizers", ICML 2020 (the
finite convex program over arrangement patterns, docs/settings/two_layer.md); Ergen & Pilanci, ICML 2021
(arXiv 2002.09773v4), the extreme-point view of the dual (docs/theory/framework.md#extreme-points, docs/settings/two_layer.md); Ergen &
Pilanci, JMLR 2021 (cutting planes, docs/settings/two_layer.md).

The pieces, one module each, in the order the documentation derives them
(docs/settings/two_layer.md): :mod:`.arrangement`, :mod:`.program`, :mod:`.oracles` (with
:mod:`.bnb` for a proven bound beyond enumeration), :mod:`.cutting`; this module holds the
settings contract.

1. **Patterns.** D = diag(1[Xg ≥ 0]) over all g. Everything lives in the reduced
   coordinates of the linear setting: X = U_x diag(s) Vᵀ of rank r, A = U_x diag(s)
   (n×r), and a first-layer weight w = V z has Xw = Az and ‖w‖ = ‖z‖. The patterns are
   the chambers of the central arrangement {z : a_iᵀz = 0}; they are enumerated exactly
   when the counting bound P ≤ 2Σ_{k<r} C(m−1, k) is small (r = 1, 2 directly; r ≥ 3
   through the extreme rays of the chambers), and sampled otherwise.
2. **Convex program** (group lasso with cone constraints) over a pattern set, and its
   dual (docs/settings/two_layer.md).
3. **Oracle** ρ(u) = max_{‖w‖≤1} |uᵀ(Xw)_+| = max over patterns of ‖Π_{K_i}(±A ᵀD_i u)‖,
   K_i = {z : (2D_i − I)Az ≥ 0} (Moreau: the largest linear value over a cone ∩ ball is the
   norm of the projection onto the cone). r ≤ 2: closed form over angular sectors.
   r ≥ 3: one NNLS per pattern, whose value ‖c + Bᵀλ‖ with λ ≥ 0 is an upper bound for ANY
   λ, so the maximum over a complete enumeration is a rigorous upper bound (exact).
   Otherwise: a many-start ascent that gives a lower estimate (not a proof).
4. **Cutting plane** (docs/settings/two_layer.md): a restricted master program over a few patterns, seeded
   from a short L-BFGS training run (where the oracle cannot be exact: up to three, whose best
   network also starts the first master), grown by the oracle until ρ(U) ≤ β(1 + ε).
5. **Recovery**: each nonzero v_i becomes the neuron v_i/√‖v_i‖ with output weight
   +√‖v_i‖ (−√‖w_i‖ for w_i), whose weight decay equals the convex objective.

Biases (``bias=True``) follow the package convention (biases unpenalized, docs/settings/spline.md#setting
Variant A): the atoms are (Xw + b)_+ with ‖w‖ ≤ 1 and b free. See :func:`check`.
Vector outputs (K > 1): the dual constraint sup‖Uᵀ(Xw)_+‖ ≤ β is copositive-type
(docs/settings/two_layer.md); the network is optimized by column generation over neurons and the bound is
an estimate (never certified).
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from typing import Any

import cvxpy as cp
import numpy as np

from ...budget import Budget
from ...certificate import RhoValue
from ...errors import InputError
from ...linalg import cached
from ...losses import Loss, get_loss
from ...network import Network
from ...problem import DualProgram, Fit, Problem
from .._solve import solve_cvxpy
from .arrangement import (
    MAX_PATTERNS,
    Geometry,
    Patterns,
    _enumerate,
    _hyperplanes,
    _patterns,
    _unique_columns,
    enumerate_patterns,
    geometry,
    pattern_bound,
    patterns,
    sample_patterns,
)
from .bnb import RhoBound, rho_bound, rho_bound_vector
from .cones import BnbCertificate, check_certificate
from .cutting import (
    SEED_RUNS,
    CuttingPlaneResult,
    _bnb_rank,
    _fit_vector,
    _polish,
    as_network,
    cutting_plane,
    neuron_patterns,
    seed_runs,
)
from .oracles import OracleResult, _cone_max, _inexact_reason, oracle
from .program import _augment, _center, _design, _network_from_program, _program, _support_resolve, convex_program

NAME = "relu-two-layer"
REFERENCE = ("Pilanci & Ergen (ICML 2020) convex program of two-layer ReLU networks; Ergen & Pilanci "
             "(ICML 2021, JMLR 2021) extreme points and cutting planes (docs/settings/two_layer.md)")
ACTIVATIONS = ("relu",)
HOMOGENEOUS = True

__all__ = [
    "BnbCertificate",
    "CuttingPlaneResult",
    "OracleResult",
    "as_network",
    "Patterns",
    "check",
    "check_certificate",
    "convex_program",
    "cutting_plane",
    "dual_program",
    "enumerate_patterns",
    "fit",
    "oracle",
    "pattern_bound",
    "patterns",
    "recover",
    "rho",
    "rho_bound",
    "rho_bound_vector",
    "RhoBound",
    "sample_patterns",
]

def recover(U: np.ndarray, X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None = None,
            loss: Loss | None = None, solver: str | None = None, D: np.ndarray | None = None,
            bias: bool = False) -> Network:
    """Two-layer network from a dual point U (docs/theory/framework.md#extreme-points, docs/theory/losses.md#general-dual).

    The active patterns are those whose exact oracle value reaches β (within 1e-4); the
    amplitudes and directions come from the convex program restricted to them.
    """
    loss = get_loss(loss or "squared")
    geo, A = _design(X, bias)
    if D is None:
        D = _enumerate(geometry(_augment(X, bias)).A, None, False, MAX_PATTERNS).D
    u = U[:, 0]
    if bias:
        # With a free bias the per-pattern value is not a cone projection; keep every pattern.
        active = list(range(D.shape[1]))
    else:
        C = A.T @ (D * u[:, None])
        active = [i for i in range(D.shape[1]) if np.linalg.norm(C[:, i]) >= beta * (1 - 1e-4) and
                  max(_cone_max(A, D[:, i], C[:, i])[0], _cone_max(A, D[:, i], -C[:, i])[0]) >= beta * (1 - 1e-4)]
    if not active:
        return _network_from_program(geo, np.zeros((A.shape[1], 0)), np.zeros((A.shape[1], 0)), Y.shape[1],
                                     int(bias))
    program, V, W = _program(A, Y, D[:, active], beta, loss, int(bias))
    solve_cvxpy(program, solver)
    Vv, Wv = V.value, W.value
    clean = _support_resolve(A, Y, D[:, active], D[:, active], Vv, Wv, program.problem.value, beta, loss, int(bias),
                             solver)
    if clean is not None:
        Vv, Wv = clean[0], clean[1]
    return _network_from_program(geo, Vv, Wv, Y.shape[1], int(bias))




# ========================================================================== contract
_OPTIONS = {"patterns": "auto", "n_patterns": 100, "seed": 0, "max_patterns": MAX_PATTERNS, "executor": None,
            "progress": None, "init": None, "max_iter": 100, "top": 5, "eps": None, "n_starts": 200,
            "train_iter": 300, "bound_time": 30.0}
#: keyword options of dn.solve this setting reads (others are refused)
OPTIONS: tuple[str, ...] = tuple(_OPTIONS)


def _options(pb: Problem) -> dict[str, Any]:
    opts = {**_OPTIONS, **pb.options}         # api.solve already refused names not in OPTIONS
    if opts["eps"] is None:
        opts["eps"] = pb.tol / 10          # ρ ≤ β(1 + eps) costs at most ~eps·P(0) of the bound
    return opts


def check(X: np.ndarray, Y: np.ndarray, depth: int, activation: str = "relu", bias: bool = False,
          batchnorm: bool = False, **opts: object) -> list[str]:
    """Assumptions of this setting that the problem breaks ([] when it applies).

    Any data, depth 2, ReLU, no batch normalization. ``bias=True`` means unpenalized
    hidden and output biases (the package convention, docs/settings/spline.md#setting Variant A). To penalize
    the bias with the weight (Variant B), append a column of ones to X instead: it is then
    an ordinary weight.
    """
    problems = []
    if activation != "relu":
        problems.append(f"activation={activation!r}: this setting is for ReLU networks")
    if batchnorm:
        problems.append("batchnorm=True: use the 'batchnorm' setting")
    if depth != 2:
        problems.append(f"depth={depth}: the exact convex program covers two-layer ReLU networks (depth=2) only; "
                        "deep ReLU networks on general data have no computable dual constraint (docs/settings/two_layer.md), so "
                        "dualnet cannot certify them yet")
    return problems


def rho(U: np.ndarray, X: np.ndarray, depth: int = 2, t: float = 1.0, bias: bool = False,
        executor: Executor | None = None, progress: bool | None = None, max_patterns: int = MAX_PATTERNS,
        n_starts: int = 200, seed: int = 0, budget: Budget | None = None, bound_time: float = 30.0,
        bound_rtol: float = 1e-6, **_: Any) -> RhoValue:
    """ρ(U) = max_{‖w‖≤1} ‖Uᵀ(Xw)_+‖, or a proven upper bound on it, with an estimate (see :func:`oracle`).

    Exact where the patterns can be enumerated (one output); otherwise the proven upper
    bound of the oracle (up to ``bound_time`` seconds of branch and bound, within the
    ``budget``), with the best value attained (so ρ is at least that) as the estimate.
    """
    res = oracle(U, X, executor=executor, progress=progress, max_patterns=max_patterns, n_starts=n_starts,
                 seed=seed, bias=bias, budget=budget, bound_time=bound_time, bound_rtol=bound_rtol)
    if res.exact:
        return RhoValue(res.value, True)
    return RhoValue(res.proven_upper, True, res.value)


def rho_reason(pb: Problem) -> str:
    """Why :func:`rho` is not exact on ``pb`` ("" when it is)."""
    max_patterns = problem_options(pb)["max_patterns"]
    # The rank and the counting bound of the arrangement, once per data array (fit, the
    # certificate's candidates and its reason all ask).
    r, bound = cached(pb.X, "two-layer pattern bound", _rank_and_pattern_bound)
    if pb.n_outputs == 1 and (r <= 2 or bound <= max_patterns):
        return ""
    return _inexact_reason(pb.n_samples, r, pb.n_outputs, bound, max_patterns, pb.bias)


def _rank_and_pattern_bound(X: np.ndarray) -> tuple[int, int]:
    A = geometry(X).A
    r = A.shape[1]
    return r, (pattern_bound(len(_hyperplanes(A)), r) if r else 1)


def problem_options(pb: Problem) -> dict[str, Any]:
    """Keyword arguments :func:`rho` and :func:`dual_program` take from ``pb`` (api hook)."""
    keys = ("executor", "progress", "max_patterns", "n_starts", "seed", "bound_time")
    opts = {k: pb.options.get(k, _OPTIONS[k]) for k in keys}
    if "bound_time" not in pb.options and pb.budget.time_limit is not None and not pb.budget.default:
        # Within the user's time_limit the certificate's branch and bound gets what the loop left of
        # it (an anytime bound only tightens with time): rank 5, n = 200 with time_limit=120 returned
        # after 40 s, 80 s unused, its bound the weaker side of the gap. A default budget keeps the cap.
        opts["bound_time"] = np.inf
    # Branch and bound to relative accuracy tol/2: ρ̄ = ρ(1 + δ) costs the bound about δ·P(0).
    return {"bias": pb.bias, "budget": pb.budget, "bound_rtol": pb.tol / 2, **opts}


def dual_candidates(candidates: list[np.ndarray], pb: Problem) -> list[np.ndarray]:
    """The certificate's dual points (api hook): duplicates dropped, centred ones added with biases.

    Beyond enumeration each candidate costs a branch and bound, and the network's own dual
    point often equals the master's to rounding: near-duplicates are dropped there. With an
    exact oracle both are kept: its NNLS values are upper bounds that can be loose, and two
    nearby points need not get equally tight ones (seen on whitened data, 0.69 against 0.5). With biases the dual needs 1ᵀU = 0 (free
    constants), so the centred candidates join.
    """
    kept: list[np.ndarray] = []
    costly = bool(rho_reason(pb))     # only branch and bound is worth saving; an exact scan is cheap
    for U in candidates:
        U = np.asarray(U, dtype=float)
        if not costly or not any(np.allclose(U, V, rtol=1e-9, atol=1e-12 * max(1.0, float(np.abs(V).max())))
                                 for V in kept):
            kept.append(U)
    if not pb.bias:
        return kept
    return [*kept, *(_center(U, pb.Y, pb.loss) for U in kept)]


def dual_program(X: np.ndarray, Y: np.ndarray, depth: int, beta: float, t: float | None, loss: Loss,
                 D: np.ndarray | None = None, bias: bool = False, max_patterns: int = MAX_PATTERNS,
                 **_: Any) -> DualProgram:
    """The dual of docs/settings/two_layer.md over the patterns D (every pattern when None), K = 1.

    max −ℓ*(−u) s.t. ‖AᵀD_i u + Aᵀ(2D_i − I)α_i‖ ≤ β, ‖−AᵀD_i u + Aᵀ(2D_i − I)α'_i‖ ≤ β, α, α' ≥ 0.
    With every pattern its value is the global optimum; with a subset it is a relaxation
    of the dual of the restricted primal (their values agree).
    """
    if Y.shape[1] != 1:
        raise InputError(f"The two-layer ReLU dual with {Y.shape[1]} outputs has a copositive-type constraint "
                         "(docs/settings/two_layer.md) and no finite CVXPY form. Pass one output column.")
    A = _design(X, bias)[1]
    if D is None:
        D = _enumerate(geometry(_augment(X, bias)).A, None, False, max_patterns).D
    D = D[:, D.any(axis=0)]
    n, P = D.shape
    Dm, S = D.astype(float), 2.0 * D - 1.0
    u = cp.Variable((n, 1), name="U")
    alpha, alpha2 = cp.Variable((n, P), nonneg=True), cp.Variable((n, P), nonneg=True)
    threshold = cp.Parameter(nonneg=True, name="beta")
    objective, constraints = loss.dual(u, Y)
    Du = cp.multiply(Dm, u @ np.ones((1, P)))
    free = slice(A.shape[1] - 1, A.shape[1]) if bias else None
    for sign, a in ((1.0, alpha), (-1.0, alpha2)):
        M = A.T @ (sign * Du + cp.multiply(S, a))
        if free is None:
            constraints.append(cp.norm(M, 2, axis=0) <= threshold)
        else:                               # an unpenalized bias coordinate: its component must vanish
            constraints += [cp.norm(M[: A.shape[1] - 1], 2, axis=0) <= threshold, M[free] == 0]
    program = DualProgram(cp.Problem(cp.Maximize(objective), constraints), threshold, lambda: u.value, depth, t)
    program.set_beta(beta, t)
    return program


def fit(pb: Problem) -> Fit:
    """Globally optimal two-layer ReLU network for ``pb`` (the pipeline ``api.solve`` calls).

    ``method="auto"``: cutting plane (docs/settings/two_layer.md). ``method="cvxpy"``: one convex program
    over all patterns (enumerated when the counting bound allows, otherwise
    ``n_patterns`` sampled ones; an upper bound then). Options (keyword arguments of
    ``dn.solve``): patterns, n_patterns, seed, max_patterns, executor, progress, init,
    max_iter, top, eps, n_starts, train_iter, bound_time (seconds of branch and bound per dual point
    in the certificate when the patterns cannot be enumerated; default: what is left of
    ``time_limit`` when one is given, else 30, within the budget).
    Where the oracle cannot be exact and no ``init`` is given, seeding trainings come first
    and, without ``time_limit``, set a default budget (:func:`_seeding`); the answer is then the
    best of the cutting plane's network, its polish and the trainings (:func:`_best_network`).
    """
    opts = _options(pb)
    if pb.method in ("fast", "closed-form"):
        raise InputError(f"The 'method' parameter of solve is {pb.method!r}, but two-layer ReLU networks on general "
                         "data have no closed form. Use method='auto' (cutting plane) or method='cvxpy' (one "
                         "convex program over the patterns).")
    geo, A = _design(pb.X, pb.bias)
    reason = rho_reason(pb)          # computed once: it decides the seeding, the budget and the master
    if pb.method == "cvxpy" and pb.n_outputs == 1:
        return _fit_full(pb, geo, A, opts)
    seeds, whole, default = _seeding(pb, opts, reason)
    loop = whole.sub(0.75)          # the certificate's proven bound needs the rest
    if seeds:                       # the best trained network seeds the patterns, the oracle and the first master
        opts["init"] = min(seeds, key=lambda net: net.objective(pb.X, pb.Y, pb.beta, pb.loss))
    if pb.n_outputs > 1:
        if pb.bias:
            raise InputError("bias=True with several outputs is not supported by the 'relu-two-layer' setting. "
                             "Append a column of ones to X (a penalized bias) or use bias=False.")
        fitted = _fit_vector(pb, geo, opts, loop)
        fitted.info["stopped"] = _stopped(fitted.info["stopped"], default)
        fitted.budget = whole if default else None
        return fitted
    res = cutting_plane(pb.X, pb.Y, pb.beta, pb.loss, init=opts["init"], bias=pb.bias, seed=opts["seed"],
                        max_iter=opts["max_iter"], top=opts["top"], eps=opts["eps"], solver=pb.solver,
                        executor=opts["executor"], progress=opts["progress"], max_patterns=opts["max_patterns"],
                        n_starts=opts["n_starts"], train_iter=opts["train_iter"],
                        budget=loop.sub(0.8) if seeds else loop,
                        patterns=neuron_patterns(seeds, pb.X) if seeds else None,
                        # Measured: interior-point masters are faster to the accuracy a proof needs
                        # (peer problem A: 3.4x); inexact first-order masters win per round when the
                        # oracle is a many-start estimate (diabetes: 2-6 s against ~12 s a round).
                        master="cvxpy" if not reason else "first-order")
    net, how = res.network, res.method
    if seeds:
        net, how = _best_network(pb, res, seeds, loop)
    info = {"iterations": res.iterations, "patterns": res.D.shape[1], "rho/beta": res.rho / pb.beta,
            "oracle_exact": res.exact, "reason": res.reason, "stopped": _stopped(res.stopped, default),
            "seeding": {"runs": len(seeds), "values": [float(n.objective(pb.X, pb.Y, pb.beta, pb.loss))
                                                       for n in seeds]}}
    return Fit(net, [res.U], how, None, info, budget=whole if default else None)


#: The default time budget of a call whose oracle cannot be exact (no ``time_limit`` given): this many
#: times one seeding training's measured time, within [DEFAULT_MIN_TIME, DEFAULT_MAX_TIME] seconds.
#: Tied to the training time, it grows with the problem: a small table gets half a minute at most (less
#: when the search ends early), a large one two minutes. The cap is what a user would give 2 000 Adam
#: steps of a width-200 network on n = 20 000, d = 50 (168 s on a quiet core); measured there, the
#: answer at 100, 130 and 180 s was 134.459, 134.442 and 134.434 against Adam's 135.298.
DEFAULT_TRAININGS, DEFAULT_MIN_TIME, DEFAULT_MAX_TIME = 16, 30.0, 120.0
#: The default budget where branch and bound backs the oracle: the loop ends at a proof, so the time
#: is spent only where the proof needs it (rank 3, n = 2000: 31 s of CPU; 70-90 s of wall clock at load 4-6)
DEFAULT_PROOF_TIME = 180.0
#: The default budget of a warm start (``init`` given, no seeding training to measure the problem by)
DEFAULT_INIT_TIME = 120.0


def _seeding(pb: Problem, opts: dict[str, Any], reason: str) -> tuple[list, Budget, str]:
    """The seeding trainings, the whole call's budget, and the sentence that explains a default one.

    Where the oracle is exact there is no seeding here (the cutting plane trains one short
    run) and, without ``time_limit``, no budget: it runs to convergence, a proof. Otherwise up
    to ``SEED_RUNS`` L-BFGS trainings within a quarter of the budget, which is the call's
    ``time_limit`` or, without one, ``DEFAULT_TRAININGS`` times the first training's time
    (clipped to [``DEFAULT_MIN_TIME``, ``DEFAULT_MAX_TIME``] s; ``DEFAULT_PROOF_TIME`` where branch
    and bound backs the oracle, as the loop then ends at a proof). A warm start (``init``) is
    not seeded; without ``time_limit`` it gets ``DEFAULT_INIT_TIME``.
    """
    given = pb.budget.time_limit is not None
    if not reason or (given and opts["init"] is not None):
        return [], pb.budget, ""
    if opts["init"] is not None:
        return [], Budget(DEFAULT_INIT_TIME, default=True), (
            f"the default time budget of {DEFAULT_INIT_TIME:g} s of a warm start (the oracle cannot be exact "
            "here) ran out; pass time_limit= to change it")
    whole = pb.budget if given else Budget(DEFAULT_PROOF_TIME)
    seed = opts["seed"]
    seeds = seed_runs(pb.X, pb.Y, pb.beta, pb.loss, [seed], pb.bias, whole.sub(0.25))
    default = ""
    proving = pb.n_outputs == 1 and not pb.bias and _bnb_rank(geometry(pb.X).A, opts["max_patterns"])
    if not given and proving:
        # Branch and bound backs the oracle: the loop ends at a proof, so a larger budget costs time
        # only where the proof needs it (rank 3, n = 2000: 31 s of CPU, 70-90 s of wall clock at load
        # 4-6, while 16 trainings on a quiet machine came to 79 s and left the loop 59 s).
        whole = Budget(DEFAULT_PROOF_TIME, start=whole.start, default=True)
        default = (f"the default time budget of {DEFAULT_PROOF_TIME:g} s (branch and bound proves the optimum "
                   "here, given time) ran out; pass time_limit= to change it")
    elif not given:
        limit = min(DEFAULT_MAX_TIME, max(DEFAULT_MIN_TIME, DEFAULT_TRAININGS * (time.perf_counter() - whole.start)))
        whole = Budget(limit, start=whole.start, default=True)
        default = (f"the default time budget of {limit:.3g} s ({DEFAULT_TRAININGS} times one seeding training, "
                   f"within {DEFAULT_MIN_TIME:g}-{DEFAULT_MAX_TIME:g} s; the oracle cannot be exact here) ran out; "
                   "pass time_limit= to change it")
    if proving:
        # Branch and bound backs the oracle here: the time of more trainings goes to its search.
        return seeds, whole, default
    quarter = Budget(max(0.25 * whole.time_limit - (time.perf_counter() - whole.start), 0.0))
    seeds += seed_runs(pb.X, pb.Y, pb.beta, pb.loss, range(seed + 1, seed + SEED_RUNS), pb.bias, quarter)
    return seeds, whole, default


def _stopped(stopped: str, default: str) -> str:
    """What cut the loop short, in the words of the default budget when that was it."""
    return default if stopped and default else stopped


def _best_network(pb: Problem, res: CuttingPlaneResult, seeds: list[Network], loop: Budget) -> tuple[Network, str]:
    """The best of the cutting plane's network, its L-BFGS polish (in what is left of ``loop``) and the seeds.

    Every one is a feasible network, so the best value is the answer; the program over the
    seeds' patterns holds each seed, so the master is rarely beaten by one (only when it
    stopped far from its optimum), and the polish moves the master's directions, which
    the program keeps fixed.
    """
    candidates = [(res.network, res.method)]
    if not loop.expired():
        candidates.append((_polish(res.network, pb.X, pb.Y, pb.beta, pb.loss, 5000, max(loop.remaining(), 1e-3)),
                           res.method + " + L-BFGS polish"))
    candidates += [(net, f"L-BFGS training (seed run {k}), better than the {res.method}")
                   for k, net in enumerate(seeds)]
    return min(candidates, key=lambda c: c[0].objective(pb.X, pb.Y, pb.beta, pb.loss))


def _fit_full(pb: Problem, geo: Geometry, A: np.ndarray, opts: dict[str, Any]) -> Fit:
    how = opts["patterns"]
    if isinstance(how, np.ndarray):
        P = Patterns(how.astype(bool), False, 0, "given")
    else:
        P = _patterns(geometry(_augment(pb.X, pb.bias)).A, how, opts["n_patterns"], opts["seed"],
                      opts["max_patterns"], opts["executor"], opts["progress"])
    D = P.D[:, P.D.any(axis=0)]
    if pb.bias:
        D = _unique_columns(np.hstack([D, np.ones((pb.n_samples, 1), dtype=bool)]))
    program, V, W = _program(A, pb.Y, D, pb.beta, pb.loss, int(pb.bias))
    U, method = solve_cvxpy(program, pb.solver)
    Vv, Wv = V.value, W.value
    clean = _support_resolve(A, pb.Y, D, D, Vv, Wv, program.problem.value, pb.beta, pb.loss, int(pb.bias), pb.solver)
    if clean is not None:
        Vv, Wv = clean[0], clean[1]
    net = _network_from_program(geo, Vv, Wv, 1, int(pb.bias))
    info = {"patterns": D.shape[1], "patterns_exact": P.exact, "patterns_reason": P.reason}
    return Fit(net, [pb.loss.project_dual(U, pb.Y)], f"{method} ({D.shape[1]} patterns)", program.problem, info)
