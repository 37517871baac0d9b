"""A proven upper bound on ρ(u) beyond enumeration: branch and bound over cones (docs/settings/two_layer.md).

The bound a cone's multipliers prove, and the check of a whole certificate, live in
:mod:`.cones`; this module searches. Best-first from the r+1 root cones, 64 cones a round:
each is bisected at the edge where the interpolation over-estimates most (:func:`_edges`),
and a cone whose bound is at most incumbent·(1 + rtol) is pruned. Every cone's multipliers
come from a short batched accelerated projected gradient; those a sharper bound may prune
get a longer one and BVLS when they reach the top of the queue. The incumbent climbs by a
short ascent from the best cones' maximizers. The bound is anytime: the maximum over all
leaves (open or pruned) is valid whenever the search stops. As a cutting plane's oracle it
answers "is ρ ≤ floor?" and starts from the leaves of the previous round's tree (``floor``,
``warm`` of :func:`rho_bound`).
"""

from __future__ import annotations

import heapq
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...budget import Budget
from ...errors import InputError
from ...linalg import digest
from .cones import (
    EPS,
    BnbCertificate,
    _lipschitz,
    _midpoint,
    _root_cones,
    _root_rays,
    _scaled,
    _validate,
    _weigh,
    check_certificate,  # noqa: F401 (re-exported: the search and its check are used together)
)
from .multipliers import SHARPEN, _evaluate
from .oracles import _ascent, _heuristic, _local_search, norm_bound

#: leaves of a warm start evaluated at once (memory: WARM_BLOCK × n × r floats)
WARM_BLOCK = 512
#: nodes popped and split per round (their children are evaluated together, or on the executor)
BATCH = 64
#: children per task handed to an executor
TASK = 16
#: children per round whose over-estimate's maximizer starts a short ascent for the incumbent
ASCENTS = 8
#: time limits (s) from which the first incumbent also comes from the many-start heuristic
HEURISTIC_AFTER = 10.0

@dataclass(frozen=True)
class RhoBound:
    """A proven upper bound on ρ(u) = max_{‖z‖≤1} |uᵀ(Az)_+| and the best value attained.

    Attributes
    ----------
    upper : float
        Proven: upper ≥ ρ(u), floating-point safety margin included.
    lower : float
        |uᵀ(Az)_+| at ``z`` (ρ(u) ≥ lower up to round-off).
    z : ndarray (r,)
        Unit direction attaining ``lower``.
    complete : bool
        Whether the search finished: upper ≤ lower·(1 + rtol) + atol.
    nodes : int
        Cones evaluated.
    seconds : float
    stopped : str
        "" when complete, else what stopped the search (time or node limit).
    certificate : BnbCertificate or tuple of them
        What :func:`check_certificate` re-checks (one per output for vector outputs; None for an
        output not searched before the time limit, which keeps the norm bound).
    atoms : ndarray (r, k)
        The best directions met, one per chamber, best first: the patterns a cutting
        plane adds.
    """

    upper: float
    lower: float
    z: np.ndarray = field(repr=False)
    complete: bool
    nodes: int
    seconds: float
    stopped: str
    certificate: BnbCertificate | tuple[BnbCertificate, ...] = field(repr=False)
    atoms: np.ndarray | None = field(default=None, repr=False)
    #: the bisection tree searched (its leaves start a later search for a nearby u: :func:`rho_bound` ``warm``)
    tree: Any = field(default=None, repr=False, compare=False)


