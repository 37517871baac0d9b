"""Hinge and absolute loss on the reduced problem min_Z ℓ(A Z; Y) + λ‖Z‖_* (see :mod:`dualnet.settings._reduced`).

The Moreau envelope ℓ_μ of a kinked loss is minimized for a decreasing μ, by damped Newton
(Z a vector: ‖Z‖ is smooth off 0) or by damped Newton on balanced factors Z = GHᵀ (Z a
matrix: ‖Z‖_* = min ½(‖G‖² + ‖H‖²)); then the optimality conditions of ℓ itself are solved
on the entries at a kink by a primal-dual active-set method. The same duality gap the
certificate computes decides when to stop; nothing here decides optimality.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import cvxpy as cp
import numpy as np
from scipy import linalg, sparse

from ..errors import SolverError
from ..losses import Loss
from ._reduced import _dual_norm, _factored, _loss_hessian, _model_start, _newton, _newton_step, safeguarded_newton
from ._solve import solve_cvxpy

__all__ = ["solve_kinked"]


class _Envelope(Loss):
    """ℓ_μ, the Moreau envelope of a kinked loss (:meth:`dualnet.losses.Loss.moreau`), for :func:`_newton`."""

    def __init__(self, loss: Loss, mu: float):
        self.loss, self.mu = loss, mu
        self._last: tuple[np.ndarray, tuple] | None = None

    def _parts(self, F: np.ndarray, Y: np.ndarray) -> tuple:
        # Newton asks for the value, the gradient and the curvature at the same F: one pass.
        if self._last is None or self._last[0] is not F:
            self._last = (F, self.loss.moreau(F, Y, self.mu))
        return self._last[1]

    def value(self, F, Y):
        return float(np.sum(self._parts(F, Y)[0]))

    def dual_point(self, F, Y):
        return self._parts(F, Y)[1]

    def curvature(self, F, Y):
        return self._parts(F, Y)[2]


def solve_kinked(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, warm: np.ndarray | None,
                  tol: float) -> tuple[np.ndarray, np.ndarray, str]:
    """Hinge or absolute loss: minimize the envelope ℓ_μ for decreasing μ, then solve the kinks exactly.

    For the minimizer Z_μ of ℓ_μ(AZ) + lam‖Z‖ and U = −∇ℓ_μ(AZ_μ), strong duality of the
    smoothed problem gives −ℓ*(−U) = ℓ_μ(AZ_μ) + lam‖Z_μ‖ + μ‖U‖²/2 with ‖AᵀU‖ = lam, so the
    gap of the pair for ℓ is [ℓ − ℓ_μ](AZ_μ) + μ‖U‖²/2 ≤ μ per sample charged. Rather than
    drive μ to the target (the gradient then amplifies rounding by 1/μ), each stage hands the
    entries within μ of their kink (at most as many distinct ones as the solution has degrees
    of freedom, the nearest), where the optimum of ℓ sits, to :func:`_solve_kinks`, which
    solves the optimality conditions of ℓ itself there. The gap is computed as the
    certificate computes it (U scaled by min(1, lam/‖AᵀU‖)); μ falls tenfold per stage until
    the gap is at most ``tol``·ℓ(0) (or μ is below ``tol``; the best pair met is returned and
    the certificate judges it).

    Z a vector: damped Newton on the envelope (‖Z‖ is smooth off 0), the first μ making
    every entry of the zero network quadratic so that Newton's first step solves a
    least-squares-like model. Z a matrix (nuclear norm): Newton on the factored envelope
    problem (:func:`_factored_newton`), and the kinks solved in the factors
    (:func:`_factored_kink_system`).
    """
    r, K = A.shape[1], Y.shape[1]
    B = np.eye(K)
    vector = min(r, K) == 1
    U0 = loss.dual_point(np.zeros_like(Y), Y)
    g0 = A.T @ U0
    if r == 0 or _dual_norm(g0) <= lam:
        return np.zeros((r, K)), U0, "zero (the threshold exceeds ‖Aᵀ∇ℓ(0)‖)"
    target = tol * loss.zero_value(Y)
    mu = 2.0 * max(float(np.max(np.abs(Y))), 1.0) if loss.name == "absolute" else 2.0
    W = None if warm is None or not np.any(warm) else np.asarray(warm, dtype=float).reshape(r, K)
    # A warm start (the solution at a nearby threshold) has its kinks about right: they are
    # tried first as they are, without Newton (within 1% of the first μ). If that fails the
    # stages run as from a cold start, from the warm point: Newton at a small μ far from
    # its optimum crosses one kink per step (measured: seconds on breast cancer).
    newton_next = W is None
    first_mu, mu = mu, mu * (1.0 if W is None else 1e-2)
    best: tuple[float, np.ndarray, np.ndarray, str] | None = None
    newton_runs = 0
    for _ in range(14):
        envelope = _Envelope(loss, mu)
        if W is None:
            W = _model_start(_loss_hessian(A, envelope.hessian_blocks(np.zeros_like(Y), Y, B)), -g0, lam) \
                if vector else None
            if W is None:
                W = g0 * ((_dual_norm(g0) - lam) * mu / (_dual_norm(g0) * np.linalg.norm(A, 2) ** 2))
        if newton_next:
            if vector:
                W, _ = _newton(A, B, Y, envelope, lam, W, halvings=4)
            else:
                W = _off_zero(A, Y, envelope, lam, W)
                if newton_runs == 0:
                    # Small factors sit near the saddle at 0, where Newton's decrement vanishes:
                    # L-BFGS takes the cold start into the basin first.
                    W, _ = _factored(A, B, Y, envelope, lam, W, max_iter=200)
                W, _ = _factored_newton(A, Y, envelope, lam, W)
            newton_runs += 1
        newton_next = True
        F = A @ W
        candidates = [(W, envelope.dual_point(F, Y), "kinks not solved")]
        exact = _kinks_solved(A, Y, loss, lam, W, candidates[0][1], mu, vector)
        if exact is not None:
            candidates.append(exact)
        for candidate in candidates:
            gap = _gap(A, Y, loss, lam, *candidate[:2])
            if gap > target and not vector and candidate is exact:
                # A degenerate optimum (more kinks than degrees of freedom) has many dual points, and
                # the least-norm one need not satisfy ‖AᵀU‖₂ ≤ lam.
                polished = _kink_dual(A, Y, loss, lam, *candidate[:2])
                if polished is not None and (polished_gap := _gap(A, Y, loss, lam, candidate[0], polished)) < gap:
                    gap, candidate = polished_gap, (candidate[0], polished, candidate[2] + ", dual point of the "
                                                    "kink entries by CVXPY")
            if best is None or gap < best[0]:
                best = (gap, *candidate)
        if best[0] <= target or mu <= tol:
            break
        mu = first_mu if newton_runs == 0 else 0.1 * mu
    inner = "Newton" if vector else "Newton on factors"
    return best[1], best[2], f"smoothed {inner} ({newton_runs} stages of μ; {best[3]})"


def _factored_line_minimum(loss: Loss, A: np.ndarray, Y: np.ndarray, F: np.ndarray, G: np.ndarray, H: np.ndarray,
                           PG: np.ndarray, PH: np.ndarray, lam: float, decrement: float, max_iter: int = 30) -> float:
    """A step t > 0 nearly minimizing φ(t) = ℓ(A(G + tPG)(H + tPH)ᵀ) + lam(‖G + tPG‖² + ‖H + tPH‖²)/2.

    The outputs move along F + tD₁ + t²D₂ (D₁ = A(PG Hᵀ + G PHᵀ), D₂ = A PG PHᵀ). Safeguarded
    Newton on φ' from t = 1 (doubling until φ' > 0 somewhere, then bisecting steps that leave
    the bracket), stopped when |φ'(t)| ≤ φ'(0)/10 = decrement/10, as for a vector.
    """
    D1, D2 = A @ (PG @ H.T + G @ PH.T), A @ PG @ PH.T
    g1 = float(np.sum(G * PG) + np.sum(H * PH))
    p2 = float(np.sum(PG * PG) + np.sum(PH * PH))

    def derivatives(t: float) -> tuple[float, float]:
        Ft, dF = F + t * D1 + t * t * D2, D1 + 2.0 * t * D2
        M = -loss.dual_point(Ft, Y)                                  # ∇ℓ at Ft
        slope = float(np.sum(M * dF)) + lam * (g1 + t * p2)
        curve = float(np.sum(loss.curvature(Ft, Y) * dF * dF)) + 2.0 * float(np.sum(M * D2)) + lam * p2
        return slope, curve

    return safeguarded_newton(derivatives, decrement, max_iter)


def _kink_dual(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray, U: np.ndarray
               ) -> np.ndarray | None:
    """The best dual point equal to U off the kinks of AW: the dual program in the kink entries only.

    Off its kinks the loss is linear and U is its fixed slope; on them any U in the
    conjugate's domain satisfies the loss's optimality condition, so the dual program over
    those entries (the constraint ‖AᵀU‖₂ ≤ lam included) reaches the optimum when W is
    optimal. A small CVXPY program (one variable per kink entry); None if it fails.
    """
    kinks = np.abs(Y - A @ W) <= 1e-9 * max(1.0, float(np.max(np.abs(Y))))
    rows, cols = np.nonzero(kinks)
    if rows.size == 0:
        return None
    n, K = Y.shape
    scatter = sparse.csr_matrix((np.ones(rows.size), (rows * K + cols, np.arange(rows.size))), shape=(n * K, rows.size))
    u = cp.Variable(rows.size)
    U_var = cp.reshape(scatter @ u, (n, K), order="C") + np.where(kinks, 0.0, U)
    objective, constraints = loss.dual(U_var, Y)
    problem = cp.Problem(cp.Maximize(objective), [*constraints, cp.sigma_max(A.T @ U_var) <= lam])
    try:
        solve_cvxpy(problem, None)
    except SolverError:
        return None
    polished = np.where(kinks, 0.0, U)
    polished[rows, cols] = u.value
    return loss.project_dual(polished, Y)


def _kinks_solved(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray, U_mu: np.ndarray,
                  mu: float, vector: bool) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The optimum of ℓ from an envelope's minimizer W (dual point U_mu), or None: :func:`_kink_guesses` in turn.

    The guessed kinks are the entries within their zone of the kink (|Y − F| is the distance
    for both losses, hinge's labels being ±1; the exact kinks of a warm start included).
    """
    F = A @ W
    tried: list[tuple[int, np.ndarray]] = []
    for rank, system, m, zone in _kink_guesses(W, vector, mu):
        kinks = _nearest_kinks(A, Y, F, np.abs(Y - F) < zone, m)
        if not np.any(kinks) or any(rank == other and np.array_equal(kinks, seen) for other, seen in tried):
            continue
        tried.append((rank, kinks))
        exact = _solve_kinks(A, Y, loss, lam, W, np.where(kinks, U_mu, loss.dual_point(F, Y)), kinks, system)
        if exact is not None:
            return (*exact, "kinks solved exactly")
    return None


