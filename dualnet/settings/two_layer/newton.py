"""Active-set Newton polish of the pattern program on its working set, on faces of the cones.

Near the optimum of the program over a pattern set only a few groups θ_i are nonzero, and
each lies on a face of its cone K_i = {θ : B_iθ ≥ 0}, B_i = (2D_i − I)A: the rows T_i of
B_i that vanish at θ_i ("tight rows"). With the groups and their tight rows fixed, the
program is smooth (a smooth loss plus the norms of nonzero groups) on the subspaces
{θ_i : B_{T_i}θ_i = 0}, and Newton's method in orthonormal coordinates of those subspaces
converges quadratically. The sets are corrected as in a primal active-set method: a step
is cut where a row that is not tight would turn negative (the row becomes tight, or the
group leaves when it reaches zero), and at a face's optimum the tight rows with negative
multipliers are released. Stationarity gives the multipliers,
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
#: face coordinates up to which the Newton system is formed and factored; beyond, preconditioned conjugate
#: gradients to relative residual _CG_TOL within _CG_ITER iterations (an inexact Newton step)
_DIRECT, _CG_TOL, _CG_ITER = 600, 1e-8, 200
#: entries n·p² up to which the faces keep a table of the rows' products (32 MB)
_OUTER = 2 ** 22


class _Faces:
    """Padded orthonormal bases of the faces {θ : a_jᵀθ = 0, j tight} of the working groups."""

    def __init__(self, A: np.ndarray, tight: np.ndarray):
        n, p = A.shape
        self.A = A
        # The Gram matrix of any row set is a sum of the rows' products: from a table of them where it
        # is small (twice as fast at n = 200), else from the gathered rows (the table is 416 MB at
        # n = 20 000, p = 51, and 18× slower to use).
        self.outer = (A[:, :, None] * A[:, None, :]).reshape(n, p * p) if n * p * p <= _OUTER else None
        self.N = np.zeros((tight.shape[1], p, p))
        self.live = np.zeros((tight.shape[1], p), dtype=bool)
        self.update(tight, np.arange(tight.shape[1]))

    def update(self, tight: np.ndarray, groups: np.ndarray) -> None:
        if groups.size == 0:
            return
        p = self.N.shape[1]
        if self.outer is not None:
            gram = (tight[:, groups].T.astype(float) @ self.outer).reshape(-1, p, p)
        else:
            gram = self._gathered(tight[:, groups])
        w, V = np.linalg.eigh(gram)
        live = w <= _NULL * np.maximum(w[:, -1:], 1e-300)
        self.N[groups] = V * live[:, None, :]
        self.live[groups] = live

    def _gathered(self, sub: np.ndarray) -> np.ndarray:
        """Gram matrices of each column's tight rows, gathered and padded with zero rows (G·m·p²)."""
        count = sub.sum(axis=0)
        rows = np.argsort(~sub, axis=0, kind="stable")[: max(int(count.max()), 1)]     # tight rows first
        valid = np.arange(rows.shape[0])[:, None] < count[None, :]
        B = self.A[rows.T] * valid.T[:, :, None]                                     # G × m × p
        return np.einsum("gmp,gmq->gpq", B, B)


