"""relu-1d setting: the O(n) spline program with each CVXPY solver, against the dense program.

Targets (docs/settings/spline.md): the one-dimensional program in at most 0.2 s at n = 1000
and 2 s at n = 10000. BLAS runs on one thread (threadpool_limits(1), here and in conftest).
Every run records the relative gap its answer reached.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from benchutil import assert_certified, assert_value, record
from threadpoolctl import threadpool_limits

import dualnet as dn
from dualnet.losses import get_loss
from dualnet.settings import spline

SOLVERS = ["CLARABEL", "ECOS", "SCS"]
BETA = 0.1


def sine_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs uniform on [−2, 2], labels sin(3x) + noise: a spline with a few dozen kinks."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    return x[:, None], np.sin(3 * x) + 0.3 * rng.standard_normal(n)


def _rounds(n: int) -> int:
    return 1 if n >= 10000 else 3


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n", [100, 1000, 10000])
def test_solve(benchmark, n, solver):
    """dn.solve end to end: O(n) primal, active-set refit, certificate."""
    X, y = sine_data(n)
    benchmark.group = f"relu-1d n={n}"
    with threadpool_limits(limits=1):
        sol = benchmark.pedantic(dn.solve, args=(X, y), kwargs=dict(beta=BETA, bias=True, method="cvxpy",
                                                                     solver=solver),
                                 rounds=_rounds(n), iterations=1)
    record(benchmark, sol, kind=f"solve {solver}", knots=int(sol.knots.size))
    assert_certified(sol, solver)


@pytest.mark.parametrize("side", ["dual", "primal"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n", [100, 1000, 10000])
def test_program(benchmark, n, solver, side):
    """The O(n) finite dual (what ``fit`` solves) or primal alone, compile + solve; gap to the optimum."""
    X, y = sine_data(n)
    benchmark.group = f"relu-1d n={n}"
    reference = dn.solve(X, y, beta=BETA, bias=True)
    build = spline.dual_program if side == "dual" else spline.primal_program

    def run() -> float:
        prog = build(X, y[:, None], 2, BETA, None, get_loss("squared"))
        return float(prog.problem.solve(solver=solver))

    with threadpool_limits(limits=1):
        value = benchmark.pedantic(run, rounds=_rounds(n), iterations=1)
    benchmark.extra_info.update(kind=f"O(n) {side} {solver}", value=value,
                                rel_gap=abs(value - reference.value) / reference.value)
    assert reference.certified
    assert_value(value, reference.value, y, solver)


@pytest.mark.parametrize("n", [100, 1000])
def test_dense_program(benchmark, n):
    """The same primal with the dense n×n atom matrices (what the O(n) form avoids)."""
    X, y = sine_data(n)
    x = X[:, 0]
    benchmark.group = f"relu-1d n={n}"
    reference = dn.solve(X, y, beta=BETA, bias=True)
    A, B = np.maximum(x[:, None] - x[None, :], 0), np.maximum(x[None, :] - x[:, None], 0)

    def run() -> float:
        z, zl, b0 = cp.Variable(n), cp.Variable(n), cp.Variable()
        prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ z + B @ zl + b0 - y) + BETA * (cp.norm1(z)
                                                                                            + cp.norm1(zl))))
        return float(prob.solve(solver="CLARABEL"))

    with threadpool_limits(limits=1):
        value = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(kind="dense program CLARABEL", value=value,
                                rel_gap=abs(value - reference.value) / reference.value)
    assert reference.certified
    assert_value(value, reference.value, y, "CLARABEL")


@pytest.mark.parametrize("n", [1000, 10000])
def test_deep_tform(benchmark, n):
    """Depth 3, t = 1: the ramp program (O(n) slope form)."""
    X, y = sine_data(n)
    benchmark.group = f"relu-1d n={n}"
    with threadpool_limits(limits=1):
        sol = benchmark.pedantic(dn.solve, args=(X, y), kwargs=dict(beta=BETA, depth=3, t=1.0, bias=True),
                                 rounds=_rounds(n), iterations=1)
    record(benchmark, sol, kind="deep t-form CLARABEL", knots=int(sol.knots.size))
    assert_certified(sol)


# --------------------------------------------------------------------------- scaling in n
#: one process per case, so ru_maxrss is this solve's peak (the targets: 2 GB at 10⁵, 8 GB at 10⁶)
_SCALING_RUN = """
import json, resource, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
import dualnet as dn
n, depth = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.uniform(-2, 2, n)
y = np.sin(3 * x) + 0.3 * rng.standard_normal(n)
with threadpool_limits(limits=1):
    start = time.process_time()
    sol = dn.solve(x[:, None], y, beta=1e-3 * n, depth=depth, t=None if depth == 2 else 1.0, bias=True)
    cpu = time.process_time() - start
