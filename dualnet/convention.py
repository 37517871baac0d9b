"""Training conventions: the objective a PyTorch user minimized, in dualnet's units.

dualnet's objective is P = ℓ(F; Y) + (β/2)·Σ‖W‖²_F, with ℓ the loss *summed* over samples
(½Σ(f − y)² for the squared loss), weight decay on weight matrices only and biases free.
A PyTorch user minimizes instead

    J = L(F; Y) + (wd/2)·Σ‖θ‖²,

with L the loss module's ``reduction="mean"`` (divided by the number N of terms it
averages) or ``"sum"``, and θ every parameter the optimizer decays. ``torch.optim.SGD`` and
``torch.optim.Adam`` with ``weight_decay=wd`` add ``wd·θ`` to the gradient, which is the
gradient of exactly this penalty. With L = (k/N)·ℓ (k = 2 for ``nn.MSELoss``, whose terms
have no ½; k = 1 for ``nn.L1Loss``, ``nn.BCEWithLogitsLoss``/``nn.SoftMarginLoss`` with
labels ±1, and ``nn.CrossEntropyLoss``), J = s·P with

    s = k/N,   β = wd/s,

when no bias is decayed. When biases are decayed too, J = s·(P + (β/2)Σ‖b‖²): dualnet's
bound, computed with free biases, is still a lower bound on that objective (the extra
term is never negative), but it may be loose by the optimum's bias penalty.

``torch.optim.AdamW`` is refused: its decoupled decay ``θ ← θ − lr·wd·θ`` is not the
gradient of any penalty once Adam divides the loss gradient by √v̂ (at its fixed points
∇L = −wd·√v̂ ⊙ θ, a per-weight strength that changes as v̂ does), so it minimizes no
objective that could be certified.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .errors import InputError
from .validation import check_choice, check_count, check_flag, check_weight_decay, describe

__all__ = ["Convention", "InUserUnits", "beta_from_torch", "in_user_units", "torch_options", "translate"]

#: k in L = (k/N)·ℓ: the loss modules' terms against dualnet's (½(f − y)² for the squared loss)
TERM_FACTOR = {"squared": 2.0, "absolute": 1.0, "logistic": 1.0, "hinge": 1.0, "cross-entropy": 1.0}
#: the PyTorch loss module each dualnet loss matches (for messages and the docs)
TORCH_LOSS = {"squared": "nn.MSELoss", "absolute": "nn.L1Loss", "logistic": "nn.SoftMarginLoss",
              "hinge": "hinge loss relu(1 - y·f)", "cross-entropy": "nn.CrossEntropyLoss"}
OPTIMIZERS = ("sgd", "adam", "adamw")
REDUCTIONS = ("mean", "sum")
ADAMW = ("optimizer='adamw' has no objective to certify: AdamW's decoupled decay (θ ← θ − lr·wd·θ after the Adam "
         "step) is not the gradient of a penalty once Adam divides the loss gradient by √v (at its fixed points "
         "∇L = −wd·√v ⊙ θ, a per-weight strength that changes during training). Train with torch.optim.Adam or "
         "SGD and weight_decay=wd (a penalty (wd/2)·||θ||² on the objective), or pass beta= for dualnet's own "
         "objective (½ summed squared loss + (β/2)·Σ||W||², biases free)")


@dataclass(frozen=True)
class Convention:
    """The user's objective J = L(F; Y) + (wd/2)·Σ‖θ‖² and its map to dualnet's P.

    J = ``scale`` · (P + bias penalty), where P is dualnet's objective at ``beta`` and the
    bias penalty (β/2)·Σ‖b‖² counts only when ``decay_biases``. Build it with
    :func:`beta_from_torch`.

    Attributes
    ----------
    weight_decay : float
        The optimizer's ``weight_decay``.
    reduction : {"mean", "sum"}
        The loss module's reduction.
    loss : str
        dualnet's name of the loss.
    n_terms : int
        N, the number of terms a mean divides by (samples × outputs; samples for cross-entropy).
    decay_biases : bool
        Whether the optimizer decayed the biases too (PyTorch does unless the biases are
        in a parameter group with ``weight_decay=0``).
    optimizer : str
        "sgd" or "adam" (both add ``wd·θ`` to the gradient).
    """

    weight_decay: float
    reduction: str
    loss: str
    n_terms: int
    decay_biases: bool
    optimizer: str

    @property
    def scale(self) -> float:
        """The factor s with J = s·P: k/N for a mean, k for a sum (k = 2 for the squared loss, else 1)."""
        return TERM_FACTOR[self.loss] / (self.n_terms if self.reduction == "mean" else 1)

    @property
    def beta(self) -> float:
        """The β of dualnet's objective: wd/s."""
        return self.weight_decay / self.scale

    def to_user(self, value: float) -> float:
        """A value of dualnet's objective (bias penalty included) in the user's units."""
        return self.scale * value

    def bias_penalty(self, net: Any) -> float:
        """(β/2)·Σ‖b‖² over the network's biases when they were decayed (0 otherwise), in dualnet's units."""
        if not self.decay_biases:
            return 0.0
        return 0.5 * self.beta * sum(float(b @ b) for br in net.branches for _, b in br if b is not None)

    def describe(self) -> str:
        """The user's objective in words."""
        loss = f"{TORCH_LOSS[self.loss]}(reduction={self.reduction!r})"
        what = "weights and biases" if self.decay_biases else "weights"
        return f"{loss} + (weight_decay/2)·||{what}||² with weight_decay={self.weight_decay:g}"


