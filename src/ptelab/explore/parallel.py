"""One exhaustive search on several processes: the DPOR tree split by prefixes.

The tree the search explores (explore/dpor.py) is cut at its D-th fork: a path's D-th state
where more than one actor is awake (enabled and not asleep).  Depth alone would cut inside the
chains where one actor runs alone while the others sleep, and leave one unit holding most of
the tree (bench/bench_parallel.py --model: fault-3cpu-1page's largest unit 3.7 s of 11 s cut at a
depth, 1.3 s cut at a fork).  Above the cut, the *top*
search tries every enabled actor that is not asleep at every state (a superset of the
backtrack sets DPOR would compute there, so no race found below can ask for a choice at a
state above the cut that is not already tried); each state at the cut it reaches is a *unit*: the
path to it, with, at each state of the path, the actors already tried there (each with the
footprint of the step it took).  A unit is explored by an ordinary DPOR search whose first
states are pinned to the path: their sleep sets are computed from the actors tried before, as
the sequential search computes them, and the search never backtracks above the cut.  Units are
independent (a race a unit finds with a step above the cut asks for a choice the top search tried
anyway), so they can run anywhere in any order: in worker processes here, as Ray tasks on a
cluster (explore/cluster.py).  This is the partitioning of Simsa, Bryant and Gibson, "dBug:
systematic testing of unmodified distributed and multi-threaded systems" (SPIN 2011) and of
Yang, Chen, Gopalakrishnan, Kirby, "Distributed dynamic partial order reduction based
verification of threaded software" (SPIN 2007), made simpler by trying every actor above the
cut, which costs the executions DPOR would have skipped there and needs no report back.

Soundness: every state DPOR with sleep sets would explore below a state above the cut is explored
by the unit that holds it, with the same or a smaller sleep set (the top search tries more,
never less); tests/test_parallel.py compares the final states with naive enumeration on
random scenarios.  The number of executions differs from the sequential search's (more at
the top, and sleep sets made of other choices), the final states and outcomes do not.

An execution that ends above the cut (the scenario finished, or broke an invariant) is run by the
top search itself and handed on as usual; a unit's executions are handed on in the process
that ran it, which returns what it made of them (litmus/check.py sums the tallies).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .dpor import Bounds, Exhaustive, Search

UNITS_PER_WORKER = 16  # the cut is moved down until there are this many units a worker (load balance)
MAX_DEPTH = 24  # ... or this many forks deep


class _Top(Exhaustive):
    """The search above the `depth`-th fork: every awake enabled actor at every state; a state
    with more than one actor awake after `depth` forks is recorded as a unit (the path, and the
    actors tried at each state of it with the footprints of their steps) and the execution
    stops there."""

    def __init__(self, scenario, arch: str, bounds: Bounds, depth: int, **kw):
        super().__init__(scenario, arch, bounds, optimal=False, **kw)  # every actor: no wakeup trees
        self.depth = depth
        self.units: list[tuple] = []
        self.leftmost = False  # the first unit is the first execution's: the sequential search's first subtree

    def choose(self, ex, i: int, enabled: list[int]):
        new = i >= len(self.stack)
        if new and self._forks(i) == self.depth and len(self._awake(i, enabled)) > 1:
            if not self.units and self.search.executions == self.search.redundant == 0:
                self.leftmost = True
            self.units.append(tuple((frame.choice, dict(frame.done)) for frame in self.stack))
            return None
        choice = super().choose(ex, i, enabled)
        if new and choice is not None:
            frame = self.stack[-1]
            frame.backtrack = set(enabled)  # every actor: _next_prefix skips the asleep
        return choice


    def _awake(self, i: int, enabled) -> list[int]:
        sleep = self.sleep_at(i)
        return [p for p in enabled if p not in sleep]

    def _forks(self, i: int) -> int:
        """The states of the path before state i where more than one actor was awake."""
        return sum(len(frame.enabled) - len(frame.enabled & frame.sleep.keys()) > 1 for frame in self.stack[:i])


class Subtree(Exhaustive):
    """DPOR below one unit: its first states pinned to the unit's path."""

    def __init__(self, scenario, arch: str, bounds: Bounds, unit: tuple, **kw):
        super().__init__(scenario, arch, bounds, **kw)
        self.unit = unit

    def choose(self, ex, i: int, enabled: list[int]):
        if i >= len(self.stack) and i < len(self.unit):
            choice, done = self.unit[i]
            if super().choose(ex, i, enabled) is None:
                raise RuntimeError(f"a unit's state {i} has every actor asleep: the split is inconsistent")
            frame = self.stack[-1]
            if choice not in enabled or choice in frame.sleep:
                raise RuntimeError(f"a unit's step {i} ({choice}) cannot run there: the split is inconsistent")
            frame.choice, frame.done, frame.backtrack = choice, dict(done), set()
            return choice
        return super().choose(ex, i, enabled)

    def _next_prefix(self) -> bool:
        for frame in self.stack[:len(self.unit)]:  # never backtrack above the unit: the top did
            frame.backtrack, frame.wut = set(), []
        return super()._next_prefix()


@dataclass
class Split:
    units: list[tuple]  # each: per state of its path, (the actor that steps, {actor tried before: footprint})
    search: Search  # the top search's
    tally: object  # what its executions that ended above the cut were handed to
    leftmost: bool  # the first unit is the sequential search's first subtree (split's docstring)


def split(scenario, arch: str, bounds: Bounds, workers: int, tally, debug: bool = True,
          spin: bool | None = None) -> Split:
    """The units for `workers` workers (at least UNITS_PER_WORKER each, when the tree is that
    wide), the top search, and the tally (a fresh `tally()` per depth tried) its executions
    that ended above the cut were handed to, each as it ended (a result's world is the
    search's, put back in its initial state by the next execution).

    When the top search's first execution reached the cut (`leftmost`), the first unit
    is explored as the sequential search explores its first subtree, execution for execution:
    its pinned states are the sequential search's, with nothing tried before and nothing
    asleep, and DFS finishes a subtree before it backtracks above it."""
    depth = 1
    while True:
        top = _Top(scenario, arch, Bounds(max_steps=bounds.max_steps, preemptions=bounds.preemptions),
                   depth, debug=debug, spin=spin)
        on_result = tally()
        search = top.run(on_result)
        search.redundant -= len(top.units)  # stopped at the cut: not cut by a sleep set
        if len(top.units) >= UNITS_PER_WORKER * workers or not top.units or depth >= MAX_DEPTH \
                or not search.complete:
            return Split(top.units, search, on_result, top.leftmost)
        depth += 1


def explore_unit(scenario, arch: str, bounds: Bounds, unit: tuple, on_result, debug: bool = True,
                 spin: bool | None = None, deadline: float | None = None) -> Search:
    """Explore one unit; `deadline` (time.time()) replaces bounds.seconds, shared by every unit."""
    if deadline is not None:
        bounds = Bounds(max_steps=bounds.max_steps, preemptions=bounds.preemptions,
                        seconds=max(0.0, deadline - time.time()))
    return Subtree(scenario, arch, bounds, unit, debug=debug, spin=spin).run(on_result)


def add(total: Search, part: Search) -> None:
    """Sum a unit's search into the whole's (notes sorted: units finish in any order)."""
    total.executions += part.executions
    total.redundant += part.redundant
    total.probes += part.probes
    total.guessed += part.guessed
    total.infeasible += part.infeasible
    for name, count in part.cut.items():
        total.cut[name] = total.cut.get(name, 0) + count
    total.notes = sorted(set(total.notes) | set(part.notes))[:5]
    total.complete = not total.cut
