"""Exceptions raised by dualnet.

Every error a user can trigger is one of these, so ``except dn.DualnetError`` catches
all of them. Messages follow one pattern: the parameter, what was got, what was
expected, and how to fix it.
"""

from __future__ import annotations

__all__ = ["DualnetError", "InputError", "SettingError", "SolverError"]


class DualnetError(Exception):
    """Base class of every error raised on purpose by dualnet."""


class InputError(DualnetError, ValueError):
    """An argument has the wrong type, shape, or value."""


class SettingError(DualnetError, ValueError):
    """The data fit no setting in which dualnet can certify the global optimum."""


class SolverError(DualnetError, RuntimeError):
    """A numerical solver failed, or the problem is too large for this machine."""
