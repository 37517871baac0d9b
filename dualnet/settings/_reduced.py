"""Fast solvers for min_Z ℓ(A Z; Y) + λ‖Z‖_* on a reduced problem, for every loss.

The settings with a decomposition (linear, batch-norm, rank-one) end with this problem in
a few variables: A is n×r with r = rank X (or 1 for rank-one data), Z is r×K, and the
nuclear norm is the Euclidean norm whenever Z is a vector (K = 1, or r = 1).

* Cross-entropy is unchanged by adding a constant to every row of F, so an optimal Z has
  Z1 = 0 (removing the mean column keeps the loss and cannot raise the nuclear norm):
  the solvers work with Z = Z̃Bᵀ, B an orthonormal basis of 1^⊥, and K = 2 classes become
  one column.
* One column (or one row): the optimum is Z = 0 exactly when ‖Aᵀ∇ℓ(0)B‖ ≤ λ; otherwise
  ‖Z‖ is smooth at the optimum and damped Newton converges quadratically in r·q variables.
* Several columns and rows: the factored form ‖Z‖_* = min_{Z=GHᵀ} ½(‖G‖² + ‖H‖²) with as
  many factors as columns, by L-BFGS (a smooth problem whose local minima are global).
* Kinked losses (hinge, absolute) with Z a vector: Newton on the Moreau envelope ℓ_μ with a
  decreasing μ (:func:`_solve_kinked`). The envelope's gradient is a dual point of ℓ itself,
  and the duality gap of the pair is at most μ per sample the loss charges, so μ falls
  until the gap, computed as the certificate computes it, is below the target. Z a matrix
  (several columns and rows) has no fast path for these losses (:func:`has_fast_path`).

Nothing here decides optimality: the settings pass the network to the NumPy certificate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import null_space
from scipy.optimize import brentq, minimize

from ..losses import LOSSES, Loss

__all__ = ["has_fast_path", "solve_reduced"]


def has_fast_path(loss: Loss, r: int, K: int) -> bool:
    """Whether :func:`solve_reduced` takes ``loss`` with Z of shape r×K (kinked losses: Z a vector).

    Losses that are neither smooth nor kinked (the intercept losses of :mod:`dualnet.sklearn`)
    have none.
    """
    return loss.smooth or (loss.kinked and min(r, K) <= 1)


def solve_reduced(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float,
                  warm: np.ndarray | None = None, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, str]:
    """min_Z ℓ(A Z; Y) + lam‖Z‖_* (Z is r×K): the minimizer, a dual point, and the method.

    Smooth losses: Newton or L-BFGS run to convergence, and the dual point is −∇ℓ(AZ).
    Kinked losses (only where :func:`has_fast_path`): the smoothed Newton method, stopped
    once the duality gap of (Z, U) is at most ``tol`` times ℓ(0); U is the envelope's
    gradient, a dual point of ℓ.
    """
    r, K = A.shape[1], Y.shape[1]
    if not has_fast_path(loss, r, K):
        raise ValueError(f"no fast path for loss {loss.name!r} with {r}x{K} unknowns (has_fast_path)")
    if not loss.smooth:
        return _solve_kinked(A, Y, loss, lam, warm, tol)
    B = _basis(loss, K)
    zero = np.zeros((r, K))
    g0 = A.T @ (-loss.dual_point(np.zeros_like(Y), Y)) @ B
    if r == 0 or _dual_norm(g0) <= lam:
        # 0 is in the subdifferential there: the zero network is optimal.
        return zero, loss.dual_point(np.zeros_like(Y), Y), "zero (the threshold exceeds ‖Aᵀ∇ℓ(0)‖)"
    vector = min(g0.shape) == 1
    if loss.name == "cross-entropy" and K == 2:
        # Two classes: with Z = z bᵀ (b = ±(1, −1)/√2) sample i's loss is the logistic loss of
        # the margin √2 y_i a_iᵀz, y_i = ±1 its class: the same Newton on a cheaper loss.
        z = None if warm is None or not np.any(warm) else warm @ B
        z, _, method = solve_reduced(np.sqrt(2.0) * A, np.sign(Y @ B), LOSSES["logistic"], lam, z, tol)
        return z @ B.T, loss.dual_point(A @ z @ B.T, Y), method
    W0 = None if warm is None or not np.any(warm) else warm @ B
    if W0 is None and vector:
        # The exact minimizer of the quadratic model of ℓ at 0 plus lam‖W‖: Newton's first step.
        W0 = _model_start(_loss_hessian(A, loss.hessian_blocks(np.zeros_like(Y), Y, B)), g0, lam)
    if W0 is None:
        # One gradient step from 0 along the steepest direction, sized by the curvature at 0.
        curv = float(np.max(loss.hessian_blocks(np.zeros_like(Y), Y, B))) or 1.0
        W0 = -g0 * ((_dual_norm(g0) - lam) / (_dual_norm(g0) * curv * np.linalg.norm(A, 2) ** 2))
    inner = _newton if vector else _factored
    name = "Newton" if vector else "L-BFGS on factors"
    W, iters = inner(A, B, Y, loss, lam, W0, target=tol * loss.zero_value(Y)) if vector else inner(
        A, B, Y, loss, lam, W0)
    return W @ B.T, loss.dual_point(A @ W @ B.T, Y), f"{name} ({iters} iterations)"


def _model_start(H: np.ndarray, g: np.ndarray, lam: float) -> np.ndarray | None:
    """argmin_W ⟨g, W⟩ + ½ vec(W)ᵀH vec(W) + lam‖W‖ for ‖g‖ > lam (None if H is singular).

    In the eigenbasis H = V diag(h) Vᵀ with b = Vᵀ vec(g), the minimizer is
    y = −ν b/(hν + lam) with ν = ‖y‖ the root of ‖b/(hν + lam)‖ = 1 (decreasing in ν, from
    ‖b‖/lam > 1 at ν = 0 to ≤ 1 at ν = (‖b‖ − lam)/h_min): the secular equation of docs/settings/linear.md#secular-equation.
    """
    h, V = np.linalg.eigh(H)
    if h[0] <= 1e-12 * h[-1]:
        return None
    b = V.T @ g.ravel()
    nb = float(np.linalg.norm(b))
    # An absolute xtol of ~0: the root is tiny when ‖g‖ barely exceeds lam, and must not round to 0.
    nu = brentq(lambda nu: float(np.linalg.norm(b / (h * nu + lam))) - 1.0, 0.0, (nb - lam) / h[0] * (1 + 1e-12),
                xtol=1e-300, rtol=1e-12)
    return None if nu <= 0 else (V @ (-nu * b / (h * nu + lam))).reshape(g.shape)


def _basis(loss: Loss, K: int) -> np.ndarray:
    """Columns spanning the output directions an optimal Z can use (1^⊥ for cross-entropy)."""
    if loss.name == "cross-entropy":
        return null_space(np.ones((1, K)))
    return np.eye(K)


def _dual_norm(M: np.ndarray) -> float:
    return float(np.linalg.norm(M) if min(M.shape) == 1 else np.linalg.norm(M, 2))


def _newton(A: np.ndarray, B: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray,
            max_iter: int = 200, target: float = 0.0, halvings: int = 0) -> tuple[np.ndarray, int]:
    """Damped Newton on ℓ(A W Bᵀ) + lam‖W‖ for W with one column or one row (‖W‖ smooth off 0).

    With a ``target`` > 0 it also stops once the duality gap of W and its dual point
    −∇ℓ(AWBᵀ), scaled as the certificate scales it, is at most ``target`` (checked near the
    optimum only, where it saves the last one or two Hessians). ``halvings`` > 0 tries that
    many halved steps along the Newton direction before damping more (the piecewise-quadratic
    envelopes of kinked losses, where a full step crosses into other pieces).
    """
    shape, n_var = W.shape, W.size
    eye = np.eye(n_var)

    def objective(W: np.ndarray) -> tuple[float, np.ndarray]:
        F = A @ W @ B.T
        return loss.value(F, Y) + lam * float(np.linalg.norm(W)), F

    (f, F), damping, decrement = objective(W), 0.0, np.inf
    for it in range(1, max_iter + 1):
        nw = float(np.linalg.norm(W))
        if nw == 0.0:                      # only from a zero start: ‖W‖ has no gradient there
            return W, it
        U = loss.dual_point(F, Y)
        AtU = A.T @ U
        if target > 0 and decrement <= 1e-2 * abs(f):
            rho = _dual_norm(AtU)
            if f - loss.dual_value((1.0 if rho <= lam else lam / rho) * U, Y) <= target:
                return W, it - 1
        grad = (-AtU @ B + lam * W / nw).ravel()
        H = _loss_hessian(A, loss.hessian_blocks(F, Y, B))
        w_hat = W.ravel() / nw
        H += (lam / nw) * (eye - np.outer(w_hat, w_hat))
        # Levenberg–Marquardt damping: far from the optimum (a cold start) a full Newton step
        # can overshoot where the loss flattens; damping shortens it towards a gradient step.
        # Where H vanishes (a piecewise-linear stretch of a smoothed kinked loss, one variable)
        # the gradient over ‖W‖ sets the scale: damping by it is a step of length ‖W‖/2 (a
        # step of ‖W‖ could land on W = 0, where ‖W‖ has no gradient).
        scale = max(float(np.trace(H)) / n_var, 2.0 * float(np.linalg.norm(grad)) / nw, 1e-300)
        damping = max(damping * 0.1, 1e-12 * scale)
        p = _newton_step(H + damping * eye, grad)
        decrement = -float(grad @ p)
        if decrement <= 1e-9 * max(abs(f), 1e-300):
            # f − f* ≈ decrement/2 is ~1e-9 relative, and the full step taken now squares that
            # error (quadratic convergence): the result is at the digits the loss can be summed
            # to, and comparing values from here on would only see rounding.
            return W + p.reshape(shape), it
        while True:
            W_new = W + p.reshape(shape)
            f_new, F_new = objective(W_new)
            if f_new <= f - 0.25 * decrement:
                break
            if halvings and _shorter_step_found(objective, W, f, p, decrement, halvings, out := []):
                W_new, f_new, F_new = out
                break
            damping *= 10.0
            if damping > 1e12 * scale:
                return W, it
            p = _newton_step(H + damping * eye, grad)
            decrement = -float(grad @ p)
        W, F, f = W_new, F_new, f_new
    return W, max_iter


def _shorter_step_found(objective: Callable, W: np.ndarray, f: float, p: np.ndarray, decrement: float,
                        halvings: int, out: list) -> bool:
    """Armijo along the Newton direction with halved steps; the accepted (W, f, F) goes into ``out``."""
    for _ in range(halvings):
        p, decrement = 0.5 * p, 0.5 * decrement
        W_new = W + p.reshape(W.shape)
        f_new, F_new = objective(W_new)
        if f_new <= f - 0.25 * decrement:
            out[:] = [W_new, f_new, F_new]
            return True
    return False


def _newton_step(H: np.ndarray, grad: np.ndarray) -> np.ndarray:
    try:
        return -np.linalg.solve(H, grad)          # NumPy's solve: scipy's checks cost more than an r×r solve
    except np.linalg.LinAlgError:
        return -np.linalg.lstsq(H, grad, rcond=None)[0]


def _loss_hessian(A: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Σ_i (a_i a_iᵀ) ⊗ C_i, through one matrix product in the two shapes that occur."""
    r, q = A.shape[1], C.shape[1]
    if q == 1:
        # Aᵀdiag(c)A as MᵀM with M = diag(√c)A: NumPy then uses the symmetric product (c ≥ 0
        # for a convex loss; the clip only removes rounding). A smoothed kinked loss curves
        # only near its kinks: then only those rows enter.
        c = np.maximum(C[:, 0, 0], 0.0)
        rows = np.flatnonzero(c)
        if 2 * rows.size < c.size:
            A, c = A[rows], c[rows]
        M = A * np.sqrt(c)[:, None]
        return M.T @ M
    if r == 1:
        return np.tensordot(A[:, 0] ** 2, C, axes=1)
    return np.einsum("ij,ik,iab->jakb", A, A, C).reshape(r * q, r * q)


