"""Exhaustive exploration: a stateless model checker with dynamic partial-order reduction.

Each execution replays a prefix of choices from the initial state (nothing is
saved between executions but the search stack), then runs on.  The reduction is
DPOR with sleep sets (Flanagan & Godefroid, POPL 2005; Godefroid's sleep sets):

- two steps are *dependent* when their footprints share a location and one of
  them writes it (a PTE, a CPU's TLB, a hash-table bucket, a lock, a frame);
- happens-before is tracked with vector clocks (per location: its last write and
  the reads since); when a step of actor p is dependent on an earlier step of
  another actor q that does not happen before p's previous step, the two could have run the other way round, so p is added to the
  backtrack set of the state before q's step (or, if p was disabled there, every
  actor enabled there is);
- an actor whose next step was explored from a state sleeps in the states after it
  until a dependent step wakes it: its interleavings were covered.

`naive=True` explores every enabled actor at every state instead, with no spin-loop
reduction either (explore/loops.py): the baseline the reductions are measured against.

`merge=True` is the merged search, a stateful DPOR: a state the search has explored is
recognised by its fingerprint (explore/state.py) and its continuations are not explored
again; the execution that reached it stops there ("merged").  With DPOR and sleep sets this
needs two provisos (Yang, Chen, Gopalakrishnan, Kirby, "Efficient stateful dynamic partial
order reduction", SPIN 2008; Godefroid, Partial-Order Methods for the Verification of
Concurrent Systems, LNCS 1032, 1996, ch. 5 on sleep sets with state caching):
- *races with the continuation*: the steps after the state were analysed against the path
  that first reached it, not against this one.  Each explored state keeps a summary of its
  continuation: per actor, the union of the footprints of every step any execution took
  after it (and of the steps the actors had announced when an execution ended, and the
  summaries of the states it merged into).  Reaching it again, each prefix step that
  another actor's summary depends on gets that actor (or, if it was not enabled there,
  every actor enabled there) in its backtrack set: Flanagan and Godefroid's rule applied
  to every dependent step instead of the last one not ordered by happens-before, which
  explores more, never less.  A summary is complete when the state's subtree is: DFS
  leaves a state only after every state below it, so a state met again by another path
  has a complete summary; a state met again on its own path (a cycle) is not merged.
- *sleep sets*: a state first explored with actors asleep did not explore them; met again
  with some of them awake, those are explored from it (its other choices are not), and it
  keeps the actors asleep at every visit (Godefroid's sleep sets with state caching).
Races among the steps after the state do not depend on the path to it (a step after it
cannot happen before one before it), so the backtrack sets the first visit gave the states
after it hold for every path.  A state whose fingerprint is unknown is explored as the
stateless search explores it.  tests/test_merge.py compares final states and violations
with naive enumeration on random scenarios.

Bounds: steps per execution, preemptions (a switch away from an actor that could go
on), executions and seconds.  A bound that cut the search is reported, never hidden.

Progress: a search given a `progress` callable calls it with the Search (executions so
far, seconds) after an execution's result was handed on, at most every PROGRESS_EVERY
seconds; without one, the loop pays one test of None per execution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .execution import Execution, InitialState

PROGRESS_EVERY = 0.2  # seconds between two calls of a search's progress hook


def dependent(a: dict, b: dict) -> bool:
    if len(a) > len(b):
        a, b = b, a
    for loc, write in a.items():
        other = b.get(loc)
        if other is not None and (write or other):
            return True
    return False


def _union(into: dict, footprint: dict) -> None:
    """Add a footprint to a union of footprints (a location is written if any wrote it)."""
    for loc, write in footprint.items():
        if write or loc not in into:
            into[loc] = write


class _Frame:
    __slots__ = ("choice", "enabled", "backtrack", "sleep", "done", "footprint", "preemptions", "previous", "key",
                 "summary")

    def __init__(self, enabled, sleep, previous, preemptions):
        self.enabled = enabled
        self.sleep = sleep  # actor -> footprint of the step it would take
        self.done: dict[int, dict] = {}
        self.backtrack: set[int] = set()
        self.choice = None
        self.footprint = None
        self.previous = previous  # the actor that took the step before this state
        self.preemptions = preemptions  # preemptions on the path to this state
        self.key = None  # the merged search: its fingerprint, if known
        self.summary = None  # the merged search: actor -> union of its footprints after this state


@dataclass
class Bounds:
    max_steps: int = 2000
    preemptions: int | None = None
    executions: int | None = None
    seconds: float | None = None


@dataclass
class Search:
    """What an exploration found: every execution's result is handed to `on_result`."""

    executions: int = 0
    redundant: int = 0  # executions cut short by a sleep set (already covered)
    merged: int = 0  # executions stopped at a state explored before (the merged search)
    states: int = 0  # distinct states met (the merged search)
    cut: dict = field(default_factory=dict)  # bound name -> how many times it cut
    notes: list = field(default_factory=list)  # what the bounds that cut executions say (distinct)
    complete: bool = True
    seconds: float = 0.0
    progress: object = field(default=None, repr=False)  # called with the Search now and then
    start: float = field(default_factory=time.perf_counter, repr=False)
    due: float = field(default=0.0, repr=False)  # when progress is next called

    def __post_init__(self):
        self.due = self.start + PROGRESS_EVERY  # a search shorter than that says nothing

    def tick(self) -> None:
        """Hand the search so far to `progress` if PROGRESS_EVERY seconds have passed."""
        now = time.perf_counter()
        if now >= self.due:
            self.due = now + PROGRESS_EVERY
            self.seconds = now - self.start
            self.progress(self)

    def count(self, result) -> None:
        """A finished (not redundant) execution: count it, and the bound that cut it."""
        self.executions += 1
        if result.cut:
            self.cut[result.cut] = self.cut.get(result.cut, 0) + 1
            if result.note and result.note not in self.notes and len(self.notes) < 5:
                self.notes.append(result.note)


