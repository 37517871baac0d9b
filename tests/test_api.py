"""Public API end to end: solve, certify, dual_program, path (linear setting data).

Results are compared with independent oracles (closed forms of docs/theory/known-answers.md, separate solves)
and with each other; the certificate's claims are checked against the network's own value.
"""

from __future__ import annotations

import dataclasses

import cvxpy as cp
import numpy as np
import pytest

import dualnet as dn
from dualnet.losses import LOSSES
from dualnet.settings import linear
from dualnet.train import train

X2, Y34 = np.eye(2), np.array([3.0, 4.0])


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3))
    return X, X @ rng.standard_normal((3, 2)) + 0.1 * rng.standard_normal((8, 2))


# -------------------------------------------------------------------------- solve
def test_solution_fields_and_predict() -> None:
    sol = dn.solve(X2, Y34, beta=1.0, activation="linear")          # T1
    assert isinstance(sol, dn.Solution)
    assert sol.certified and sol.exact and sol.reason == ""
    assert (sol.setting, sol.loss, sol.depth, sol.beta, sol.t) == ("linear", "squared", 2, 1.0, None)
    assert sol.reference == linear.REFERENCE
    assert sol.program is None and sol.method.startswith("closed-form")
    assert sol.time > 0
    assert sol.value == pytest.approx(4.5) and sol.lower_bound == pytest.approx(4.5)
    assert sol.gap == pytest.approx(sol.value - sol.lower_bound, abs=1e-15)
    assert sol.rel_gap == pytest.approx(sol.gap / 12.5, abs=1e-15)           # P(0) = ½‖y‖² = 12.5
    pred = sol.predict(X2)
    assert pred.shape == (2,)                                               # 1-D labels -> 1-D predictions
    np.testing.assert_allclose(pred, [2.4, 3.2], atol=1e-12)
    np.testing.assert_allclose(sol.dual, [[0.6], [0.8]], atol=1e-12)
    sol2 = dn.solve(X2, Y34[:, None], beta=1.0, activation="linear")
    assert sol2.predict(X2).shape == (2, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sol.value = 0.0


def test_solution_repr_shows_outcome_first() -> None:
    text = repr(dn.solve(X2, Y34, beta=1.0, activation="linear"))
    assert text.startswith("Solution(certified=True, gap=")
    order = [text.index(f"{name}=") for name in ("certified", "gap", "rel_gap", "value", "lower_bound")]
    assert order == sorted(order)
    assert "network=" not in text and "dual=" not in text                  # bulky fields stay out


def test_solution_str_is_a_summary() -> None:
    text = str(dn.solve(X2, Y34, beta=1.0, depth=3, t=1.0, activation="linear"))
    assert text.splitlines()[0] == "dualnet solution (certified) - setting linear, depth 3, beta 1, t 1"
    for word in ("value        4.5", "lower bound  4.5", "gap", "method", "reference"):
        assert word in text


def test_solve_auto_and_named_setting_agree(data) -> None:
    X, Y = data
    auto = dn.solve(X, Y, beta=0.5, activation="linear")
    named = dn.solve(X, Y, beta=0.5, activation="LINEAR", setting="linear")
    assert auto.setting == named.setting == "linear"
    assert auto.value == pytest.approx(named.value, rel=1e-12)


def test_solve_accepts_loss_objects_and_refuses_unused_options(data) -> None:
    X, Y = data
    a = dn.solve(X, Y, beta=0.5, activation="linear", loss=LOSSES["squared"])
    b = dn.solve(X, Y, beta=0.5, activation="linear")
    assert a.value == pytest.approx(b.value, rel=1e-12)
    with pytest.raises(dn.InputError, match="'any_setting_option' is not an option of any setting"):
        dn.solve(X, Y, beta=0.5, activation="linear", any_setting_option=3)


def test_tol_decides_certified(data) -> None:
    """An SCS solve (first-order, ~1e-4 accurate) is certified at a loose tol, not a tight one."""
    X, Y = data
    y = Y[:, :1]
    loose = dn.solve(X, y, beta=0.5, activation="linear", loss="absolute", method="cvxpy", solver="SCS", tol=1e-2)
    assert loose.certified
    tight = dn.solve(X, y, beta=0.5, activation="linear", loss="absolute", method="cvxpy", solver="SCS", tol=1e-12)
    assert tight.certified == (tight.rel_gap <= 1e-12)
    if not tight.certified:
        assert "exceeds tol=1e-12" in tight.reason


def test_cvxpy_method_keeps_the_program(data) -> None:
    X, Y = data
    sol = dn.solve(X, Y, beta=0.5, activation="linear", method="cvxpy", solver="CLARABEL")
    assert isinstance(sol.program, cp.Problem) and sol.program.status == cp.OPTIMAL
    assert sol.program.value == pytest.approx(sol.value, abs=1e-6 * sol.value)


# ------------------------------------------------------------------------ certify
def test_certify_optimal_and_suboptimal_networks() -> None:
    opt = dn.Network.from_weights([np.array([[1.2], [1.6]]), np.array([[2.0]])], activation="linear")
    cert = dn.certify(opt, X2, Y34, beta=1.0)
    assert cert.certified and cert.gap == pytest.approx(0.0, abs=1e-12) and cert.setting == "linear"
    off = dn.Network.from_weights([np.array([[1.0], [1.0]]), np.array([[2.0]])], activation="linear")
    cert = dn.certify(off, X2, Y34, beta=1.0)
    assert not cert.certified and cert.gap > 0.1
    assert cert.value == pytest.approx(off.objective(X2, Y34, 1.0), rel=1e-15)
    assert cert.lower_bound <= 4.5 + 1e-12                                 # never above the optimum (T1)
    # A weight list works too; the activation comes from the options.
    listed = dn.certify([np.array([[1.2], [1.6]]), np.array([[2.0]])], X2, Y34, beta=1.0, activation="linear")
    assert listed.certified


def test_certify_with_an_extra_dual_point() -> None:
    """A better dual point (here the optimal U*) tightens the bound of a suboptimal network."""
    off = dn.Network.from_weights([np.array([[1.0], [1.0]]), np.array([[2.0]])], activation="linear")
    plain = dn.certify(off, X2, Y34, beta=1.0)
    helped = dn.certify(off, X2, Y34, beta=1.0, dual=np.array([0.6, 0.8]))
    assert helped.lower_bound == pytest.approx(4.5, abs=1e-12)
    assert helped.lower_bound >= plain.lower_bound
    np.testing.assert_allclose(helped.dual, [[0.6], [0.8]])


@pytest.mark.parametrize("depth", [2, 3])
def test_certify_trained_network_against_solve(depth: int, data) -> None:
    """An under-trained network: its certificate brackets the optimum found by dn.solve."""
    X, Y = data
    beta = 0.5
    sol = dn.solve(X, Y, beta=beta, depth=depth, activation="linear")
    net = train(X, Y, beta=beta, depth=depth, width=3, activation="linear", max_iter=5)
    cert = dn.certify(net, X, Y, beta=beta)
    assert cert.lower_bound <= sol.value + 1e-9 * sol.value <= cert.value + 2e-9 * sol.value
    assert not cert.certified


def test_certify_t_form() -> None:
    sol = dn.solve(X2, Y34, beta=1.0, depth=3, t=1.0, activation="linear")      # T4, t = 1: 4.5
    cert = dn.certify(sol.network, X2, Y34, beta=1.0, t=1.0)
    assert cert.certified and cert.value == pytest.approx(4.5)


# ------------------------------------------------------------------- dual_program
@pytest.mark.parametrize("K", [1, 2])
def test_dual_program_end_to_end(K: int, data) -> None:
    X, Y = data
    Y = Y[:, :K]
    prog = dn.dual_program(X, Y, beta=0.5, activation="linear")
    assert isinstance(prog, dn.DualProgram) and prog.problem.is_dpp()
    value = prog.solve(solver="CLARABEL")
    assert value == pytest.approx(dn.solve(X, Y, beta=0.5, activation="linear").value, abs=1e-6)
    assert prog.U.shape == (8, K)
    prog.set_beta(2.0)
    assert prog.solve(solver="CLARABEL") == pytest.approx(dn.solve(X, Y, beta=2.0, activation="linear").value,
                                                          abs=1e-6)


def test_dual_program_t_form_threshold() -> None:
    prog = dn.dual_program(X2, Y34, beta=1.0, depth=4, t=2.0, activation="linear")
    assert prog.threshold.value == pytest.approx(0.25)                        # β t^{2−L}
    # t = 2, L = 4: the two-layer problem at β_t = 1/4 (whitened: Huber of ‖y‖ = 5).
    assert prog.solve(solver="CLARABEL") == pytest.approx(0.25 * 5 - 0.5 * 0.25**2, abs=1e-6)


# ---------------------------------------------------------------------------- path
def test_path_matches_separate_solves(data) -> None:
    X, Y = data
    betas = np.geomspace(0.05, 5.0, 6)
    p = dn.path(X, Y, betas, activation="linear")
    assert len(p) == 6 and p.betas.tolist() == betas.tolist()
    assert p.certified.all()
    assert np.all(p.lower_bounds <= p.values + 1e-12)
    assert np.all(np.diff(p.values) > 0)                                      # P increases with β
    for beta, sol in zip(betas, p.solutions):
        assert sol.beta == beta
        alone = dn.solve(X, Y, beta=beta, activation="linear")
        # Both values lie within their own gaps above the optimum; the iterative solver stops at
        # a relative gap of 1e-8, so the two can differ by that much and no more.
        assert abs(sol.value - alone.value) <= max(sol.gap, alone.gap) + 1e-12
    assert p[2] is p.solutions[2]
    assert p.rel_gaps.shape == (6,)


@pytest.mark.parametrize("n,d,K", [(40, 6, 3), (40, 6, 1), (6, 40, 3)])
def test_path_certificates_agree_with_forward_pass(n, d, K) -> None:
    # n >= d: the path certifies through XᵀX and XᵀY (no forward pass); n < d: one batched
    # forward pass. Either way dn.certify of the same network must give the same numbers.
    rng = np.random.default_rng(n + d + K)
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, K))
    betas = np.geomspace(0.05, 5.0, 5)
    p = dn.path(X, Y, betas, activation="linear")
    for beta, sol in zip(betas, p.solutions):
        cert = dn.certify(sol.network, X, Y, beta=beta)
        assert sol.certified and cert.certified
        assert sol.value == pytest.approx(cert.value, abs=1e-12 * cert.p0)
        assert sol.lower_bound == pytest.approx(cert.lower_bound, abs=1e-12 * cert.p0)
        np.testing.assert_allclose(sol.dual, Y - sol.network.forward(X), atol=1e-12 * np.abs(Y).max())