def _factored(A: np.ndarray, B: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray,
              max_iter: int = 5000) -> tuple[np.ndarray, int]:
    """L-BFGS on ℓ(A G Hᵀ Bᵀ) + lam(‖G‖² + ‖H‖²)/2 with q factors, from the SVD of W."""
    r, q = W.shape
    Ua, sig, Vt = np.linalg.svd(W, full_matrices=False)
    # Factors of size zero are a saddle point of the factored problem: start them slightly off it.
    floor = 1e-3 * max(float(sig[0]), 1e-12)
    root = np.sqrt(np.maximum(sig, floor))
    rng = np.random.default_rng(0)
    G = Ua * root + (sig < floor) * rng.standard_normal((r, sig.size)) * floor
    H = Vt.T * root + (sig < floor) * rng.standard_normal((q, sig.size)) * floor
    k = sig.size

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        G, H = x[:r * k].reshape(r, k), x[r * k:].reshape(q, k)
        AG = A @ G
        F = AG @ (B @ H).T
        M = -loss.dual_point(F, Y) @ B                                     # ∇ℓ Bᵀ... in the q directions
        value = loss.value(F, Y) + 0.5 * lam * (float(np.sum(G * G)) + float(np.sum(H * H)))
        dG = A.T @ (M @ H) + lam * G
        dH = M.T @ AG + lam * H
        return value, np.concatenate([dG.ravel(), dH.ravel()])

    res = minimize(fun, np.concatenate([G.ravel(), H.ravel()]), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "maxcor": 20, "gtol": 1e-12, "ftol": 1e-16})
    G, H = res.x[:r * k].reshape(r, k), res.x[r * k:].reshape(q, k)
    return G @ H.T, int(res.nit)


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