# ======================================================================== one batch of cones
# ======================================================================== the search
def _edges(A: np.ndarray, u: np.ndarray, R: np.ndarray, sign: np.ndarray,
           rows: tuple[np.ndarray, np.ndarray] | None = None) -> list[tuple[int, int]]:
    """The edge of each cone (b×r×r, rays as columns) to bisect: where the over-estimate is worst.

    Only terms with v_i > 0 whose hyperplane crosses the cone are over-estimated, and such a
    hyperplane crosses an edge; the excess of the interpolation over the function at an
    edge's midpoint measures what splitting there gains. Measured against the longest edge
    (a rank-5 point, 4 000 cones): ρ̄/ρ 2.6 instead of 3.3. With no excess anywhere (the
    bound is exact up to the multipliers) the longest edge is split. With ``rows`` (padded
    indices, valid) only the rows not fixed on each cone count: the others have no excess.
    """
    r = R.shape[2]
    I, J = np.triu_indices(r, 1)
    Sm = R[:, :, I] + R[:, :, J]                                   # b×r×pairs
    nS = np.sqrt(np.sum(Sm * Sm, axis=1))
    vp = np.maximum(sign[:, None] * u[None, :], 0.0)               # b×n
    if rows is not None:
        A, vp = A[rows[0]], np.where(rows[1], np.maximum(sign[:, None] * u[rows[0]], 0.0), 0.0)
    g_rays = _weigh(vp, np.maximum(np.matmul(A, R), 0.0))
    g_mid = _weigh(vp, np.maximum(np.matmul(A, Sm), 0.0)) / nS
    excess = (g_rays[:, I] + g_rays[:, J]) / nS - g_mid
    # Tie-break by length (a small share of the scale of g), so that zero excess splits the longest edge.
    nr = np.sqrt(np.sum(R * R, axis=1))
    length = 1.0 - np.sum(R[:, :, I] * R[:, :, J], axis=1) / (nr[:, I] * nr[:, J])      # 1 − cosine of the edge
    score = excess + 1e-3 * length * np.maximum(g_rays.max(axis=1, keepdims=True), 1e-300)
    e = np.argmax(score, axis=1)
    return list(zip(I[e].tolist(), J[e].tolist()))


class _Tree:
    """Growing bisection tree: rays, nodes and the data of evaluated nodes."""

    def __init__(self, r: int):
        self.r = r
        self.rays = list(_root_rays(r))
        self._ray_rows = np.array(self.rays)          # the rays as rows, with spare capacity (see R)
        self.mid: dict[tuple[int, int], int] = {}
        self.cones: list[np.ndarray] = []
        self.parent: list[int] = []
        self.sign: list[int] = []
        self.eff: list[float] = []
        self.split: set[int] = set()
        self.data: dict[int, tuple[float, np.ndarray, np.ndarray, np.ndarray]] = {}
        # Rows not fixed on a cone (with a margin, multipliers._fixed) and the linear part d of the
        # rows positive on it, kept for its children (which need only those rows) until they are evaluated.
        self.key: bytes | None = None
        self.own: dict[int, np.ndarray] = {}
        self.dfix: dict[int, np.ndarray] = {}
        # A lower bound on the best bound of each evaluated cone's multipliers (h_low), and the cones
        # whose multipliers were sharpened (longer solves, done when a cone reaches the top of the queue).
        self.h_low: dict[int, float] = {}
        self.sharp: set[int] = set()

    def regrown(self) -> _Tree:
        """The same cones without their bounds: a new search for another u starts from these leaves.

        Split nodes keep no multipliers (bound +inf, λ = 0, μ by side in the certificate):
        each leaf is bounded on its own, so the covering, not the path, carries the proof.
        """
        tree = _Tree(self.r)
        tree.rays, tree.mid = list(self.rays), dict(self.mid)
        tree._ray_rows = self._ray_rows.copy()
        tree.cones, tree.parent, tree.sign = list(self.cones), list(self.parent), list(self.sign)
        tree.split = set(self.split)
        tree.eff = [np.inf] * len(self.cones)
        empty = (np.inf, np.zeros(self.r), np.zeros(0, dtype=np.int64), np.zeros(0))
        tree.data = {k: empty for k in self.split}
        tree.key = self.key
        tree.own = {k: rows for k, rows in self.own.items() if k not in self.split}    # geometry: kept; d: not
        return tree

    def add(self, cone: np.ndarray, parent: int, sign: int) -> int:
        self.cones.append(cone)
        self.parent.append(parent)
        self.sign.append(sign)
        self.eff.append(np.inf)
        return len(self.cones) - 1

    def midpoint(self, i: int, j: int) -> int | None:
        key = (min(i, j), max(i, j))
        if key not in self.mid:
            m = _midpoint(self.rays[key[0]], self.rays[key[1]])
            if m is None:
                return None
            self.rays.append(m)
            if len(self.rays) > len(self._ray_rows):
                self._ray_rows = np.vstack([self._ray_rows, np.zeros_like(self._ray_rows)])
            self._ray_rows[len(self.rays) - 1] = m
            self.mid[key] = len(self.rays) - 1
        return self.mid[key]

    def children(self, node: int, i: int, j: int) -> list[int]:
        """Bisect the edge between the node's rays i and j (positions in its cone); [] if it cannot be exact."""
        cone = self.cones[node]
        m = self.midpoint(cone[i], cone[j])
        if m is None:
            return []
        self.split.add(node)
        out = []
        for pos in (i, j):
            c = cone.copy()
            c[pos] = m
            out.append(self.add(c, node, self.sign[node]))
        return out

    def R(self, nodes: list[int]) -> np.ndarray:
        """The cones' rays as columns (b×r×r), scaled by powers of two as the check scales them."""
        # (np.array(self.rays) here took 7 % of a rank-5 search: the rows are kept as an array.)
        rays = self._ray_rows
        return _scaled(np.transpose(rays[np.array([self.cones[k] for k in nodes])], (0, 2, 1)))

    def certificate(self) -> BnbCertificate:
        N, r = len(self.cones), self.r
        leaves = np.array(sorted(set(range(N)) - self.split), dtype=np.int64)
        lam = np.zeros((N, r))
        bounds = np.zeros(N)
        idx, val, ptr = [], [], [0]
        for k in range(N):
            bounds[k], lam[k], J, mu_J = self.data[k]
            idx.append(J)
            val.append(mu_J)
            ptr.append(ptr[-1] + len(J))
        return BnbCertificate(np.array(self.rays), np.array(self.cones, dtype=np.int64),
                              np.array(self.parent, dtype=np.int64), np.array(self.sign, dtype=np.int8), leaves, lam,
                              np.array(ptr, dtype=np.int64),
                              np.concatenate(idx).astype(np.int64) if idx else np.zeros(0, dtype=np.int64),
                              np.concatenate(val) if val else np.zeros(0), bounds,
                              float(max((self.eff[k] for k in leaves), default=0.0)))


