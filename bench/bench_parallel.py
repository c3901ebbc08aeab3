"""One search on two processes against one (issue 16 item 3): `--jobs 2` vs `--jobs 1`.

    .venv/bin/python bench/bench_parallel.py [--arch x86] [--only NAME] [--workers 2]

Each scenario of bench/scenarios/ is checked as `ptelab litmus` checks one cell: the sequential
search (litmus/check.py), then the split search on --workers processes (litmus/parallel.py,
counterexample pass included), right after it in the same run.  One line per scenario:
executions and seconds of each, whether they agree (verdict, distinct final states, outcomes,
counterexamples), and the speed-up.  Meaningful for searches over 10 s, on a machine with
--workers idle cores.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ptelab.litmus import load

SCENARIOS = Path(__file__).parent / "scenarios"
ORDER = ("fault-3cpu-1page", "seed-mprotect-3cpu", "fault-2cpu-2pages", "change-protection-4pages")


def seen(r) -> tuple:
    return (r.verdict, set(r.states), set(r.outcomes), [(k, ce.schedule) for k, ce in r.counterexamples.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="x86", help="comma list (default x86)")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the split search (default 2)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {len(os.sched_getaffinity(0))} cores")
    print(f"| {'scenario':<26} | {'arch':<12} | {'exec 1':>8} | {'s 1':>7} | {f'exec {args.workers}':>8} "
          f"| {f's {args.workers}':>7} | {'same':<4} | {'speed-up':>8} |")
    print(f"|{'-' * 28}|{'-' * 14}|{'-' * 9}:|{'-' * 8}:|{'-' * 9}:|{'-' * 8}:|{'-' * 6}|{'-' * 9}:|")
    for name in args.only or ORDER:
        test = load(str(SCENARIOS / f"{name}.litmus"))
        for arch in args.arch.split(","):
            start = time.perf_counter()
            one = test.check(arch)
            middle = time.perf_counter()
            many = test.check(arch, workers=args.workers)
            end = time.perf_counter()
            same = "yes" if seen(one) == seen(many) else "NO"
            print(f"| {name:<26} | {arch:<12} | {one.executions:>8,} | {middle - start:>7.1f} | {many.executions:>8,} "
                  f"| {end - middle:>7.1f} | {same:<4} | {(middle - start) / (end - middle):>7.2f}x |", flush=True)


if __name__ == "__main__":
    main()
