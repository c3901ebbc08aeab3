"""The explorer on the bundled litmus suite: speed and what the reduction saves.

    .venv/bin/python bench/bench_explore.py [--naive-limit 20000] [litmus/]

For every bundled test and every backend: the exhaustive search with DPOR and sleep
sets (executions, executions cut short by a sleep set, seconds), then naive
enumeration of every interleaving of the same scheduling points, bounded by
--naive-limit executions (a bounded count is shown as ">=").  Reported: complete
executions per second on one core, the wall time of the whole suite on all
backends, and the reduction factor (naive executions / DPOR executions).

Then the ceiling of a stateless explorer on this machine: every execution the search
made is run again from the initial state (restored from a checkpoint, as the search
does), its schedule fast-forwarded, with no analysis, no footprints and no
invariants.  That is what replaying costs by itself (putting the initial state back,
the model's own code, the scheduling points); no analysis, however cheap, makes a
replaying search faster than it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


class _Rerun:
    """A chooser that fast-forwards through one whole recorded execution."""

    def __init__(self, schedule, steps):
        self.schedule, self.steps = schedule, steps

    def prefix(self):
        return self.schedule, self.steps

    def choose(self, ex, i, enabled):
        return enabled[0]  # never reached: the prefix is the whole execution

    def executed(self, ex, i, actor, footprint):
        pass


def replay_ceiling(tests, arches) -> dict:
    """Executions/s of running each search's executions again with nothing but replay."""
    from ptelab.explore.dpor import Bounds, Exhaustive
    from ptelab.explore.execution import Execution, InitialState

    count, seconds = {}, {}
    for test in tests:
        for arch in arches:
            runs = []
            Exhaustive(test.scenario, arch, Bounds()).run(lambda r: runs.append((r.schedule, r.steps)))
            initial = InitialState()  # restored from a checkpoint, as the search does
            start = time.process_time()
            for schedule, steps in runs:
                Execution(test.scenario, arch, _Rerun(schedule, steps), initial=initial).run()
            seconds[arch] = seconds.get(arch, 0.0) + time.process_time() - start
            count[arch] = count.get(arch, 0) + len(runs)
    return {arch: count[arch] / seconds[arch] for arch in arches}


def main() -> int:
    from ptelab.arch import ARCHES
    from ptelab.explore.dpor import Bounds
    from ptelab.litmus import find, load

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=["litmus"])
    parser.add_argument("--naive-limit", type=int, default=20000)
    args = parser.parse_args()
    tests = [load(path) for path in find(args.paths)]
    rows, factors = [], []
    total_ex = total_red = 0
    start = time.perf_counter()
    dpor_seconds = 0.0
    per_arch: dict[str, list[float]] = {arch: [0, 0.0] for arch in ARCHES}
    for test in tests:
        for arch in ARCHES:
            r = test.check(arch)
            total_ex += r.executions
            total_red += r.redundant
            dpor_seconds += r.seconds
            per_arch[arch][0] += r.executions
            per_arch[arch][1] += r.seconds
            rows.append([test.name, arch, r.executions, r.redundant, r.seconds])
    suite = time.perf_counter() - start
    for row, (test, arch) in zip(rows, [(t, a) for t in tests for a in ARCHES]):
        naive = test.check(arch, naive=True, bounds=Bounds(executions=args.naive_limit))
        row += [naive.executions, naive.complete]
        factors.append(naive.executions / max(1, row[2]))
    print(f"{'test':32} {'arch':13} {'DPOR':>6} {'sleep':>6} {'naive':>8} {'factor':>8}")
    for name, arch, ex, red, _, naive, complete in rows:
        mark = "" if complete else ">="
        print(f"{name:32} {arch:13} {ex:>6} {red:>6} {mark + str(naive):>8} {mark + f'{naive / max(1, ex):.0f}x':>8}")
    print()
    print(f"suite: {len(tests)} tests x {len(ARCHES)} backends exhaustively in {suite:.2f} s")
    print(f"DPOR: {total_ex} executions (+{total_red} cut short by sleep sets) in {dpor_seconds:.2f} s: "
          f"{total_ex / dpor_seconds:,.0f} executions/s, {(total_ex + total_red) / dpor_seconds:,.0f} runs/s")
    print("per backend: " + ", ".join(f"{arch} {n / secs:,.0f}/s" for arch, (n, secs) in per_arch.items()))
    ceiling = replay_ceiling(tests, ARCHES)
    print("replay alone (the same executions, fast-forwarded, no analysis): "
          + ", ".join(f"{arch} {rate:,.0f}/s" for arch, rate in ceiling.items()))
    cut = sum(1 for r in rows if not r[6])
    print(f"reduction factor: median {statistics.median(factors):.0f}x, geometric mean "
          f"{statistics.geometric_mean(factors):.0f}x ({cut} of {len(rows)} naive searches stopped at "
          f"{args.naive_limit} executions: their factors are lower bounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