def _empty_certificate(r: int) -> BnbCertificate:
    """The certificate of ρ = 0 when u = 0 or A = 0 (S = 0 bounds ρ; no tree is needed)."""
    i = np.zeros(0, dtype=np.int64)
    return BnbCertificate(np.zeros((0, r)), np.zeros((0, r), dtype=np.int64), i, i.astype(np.int8), i,
                          np.zeros((0, r)), np.zeros(1, dtype=np.int64), i, np.zeros(0), np.zeros(0), 0.0)


def _norm_only(A: np.ndarray, u: np.ndarray) -> RhoBound:
    """The proven norm bound on ρ(u) (:func:`.oracles.norm_bound`) as an unsearched output's result."""
    z = np.eye(A.shape[1])[:, 0] if A.shape[1] else np.zeros(0)
    return RhoBound(norm_bound(A, u[:, None]), 0.0, z, False, 0, 0.0, "time limit (not searched: norm bound)", None)


def _evaluate_nodes(tree: _Tree, nodes: list[int], A: np.ndarray, u: np.ndarray, S: float, threshold: float,
                    executor: Executor | None, sharpen: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``nodes`` (on the executor in tasks of TASK cones), store their data.

    ``sharpen``: longer multipliers for the cones they may prune (:func:`.multipliers._evaluate`),
    for cones already evaluated; a node keeps the better of its two bounds.
    Returns their bounds and candidate directions: the maximizers of their over-estimates
    (column k for node k), then their centres.
    """
    R = tree.R(nodes)
    signs = np.array([tree.sign[k] for k in nodes], dtype=float)
    rows, d = _node_rows(tree, nodes, A, u, R, signs)
    size = TASK if executor is not None else len(nodes)      # serial: one batch, fewer NumPy calls per cone
    chunks = [slice(i, min(i + size, len(nodes))) for i in range(0, len(nodes), size)]
    tasks = [(A, u, R[c], signs[c], S, threshold) + ((None, None, None) if rows is None else
                                                     _padded(rows[c]) + (d[c],)) + (sharpen,) for c in chunks]
    results = list(map(_evaluate, tasks) if executor is None or len(tasks) == 1 else executor.map(_evaluate, tasks))
    out, cands = [], []
    for c, (bound, lam, sparse, Z, own, d_own, h_low) in zip(chunks, results):
        for pos, k in enumerate(nodes[c]):
            par = tree.parent[k]
            b = float(bound[pos])
            if not (sharpen and tree.data[k][0] <= b):
                tree.data[k] = (b, lam[pos], sparse[pos][0], sparse[pos][1])
                tree.eff[k] = min(b, tree.eff[par]) if par >= 0 else b
            tree.own[k], tree.dfix[k] = own[pos], d_own[pos]
            tree.h_low[k] = float(h_low[pos])
            out.append(tree.eff[k])
        cands.append(Z)
    for k in nodes:                                          # a parent's rows serve its children only
        par = tree.parent[k]
        tree.own.pop(par, None)
        tree.dfix.pop(par, None)
    # Each task's candidates are its cones' maximizers, then their centres: maximizers first, in node order.
    Z = np.hstack([Zc[:, : Zc.shape[1] // 2] for Zc in cands] + [Zc[:, Zc.shape[1] // 2:] for Zc in cands])
    return np.array(out), Z


def _padded(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Index lists as one b×m array (padded with row 0) and the mask of the real entries."""
    m = max(max((len(x) for x in rows), default=0), 1)
    idx = np.zeros((len(rows), m), dtype=np.int64)
    valid = np.zeros((len(rows), m), dtype=bool)
    for k, x in enumerate(rows):
        idx[k, :len(x)], valid[k, :len(x)] = x, True
    return idx, valid


def _node_rows(tree: _Tree, nodes: list[int], A: np.ndarray, u: np.ndarray, R: np.ndarray,
               signs: np.ndarray) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """The rows each node is evaluated on, and the linear part d of the others (None: all rows).

    A child needs only its parent's rows that are not fixed there (:func:`.multipliers._fixed`);
    the rows fixed positive contribute Σ v_i a_i exactly (d, the parent's). A warm leaf keeps
    its own rows from the previous search (same A) and gets d for the new u from its centre's
    side, which is each fixed row's side on the whole cone.
    """
    rows, d = [], np.zeros((len(nodes), A.shape[1]))
    for pos, k in enumerate(nodes):
        par = tree.parent[k]
        if par >= 0 and par in tree.dfix:
            rows.append(tree.own[par])
            d[pos] = tree.dfix[par]
        elif k in tree.own:
            rows.append(tree.own[k])
            centre = R[pos].sum(axis=1)
            w = np.where(A @ centre > 0, signs[pos] * u, 0.0)
            w[tree.own[k]] = 0.0
            d[pos] = w @ A
        else:
            return None, None
    return rows, d


def _signed_values(A: np.ndarray, u: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return u @ np.maximum(A @ Z, 0.0)


#: directions kept in the pool of the best ones met (candidate atoms of a cutting plane)
POOL = 64


class _Incumbent:
    """Best |uᵀ(Az)_+| seen, and a pool of the best directions; an improvement is polished by exact local search."""

    def __init__(self, A: np.ndarray, u: np.ndarray, budget: Budget):
        self.A, self.u, self.budget = A, u, budget
        self.value, self.z = 0.0, np.eye(A.shape[1])[:, 0]
        self.pool_v, self.pool_Z = np.zeros(0), np.zeros((A.shape[1], 0))

    def _keep(self, vals: np.ndarray, Z: np.ndarray) -> None:
        top = np.argsort(-vals)[:POOL]
        if len(self.pool_v) >= POOL:
            top = top[vals[top] > self.pool_v[-1]]
            if top.size == 0:
                return
        v, Zc = np.concatenate([self.pool_v, vals[top]]), np.hstack([self.pool_Z, Z[:, top]])
        order = np.argsort(-v, kind="stable")
        bits = np.packbits(self.A @ Zc[:, order] > 0, axis=0)               # a chamber's pattern as bytes
        keys = np.ascontiguousarray(bits.T).view(f"V{bits.shape[0]}").ravel()
        _, first = np.unique(keys, return_index=True)                        # one per chamber, its best
        keep = order[np.sort(first)][:POOL]
        self.pool_v, self.pool_Z = v[keep], Zc[:, keep]

    def atoms(self) -> np.ndarray:
        """The pool's directions (one per chamber), best first."""
        return self.pool_Z

    def offer(self, Z: np.ndarray, polish: bool = True) -> None:
        if Z.shape[1] == 0:
            return
        norms = np.sqrt(np.sum(Z * Z, axis=0))
        Z = Z[:, norms > 0] / norms[norms > 0]
        vals = np.abs(_signed_values(self.A, self.u, Z))
        if vals.size == 0:
            return
        self._keep(vals, Z)
        k = int(np.argmax(vals))
        if vals[k] <= self.value:
            return
        self.value, self.z = float(vals[k]), Z[:, k]
        if polish and self.A.shape[1] >= 2:
            # The polish costs up to 2r NNLS of n rows per move (minutes at rank 64, n = 1797):
            # it shares the search's deadline.
            _, z = _local_search(self.A, self.u, Z[:, k], budget=self.budget)
            self.offer(z[:, None], polish=False)


def _level(best: float, rtol: float, floor: float) -> float:
    """The pruning level: best·(1 + rtol), or ``floor`` while the best value found is at most floor."""
    return best * (1 + rtol) if best > floor else floor


def _search(A: np.ndarray, u: np.ndarray, rtol: float, time_limit: float | None, max_nodes: int | None,
            incumbent: np.ndarray | None, executor: Executor | None, n_starts: int, floor: float = 0.0,
            warm: _Tree | None = None) -> RhoBound:
    t0 = time.perf_counter()
    n, r = A.shape
    S = _lipschitz(A, u)
    if r == 0 or S == 0:
        return RhoBound(0.0, 0.0, np.zeros(r), True, 0, time.perf_counter() - t0, "", _empty_certificate(r),
                        np.zeros((r, 0)))
    tree = _Tree(r) if warm is None or warm.r != r else warm.regrown()
    key = digest(A)
    if tree.key != key:                        # rows fixed on a cone are a property of this A
        tree.own, tree.key = {}, key
    best = _Incumbent(A, u, Budget(time_limit))
    if incumbent is not None:
        best.offer(incumbent.reshape(r, -1))
    if r >= 2 and n_starts > 0:
        # Fixed-point ascent from random starts (both signs); the best end point is polished exactly.
        Z0 = np.random.default_rng(0).standard_normal((r, n_starts))
        Z0 = Z0 / np.sqrt(np.sum(Z0 * Z0, axis=0))
        best.offer(_ascent(A, u[:, None], np.hstack([Z0, -Z0])))
        if time_limit is None or time_limit >= HEURISTIC_AFTER:
            # The many-start heuristic finds better incumbents (pruning) but costs seconds at rank 10.
            best.offer(_heuristic(A, u[:, None], None, n_starts // 5, 0, 1, best.budget)[1][:, :8])
    if not tree.cones:
        for sign in (1, -1):
            for cone in _root_cones(r):
                tree.add(cone, -1, sign)
    # The leaves to start from: the roots, or the leaves of a previous search (warm), in blocks.
    roots = [k for k in range(len(tree.cones)) if k not in tree.split]
    heap = []
    for lo in range(0, len(roots), WARM_BLOCK):
        block = roots[lo:lo + WARM_BLOCK]
        bounds, Z = _evaluate_nodes(tree, block, A, u, S, _level(best.value, rtol, floor), executor)
        best.offer(np.hstack([Z, np.array(tree.rays).T]) if lo == 0 else Z)
        heap += [(-b, k) for b, k in zip(bounds, block)]
    heapq.heapify(heap)
    atol = 32 * (n + 2 * r) * EPS * S         # a few times the rounding margin of a bound (ρ⁺ = 0 sides)
    stopped, stuck = "", False
    nodes = len(roots)
    while heap:
        threshold = _level(best.value, rtol, floor) + atol
        batch = []
        while heap and len(batch) < BATCH and -heap[0][0] > threshold:
            batch.append(heapq.heappop(heap)[1])
        if not batch:
            break                                 # every open cone is pruned
        if r == 1:
            for k in batch:                       # rays cannot be split; their bound is exact up to margins
                heapq.heappush(heap, (-tree.eff[k], k))
            break
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            stopped = f"time limit ({time_limit:g} s)"
        elif max_nodes is not None and nodes + 2 * len(batch) > max_nodes:
            stopped = f"node limit ({max_nodes})"
        if stopped:
            for k in batch:
                heapq.heappush(heap, (-tree.eff[k], k))
            break
        # A cone at the top is split unless longer multipliers may prune it: those it gets first
        # (once), and it goes back to the queue with its sharper bound. Done at creation, this
        # work went mostly to cones never split nor pruned before the time limit (rank 5, n = 200:
        # about half of a 15 s search; without it the same seconds reached ρ̄/β 1.06, not 1.20).
        dull = [k for k in batch if k not in tree.sharp and tree.h_low.get(k, np.inf) <= threshold
                and tree.eff[k] <= SHARPEN * threshold]
        if dull:
            tree.sharp.update(dull)
            bounds, Z = _evaluate_nodes(tree, dull, A, u, S, threshold, executor, sharpen=True)
            best.offer(Z)
            for b, k in zip(bounds, dull):
                heapq.heappush(heap, (-b, k))
            sharpened = set(dull)
            batch = [k for k in batch if k not in sharpened]
            if not batch:
                continue
        n_rays = len(tree.rays)
        edges = _edges(A, u, tree.R(batch), np.array([tree.sign[k] for k in batch], dtype=float),
                       _padded([tree.own[k] for k in batch]))
        children = [c for k, (i, j) in zip(batch, edges) for c in tree.children(k, i, j)]
        stuck |= len(children) < 2 * len(batch)      # a cone too fine for exact integer rays stays a leaf
        if not children:
            continue
        bounds, Z = _evaluate_nodes(tree, children, A, u, S, threshold, executor)
        nodes += len(children)
        # The incumbent climbs from where the open cones' over-estimates peak: a short ascent
        # from the maximizers of the best few (the rest of Z is only evaluated).
        top = np.argsort(-bounds)[:ASCENTS]
        new_rays = np.array(tree.rays[n_rays:]).reshape(-1, r).T
        best.offer(np.hstack([_ascent(A, u[:, None], Z[:, top], iters=20), Z, new_rays]))
        for b, k in zip(bounds, children):
            heapq.heappush(heap, (-b, k))
    cert = tree.certificate()
    upper = max(cert.upper, best.value)
    complete = upper <= _level(best.value, rtol, floor) + atol
    if complete:
        stopped = ""
    elif not stopped:
        stopped = ("rank 1: no cone to split" if r == 1 else
                   "cones as fine as exact integer rays allow (2^52)" if stuck else "unknown")
    return RhoBound(upper, best.value, best.z, complete, nodes, time.perf_counter() - t0, stopped, cert, best.atoms(),
                    tree)


# ======================================================================== public
def rho_bound(A: np.ndarray, u: np.ndarray, *, rtol: float = 1e-4, time_limit: float | None = None,
              max_nodes: int | None = None, incumbent: np.ndarray | None = None, executor: Executor | None = None,
              n_starts: int = 100, floor: float = 0.0, warm: RhoBound | None = None) -> RhoBound:
    """Proven upper bound on ρ(u) = max_{‖z‖≤1} |uᵀ(Az)_+| by branch and bound over cones (docs/settings/two_layer.md).

    Parameters
    ----------
    A : ndarray (n_samples, rank)
        Reduced design (``geometry(X).A``): ρ is then the same as max_{‖w‖≤1} |uᵀ(Xw)_+|.
    u : ndarray (n_samples,)
    rtol : float
        Stop when upper ≤ lower·(1 + rtol) (+ 32(n + 2r)ε·Σ|u_i|‖a_i‖, a few rounding margins).
    time_limit : float, optional
        Seconds; the search returns its (still proven) bound when they run out.
    max_nodes : int, optional
        Cap on the cones evaluated.
    incumbent : ndarray (rank,) or (rank, k), optional
        Directions to start the lower value from (e.g. the cutting plane's last atoms).
    executor : concurrent.futures.Executor, optional
        Evaluates the children of each round in tasks of 16 cones.
    n_starts : int
        Starts of the many-start ascent giving the first incumbent (0: none).
    floor : float
        A level below which no precision is asked: while the best value found is at most
        ``floor``, the cones whose bound is at most floor are pruned (above it, as usual, those
        within rtol of the best), so a search that answers "is ρ ≤ floor?" (a cutting plane's
        oracle, floor = β(1 + ε/2)) stops as soon as it proves it or finds a value above it.
    warm : RhoBound, optional
        A previous result on the same ``A`` (for another u, e.g. the last round of a cutting
        plane): the search starts from its tree's leaves instead of the root cones.

    Returns
    -------
    RhoBound
        ``upper`` is proven; :func:`check_certificate` re-checks it from ``certificate``.
        ``complete`` means upper ≤ that level + the rounding margin.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    >>> res = rho_bound(A, np.array([1.0, 1.0, -0.5]))
    >>> res.complete, round(res.lower, 6), res.upper >= res.lower
    (True, 1.414214, True)
    >>> bool(check_certificate(A, np.array([1.0, 1.0, -0.5]), res.certificate) >= res.lower)
    True
    """
    A, u = _validate(A, u)
    if u.ndim != 1:
        raise InputError(f"The 'u' parameter of rho_bound must be 1-D. Got shape {u.shape} instead. "
                         "Use rho_bound_vector for several outputs.")
    if not rtol > 0:
        raise InputError(f"The 'rtol' parameter must be positive. Got {rtol!r} instead.")
    start = None if incumbent is None else np.asarray(incumbent, dtype=float)
    tree = None if warm is None or warm.tree is None or warm.tree.rays[0].shape[0] != A.shape[1] else warm.tree
    return _search(A, u, float(rtol), time_limit, max_nodes, start, executor, int(n_starts), float(floor), tree)


def rho_bound_vector(A: np.ndarray, U: np.ndarray, *, rtol: float = 1e-4, time_limit: float | None = None,
                     max_nodes: int | None = None, executor: Executor | None = None,
                     n_starts: int = 100) -> RhoBound:
    """Proven bound on ρ(U) = max_{‖z‖≤1} ‖Uᵀ(Az)_+‖ for K outputs: (Σ_k ρ̄(u_k)²)^{1/2} (docs/settings/two_layer.md).

    Each column gets :func:`rho_bound` with an equal share of ``time_limit`` and
    ``max_nodes``. ``lower`` is the best ‖Uᵀ(Az)_+‖ found (the many-start ascent on U and
    the per-output maximizers); ``complete`` says that every per-output search finished,
    which does not make upper and lower meet (the bound by per-output maxima is loose when
    the outputs peak at different z). ``certificate`` is the tuple of per-output ones.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> res = rho_bound_vector(A, np.eye(2))
    >>> bool(res.upper >= res.lower > 0)
    True
    """
    t0 = time.perf_counter()
    A, U = _validate(A, U, "U")
    U = U.reshape(A.shape[0], -1)
    K = U.shape[1]
    share = None if time_limit is None else time_limit / K
    budget = Budget(time_limit)
    parts = []
    for k in range(K):
        if budget.expired():
            # Out of time: this output keeps the norm bound (its certificate is None, and the
            # re-check recomputes that bound). Searching it anyway costs the root cones alone
            # seconds at rank 64, times the outputs left.
            parts.append(_norm_only(A, U[:, k]))
            continue
        parts.append(rho_bound(A, U[:, k], rtol=rtol, time_limit=min(share or np.inf, budget.remaining()),
                               executor=executor, n_starts=n_starts,
                               max_nodes=None if max_nodes is None else max(1, max_nodes // K)))
    Z = np.array([p.z for p in parts]).T
    if A.shape[1] and n_starts > 0 and np.any(U) and not budget.expired():
        Z = np.hstack([Z, _heuristic(A, U, None, n_starts, 0, 1, budget)[1][:, :8]])
    vals = np.sqrt(np.sum((U.T @ np.maximum(A @ Z, 0.0)) ** 2, axis=0)) if Z.size else np.zeros(1)
    k = int(np.argmax(vals))
    upper = float(np.sqrt(sum(p.upper ** 2 for p in parts)) * (1 + 4 * (K + 2) * EPS))
    stopped = "; ".join(f"output {k}: {p.stopped}" for k, p in enumerate(parts) if p.stopped)
    return RhoBound(upper, float(vals[k]), Z[:, k] if Z.size else np.zeros(A.shape[1]),
                    all(p.complete for p in parts), sum(p.nodes for p in parts), time.perf_counter() - t0, stopped,
                    tuple(p.certificate for p in parts))
