"""Random schedules for scenarios too large to exhaust: PCT (Burckhardt, Kothari,
Musuvathi, Nagarakatte, ASPLOS 2010).

Each run gives the actors distinct random priorities and picks `depth - 1` random
change points among the first `length` steps; at every step the enabled actor with
the highest priority runs, and at the j-th change point the running actor drops to
priority j.  A bug of depth d is found by one run with probability at least
1/(n * length^(d-1)) for n actors.  Run r of seed s uses random.Random(f"{s}:{r}"),
so a seed reproduces the whole series, and every counterexample also prints its
schedule for --replay.
"""

from __future__ import annotations

import random
import time

from .dpor import Bounds, Search
from .execution import Execution, InitialState


class PCT:
    def __init__(self, scenario, arch: str, bounds: Bounds, seed: int = 0, runs: int = 1000,
                 depth: int = 3, debug: bool = True):
        self.scenario = scenario
        self.arch = arch
        self.bounds = bounds
        self.seed = seed
        self.runs = runs
        self.depth = depth
        self.debug = debug
        self.length = 50  # steps over which change points are drawn; learnt from the first run
        self.initial = InitialState()

    def _prepare(self, run: int) -> None:
        rng = random.Random(f"{self.seed}:{run}")
        n = len(self.scenario.actor_names())
        priorities = list(range(self.depth, self.depth + n))
        rng.shuffle(priorities)
        self.priority = priorities
        self.changes = {rng.randrange(1, self.length + 1): j for j in range(1, self.depth)}

    def choose(self, ex: Execution, i: int, enabled: list[int]):
        j = self.changes.get(i)
        if j is not None and ex.schedule:
            self.priority[ex.schedule[-1]] = j - self.depth  # below every initial priority
        return max(enabled, key=self.priority.__getitem__)

    def executed(self, ex, i, actor, footprint) -> None:
        pass

    def run(self, on_result) -> Search:
        search = Search(complete=False)
        start = time.perf_counter()
        for run in range(self.runs):
            self._prepare(run)
            result = Execution(self.scenario, self.arch, self, max_steps=self.bounds.max_steps,
                               debug=self.debug, initial=self.initial).run()
            self.length = max(self.length if run else 1, len(result.steps))
            search.executions += 1
            if result.cut:
                search.cut[result.cut] = search.cut.get(result.cut, 0) + 1
            on_result(result)
            if self.bounds.seconds is not None and time.perf_counter() - start > self.bounds.seconds:
                search.cut["seconds"] = 1
                break
        search.seconds = time.perf_counter() - start
        return search
