"""The explorer on the bundled litmus suite: speed and what the reduction saves.

    .venv/bin/python bench/bench_explore.py [--naive-limit 20000] [litmus/]

For every bundled test and every backend: the exhaustive search with DPOR and sleep
sets (executions, executions cut short by a sleep set, seconds), then naive
enumeration of every interleaving of the same scheduling points, bounded by
--naive-limit executions (a bounded count is shown as ">=").  Reported: complete
executions per second on one core, the wall time of the whole suite on all
backends, and the reduction factor (naive executions / DPOR executions).

Then where the time of a run goes, per backend: every execution the search made is
run again from the initial state (restored from a checkpoint, as the search does), its
schedule fast-forwarded, with no analysis, no footprints and no invariants.  That is
what replaying costs by itself (putting the initial state back, the model's own code,
the scheduling points): no analysis, however cheap, makes a replaying search faster
than it.  The difference from the search's time, divided by the new steps (the ones
after the state a run branches from), is what analysing a new step costs: its race
analysis, sleep set, invariants, footprint and the switches to the controller.
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


def _counted(exhaustive_class):
    class Counted(exhaustive_class):
        """The search, counting the steps it replays and the new steps it analyses."""
        replayed = new = 0

        def prefix(self):
            choices, steps = super().prefix()
            self.replayed += len(choices)
            return choices, steps

        def executed(self, ex, i, actor, footprint):
            self.new += 1
            super().executed(ex, i, actor, footprint)
    return Counted


def costs(tests, arches) -> dict:
    """Per backend, over the suite: the search's executions and steps (replayed or new)
    with its seconds, and the seconds of running the same executions again with nothing
    but replay (restored from a checkpoint and fast-forwarded, as the search does)."""
    from ptelab.explore.dpor import Bounds, Exhaustive
    from ptelab.explore.execution import Execution, InitialState

    counted = _counted(Exhaustive)
    totals = {arch: dict(executions=0, replayed=0, new=0, search=0.0, rerun=0, replay=0.0) for arch in arches}
    for test in tests:
        for arch in arches:
            t = totals[arch]
            runs = []
            search = counted(test.scenario, arch, Bounds())
            start = time.process_time()
            found = search.run(lambda r: runs.append((r.schedule, r.steps)))
            t["search"] += time.process_time() - start
            t["executions"] += found.executions + found.redundant
            t["replayed"] += search.replayed
            t["new"] += search.new
            initial = InitialState()
            start = time.process_time()
            for schedule, steps in runs:
                Execution(test.scenario, arch, _Rerun(schedule, steps), initial=initial).run()
            t["replay"] += time.process_time() - start
            t["rerun"] += len(runs)
    return totals


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
    print("where the time goes, per backend (runs include those a sleep set cut short):")
    for arch, t in costs(tests, ARCHES).items():
        run_us = t["search"] / t["executions"] * 1e6
        replay_us = t["replay"] / t["rerun"] * 1e6
        steps, new = (t["replayed"] + t["new"]) / t["executions"], t["new"] / t["executions"]
        print(f"  {arch}: {run_us:.0f} us a run, {steps:.1f} steps of which {new:.1f} new; the same runs "
              f"replayed alone {replay_us:.0f} us ({1e6 / replay_us:,.0f}/s); so the analysis of a new "
              f"step costs {(run_us - replay_us) / new:.1f} us, and a replayed step with its share of "
              f"the restore {replay_us / steps:.1f} us")
    cut = sum(1 for r in rows if not r[6])
    print(f"reduction factor: median {statistics.median(factors):.0f}x, geometric mean "
          f"{statistics.geometric_mean(factors):.0f}x ({cut} of {len(rows)} naive searches stopped at "
          f"{args.naive_limit} executions: their factors are lower bounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
