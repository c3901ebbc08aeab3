"""The scale table of issue 16: searches that need a third CPU or a second page.

    .venv/bin/python bench/bench_scale.py [--arch x86,ppc64-6.12,ppc64-2.6.27] [--seconds 30] [--only NAME]

Each scenario of bench/scenarios/ (two CPUs fault on one page and on two, three CPUs fault on
one page, the seed's mprotect race with a third CPU writing, change_protection on four pages,
four CPUs fault on one page) is searched exhaustively (DPOR with sleep sets, debug mode on, one
core), each search capped at --seconds.  One line per scenario and architecture: executions,
executions a sleep set cut short, distinct final states, complete or the bound that cut it,
seconds, CPU seconds, executions per CPU second (the machine is shared: the cap is
wall-clock) and the share of the steps run that were a prefix replayed (Search.replayed).  A search cut by --seconds is a lower bound of the work, never an "ok".

With --classic each search is also run with classic DPOR (explore/dpor.py `optimal=False`:
Flanagan and Godefroid's backtrack sets instead of wakeup trees), row after row, to compare
executions and runs cut by sleep sets.

With --merge each search is also run merged (explore/dpor.py `merge=True`: equal states are
recognised and not explored again), right after the stateless one: two rows per scenario and
architecture, "runs" counting the executions the merged search stopped at an explored state
("merged") and "states" the distinct states it fingerprinted.
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


def search(test, arch: str, seconds: float, merge: bool = False, optimal: bool = True) -> tuple:
    """One exhaustive search: (the Search, distinct final states, cut, seconds, CPU seconds)."""
    finals = set()

    def seen(result):
        if result.final is not None:
            finals.add(repr(sorted(result.final.items())))

    start, cpu = time.perf_counter(), time.process_time()
    s = Exhaustive(test.scenario, arch, Bounds(seconds=seconds), merge=merge, optimal=optimal).run(seen)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    cut = ", ".join(sorted(s.cut)) or "complete"
    return s, len(finals), cut, elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="x86,ppc64-6.12,ppc64-2.6.27", help="comma list (default: x86 and the ppc64 variants)")
    parser.add_argument("--seconds", type=float, default=30.0, help="cap on each search (default 30)")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--merge", action="store_true", help="also the merged search, row after row")
    parser.add_argument("--classic", action="store_true", help="also classic DPOR, row after row")
    args = parser.parse_args()
    names = args.only or list(ORDER)
    modes = ["DPOR"] + (["classic"] if args.classic else []) + (["merged"] if args.merge else [])
    print(f"| {'scenario':<26} | {'arch':<16} | {'search':<7} | {'executions':>10} | {'sleep-cut':>9} | {'merged':>7} "
          f"| {'states':>7} | {'final states':>12} | {'cut':<10} | {'s':>6} | {'CPU s':>6} | {'exec/CPU s':>10} "
          f"| {'replayed':>8} |")
    print(f"|{'-' * 28}|{'-' * 18}|{'-' * 9}|{'-' * 11}:|{'-' * 10}:|{'-' * 8}:|{'-' * 8}:|{'-' * 13}:|{'-' * 12}|"
          f"{'-' * 7}:|{'-' * 7}:|{'-' * 11}:|{'-' * 9}:|")
    for name in names:
        test = load(str(SCENARIOS / f"{name}.litmus"))
        for arch in args.arch.split(","):
            for mode in modes:
                s, finals, cut, seconds, cpu = search(test, arch, args.seconds, mode == "merged", mode != "classic")
                print(f"| {name:<26} | {arch:<16} | {mode:<7} | {s.executions:>10,} "
                      f"| {s.redundant:>9,} | {s.merged:>7,} | {s.states:>7,} | {finals:>12} | {cut:<10} "
                      f"| {seconds:>6.1f} | {cpu:>6.1f} | {s.executions / max(cpu, 1e-9):>10,.0f} "
                      f"| {s.replayed / max(s.steps, 1):>8.0%} |", flush=True)


if __name__ == "__main__":
    main()
