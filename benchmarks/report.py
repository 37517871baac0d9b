"""Turn a pytest-benchmark JSON file into docs/benchmarks.md.

Usage::

    pytest benchmarks --benchmark-only --benchmark-json=bench.json
    python benchmarks/report.py bench.json [docs/benchmarks.md]

Times in one group are shown as ratios to that group's decomposition (the floor of an exact
method) when the group has one, all measured in the same run.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from dualnet._io import write_atomic

COMMAND = ("pytest benchmarks --benchmark-only --benchmark-json=bench.json && "
           "python benchmarks/report.py bench.json")


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _vs_certified(extra: dict) -> str:
    """A training row against the certified optimum: when it got within 1e-3·P(0), else where it stalled."""
    if extra.get("time_to_1e-3") is not None:
        return f"reached 1e-3 in {_fmt_time(extra['time_to_1e-3'])}"
    if extra.get("stalled_rel_gap") is not None:
        return f"stalls at rel. gap {extra['stalled_rel_gap']:.1e}"
    return "diverged" if "stalled_rel_gap" in extra else "–"


def render(data: dict) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench.get("group") or bench["name"]].append(bench)
    info = data.get("machine_info", {})
    lines = ["# Benchmarks", "",
             f"Machine: {info.get('cpu', {}).get('brand_raw', info.get('processor', '?'))}, "
             f"{info.get('cpu', {}).get('count', '?')} cores, Python {info.get('python_version', '?')}; "
             f"BLAS pinned to one thread. Run on {data.get('datetime', '?')[:10]}.", "",
             f"Command: `{COMMAND}`", "",
             "Time is the mean over rounds (one round for solves of tens of seconds). *ratio* divides it by "
             "the decomposition of X measured in the same run; *value* is the objective of the network found; "
             "*rel. gap* is the relative duality gap the run reached (an *estimate*, not a proof, where the "
             "dual feasibility could not be computed exactly), so speed is never shown without the accuracy "
             "it bought. *vs program optimum* compares solvers of the same restricted program (sampled "
             "patterns) with its optimum, relative to P(0). *vs certified optimum* says when a PyTorch "
             "training run first came within 1e-3·P(0) of dualnet's certified optimum, or the relative gap "
             "(value − optimum)/P(0) it stalled at after its fixed step budget (its time is the whole run). "
             "Every benchmark asserts what it timed (benchmarks/benchutil.py): a certified result, and the "
             "certified optimum's value to the solver's accuracy (1e-6·P(0); 1e-3·P(0) for SCS), so a run that "
             "returned a wrong answer fails instead of reporting a time.", ""]
    for group in sorted(groups):
        rows = groups[group]
        floor = next((b["stats"]["mean"] for b in rows if b["extra_info"].get("kind") == "decomposition"), None)
        vs_program = any("rel_gap_to_program" in b["extra_info"] for b in rows)
        head = "| method | time | ratio | value | rel. gap | certified |"
        head += " vs program optimum |" if vs_program else ""
        vs_certified = any("stalled_rel_gap" in b["extra_info"] for b in rows)
        head += " vs certified optimum |" if vs_certified else ""
        lines += [f"## {group}", "", head, "|" + "---|" * (head.count("|") - 1)]
        for b in sorted(rows, key=lambda b: b["stats"]["mean"]):
            extra = b["extra_info"]
            ratio = f"{b['stats']['mean'] / floor:.2f}" if floor else "–"
            value = f"{extra['value']:.8g}" if extra.get("value") is not None else "–"
            gap = f"{extra['rel_gap']:.1e}" if "rel_gap" in extra else "–"
            if "rel_gap" in extra and extra.get("exact") is False:
                gap += " (estimate)"
            cert = {True: "yes", False: "no"}.get(extra.get("certified"), "–")
            name, seconds = extra.get("kind", b["name"]), _fmt_time(b["stats"]["mean"])
            row = f"| {name} | {seconds} | {ratio} | {value} | {gap} | {cert} |"
            if vs_program:
                row += f" {extra['rel_gap_to_program']:.1e} |" if "rel_gap_to_program" in extra else " – |"
            if vs_certified:
                row += f" {_vs_certified(extra)} |"
            lines.append(row)
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
    text = render(json.loads(Path(argv[0]).read_text()))
    write_atomic(out, lambda fh: fh.write(text.encode()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
