"""Random schedules for scenarios too large to exhaust: PCT (Burckhardt, Kothari,
Musuvathi, Nagarakatte, ASPLOS 2010).

Each run gives the actors distinct random priorities and picks `depth - 1` random
change points among the first `length` steps; at every step the enabled actor with
the highest priority runs, and at the j-th change point the running actor drops to
priority j.  A bug of depth d is found by one run with probability at least
1/(n * length^(d-1)) for n actors.  Run r of seed s uses random.Random(f"{s}:{r}"),
so a seed reproduces the whole series, and every counterexample also prints its
schedule for --replay.

Every bound is honoured: `runs` and `executions` (whichever is smaller) cap the runs,
`preemptions` caps the switches away from a running actor that could go on (the
schedule then runs that actor on, and the cut is counted), `max_steps` and `seconds`
as in the exhaustive search.  A sample is never complete.
"""

from __future__ import annotations

import time

from .dpor import Bounds, Search
from .execution import Execution, InitialState


class PCT:
    def __init__(self, scenario, arch: str, bounds: Bounds, seed: int = 0, runs: int = 1000,
                 depth: int = 3, debug: bool = True, progress=None):
        self.scenario = scenario
        self.progress = progress  # called with the Search now and then (dpor.Search.tick)
        self.arch = arch
        self.bounds = bounds
        self.seed = seed
        self.runs = runs
        self.depth = depth
        self.debug = debug
        self.length = 50  # steps over which change points are drawn; learnt from the first run
        self.initial = InitialState()

    def _prepare(self, run: int) -> None:
        import random  # not imported by the exhaustive search

        rng = random.Random(f"{self.seed}:{run}")
        n = len(self.scenario.actor_names())
        priorities = list(range(self.depth, self.depth + n))
        rng.shuffle(priorities)
        self.priority = priorities
        self.changes = {rng.randrange(1, self.length + 1): j for j in range(1, self.depth)}

    def choose(self, ex: Execution, i: int, enabled: list[int]):
        j = self.changes.get(i)
        previous = ex.schedule[-1] if ex.schedule else None
        if j is not None and previous is not None:
            self.priority[previous] = j - self.depth  # below every initial priority
        choice = max(enabled, key=self.priority.__getitem__)
        limit = self.bounds.preemptions
        if limit is not None and previous in enabled and choice != previous:
            if self.preempted >= limit:
                self.bounded = True
                return previous
            self.preempted += 1
        return choice

    def executed(self, ex, i, actor, footprint) -> None:
        pass

    def run(self, on_result) -> Search:
        search = Search(complete=False, progress=self.progress)
        bounds = self.bounds
        start = search.start
        deadline = None if bounds.seconds is None else start + bounds.seconds
        runs = self.runs
        if bounds.executions is not None and bounds.executions < runs:
            runs = bounds.executions
            search.cut["executions"] = 1
        for run in range(runs):
            self._prepare(run)
            self.preempted, self.bounded = 0, False
            result = Execution(self.scenario, self.arch, self, max_steps=bounds.max_steps,
                               debug=self.debug, initial=self.initial, deadline=deadline).run()
            self.length = max(self.length if run else 1, len(result.steps))
            if self.bounded:
                search.cut["preemptions"] = search.cut.get("preemptions", 0) + 1
            if result.cut == "seconds":
                search.cut["seconds"] = 1
                break
            search.count(result)
            on_result(result)
            if search.progress is not None:
                search.tick()
            if deadline is not None and time.perf_counter() > deadline:
                search.cut["seconds"] = 1
                break
        search.seconds = time.perf_counter() - start
        return search