class InUserUnits:
    """The value, bound and gap of a result in the units of its :class:`Convention` (mixin).

    ``user_value``, ``user_lower_bound`` and ``user_gap`` are None when the result was
    computed from ``beta`` (dualnet's own objective).
    """

    convention: Convention | None

    def _user(self, value: float) -> float | None:
        return None if self.convention is None else self.convention.to_user(value)

    @property
    def user_value(self) -> float | None:
        """The network's objective J in the user's convention."""
        return self._user(self.value)           # type: ignore[attr-defined]

    @property
    def user_lower_bound(self) -> float | None:
        """The proven lower bound in the user's convention."""
        return self._user(self.lower_bound)     # type: ignore[attr-defined]

    @property
    def user_gap(self) -> float | None:
        return self._user(self.gap)             # type: ignore[attr-defined]

    def _user_line(self) -> str:
        if self.convention is None:
            return ""
        return (f"in your units: value {self.user_value:.10g}, lower bound {self.user_lower_bound:.10g} "
                f"({self.convention.describe()}; beta {self.convention.beta:.6g} in dualnet's)")


def beta_from_torch(weight_decay: float, n_samples: int, *, n_outputs: int = 1, reduction: str = "mean",
                    loss: str = "squared", optimizer: str = "adam", decay_biases: bool = True,
                    where: str = "beta_from_torch") -> Convention:
    """The β for a network trained with PyTorch's conventions, and the map of objectives.

    Parameters
    ----------
    weight_decay : float
        The ``weight_decay`` of ``torch.optim.SGD`` or ``torch.optim.Adam`` (> 0).
    n_samples : int
        Samples in the training set (a mean divides by them).
    n_outputs : int, default 1
        Outputs of the network (``nn.MSELoss`` averages over every entry of the output).
    reduction : {"mean", "sum"}, default "mean"
        The loss module's reduction (PyTorch's default is "mean").
    loss : {"squared", "absolute", "logistic", "hinge", "cross-entropy"}, default "squared"
        The loss, by dualnet's name: "squared" is ``nn.MSELoss`` (terms (f − y)², no ½).
    optimizer : {"sgd", "adam", "adamw"}, default "adam"
        "sgd" and "adam" (``weight_decay`` added to the gradient) are the same penalty;
        "adamw" is refused (its decoupled decay minimizes no objective, see the module notes).
    decay_biases : bool, default True
        Whether the biases were decayed too (PyTorch's default when every parameter is
        passed to the optimizer with ``weight_decay``).

    Returns
    -------
    Convention
        ``.beta`` to pass to dualnet, ``.scale`` with J = scale·P, ``.to_user(value)``.

    Examples
    --------
    ``nn.MSELoss()`` (mean of (f − y)²) and ``Adam(weight_decay=1e-3)`` on 100 samples:
    J = (2/100)·(½Σ(f − y)² + (β/2)‖θ‖²) with β = 100·1e-3/2.

    >>> import dualnet as dn
    >>> c = dn.beta_from_torch(1e-3, 100)
    >>> round(c.beta, 12), c.scale
    (0.05, 0.02)
    >>> dn.beta_from_torch(1e-3, 100, reduction="sum").beta
    0.0005
    """
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS, where)
    if optimizer == "adamw":
        raise InputError(f"The 'optimizer' parameter of {where}: {ADAMW}.")
    wd = check_weight_decay(weight_decay, where)
    loss = check_choice(loss, "loss", tuple(TERM_FACTOR), where)
    n_samples, n_outputs = (check_count(v, p, where, "Pass the shape of the training data.")
                            for v, p in ((n_samples, "n_samples"), (n_outputs, "n_outputs")))
    decay_biases = check_flag(decay_biases, "decay_biases", where,
                              "True when the optimizer got every parameter with weight_decay (PyTorch's default); "
                              "False when the biases were in a group with weight_decay=0.")
    n_terms = n_samples * (1 if loss == "cross-entropy" else n_outputs)
    return Convention(wd, check_choice(reduction, "reduction", REDUCTIONS, where), loss, n_terms, decay_biases,
                      optimizer)


