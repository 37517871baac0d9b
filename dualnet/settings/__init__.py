"""Settings: one module per setting, each with the same contract (DESIGN.md).

Every module exposes ``NAME``, ``REFERENCE``, ``ACTIVATIONS`` and ``HOMOGENEOUS`` and the
functions ``check``, ``dual_program``, ``recover``, ``rho`` and ``fit`` (and
``closed_form`` where the theory gives one). ``tests/settings/test_contract.py`` sweeps
this registry so no setting can skip a piece.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import InputError
from . import batchnorm, linear, rank_one, spline, two_layer, whitened

SETTINGS: dict[str, ModuleType] = {}
for _module in (linear, batchnorm, rank_one, spline, two_layer, whitened):
    SETTINGS[_module.NAME] = _module

# The order in which setting="auto" tries settings (docs/index.md explains it): the
# explicit architecture flags first (linear activation, batch normalization, biases on
# 1-D data), then exact data structure (rank one, whitened), then the two-layer program
# that covers any data at depth 2.
_ORDER = ("linear", "batchnorm", "relu-1d", "relu-rank-one", "relu-whitened", "relu-two-layer")
AUTO_ORDER: list[str] = [name for name in _ORDER if name in SETTINGS]


def get_setting(name: str, where: str = "solve") -> ModuleType:
    """The setting module called ``name``."""
    if isinstance(name, str) and name.lower() in SETTINGS:
        return SETTINGS[name.lower()]
    raise InputError(f"The 'setting' parameter of {where} must be 'auto' or one of "
                     f"{', '.join(repr(k) for k in SETTINGS)}. Got {name!r} instead. "
                     "Use setting='auto' to let dualnet pick the first setting that applies.")
