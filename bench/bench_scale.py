"""The scale table of issue 16: searches that need a third CPU or a second page.

    .venv/bin/python bench/bench_scale.py [--arch x86,ppc64-6.12,ppc64-2.6.27] [--seconds 30] [--only NAME]

Each scenario of bench/scenarios/ (two CPUs fault on one page and on two, three CPUs fault on
one page, the seed's mprotect race with a third CPU writing, change_protection on four pages,
four CPUs fault on one page) is searched exhaustively (DPOR with sleep sets, debug mode on, one
core), each search capped at --seconds.  One line per scenario and architecture: executions,
executions a sleep set cut short, distinct final states, complete or the bound that cut it, and
seconds.  A search cut by --seconds is a lower bound of the work, never an "ok".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ptelab.explore.dpor import Bounds, Exhaustive
from ptelab.litmus import load

SCENARIOS = Path(__file__).parent / "scenarios"
ORDER = ("fault-2cpu-1page", "fault-2cpu-2pages", "fault-3cpu-1page", "seed-mprotect-3cpu",
         "change-protection-4pages", "fault-4cpu-1page")


def search(test, arch: str, seconds: float) -> tuple:
    """One exhaustive search: (executions, redundant, distinct final states, cut, seconds)."""
    finals = set()

    def seen(result):
        if result.final is not None:
            finals.add(repr(sorted(result.final.items())))

    start = time.perf_counter()
    s = Exhaustive(test.scenario, arch, Bounds(seconds=seconds)).run(seen)
    elapsed = time.perf_counter() - start
    cut = ", ".join(sorted(s.cut)) or "complete"
    return s.executions, s.redundant, len(finals), cut, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="x86,ppc64-6.12,ppc64-2.6.27", help="comma list (default: x86 and the ppc64 variants)")
    parser.add_argument("--seconds", type=float, default=30.0, help="cap on each search (default 30)")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    args = parser.parse_args()
    names = args.only or list(ORDER)
    print(f"| {'scenario':<26} | {'arch':<13} | {'executions':>10} | {'sleep-cut':>9} | {'final states':>12} "
          f"| {'search':<10} | {'s':>6} |")
    print(f"|{'-' * 28}|{'-' * 15}|{'-' * 11}:|{'-' * 10}:|{'-' * 13}:|{'-' * 12}|{'-' * 7}:|")
    for name in names:
        test = load(str(SCENARIOS / f"{name}.litmus"))
        for arch in args.arch.split(","):
            executions, redundant, finals, cut, seconds = search(test, arch, args.seconds)
            print(f"| {name:<26} | {arch:<13} | {executions:>10,} | {redundant:>9,} | {finals:>12} "
                  f"| {cut:<10} | {seconds:>6.1f} |", flush=True)


if __name__ == "__main__":
    main()
