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
* A smooth loss under an unpenalized intercept b (:mod:`dualnet.sklearn`'s ``fit_intercept``,
  ℓ(AZ + 1bᵀ) minimized over b too): the same factored L-BFGS with b as free variables
  (:func:`smooth_intercept_base` says which losses).
* Kinked losses (hinge, absolute): the Moreau envelope ℓ_μ with a decreasing μ
  (:func:`dualnet.settings._kinked.solve_kinked`), minimized by Newton (Z a vector) or L-BFGS on the factors (Z a
  matrix), then the optimality conditions of ℓ solved exactly on the entries at a kink.
  The envelope's gradient is a dual point of ℓ itself, and the duality gap of the pair is
  at most μ per sample the loss charges, so μ falls until the gap, computed as the
  certificate computes it, is below the target.

Nothing here decides optimality: the settings pass the network to the NumPy certificate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq, minimize

from ..losses import LOSSES, Loss

__all__ = ["has_fast_path", "smooth_intercept_base", "solve_reduced"]


def has_fast_path(loss: Loss, r: int, K: int) -> bool:
    """Whether :func:`solve_reduced` takes ``loss`` with Z of shape r×K (smooth and kinked losses, any shape).

    Losses that are neither smooth nor kinked (the intercept losses of :mod:`dualnet.sklearn`)
    have none.
    """
    return loss.smooth or loss.kinked


def smooth_intercept_base(loss: Loss) -> Loss | None:
    """The smooth loss ℓ inside an intercept loss min_b ℓ(F + 1bᵀ) (:mod:`dualnet.sklearn`), else None."""
    base = getattr(loss, "base", None)
    return base if isinstance(base, Loss) and base.smooth else None


def solve_reduced(A: np.ndarray, Y: np.ndarray, loss: Loss, lam: float,
                  warm: np.ndarray | None = None, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, str]:
    """min_Z ℓ(A Z; Y) + lam‖Z‖_* (Z is r×K): the minimizer, a dual point, and the method.

    Smooth losses: Newton or L-BFGS run to convergence, and the dual point is −∇ℓ(AZ).
    Kinked losses (only where :func:`has_fast_path`): the smoothed Newton method, stopped
    once the duality gap of (Z, U) is at most ``tol`` times ℓ(0); U is the envelope's
    gradient, a dual point of ℓ.
    """
    r, K = A.shape[1], Y.shape[1]
    base = smooth_intercept_base(loss)
    if base is not None:
        return _with_intercept(A, Y, loss, base, lam, warm)
    if not has_fast_path(loss, r, K):
        raise ValueError(f"no fast path for loss {loss.name!r} with {r}x{K} unknowns (has_fast_path)")
    if not loss.smooth:
        from ._kinked import solve_kinked  # (it builds on the Newton steps of this module)
        return solve_kinked(A, Y, loss, lam, warm, tol)
    B = _basis(loss, K)
    if loss.name == "cross-entropy" and K == 2:
        # Two classes: with Z = z bᵀ (b = ±(1, −1)/√2) sample i's loss is the logistic loss of
        # the margin √2 y_i a_iᵀz, y_i = ±1 its class: the same Newton on a cheaper loss. Its
        # dual point u gives this one's, U = Y − softmax(AZ) = √2 u bᵀ (no softmax needed).
        z = None if warm is None or not np.any(warm) else warm @ B
        z, u, method = solve_reduced(np.sqrt(2.0) * A, np.sign(Y @ B), LOSSES["logistic"], lam, z, tol)
        return z @ B.T, np.sqrt(2.0) * u @ B.T, method
    zero = np.zeros((r, K))
    g0 = A.T @ (-loss.dual_point(np.zeros_like(Y), Y)) @ B
    if r == 0 or _dual_norm(g0) <= lam:
        # 0 is in the subdifferential there: the zero network is optimal.
        return zero, loss.dual_point(np.zeros_like(Y), Y), "zero (the threshold exceeds ‖Aᵀ∇ℓ(0)‖)"
    vector = min(g0.shape) == 1
    W0 = None if warm is None or not np.any(warm) else warm @ B
    if W0 is None and vector:
        # The exact minimizer of the quadratic model of ℓ at 0 plus lam‖W‖: Newton's first step.
        W0 = _model_start(_loss_hessian(A, loss.hessian_blocks(np.zeros_like(Y), Y, B)), g0, lam)
    if W0 is None:
        W0 = _gradient_start(A, Y, B, loss, g0, lam)
    inner = _newton if vector else _factored
    name = "Newton" if vector else "L-BFGS on factors"
    W, iters = inner(A, B, Y, loss, lam, W0, target=tol * loss.zero_value(Y)) if vector else inner(
        A, B, Y, loss, lam, W0)
    return W @ B.T, loss.dual_point(A @ W @ B.T, Y), f"{name} ({iters} iterations)"


