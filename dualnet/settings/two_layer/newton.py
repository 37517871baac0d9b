"""Active-set Newton polish of the pattern program on its working set, on faces of the cones.

Near the optimum of the program over a pattern set only a few groups θ_i are nonzero, and
each lies on a face of its cone K_i = {θ : B_iθ ≥ 0}, B_i = (2D_i − I)A: the rows T_i of
B_i that vanish at θ_i ("tight rows"). With the groups and their tight rows fixed, the
program is smooth (a smooth loss plus the norms of nonzero groups) on the subspaces
{θ_i : B_{T_i}θ_i = 0}, and Newton's method in orthonormal coordinates of those subspaces
converges quadratically. The sets are corrected as in a primal active-set method: a step
is cut where a row that is not tight would turn negative (the row becomes tight, or the
group leaves when it reaches zero), and at a face's optimum the tight row with the most
negative multiplier of each group is released. Stationarity gives the multipliers,
∇_θ_i(ℓ-term) + βθ_i/‖θ_i‖ = B_{T_i}ᵀλ_i; with λ_i ≥ 0 the certificate's group bound
‖c_i + B_iᵀλ_i‖ equals β. Whether the result is optimal is decided by that certificate
(:mod:`.restricted`, a proven bound), not here.

Every group is stored with a padded basis N_i (p×p, the columns beyond the face's
dimension are zero), so the work of a step is a few matrix products over all groups.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from ...losses import Loss

#: relative eigenvalue of the tight rows' Gram matrix below which a direction is in the face
_NULL = 1e-10
#: sufficient-decrease constant and halvings of the backtracking line search
_ARMIJO, _HALVINGS = 1e-4, 40


class _Faces:
    """Padded orthonormal bases of the faces {θ : a_jᵀθ = 0, j tight} of the working groups."""

    def __init__(self, A: np.ndarray, tight: np.ndarray):
        n, p = A.shape
        self.outer = (A[:, :, None] * A[:, None, :]).reshape(n, p * p)      # Gram of any row set: a sum
        self.N = np.zeros((tight.shape[1], p, p))
        self.live = np.zeros((tight.shape[1], p), dtype=bool)
        self.update(tight, np.arange(tight.shape[1]))

    def update(self, tight: np.ndarray, groups: np.ndarray) -> None:
        if groups.size == 0:
            return
        p = self.N.shape[1]
        gram = (tight[:, groups].T.astype(float) @ self.outer).reshape(-1, p, p)
        w, V = np.linalg.eigh(gram)
        live = w <= _NULL * np.maximum(w[:, -1:], 1e-300)
        self.N[groups] = V * live[:, None, :]
        self.live[groups] = live


class _FaceProgram:
    """ℓ(Mz) + β Σ_i ‖E_i z_i‖ in face coordinates z_i (θ_i = N_i z_i, E_i = N_i[:pen], M = [σ_i D_i A N_i])."""

    def __init__(self, A, Y, loss, beta, pen, Dsig, N, live):
        n, p = A.shape
        G = N.shape[0]
        self.Y, self.loss, self.beta, self.G, self.p = Y, loss, beta, G, p
        self.cols = np.flatnonzero(live.ravel())                           # the face coordinates in use
        AN = (A @ N.transpose(1, 0, 2).reshape(p, G * p)).reshape(n, G, p)
        self.M = (Dsig[:, :, None] * AN).reshape(n, G * p)[:, self.cols]
        self.E = N[:, :pen, :]
        group = self.cols // p
        same = group[:, None] == group[None, :]
        self.pairs = np.nonzero(same)                                       # entries of the block diagonal
        self.pair_index = (group[self.pairs[0]], self.cols[self.pairs[0]] % p, self.cols[self.pairs[1]] % p)

    def padded(self, z: np.ndarray) -> np.ndarray:
        out = np.zeros(self.G * self.p)
        out[self.cols] = z
        return out.reshape(self.G, self.p)

    def norms(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = np.einsum("gik,gk->gi", self.E, self.padded(z))
        return q, np.linalg.norm(q, axis=1)

    def value(self, z: np.ndarray) -> float:
        return self.loss.value(self.M @ z[:, None], self.Y) + self.beta * float(self.norms(z)[1].sum())

    def derivatives(self, z: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(value, gradient, Hessian); a group whose norm is zero contributes the zero subgradient."""
        F = self.M @ z[:, None]
        grad = self.M.T @ (-self.loss.dual_point(F, self.Y)[:, 0])
        H = self.M.T @ (self.loss.curvature(F, self.Y) * self.M)
        q, r = self.norms(z)
        pos = r > 0
        inv = np.where(pos, 1.0 / np.where(pos, r, 1.0), 0.0)
        u = np.einsum("gik,gi->gk", self.E, q) * inv[:, None]             # E_iᵀq_i/‖q_i‖
        grad += self.beta * u.ravel()[self.cols]
        EtE = np.einsum("gik,gil->gkl", self.E, self.E)
        blocks = (self.beta * inv)[:, None, None] * (EtE - u[:, :, None] * u[:, None, :])
        H[self.pairs] += blocks[self.pair_index]
        return self.loss.value(F, self.Y) + self.beta * float(r.sum()), grad, H


