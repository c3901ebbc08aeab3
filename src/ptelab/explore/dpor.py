"""Exhaustive exploration: a stateless model checker with dynamic partial-order reduction.

Each execution replays a prefix of choices from the initial state (nothing is
saved between executions but the search stack), then runs on.  The reduction is
DPOR with sleep sets (Flanagan & Godefroid, POPL 2005; Godefroid's sleep sets), made
optimal with wakeup trees (below):

- two steps are *dependent* when their footprints share a location and one of
  them writes it (a PTE, a CPU's TLB, a hash-table bucket, a lock, a frame), unless
  one writes only the hash bits of a PTE and the other reads only its other bits
  (explore/footprint.py);
- happens-before is tracked with vector clocks (per location: its last write and
  the reads since); when a step of actor p is dependent on an earlier step of
  another actor q that does not happen before p's previous step, the two could have run the other way round, so p is added to the
  backtrack set of the state before q's step (or, if p was disabled there, every
  actor enabled there is);
- an actor whose next step was explored from a state sleeps in the states after it
  until a dependent step wakes it: its interleavings were covered.

That is the *classic* search (`optimal=False`).  By default the stateless search is
*optimal* DPOR: source sets with wakeup trees (Abdulla, Aronis, Jonsson, Sagonas, "Optimal
dynamic partial order reduction", POPL 2014; "Source sets: a foundation for optimal dynamic
partial order reduction", JACM 64(4), 2017, Algorithm 2).  The same races are found with
the same vector clocks, but a race between step k and a later step e of actor p is
reversed by inserting a *wakeup sequence* into the wakeup tree of the state before k: the
steps after k that do not happen after it (notdep), then p's step.  It is not inserted when
an actor asleep or already explored there is a weak initial of it (that actor's executions
cover it); the tree shares the prefixes of its sequences, and the search follows a branch
step by step, then runs on as it likes.  With every footprint known, a sleep set then
never blocks an execution.  Here a step's footprint is what it touched up to its actor's
next point, which depends on the values it read (a TLB hit stores at once, a miss walks the
table next; the checks after it read what they found false): e's footprint without step k
is not known when a step left out of the sequence wrote what e touched, and is then taken
to depend on every step (`_may_depend`).  That keeps the search sound and costs sleep-set
blocked runs: an actor explored before such a branch may sleep through it
(`Search.guessed` counts them).  The assumptions the algorithm makes are met so:
- enabling is ordering: a release writes what the acquire it lets through reads
  (machine/spinlock.py RELEASED, a location that orders and is never raced over), and a
  step that waited happens after the step that enabled it (`_enabled_by`);
- a race is reversed only where the later step can run in the sequence (`_swappable`: a
  wait it had must lose its cause with step k, or keep what ended it); a race reversible
  nowhere falls back on Flanagan and Godefroid's rule (every actor enabled at the latest
  racing step), and a sequence step whose actor is disabled all the same explores its state
  from every awake actor (`Search.infeasible`);
- a step that broke an invariant ends its execution: each actor that had a step pending
  is tried before it whatever the footprints say, as the classic search does.  Such a
  *probe* looks for a step the actor would have taken after the violation and that races
  with it; when its steps turn out independent of the violating one, the violating actor
  sleeps to the end and the run is cut (`Search.probes`).
The merged search (below) and a search with a preemption bound (a bound on a path's
preemptions is not preserved by reordering independent steps) are classic.

`naive=True` explores every enabled actor at every state instead, with no spin-loop
reduction either (explore/loops.py), and checks the invariants after a write of an entry's hash
bits only too (explore/invariants.py): the baseline the reductions are measured against.

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
stateless search explores it.  The set of explored states (`visited`) may be shared by the
searches of one split search, in one process or over a cluster (explore/visited.py): a state is
put in it (published) when its subtree is explored, never before.  tests/test_merge.py compares final states and violations
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
from itertools import chain

from .checkpoint import exhaust
from .execution import Execution, InitialState
from .footprint import apart, union as _union
from .visited import Visited
from ..machine.spinlock import RELEASED

PROGRESS_EVERY = 0.2  # seconds between two calls of a search's progress hook


def dependent(a: dict, b: dict) -> bool:
    if len(a) > len(b):
        a, b = b, a
    for loc, write in a.items():
        other = b.get(loc)
        if other is not None and (write or other) and not apart(write, other):
            return True
    return False


def _may_depend(a: dict | None, b: dict | None) -> bool:
    """Dependent, where a footprint not known (None) depends on every step."""
    return a is None or b is None or dependent(a, b)


def _initial(actor: int, footprint: dict | None, sequence: list) -> int:
    """Whether `actor`, whose next step has `footprint` (None: not known), is a weak initial
    of `sequence` ([(actor, footprint or None)] from the same state): its step in the
    sequence (or, if it has none there, its next step) depends on no step of the sequence
    before it.  Its index in the sequence (len(sequence) when it has no step there), or -1
    if not."""
    for j, (other, fp) in enumerate(sequence):
        if other == actor:
            return -1 if any(_may_depend(fp, before) for _, before in sequence[:j]) else j
    if any(_may_depend(footprint, fp) for _, fp in sequence):
        return -1
    return len(sequence)


def _insert(nodes: list, sequence: list) -> None:
    """Insert a wakeup sequence into a wakeup tree (nodes: the children of its root, in the
    order they are to be explored; a node is [actor, footprint, children]): follow the first
    child whose actor is a weak initial of what is left of the sequence; a leaf reached (or
    the sequence used up) already covers it; else it becomes the last child where the
    descent stopped (Abdulla et al., JACM 2017, Definition 6.2's insert)."""
    while True:
        for node in nodes:
            j = _initial(node[0], node[1], sequence)
            if j < 0:
                continue
            if j < len(sequence):
                sequence = sequence[:j] + sequence[j + 1:]
            if not node[2] or not sequence:
                return
            nodes = node[2]
            break
        else:
            below: list = []
            for actor, footprint in reversed(sequence):
                below = [[actor, footprint, below]]
            nodes.extend(below)
            return


def _guessed(node: list) -> bool:
    """Whether a wakeup tree's node or one below it has a footprint not known."""
    return node[1] is None or any(map(_guessed, node[2]))


class _Frame:
    __slots__ = ("choice", "enabled", "backtrack", "sleep", "done", "footprint", "preemptions", "previous", "key",
                 "summary", "wut", "node")

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
        self.wut: list = []  # optimal DPOR: the wakeup tree still to explore from here (_insert)
        self.node = None  # optimal DPOR: the node of the wakeup tree being explored from here


@dataclass
class Bounds:
    """What cuts a search: steps per execution, preemptions per execution, executions, seconds."""

    max_steps: int = 2000
    preemptions: int | None = None
    executions: int | None = None
    seconds: float | None = None
    # time.time() past which the search is cut ("seconds"), however often it is run on: a unit
    # of a --seconds search split over processes, which goes on in slices (explore/parallel.py)
    until: float | None = None


@dataclass
class Search:
    """What an exploration found: every execution's result is handed to `on_result`."""

    executions: int = 0
    redundant: int = 0  # executions cut short by a sleep set (already covered)
    infeasible: int = 0  # optimal DPOR: wakeup-tree steps whose actor was disabled (Exhaustive.choose)
    probes: int = 0  # of the redundant, under optimal DPOR's probes before a violation (the docstring)
    guessed: int = 0  # of the redundant, under a wakeup-tree step whose footprint was not known (the docstring)
    merged: int = 0  # executions stopped at a state explored before (the merged search)
    steps: int = 0  # steps run by every execution, redundant ones too, replayed ones included
    replayed: int = 0  # of them, the steps of prefixes run again (Execution._replay)
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
                 spin: bool | None = None, progress=None, merge: bool = False, optimal: bool = True,
                 visited: Visited | None = None):
        self.scenario = scenario
        self.progress = progress
        self.arch = arch
        self.bounds = bounds
        self.naive = naive
        self.merge = merge and not naive and bounds.preemptions is None  # a preemption bound is path-dependent
        # source sets and wakeup trees, unless naive, merged or preemption-bounded (the docstring)
        self.optimal = optimal and not naive and not self.merge and bounds.preemptions is None
        # the merged search: explored state -> (summary of its continuation, actors asleep at every
        # visit), this search's own or shared with other searches (explore/visited.py)
        self.explored = Visited() if visited is None else visited
        self.merge_from = 0  # the first state fingerprinted (a split search's unit: the one below its path)
        self.exploring: set[bytes] = set()  # states whose subtree is being explored (on the stack)
        self._merged = None  # the summary of the state the last execution stopped at
        self.spin = not naive if spin is None else spin  # the spin-loop reduction (explore/loops.py)
        self.debug = debug
        self.stack: list[_Frame] = []
        self.initial = InitialState()
        self._replayed = 0
        self._why = None  # why optimal DPOR's last execution was cut (Search.probes, Search.guessed)
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
        awake = [p for p in enabled if p not in sleep] if sleep else enabled
        if self.merge and i % self.MERGE_EVERY == 0 and i >= self.merge_from:
            awake = self._known(ex, i, frame, awake)
            if awake is None:
                return None
        if not awake:
            if self.optimal:  # why (Search.probes, Search.guessed)
                nodes = [f.node for f in stack[:i] if f.node is not None]
                self._why = "probes" if any(len(n) > 3 for n in nodes) else \
                    "guessed" if any(map(_guessed, nodes)) else None
            return None
        choice = previous if previous in awake else awake[0]  # run on: fewest preemptions
        if self.optimal and i and stack[i - 1].node is not None and stack[i - 1].node[2]:
            guided = self._follow(frame, stack[i - 1].node[2], awake)
            if guided is not None:
                choice = guided
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
        woke = self._explored(parent)
        return {q: fp for q, fp in (*parent.sleep.items(), *parent.done.items())
                if q != parent.choice and not dependent(fp, woke)}

    def _follow(self, frame: _Frame, guide: list, awake: list[int]) -> int | None:
        """Optimal DPOR at a state met anew inside a wakeup tree (guide: the subtree below the
        step that led here): its first node whose actor is awake is taken, the others wait in
        the frame's tree.  A node whose actor sleeps is covered (the sleep set says so); one
        whose actor is disabled is a sequence that cannot run as the race analysis assumed
        (an actor blocked, explore/loops.py or a lock): this state is then explored from
        every awake actor, as Flanagan and Godefroid's rule does for a disabled actor."""
        wut = [node for node in guide if node[0] in frame.enabled and node[0] not in frame.sleep]
        if any(node[0] not in frame.enabled for node in guide):
            self.search.infeasible += 1
            roots = {node[0] for node in wut}
            wut.extend([p, None, []] for p in awake if p not in roots)
        if not wut:
            return None
        frame.node = wut.pop(0)
        frame.wut = wut
        return frame.node[0]

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
            self._appended: list[list] = []  # per step, the lists of _history it appended to
        else:
            del self._clocks[replayed:]
            del self._actors[replayed:]
            # a step's entries are the last of their lists (popped by the built-in map, in C)
            exhaust(map(list.pop, chain.from_iterable(self._appended[replayed:])))
            del self._appended[replayed:]
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
        optimal = self.optimal
        # whether the actor waited (was disabled at a state) since its previous step: only then
        # may a race fail to be swapped (_swappable) or the step happen after what enabled it
        # (_enabled_by)
        waited = False
        for j in range(seen[actor] + 1, i):
            if actor not in stack[j].enabled:
                waited = True
                break
        # optimal: None when every race can be swapped
        swappable = self._swappable(i, actor, footprint, seen[actor], record) if optimal and waited else None
        # other actor -> [its latest racing step, its latest one at which this actor was enabled, or -1]
        races: dict[int, list[int]] = {}
        history = self._history
        clocks = []
        everyone = ((1 << len(seen)) - 1) & ~(1 << actor)  # every other actor, as a bit set
        # A step of another actor at or before `floor` happens before this actor's previous
        # step whoever took it, as every step of this actor does: such a step and those before
        # it neither race with this one nor add to its clock (the scan below ends there).
        floor = min(seen[:actor] + seen[actor + 1:], default=i)
        for loc, write in footprint.items():
            entries = history.get(loc)
            if not entries:
                continue
            # Newest first.  The last write here happened after everything before it here,
            # so its clock covers theirs; an actor's steps before its latest one that races
            # and could have been swapped, or before one that happens before this actor's
            # previous step, are not wanted: the scan stops when every actor has one.
            covered = 0  # the actors that have one, as a bit set
            clocked = False
            order = loc.__class__ is tuple and loc[0] == RELEASED  # orders a release and the acquire after it
            for k, q, w, c in reversed(entries):
                if k <= floor:
                    break
                if not (write or w) or apart(write, w):  # neither writes, or they commute
                    continue
                if not clocked:
                    if seen[q] < k:  # else step k happens before this actor's previous step: c <= seen
                        clocks.append(c)
                    clocked = w is True  # a write of hash bits only does not cover the reads of the others
                if order:
                    if clocked:
                        break
                    continue
                if q != actor and not covered >> q & 1:
                    if seen[q] < k:
                        race = races.get(q)
                        if race is None:
                            races[q] = race = [k, -1]
                        elif k > race[0]:
                            race[0] = k
                        if (swappable is None or swappable(k)) if optimal else actor in stack[k].enabled:
                            if k > race[1]:
                                race[1] = k
                            covered |= 1 << q
                    else:
                        covered |= 1 << q
                if clocked and covered == everyone:
                    break
        clock = list(map(max, seen, *clocks)) if clocks else list(seen)
        for latest, swappable in races.values():
            if not self.optimal:
                if swappable >= 0:
                    stack[swappable].backtrack.add(actor)
                else:
                    stack[latest].backtrack.update(stack[latest].enabled)
            elif swappable >= 0:
                self._reverse(swappable, i, actor, footprint)
            else:
                self._try_every(stack[latest])
        if not record:
            return
        if optimal and waited:
            clock = self._enabled_by(i, actor, clock)
        clock[actor] = i
        self._actor_clock[actor] = clock
        self._clocks.append(clock)
        self._actors.append(actor)
        appended = []
        for loc, write in footprint.items():
            entry = (i, actor, write, clock)
            entries = history.get(loc)
            if entries is None:
                entries = history[loc] = []
            entries.append(entry)
            appended.append(entries)
        self._appended.append(appended)

    def _swappable(self, i: int, actor: int, footprint: dict, previous: int, ran: bool):
        """Optimal DPOR: whether `actor`'s step i (footprint; `ran`: taken, else pending when
        the execution ended) can run in place of step k, after the steps between them that
        do not happen after k, as a wakeup sequence asks.  Those steps can (a step that
        waited happens after what enabled it: _enabled_by); the question is this step's
        own waits, the intervals of states since the actor's previous step at which it was
        disabled.  Each one at or after k must lose its cause with k (what disabled it is
        step k or happens after it) or keep its end (what enabled it runs in the sequence).
        What disabled it is the step before the interval, or, when it was disabled as soon
        as announced, the latest step of another actor that wrote what it touches (a
        _PAGE_BUSY set before the actor read the entry).  A lock's acquire and the acquire
        after it race so (the first disables the second); a release and the acquire it
        lets through never do.  A race that fails this is passed over for an older one,
        or for every actor (_observe).  None: the actor never waited, every race can be swapped."""
        stack, clocks, actors = self.stack, self._clocks, self._actors
        waits = []  # (last state of the interval, what disabled it, what enabled it: -1 if unknown or none)
        j = previous + 1
        while j < i:
            if actor in stack[j].enabled:
                j += 1
                continue
            first = j
            while j < i and actor not in stack[j].enabled:
                j += 1
            disabler = first - 1 if first > previous + 1 else -1
            if disabler < 0:
                for d in range(previous, -1, -1):
                    fp = stack[d].footprint or {}
                    if actors[d] != actor and any(fp.get(loc) for loc in footprint):
                        disabler = d
                        break
            enabler = j - 1 if ran or j < i else -1  # still disabled when the execution ended: none
            waits.append((j - 1, disabler, enabler))
        if not waits:
            return None  # every race can be swapped

        def swappable(k: int) -> bool:
            q = actors[k]
            return all((disabler >= k and clocks[disabler][q] >= k) or (enabler > k and clocks[enabler][q] < k)
                       for last, disabler, enabler in waits if last >= k)
        return swappable

    def _enabled_by(self, i: int, actor: int, clock: list[int]) -> list[int]:
        """Optimal DPOR: a step that waited (its actor disabled at a state since its previous
        step: a _PAGE_BUSY set, a spin loop blocked, a lock held) happens after the step
        that enabled it, the one taken at the last state where it waited.  Without this the
        steps after it would seem free to run before that step (a spin loop's wake-up need
        not touch what its next step touches), and a wakeup sequence of them could not run."""
        stack = self.stack
        for j in range(i - 1, clock[actor], -1):
            if actor not in stack[j].enabled:
                return list(map(max, clock, self._clocks[j]))
        return clock

    def _reverse(self, k: int, i: int, actor: int, footprint: dict) -> None:
        """Optimal DPOR's race reversal: step k and `actor`'s step i (footprint) race, so the
        wakeup sequence notdep(k).actor (the steps between them that do not happen after
        step k, then `actor`'s step) goes into the wakeup tree of the state before step k,
        unless an actor asleep or explored there is a weak initial of it (already covered)."""
        stack, clocks, actors = self.stack, self._clocks, self._actors
        q = actors[k]
        sequence, changed = [], False
        for j in range(k, i):
            if j > k and clocks[j][q] < k:
                sequence.append((actors[j], stack[j].footprint))
            elif not changed:
                # The last step's footprint is known only if no step left out wrote what it
                # touches: otherwise it reads other values, and a step runs on to the actor's
                # next point, further or not (a TLB hit stores at once, a miss walks the table
                # next): what it touches there is not what it touched here (None: it may
                # depend on every step).
                left = stack[j].footprint
                for loc in footprint:
                    if left.get(loc):
                        changed = True
                        break
        sequence.append((actor, None if changed else footprint))
        frame = stack[k]
        for p, fp in (*frame.sleep.items(), *frame.done.items()):
            if _initial(p, fp, sequence) >= 0:
                return
        _insert(frame.wut, sequence)

    @staticmethod
    def _try(frame: _Frame, actor: int, footprint: dict | None = None, probe: bool = False) -> None:
        """Optimal DPOR: `actor` is to be tried from this state (a one-step wakeup sequence),
        unless it was, is, or sleeps there, or the tree already starts with it."""
        if actor != frame.choice and actor not in frame.done and actor not in frame.sleep \
                and all(node[0] != actor for node in frame.wut):
            frame.wut.append([actor, footprint, [], True] if probe else [actor, footprint, []])

    def _try_every(self, frame: _Frame) -> None:
        for p in sorted(frame.enabled):
            self._try(frame, p)

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
                    if actor.index not in stopped.enabled:  # Flanagan and Godefroid: it could not
                        if self.optimal:                    # run there, so every actor that could
                            self._try_every(stopped)
                        else:
                            stopped.backtrack.update(stopped.enabled)
                    elif self.optimal:
                        self._try(stopped, actor.index, probe=True)
                    else:
                        stopped.backtrack.add(actor.index)

    # ---- the search -----------------------------------------------------------------------
    def _next_prefix(self) -> bool:
        """Backtrack to the deepest state with an unexplored choice; False when done."""
        stack = self.stack
        limit = self.bounds.preemptions
        while stack:
            frame = stack[-1]
            frame.done[frame.choice] = self._explored(frame)
            if self.optimal:
                if self._next_in_tree(frame):
                    return True
                stack.pop()
                continue
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
                self.explored.publish(frame.key, frame.summary or {}, frozenset(frame.sleep))
        return False

    @staticmethod
    def _explored(frame: _Frame) -> dict:
        """The footprint of the step taken from a state, as its sleep set entry and as what it
        wakes.  A step of a wakeup tree also has the footprint it had in the execution whose
        race put it there (what the checks after it read depends on the state it ran in):
        the tree was built with that one, so a sleeping actor the tree's sequences were
        meant to wake is woken."""
        footprint = frame.footprint or {}
        if frame.node is not None and frame.node[1]:
            footprint = dict(footprint)
            _union(footprint, frame.node[1])
        return footprint

    def _next_in_tree(self, frame: _Frame) -> bool:
        """Optimal DPOR: the frame's next child in its wakeup tree, if any.  A child whose
        actor is disabled here is a sequence that cannot run as the race analysis assumed:
        the state is then explored from every actor that can run, as _follow does below it."""
        wut = frame.wut
        while wut:
            node = wut.pop(0)
            p = node[0]
            if p in frame.done or p in frame.sleep:
                continue
            if p not in frame.enabled:
                self.search.infeasible += 1
                self._try_every(frame)
                continue
            frame.choice, frame.node, frame.footprint = p, node, None
            return True
        return False

    def run(self, on_result) -> Search:
        self.search = search = Search(progress=self.progress)
        bounds = self.bounds
        start = search.start
        deadline = None if bounds.seconds is None else start + bounds.seconds
        if bounds.until is not None:  # the same moment on this process's clock
            until = start + (bounds.until - time.time())
            deadline = until if deadline is None else min(deadline, until)
        while True:
            self._begin(len(self.scenario.actor_names()))
            ex = Execution(self.scenario, self.arch, self, max_steps=bounds.max_steps, debug=self.debug,
                           initial=self.initial, deadline=deadline, spin=self.spin, hash_bits=self.naive)
            result = ex.run()
            self._steps = ex.steps
            search.steps += len(ex.steps)
            search.replayed += ex.prefix_length
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
                if self._why is not None:
                    setattr(search, self._why, getattr(search, self._why) + 1)
                    self._why = None
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
