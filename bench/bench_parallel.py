"""One search on two processes against one (issue 16 item 3): `--jobs 2` vs `--jobs 1`.

    .venv/bin/python bench/bench_parallel.py [--arch x86] [--only NAME] [--workers 2] [--model] [--ceiling]
    .venv/bin/python bench/bench_parallel.py --merge [--cluster local] [--arch x86] [--only NAME]

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
and the units, dealt to the workers in order as a pool deals them (each to the first free;
every SLICE_SECONDS, a search hands on what it leaves: the units are dealt from then),
until the last worker's finish: the ratio of the sequential search's CPU seconds to that.  A
model, marked as one, never a measurement.  It models fixed slices (a Ray cluster's); a pool's
searches split when a worker waits (litmus/parallel.py _Demand), which only the wall clock shows.

--ceiling adds, per scenario, what this machine gives two processes at once: the sequential
search run whole in --workers forked processes side by side, against one alone just before.
Each copy takes more wall and CPU time than one alone when the cores share caches, memory or a
host's hyperthreads; --workers times the one's seconds over the side-by-side seconds is the
speed-up a perfectly balanced split search with no overhead at all could reach here.

--merge checks each scenario with the merged search (issue 16 item 4) instead: `--jobs 1`, then
split on --workers processes, then, with --cluster ADDRESS (`local` starts Ray here), split on the
cluster with the visited set sharded over its actors, one after the other in the same run.  One
line each: executions, executions stopped at a state explored before, distinct final states,
seconds, whether it agrees with `--jobs 1` (verdict, final states, outcomes, counterexamples).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import time
from pathlib import Path

from ptelab.explore.dpor import Bounds, Exhaustive
from ptelab.explore import parallel
from ptelab.explore.parallel import begin, in_slices
from ptelab.litmus import load
from ptelab.litmus.check import Tally
from ptelab.litmus.parallel import _TESTS, SEQUENTIAL_FIRST, SLICE_SECONDS, explore_unit_tally

SCENARIOS = Path(__file__).parent / "scenarios"
ORDER = ("fault-3cpu-1page", "seed-mprotect-3cpu", "fault-2cpu-2pages", "change-protection-4pages")


def seen(r) -> tuple:
    return (r.verdict, set(r.states), set(r.outcomes), [(k, ce.schedule) for k, ce in r.counterexamples.items()])


class _Recorder:
    """A unit's handoff in the model: what it hands back, with the CPU seconds since `start`."""

    def __init__(self):
        self.start, self.handed = time.process_time(), []

    def put(self, message) -> None:
        self.handed.append((time.process_time() - self.start, message[3]))


def modelled(test, arch: str, workers: int) -> tuple[float, float]:
    """(the sequential search's CPU seconds, the split search's on `workers` idle cores): the
    sequential search's first SEQUENTIAL_FIRST seconds, then the subtree it goes on with on
    one core (in slices, handing on what it leaves), and the units, dealt to the first free
    core in the order they were handed on; a unit runs as a worker runs it, in slices, and the
    units it hands back are dealt from the moment it hands them.  Every part is timed in this
    process, in CPU seconds (the slices too)."""
    parallel._clock = time.process_time  # the slices as an idle core gives them
    start = time.process_time()
    Exhaustive(test.scenario, arch, Bounds()).run(Tally(test, True))
    sequential = time.process_time() - start
    start = time.process_time()
    tally = Tally(test, True)
    _, stopped = begin(test.scenario, arch, Bounds(), SEQUENTIAL_FIRST, tally)
    first = time.process_time() - start
    if stopped is None:
        return sequential, first
    key = (test.litmus.path, test.litmus.text, test.scenario.api)
    _TESTS[key] = test
    order, ready = itertools.count(), []  # (when it is handed on, its order, index, unit)
    parent = _Recorder()
    in_slices(test.scenario, arch, Bounds(), stopped, 0, SLICE_SECONDS, tally,
              lambda cut: parent.put((None, None, None, cut.units)), workers, lambda: Tally(test, True, schedules=True))
    for when, units in parent.handed:
        for unit in units:
            heapq.heappush(ready, (first + when, next(order), (next(order),), unit))
    free = [first + time.process_time() - parent.start] + [first] * (workers - 1)  # when each core is next free
    heapq.heapify(free)
    while ready:
        when, _, index, unit = heapq.heappop(ready)
        begins = max(heapq.heappop(free), when)
        record = _Recorder()
        explore_unit_tally((index, key, arch, Bounds(), True, unit, None, record, workers, None))
        heapq.heappush(free, begins + time.process_time() - record.start)
        for offset, units in record.handed:
            for unit in units:
                heapq.heappush(ready, (begins + offset, next(order), index + (next(order),), unit))
    return sequential, max(free)


