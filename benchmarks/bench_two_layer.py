"""Two-layer ReLU (relu-two-layer): sampled-pattern programs per solver, pyscnn, cutting plane, exact certification.

Problem: n = 200, d = 10 Gaussian X, labels from a planted 5-neuron ReLU network plus noise,
β = 1. Every record carries the objective it reached and its relative gap (to the CLARABEL
optimum of the same pattern program, or to the certified/estimated bound), not only seconds.

pyscnn (the `bench` extra; imported as ``scnn``) solves the same cone-constrained program on
identical patterns (the same gate vectors) with its augmented-Lagrangian method; its objective
is scaled by 1/n, so λ = β/n, and its solution is scored with dualnet's objective.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest
from benchutil import ACCURACY, record

import dualnet as dn
from dualnet.losses import get_loss
from dualnet.settings import two_layer as tl
from dualnet.train import train

N, D, BETA = 200, 10, 1.0
SOLVERS = ["CLARABEL", "ECOS", "SCS"]


@cache
def planted(n: int = N, d: int = D, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 5)), 0.0) @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n)
    return X, y


@cache
def gates(P: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((D, P))


def patterns_of(G: np.ndarray) -> np.ndarray:
    X, _ = planted()
    return X @ G > 0


@cache
def optimum(P: int) -> float:
    """The CLARABEL optimum of the program over the P sampled patterns (the accuracy reference)."""
    X, y = planted()
    return float(tl.convex_program(X, y, BETA, patterns_of(gates(P))).solve(solver="CLARABEL"))


def p0() -> float:
    return get_loss("squared").zero_value(planted()[1][:, None])


@pytest.mark.parametrize("P", [20, 100])
@pytest.mark.parametrize("solver", SOLVERS)
def test_sampled_program(benchmark, P: int, solver: str) -> None:
    X, y = planted()
    benchmark.group = f"two-layer n={N} d={D} sampled P={P}"
    sol = benchmark.pedantic(dn.solve, args=(X, y), kwargs=dict(beta=BETA, method="cvxpy", solver=solver,
                                                                patterns=patterns_of(gates(P))), rounds=1,
                             iterations=1)
    record(benchmark, sol, kind=f"cvxpy:{solver}", objective=float(sol.value),
           rel_gap_to_program=float((sol.value - optimum(P)) / p0()))
    # The network recovered from the program over these patterns has the program's optimum.
    assert abs(sol.value - optimum(P)) <= ACCURACY[solver] * p0()


def _pyscnn(X: np.ndarray, y: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scnn.metrics import Metrics
    from scnn.models import ConvexReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import AL

    model = ConvexReLU(G)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cvx, _ = optimize_model(model, AL(model), Metrics(), X, y, regularizer=NeuronGL1(BETA / X.shape[0]),
                                return_convex=True, unitize_data=False, dtype="float64")
    V, W = cvx.parameters[0][0], cvx.parameters[1][0]          # (p, d) each
    # pyscnn drops duplicate and zero patterns and reorders the gates: score with its own.
    return V, W, X @ cvx.G > 0


def _score(X: np.ndarray, y: np.ndarray, D: np.ndarray, V: np.ndarray, W: np.ndarray) -> tuple[float, float]:
    """Dualnet's objective of a convex solution and its largest cone violation."""
    F = np.sum(D * (X @ (V - W).T), axis=1)
    value = 0.5 * float(np.sum((F - y) ** 2)) + BETA * float(np.linalg.norm(V, axis=1).sum()
                                                              + np.linalg.norm(W, axis=1).sum())
    S = 2.0 * D - 1.0
    violation = float(max(0.0, -np.min(S * (X @ V.T)), -np.min(S * (X @ W.T))))
    return value, violation


@pytest.mark.parametrize("P", [20, 100])
def test_pyscnn_same_patterns(benchmark, P: int) -> None:
    pytest.importorskip("scnn", reason="pyscnn is not installed (the 'bench' extra: pip install pyscnn)")
    X, y = planted()
    G = gates(P)
    benchmark.group = f"two-layer n={N} d={D} sampled P={P}"
    V, W, D_used = benchmark.pedantic(_pyscnn, args=(X, y, G), rounds=1, iterations=1)
    assert {c.tobytes() for c in D_used.T} <= {c.tobytes() for c in patterns_of(G).T}   # identical patterns
    value, violation = _score(X, y, D_used, V, W)
    benchmark.extra_info.update(kind="pyscnn:AL", objective=value, value=value, cone_violation=violation,
                                rel_gap_to_program=float((value - optimum(P)) / p0()))


@pytest.mark.long_benchmark           # about 100 s: left out of the smoke run
def test_cutting_plane(benchmark) -> None:
    """Seeded from a short L-BFGS run, grown by the many-start oracle (rank 10: not a proof)."""
    X, y = planted()
    benchmark.group = f"two-layer n={N} d={D} cutting plane"
    sol = benchmark.pedantic(dn.solve, args=(X, y), kwargs=dict(beta=BETA, progress=False), rounds=1, iterations=1)
    record(benchmark, sol, kind="cutting-plane", objective=float(sol.value),
           iterations=len(sol.info["iterations"]), patterns=int(sol.info["patterns"]))
    assert (sol.certified or sol.reason) and sol.value < p0()     # rank 10: an estimate, and it says why