def _with_intercept(A: np.ndarray, Y: np.ndarray, loss: Loss, base: Loss, lam: float,
                    warm: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """min over Z and b of ℓ(AZ + 1bᵀ; Y) + lam‖Z‖_*, ``loss`` = min_b ℓ(· + 1bᵀ) and ℓ = ``base``.

    The dual point is ``loss.dual_point``: −∇ℓ at the best b, whose columns sum to zero.
    """
    r, K = A.shape[1], Y.shape[1]
    B = _basis(base, K)
    U0 = loss.dual_point(np.zeros_like(Y), Y)          # the best intercept alone
    g0 = A.T @ (-U0) @ B
    if r == 0 or _dual_norm(g0) <= lam:
        return np.zeros((r, K)), U0, "zero (the threshold exceeds ‖Aᵀ∇ℓ(1bᵀ)‖ at the best intercept b)"
    W0 = warm @ B if warm is not None and np.any(warm) else _gradient_start(A, Y, B, base, g0, lam)
    W, iters = _factored(A, B, Y, base, lam, W0, intercept=True)
    Z = W @ B.T
    return Z, loss.dual_point(A @ Z, Y), f"L-BFGS on factors and intercept ({iters} iterations)"


def _gradient_start(A: np.ndarray, Y: np.ndarray, B: np.ndarray, loss: Loss, g0: np.ndarray, lam: float
                    ) -> np.ndarray:
    """One gradient step from 0 along −g0 (‖g0‖ > lam), sized by the loss's curvature at 0."""
    curv = float(np.max(loss.hessian_blocks(np.zeros_like(Y), Y, B))) or 1.0
    return -g0 * ((_dual_norm(g0) - lam) / (_dual_norm(g0) * curv * np.linalg.norm(A, 2) ** 2))


def _model_start(H: np.ndarray, g: np.ndarray, lam: float) -> np.ndarray | None:
    """argmin_W ⟨g, W⟩ + ½ vec(W)ᵀH vec(W) + lam‖W‖ for ‖g‖ > lam (None if H is singular).

    In the eigenbasis H = V diag(h) Vᵀ with b = Vᵀ vec(g), the minimizer is
    y = −ν b/(hν + lam) with ν = ‖y‖ the root of ‖b/(hν + lam)‖ = 1 (decreasing in ν, from
    ‖b‖/lam > 1 at ν = 0 to ≤ 1 at ν = (‖b‖ − lam)/h_min): the secular equation of
    docs/settings/linear.md#secular-equation.
    """
    h, V = np.linalg.eigh(H)
    if h[0] <= 1e-12 * h[-1]:
        return None
    b = V.T @ g.ravel()
    nb = float(np.linalg.norm(b))
    nu = _secular_root(h, b, lam)
    if nu is None:
        # An absolute xtol of ~0: the root is tiny when ‖g‖ barely exceeds lam, and must not round to 0.
        nu = brentq(lambda nu: float(np.linalg.norm(b / (h * nu + lam))) - 1.0, 0.0, (nb - lam) / h[0] * (1 + 1e-12),
                    xtol=1e-300, rtol=1e-12)
    return None if nu <= 0 else (V @ (-nu * b / (h * nu + lam))).reshape(g.shape)


def _secular_root(h: np.ndarray, b: np.ndarray, lam: float, max_iter: int = 60) -> float | None:
    """The root of ‖b/(hν + lam)‖ = 1 by Newton on ψ(ν) = 1/‖b/(hν + lam)‖ − 1 from ν = 0.

    ψ rises from ψ(0) = lam/‖b‖ − 1 < 0 and is nearly linear (as in trust-region solvers),
    so a few steps suffice: a tenth of brentq's cost on breast cancer (30 variables). None
    when an iterate leaves the bracket ψ < 0 < ψ(ν_max) or does not settle (brentq then).
    """
    nu, upper = 0.0, (float(np.linalg.norm(b)) - lam) / h[0] * (1 + 1e-12)
    for _ in range(max_iter):
        d = h * nu + lam
        q = b / d
        nq = float(np.linalg.norm(q))
        # dψ/dν = −(d‖q‖/dν)/‖q‖² with d‖q‖/dν = −Σ q²h/d / ‖q‖.
        rise = float(np.sum(q * q * h / d)) / nq ** 3
        if rise <= 0:
            return None
        step = -(1.0 / nq - 1.0) / rise
        nu += step
        if not 0.0 < nu <= upper:
            return None
        if abs(step) <= 1e-13 * nu:
            return nu
    return None


def _basis(loss: Loss, K: int) -> np.ndarray:
    """Columns spanning the output directions an optimal Z can use (1^⊥ for cross-entropy)."""
    return _centered_basis(K) if loss.name == "cross-entropy" else np.eye(K)


@functools.cache
def _centered_basis(K: int) -> np.ndarray:
    """An orthonormal basis of 1^⊥ in R^K (read-only, computed once per K).

    The Householder reflection that maps e_1 to 1/√K, without its first column (scipy's
    null_space took 0.3 ms per call, a tenth of a two-class cross-entropy solve on breast cancer).
    """
    v = np.full(K, 1.0 / np.sqrt(K))
    v[0] -= 1.0
    H = np.eye(K) - 2.0 * np.outer(v, v) / (v @ v)
    B = H[:, 1:]
    B.flags.writeable = False
    return B


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
        H = _loss_hessian(A, _hessian_blocks(loss, F, Y, B))
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
        if halvings:
            # A piecewise-quadratic envelope: its minimum along p, found by a one-dimensional
            # Newton method (a full step crosses many kinks: measured ~10 rejected trial points
            # per iteration on batch-norm data, n = 500, where this needs about three).
            t = _line_minimum(loss, F, A @ p.reshape(shape) @ B.T, Y, W.ravel(), p, lam, decrement)
            W_new = W + t * p.reshape(shape)
            f_new, F_new = objective(W_new)
            if f_new < f:
                W, F, f = W_new, F_new, f_new
                continue
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


def _line_minimum(loss: Loss, F: np.ndarray, D: np.ndarray, Y: np.ndarray, w: np.ndarray, p: np.ndarray,
                  lam: float, decrement: float, max_iter: int = 30) -> float:
    """A step t > 0 nearly minimizing φ(t) = ℓ(F + tD) + lam‖w + tp‖ (D = A p: the outputs' change).

    φ is convex with φ'(0) = −``decrement`` < 0 (p a descent direction): :func:`safeguarded_newton`.
    """
    pp = float(p @ p)

    def derivatives(t: float) -> tuple[float, float]:
        v = w + t * p
        nv = float(np.linalg.norm(v))
        Ft = F + t * D
        slope = lam * float(v @ p) / nv - float(np.sum(loss.dual_point(Ft, Y) * D))
        curve = lam * (pp - float(v @ p) ** 2 / nv ** 2) / nv + float(np.sum(loss.curvature(Ft, Y) * D * D))
        return slope, curve

    return safeguarded_newton(derivatives, decrement, max_iter)


def safeguarded_newton(derivatives: Callable[[float], tuple[float, float]], decrement: float,
                       max_iter: int = 30) -> float:
    """A root t > 0 of φ' for a convex φ with φ'(0) = −``decrement`` < 0 (``derivatives(t)`` = φ', φ'').

    Newton from t = 1, doubling while no point with φ' > 0 is known and bisecting when a step
    leaves the bracket, until |φ'(t)| ≤ decrement/10 (the curvature condition of a strong
    Wolfe search: the next Newton step of the outer method does the rest).
    """
    lo, hi, t = 0.0, np.inf, 1.0
    for _ in range(max_iter):
        slope, curve = derivatives(t)
        if abs(slope) <= 0.1 * decrement:
            return t
        if slope > 0:
            hi = t
        else:
            lo = t
        new = t - slope / curve if curve > 0 else (2.0 * t if hi == np.inf else 0.5 * (lo + hi))
        if not lo < new < hi:
            new = 2.0 * t if hi == np.inf else 0.5 * (lo + hi)
        if abs(new - t) <= 1e-10 * t:
            return new
        t = new
    return t


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


def _hessian_blocks(loss: Loss, F: np.ndarray, Y: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``loss.hessian_blocks``, straight from the curvature for one output (B = [1]).

    The general form goes through an einsum that cost a tenth of a logistic Newton
    iteration on breast cancer (n = 569, r = 30).
    """
    if B.shape == (1, 1) and loss.name != "cross-entropy":
        return loss.curvature(F, Y)[:, :, None]
    return loss.hessian_blocks(F, Y, B)


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
              max_iter: int = 5000, intercept: bool = False) -> tuple[np.ndarray, int]:
    """L-BFGS on ℓ(A G Hᵀ Bᵀ) + lam(‖G‖² + ‖H‖²)/2 with q factors, from the SVD of W.

    ``intercept``: ℓ((A G Hᵀ + 1cᵀ)Bᵀ) with c ∈ R^q free too (the intercept b = Bc).
    """
    r, q = W.shape
    Ua, sig, Vt = np.linalg.svd(W, full_matrices=False)
    # Factors of size zero are a saddle point of the factored problem: start them slightly off it.
    floor = 1e-3 * max(float(sig[0]), 1e-12)
    root = np.sqrt(np.maximum(sig, floor))
    rng = np.random.default_rng(0)
    G = Ua * root + (sig < floor) * rng.standard_normal((r, sig.size)) * floor
    H = Vt.T * root + (sig < floor) * rng.standard_normal((q, sig.size)) * floor
    k = sig.size
    m = (r + q) * k                     # where the factors end and the intercept's q entries begin

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        G, H = x[:r * k].reshape(r, k), x[r * k:m].reshape(q, k)
        AG = A @ G
        F = ((AG @ H.T + x[m:]) if intercept else AG @ H.T) @ B.T
        M = -loss.dual_point(F, Y) @ B                                     # ∇ℓ Bᵀ... in the q directions
        value = loss.value(F, Y) + 0.5 * lam * (float(np.sum(G * G)) + float(np.sum(H * H)))
        dG = A.T @ (M @ H) + lam * G
        dH = M.T @ AG + lam * H
        parts = [dG.ravel(), dH.ravel()] + ([M.sum(axis=0)] if intercept else [])
        return value, np.concatenate(parts)

    start = [G.ravel(), H.ravel()] + ([np.zeros(q)] if intercept else [])
    res = minimize(fun, np.concatenate(start), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "maxcor": 20, "gtol": 1e-12, "ftol": 1e-16})
    G, H = res.x[:r * k].reshape(r, k), res.x[r * k:m].reshape(q, k)
    return G @ H.T, int(res.nit)
