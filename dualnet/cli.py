"""The ``dualnet`` command line (also ``python -m dualnet``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from . import __version__
from .errors import InputError, SettingError, SolverError


def _demo(args: argparse.Namespace) -> int:
    """Solve one built-in problem per setting and print each certificate."""
    from .api import solve
    from .datasets import DEMOS
    from .settings import SETTINGS

    header = f"{'setting':<16}{'depth':>6}{'value':>15}{'lower bound':>15}{'rel. gap':>11}{'certified':>11}{'time':>9}"
    print(f"dualnet {__version__}: one built-in problem per setting\n")
    print(header)
    print("-" * len(header))
    failures = 0
    for name, make, kwargs in DEMOS:
        if name not in SETTINGS:          # a setting this version does not provide
            continue
        X, y = make()
        start = time.perf_counter()
        try:
            sol = solve(X, y, setting=name, **kwargs)
        except (SolverError, SettingError) as err:
            failures += 1
            print(f"{name:<16}{kwargs.get('depth', 2):>6}  failed: {err}")
            continue
        print(f"{name:<16}{sol.depth:>6}{sol.value:>15.8g}{sol.lower_bound:>15.8g}{sol.rel_gap:>11.2e}"
              f"{'yes' if sol.certified else 'no':>11}{time.perf_counter() - start:>8.2f}s")
        if args.verbose:
            print("   ", sol.method, "|", sol.reason or sol.reference)
    print("\nA result is certified when the duality gap is at most tol relative to P(0) and the dual "
          "feasibility was computed exactly.")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dualnet", description="Globally optimal regularized neural "
                                     "networks by convex duality, with a certificate.")
    parser.add_argument("--version", action="version", version=f"dualnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="solve one built-in problem per setting and print the certificates")
    demo.add_argument("-v", "--verbose", action="store_true", help="also print the method and reference")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dualnet`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as err:
        print(f"dualnet: error: {err}", file=sys.stderr)
        return 2
    except SolverError as err:
        print(f"dualnet: solver failure: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
