"""Time budgets and progress reports for long calls.

Every long call (``solve``, ``certify``, ``path``, the estimators' ``fit``) takes
``time_limit`` in seconds. It becomes a :class:`Budget` carried on the problem; the
settings poll it between units of work (a master solve, an oracle node, a value of t) and
return the best network and the best *proven* bound found so far when it runs out, saying
so in ``reason``. A :class:`Progress` line shows value, proven bound and gap as they move.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Budget", "Progress", "current_budget", "within"]


@dataclass(frozen=True)
class Budget:
    """A wall-clock deadline (``time_limit`` seconds from creation; None: no limit).

    Examples
    --------
    >>> b = Budget(None)
    >>> b.expired(), b.remaining()
    (False, inf)
    >>> Budget(1e-9).sub(0.5).time_limit <= 1e-9
    True
    """

    time_limit: float | None = None
    start: float = field(default_factory=time.perf_counter)
    #: the user's time_limit that this budget is a stage of (named in messages)
    whole: float | None = None
    #: whether the package chose this limit (the call got no time_limit): work that only improves
    #: with time (an anytime bound) then keeps its own cap instead of filling the budget
    default: bool = False

    @property
    def deadline(self) -> float:
        return float("inf") if self.time_limit is None else self.start + self.time_limit

    def remaining(self) -> float:
        """Seconds left (``inf`` without a limit, never negative)."""
        return max(self.deadline - time.perf_counter(), 0.0)

    def expired(self) -> bool:
        return time.perf_counter() >= self.deadline

    def sub(self, fraction: float) -> Budget:
        """A budget for one stage: ``fraction`` of what remains (the same unlimited budget without a limit)."""
        if self.time_limit is None:
            return Budget(None)
        return Budget(fraction * self.remaining(), whole=self.whole or self.time_limit)

    def stop_reason(self) -> str:
        """The sentence a result's ``reason`` carries when this budget stopped the work."""
        return f"time_limit={self.whole or self.time_limit:g} s reached; the result is the best found by then"


#: The budget of the call in progress, for work deep inside a setting that has no budget argument
#: (a CVXPY solve is given the time that is left: see dualnet.settings._solve).
_CURRENT: ContextVar[Budget | None] = ContextVar("dualnet_budget", default=None)


@contextmanager
def within(budget: Budget) -> Iterator[Budget]:
    """Make ``budget`` the one :func:`current_budget` returns inside the ``with`` block."""
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def current_budget() -> Budget:
    """The budget set by the innermost :func:`within` (an unlimited one outside every block).

    Examples
    --------
    >>> with within(Budget(60.0)):
    ...     current_budget().time_limit
    60.0
    >>> current_budget().time_limit is None
    True
    """
    return _CURRENT.get() or Budget(None)


class Progress:
    """A one-line progress report of value, proven bound and gap, for runs longer than ``delay`` seconds.

    ``enabled=None`` reports only once the run has lasted ``delay`` seconds; True always;
    False never. Uses tqdm when installed, otherwise rewrites one line on standard error.
    """

    def __init__(self, what: str, enabled: bool | None = None, delay: float = 2.0) -> None:
        self.what, self.enabled, self.delay = what, enabled, delay
        self.start = time.perf_counter()
        self._bar: Any = None
        self._shown = False

    def _active(self) -> bool:
        if self.enabled is False:
            return False
        return bool(self.enabled) or time.perf_counter() - self.start >= self.delay

    def update(self, **fields: Any) -> None:
        """Show the latest figures (e.g. ``value=..., bound=..., gap=...``); floats print with 6 digits."""
        if not self._active():
            return
        text = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        if self._bar is None:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(desc=self.what, total=None, leave=False, bar_format="{desc}: {elapsed} {postfix}")
        if self._bar is not None:
            self._bar.set_postfix_str(text)
        else:
            elapsed = time.perf_counter() - self.start
            sys.stderr.write(f"\r{self.what}: {elapsed:.0f}s {text}\033[K")
            sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


#: seconds ``certify`` takes by default where the setting's ρ cannot be computed exactly (no
#: ``time_limit`` given): a proven bound, possibly loose, in about a minute instead of a search
#: without end (two-layer ReLU beyond enumeration). ``solve``'s default is the setting's own.
DEFAULT_TIME = {"certify": 60.0}


def default_budget(pb: Any, module: Any, where: str) -> tuple[Any, str]:
    """``pb`` with the default budget of ``where`` when it has no limit and ρ cannot be exact here.

    Returns the problem and the sentence a result's ``reason`` adds when that budget ran out
    ("" when no default applies).
    """
    from dataclasses import replace

    if pb.budget.time_limit is not None or not getattr(module, "rho_reason", lambda _: "")(pb):
        return pb, ""
    seconds = DEFAULT_TIME[where]
    note = (f"{where}'s default time budget of {seconds:g} s (rho cannot be computed exactly here) ran out; pass "
            "time_limit= to change it")
    return replace(pb, budget=Budget(seconds, default=True)), note
