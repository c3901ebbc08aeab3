"""What replaying prefixes costs, against what not replaying them would cost (issue 16, item 2).

    .venv/bin/python bench/bench_replay.py [--arch ppc64-6.12] [--only NAME] [--forks 200]

The exhaustive search is stateless: each execution puts the initial state back from a
checkpoint (explore/checkpoint.py) and runs the prefix it shares with the one before again,
fast-forwarded (no stop at a point, no footprint, no check: Execution._replay).  For each
scenario (bench/scenarios/ and the seed's race, by default), one complete search, one core:

- steps run, and the share of them replayed (Search.steps, Search.replayed);
- CPU seconds of the search, and the share of it spent replaying (Execution._replay timed);
- microseconds per replayed step;
- the share of the replayed steps a world snapshot could have replaced: one taken at the
  deepest step of each prefix where no actor is mid-way (an actor's greenlet cannot be saved).

Then what each way of *not* replaying would pay for one backtrack, in this process after the
searches (the world and interpreter as a search has them):

- putting a whole world back from a checkpoint (Checkpoint.restore), per restore;
- taking a checkpoint of a world (Checkpoint(world)), per take;
- a fork of this process that exits at once, waited for (os.fork), per fork.

A greenlet cannot be copied (the greenlet package has no such operation, and a running
Python frame cannot be cloned), so an actor stopped mid-way can only be brought back to a
point by running its code again from the start against the same world: a backtrack point's
actors are reached by replay or by a process forked there.  The script prints one Markdown
table per part.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ptelab.explore.checkpoint import Checkpoint
from ptelab.explore import execution as execution_module
from ptelab.explore.dpor import Bounds, Exhaustive
from ptelab.litmus import load

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"seed-mprotect": (ROOT / "litmus" / "seed-mprotect.litmus", "ppc64-2.6.27"),
             **{name: (ROOT / "bench" / "scenarios" / f"{name}.litmus", None)
                for name in ("fault-2cpu-2pages", "fault-3cpu-1page", "seed-mprotect-3cpu")}}


class Timed:
    """Wraps a function of a class to add up its calls' CPU time (and count them)."""

    def __init__(self, owner, name: str):
        self.owner, self.name, self.calls, self.seconds = owner, name, 0, 0.0
        self.original = original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - start
                self.calls += 1
        setattr(owner, name, timed)

    def reset(self) -> None:
        self.calls, self.seconds = 0, 0.0


def searches(names: list[str], arch: str) -> None:
    replay = Timed(execution_module.Execution, "_replay")
    runs = Runs()
    print("| scenario | arch | executions | steps | replayed steps | CPU s | replaying | µs per replayed step "
          "| replay a snapshot where no actor is mid-way would skip |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        path, own_arch = SCENARIOS[name]
        test = load(str(path))
        replay.reset()
        runs.reset()
        start = time.process_time()
        search = Exhaustive(test.scenario, own_arch or arch, Bounds()).run(lambda result: None)
        cpu = time.process_time() - start
        print(f"| {name} | {own_arch or arch} | {search.executions:,} | {search.steps:,} "
              f"| {search.replayed / search.steps:.0%} | {cpu:.2f} | {replay.seconds / cpu:.0%} "
              f"| {replay.seconds / max(search.replayed, 1) * 1e6:.1f} "
              f"| {runs.quiescent_share():.1%} |", flush=True)


class Runs:
    """Each execution's schedule, the actors it left unfinished and the prefix it replayed:
    how much of each prefix a world snapshot could have replaced.  Only at a step where no
    actor is mid-way (each one that has stepped has finished) does a world snapshot hold the
    whole state, since an actor's greenlet cannot be saved; the deepest such step of each
    prefix bounds what it could skip."""

    def __init__(self):
        self.runs: list[tuple[list[int], set[int], int]] = []
        run = execution_module.Execution.run

        def recorded(ex):
            result = run(ex)
            self.runs.append((list(ex.schedule), {a.index for a in ex.unfinished}, ex.prefix_length))
            return result
        execution_module.Execution.run = recorded

    def reset(self) -> None:
        self.runs.clear()

    def quiescent_share(self) -> float:
        skipped = replayed = 0
        for (schedule, unfinished, _), (_, _, prefix) in zip(self.runs, self.runs[1:]):
            replayed += prefix
            skipped += _quiescent(schedule, unfinished, prefix)
        return skipped / max(replayed, 1)


def _quiescent(schedule: list[int], unfinished: set[int], prefix: int) -> int:
    """The deepest step q <= prefix of the schedule at which every actor that stepped before
    q had taken its last step (0 if none)."""
    last = {actor: k for k, actor in enumerate(schedule)}
    started: set[int] = set()
    deepest = 0
    for q in range(1, prefix + 1):
        started.add(schedule[q - 1])
        if all(actor not in unfinished and last[actor] < q for actor in started):
            deepest = q
    return deepest


def alternatives(arch: str, forks: int) -> None:
    """What one backtrack would cost each other way, on the world of fault-3cpu-1page."""
    test = load(str(SCENARIOS["fault-3cpu-1page"][0]))
    chooser = Exhaustive(test.scenario, arch, Bounds(executions=2000))
    chooser.run(lambda result: None)
    saved = chooser.initial.checkpoint
    world = saved.restore()
    print("\n| a backtrack without replay would need | µs each |")
    print("|---|---:|")
    print(f"| Checkpoint.restore (whole world) | {_each(saved.restore, 1000) * 1e6:.0f} |")
    print(f"| Checkpoint(world) (take) | {_each(lambda: Checkpoint(world), 100) * 1e6:.0f} |")
    print(f"| os.fork + exit + wait | {_each(_fork, forks) * 1e6:.0f} |")


def _each(call, times: int) -> float:
    """Seconds per call, wall clock (a fork's child runs in its own process)."""
    start = time.perf_counter()
    for _ in range(times):
        call()
    return (time.perf_counter() - start) / times


def _fork() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="ppc64-6.12", help="the backend of bench/scenarios' searches")
    parser.add_argument("--only", action="append", choices=list(SCENARIOS), help="this scenario only (repeatable)")
    parser.add_argument("--forks", type=int, default=200, help="forks timed (default 200)")
    args = parser.parse_args()
    searches(args.only or list(SCENARIOS), args.arch)
    alternatives(args.arch, args.forks)


if __name__ == "__main__":
    main()
