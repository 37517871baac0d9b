"""Public entry points: solve, certify, dual_program, path.

Each is a short pipeline: validate -> choose the setting -> run it -> certify ->
result. No setting-specific mathematics lives here.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from dataclasses import replace
from types import ModuleType
from typing import Any

import numpy as np

from .budget import Budget, default_budget, within
from .certificate import Certificate, DualBound, dual_lower_bound
from .convention import in_user_units, resolve, torch_options, translate
from .errors import InputError, SettingError, SolverError, warn
from .losses import Loss, get_loss
from .network import Network
from .problem import DualProgram, Precomputed, Problem
from .results import Path, Solution
from .settings import AUTO_ORDER, SETTINGS, get_setting
from .scaling import choose_scaling, trivial_fit
from .warm_start import no_worse_than_init
from .settings._solve import fault_note
from .validation import (as_array, as_data, as_labels, check_beta, check_choice, check_depth, check_options,
                         check_flag, check_solver, check_t, check_time_limit, check_tol, describe)

__all__ = ["Solution", "certify", "dual_program", "path", "solve"]

METHODS = ("auto", "fast", "closed-form", "cvxpy")
PARAMETERS = ("beta", "depth", "activation", "loss", "bias", "batchnorm", "t", "setting", "method", "solver", "tol",
              "time_limit")
REMEDIES = ("activation='linear' for a linear network; dn.whiten(X) for whitened data (this changes the "
            "problem); batchnorm=True; bias=True for one-dimensional data; depth=2 for the two-layer "
            "ReLU program")


def _problem(X: Any, y: Any, depth: Any, beta: Any, t: Any, loss: Any, activation: Any, bias: Any,
             batchnorm: Any, method: Any, solver: Any, tol: Any, options: dict[str, Any],
             where: str, time_limit: Any = None) -> tuple[Problem, bool]:
    X = as_data(X, where)
    Y, vector = as_labels(y, X.shape[0], where)
    loss_obj = get_loss(loss, where)
    loss_obj.check_labels(Y, where)
    pb = Problem(X=X, Y=Y, depth=check_depth(depth, where), beta=check_beta(beta, where), t=check_t(t, where),
                 loss=loss_obj, activation=check_choice(activation, "activation", ("relu", "linear"), where),
                 bias=check_flag(bias, "bias", where), batchnorm=check_flag(batchnorm, "batchnorm", where),
                 method=check_choice(method, "method", METHODS, where), solver=check_solver(solver, where),
                 tol=check_tol(tol, where), options=check_options(options, where, X.shape[0]),
                 budget=Budget(check_time_limit(time_limit, where)))
    return pb, vector


def _warn_one_feature_without_bias(pb: Problem, where: str) -> None:
    """One feature, ReLU, no biases: a certified answer to a problem much worse than bias=True's."""
    if pb.X.shape[1] == 1 and pb.activation == "relu" and not pb.bias and not pb.batchnorm and where != "certify":
        warn(f"{where}: the data have one feature and bias=False, so every ReLU has its kink at x = 0 and the "
             "network is two half-lines; its certified optimum is usually a much worse fit than the problem with "
             "unpenalized biases. Pass bias=True for that problem (setting 'relu-1d': a linear spline with kinks "
             "at the data points; certified at depth 2 and in the t-form).", UserWarning)


def choose_setting(pb: Problem, setting: Any, where: str = "solve") -> ModuleType:
    """The setting module for ``pb``: the named one (checked), or the first that applies."""
    _warn_one_feature_without_bias(pb, where)
    opts = dict(activation=pb.activation, bias=pb.bias, batchnorm=pb.batchnorm, loss=pb.loss, **pb.options)
    if not (isinstance(setting, str) and setting.lower() == "auto"):
        module = get_setting(setting, where)
        failed = module.check(pb.X, pb.Y, pb.depth, **opts)
        if failed:
            raise SettingError(f"The data do not fit setting {module.NAME!r}: " + "; ".join(failed) +
                               f". Remedies: {REMEDIES}.")
        _check_options(pb, module, where)
        return module
    report = []
    for name in AUTO_ORDER:
        module = SETTINGS[name]
        failed = module.check(pb.X, pb.Y, pb.depth, **opts)
        if not failed:
            _check_options(pb, module, where)
            return module
        report.append(f"  {name}: " + "; ".join(failed))
    raise SettingError(
        f"No setting in which dualnet can certify the global optimum fits these data "
        f"(activation={pb.activation!r}, depth={pb.depth}). Checks:\n"
        + "\n".join(report) + f"\nRemedies: {REMEDIES}.")