def _factored_newton(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray,
                     max_iter: int = 100) -> tuple[np.ndarray, int]:
    """Damped Newton on f(G, H) = ℓ(AGHᵀ) + lam(‖G‖² + ‖H‖²)/2 with min(r, K) factors, from the SVD of W.

    ``loss`` is an envelope (piecewise quadratic, curvature only near the kinks). With
    C = Aᵀ(−∇ℓ), the gradient is (lam G − CH, lam H − CᵀG) and the Hessian is
    [[lam I, −C⊗I], [−Cᵀ⊗I, lam I]] plus JᵀDJ over the entries that curve (D their
    curvature, J the derivative of those entries of AGHᵀ). It is singular along rotations
    of the factors and indefinite away from a minimum: Levenberg–Marquardt damping, raised
    until the Cholesky factorization succeeds and the Armijo test passes, handles both.
    Local minima of the factored problem are global; factors of size zero are a saddle,
    so they start slightly off it (as in :func:`dualnet.settings._reduced._factored`).
    """
    r, K = W.shape
    P, sig, Qt = np.linalg.svd(W, full_matrices=False)
    floor = 1e-3 * max(float(sig[0]), 1e-12)
    root = np.sqrt(np.maximum(sig, floor))
    G, H = P * root, Qt.T * root
    k, nG = sig.size, r * sig.size

    def objective(G: np.ndarray, H: np.ndarray) -> tuple[float, np.ndarray]:
        F = A @ G @ H.T
        return loss.value(F, Y) + 0.5 * lam * (float(np.sum(G * G)) + float(np.sum(H * H))), F

    (f, F), damping = objective(G, H), 0.0
    for it in range(1, max_iter + 1):
        U = loss.dual_point(F, Y)
        C = A.T @ U
        grad = np.concatenate([(lam * G - C @ H).ravel(), (lam * H - C.T @ G).ravel()])
        curvature = loss.curvature(F, Y)
        rows, cols = np.nonzero(curvature)
        JH = np.zeros((rows.size, K, k))
        JH[np.arange(rows.size), cols] = A[rows] @ G
        J = np.hstack([(A[rows][:, :, None] * H[cols][:, None, :]).reshape(rows.size, nG),
                       JH.reshape(rows.size, K * k)]) * np.sqrt(curvature[rows, cols])[:, None]
        cross = -np.kron(C, np.eye(k))
        Hess = np.block([[lam * np.eye(nG), cross], [cross.T, lam * np.eye(K * k)]]) + J.T @ J
        scale = max(float(np.trace(Hess)) / Hess.shape[0], 1e-300)
        damping = max(damping * 0.1, 1e-12 * scale)
        p, damping = _damped_step(Hess, grad, damping)
        decrement = -float(grad @ p)
        if decrement <= 1e-9 * max(abs(f), 1e-300):
            # As in dualnet.settings._reduced._newton: at the digits the loss can be summed to.
            return (G + p[:nG].reshape(r, k)) @ (H + p[nG:].reshape(K, k)).T, it
        # The envelope's minimum along the step (as in dualnet.settings._reduced._newton: a
        # full step crosses many kinks); the damped loop below only if that fails.
        PG, PH = p[:nG].reshape(r, k), p[nG:].reshape(K, k)
        t = _factored_line_minimum(loss, A, Y, F, G, H, PG, PH, lam, decrement)
        f_new, F_new = objective(G + t * PG, H + t * PH)
        if f_new < f:
            G, H, f, F = G + t * PG, H + t * PH, f_new, F_new
            continue
        while True:
            G_new, H_new = G + p[:nG].reshape(r, k), H + p[nG:].reshape(K, k)
            f_new, F_new = objective(G_new, H_new)
            if f_new <= f - 0.25 * decrement:
                break
            if damping > 1e12 * scale:
                return G @ H.T, it
            p, damping = _damped_step(Hess, grad, max(damping * 10.0, 1e-6 * scale))
            decrement = -float(grad @ p)
        G, H, f, F = G_new, H_new, f_new, F_new
    return G @ H.T, max_iter