def resolve(beta: Any, weight_decay: Any, reduction: Any, optimizer: Any, decay_biases: Any, X: Any, y: Any,
            loss: Any, where: str) -> tuple[Any, Convention | None]:
    """β for a call of ``where``, and the user's convention when it got ``weight_decay=``.

    ``beta`` is dualnet's objective; ``weight_decay`` (with ``reduction``, ``optimizer``,
    ``decay_biases``) is PyTorch's, translated by :func:`beta_from_torch`. Exactly one is given.
    """
    given = torch_options(weight_decay, reduction, optimizer, decay_biases, where)
    if weight_decay is None:
        if beta is None:
            raise InputError(f"The 'beta' parameter of {where} must be a positive finite float unless weight_decay= "
                             "is given. Got None instead. Weight decay sets the problem: pass beta= for dualnet's "
                             "objective (½ summed squared loss + (β/2)·Σ||W||², biases free), or weight_decay= (with "
                             "reduction=, decay_biases=) for the one PyTorch's SGD/Adam minimized.")
        return beta, None
    if beta is not None:
        raise InputError(f"{where} got both 'beta' ({describe(beta)}) and 'weight_decay' ({describe(weight_decay)}). "
                         "Pass one: beta= for dualnet's objective, weight_decay= for PyTorch's (translated to beta).")
    conv, = translate([weight_decay], X, y, loss, where, **given)
    return conv.beta, conv


def torch_options(weight_decay: Any, reduction: Any, optimizer: Any, decay_biases: Any, where: str
                  ) -> dict[str, Any]:
    """The PyTorch options a call of ``where`` got (those not None); an InputError without ``weight_decay``."""
    given = {k: v for k, v in (("reduction", reduction), ("optimizer", optimizer), ("decay_biases", decay_biases))
             if v is not None}
    if weight_decay is None and given:
        raise InputError(f"{where} got {', '.join(repr(k) for k in given)} without 'weight_decay'. They describe "
                         "a PyTorch objective: pass weight_decay= with them, or drop them and pass beta= for "
                         "dualnet's objective.")
    return given


def translate(weight_decays: Any, X: Any, y: Any, loss: Any, where: str, **given: Any) -> list[Convention]:
    """One :class:`Convention` per optimizer ``weight_decay``, for the data and loss of a call of ``where``.

    ``given`` holds the ``reduction``, ``optimizer`` and ``decay_biases`` the user passed.
    """
    from .losses import get_loss
    from .validation import as_data, as_labels

    X = as_data(X, where)
    Y, _ = as_labels(y, X.shape[0], where)
    name = get_loss(loss, where).name
    if name not in TERM_FACTOR:
        raise InputError(f"The 'weight_decay' parameter of {where} translates the losses {sorted(TERM_FACTOR)} only. "
                         f"Got loss {name!r}. Pass beta= for dualnet's objective with this loss.")
    return [beta_from_torch(wd, X.shape[0], n_outputs=Y.shape[1], loss=name, where=where, **given)
            for wd in weight_decays]


def in_user_units(result: Any, convention: Convention, net: Any, p0: float, tol: float) -> Any:
    """A Certificate or Solution with ``convention`` attached and the bias penalty (if decayed) in its value.

    The bound is unchanged: computed with free biases, it bounds the objective with decayed
    biases as well, since their penalty is never negative. ``p0`` (the zero network's
    objective) and ``tol`` give the relative gap and the verdict.
    """
    extra = convention.bias_penalty(net)
    fields: dict[str, Any] = {"convention": convention}
    if extra > 0:
        gap = result.gap + extra
        rel_gap = gap / p0 if p0 > 0 else np.inf
        certified = bool(result.certified and rel_gap <= tol)
        note = ("your objective decays the biases and dualnet's bound leaves them free: the bound is valid (the "
                "decay only adds to the objective) but may be loose by the optimum's bias penalty")
        reason = result.reason if certified else "; ".join(r for r in (result.reason, note) if r)
        fields.update(value=result.value + extra, gap=gap, rel_gap=float(rel_gap), certified=certified,
                      reason=reason)
    return replace(result, **fields)
