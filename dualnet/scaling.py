"""Problems at the edges of floating point: internal scaling, and optima found without a setting.

Data far from unit size (entries of 1e10, or 1e-10) defeat the solvers and the dense linear
algebra, although the problem is the same one in other units. For a network without
biases or batch normalization the objective has an exact symmetry (docs/settings/linear.md notation):
with X = a·X', Y = c·Y' and every weight matrix W_l = s·W'_l, where s^L = c/a,

    P(W; X, Y, β, t) = c^k · P(W'; X', Y', β', t'),   β' = β s² / c^k,   t' = t / s,

where k is the loss's degree of homogeneity (2 for squared, 1 for absolute loss). Class
labels cannot be scaled (c = 1, k = 0), but X can, with a·s^L = 1. The scaled problem is
therefore the user's problem in other units: its optimum, its dual bound and its gap are the
user's times c^k, and its optimal network maps back to an optimal one. a, c and s are
powers of two, so dividing the data and multiplying the weights and the objective is exact
in floating point (barring overflow), and the certificate is as much a proof as one computed
in the user's units.

Data already near unit size are left alone. Where the user's objective itself is beyond
float64 (y of size 1e200 under the squared loss gives 1e400) the call stops with an
:class:`~dualnet.errors.InputError` instead of returning inf or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import InputError
from .network import Network
from .problem import Fit, Problem

__all__ = ["Scaling", "choose_scaling", "trivial_fit"]

#: losses whose labels may be scaled, with the degree k of P(cF, cY) = c^k P(F, Y)
DEGREE = {"squared": 2, "absolute": 1}
#: losses whose labels are classes (not scaled; X may be)
CLASS_LOSSES = ("hinge", "logistic", "cross-entropy")
#: data whose largest entry is within [2^-FAR, 2^FAR] are solved as they are
FAR = 10


@dataclass(frozen=True)
class Scaling:
    """X = x·X', Y = y·Y', every weight W = w·W', objective P = objective·P'."""

    x: float
    y: float
    w: float
    degree: int

    @property
    def objective(self) -> float:
        return self.y ** self.degree

    def problem(self, pb: Problem) -> Problem:
        """The same problem in scaled units."""
        return replace(pb, X=pb.X / self.x, Y=pb.Y / self.y, beta=self.beta(pb.beta),
                       t=None if pb.t is None else pb.t / self.w)

    def beta(self, beta: float) -> float:
        return beta * self.w ** 2 / self.objective

    def network(self, net: Network) -> Network:
        """A network of the scaled problem in the user's units (no BN; layer l's bias times x·w^l)."""
        return Network([[(self.w * W, None if b is None else self.x * self.w ** (l + 1) * b)
                         for l, (W, b) in enumerate(br)] for br in net.branches], net.activation)

    def scaled_network(self, net: Network) -> Network:
        """The user's network in scaled units (the inverse of :meth:`network`): same function, P = objective·P'."""
        return Network([[(W / self.w, None if b is None else b / (self.x * self.w ** (l + 1)))
                         for l, (W, b) in enumerate(br)] for br in net.branches], net.activation)

    def certificate(self, cert: Any, pb: Problem) -> Any:
        """A Certificate of the scaled problem in the user's units (``pb`` is the user's problem).

        Value, bound, gap and P(0) scale by ``objective``; the relative gap is unchanged. ρ
        is compared with β, so it scales as β does.
        """
        value, bound, gap, p0 = (self.objective * v for v in (cert.value, cert.lower_bound, cert.gap, cert.p0))
        if all(math.isfinite(v) for v in (cert.value, cert.lower_bound)) and not all(
                math.isfinite(v) for v in (value, bound)):
            raise _unrepresentable(pb, math.log10(max(cert.value, 1e-300)) + math.log10(self.objective))
        estimate = None if cert.bound_estimate is None else self.objective * cert.bound_estimate
        dual = None if cert.dual is None else self.y ** (self.degree - 1) * np.asarray(
            cert.dual.form() if hasattr(cert.dual, "form") else cert.dual)
        return replace(cert, value=value, lower_bound=bound, gap=gap, p0=p0, bound_estimate=estimate, dual=dual,
                       rho=cert.rho * self.objective / self.w ** 2)

    def solution(self, sol: Any, pb: Problem) -> Any:
        """A Solution of the scaled problem in the user's units (``pb`` is the user's problem)."""
        from .results import Solution

        value, bound, gap = (self.objective * v for v in (sol.value, sol.lower_bound, sol.gap))
        scaled_finite = all(math.isfinite(v) for v in (sol.value, sol.lower_bound, sol.gap))
        if scaled_finite and not all(math.isfinite(v) for v in (value, bound, gap)):
            raise _unrepresentable(pb, math.log10(max(sol.value, 1e-300)) + math.log10(self.objective))
        info = dict(sol.info)
        if "t" in info:                     # the radius found for weight decay on a deep network
            info["t"] = info["t"] * self.w
        info["scaling"] = {"X": self.x, "y": self.y, "weights": self.w, "objective": self.objective,
                           "note": "solved as X/X-scale, y/y-scale with beta*weights^2/objective; the program, "
                                   "if any, is the scaled one"}
        fields = {**sol.__dict__, "value": value, "lower_bound": bound, "gap": gap,
                  "network": self.network(sol.network), "_dual": self.y ** (self.degree - 1) * sol.dual,
                  "beta": pb.beta, "t": pb.t, "info": info}
        fields.pop("dual", None)          # the cached dual of the scaled problem
        if fields.get("bound_estimate") is not None:
            fields["bound_estimate"] = self.objective * fields["bound_estimate"]
        return Solution(**fields)


def _unrepresentable(pb: Problem, log10_size: float) -> InputError:
    return InputError(
        f"The objective of this problem is about 1e{log10_size:.0f} in the units of X and y, beyond what float64 holds "
        f"(about 1.8e308 down to 2.2e-308), so no value, bound or gap can be reported. Got labels of size up to "
        f"{np.max(np.abs(pb.Y)):.3g} and data of size up to {np.max(np.abs(pb.X)):.3g}. Divide y (and X) by a "
        "power of ten and scale the result back yourself.")


def _exponent(size: float) -> int:
    """log2 of ``size`` rounded, or 0 when ``size`` is near 1 (data left alone)."""
    e = math.log2(size)
    return round(e) if abs(e) > FAR else 0


def choose_scaling(pb: Problem, biases: bool = False) -> Scaling | None:
    """The scaling that brings ``pb`` to unit size, or None (near unit size, or no exact map).

    Networks with batch normalization and custom losses are solved as given, and so are
    networks with biases unless ``biases`` (``certify``, which maps a given network's biases;
    the settings' bias programs are solved as given). X
    near unit size is never changed, so whitened data (X Xᵀ = I) stay whitened and the
    setting chosen on the scaled problem is the one the user's problem gets.
    """
    name = pb.loss.name
    if (pb.bias and not biases) or pb.batchnorm or (name not in DEGREE and name not in CLASS_LOSSES):
        return None
    L = pb.depth
    size_x, size_y = float(np.max(np.abs(pb.X))), float(np.max(np.abs(pb.Y)))
    if size_x == 0 or size_y == 0:
        return None
    p = _exponent(size_x)
    if name in CLASS_LOSSES:
        m = -round(p / L)                     # a·s^L = 1 with c = 1
        p = -L * m
        q, degree = 0, 0
    else:
        q_want = _exponent(size_y)
        if p == 0 and q_want == 0:
            return None
        m = round((q_want - p) / L)
        q, degree = p + L * m, DEGREE[name]
    if p == 0 and q == 0 and m == 0:
        return None
    if not -1000 < degree * q < 1000:         # c^k is not a normal float64: no value can be reported
        p0 = float(pb.loss.zero_value(pb.Y / 2.0 ** q))      # P(0) in scaled units, near 1
        raise _unrepresentable(pb, math.log10(max(p0, 1e-300)) + degree * q * math.log10(2.0))
    return Scaling(x=2.0 ** p, y=2.0 ** q, w=2.0 ** m, degree=degree)


# ------------------------------------------------------------ solved without a setting
def _zero_is_optimal(pb: Problem) -> bool:
    if pb.depth != 2 or pb.bias or pb.batchnorm:
        return False
    U0 = pb.loss.dual_point(np.zeros_like(pb.Y), pb.Y)
    return bool(np.linalg.norm(U0) * np.linalg.norm(pb.X) <= pb.beta)


def trivial_fit(pb: Problem) -> Fit | None:
    """Problems whose optimum needs no setting (None for all others).

    * y ≡ 0, or constant y with biases, under squared or absolute loss: the objective is a
      sum of non-negative terms, and the zero network (with the output bias set to the
      constant label) attains 0, so it is optimal; its own dual point 0 proves it. Settings
      need not handle this degenerate case (their relative gaps would divide by P(0) = 0).
    * Two layers without biases or BN and a β so large that the zero network is optimal:
      its dual point U0 has ρ(U0) = max_{‖w‖≤1} ‖U0ᵀσ(Xw)‖ ≤ ‖U0‖_F‖X‖_F ≤ β, so U0 is dual
      feasible and its bound equals P(0). (Solvers fail on such β; the certificate recomputes
      ρ exactly.)
    """
    Y = pb.Y
    if _zero_is_optimal(pb):
        zero = [(np.zeros((pb.X.shape[1], 1)), None), (np.zeros((1, Y.shape[1])), None)]
        return Fit(Network([zero], pb.activation), [pb.loss.dual_point(np.zeros_like(Y), Y)],
                   "closed form: beta >= ||U0||_F ||X||_F >= rho(U0), so the zero network is optimal")
    if pb.loss.name not in ("squared", "absolute") or pb.batchnorm or not (
            np.all(Y == 0) or (pb.bias and np.all(Y == Y[0]))):
        return None
    bias = (lambda width: np.zeros(width)) if pb.bias else (lambda width: None)
    widths = [pb.X.shape[1]] + [1] * (pb.depth - 1) + [Y.shape[1]]
    layers = [(np.zeros((a, b)), bias(b)) for a, b in zip(widths, widths[1:])]
    if pb.bias:
        layers[-1] = (layers[-1][0], Y[0].copy())
    what = "bias-only" if pb.bias and np.any(Y != 0) else "zero"
    return Fit(Network([layers], pb.activation), [np.zeros_like(Y)],
               f"closed form: the {what} network fits the labels exactly at zero penalty (the objective's minimum 0)")