def test_lbfgs_reference(benchmark) -> None:
    X, y = planted()
    benchmark.group = f"two-layer n={N} d={D} cutting plane"
    net = benchmark.pedantic(train, args=(X, y), kwargs=dict(beta=BETA, width=64, seed=0, max_iter=3000), rounds=1,
                             iterations=1)
    benchmark.extra_info.update(kind="lbfgs width 64", objective=float(net.objective(X, y, BETA)))
    assert net.objective(X, y, BETA) < p0()          # training improved on the zero network


@pytest.mark.parametrize("n", [100, 500])
def test_exact_certification_d2(benchmark, n: int) -> None:
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 2))
    y = np.sin(2 * X[:, 0]) + 0.3 * rng.standard_normal(n)
    beta = 0.1 * np.sqrt(n) / 10
    benchmark.group = f"two-layer d=2 exact n={n}"
    sol = benchmark.pedantic(dn.solve, args=(X, y), kwargs=dict(beta=beta, progress=False), rounds=1, iterations=1)
    record(benchmark, sol, kind="cutting-plane exact", objective=float(sol.value),
           iterations=len(sol.info["iterations"]))
    assert sol.certified


# ----------------------------------------------------------- peer problem A: the first-order solver
PEER_P = 250          # identical sampled patterns (issue 9, "peer problem A")


@cache
def peer_a() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, y, D): the design and the 250 sampled patterns of the program."""
    from dualnet.settings.two_layer.program import _design

    X, y = planted()
    return _design(X, False)[1], y, patterns_of(gates(PEER_P))


#: issue 9's target for the time ratio to CVXPY+CLARABEL (build + solve); met: 0.14 CPU, 0.13 wall (mean of 3, load 2)
PEER_TARGET = 0.2
#: rounds of the pair (CVXPY+CLARABEL, solve_patterns), each timed in this process
PEER_ROUNDS = 3


@pytest.mark.long_benchmark   # CLARABEL 10-50 s a round under load, the solver about a third of that: not in smoke
def test_peer_a_first_order(benchmark) -> None:
    """The restricted program by solver.solve_patterns vs CVXPY+CLARABEL, same patterns, in one run.

    solve_patterns: augmented Lagrangian + FISTA (single precision) to a 1e-2·P(0) proven gap, then active-set
    Newton on the working set (faces of the cones) to the 1e-6 certificate. Before each timed
    round, CVXPY builds and CLARABEL solves the same program (untimed by pytest-benchmark,
    timed here): the ratios are per round, wall clock and CPU time, then their mean and min.
    """
    import time

    from dualnet.settings.two_layer.solver import solve_patterns

    A, y, D = peer_a()
    X, _ = planted()
    pairs: list[dict] = []

    def clarabel_round() -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        value = float(tl.convex_program(X, y, BETA, D).solve(solver="CLARABEL"))
        pairs.append(dict(ref=value, cvx_wall=time.perf_counter() - wall, cvx_cpu=time.process_time() - cpu))

    def solve_round():
        cpu = time.process_time()
        fit = solve_patterns(A, y, D, BETA, tol=1e-6, max_iter=200_000, time_limit=600)
        pairs[-1].update(fit=fit, cpu=time.process_time() - cpu)
        return fit

    benchmark.group = f"two-layer n={N} d=10 peer A P={PEER_P}"
    benchmark.pedantic(solve_round, setup=clarabel_round, rounds=PEER_ROUNDS, iterations=1)
    scale = p0()
    wall = [r["fit"].seconds / r["cvx_wall"] for r in pairs]
    cpu = [r["cpu"] / r["cvx_cpu"] for r in pairs]
    fit, ref = pairs[-1]["fit"], pairs[-1]["ref"]
    benchmark.extra_info.update(kind="first-order (AL + FISTA) + Newton on the working set", value=fit.value,
                                lower_bound=fit.lower, rel_gap=fit.rel_gap, stopped=fit.stopped,
                                iterations=fit.iterations, newton_steps=fit.state["newton_steps"],
                                clarabel_value=ref, clarabel_seconds=[r["cvx_wall"] for r in pairs],
                                time_ratio_to_clarabel=float(np.mean(wall)), time_ratio_min=float(np.min(wall)),
                                cpu_ratio_to_clarabel=float(np.mean(cpu)), cpu_ratio_min=float(np.min(cpu)),
                                ratio_target=PEER_TARGET, rel_diff_to_clarabel=(fit.value - ref) / scale)
    # Every round: the proven bracket holds CLARABEL's optimum (up to its own accuracy), and the
    # optima agree. The time ratios are recorded, not asserted: under shared load they move by ±30 %.
    for r in pairs:
        fit, ref = r["fit"], r["ref"]
        assert fit.converged and fit.lower <= ref + 1e-7 * scale and ref <= fit.value + 1e-7 * scale
        assert abs(fit.value - ref) <= 1e-6 * scale
