"""The setting contract (DESIGN.md "One setting, one shape"), swept over the registry.

Every module in ``dualnet.settings.SETTINGS`` is checked here, so a setting registered later
is covered automatically and none can skip a piece of the contract.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from dualnet.certificate import as_rho_value
from dualnet.losses import LOSSES
from dualnet.problem import DualProgram
from dualnet.settings import AUTO_ORDER, SETTINGS, get_setting

NAMES = sorted(SETTINGS)
#: function -> the leading positional parameters every setting must take, in this order
SIGNATURES = {
    "check": ("X", "Y", "depth", "activation", "bias", "batchnorm"),
    "dual_program": ("X", "Y", "depth", "beta", "t", "loss"),
    "recover": ("U", "X", "Y", "depth", "beta", "t"),
    "rho": ("U", "X", "depth", "t"),
    "fit": ("pb",),
}
# One-dimensional, positive, distinct inputs: every setting's rho must evaluate here (rank
# one, 1-D data, any data), whether or not its check accepts the data.
X_1D = np.array([[1.0], [2.0], [3.5], [5.0]])


@pytest.fixture(params=NAMES)
def module(request: pytest.FixtureRequest):
    return SETTINGS[request.param]


def test_registry_is_consistent() -> None:
    assert "linear" in SETTINGS
    assert len(AUTO_ORDER) == len(set(AUTO_ORDER))
    assert set(AUTO_ORDER) <= set(SETTINGS)
    # Every registered setting is reachable by setting="auto".
    assert set(SETTINGS) == set(AUTO_ORDER)
    for name in SETTINGS:
        assert get_setting(name.upper()) is SETTINGS[name]


def test_constants(module) -> None:
    assert isinstance(module.NAME, str) and SETTINGS[module.NAME] is module
    assert isinstance(module.REFERENCE, str) and "docs/" in module.REFERENCE
    assert isinstance(module.ACTIVATIONS, tuple) and module.ACTIVATIONS
    assert set(module.ACTIVATIONS) <= {"relu", "linear"}
    assert isinstance(module.HOMOGENEOUS, bool)


@pytest.mark.parametrize("function", sorted(SIGNATURES))
def test_functions_and_signatures(module, function: str) -> None:
    fn = getattr(module, function, None)
    assert callable(fn), f"setting {module.NAME!r} has no {function}()"
    assert (fn.__doc__ or "").strip(), f"{module.NAME}.{function} has no docstring"
    params = list(inspect.signature(fn).parameters.values())
    names = tuple(p.name for p in params[:len(SIGNATURES[function])])
    assert names == SIGNATURES[function], f"{module.NAME}.{function}{inspect.signature(fn)}"
    if function == "check":
        # api passes loss= and every user option to every setting's check.
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def test_check_returns_reasons_and_refuses_other_activations(module) -> None:
    Y = np.array([[1.0], [-1.0], [2.0], [0.5]])
    for activation in ("relu", "linear"):
        failed = module.check(X_1D, Y, 2, activation=activation, bias=False, batchnorm=False,
                              loss=LOSSES["squared"], unknown_option=1)
        assert isinstance(failed, list) and all(isinstance(r, str) and r for r in failed)
        if activation not in module.ACTIVATIONS:
            assert failed, f"{module.NAME} accepts activation={activation!r} it does not list"


def centered_dual(seed: int) -> np.ndarray:
    """A dual direction with 1ᵀU = 0: with unpenalized biases (relu-1d) ρ is +inf otherwise."""
    U = np.random.default_rng(seed).standard_normal((4, 1))
    return U - U.mean(axis=0)


def test_rho_contract(module) -> None:
    """ρ returns (value ≥ 0, proven flag[, estimate]), is positively homogeneous in U, and ρ(0) = 0."""
    U = centered_dual(0)
    value, proven, estimate = as_rho_value(module.rho(U, X_1D, 2, 1.0))
    assert isinstance(proven, bool)
    assert estimate is None or estimate <= value
    assert np.isfinite(value) and value >= 0
    assert module.rho(2.5 * U, X_1D, 2, 1.0)[0] == pytest.approx(2.5 * value, rel=1e-9)
    assert module.rho(np.zeros_like(U), X_1D, 2, 1.0)[0] == pytest.approx(0.0, abs=1e-12)


def test_homogeneous_settings_scale_rho_with_t(module) -> None:
    """HOMOGENEOUS means ρ_t = t^{L−2} ρ_1: the certificate relies on it for deep networks."""
    if not module.HOMOGENEOUS:
        pytest.skip(f"{module.NAME} is not homogeneous in t (batch normalization)")
    Y = np.array([[1.0], [-1.0], [2.0], [0.5]])
    if any("depth" in reason for reason in module.check(X_1D, Y, 3, activation=module.ACTIVATIONS[0])):
        pytest.skip(f"{module.NAME} covers depth 2 only (its check refuses depth 3)")
    U = centered_dual(1)
    rho1 = module.rho(U, X_1D, 3, 1.0)[0]
    assert module.rho(U, X_1D, 3, 2.0)[0] == pytest.approx(2.0 * rho1, rel=1e-9)


def test_dual_program_is_a_dpp_program(module) -> None:
    """Where the setting's check accepts the 1-D data, its dual program is a DPP DualProgram."""
    Y = np.array([[1.0], [-1.0], [2.0], [0.5]])
    activation = module.ACTIVATIONS[0]
    bias = module.check(X_1D, Y, 2, activation=activation, bias=False, batchnorm=False) != [] and \
        module.check(X_1D, Y, 2, activation=activation, bias=True, batchnorm=False) == []
    if module.check(X_1D, Y, 2, activation=activation, bias=bias, batchnorm=False) != []:
        pytest.skip(f"{module.NAME} does not accept this 1-D data (see its check)")
    prog = module.dual_program(X_1D, Y, 2, 0.5, None, LOSSES["squared"], **({"bias": True} if bias else {}))
    assert isinstance(prog, DualProgram)
    assert prog.problem.is_dpp()
    assert prog.threshold.value == pytest.approx(0.5)