def _off_zero(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray) -> np.ndarray:
    """W, or W plus a rank-one step when W is near 0 (a saddle of the factored problem) but 0 is not optimal.

    A larger μ can have Z = 0 as its optimum (‖Aᵀ∇ℓ_μ(0)‖₂ ≤ lam) where a smaller one does
    not; near 0 the factored problem has almost no gradient, and Newton's decrement would
    stop it there. Along Z = τuvᵀ, (u, v) the top singular pair of C = Aᵀ(−∇ℓ_μ(0)), the
    slope at 0 is lam − σ₁(C) < 0, and τ is the step of the model that curves by 1/μ on
    every entry; W counts as near 0 when it is below a thousandth of that step.
    """
    P, sig, Qt = np.linalg.svd(A.T @ loss.dual_point(np.zeros_like(Y), Y), full_matrices=False)
    if sig[0] <= lam:
        return W
    curvature = float(np.max(loss.curvature(np.zeros_like(Y), Y))) or 1.0
    tau = (sig[0] - lam) / (curvature * float(np.sum((A @ P[:, 0]) ** 2)))
    return W if np.linalg.norm(W) >= 1e-3 * tau else W + tau * np.outer(P[:, 0], Qt[0])


def _damped_step(Hess: np.ndarray, grad: np.ndarray, damping: float) -> tuple[np.ndarray, float]:
    """−(Hess + δI)⁻¹grad with δ ≥ ``damping`` raised tenfold until Hess + δI is positive definite."""
    eye = np.eye(Hess.shape[0])
    while True:
        try:
            L = np.linalg.cholesky(Hess + damping * eye)
        except np.linalg.LinAlgError:
            damping *= 10.0
            continue
        return -np.linalg.solve(L.T, np.linalg.solve(L, grad)), damping