def _check_options(pb: Problem, module: ModuleType, where: str) -> None:
    """Refuse keyword options the chosen setting does not use (a misspelt keyword is not ignored)."""
    if getattr(module, "OPTIONS", None) is None:      # a setting that validates its own options
        return
    unknown = sorted(set(pb.options) - set(module.OPTIONS))
    if not unknown:
        return
    known_anywhere = {opt: [m.NAME for m in SETTINGS.values() if opt in getattr(m, "OPTIONS", ())] for opt in unknown}
    vocabulary = sorted({o for m in SETTINGS.values() for o in getattr(m, "OPTIONS", ())} | set(PARAMETERS))
    hints = []
    for opt in unknown:
        if known_anywhere[opt]:
            hints.append(f"'{opt}' is an option of setting {', '.join(known_anywhere[opt])}")
        else:
            close = difflib.get_close_matches(opt, vocabulary, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            hints.append(f"'{opt}' is not an option of any setting{hint}")
    accepted = ", ".join(repr(o) for o in module.OPTIONS) or "none"
    raise InputError(f"{where} got keyword argument(s) {', '.join(repr(o) for o in unknown)} that setting "
                     f"{module.NAME!r} does not use ({'; '.join(hints)}). Options of {module.NAME!r}: {accepted}. "
                     "Remove them or fix their spelling.")


def _certify(net: Network, pb: Problem, module: ModuleType, duals: Sequence[np.ndarray],
             dual_path: Sequence[tuple[float, np.ndarray]] = (), precomputed: Precomputed | None = None
             ) -> Certificate:
    """Certificate of ``net`` on ``pb`` with the setting's ρ (all in NumPy).

    ``precomputed`` carries the network's loss, dual point and ρ when the setting computed
    them for many networks at once (``path``); otherwise a forward pass gives them.
    """
    try:
        with np.errstate(over="raise"):          # an objective beyond float64 has no certificate
            if precomputed is None:
                F = net.forward(pb.X)
                loss_value, own = pb.loss.value(F, pb.Y), pb.loss.dual_point(F, pb.Y)
            else:
                loss_value, own = precomputed.loss_value, precomputed.dual
            value = loss_value + net.penalty(pb.beta, pb.t if pb.depth >= 3 else None)
            p0 = pb.loss.zero_value(pb.Y)
    except FloatingPointError:
        raise InputError("The objective of this network on these data overflows float64 (beyond 1.8e308), so no "
                         "value, bound or gap can be computed. Check that the network was trained on data in these "
                         "units (its outputs are far larger than the labels), or divide X and y by a power of ten "
                         "and rescale the network to match.") from None
    candidates = [own, *duals]
    homogeneous = getattr(module, "HOMOGENEOUS", True)
    # Settings whose rho needs more than (U, X, depth, t) say so through problem_options.
    extra = module.problem_options(pb) if hasattr(module, "problem_options") else {}
    if hasattr(module, "dual_candidates"):         # e.g. dual points made to satisfy a setting's equality
        candidates = module.dual_candidates(candidates, pb)

    def rho(V: np.ndarray) -> tuple:
        if precomputed is not None and V is precomputed.dual:
            return precomputed.rho
        return module.rho(V, pb.X, pb.depth, 1.0 if homogeneous else (pb.t or 1.0), **extra)

    try:
        # Overflow inside the bound is an error, never a silently huge (wrong) bound.
        with np.errstate(over="raise"):
            found = dual_lower_bound(candidates, pb.Y, pb.loss, pb.beta, pb.depth, pb.t, rho, homogeneous, dual_path)
    except (OverflowError, FloatingPointError, ZeroDivisionError):
        found = DualBound(-np.inf, own, np.nan, 0.0, False)      # -inf: the trivial, valid bound
    gap = value - found.lower_bound
    rel_gap = gap / p0 if p0 > 0 else (0.0 if gap <= 0 else np.inf)
    finite = bool(np.isfinite(value) and np.isfinite(found.lower_bound))
    return Certificate(certified=bool(finite and rel_gap <= pb.tol), rel_gap=float(rel_gap), gap=float(gap),
                       value=float(value), lower_bound=found.lower_bound, proven=found.proven, p0=float(p0),
                       rho=found.rho, scale=found.scale, setting=module.NAME,
                       reason=_reason(pb, module, value, found, rel_gap, p0), dual=found.U,
                       # an "estimate" above the network's own value is evidently wrong: not shown
                       bound_estimate=found.estimate if found.estimate is None or found.estimate <= value
                       else None)


def _reason(pb: Problem, module: ModuleType, value: float, found: DualBound, rel_gap: float, p0: float) -> str:
    """Why a certificate is not certified ("" when it is): every uncertified result names its cause."""
    if not (np.isfinite(value) and np.isfinite(found.lower_bound)):
        return (f"the certificate is not finite (value {value:.3g}, lower bound {found.lower_bound:.3g}): floating "
                "point overflowed or the solve failed (beta may be extreme for the size of the data); rescale the "
                "data or change beta")
    if rel_gap <= pb.tol:
        return ""
    if p0 <= 0:
        return (f"the zero network is optimal (objective 0: P(0) = 0), and this network's value is {value:.3g} "
                "> 0, so its relative gap is infinite")
    reason = f"relative gap {rel_gap:.3g} exceeds tol={pb.tol:g}"
    if not found.proven or found.estimate is not None:       # ρ estimated, or only bounded above
        return reason + "; " + ((module.rho_reason(pb) if hasattr(module, "rho_reason") else "") or
                                "rho could only be estimated, so the proven bound is the trivial one")
    resolution = pb.beta_t / max(float(np.linalg.norm(pb.X) * np.linalg.norm(pb.Y)), 1e-300)
    if resolution < 1e-12:
        # The dual constraint rho(U) <= beta must hold to ~eps*||X||*||Y|| (rounding of X^T U).
        reason += (f" (beta is {resolution:.1g} of ||X||*||Y||, below what float64 can verify of the dual "
                   "constraint; the same problem in other units has the same beta relative to the data)")
    if pb.depth >= 3 and pb.t is None and pb.n_outputs > 1:
        reason += (" (weight decay on a deep network with several outputs: the bound min_t D_t + "
                   "beta(L-2)t^2/2 need not be attained, docs/settings/linear.md#vector-outputs)")
    return reason


# ------------------------------------------------------------------------------- API
def solve(X: Any, y: Any, *, beta: float | None = None, depth: int = 2, activation: str = "relu",
          loss: str | Loss = "squared", bias: bool = False, batchnorm: bool = False, t: float | None = None,
          setting: str = "auto", method: str = "auto", solver: str | None = None, tol: float = 1e-6,
          time_limit: float | None = None, weight_decay: float | None = None, reduction: str | None = None,
          optimizer: str | None = None, decay_biases: bool | None = None, **options: Any) -> Solution:
    """Globally optimal weights of a weight-decay-regularized network, with a certificate.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training inputs. Never modified.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Labels (±1 for hinge and logistic loss, one-hot rows for cross-entropy).
    beta : float
        Weight-decay strength β > 0; the penalty is (β/2)Σ‖W‖²_F over weight matrices.
        Required unless ``weight_decay`` is given.
    depth : int, default 2
        Number of weight layers L ≥ 2.
    activation : {"relu", "linear"}, default "relu"
    loss : {"squared", "hinge", "logistic", "absolute", "cross-entropy"}, default "squared"
        Squared loss is ½‖F − Y‖² summed over samples.
    bias, batchnorm : bool, default False
        Biases (one-dimensional data) and batch normalization before the last activation.
    t : float or None, default None
        None is plain weight decay on all layers (what SGD minimizes). A float is the
        paper's constrained form: layers 1..L−2 in Frobenius balls of radius t, weight
        decay on the last two layers.
    setting : str, default "auto"
        "auto" picks the first setting whose assumptions hold, or name one.
    method : {"auto", "fast", "closed-form", "cvxpy"}, default "auto"
        "fast" (alias "closed-form") uses the setting's solver-free path; "cvxpy" solves
        the setting's dual program with CVXPY.
    solver : str, optional
        CVXPY solver for ``method="cvxpy"`` (CLARABEL, ECOS, SCS, ...).
    tol : float, default 1e-6
        A result is certified when its relative gap is at most ``tol``.
    time_limit : float, optional
        Seconds the call may take. When it runs out the best network and the best proven
        lower bound found so far are returned, and ``reason`` says so. None: no limit where
        ρ is computed exactly; where it is not (two-layer ReLU beyond enumeration), 16 times
        one seeding training within 30-120 s (180 s where branch and bound can prove the
        optimum), or 120 s with ``init``.
    weight_decay : float, optional
        Instead of ``beta``: the ``weight_decay`` of ``torch.optim.SGD``/``Adam`` under
        PyTorch's conventions, translated by :func:`dualnet.beta_from_torch` (β = wd/s with
        the user's objective J = s·P); the result also reports ``user_value`` and
        ``user_lower_bound`` in J's units.
    reduction : {"mean", "sum"}, optional
        With ``weight_decay``: the loss module's reduction (default "mean", PyTorch's).
    optimizer : {"sgd", "adam", "adamw"}, optional
        With ``weight_decay``: "sgd" and "adam" (default) are one penalty; "adamw" is
        refused (its decoupled decay minimizes no objective).
    decay_biases : bool, optional
        With ``weight_decay``: whether the biases were decayed too (default True, PyTorch's
        when every parameter goes to the optimizer). The bound then stays the free-bias one
        (valid, possibly loose by the optimum's bias penalty).

    Returns
    -------
    Solution

    Raises
    ------
    InputError
        Bad input (the message names the parameter and the fix).
    SettingError
        The data fit no setting; the message lists each check and the remedies.
    SolverError
        CVXPY failed with every solver tried.

    Examples
    --------
    >>> import numpy as np
    >>> import dualnet as dn
    >>> sol = dn.solve(np.eye(2), np.array([3.0, 4.0]), beta=1.0, activation="linear")
    >>> sol.certified, round(sol.value, 6)
    (True, 4.5)
    >>> sol.predict(np.eye(2)).round(6)
    array([2.4, 3.2])
    """
    start = time.perf_counter()
    beta, convention = resolve(beta, weight_decay, reduction, optimizer, decay_biases, X, y, loss, "solve")
    pb, vector = _problem(X, y, depth, beta, t, loss, activation, bias, batchnorm, method, solver, tol, options,
                          "solve", time_limit)
    scaling = choose_scaling(pb)
    work = pb if scaling is None else scaling.problem(pb)    # the same problem with data of size ~1
    module = choose_setting(work, setting)
    # No default budget here: a setting whose ρ cannot be exact sets its own, tied to the problem
    # (two-layer ReLU: a multiple of one seeding training), and returns it for the certificate.
    with within(pb.budget):          # CVXPY solves deep inside a setting get the time left
        fitted = no_worse_than_init(work, trivial_fit(work) or module.fit(work), scaling)
    sol = _solution(work, module, fitted, start, vector)
    sol = sol if scaling is None else scaling.solution(sol, pb)
    return sol if convention is None else in_user_units(sol, convention, sol.network, pb.loss.zero_value(pb.Y), pb.tol)


def _solution(pb: Problem, module: ModuleType, fitted: Any, start: float, vector: bool) -> Solution:
    if getattr(fitted, "budget", None) is not None:     # the setting's default budget covers its certificate
        pb = replace(pb, budget=fitted.budget)
    cert = _certify(fitted.network, pb, module, fitted.duals, fitted.dual_path, fitted.precomputed)
    reason = cert.reason
    if reason and fitted.info.get("note"):       # the setting's own account of why bounds may not meet
        reason += f"; {fitted.info['note']}"
    if fitted.info.get("stopped"):               # what cut the work short (a setting sets it from pb.budget)
        reason = f"{reason}; {fitted.info['stopped']}" if reason else fitted.info["stopped"]
    if reason and fault_note(fitted.method):     # solver faults or an inaccurate solve (also shown in method)
        reason += f"; {fault_note(fitted.method)}"
    return Solution(certified=cert.certified, gap=cert.gap, rel_gap=cert.rel_gap, value=cert.value,
                    lower_bound=cert.lower_bound, setting=module.NAME, method=fitted.method,
                    time=time.perf_counter() - start, network=fitted.network, _dual=cert.dual,
                    reference=module.REFERENCE, program=fitted.program, proven=cert.proven, reason=reason,
                    depth=pb.depth, beta=pb.beta, t=pb.t, loss=pb.loss.name, info=fitted.info,
                    vector_output=vector, bound_estimate=cert.bound_estimate)


def certify(net: Any, X: Any, y: Any, *, beta: float | None = None, loss: str | Loss = "squared",
            t: float | None = None, setting: str = "auto", dual: Any = None, tol: float = 1e-6,
            time_limit: float | None = None, weight_decay: float | None = None, reduction: str | None = None,
            optimizer: str | None = None, decay_biases: bool | None = None, **options: Any) -> Certificate:
    """How far is a network from the global optimum? A certified duality gap.

    Parameters
    ----------
    net : Network, list of weight arrays, or torch.nn.Sequential
        The network to certify (its activation and depth define the problem). A torch
        module must be a Sequential of Linear and ReLU layers (see ``Network.from_torch``).
    X : array-like of shape (n_samples, n_features)
        Training inputs, as in :func:`solve`.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Labels, as in :func:`solve`.
    beta : float
        Weight-decay strength the network was trained with, in dualnet's objective
        (required unless ``weight_decay`` is given).
    loss : str or Loss
        As in :func:`solve`.
    t : float or None
        As in :func:`solve`.
    setting : str
        As in :func:`solve`.
    tol : float
        As in :func:`solve`.
    dual : array-like (n_samples, n_outputs), optional
        An extra dual point to try (for example from a solver); the best bound is kept.
    time_limit : float, optional
        Seconds the call may take; the best proven bound by then is returned. None: no limit
        where ρ is computed exactly, and 60 s where it is not
        (two-layer ReLU beyond enumeration: ``reason`` says when it ran out).
    weight_decay, reduction, optimizer, decay_biases
        Instead of ``beta``: the PyTorch objective the network was trained on, as in
        :func:`solve`; the certificate then also gives ``user_value``, ``user_lower_bound``
        and ``user_gap`` in its units.

    Returns
    -------
    Certificate

    Examples
    --------
    >>> import numpy as np
    >>> import dualnet as dn
    >>> X, y = np.eye(2), np.array([3.0, 4.0])
    >>> net = dn.Network.from_weights([np.array([[1.2], [1.6]]), np.array([[2.0]])], activation="linear")
    >>> cert = dn.certify(net, X, y, beta=1.0)
    >>> cert.certified, round(cert.value, 6), round(cert.lower_bound, 6)
    (True, 4.5, 4.5)
    """
    if not isinstance(net, Network):
        if isinstance(net, (list, tuple)) and len(net) > 0:
            net = Network.from_weights(net, activation=options.pop("activation", "relu"))
        elif any(c.__module__.split(".")[0] == "torch" for c in type(net).__mro__):
            net = Network.from_torch(net)
        else:
            raise InputError("The 'net' parameter of certify must be a dualnet.Network, a list of weight "
                             f"arrays [W1, W2, ...] or a torch nn.Sequential. Got {type(net).__name__} instead. "
                             "Wrap raw weights with dn.Network.from_weights([W1, W2], activation=...).")
    if net.batchnorm is not None:
        options["bn_scale"] = net.bn_scale          # the network defines the BN branch set
    has_bias = any(b is not None for br in net.branches for _, b in br)
    if options.get("bias", has_bias) != has_bias:
        raise InputError(f"The 'bias' parameter of certify is {options['bias']!r}, but the network has "
                         f"{'biases' if has_bias else 'no biases'}: certify reads it from the network. "
                         "Leave bias out (or pass the network the problem was trained with).")
    options.pop("bias", None)                   # the network says whether there are biases
    beta, convention = resolve(beta, weight_decay, reduction, optimizer, decay_biases, X, y, loss, "certify")
    pb, _ = _problem(X, y, net.depth if net.depth >= 2 else 2, beta, t, loss, net.activation,
                     has_bias, net.batchnorm is not None, "auto",
                     None, tol, options, "certify", time_limit)
    if net.depth < 2:
        raise InputError("The 'net' parameter of certify must have depth >= 2 (at least one hidden layer). "
                         f"Got depth {net.depth}.")
    if pb.X.shape[1] != net.n_features or pb.Y.shape[1] != net.n_outputs:
        raise InputError(f"The network maps {net.n_features} features to {net.n_outputs} outputs, but X has "
                         f"{pb.X.shape[1]} columns and y has {pb.Y.shape[1]} outputs. Pass the data the "
                         "network was trained on.")
    if pb.t is not None and net.t_violation(pb.t) > 1e-9 * max(1.0, pb.t):
        raise InputError(f"The network violates the t-form constraint ||W_l||_F <= t={pb.t} on layers 1..L-2 "
                         f"by {net.t_violation(pb.t):.3g}. Pass t=None for plain weight decay.")
    duals = [] if dual is None else [as_labels(dual, pb.n_samples, "certify", "dual")[0]]
    # As in solve: data far from unit size are certified in scaled units (the network and any
    # dual point mapped exactly), and value, bound and gap come back in the user's units.
    scaling = choose_scaling(pb, biases=True)
    if scaling is None:
        cert = _certify_as_given(net, pb, setting, duals)
    else:
        work = scaling.problem(pb)
        cert = scaling.certificate(_certify_as_given(scaling.scaled_network(net), work, setting,
                                                     [U / scaling.y ** (scaling.degree - 1) for U in duals]), pb)
    return cert if convention is None else in_user_units(cert, convention, net, cert.p0, pb.tol)


def _certify_as_given(net: Network, pb: Problem, setting: Any, duals: list[np.ndarray]) -> Certificate:
    """``certify`` on data it need not rescale."""
    size = max(float(np.max(np.abs(pb.X))), float(np.max(np.abs(pb.Y))))
    if size > 1e150:        # no exact rescaling applies (BN or a custom loss): squares would overflow
        raise InputError(f"The data passed to certify are of size up to {size:.3g}; their squares overflow float64, "
                         "so no certificate can be computed. Divide X and y by a power of ten and rescale the "
                         "network to match.")
    module = choose_setting(pb, setting, "certify")
    pb, default_note = default_budget(pb, module, "certify")   # rho beyond exact: a bound by then, not hours
    dual_path: list[tuple[float, np.ndarray]] = []
    if pb.depth >= 3 and pb.t is None and getattr(module, "HOMOGENEOUS", True):
        # Weight decay on a deep network: the bound from the network's one dual direction dips
        # below the optimum away from its own t, so it cannot close the gap. The setting's dual
        # points along t can (docs/theory/framework.md#weight-decay-and-t): any dual point is valid, and ρ is recomputed here.
        try:
            dual_path = module.fit(pb).dual_path
        except SolverError:
            dual_path = []
    cert = _certify(net, pb, module, duals, dual_path)
    if default_note and cert.reason and pb.budget.expired():
        cert = replace(cert, reason=f"{cert.reason}; {default_note}")
    return cert


def dual_program(X: Any, y: Any, *, beta: float, depth: int = 2, activation: str = "relu",
                 loss: str | Loss = "squared", bias: bool = False, batchnorm: bool = False, t: float | None = None,
                 setting: str = "auto", **options: Any) -> DualProgram:
    """The setting's dual as a CVXPY program, to inspect, solve, or benchmark.

    The threshold β·t^{2−L} is a CVXPY parameter (DPP), so ``prog.set_beta(b)`` followed by
    ``prog.solve()`` re-solves without recompiling. For depth ≥ 3 and ``t=None`` the
    program is D_t at t = 1; weight decay on all layers is min over t of
    D_t + β(L−2)t²/2 (see :func:`solve`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualnet as dn
    >>> prog = dn.dual_program(np.eye(2), np.array([3.0, 4.0]), beta=1.0, activation="linear")
    >>> round(prog.solve(solver="CLARABEL"), 5)
    4.5
    """
    pb, _ = _problem(X, y, depth, beta, t, loss, activation, bias, batchnorm, "cvxpy", None, 1e-6, options,
                     "dual_program")
    module = choose_setting(pb, setting, "dual_program")
    extra = module.problem_options(pb) if hasattr(module, "problem_options") else {}
    return module.dual_program(pb.X, pb.Y, pb.depth, pb.beta, pb.t, pb.loss, **extra)


def path(X: Any, y: Any, betas: Any = None, *, depth: int = 2, activation: str = "relu",
         loss: str | Loss = "squared", bias: bool = False, batchnorm: bool = False, t: float | None = None,
         setting: str = "auto", method: str = "auto", solver: str | None = None, tol: float = 1e-6,
         time_limit: float | None = None, weight_decay: Any = None, reduction: str | None = None,
         optimizer: str | None = None, decay_biases: bool | None = None, **options: Any) -> Path:
    """Solve for several β, sharing one decomposition or one compiled CVXPY program.

    Parameters
    ----------
    X, y : array-like
        Data and labels, as in :func:`solve`.
    betas : array-like of float
        The regularization strengths, each > 0, solved in the order given (an increasing
        sequence lets each solve start where the last ones ended). Required unless
        ``weight_decay`` is given.
    depth, activation, loss, bias, batchnorm, t, setting, method, solver, tol, **options
        As in :func:`solve`; the same for every β.
    time_limit : float, optional
        Seconds the whole path may take (None: no limit), shared by all β.
    weight_decay : array-like of float, optional
        Instead of ``betas``: the optimizer's ``weight_decay`` values under PyTorch's
        conventions, each translated as in :func:`solve` (``path.betas`` holds the β they
        give). Each solution then carries ``user_value``, ``user_lower_bound`` and
        ``user_gap`` in the units of the objective the user trained.
    reduction, optimizer, decay_biases
        With ``weight_decay``: as in :func:`solve`, the same for every value.

    Returns
    -------
    Path
        One certified (or honestly uncertified) :class:`Solution` per β.

    Notes
    -----
    Linear networks with the squared loss and n ≥ d are certified through XᵀX and XᵀY,
    formed once, instead of a forward pass per β: the same arithmetic regrouped, exact ρ,
    agreeing with :func:`certify` to rounding (docs: "What certified means").

    Examples
    --------
    >>> import numpy as np
    >>> import dualnet as dn
    >>> p = dn.path(np.eye(2), np.array([3.0, 4.0]), [0.5, 1.0, 6.0], activation="linear")
    >>> bool(p.certified.all()), p.values.round(4).tolist()
    (True, [2.375, 4.5, 12.5])
    """
    start = time.perf_counter()
    given = torch_options(weight_decay, reduction, optimizer, decay_biases, "path")
    if weight_decay is not None and betas is not None:
        raise InputError(f"path got both 'betas' ({describe(betas)}) and 'weight_decay' ({describe(weight_decay)}). "
                         "Pass one: betas= for dualnet's objective, weight_decay= for PyTorch's (translated to β).")
    conventions = [] if weight_decay is None else translate(_strengths(weight_decay, "weight_decay"), X, y, loss,
                                                             "path", **given)
    beta_arr = np.array([c.beta for c in conventions]) if conventions else _strengths(betas, "betas")
    for b in beta_arr:
        check_beta(float(b), "path")
    pb, vector = _problem(X, y, depth, float(beta_arr[0]), t, loss, activation, bias, batchnorm, method, solver,
                          tol, options, "path", time_limit)
    scaling = choose_scaling(pb)
    users = [replace(pb, beta=float(b)) for b in beta_arr]
    # The fits run in scaled units when the data are far from size 1 (see dualnet.scaling).
    base, betas = (pb, beta_arr) if scaling is None else (scaling.problem(pb), scaling.beta(beta_arr))
    module = choose_setting(base, setting, "path")
    problems = [replace(base, beta=float(b)) for b in betas]
    trivial = [trivial_fit(p) for p in problems]
    with within(pb.budget):
        if all(f is None for f in trivial):
            fits = module.fit_path(base, betas) if hasattr(module, "fit_path") else [module.fit(p) for p in problems]
        else:
            fits = [f or module.fit(p) for f, p in zip(trivial, problems)]
    # Each solution's time: an equal share of the shared fitting and batched work, plus its own certificate.
    share = (time.perf_counter() - start) / len(problems)
    solutions = [_solution(p, module, fitted, time.perf_counter() - share, vector) for p, fitted in zip(problems, fits)]
    if scaling is not None:
        solutions = [scaling.solution(sol, user) for sol, user in zip(solutions, users)]
    if conventions:
        solutions = [in_user_units(sol, conv, sol.network, user.loss.zero_value(user.Y), user.tol)
                     for sol, conv, user in zip(solutions, conventions, users)]
    return Path(beta_arr, solutions)


def _strengths(values: Any, name: str) -> np.ndarray:
    """``values`` (the β or weight decays of a path) as a non-empty 1-D float array, or an InputError."""
    try:
        arr = None if values is None else as_array(values, name, "path", finite=False)
    except InputError:
        arr = None
    if arr is None or arr.ndim > 1:
        raise InputError(f"The {name!r} parameter of path must be a 1-D array of positive floats. Got "
                         f"{describe(values)} instead. Pass numbers, e.g. numpy.geomspace(1e-3, 1.0, 20).")
    if arr.size == 0:
        raise InputError(f"The {name!r} parameter of path must hold at least one value. Got an empty array instead. "
                         "Pass e.g. numpy.geomspace(1e-3, 1.0, 20).")
    return arr.reshape(-1)