class Exhaustive:
    """The chooser for one exhaustive search; run() drives the executions."""

    # The merged search fingerprints only the states at depths that are multiples of this: a
    # fingerprint costs about a hundred steps, and a path that reaches an explored state between
    # two such depths reaches an explored one a few steps later.  Any subset of the states is
    # sound (the others are explored as new); 4 was 3x faster than 1 on fault-2cpu-1page, x86.
    MERGE_EVERY = 4

    def __init__(self, scenario, arch: str, bounds: Bounds, naive: bool = False, debug: bool = True,
                 spin: bool | None = None, progress=None, merge: bool = False):
        self.scenario = scenario
        self.progress = progress
        self.arch = arch
        self.bounds = bounds
        self.naive = naive
        self.merge = merge and not naive and bounds.preemptions is None  # a preemption bound is path-dependent
        # the merged search: explored state -> (summary of its continuation, actors asleep at every visit)
        self.explored: dict[bytes, tuple[dict, frozenset]] = {}
        self.exploring: set[bytes] = set()  # states whose subtree is being explored (on the stack)
        self._merged = None  # the summary of the state the last execution stopped at
        self.spin = not naive if spin is None else spin  # the spin-loop reduction (explore/loops.py)
        self.debug = debug
        self.stack: list[_Frame] = []
        self.initial = InitialState()
        self._replayed = 0
        self._steps: list = []  # the last execution's steps

    # ---- the chooser interface ---------------------------------------------------------
    def prefix(self) -> tuple[list[int], list]:
        """The steps before the state being backtracked to, with the Step records of the
        execution that ran them first: the next execution replays them unchecked."""
        n = self._replayed
        return [frame.choice for frame in self.stack[:n]], self._steps[:n]

    def choose(self, ex: Execution, i: int, enabled: list[int]):
        stack = self.stack
        if i < len(stack):
            return stack[i].choice
        if i == 0:
            previous, preemptions = None, 0
        else:
            parent = stack[i - 1]
            previous = parent.choice
            preemptions = parent.preemptions + (parent.previous is not None and parent.choice != parent.previous
                                                and parent.previous in parent.enabled)
        sleep = self.sleep_at(i)
        frame = _Frame(frozenset(enabled), sleep, previous, preemptions)
        awake = [p for p in enabled if p not in sleep]
        if self.merge and i % self.MERGE_EVERY == 0:
            awake = self._known(ex, i, frame, awake)
            if awake is None:
                return None
        if not awake:
            return None
        choice = previous if previous in awake else awake[0]  # run on: fewest preemptions
        frame.choice = choice
        frame.backtrack = set(enabled) if self.naive else {choice}
        if frame.summary is not None:  # met again: the actors asleep at every visit before, awake now
            frame.backtrack.update(awake)
        if frame.key is not None:
            self.exploring.add(frame.key)
        stack.append(frame)
        return choice

    def sleep_at(self, i: int) -> dict:
        """The sleep set of the state after the first i steps of the stack (Godefroid): the
        actors asleep or already explored at the state before, whose steps are independent of
        the step taken there, each with its step's footprint."""
        if i == 0 or self.naive:
            return {}
        parent = self.stack[i - 1]
        if not (parent.sleep or parent.done):
            return {}
        return {q: fp for q, fp in (*parent.sleep.items(), *parent.done.items())
                if q != parent.choice and not dependent(fp, parent.footprint)}

    def _known(self, ex: Execution, i: int, frame: _Frame, awake: list[int]) -> list[int] | None:
        """The merged search at a state met anew: the awake actors to explore from it, or
        None when it was explored before with no actor asleep that is awake now."""
        key = ex.fingerprint()
        if key is None or key in self.exploring:  # unknown, or a cycle: explored as new
            return awake
        frame.key = key
        known = self.explored.get(key)
        if known is None:
            self.search.states += 1
            frame.summary = None
            return awake
        summary, asleep = known
        self._summary_races(i, summary)
        again = [p for p in awake if p in asleep]  # slept at every visit before, awake now
        self.explored[key] = (summary, asleep & frozenset(frame.sleep))
        if not again:
            self._merged = summary
            return None
        frame.summary = {q: dict(fp) for q, fp in summary.items()}
        return again

    def _summary_races(self, i: int, summary: dict) -> None:
        """Each step of the path to state i that a step after it may race with (summary:
        actor -> union of its footprints there) gets that actor tried before it."""
        stack = self.stack
        for k in range(i):
            frame = stack[k]
            p, footprint = frame.choice, frame.footprint or {}
            for q, after in summary.items():
                if q != p and dependent(footprint, after):
                    if q in frame.enabled:
                        frame.backtrack.add(q)
                    else:
                        frame.backtrack.update(frame.enabled)

    def _summarise(self, ex: Execution) -> None:
        """Each state of the path gets what every actor did after it in this execution: its
        steps, the steps announced when it ended, the summary of the state it merged into."""
        running: dict[int, dict] = {}
        if self._merged is not None:
            for q, fp in self._merged.items():
                running[q] = dict(fp)
        for actor in ex.unfinished:
            if actor.pending is not None:
                _union(running.setdefault(actor.index, {}), actor.next_footprint())
        steps, stack = ex.steps, self.stack
        for d in range(len(stack) - 1, -1, -1):
            step = steps[d]
            _union(running.setdefault(step.actor, {}), step.footprint)
            frame = stack[d]
            if frame.key is not None:
                if frame.summary is None:
                    frame.summary = {}
                for q, fp in running.items():
                    _union(frame.summary.setdefault(q, {}), fp)

    def executed(self, ex: Execution, i: int, actor: int, footprint: dict) -> None:
        frame = self.stack[i]
        frame.footprint = footprint
        if not self.naive and i >= self._replayed:  # a replayed step was analysed when it first ran
            self._observe(i, actor, footprint)

    # ---- happens-before and races -------------------------------------------------------
    def _begin(self, nactors: int) -> None:
        """Keep the analysis of the replayed prefix; forget the steps after it."""
        replayed = max(0, len(self.stack) - 1)
        self._replayed = replayed
        if self.naive:
            return
        if not hasattr(self, "_history") or replayed == 0:
            self._history: dict = {}  # location -> [(step, actor, wrote?, clock)]
            self._clocks: list[list[int]] = []
            self._actors: list[int] = []
        else:
            del self._clocks[replayed:]
            del self._actors[replayed:]
            for entries in self._history.values():
                while entries and entries[-1][0] >= replayed:
                    entries.pop()
        # each actor's clock after its last step of the prefix
        self._actor_clock = [[-1] * nactors for _ in range(nactors)]
        missing = set(range(nactors))
        for k in range(replayed - 1, -1, -1):
            a = self._actors[k]
            if a in missing:
                self._actor_clock[a] = self._clocks[k]
                missing.discard(a)
                if not missing:
                    break

    def _observe(self, i: int, actor: int, footprint: dict, record: bool = True) -> None:
        """Vector clocks over the steps (a step happens after every earlier step it depends
        on), and the races: for each other actor, its latest dependent step that does not
        happen before this actor's previous step and that this actor could have run
        instead of (it was enabled there: a lock release or a _PAGE_BUSY clear is passed
        over for the acquire before it, as Flanagan and Godefroid's co-enabledness asks)."""
        seen = self._actor_clock[actor]
        stack = self.stack
        # other actor -> [its latest racing step, its latest one at which this actor was enabled, or -1]
        races: dict[int, list[int]] = {}
        history = self._history
        clocks = []
        others = len(seen) - 1
        for loc, write in footprint.items():
            # Newest first.  The last write here happened after everything before it here,
            # so its clock covers theirs; an actor's steps before its latest one that races
            # and could have been swapped, or before one that happens before this actor's
            # previous step, are not wanted: the scan stops when every actor has one.
            covered = set()
            clocked = False
            for k, q, w, c in reversed(history.get(loc, ())):
                if not (write or w):
                    continue
                if not clocked:
                    clocks.append(c)
                    clocked = w
                if q != actor and q not in covered:
                    if seen[q] < k:
                        race = races.get(q)
                        if race is None:
                            races[q] = race = [k, -1]
                        elif k > race[0]:
                            race[0] = k
                        if actor in stack[k].enabled:
                            if k > race[1]:
                                race[1] = k
                            covered.add(q)
                    else:
                        covered.add(q)
                if clocked and len(covered) == others:
                    break
        clock = list(map(max, seen, *clocks)) if clocks else list(seen)
        for latest, swappable in races.values():
            if swappable >= 0:
                stack[swappable].backtrack.add(actor)
            else:
                stack[latest].backtrack.update(stack[latest].enabled)
        if not record:
            return
        clock[actor] = i
        self._actor_clock[actor] = clock
        self._clocks.append(clock)
        self._actors.append(actor)
        for loc, write in footprint.items():
            history.setdefault(loc, []).append((i, actor, write, clock))

    def _pending_races(self, ex) -> None:
        """Actors that never took their next step (the execution stopped, or they were
        blocked) race with what ran instead of them.  A step that broke an invariant ended
        the execution: what the others would have done after it is unexplored, so each of
        them is also tried before it, whatever the footprints say."""
        n = len(ex.steps)
        stopped = self.stack[n - 1] if ex.violations and n else None
        for actor in ex.unfinished:
            if actor.pending is not None:
                self._observe(n, actor.index, actor.next_footprint(), record=False)
                if stopped is not None:
                    if actor.index in stopped.enabled:
                        stopped.backtrack.add(actor.index)
                    else:  # Flanagan and Godefroid: it could not run there, so every actor that could
                        stopped.backtrack.update(stopped.enabled)

    # ---- the search -----------------------------------------------------------------------
    def _next_prefix(self) -> bool:
        """Backtrack to the deepest state with an unexplored choice; False when done."""
        stack = self.stack
        limit = self.bounds.preemptions
        while stack:
            frame = stack[-1]
            frame.done[frame.choice] = frame.footprint or {}
            for p in sorted(frame.backtrack):
                if p in frame.done or p in frame.sleep or p not in frame.enabled:
                    continue
                if limit is not None and frame.previous is not None and p != frame.previous \
                        and frame.previous in frame.enabled and frame.preemptions + 1 > limit:
                    self.search.cut["preemptions"] = self.search.cut.get("preemptions", 0) + 1
                    frame.done[p] = {}
                    continue
                frame.choice = p
                frame.footprint = None
                return True
            stack.pop()
            if frame.key is not None:  # its subtree is explored: its summary is complete
                self.exploring.discard(frame.key)
                known = self.explored.get(frame.key)
                asleep = frozenset(frame.sleep) if known is None else known[1]
                self.explored[frame.key] = (frame.summary or {}, asleep)
        return False

    def run(self, on_result) -> Search:
        self.search = search = Search(progress=self.progress)
        bounds = self.bounds
        start = search.start
        deadline = None if bounds.seconds is None else start + bounds.seconds
        while True:
            self._begin(len(self.scenario.actor_names()))
            ex = Execution(self.scenario, self.arch, self, max_steps=bounds.max_steps, debug=self.debug,
                           initial=self.initial, deadline=deadline, spin=self.spin)
            result = ex.run()
            self._steps = ex.steps
            if not self.naive:
                self._pending_races(ex)
            del self.stack[len(ex.steps):]
            if self.merge:
                self._summarise(ex)
            if result.cut == "seconds":  # stopped mid-way: not an execution of the scenario
                search.cut["seconds"] = 1
                break
            if self._merged is not None:
                self._merged = None
                search.merged += 1
            elif result.redundant:
                search.redundant += 1
            else:
                search.count(result)
                on_result(result)
                if search.progress is not None:
                    search.tick()
            if not self._next_prefix():
                break
            if bounds.executions is not None and search.executions >= bounds.executions:
                search.cut["executions"] = 1
                break
            if deadline is not None and time.perf_counter() > deadline:
                search.cut["seconds"] = 1
                break
        search.complete = not search.cut
        search.seconds = time.perf_counter() - start
        return search