print(json.dumps(dict(cpu=cpu, peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      certified=bool(sol.certified), rel_gap=float(sol.rel_gap), value=float(sol.value),
                      knots=int(sol.knots.size), method=sol.method)))
"""


#: peak resident memory allowed per n (issue 14): 2 GB up to 10⁵ samples, 8 GB at 10⁶
PEAK_MB = {1000: 2048, 10000: 2048, 100000: 2048, 1000000: 8192}


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("n", [1000, 10000, 100000,
                               pytest.param(1000000, marks=pytest.mark.long_benchmark)])   # minutes, ~5 GB
def test_scaling(benchmark, n, depth):
    """β = 1e-3·n (the spline keeps dozens to hundreds of kinks): CPU time and peak memory per n.

    Depth 2 and the deep t-form (t = 1). Each case runs in a fresh interpreter so its peak
    resident memory is its own; the answer must be certified and the peak within the target
    (2 GB up to n = 10⁵, 8 GB at 10⁶). From 10⁴ samples the dual goes to CLARABEL directly
    (``method`` says "direct conic").
    """
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    benchmark.group = f"relu-1d scaling depth {depth}"
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", _SCALING_RUN, str(n), str(depth)], capture_output=True, text=True,
                             env=env, timeout=1800, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(kind=f"scaling depth {depth}", **result)
    assert result["certified"], result
    assert result["peak_mb"] < PEAK_MB[n], result


# --------------------------------------------------------------------------- deep weight decay
def issue10_data() -> tuple[np.ndarray, np.ndarray]:
    """The depth-50 case of issue 10: x uniform on [−2, 2], y ~ N(0, 1), default_rng(1), n = 20."""
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-2, 2, 20))
    return x[:, None], rng.standard_normal(20)


@pytest.mark.parametrize(("data", "n", "depth", "beta"), [("linear", 40, 3, 0.1), ("linear", 200, 4, 0.1),
                                                          ("sine", 100, 3, 0.1), ("sine", 100, 8, 0.1),
                                                          ("issue10", 20, 50, 0.3)])
def test_deep_weight_decay_ratio(benchmark, data, n, depth, beta):
    """Plain weight decay (t=None) against the t-form at t = 1, both timed in this run (CPU, one thread).

    Linear data (n = 40, 200) need one ramp: the bounds meet after the coarse pass and the
    solves where the bound is attained (then a few refining solves). The sine data (n = 100)
    need several ramps: the bounds do not meet; the search adds solves where the bound is
    attained until it cannot move by more than tol·P(0), searches the chain family, refines
    the better one, and polishes with L-BFGS within its time share (at depth 8 the chain wins, and
    most of the time is the bound's ramp solves and the chain's recoveries). At depth 50 (issue 10)
    the bounds do not meet either (the chain against the ramp bound, a factor 2^{2/L} on the
    penalty). Target: at most 10× the t-form (issue 14).
    """
    import time

    if data == "sine":
        X, y = sine_data(n)
    elif data == "issue10":
        X, y = issue10_data()
    else:
        x = np.linspace(-1, 1, n)
        X, y = x[:, None], 2 * x + 0.5
    benchmark.group = "relu-1d deep weight decay"
    with threadpool_limits(limits=1):
        dn.solve(X, y, beta=beta, depth=depth, t=1.0, bias=True)                  # imports and caches warm
        start = time.process_time()
        tform = dn.solve(X, y, beta=beta, depth=depth, t=1.0, bias=True)
        t_form = time.process_time() - start
        start = time.process_time()
        sol = benchmark.pedantic(dn.solve, args=(X, y), kwargs=dict(beta=beta, depth=depth, bias=True),
                                 rounds=1, iterations=1)
        t_wd = time.process_time() - start
    record(benchmark, sol, kind=f"weight decay depth {depth}", t_form_s=t_form, ratio=t_wd / t_form,
           lower_bound=float(sol.lower_bound))
    assert tform.certified and sol.lower_bound <= sol.value
    if data == "linear":
        assert_certified(sol)
    elif data == "sine" and depth == 3:     # the bracket of an earlier release (4.51829, bound 3.974) must not widen
        assert sol.value <= 4.51830 and sol.lower_bound >= 4.15
    elif data == "sine":    # depth 8: value 3.2349213, bound 2.81385 (docs/settings/spline.md), no wider
        assert sol.value <= 3.2349214 and sol.lower_bound >= 2.81384
    else:                   # issue 10's bracket [9.3209, 9.5805]: no wider, and its reason kept
        assert sol.value <= 9.58054 and sol.lower_bound >= 9.32
        assert not sol.certified and "fold" in sol.reason