def test_path_solutions_pickle(data) -> None:
    import pickle

    X, Y = data
    sol = dn.path(X, Y, [0.5, 1.0], activation="linear")[1]
    back = pickle.loads(pickle.dumps(sol))
    np.testing.assert_array_equal(back.dual, sol.dual)
    assert back.value == sol.value


def test_path_reuses_one_dpp_program_with_cvxpy(data, monkeypatch) -> None:
    X, Y = data
    built = []
    original = linear.dual_program

    def counting(*args, **kwargs):
        built.append(args[3])
        return original(*args, **kwargs)

    monkeypatch.setattr(linear, "dual_program", counting)
    betas = [0.1, 0.5, 2.0, 8.0]
    p = dn.path(X, Y, betas, activation="linear", method="cvxpy", solver="CLARABEL")
    assert len(built) == 1                                    # one program, re-solved by its β parameter
    programs = {id(s.program) for s in p.solutions}
    assert len(programs) == 1 and p[0].program.is_dpp()
    assert all(s.method == "cvxpy:CLARABEL" for s in p.solutions)
    fast = dn.path(X, Y, betas, activation="linear")
    np.testing.assert_allclose(p.values, fast.values, rtol=1e-6)
    assert p.certified.all()


def test_path_deep_weight_decay() -> None:
    p = dn.path(X2, Y34, [1.0], depth=3, activation="linear")                 # T4
    assert p.certified.all() and p.values[0] == pytest.approx(4.207669, abs=1e-6)