def _solve_kinked(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, warm: np.ndarray | None,
                  tol: float) -> tuple[np.ndarray, np.ndarray, str]:
    """Hinge or absolute loss, Z a vector: Newton on the envelope ℓ_μ for decreasing μ, then the kinks solved exactly.

    For the minimizer Z_μ of ℓ_μ(AZ) + lam‖Z‖ and U = −∇ℓ_μ(AZ_μ), strong duality of the
    smoothed problem gives −ℓ*(−U) = ℓ_μ(AZ_μ) + lam‖Z_μ‖ + μ‖U‖²/2 with ‖AᵀU‖ = lam, so the
    gap of the pair for ℓ is [ℓ − ℓ_μ](AZ_μ) + μ‖U‖²/2 ≤ μ per sample charged. Rather than
    drive μ to the target (Newton's gradient then amplifies rounding by 1/μ), each stage
    hands the entries within μ of their kink (at most r·K distinct ones, the nearest), where
    the optimum of ℓ sits, to :func:`_solve_kinks`, which solves the optimality conditions
    of ℓ itself there. The gap is computed as the certificate computes it (U scaled by
    min(1, lam/‖AᵀU‖)); μ falls tenfold per stage until the gap is at most ``tol``·ℓ(0) (or μ
    is below ``tol``; the best pair met is returned and the certificate judges it). The
    first μ makes every entry of the zero network quadratic, so Newton's first step solves a
    least-squares-like model.
    """
    r, K = A.shape[1], Y.shape[1]
    B = np.eye(K)
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
            W = _model_start(_loss_hessian(A, envelope.hessian_blocks(np.zeros_like(Y), Y, B)), -g0, lam)
            if W is None:
                W = g0 * ((_dual_norm(g0) - lam) * mu / (_dual_norm(g0) * np.linalg.norm(A, 2) ** 2))
        if newton_next:
            W, _ = _newton(A, B, Y, envelope, lam, W, halvings=4)
            newton_runs += 1
        newton_next = True
        F = A @ W
        candidates = [(W, envelope.dual_point(F, Y), "kinks not solved")]
        # Entries within μ of their kink (|Y − F| is the distance for both losses, hinge's
        # labels being ±1), exact kinks of a warm start included.
        kinks = _nearest_kinks(A, Y, F, np.abs(Y - F) < mu, r * K)
        if np.any(kinks):
            exact = _solve_kinks(A, Y, loss, lam, W, np.where(kinks, candidates[0][1], loss.dual_point(F, Y)), kinks)
            if exact is not None:
                candidates.append((*exact, "kinks solved exactly"))
        for candidate in candidates:
            gap = _gap(A, Y, loss, lam, *candidate[:2])
            if best is None or gap < best[0]:
                best = (gap, *candidate)
        if best[0] <= target or mu <= tol:
            break
        mu = first_mu if newton_runs == 0 else 0.1 * mu
    return best[1], best[2], f"smoothed Newton ({newton_runs} stages of μ; {best[3]})"


