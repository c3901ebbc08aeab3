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

Merged (`merge=True`, explore/dpor.py's stateful search): the units, and a stopped search
going on with its own subtree (resume, each slice), are merged searches, and may share one
visited set (explore/visited.py, where why that is sound is written); the top searches are not
merged (they try every awake actor, and a state above a cut is explored by several units).  No
state of a unit's pinned path, nor of a resumed search's path above its floor, is ever
published: their subtrees are shared out.

An execution that ends above the cut (the scenario finished, or broke an invariant) is run by the
top search itself and handed on as usual; a unit's executions are handed on in the process
that ran it, which returns what it made of them (litmus/check.py sums the tallies).

A cut at a fork still leaves some units far larger than others (seed-mprotect-3cpu on
ppc64-6.12: one unit 10.2 CPU s of 16.6, so two workers could not beat 1.64x), and no cut
made before exploring knows which.  So a search is explored in slices (in_slices): each time
one passes, what the search has not explored yet is split again below its own path, as the
sequential search is at the start (split's `path` and `floor`), and the units are handed on
to whoever is free, while the search goes on with the subtree it is in; a large unit ends up
spread over every worker, and nothing is explored twice.  Few units a split
(UNITS_PER_WORKER): each split's top search costs executions, and slices balance the rest.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .dpor import Bounds, Exhaustive, Search

UNITS_PER_WORKER = 2  # the cut is moved down until there are this many units a worker (slices balance the rest)
HUNGRY_AFTER = 0.2  # seconds a search runs at least before it splits because a worker waits (in_slices' `hungry`)
MAX_DEPTH = 24  # ... or this many forks deep


def _clock() -> float:
    return time.perf_counter()


class _Pinned(Exhaustive):
    """A search whose first states are pinned to `path` (per state: the actor that steps, the
    actors tried before with the footprints of their steps, and the sleep set, each with its
    step's footprint) and which never backtracks above state `floor`."""

    def __init__(self, scenario, arch: str, bounds: Bounds, path: tuple = (), floor: int = 0, **kw):
        super().__init__(scenario, arch, bounds, **kw)
        self.path, self.floor = path, floor

    def on_path(self, i: int) -> bool:
        """Whether state i being made is the path's (a Subtree never leaves it)."""
        return i < len(self.path)

    def sleep_at(self, i: int) -> dict:
        if self.on_path(i):  # as it was where the path was taken (the sequential search's, _Top's)
            return dict(self.path[i][2])
        return super().sleep_at(i)

    def _pin(self, i: int, enabled: list[int]) -> int:
        """The pinned state i, its frame just made by Exhaustive.choose: the path's step."""
        choice, done, _ = self.path[i]
        frame = self.stack[-1] if len(self.stack) > i else None
        if frame is None or choice not in enabled or choice in frame.sleep:
            raise RuntimeError(f"a pinned step {i} ({choice}) cannot run there: the split is inconsistent")
        frame.choice, frame.done = choice, dict(done)
        return choice

    def _next_prefix(self) -> bool:
        for frame in self.stack[:self.floor]:  # never backtrack above the floor: others do
            frame.backtrack, frame.wut = set(), []
        return super()._next_prefix()


class _Top(_Pinned):
    """The search above the `depth`-th fork: every awake enabled actor at every state; a state
    with more than one actor awake after `depth` forks is recorded as a unit (the path, and the
    actors tried and asleep at each state of it, with the footprints of their steps) and the
    execution stops there.  With a `path` (the sequential search's, stopped: begin()), its first
    execution follows it, each state's actors tried by the sequential search counted as tried,
    and the state of it at the cut is not a unit: the sequential search goes on below it
    (`going_on`, resume()); a path that ends above the cut is not handed on again (`replaying`)."""

    def __init__(self, scenario, arch: str, bounds: Bounds, depth: int, path: tuple = (), floor: int = 0, **kw):
        super().__init__(scenario, arch, bounds, path, floor, optimal=False, **kw)  # every actor: no wakeup trees
        self.depth = depth
        self.units: list[tuple] = []
        self.leftmost = False  # the first unit is the first execution's: the sequential search's first subtree
        self.going_on = len(path)  # the state of the path where the sequential search goes on (Split.floor)
        self.replaying = bool(path)  # the first execution, which follows the path

    def on_path(self, i: int) -> bool:
        return self.replaying and i < len(self.path)

    def choose(self, ex, i: int, enabled: list[int]):
        new = i >= len(self.stack)
        if new and self._forks(i) == self.depth and len(self._awake(i, enabled)) > 1:
            if self.on_path(i):  # the sequential search's own subtree
                self.going_on, self.replaying = i, False
                return None
            if not self.units and self.search.executions == self.search.redundant == 0:
                self.leftmost = True
            self.units.append(path(self))
            return None
        choice = super().choose(ex, i, enabled)
        if new and self.on_path(i):
            choice = self._pin(i, enabled)
        if new and choice is not None:
            frame = self.stack[-1]
            frame.backtrack = set(enabled)  # every actor: _next_prefix skips the asleep
        return choice

    def handed(self, on_result):
        """on_result, but for the path's own execution (the sequential search ran it)."""
        def hand(result):
            if self.replaying:
                self.replaying = False
                self.search.executions -= 1
                if result.cut:
                    self.search.cut[result.cut] -= 1
                    if not self.search.cut[result.cut]:
                        del self.search.cut[result.cut]
                return
            on_result(result)
        return hand

    def _awake(self, i: int, enabled) -> list[int]:
        sleep = self.sleep_at(i)
        return [p for p in enabled if p not in sleep]

    def _forks(self, i: int) -> int:
        """The states of the path from the floor to state i where more than one actor was awake."""
        return sum(len(frame.enabled) - len(frame.enabled & frame.sleep.keys()) > 1
                   for frame in self.stack[self.floor:i])


class Subtree(_Pinned):
    """DPOR below one unit: its first states pinned to the unit's path."""

    def __init__(self, scenario, arch: str, bounds: Bounds, unit: tuple, **kw):
        super().__init__(scenario, arch, bounds, unit, len(unit), **kw)
        self.merge_from = len(unit)  # merged: a pinned state explores one choice, never to be published

    def choose(self, ex, i: int, enabled: list[int]):
        if i >= len(self.stack) and self.on_path(i):
            if super().choose(ex, i, enabled) is None:
                raise RuntimeError(f"a unit's state {i} has every actor asleep: the split is inconsistent")
            choice = self._pin(i, enabled)
            self.stack[-1].backtrack = set()
            return choice
        return super().choose(ex, i, enabled)


class _Stopped(Exception):
    """The sequential search's first seconds are over."""


def begin(scenario, arch: str, bounds: Bounds, seconds: float, on_result, unit: tuple = (), hungry=None, **kw):
    """The sequential search (explore/dpor.py), or a `unit`'s, for `seconds` (or, with
    `hungry`, until it has run HUNGRY_AFTER seconds and hungry() says a worker waits for work):
    (its Search, None) if it ended, else (its Search so far, the search itself, stopped after
    an execution: path() is the `path` for split, and resume() goes on with it below the cut)."""
    return _run_for(Subtree(scenario, arch, bounds, unit, **kw), seconds, on_result, hungry)


def _run_for(search: _Pinned, seconds: float, on_result, hungry=None) -> tuple:
    now = _clock()
    due, fed = now + seconds, now + HUNGRY_AFTER

    def until(result):
        on_result(result)
        now = _clock()
        if now >= due or (hungry is not None and now >= fed and hungry()):
            raise _Stopped

    try:
        return search.run(until), None
    except _Stopped:
        return search.search, search


def path(search: Exhaustive) -> tuple:
    """A stopped sequential search's path: per state, its step, the actors tried before it
    there and those asleep there, with their footprints (split's `path`)."""
    return tuple((frame.choice, dict(frame.done), dict(frame.sleep)) for frame in search.stack)


def resume(search: _Pinned, floor: int, on_result, seconds: float = math.inf, hungry=None) -> tuple:
    """A stopped search, gone on with below state `floor` of its path (Split.floor) for
    `seconds` (or until `hungry`), as begin(): it explores what is left of the subtree it was in, execution for
    execution as it would have alone, and never backtracks above it (split's units hold the
    rest).  A merged search keeps its visited set, but publishes no state above `floor`
    (explore/visited.py)."""
    search.floor = floor
    for frame in search.stack[:floor]:  # merged: their subtrees are the units' too, never to be published
        frame.key = None
    if not search._next_prefix():
        return Search(), None
    return _run_for(search, seconds, on_result, hungry)


def in_slices(scenario, arch: str, bounds: Bounds, stopped: _Pinned, floor: int, seconds: float, on_result,
              hand_on, workers: int, tally, hungry=None, **kw) -> Search:
    """Go on with a `stopped` search (begin) below state `floor` of its path, `seconds` at a
    time, or, given `hungry`, until it has run HUNGRY_AFTER seconds and hungry() says a worker
    waits for work.  Each time it stops, what it has not explored is split (split's `path` and
    `floor`, `workers` and `tally` as split takes them) and `hand_on(split)` hands its units to
    whoever is free, while this search goes on with the subtree it is in.  So a large subtree
    never holds one process while the others idle, and nothing explored is explored again.
    Splitting only when a worker waits spares the splits' top searches while every worker is
    busy, and hands work to an idle one at once, not at the end of a slice.  The Search of its
    executions and of the splits' top searches."""
    total = Search()
    while stopped is not None:
        cut = split(scenario, arch, bounds, workers, tally, path=path(stopped), floor=floor, **kw)
        add(total, cut.search)
        hand_on(cut)
        floor = cut.floor
        part, stopped = resume(stopped, floor, on_result, seconds, hungry)
        add(total, part)
    return total


@dataclass
class Split:
    units: list[tuple]  # each: per state of its path, (the actor that steps, {actor tried before: footprint},
    #                     {actor asleep: footprint})
    search: Search  # the top search's
    tally: object  # what its executions that ended above the cut were handed to
    leftmost: bool  # the first unit is the sequential search's first subtree (split's docstring)
    floor: int  # with a `path`: the state of it at the cut (its length if it ends above the cut)


def split(scenario, arch: str, bounds: Bounds, workers: int, tally, debug: bool = True,
          spin: bool | None = None, path: tuple = (), floor: int = 0) -> Split:
    """The units for `workers` workers (at least UNITS_PER_WORKER each, when the tree is that
    wide), the top search, and the tally (a fresh `tally()` per depth tried) its executions
    that ended above the cut were handed to, each as it ended (a result's world is the
    search's, put back in its initial state by the next execution).

    When the top search's first execution reached the cut (`leftmost`), the first unit
    is explored as the sequential search explores its first subtree, execution for execution:
    its pinned states are the sequential search's, with nothing tried before and nothing
    asleep, and DFS finishes a subtree before it backtracks above it.

    With a `path` (that of a sequential search stopped after an execution, begin()), the units
    are what that search has not explored, but for the subtree it is in, below state `floor`
    of its path, which resume() explores: at each state of the path above the cut, the actors
    it tried there are counted as tried (DFS explored their subtrees), and every other awake
    actor is tried, as the top search does everywhere.  The path's sleep sets are the
    sequential search's (optimal DPOR's wake more: dpor.py _explored).

    With a `floor` (that of the stopped search: a unit's pinned path, or the cut of an earlier
    split of it), the top search never branches above state `floor` and counts forks from it
    (in_slices)."""
    depth = 1
    while True:
        top = _Top(scenario, arch, Bounds(max_steps=bounds.max_steps, preemptions=bounds.preemptions),
                   depth, path, floor, debug=debug, spin=spin)
        on_result = tally()
        search = top.run(top.handed(on_result))
        search.redundant -= len(top.units) + (top.going_on < len(path))  # stopped at the cut: not cut by a sleep set
        rest = top.going_on < len(path)  # the stopped search's subtree is cut: deeper, it is smaller
        if len(top.units) >= UNITS_PER_WORKER * workers or not (top.units or rest) or depth >= MAX_DEPTH \
                or not search.complete:
            return Split(top.units, search, on_result, top.leftmost, top.going_on)
        depth += 1


def add(total: Search, part: Search) -> None:
    """Sum a unit's search into the whole's (notes sorted: units finish in any order)."""
    total.executions += part.executions
    total.redundant += part.redundant
    total.probes += part.probes
    total.guessed += part.guessed
    total.infeasible += part.infeasible
    total.merged += part.merged
    total.steps += part.steps
    total.replayed += part.replayed
    total.states += part.states  # merged: states fingerprinted anew (units sharing no set may count one twice)
    for name, count in part.cut.items():
        total.cut[name] = total.cut.get(name, 0) + count
    total.notes = sorted(set(total.notes) | set(part.notes))[:5]
    total.complete = not total.cut