def test_certify_closes_the_gap_of_deep_weight_decay_networks() -> None:
    """One dual direction cannot bound min over t; certify adds the setting's dual points along t."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((8, 4)), rng.standard_normal(8)
    sol = dn.solve(X, y, beta=0.1, depth=4, activation="linear")
    cert = dn.certify(sol.network, X, y, beta=0.1)
    assert sol.certified and cert.certified
    assert cert.lower_bound == pytest.approx(sol.lower_bound, rel=1e-9)


@pytest.mark.parametrize("t", [1.5, None])
def test_deep_path_certificates_agree_with_forward_pass(t) -> None:
    # Depth 3, t-form and weight decay: the path's Gram-based loss plus the network's penalty is
    # the forward-pass value, and the t-form's bound is the same dual point's.
    rng = np.random.default_rng(11)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((30, 1))
    betas = [0.3, 1.0, 3.0]
    p = dn.path(X, Y, betas, depth=3, t=t, activation="linear")
    assert p.certified.all()
    for beta, sol in zip(betas, p.solutions):
        cert = dn.certify(sol.network, X, Y, beta=beta, t=t)
        assert sol.value == pytest.approx(cert.value, abs=1e-12 * cert.p0)
        if t is not None:
            assert sol.lower_bound == pytest.approx(cert.lower_bound, abs=1e-12 * cert.p0)


def test_certify_accepts_the_networks_own_bias_flag() -> None:
    """bias=True on a network with biases is what certify reads from the network anyway."""
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-1.0, 1.0, 20))[:, None]
    y = np.sin(3.0 * x[:, 0])
    net = dn.solve(x, y, beta=0.1, bias=True).network
    a, b = dn.certify(net, x, y, beta=0.1, bias=True), dn.certify(net, x, y, beta=0.1)
    assert a.certified and (a.value, a.lower_bound) == (b.value, b.lower_bound)