def _gap(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float, W: np.ndarray, U: np.ndarray) -> float:
    """Duality gap of (W, U) for ℓ(AW) + lam‖W‖, U scaled into ‖AᵀU‖ ≤ lam as the certificate does."""
    rho = _dual_norm(A.T @ U)
    c = 1.0 if rho <= lam else lam / rho
    return loss.value(A @ W, Y) + lam * float(np.linalg.norm(W)) - loss.dual_value(c * U, Y)


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
                 kinks: np.ndarray, rounds: int = 6) -> tuple[np.ndarray, np.ndarray] | None:
    """Solve the optimality conditions of ℓ(AW) + lam‖W‖ given a guess of the entries of AW on a kink.

    A primal-dual active-set method: :func:`_kink_system` puts the guessed entries on their
    kink (AW = Y there); an entry whose U then leaves the conjugate's domain is no kink
    (its U is clipped and fixed), and an entry off the kink whose derivative differs from
    its fixed U is one. The guess is corrected until it is consistent. None when it does
    not settle in ``rounds`` or the system has no solution (the caller's gap decides).
    """
    tiny = 1e-12 * max(1.0, float(np.max(np.abs(Y))))
    for _ in range(rounds):
        solved = _kink_system(A, Y, lam, W, U, kinks)
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
    all_rows, all_cols = np.nonzero(kinks)
    # Equal kink equations (identical rows of A with equal labels: a whitened label group)
    # share one unknown, their sum of U, split equally (the least-norm split).
    keys = np.column_stack([A[all_rows], all_cols, Y[all_rows, all_cols]])
    _, first, which, counts = np.unique(keys, axis=0, return_index=True, return_inverse=True, return_counts=True)
    which = which.ravel()
    rows, cols = all_rows[first], all_cols[first]
    s = rows.size
    if s > r * K:
        return None
    M = np.zeros((r, K, s))
    M[:, cols, np.arange(s)] = A[rows].T                  # (AW)_S = Mᵀ vec(W)
    M = M.reshape(r * K, s)
    w, u, y = W.ravel().copy(), np.bincount(which, U[all_rows, all_cols], s), Y[rows, cols]
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
