"""Exceptions raised by dualnet.

Every error a user can trigger is one of these, so ``except dn.DualnetError`` catches
all of them. Messages follow one pattern: the parameter, what was got, what was
expected, and how to fix it.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["DualnetError", "InputError", "PerformanceWarning", "SettingError", "SolverError"]


class DualnetError(Exception):
    """Base class of every error raised on purpose by dualnet."""


class InputError(DualnetError, ValueError):
    """An argument has the wrong type, shape, or value."""


class SettingError(DualnetError, ValueError):
    """The data fit no setting in which dualnet can certify the global optimum."""


class SolverError(DualnetError, RuntimeError):
    """A numerical solver failed, or the problem is too large for this machine."""


class PerformanceWarning(UserWarning):
    """A request that will be correct but far slower than another route to the same answer."""


def warn(message: str, category: type[Warning]) -> None:
    """Issue a warning attributed to the first caller outside dualnet (the user's line)."""
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "dualnet":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