_WHOLE: list = []  # (test, arch): what _whole checks, set before its processes are forked


def _whole(_) -> tuple[float, float]:
    """A forked process's copy of the whole sequential search: its wall and CPU seconds."""
    test, arch = _WHOLE
    start, cpu = time.perf_counter(), time.process_time()
    test.check(arch)
    return time.perf_counter() - start, time.process_time() - cpu


def ceiling(test, arch: str, workers: int) -> tuple[float, float, float]:
    """(one search alone, s; `workers` copies side by side, s; their mean CPU s), each in a
    forked process, one after the other."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    _WHOLE[:] = test, arch
    with context.Pool(1) as pool:
        alone, _ = pool.map(_whole, [0])[0]
    with context.Pool(workers) as pool:
        side = pool.map(_whole, range(workers), chunksize=1)
    return alone, max(wall for wall, _ in side), sum(cpu for _, cpu in side) / workers


def merged(names: list, arches: list, workers: int, cluster: str | None) -> None:
    """The merged search on one process, on `workers`, on the cluster: one line each."""
    print(f"| {'scenario':<26} | {'arch':<12} | {'where':<10} | {'executions':>10} | {'merged':>7} "
          f"| {'final states':>12} | {'s':>7} | {'same':<4} |")
    print(f"|{'-' * 28}|{'-' * 14}|{'-' * 12}|{'-' * 11}:|{'-' * 8}:|{'-' * 13}:|{'-' * 8}:|{'-' * 6}|")
    wheres = [("jobs 1", {}), (f"jobs {workers}", {"workers": workers})]
    if cluster is not None:
        from ptelab.explore.cluster import connect

        connect(cluster)
        wheres.append(("cluster", {"cluster": cluster}))
    for name in names:
        test = load(str(SCENARIOS / f"{name}.litmus"))
        for arch in arches:
            first = None
            for where, how in wheres:
                start = time.perf_counter()
                r = test.check(arch, merge=True, **how)
                seconds = time.perf_counter() - start
                first = first or seen(r)
                same = "yes" if seen(r) == first and r.complete else "NO"
                print(f"| {name:<26} | {arch:<12} | {where:<10} | {r.executions:>10,} | {r.merged:>7,} "
                      f"| {len(r.states):>12} | {seconds:>7.1f} | {same:<4} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="x86", help="comma list (default x86)")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the split search (default 2)")
    parser.add_argument("--model", action="store_true", help="also the CPU-time model of idle cores")
    parser.add_argument("--ceiling", action="store_true", help="also the whole search in --workers processes side by side")
    parser.add_argument("--merge", action="store_true", help="the merged search: one process, --workers, --cluster")
    parser.add_argument("--cluster", metavar="ADDRESS", help="with --merge: also on this Ray cluster (local: here)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {len(os.sched_getaffinity(0))} cores")
    if args.merge:
        merged(args.only or list(ORDER), args.arch.split(","), args.workers, args.cluster)
        return
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
            if args.ceiling:
                alone, side, cpu = ceiling(test, arch, args.workers)
                print(f"| {f'  {args.workers} side by side, ceiling':<26} | {arch:<12} | {'':>8} | {alone:>7.1f} "
                      f"| {f'cpu {cpu:.1f}':>8} | {side:>7.1f} | {'':<4} | {args.workers * alone / side:>7.2f}x |",
                      flush=True)


if __name__ == "__main__":
    main()