def _newton_step(H: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """−H⁻¹∇ (Cholesky with a tiny ridge; least squares if it fails)."""
    ridge = 1e-13 * max(float(np.max(np.abs(np.diag(H)), initial=0.0)), 1e-300)
    try:
        return -cho_solve(cho_factor(H + ridge * np.eye(len(H))), grad)
    except LinAlgError:
        return -np.linalg.lstsq(H, grad, rcond=None)[0]


def _active_set_newton(A: np.ndarray, Y: np.ndarray, loss: Loss, beta: float, pen: int, Dsig: np.ndarray,
                       S: np.ndarray, T: np.ndarray, tight: np.ndarray, tol: float, deadline: float = np.inf,
                       max_iter: int = 2000) -> tuple[np.ndarray, np.ndarray, int]:
    """Active-set Newton from the feasible θ = ``T`` (p×G) with tight rows ``tight`` (n×G).

    Returns (θ, multipliers λ ≥ 0 of every row, Newton steps). Stops when no multiplier is
    negative at a face's optimum (Newton decrement ≤ ``tol``, in objective units), at
    ``deadline`` or after ``max_iter`` steps. Groups of ``T`` that are zero stay zero.
    """
    n_groups = T.shape[1]
    idx = np.flatnonzero(np.any(T[:pen] != 0, axis=0))
    T, tight = T[:, idx].copy(), tight[:, idx].copy()
    Dsig, S = Dsig[:, idx], S[:, idx]
    faces = _Faces(A, tight)
    alive = np.ones(idx.size, dtype=bool)
    steps = 0
    while steps < max_iter:
        steps += 1
        if time.perf_counter() > deadline:
            break
        empty = alive & ~faces.live.any(axis=1)
        T[:, empty], alive[empty] = 0.0, False             # the tight rows leave only θ_i = 0
        if not np.any(alive):
            break
        keep = np.flatnonzero(alive)
        prog = _FaceProgram(A, Y, loss, beta, pen, Dsig[:, keep], faces.N[keep], faces.live[keep])
        z = np.einsum("gpk,pg->gk", faces.N[keep], T[:, keep]).ravel()[prog.cols]
        T[:, keep] = np.einsum("gpk,gk->pg", faces.N[keep], prog.padded(z))          # exactly on the faces
        value, grad, H = prog.derivatives(z)
        d = _newton_step(H, grad)
        decrement = -float(grad @ d)
        if decrement <= max(tol, 1e-14 * abs(value)):
            released = _release(A, Y, loss, beta, pen, Dsig, S, T, tight, keep)
            if released.size == 0:
                break
            faces.update(tight, released)
            continue
        dT = np.zeros_like(T)
        dT[:, keep] = np.einsum("gpk,gk->pg", faces.N[keep], prog.padded(d))
        T = _path(A, Y, loss, beta, pen, Dsig, S, T, dT, tight, alive, faces, value, decrement)
    lam, _ = _multipliers(A, Y, loss, beta, pen, Dsig, S, T, tight, np.flatnonzero(alive))
    T_all, lam_all = np.zeros((T.shape[0], n_groups)), np.zeros((A.shape[0], n_groups))
    T_all[:, idx], lam_all[:, idx] = T, lam
    return T_all, lam_all, steps


def _path(A, Y, loss, beta, pen, Dsig, S, T, dT, tight, alive, faces, value, decrement) -> np.ndarray:
    """Follow the Newton direction dT from T, bending where rows block it; the new T (``tight``, ``alive`` in place).

    A row whose slack would turn negative stops the segment there: it becomes tight and its
    group's direction is projected onto the new face (a group that reaches zero leaves).
    The path goes on while the objective decreases, up to the full Newton step; its first
    segment is cut back by Armijo's rule. Bending instead of refactoring saves most of the
    Newton systems when many groups leave or meet rows (measured on peer problem A).
    """
    a_norm = np.linalg.norm(A, axis=1)
    remaining, current = 1.0, value
    slack, rate = S * (A @ T), S * (A @ dT)                    # both move linearly along a segment
    F, dF = ((A @ T) * Dsig).sum(axis=1, keepdims=True), ((A @ dT) * Dsig).sum(axis=1, keepdims=True)

    def objective(step: float) -> float:
        return loss.value(F + step * dF, Y) + beta * float(np.linalg.norm((T + step * dT)[:pen], axis=0).sum())

    while remaining > 1e-12:
        blocking = alive[None, :] & ~tight & (rate < -1e-14 * a_norm[:, None] * np.linalg.norm(dT, axis=0))
        ratio = np.where(blocking, np.maximum(slack, 0.0) / np.where(blocking, -rate, 1.0), np.inf)
        alpha_max = float(ratio.min(initial=np.inf))
        step = min(remaining, alpha_max)
        trial = objective(step)
        if remaining == 1.0:
            for _ in range(_HALVINGS):
                if trial <= value - _ARMIJO * step * decrement:
                    break
                step *= 0.5
                trial = objective(step)
        elif trial >= current:
            break
        before = np.linalg.norm(T[:pen], axis=0)
        T, slack, F = T + step * dT, slack + step * rate, F + step * dF
        remaining, current = remaining - step, trial
        if step < alpha_max:
            break
        hit = ratio <= alpha_max * (1 + 1e-9) + 1e-15
        cols = np.flatnonzero(hit.any(axis=0))
        tight[:, cols] |= hit[:, cols]
        gone = cols[np.linalg.norm(T[:pen, cols], axis=0) <= 1e-9 * before[cols]]
        T[:, gone], alive[gone] = 0.0, False                    # the group reached zero: it leaves
        faces.update(tight, cols)
        N = faces.N[cols]
        new = np.einsum("gpk,gqk,qg->pg", N, N, dT[:, cols])    # onto the new faces
        new[:, ~alive[cols]] = 0.0
        change = (A @ (new - dT[:, cols]))
        dF += (change * Dsig[:, cols]).sum(axis=1, keepdims=True)
        dT[:, cols] = new
        rate[:, cols] = S[:, cols] * (A @ new)
        F = ((A @ T) * Dsig).sum(axis=1, keepdims=True) if gone.size else F
    return T


def _multipliers(A, Y, loss, beta, pen, Dsig, S, T, tight, groups) -> tuple[np.ndarray, dict]:
    """λ ≥ 0 of the tight rows from stationarity B_Tᵀλ = ∇_θ(ℓ-term) + βθ/‖θ‖, and each group's most negative one."""
    F = ((A @ T) * Dsig).sum(axis=1, keepdims=True)
    g_loss = -loss.dual_point(F, Y)[:, 0]
    grads = A.T @ (Dsig[:, groups] * g_loss[:, None])
    lam = np.zeros(tight.shape)
    worst = {}
    for k, g in enumerate(groups):
        rows = np.flatnonzero(tight[:, g])
        norm = float(np.linalg.norm(T[:pen, g]))
        if rows.size == 0 or norm == 0:
            continue
        grad = grads[:, k]
        grad[:pen] += beta * T[:pen, g] / norm
        mult = np.linalg.lstsq((S[rows, g, None] * A[rows]).T, grad, rcond=None)[0]
        j = int(np.argmin(mult))
        if mult[j] < -1e-9 * max(float(np.abs(mult).max()), 1e-300):
            worst[g] = rows[j]
        lam[rows, g] = np.maximum(mult, 0.0)
    return lam, worst


def _release(A, Y, loss, beta, pen, Dsig, S, T, tight, groups) -> np.ndarray:
    """Release, in each group, the tight row with the most negative multiplier (in place): the groups changed."""
    _, worst = _multipliers(A, Y, loss, beta, pen, Dsig, S, T, tight, groups)
    for g, j in worst.items():
        tight[j, g] = False
    return np.array(sorted(worst), dtype=int)