def _rank(W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The SVD of W and its rank k: singular values above 1e-6 of the largest.

    An envelope's minimizer keeps small tails of the directions the optimum drops.
    """
    P, sig, Qt = np.linalg.svd(W, full_matrices=False)
    k = int(np.count_nonzero(sig > 1e-6 * sig[0])) if sig.size and sig[0] > 0 else 0
    return P, sig, Qt, k


def _kink_guesses(W: np.ndarray, vector: bool, mu: float) -> list[tuple[int, Callable, int, float]]:
    """The kink systems to try on an envelope's minimizer W: (rank, system, most kinks, zone around the kinks).

    A vector W has at most r·K kinks (the entries within μ, the nearest). A matrix of rank k
    has k(r + K − k) degrees of freedom. The envelope keeps small singular values the optimum
    drops (of the order of μ) and can shrink away small ones it has, so the rank is read at
    two thresholds (1e-6 and 1e-2 of σ₁), and one more than the first is tried last, with
    the kinks nearest to holding within 100μ. A degenerate optimum has more kinks than
    degrees of freedom: each rank is also tried with up to twice as many (a Newton step on
    s kinks costs a least-squares solve of size ~s, so not every entry of the zone).
    """
    if vector:
        return [(1, _kink_system, W.size, mu)]
    r, K = W.shape
    sig = np.linalg.svd(W, compute_uv=False)
    if sig[0] == 0:
        return []
    fine, coarse = (int(np.count_nonzero(sig > tau * sig[0])) for tau in (1e-6, 1e-2))
    ranks = list(dict.fromkeys([fine, coarse] + ([fine + 1] if fine < min(r, K) else [])))
    return [(k, functools.partial(_factored_kink_system, rank=k), m, 100.0 * mu if k > fine else mu)
            for k in ranks for m in (k * (r + K - k), 2 * k * (r + K - k))]


def _gap(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray, U: np.ndarray) -> float:
    """Duality gap of (W, U) for ℓ(AW) + lam‖W‖, U scaled into ‖AᵀU‖ ≤ lam as the certificate does."""
    rho = _dual_norm(A.T @ U)
    c = 1.0 if rho <= lam else lam / rho
    penalty = float(np.linalg.norm(W) if min(W.shape) == 1 else np.linalg.norm(W, "nuc"))
    return loss.value(A @ W, Y) + lam * penalty - loss.dual_value(c * U, Y)


def _nearest_kinks(A: np.ndarray, Y: np.ndarray, F: np.ndarray, zone: np.ndarray, m: int) -> np.ndarray:
    """The entries of ``zone`` whose kink equations are among the m distinct ones nearest to holding.

    A vertex of the problem has at most m = r·K distinct kink equations; entries with equal
    equations (equal rows of A and labels) are kept or dropped together.
    """
    rows, cols = np.nonzero(zone)
    keys = np.column_stack([A[rows], cols, Y[rows, cols]])
    _, first, which = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    if first.size <= m:
        return zone
    distance = np.abs(Y - F)[rows[first], cols[first]]
    kept = np.zeros_like(zone)
    chosen = np.isin(which.ravel(), np.argsort(distance, kind="stable")[:m])
    kept[rows[chosen], cols[chosen]] = True
    return kept


def _solve_kinks(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray, U: np.ndarray,
                 kinks: np.ndarray, system: Callable, rounds: int = 6) -> tuple[np.ndarray, np.ndarray] | None:
    """Solve the optimality conditions of ℓ(AW) + lam‖W‖ given a guess of the entries of AW on a kink.

    A primal-dual active-set method: ``system`` (:func:`_kink_system` for a vector W,
    :func:`_factored_kink_system` for a matrix) puts the guessed entries on their
    kink (AW = Y there); an entry whose U then leaves the conjugate's domain is no kink
    (its U is clipped and fixed), and an entry off the kink whose derivative differs from
    its fixed U is one. The guess is corrected until it is consistent. None when it does
    not settle in ``rounds`` or the system has no solution (the caller's gap decides).
    """
    tiny = 1e-12 * max(1.0, float(np.max(np.abs(Y))))
    for _ in range(rounds):
        solved = system(A, Y, lam, W, U, kinks)
        if solved is None:
            return None
        W, U = solved
        F = A @ W
        inside = loss.project_dual(U, Y)
        leave = kinks & (np.abs(inside - U) > 1e-12)
        join = ~kinks & (np.abs(Y - F) > tiny) & (loss.dual_point(F, Y) != U)
        if not np.any(leave) and not np.any(join):
            return W, U
        U = np.where(leave, inside, U)
        kinks = (kinks & ~leave) | join
        if not np.any(kinks):
            return None
    return None


def _kink_system(A: np.ndarray, Y: np.ndarray, lam: float, W: np.ndarray, U: np.ndarray, kinks: np.ndarray,
                 max_iter: int = 12) -> tuple[np.ndarray, np.ndarray] | None:
    """AᵀU = lam W/‖W‖ and (AW)_S = Y_S for S = ``kinks``, in W and U_S (U fixed elsewhere), by Newton.

    A saddle system in which only W/‖W‖ is nonlinear. None when the residual does not
    vanish (the kinks admit no solution) or more kinks than unknowns are guessed.
    """
    r, K = W.shape
    rows, cols, y, u, (all_rows, all_cols, which, counts) = _kink_unknowns(A, Y, U, kinks)
    s = rows.size
    if s > r * K:
        return None
    M = np.zeros((r, K, s))
    M[:, cols, np.arange(s)] = A[rows].T                  # (AW)_S = Mᵀ vec(W)
    M = M.reshape(r * K, s)
    w = W.ravel().copy()
    U = U.copy()
    size = np.array([max(lam, 1e-300), max(1.0, float(np.max(np.abs(y))))])
    previous = np.inf
    for _ in range(max_iter):
        U[all_rows, all_cols] = (u / counts)[which]
        nw = float(np.linalg.norm(w))
        if nw == 0.0:
            return None
        w_hat = w / nw
        residual = np.concatenate([(A.T @ U).ravel() - lam * w_hat, M.T @ w - y])
        error = max(np.linalg.norm(residual[:r * K]) / size[0], np.linalg.norm(residual[r * K:]) / size[1])
        if error <= 1e-14 or error >= previous:     # converged, at the rounding floor, or diverging
            break
        previous = error
        J = np.block([[-(lam / nw) * (np.eye(r * K) - np.outer(w_hat, w_hat)), M], [M.T, np.zeros((s, s))]])
        step = _newton_step(J, residual)      # a singular J (equal kinks not merged) falls back to least squares
        w, u = w + step[:r * K], u + step[r * K:]
    U[all_rows, all_cols] = (u / counts)[which]
    if min(error, previous) > 1e-9 or not np.all(np.isfinite(U)):
        return None
    return w.reshape(r, K), U


def _kink_unknowns(A: np.ndarray, Y: np.ndarray, U: np.ndarray, kinks: np.ndarray) -> tuple:
    """The distinct kink equations of ``kinks``: their rows, columns, labels, summed U, and the map back.

    Equal kink equations (identical rows of A with equal labels: a whitened label group)
    share one unknown, their sum of U, split equally (the least-norm split).
    """
    all_rows, all_cols = np.nonzero(kinks)
    keys = np.column_stack([A[all_rows], all_cols, Y[all_rows, all_cols]])
    _, first, which, counts = np.unique(keys, axis=0, return_index=True, return_inverse=True, return_counts=True)
    which = which.ravel()
    rows, cols = all_rows[first], all_cols[first]
    u = np.bincount(which, U[all_rows, all_cols], rows.size)
    return rows, cols, Y[rows, cols], u, (all_rows, all_cols, which, counts)


def _factored_kink_system(A: np.ndarray, Y: np.ndarray, lam: float, W: np.ndarray, U: np.ndarray,
                          kinks: np.ndarray, rank: int | None = None, max_iter: int = 12
                          ) -> tuple[np.ndarray, np.ndarray] | None:
    """The kink equations of a matrix W of rank k, in balanced factors W = GHᵀ (G r×k, H K×k), by Newton.

    With C = AᵀU, the optimality conditions on the rank-k matrices are CH = lam G and
    CᵀG = lam H (W = PΣQᵀ, G = PΣ^½, H = QΣ^½: C acts as lam on the singular pairs), and
    (AGHᵀ)_S = Y_S on the kinks S, in G, H and U_S (U fixed elsewhere). These are the
    stationarity conditions of the Lagrangian ⟨U, AGHᵀ − Y⟩ − lam(‖G‖² + ‖H‖²)/2 restricted
    to S, whose Jacobian is symmetric; rotations G → GΩ, H → HΩ leave them invariant. That
    ‖C‖₂ ≤ lam (the directions W does not use) is left to the caller's gap. ``rank``
    (default: that of W) sets the number of factors. More kinks than the k(r + K − k)
    degrees of freedom are allowed (a degenerate optimum: the least-norm step then splits U
    among them). None when the residual does not vanish.
    """
    r, K = W.shape
    P, sig, Qt, k = _rank(W)
    k = k if rank is None else rank
    rows, cols, y, u, (all_rows, all_cols, which, counts) = _kink_unknowns(A, Y, U, kinks)
    s = rows.size
    if k == 0:
        return None
    # A singular value the envelope shrank to 0 starts small but off 0 (a zero factor pair is singular).
    root = np.sqrt(np.maximum(sig[:k], 1e-3 * sig[0]))
    G, H = P[:, :k] * root, Qt[:k].T * root
    U = U.copy()
    Ak, nG = A[rows], r * k
    size = np.array([max(lam, 1e-300), max(1.0, float(np.max(np.abs(y))))])
    eye_k, error, previous = np.eye(k), np.inf, np.inf
    for _ in range(max_iter):
        U[all_rows, all_cols] = (u / counts)[which]
        C = A.T @ U
        AG = Ak @ G
        residual = np.concatenate([(C @ H - lam * G).ravel(), (C.T @ G - lam * H).ravel(),
                                   np.einsum("ij,ij->i", AG, H[cols]) - y])
        error = max(np.linalg.norm(residual[:nG + K * k]) / size[0], np.linalg.norm(residual[nG + K * k:]) / size[1])
        if error <= 1e-14 or error >= previous:     # converged, at the rounding floor, or diverging
            break
        previous = error
        # Columns of the kink unknowns: ∂(CH)/∂u_p = a_p h_{c_p}ᵀ and ∂(CᵀG)/∂u_p = e_{c_p}(a_pᵀG).
        dG = (Ak[:, :, None] * H[cols][:, None, :]).reshape(s, nG)
        dH = np.zeros((s, K, k))
        dH[np.arange(s), cols] = AG
        cross = np.kron(C, eye_k)
        J = np.block([[-lam * np.eye(nG), cross, dG.T],
                      [cross.T, -lam * np.eye(K * k), dH.reshape(s, K * k).T],
                      [dG, dH.reshape(s, K * k), np.zeros((s, s))]])
        # J is singular along rotations of the factors, and wherever the dual point is not
        # unique (‖C‖₂ = lam on directions W does not use): the least-norm step (measured:
        # np.linalg.solve diverged from the optimum's own factors and kinks).
        try:
            # gelsy (complete orthogonal factorization) gives the same least-norm step as numpy's
            # SVD-based gelsd, three times faster at the sizes met here (~200 unknowns).
            step = -linalg.lstsq(J, residual, cond=1e-10, lapack_driver="gelsy")[0]
        except (ValueError, np.linalg.LinAlgError):          # a diverging iterate (non-finite entries)
            return None
        G, H, u = G + step[:nG].reshape(r, k), H + step[nG:nG + K * k].reshape(K, k), u + step[nG + K * k:]
    U[all_rows, all_cols] = (u / counts)[which]
    if min(error, previous) > 1e-9 or not np.all(np.isfinite(U)):
        return None
    return G @ H.T, U
