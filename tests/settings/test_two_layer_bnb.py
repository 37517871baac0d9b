"""Branch and bound over cones (docs/settings/two_layer.md): its proven bound against enumeration, and its certificate check."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import dualnet as dn
from dualnet.errors import InputError
from dualnet.linalg import digest
from dualnet.settings.two_layer import oracles
from dualnet.settings.two_layer.arrangement import geometry
from dualnet.settings.two_layer.bnb import rho_bound, rho_bound_vector
from dualnet.settings.two_layer.cones import check_certificate
from dualnet.settings.two_layer.cutting import cutting_plane
from dualnet.settings.two_layer.oracles import _heuristic, _oracle

RTOL = 1e-4


def _exact(A: np.ndarray, u: np.ndarray) -> float:
    """ρ(u) by complete enumeration (rank ≤ 2: sectors; else one NNLS per pattern): the independent oracle."""
    res = _oracle(A, u[:, None], progress=False)
    assert res.exact
    return res.value


def _instance(n: int, r: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, r)) @ rng.standard_normal((r, r + 2))      # rank r in r + 2 features
    return geometry(X).A, rng.standard_normal(n)


def _assert_brackets(A: np.ndarray, u: np.ndarray, res, exact: float) -> None:
    # The enumeration value is itself an upper bound up to round-off (‖c + Bᵀλ‖), hence 1e-9.
    assert res.upper >= exact * (1 - 1e-9)
    assert res.lower <= exact * (1 + 1e-9)
    np.testing.assert_allclose(abs(u @ np.maximum(A @ res.z, 0.0)), res.lower, rtol=1e-12)
    if res.complete:
        assert res.upper <= exact * (1 + RTOL) + 1e-8 * np.abs(u).sum()
    assert check_certificate(A, u, res.certificate) == pytest.approx(res.upper, rel=1e-12)


@pytest.mark.parametrize("n, r, seed", [(12, 2, 0), (30, 3, 1), (40, 3, 2), (14, 4, 3)])
def test_bound_brackets_enumeration_both_signs(n, r, seed):
    A, u = _instance(n, r, seed)
    for v in (u, -u, np.abs(u), -np.abs(u)):      # mixed signs, and one of ρ⁺(v), ρ⁺(−v) zero
        res = rho_bound(A, v, rtol=RTOL)
        assert res.complete and res.stopped == ""
        _assert_brackets(A, v, res, _exact(A, v))


@pytest.mark.parametrize("r", [3, pytest.param(4, marks=pytest.mark.slow)])   # rank 4: enumeration costs ~10 s
def test_near_optimal_dual_point(r):
    # The residual of a solved problem is the hard case: many chambers peak near beta.
    rng = np.random.default_rng(10 + r)
    n = 30 if r == 3 else 14            # complete enumeration at rank 4 costs seconds per oracle call
    X = rng.standard_normal((n, r))
    y = np.maximum(X[:, 0], 0) - np.abs(X[:, 1]) + 0.1 * rng.standard_normal(n)
    cp_res = cutting_plane(X, y, beta=1.0, progress=False, n_starts=20)
    assert cp_res.exact
    A, u = geometry(X).A, cp_res.U[:, 0]
    exact = _exact(A, u)
    assert exact == pytest.approx(1.0, rel=1e-3)        # near-optimal: ρ ≈ β
    res = rho_bound(A, u, rtol=RTOL)
    assert res.complete
    _assert_brackets(A, u, res, exact)


def test_anytime_bound_is_still_valid():
    A, u = _instance(40, 3, 7)
    exact = _exact(A, u)
    for kw in ({"time_limit": 0.0}, {"max_nodes": 20}):
        res = rho_bound(A, u, n_starts=0, **kw)
        assert not res.complete and res.stopped
        assert res.upper > res.lower
        _assert_brackets(A, u, res, exact)


def test_certificate_rejects_tampering():
    A, u = _instance(30, 3, 5)
    res = rho_bound(A, u)
    cert = res.certificate
    assert check_certificate(A, u, cert) == pytest.approx(res.upper, rel=1e-12)
    split = np.flatnonzero(cert.parent >= 0)
    assert len(split) > 0, "the instance must need a split for the tree checks to mean anything"

    def tampered(**changes):
        return dataclasses.replace(cert, **changes)

    lam = cert.lam.copy()
    lam[0] += 10.0 * res.upper                       # a worse (still feasible) multiplier: claims too little
    with pytest.raises(InputError, match="node 0"):
        check_certificate(A, u, tampered(lam=lam))
    lam = cert.lam.copy()
    lam[1, 0] = -1.0
    with pytest.raises(InputError, match="lambda"):
        check_certificate(A, u, tampered(lam=lam))
    j = int(np.argmax(np.diff(cert.mu_ptr) > 0))
    val = cert.mu_val.copy()
    val[cert.mu_ptr[j]] = 1.5
    with pytest.raises(InputError, match=f"node {j}: mu"):
        check_certificate(A, u, tampered(mu_val=val))
    bounds = cert.bounds.copy()
    k = int(np.argmax(bounds))
    bounds[k] *= 0.9
    with pytest.raises(InputError, match=f"node {k}"):
        check_certificate(A, u, tampered(bounds=bounds, upper=0.9 * cert.upper))
    rays = cert.rays.copy()
    rays[-1] = rays[-1] + 1.0                         # move a split ray off its edge (still integer)
    with pytest.raises(InputError, match="halves"):
        check_certificate(A, u, tampered(rays=rays))
    rays = cert.rays.copy()
    rays[-1] = rays[-1] * (1 + 1e-6)                  # a ray that is not an exact sum of integers
    with pytest.raises(InputError, match="integer"):
        check_certificate(A, u, tampered(rays=rays))
    keep = np.arange(len(cert.cones)) != split[-1]    # drop the last node (a leaf) from the tree
    leaves = cert.leaves[cert.leaves != split[-1]]
    with pytest.raises(InputError, match="children"):
        check_certificate(A, u, tampered(cones=cert.cones[keep], parent=cert.parent[keep], sign=cert.sign[keep],
                                         leaves=leaves))
    with pytest.raises(InputError, match="root"):
        check_certificate(A, u, tampered(sign=-cert.sign))


@pytest.mark.parametrize("r", [1, 2])
def test_low_rank(r):
    rng = np.random.default_rng(r)
    A = geometry(rng.standard_normal((15, r)) @ rng.standard_normal((r, 3))).A
    for u in (rng.standard_normal(15), np.abs(rng.standard_normal(15))):
        res = rho_bound(A, u)
        assert res.complete
        _assert_brackets(A, u, res, _exact(A, u))


def test_zero_weights_and_zero_data():
    A, _ = _instance(10, 3, 0)
    res = rho_bound(A, np.zeros(10))
    assert (res.upper, res.lower, res.complete) == (0.0, 0.0, True)
    assert check_certificate(A, np.zeros(10), res.certificate) == 0.0
    res = rho_bound(np.zeros((10, 0)), np.ones(10))
    assert res.upper == 0.0 and res.complete


def test_vector_outputs_bound_the_joint_value():
    A, _ = _instance(30, 3, 8)
    U = np.random.default_rng(8).standard_normal((30, 3))
    res = rho_bound_vector(A, U)
    estimate = _heuristic(A, U, None, 100, 1, 1)[0]     # max ‖Uᵀ(Az)_+‖ from below, independent starts
    assert res.upper >= max(estimate, res.lower)
    parts = [_exact(A, U[:, k]) for k in range(3)]
    assert res.upper >= np.sqrt(np.sum(np.square(parts))) * (1 - 1e-9)
    assert check_certificate(A, U, res.certificate) == pytest.approx(res.upper, rel=1e-12)


def test_vector_outputs_past_the_time_limit_keep_a_checked_norm_bound():
    # Rank 12 with 6 outputs: the first output's search alone outlasts the 1 ms limit, so
    # the other outputs are not searched and keep the (proven, re-checked) norm bound.
    A, _ = _instance(60, 12, 12)
    U = np.random.default_rng(12).standard_normal((60, 6))
    t0 = time.perf_counter()
    res = rho_bound_vector(A, U, time_limit=1e-3)
    assert time.perf_counter() - t0 < 5.0
    assert res.certificate[-1] is None and not res.complete
    assert check_certificate(A, U, res.certificate) == pytest.approx(res.upper, rel=1e-12)
    assert res.upper >= rho_bound_vector(A, U, time_limit=2.0).lower * (1 - 1e-9)


def test_executor_gives_the_same_bound():
    A, u = _instance(40, 3, 9)
    serial = rho_bound(A, u, n_starts=0)
    with ThreadPoolExecutor(2) as pool:
        threaded = rho_bound(A, u, n_starts=0, executor=pool)
    assert threaded.nodes == serial.nodes
    assert threaded.upper == pytest.approx(serial.upper, rel=1e-12)


def test_dask_executor():
    distributed = pytest.importorskip("distributed")
    A, u = _instance(30, 3, 11)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        res = rho_bound(A, u, n_starts=0, executor=client.get_executor())
    assert res.complete
    _assert_brackets(A, u, res, _exact(A, u))


def test_bad_input():
    A, u = _instance(10, 3, 0)
    with pytest.raises(InputError, match="'u' parameter"):
        rho_bound(A, u[:5])
    with pytest.raises(InputError, match="rho_bound_vector"):
        rho_bound(A, np.ones((10, 2)))
    with pytest.raises(InputError, match="'rtol'"):
        rho_bound(A, u, rtol=0.0)
    with pytest.raises(InputError, match="'A' parameter"):
        rho_bound(np.ones(3), u)


def test_thin_cone_bound_is_tight():
    """On a thin cone inside one chamber f is linear, and its bound must stay that tight.

    The rounding margin used to grow like ‖R⁻¹‖·Σ|u_i|‖a_i‖ (1e-2 relative at width 1e-5 on
    n = 2000): the search could not prove rank 3 past ~1e-5. Now only sign-changing terms are
    interpolated, and their rounding is what R⁻¹ amplifies.
    """
    from dualnet.settings.two_layer.cones import _bounds, _cone_terms, _inverses

    A, u = _instance(2000, 3, 12)
    z0 = np.array([0.6, -0.3, 0.74])
    z0 /= np.linalg.norm(z0)
    width = 1e-5
    R = z0[:, None] + width * np.array([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0], [0.0, 0.0, 0.0]])
    R /= np.linalg.norm(R, axis=0)
    assert np.all(np.sign(A @ R) == np.sign(A @ z0)[:, None]), "the cone must lie inside one chamber"
    terms = _cone_terms(A, u[None, :], R[None])
    M, kappa, eps_E = _inverses(R[None])
    S = float(np.abs(u) @ np.linalg.norm(A, axis=1))
    bound, _ = _bounds(A, u[None, :], terms, R[None], M, kappa, eps_E, np.zeros((1, 3)), terms.mu, S)
    c = A.T @ (u * (A @ z0 > 0))                      # f is cᵀz on the cone; its max there is at most ‖c‖
    exact = max(float(np.max(c @ R)), 0.0)
    assert bound[0] >= exact
    assert bound[0] <= np.linalg.norm(c) * (1 + 1e-9), (bound[0], np.linalg.norm(c), kappa[0])
    # The vertex bound: on a cone of width 1e-5 the max of cᵀz is within 1e-9 of the best unit ray
    # (c does not point into the cone), and so is the bound.
    assert bound[0] <= exact * (1 + 1e-8) + 1e-12 * S, (bound[0], exact)


def test_vertex_bound_holds_on_random_cones():
    """The maximum of f over cone ∩ ball is at most the bound, for cones of every width the vertex bound accepts.

    Sampled maxima (a lower estimate of the max) on random cones around random directions, with
    default multipliers and random μ in [0, 1] on the crossing concave rows.
    """
    from dualnet.settings.two_layer.cones import _bounds, _cone_terms, _inverses

    rng = np.random.default_rng(3)
    A, u = _instance(60, 4, 5)
    S = float(np.abs(u) @ np.linalg.norm(A, axis=1))
    for width in (1e-3, 0.05, 0.3, 0.8):
        z0 = rng.standard_normal((20, 4, 1))
        R = z0 + width * rng.standard_normal((20, 4, 4))
        R /= np.linalg.norm(R, axis=1, keepdims=True)
        for sign in (1.0, -1.0):
            v = np.repeat(sign * u[None, :], 20, axis=0)
            terms = _cone_terms(A, v, R)
            mu = np.where((v < 0) & (terms.T.max(axis=2) > 0) & (terms.T.min(axis=2) < 0),
                          rng.uniform(size=v.shape), terms.mu)
            M, kappa, eps_E = _inverses(R)
            bound, _ = _bounds(A, v, terms, R, M, kappa, eps_E, np.zeros((20, 4)), mu, S)
            alpha = rng.exponential(size=(20, 4, 3000))
            Z = R @ alpha
            Z /= np.linalg.norm(Z, axis=1, keepdims=True)
            f = np.einsum("bn,bnk->bk", v, np.maximum(np.einsum("nj,bjk->bnk", A, Z), 0.0)).max(axis=1)
            assert np.all(f <= bound * (1 + 1e-12)), (width, sign, np.max(f - bound))


def test_floor_and_warm_start_keep_the_bound_proven():
    A, u = _instance(40, 3, 11)
    exact = _exact(A, u)
    # Asked only "is rho <= floor?": above rho the search finishes with a proven upper <= floor (+margin).
    res = rho_bound(A, u, rtol=RTOL, floor=1.2 * exact)
    assert res.complete
    assert exact * (1 - 1e-9) <= res.upper <= 1.2 * exact * (1 + 1e-9)
    assert check_certificate(A, u, res.certificate) == pytest.approx(res.upper, rel=1e-12)
    # Below rho it cannot finish before bracketing rho itself.
    res_low = rho_bound(A, u, rtol=RTOL, floor=0.5 * exact)
    assert res_low.complete
    _assert_brackets(A, u, res_low, exact)
    # A search for another u started from this tree's leaves: the same guarantees and a valid certificate.
    v = u + 0.1 * np.random.default_rng(0).standard_normal(len(u))
    warm = rho_bound(A, v, rtol=RTOL, warm=res_low)
    assert warm.complete
    _assert_brackets(A, v, warm, _exact(A, v))
    assert len(warm.certificate.cones) >= len(res_low.certificate.cones)       # it grew from the old tree
    # The atoms are distinct chambers, the best first.
    atoms = warm.atoms
    vals = np.abs(v @ np.maximum(A @ atoms, 0.0))
    assert vals[0] == pytest.approx(warm.lower, rel=1e-12) and np.all(vals[:-1] >= vals[1:])
    assert np.unique(A @ atoms > 0, axis=1).shape[1] == atoms.shape[1]


def test_certificate_search_starts_from_the_last_search_on_the_same_data():
    # A cutting plane's last search, then the certificate's search for a nearby dual point (the
    # network's own): it starts from the first one's leaves and proves the same as ever.
    A, u = _instance(40, 3, 12)
    oracles._LAST_SEARCH.clear()
    oracles._bnb_oracle(A, u[:, None], 0.0, rtol=RTOL)
    first = oracles._LAST_SEARCH[digest(A)].certificate
    v = u + 0.05 * np.random.default_rng(1).standard_normal(len(u))
    res = _oracle(A, v[:, None], max_patterns=10, bound_time=10.0, bound_rtol=RTOL)
    exact = _exact(A, v)
    assert not res.exact and exact * (1 - 1e-9) <= res.proven_upper <= exact * (1 + RTOL) + 1e-8 * np.abs(v).sum()
    search = oracles._LAST_SEARCH[digest(A)]
    assert search.complete and np.array_equal(search.certificate.cones[:len(first.cones)], first.cones)
    assert check_certificate(A, v, search.certificate) == pytest.approx(search.upper, rel=1e-12)


def test_cutting_plane_with_branch_and_bound_oracle_proves_the_optimum():
    # max_patterns below the counting bound: the oracle cannot enumerate, so branch and bound backs it.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    y = np.maximum(X[:, 0], 0) - np.abs(X[:, 1]) + 0.1 * rng.standard_normal(40)
    exact = cutting_plane(X, y, beta=1.0, progress=False, n_starts=20)
    assert exact.exact and exact.converged
    res = cutting_plane(X, y, beta=1.0, progress=False, n_starts=20, max_patterns=100, master="first-order")
    assert res.converged and res.reason == "", res.reason
    assert res.iterations[-1]["oracle"].startswith("branch and bound")
    # The proof's value is the global optimum the exact oracle certifies (first-order master: 1e-6 relative).
    assert res.value == pytest.approx(exact.value, rel=1e-6)
    # The certificate of the same point reuses that proof, re-checked by check_certificate.
    A = geometry(X).A
    kept = _oracle(A, res.U, max_patterns=100, bound_time=5.0)
    assert kept.method == res.iterations[-1]["oracle"]
    assert _exact(A, res.U[:, 0]) * (1 - 1e-9) <= kept.proven_upper <= 1.0 + 1e-6
    # A tampered kept certificate fails its check: the oracle searches again instead of trusting it.
    key = next(k for k, (out, _) in oracles._PROVEN.items() if out.method == kept.method)
    out, cert = oracles._PROVEN[key]
    oracles._PROVEN[key] = (out, dataclasses.replace(cert, lam=cert.lam * 0.0 - 1.0))
    again = _oracle(A, res.U, max_patterns=100, bound_time=5.0)
    assert again.method != kept.method and again.proven_upper >= _exact(A, res.U[:, 0]) * (1 - 1e-9)


def test_solve_at_rank_3_beyond_enumeration_honours_its_time_limit():
    # n = 300 at rank 3: 89 702 chambers > max_patterns, so branch and bound is the cutting plane's oracle.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 5))
    y = np.maximum(X @ rng.standard_normal(5), 0.0) + 0.3 * rng.standard_normal(300)
    start = time.perf_counter()
    sol = dn.solve(X, y, beta=1.0, time_limit=4.0, progress=False)
    assert time.perf_counter() - start <= 1.2 * 4.0 + 2.0
    assert sol.info["iterations"][0]["oracle"].startswith("branch and bound")
    assert sol.proven and sol.lower_bound <= sol.value


def test_child_cones_on_their_parents_unfixed_rows_prove_what_all_rows_prove(monkeypatch):
    # The restricted evaluation (a child sees only its parent's rows not fixed there, the others
    # entering linearly) must give every node the bound that all n rows give: same tree, same
    # bounds up to rounding, and a certificate the all-rows NumPy check accepts. Cold and warm.
    from dualnet.settings.two_layer import bnb
    A, u = _instance(120, 3, seed=11)
    v = u + 0.05 * np.random.default_rng(1).standard_normal(len(u))
    cold = rho_bound(A, u, rtol=1e-6, n_starts=20)
    warm = rho_bound(A, v, rtol=1e-6, n_starts=20, warm=cold)
    monkeypatch.setattr(bnb, "_node_rows", lambda *args: (None, None))       # every node on all rows
    cold_all = rho_bound(A, u, rtol=1e-6, n_starts=20)
    warm_all = rho_bound(A, v, rtol=1e-6, n_starts=20, warm=cold_all)
    for res, ref, w in ((cold, cold_all, u), (warm, warm_all, v)):
        assert res.complete and ref.complete
        np.testing.assert_array_equal(res.certificate.cones, ref.certificate.cones)
        # rel 1e-9: the sums run over fewer rows in another order (rounding only; the margin is the same).
        np.testing.assert_allclose(res.certificate.bounds, ref.certificate.bounds, rtol=1e-9)
        assert check_certificate(A, w, res.certificate) == pytest.approx(res.upper, rel=1e-9)
        assert res.upper >= _exact(A, w) * (1 - 1e-9)