class _FaceProgram:
    """ℓ(Mz) + β Σ_i ‖E_i z_i‖ in face coordinates z_i (θ_i = N_i z_i, E_i = N_i[:pen], M = [σ_i D_i A N_i])."""

    def __init__(self, A, Y, loss, beta, pen, Dsig, N, live):
        n, p = A.shape
        G = N.shape[0]
        self.Y, self.loss, self.beta, self.G, self.p, self.live = Y, loss, beta, G, p, live
        self.cols = np.flatnonzero(live.ravel())                           # the face coordinates in use
        # Only the columns in use are formed (near the optimum a tenth of the padded G·p).
        self.M = (A @ N.transpose(1, 0, 2).reshape(p, G * p)[:, self.cols]) * Dsig[:, self.cols // p]
        self.A, self.N, self.Dsig = A, N, Dsig
        self.E = N[:, :pen, :]

    @property
    def M_padded(self) -> np.ndarray:
        """σ_i D_i A N_i for every group, padded (n × G × p): the preconditioner of conjugate gradients."""
        n, p = self.A.shape
        return self.Dsig[:, :, None] * (self.A @ self.N.transpose(1, 0, 2).reshape(p, self.G * p)).reshape(n, self.G, p)

    def padded(self, z: np.ndarray) -> np.ndarray:
        out = np.zeros(self.G * self.p)
        out[self.cols] = z
        return out.reshape(self.G, self.p)

    def norms(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = np.einsum("gik,gk->gi", self.E, self.padded(z))
        return q, np.linalg.norm(q, axis=1)

    def value(self, z: np.ndarray) -> float:
        return self.loss.value(self.M @ z[:, None], self.Y) + self.beta * float(self.norms(z)[1].sum())

    def newton_direction(self, z: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(value, gradient, Newton direction); a group whose norm is zero contributes the zero subgradient.

        The Hessian is ∇²ℓ through M plus the groups' norm blocks (β/‖q‖)(EᵀE − uuᵀ). Up to
        _DIRECT coordinates it is formed and factored; beyond (far from the optimum, where
        many groups still have full-dimensional faces) conjugate gradients with the
        block-diagonal preconditioner solve it without forming it.
        """
        F = self.M @ z[:, None]
        w = self.loss.curvature(F, self.Y)[:, 0]
        grad = self.M.T @ (-self.loss.dual_point(F, self.Y)[:, 0])
        q, r = self.norms(z)
        pos = r > 0
        inv = np.where(pos, 1.0 / np.where(pos, r, 1.0), 0.0)
        u = np.einsum("gik,gi->gk", self.E, q) * inv[:, None]             # E_iᵀq_i/‖q_i‖
        grad += self.beta * u.ravel()[self.cols]
        EtE = np.einsum("gik,gil->gkl", self.E, self.E)
        blocks = (self.beta * inv)[:, None, None] * (EtE - u[:, :, None] * u[:, None, :])
        value = self.loss.value(F, self.Y) + self.beta * float(r.sum())
        if self.cols.size <= _DIRECT:
            H = self.M.T @ (w[:, None] * self.M)
            group = self.cols // self.p
            i, j = np.nonzero(group[:, None] == group[None, :])              # entries of the block diagonal
            H[i, j] += blocks[group[i], self.cols[i] % self.p, self.cols[j] % self.p]
            return value, grad, _newton_step(H, grad)
        return value, grad, self._conjugate_gradients(w, blocks, -grad)

    def _conjugate_gradients(self, w: np.ndarray, blocks: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        M_padded = self.M_padded
        pre = blocks + np.einsum("n,ngi,ngj->gij", w, M_padded, M_padded)
        pre += np.eye(self.p)[None] * (~self.live)[:, :, None]             # the padding: identity
        scale = max(float(np.max(np.abs(np.diagonal(pre, axis1=1, axis2=2)))), 1e-300)
        pre_inv = np.linalg.inv(pre + 1e-13 * scale * np.eye(self.p)[None])

        def hess(v: np.ndarray) -> np.ndarray:
            return (self.M.T @ (w * (self.M @ v)) + np.einsum("gij,gj->gi", blocks, self.padded(v)).ravel()[self.cols]
                    + 1e-13 * scale * v)

        def precondition(v: np.ndarray) -> np.ndarray:
            return np.einsum("gij,gj->gi", pre_inv, self.padded(v)).ravel()[self.cols]

        x = np.zeros_like(rhs)
        res = rhs.copy()
        zr = precondition(res)
        d = zr.copy()
        rz = float(res @ zr)
        target = _CG_TOL ** 2 * float(rhs @ rhs)
        for _ in range(_CG_ITER):
            Hd = hess(d)
            alpha = rz / max(float(d @ Hd), 1e-300)
            x += alpha * d
            res -= alpha * Hd
            if float(res @ res) <= target:
                break
            zr = precondition(res)
            rz, rz_old = float(res @ zr), rz
            d = zr + (rz / rz_old) * d
        return x


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
    steps, one_at_a_time, just_released = 0, False, False
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
        value, grad, d = prog.newton_direction(z)
        decrement = -float(grad @ d)
        if decrement <= max(tol, 1e-14 * abs(value)):
            released = _release(A, Y, loss, beta, pen, Dsig, S, T, tight, keep, one_at_a_time)
            if released.size == 0:
                break
            faces.update(tight, released)
            just_released = True
            continue
        dT = np.zeros_like(T)
        dT[:, keep] = np.einsum("gpk,gk->pg", faces.N[keep], prog.padded(d))
        T, decreased, met = _path(A, Y, loss, beta, pen, Dsig, S, T, dT, tight, alive, faces, value, decrement)
        # Rows released together can block the next step at once (measured: a cycle of 2 000 steps);
        # from then on one row per group is released, the most negative, as in the active-set method.
        one_at_a_time |= just_released and not decreased
        just_released = False
        if not decreased and not met:      # no decrease along the path and no row met: as at a face's optimum
            released = _release(A, Y, loss, beta, pen, Dsig, S, T, tight, keep, one_at_a_time)
            if released.size == 0:
                break
            faces.update(tight, released)
            just_released = True
    lam, _ = _multipliers(A, Y, loss, beta, pen, Dsig, S, T, tight, np.flatnonzero(alive))
    T_all, lam_all = np.zeros((T.shape[0], n_groups)), np.zeros((A.shape[0], n_groups))
    T_all[:, idx], lam_all[:, idx] = T, lam
    return T_all, lam_all, steps


def _path(A, Y, loss, beta, pen, Dsig, S, T, dT, tight, alive, faces, value, decrement
          ) -> tuple[np.ndarray, bool, bool]:
    """Follow the Newton direction dT from T, bending where rows block it: (new T, decreased, rows met).

    ``tight``, ``alive`` and ``faces`` are updated in place.

    A row whose slack would turn negative stops its group's segment there: the row becomes
    tight and the group's direction is projected onto the new face (a group that reaches zero
    leaves). The groups bend independently (a row of one group never blocks another), so all
    of them advance to their next bend at once: as many rounds as the most bends of one group,
    not one per bend. On the bent path t ↦ θ(t), t ∈ [0, 1], the step is the longest t = 2^-k
    with Armijo's decrease (measured on peer problem A: 40 % of the time of bending one row
    at a time over all groups).
    """
    before = tight.copy()
    times, starts, directions, hit_at = _bends(A, S, T, dT, tight, alive, faces)
    times, starts, directions = np.stack(times), np.stack(starts), np.stack(directions)

    def at(t: float) -> np.ndarray:
        k = np.maximum((times <= t).sum(axis=0) - 1, 0)
        g = np.arange(times.shape[1])
        return starts[k, :, g].T + (t - times[k, g]) * directions[k, :, g].T

    def objective(Tt: np.ndarray) -> float:
        F = ((A @ Tt) * Dsig).sum(axis=1, keepdims=True)
        return loss.value(F, Y) + beta * float(np.linalg.norm(Tt[:pen], axis=0).sum())

    step, best_t, best_value = 1.0, 0.0, value
    for _ in range(_HALVINGS):
        trial = objective(at(step))
        if trial < best_value:
            best_t, best_value = step, trial
        if trial <= value - _ARMIJO * step * decrement:
            break
        step *= 0.5
    new = at(best_t)
    tight[:] = before | (hit_at <= best_t)
    norms, old = np.linalg.norm(new[:pen], axis=0), np.linalg.norm(T[:pen], axis=0)
    gone = np.flatnonzero(alive & (norms <= 1e-9 * old))
    new[:, gone], alive[gone] = 0.0, False                      # the group reached zero: it leaves
    # Every group that bends on the path gets its faces recomputed, those within the step too: keeping
    # the within-step ones as of their last bend took 4x the path steps on rank 3, n = 2000 (the
    # masters 64 s of CPU against 14 s).
    faces.update(tight, np.flatnonzero(np.any(times[1:] < np.inf, axis=0)))
    return new, best_t > 0, bool(np.any(tight != before))


def _bends(A, S, T, dT, tight, alive, faces):
    """The bent path of every group to t = 1, and the time at which each row is met (n × G, ∞ if never).

    The path is given per bend: the bend times (G,), positions and directions (p × G). Marks
    the rows met as tight in ``tight`` and updates ``faces`` for the groups that bend (the
    caller keeps the rows met up to its step and updates the faces again).
    """
    a_norm = np.linalg.norm(A, axis=1)
    hit_at = np.full(tight.shape, np.inf)
    slack, rate = S * (A @ T), S * (A @ dT)
    clock = np.zeros(T.shape[1])
    position, direction = T.copy(), dT.copy()
    times, starts, directions = [clock.copy()], [position.copy()], [direction.copy()]
    moving = alive & np.any(dT != 0, axis=0)
    while np.any(moving):
        ratio = _ratios(slack[:, moving], rate[:, moving], tight[:, moving], alive[moving], a_norm,
                        direction[:, moving])
        first = ratio.min(axis=0)
        cols = np.flatnonzero(moving)
        bend = clock[cols] + first < 1.0
        cols, ratio, first = cols[bend], ratio[:, bend], first[bend]
        moving[:] = False
        if cols.size == 0:
            break
        before = np.linalg.norm(position[:, cols], axis=0)
        position[:, cols] += first * direction[:, cols]
        slack[:, cols] += first * rate[:, cols]
        clock[cols] += first
        met = ratio <= first + 1e-9 * first + 1e-15
        hit_at[:, cols] = np.where(met, clock[cols][None, :], hit_at[:, cols])
        tight[:, cols] |= met
        faces.update(tight, cols)
        N = faces.N[cols]
        new = np.einsum("gpk,gqk,qg->pg", N, N, direction[:, cols])     # onto the new faces
        collapsed = np.linalg.norm(position[:, cols], axis=0) <= 1e-9 * before
        new[:, collapsed] = 0.0
        position[:, cols[collapsed]] = 0.0
        direction[:, cols] = new
        rate[:, cols] = S[:, cols] * (A @ new)
        moving[cols] = np.any(new != 0, axis=0)
        step_times = np.full(T.shape[1], np.inf)
        step_times[cols] = clock[cols]
        times.append(step_times)
        starts.append(position.copy())
        directions.append(direction.copy())
    return times, starts, directions, hit_at


def _ratios(slack, rate, tight, alive, a_norm, dT) -> np.ndarray:
    """Step along dT at which each row that is not tight reaches zero (∞ where it does not decrease)."""
    blocking = alive[None, :] & ~tight & (rate < -1e-14 * a_norm[:, None] * np.linalg.norm(dT, axis=0))
    return np.where(blocking, np.maximum(slack, 0.0) / np.where(blocking, -rate, 1.0), np.inf)


def _multipliers(A, Y, loss, beta, pen, Dsig, S, T, tight, groups) -> tuple[np.ndarray, dict]:
    """λ ≥ 0 of the tight rows from stationarity B_Tᵀλ = ∇_θ(ℓ-term) + βθ/‖θ‖, and the negative ones.

    Per group with a negative multiplier: (the rows with negative multipliers, the row with
    the most negative).

    All groups at once: each group's tight rows are padded to the largest count with zero
    rows, and the least-squares multipliers are the pseudo-inverse's (zero on the padding).
    """
    lam = np.zeros(tight.shape)
    norms = np.linalg.norm(T[:pen, groups], axis=0)
    groups = groups[(norms > 0) & tight[:, groups].any(axis=0)]
    if groups.size == 0:
        return lam, {}
    F = ((A @ T) * Dsig).sum(axis=1, keepdims=True)
    grads = A.T @ (Dsig[:, groups] * -loss.dual_point(F, Y))
    grads[:pen] += beta * T[:pen, groups] / np.linalg.norm(T[:pen, groups], axis=0)
    count = tight[:, groups].sum(axis=0)
    rows = np.argsort(~tight[:, groups], axis=0, kind="stable")[: count.max()]      # tight rows first
    valid = np.arange(rows.shape[0])[:, None] < count[None, :]
    B = (S[rows, groups] * valid)[:, :, None] * A[rows]                            # m × G × p
    mult = np.einsum("gmp,pg->gm", np.linalg.pinv(B.transpose(1, 2, 0)), grads).T     # m × G
    released = {}
    scale = np.abs(np.where(valid, mult, 0.0)).max(axis=0)
    negative = valid & (mult < -1e-9 * np.maximum(scale, 1e-300)[None, :])
    most = np.argmin(np.where(valid, mult, np.inf), axis=0)
    for k in np.flatnonzero(negative.any(axis=0)):
        released[int(groups[k])] = (rows[negative[:, k], k], rows[most[k], k])
    lam[rows[valid], np.broadcast_to(groups, rows.shape)[valid]] = np.maximum(mult[valid], 0.0)
    return lam, released


def _release(A, Y, loss, beta, pen, Dsig, S, T, tight, groups, one_at_a_time=False) -> np.ndarray:
    """Release, in each group, the tight rows with negative multipliers (in place): the groups changed.

    All of them at once (measured on peer problem A: 143 Newton steps instead of 159), or with
    ``one_at_a_time`` only the most negative (rows released together may block the next step).
    """
    _, released = _multipliers(A, Y, loss, beta, pen, Dsig, S, T, tight, groups)
    for g, (rows, most) in released.items():
        tight[most if one_at_a_time else rows, g] = False
    return np.array(sorted(released), dtype=int)
