"""One search on two processes against one (issue 16 item 3): `--jobs 2` vs `--jobs 1`.

    .venv/bin/python bench/bench_parallel.py [--arch x86] [--only NAME] [--workers 2]

Each scenario of bench/scenarios/ is checked as `ptelab litmus` checks one cell: the sequential
search (litmus/check.py), then the split search on --workers processes (litmus/parallel.py,
counterexample pass included), right after it in the same run.  One line per scenario:
executions and seconds of each, whether they agree (verdict, distinct final states, outcomes,
counterexamples), and the speed-up.  Meaningful for searches over 10 s, on a machine with
--workers idle cores.

Where the cores are shared (Linux's autogroup scheduling gives a session's processes one share
between them, however many they are: /proc/sys/kernel/sched_autogroup_enabled), the wall-clock
ratio measures the machine's load.  --model adds what the split search would take with
--workers idle cores, from CPU time, each part timed in this process: the sequential search's
first SEQUENTIAL_FIRST seconds and the split of what it left, then the subtree it goes on with
and the units, dealt to the workers in order as a pool deals them (each to the first free),
until the last worker's finish: the ratio of the sequential search's CPU seconds to that.  A
model, marked as one, never a measurement.
"""

from __future__ import annotations

import argparse
import heapq
import os
import time
from pathlib import Path

from ptelab.explore.dpor import Bounds, Exhaustive
from ptelab.explore.parallel import begin, explore_unit, path, resume, split
from ptelab.litmus import load
from ptelab.litmus.check import Tally
from ptelab.litmus.parallel import SEQUENTIAL_FIRST

SCENARIOS = Path(__file__).parent / "scenarios"
ORDER = ("fault-3cpu-1page", "seed-mprotect-3cpu", "fault-2cpu-2pages", "change-protection-4pages")


def seen(r) -> tuple:
    return (r.verdict, set(r.states), set(r.outcomes), [(k, ce.schedule) for k, ce in r.counterexamples.items()])


def modelled(test, arch: str, workers: int) -> tuple[float, float]:
    """(the sequential search's CPU seconds, the split search's on `workers` idle cores): the
    sequential search's first SEQUENTIAL_FIRST seconds, the split of what it left, then the
    subtree it goes on with (this process) and the units, dealt in order to the first free."""
    start = time.process_time()
    Exhaustive(test.scenario, arch, Bounds()).run(Tally(test, True))
    sequential = time.process_time() - start
    start = time.process_time()
    tally = Tally(test, True)
    _, stopped = begin(test.scenario, arch, Bounds(), SEQUENTIAL_FIRST, tally)
    if stopped is None:
        return sequential, time.process_time() - start
    cut = split(test.scenario, arch, Bounds(), workers, lambda: Tally(test, True, schedules=True), path=path(stopped))
    first = time.process_time() - start
    start = time.process_time()
    resume(stopped, cut.floor, tally)
    free = [0.0] * workers  # when each worker is next free
    heapq.heappush(free, heapq.heappop(free) + time.process_time() - start)
    for unit in cut.units:
        start = time.process_time()
        explore_unit(test.scenario, arch, Bounds(), unit, Tally(test, True, schedules=True))
        heapq.heappush(free, heapq.heappop(free) + time.process_time() - start)
    return sequential, first + max(free)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="x86", help="comma list (default x86)")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the split search (default 2)")
    parser.add_argument("--model", action="store_true", help="also the CPU-time model of idle cores")
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
            if args.model:
                sequential, split_time = modelled(test, arch, args.workers)
                print(f"| {'  model, CPU s':<26} | {arch:<12} | {'':>8} | {sequential:>7.1f} | {'':>8} "
                      f"| {split_time:>7.1f} | {'':<4} | {sequential / split_time:>7.2f}x |", flush=True)


if __name__ == "__main__":
    main()
