"""One litmus search on several processes, or on a Ray cluster.

The search's tree is split into units (explore/parallel.py); each unit is explored where a
worker is free (a forked process of a pool, or a Ray task: explore/cluster.py), which tallies
its executions as the sequential check does (check.Tally) and sends back the sums: final
states, outcomes, witnesses, per clause the executions it holds in, and, for each outcome or
condition it showed, the schedule of its first execution there.

What is reported does not depend on the number of workers, or on where they ran:
- the verdict, the distinct final states and the outcomes, because every search is exhaustive
  (the split search is sound: explore/parallel.py);
- the counterexamples, because they are chosen canonically: each is the one `--jobs 1` shows,
  the first execution in the sequential search's order that showed it.  Once the units are
  done, the set of outcomes and conditions to show is known, and the sequential search is run
  again from the start, stopping as soon as it has shown all of them (usually within its first
  executions; at worst it is the whole sequential search).  If a bound stops it first (a
  --seconds search), a missing one is the least schedule the workers sent, shortest first,
  then by actor numbers: deterministic, though not necessarily the one `--jobs 1` shows.
The number of executions, the executions each state was seen in and the `Time` line differ
(the split search tries every actor above its cut).  The units' sums are added in the units'
order, wherever and whenever they ended.

The sequential search runs first, for SEQUENTIAL_FIRST seconds: a search it finishes by then
is that one (small searches are not split: forking and the split cost more).  One it does not
finish is not thrown away: what it has not explored is split (explore/parallel.py, split's
`path`) and handed on at once, while this process goes on with the subtree it was in
(resume), execution for execution as `--jobs 1` would; the counterexamples its executions
show are then `--jobs 1`'s, with no search run again.  (Throwing it away cost fault-3cpu-1page
on x86 11.4 s -> 6.8 s = 1.68x instead of 1.85x: docs/benchmarks.md.)  It goes on in slices
of SLICE_SECONDS, and so does every unit: each time, what it has not explored is split and
handed on (explore/parallel.py in_slices), this process's units to the pool or the cluster at
once, a worker's back to this process mid-way, through a pipe its pool inherited (or a Ray
queue), and from there to the first free worker.  On a pool, a slice ends when a worker waits
for work (the counts of units waiting and of processes exploring, in memory the pool's workers
share: _Demand), not after a fixed time: no split is made while every worker is busy, and an
idle worker is fed at the next execution's end, not at the end of someone's slice.
"""

from __future__ import annotations

import itertools
import math
import os
import queue
import threading
import time

from ..explore.dpor import Bounds, Exhaustive, Search
from ..explore.execution import Execution
from ..explore.parallel import add, begin, in_slices, split
from ..explore.schedule import Replay, format_schedule
from ..explore.visited import Visited

SEQUENTIAL_FIRST = 0.5  # seconds the sequential search runs alone before what it left is split
SLICE_SECONDS = 1.0  # on a cluster, a search (this process's or a unit's) hands on what it left each time this
#                      passes (on a pool: when a worker waits, _Demand)
_TESTS: dict = {}  # (path, source, api) -> LitmusTest: forked workers find theirs here, others parse it
_HANDOFF = None  # a pipe made before a pool is forked (handoff_pipe()): units handed on, units done
_SEARCHES = itertools.count()  # a search's number on the pipe: a message of another (one that failed) is dropped
_VISITED: dict = {}  # a merged search's (pid, number) -> this process's visited set for its units (one at a time)
_DEMAND = None  # made with the pipe: how many processes explore, how many units wait (_Demand)


def handoff_pipe() -> None:
    """Make the pipe through which the workers of a pool forked next hand units back (their
    splits' units, mid-way, and their results, in that order: explore_unit_tally), and the
    counts by which their searches know when a worker waits (_Demand)."""
    global _HANDOFF, _DEMAND
    import multiprocessing

    context = multiprocessing.get_context("fork")
    _HANDOFF, _DEMAND = context.SimpleQueue(), _Demand(context)


class _Demand:
    """The processes of a pool (and the one that made it) that explore, and the units handed on
    that no worker has begun, counted in shared memory.  A search splits what it has left when
    fewer than there are workers explore or wait to (explore/parallel.py in_slices' `hungry`).
    The counts only decide when to split, never what is explored."""

    def __init__(self, context):
        self.counts = context.Array("i", 2)  # exploring, waiting

    def add(self, exploring: int = 0, waiting: int = 0) -> None:
        with self.counts.get_lock():
            self.counts[0] += exploring
            self.counts[1] += waiting

    def hungry(self, workers: int):
        """hungry(): whether a worker of `workers` waits for work (read without the lock: a
        count a moment old only moves a split by an execution)."""
        counts = self.counts.get_obj()
        return lambda: counts[0] + counts[1] < workers


def _test(key: tuple):
    test = _TESTS.get(key)
    if test is None:
        from .check import LitmusTest
        from .syntax import parse

        path, source, api = key
        test = _TESTS[key] = LitmusTest(parse(path, source))
        test.scenario.api = api
    return test


def explore_unit_tally(payload: tuple):
    """A worker: explore one unit; its result is (its index, its Search, its tally's summary).
    With a `handoff` (the pool's pipe, given as its search's number, or a Ray queue), it is
    explored SLICE_SECONDS at a time, and each time what it left is split and handed back at
    once, as ("units", index, number of the first, units, summary of the split's own
    executions), while it goes on with the subtree it is in (explore/parallel.py in_slices);
    its result then follows them down the pipe as ("done", result) (None is returned), or is
    returned after them (Ray)."""
    from .check import Tally

    index, key, arch, bounds, debug, unit, deadline, handoff, workers, visited = payload
    test = _test(key)
    tally = Tally(test, debug, schedules=True)
    if deadline is not None:  # a --seconds search: every unit and slice until the search's deadline
        bounds = Bounds(max_steps=bounds.max_steps, preemptions=bounds.preemptions, until=deadline)
    seconds, hungry = math.inf, None  # explored to its end
    if isinstance(handoff, int) and _DEMAND is not None:  # a pool's: split when a worker waits
        hungry = _DEMAND.hungry(workers)
        _DEMAND.add(exploring=1, waiting=-1)
    elif handoff is not None:  # the cluster's: split every slice
        seconds = SLICE_SECONDS
    visited = _visited(visited)  # merged: the set this unit shares (None: not merged)
    handed = 0

    def hand_on(cut) -> None:
        nonlocal handed
        if hungry is not None:
            _DEMAND.add(waiting=len(cut.units))
        _put(handoff, ("units", index, handed, cut.units, cut.tally.summary()))
        handed += len(cut.units)

    try:
        search, stopped = begin(test.scenario, arch, bounds, seconds, tally, unit=unit, hungry=hungry, debug=debug,
                                merge=visited is not None, visited=visited)
        add(search, in_slices(test.scenario, arch, bounds, stopped, len(unit), seconds, tally, hand_on, workers,
                              lambda: Tally(test, debug, schedules=True), hungry=hungry, debug=debug))
    finally:
        if hungry is not None:
            _DEMAND.add(exploring=-1)
    if visited is not None:
        visited.flush()
    search.progress = None
    result = index, search, tally.summary()
    if isinstance(handoff, int):  # the pipe: the result after the units
        _put(handoff, ("done", result))
        return None
    return result


def _put(handoff, message: tuple) -> None:
    """A message of a unit: on the pipe, with the number of its search (an int), or on a Ray queue."""
    if isinstance(handoff, int):
        _HANDOFF.put((handoff, *message))
    else:
        handoff.put(message)


def _visited(visited):
    """The visited set a merged search's unit uses (explore/visited.py): the cluster's
    (explore/cluster.py ShardedVisited), or, given the search's id, this process's set for that
    search (a worker forked after the search began has a copy of the parent's); None: not merged."""
    if not isinstance(visited, tuple):
        return visited
    if visited not in _VISITED:
        _VISITED.clear()  # one search at a time: the last one's states are not this one's
        _VISITED[visited] = Visited()
    return _VISITED[visited]


class _Found(Exception):
    """Every counterexample wanted was shown: the sequential search stops."""


def _first_counterexamples(test, arch: str, bounds: Bounds, debug: bool, wanted: set, deadline,
                           merge: bool = False) -> dict:
    """The counterexamples the sequential search shows first, for the keys in `wanted`."""
    from .check import Tally

    tally = Tally(test, debug)

    def tally_until_found(ex_result):
        tally(ex_result)
        if wanted <= tally.counterexamples.keys():
            raise _Found

    seconds = None if deadline is None else max(0.0, deadline - time.time())
    try:
        Exhaustive(test.scenario, arch, Bounds(max_steps=bounds.max_steps, preemptions=bounds.preemptions,
                                               seconds=seconds), debug=debug, merge=merge).run(tally_until_found)
    except _Found:
        pass
    return tally.counterexamples


def _replayed(test, arch: str, bounds: Bounds, debug: bool, key: str, schedule: list):
    """The Counterexample of the execution a worker ran with that schedule (run again here)."""
    from .check import Counterexample

    result = Execution(test.scenario, arch, Replay(schedule), max_steps=bounds.max_steps, debug=debug).run()
    return Counterexample(key, result, format_schedule(result.schedule, test.scenario.actor_names()))


class _Remote:
    """Units handed on, to the first free worker: of a Pool given (forked after handoff_pipe()),
    of `workers` processes forked for them, or of the Ray cluster at `cluster`, or explored
    here, one after the other (`workers` 1).  `results()` yields what each unit sent back
    (index, Search, summaries: its own and its splits'), as units end, once the units it handed
    back mid-way are handed on: a pool's through the pipe, read by a thread of this process
    (which may be busy with the sequential search's own subtree), the cluster's through a
    Ray queue, read as tasks end."""

    def __init__(self, workers, cluster: str | None, payload):
        self.payload = payload  # (index, unit, handoff) -> the payload of explore_unit_tally
        self.pool = self.tasks = self.reader = self.demand = None  # demand: the pool's _Demand
        self.here: list | None = None
        self.splits: dict = {}  # index -> the summaries of the splits it handed back
        self.ended: queue.Queue = queue.Queue()
        self.lock, self.pending = threading.Lock(), 0
        if cluster is not None:
            from ..explore.cluster import Tasks

            self.tasks = Tasks(cluster, explore_unit_tally)
            self.handoff = self.tasks.queue()
        elif isinstance(workers, int) and workers <= 1:
            self.here, self.handoff = [], None
        else:
            if isinstance(workers, int):
                import multiprocessing

                from .matrix import _quiet_worker

                handoff_pipe()
                workers = self.pool = multiprocessing.get_context("fork").Pool(workers, initializer=_quiet_worker)
            self.workers, self.handoff = workers, None if _HANDOFF is None else next(_SEARCHES)
            self.demand = None if self.handoff is None else _DEMAND
            if self.handoff is not None:
                self.reader = threading.Thread(target=self._read, daemon=True)
                self.reader.start()

    def submit(self, index: tuple, unit: tuple) -> None:
        payload = self.payload(index, unit, self.handoff)
        if self.tasks is not None:
            self.tasks.submit(payload)
        elif self.here is not None:
            self.here.append(payload)
        else:
            with self.lock:
                self.pending += 1
            self.workers.apply_async(explore_unit_tally, (payload,), callback=self._returned,
                                     error_callback=self.ended.put)

    def _returned(self, result) -> None:
        if result is not None:  # (through the pipe, it is None)
            self.ended.put(result)

    def _handle(self, message) -> None:
        """A unit's message: units it handed back (handed on at once), or its result."""
        if message[0] == "done":
            self.ended.put(message[1])
            return
        _, index, first, units, summary = message
        self.splits.setdefault(index, []).append(summary)
        for j, unit in enumerate(units):
            self.submit(index + (first + j,), unit)

    def _read(self) -> None:
        while (message := _HANDOFF.get()) is not None:
            if message[0] == self.handoff:
                self._handle(message[1:])

    def results(self):
        if self.tasks is not None:
            for result in self.tasks.finished():
                for message in self.tasks.drain(self.handoff):  # put before the task returned
                    self._handle(message)
                yield result
        elif self.here is not None:
            while self.here:
                yield explore_unit_tally(self.here.pop(0))
        else:
            while self.pending:
                result = self.ended.get()
                with self.lock:
                    self.pending -= 1
                if isinstance(result, BaseException):
                    raise result
                yield result

    def close(self) -> None:
        if self.reader is not None:
            _HANDOFF.put(None)
            self.reader.join()
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _close(visited) -> None:
    """A merged search's units are done: its visited set is dropped (the cluster's actors ended)."""
    if isinstance(visited, tuple):
        _VISITED.pop(visited, None)
    elif visited is not None:
        visited.close()


def check_in_parallel(test, arch: str, bounds: Bounds, debug: bool, workers, cluster: str | None,
                      progress=None, merge: bool = False) -> tuple[Search, object]:
    """Explore `test` on `arch`: the sequential search for SEQUENTIAL_FIRST seconds, then,
    if it did not end, what it has not explored split into units on `workers` processes (a
    number, or a multiprocessing Pool whose workers were forked before the test was loaded:
    they parse it from its source), or on the Ray cluster at `cluster`, while this process
    goes on with the subtree it was in, handing on what it leaves every SLICE_SECONDS, as the
    units do.  The Search summed over all of it, in the sequential search's order, then the
    units', and the check.Tally of its executions.

    `merge`: the merged search (explore/dpor.py) everywhere but in the splits' top searches.
    The units share a visited set (explore/visited.py): sharded over the cluster's actors, or
    one a worker process, which starts as a copy of the sequential search's when the workers are
    forked here (what that search published is complete).  The counterexamples are then the
    merged sequential search's: its own executions', or it is run again (what the first unit
    meets depends on what the others published)."""
    from .check import Tally

    start = time.perf_counter()
    tally = Tally(test, debug)  # the sequential search's executions, then the others' sums
    hook = None if progress is None else lambda s: progress(s.executions, len(tally.states), s.seconds)
    search, sequential = Search(), None
    if bounds.seconds is None and SEQUENTIAL_FIRST > 0:  # (a --seconds bound is the whole search's)
        search, sequential = begin(test.scenario, arch, bounds, SEQUENTIAL_FIRST, tally, debug=debug, progress=hook,
                                   merge=merge)
        if sequential is None:  # it ended: it is the sequential search, exactly
            return search, tally
    deadline = None if bounds.seconds is None else time.time() + bounds.seconds
    if cluster is not None:
        from ..explore.cluster import cpus

        count = cpus(cluster)
    else:
        count = workers if isinstance(workers, int) else workers._processes
    key = (test.litmus.path, test.litmus.text, test.scenario.api)
    _TESTS[key] = test
    visited = None  # not merged
    if merge and cluster is not None:
        from ..explore.cluster import ShardedVisited

        visited = ShardedVisited(cluster)
    elif merge:
        visited = (os.getpid(), next(_SEARCHES))
        _VISITED.clear()
        _VISITED[visited] = Visited() if sequential is None else sequential.explored
    units = lambda: Tally(test, debug, schedules=True)  # noqa: E731  (split's tally of its own executions)
    try:
        remote = _Remote(workers, cluster, lambda index, unit, handoff: (
            index, key, arch, bounds, debug, unit, deadline, handoff, count, visited))
    except BaseException:
        _close(visited)
        raise
    handed = 0
    demand = remote.demand

    def hand_on(cut) -> None:
        nonlocal handed
        tally.add(cut.tally.summary())
        if demand is not None:
            demand.add(waiting=len(cut.units))
        for unit in cut.units:
            remote.submit((handed,), unit)
            handed += 1

    parts, leftmost = {}, False  # index -> what the unit sent back; added in the units' order once all are in
    try:
        if sequential is None:  # split at once
            cut = split(test.scenario, arch, bounds, count, units, debug=debug)
            add(search, cut.search)
            hand_on(cut)
            leftmost = cut.leftmost and not merge  # merged: what the first unit meets depends on the others
        else:  # on with the subtree it was in, while the units are explored
            seconds = SLICE_SECONDS if count > 1 and demand is None else math.inf
            hungry = None if demand is None else demand.hungry(count)
            if demand is not None:
                demand.add(exploring=1)
            try:
                add(search, in_slices(test.scenario, arch, bounds, sequential, 0, seconds, tally, hand_on, count,
                                      units, hungry=hungry, debug=debug))
            finally:
                if demand is not None:
                    demand.add(exploring=-1)
        executions, states = search.executions, set(tally.states)
        for part in remote.results():
            parts[part[0]] = part
            executions += part[1].executions
            states |= part[2][0].keys()
            if progress is not None:
                progress(executions, len(states), time.perf_counter() - start)
    finally:
        remote.close()
        _close(visited)
    for index in sorted(parts):
        add(search, parts[index][1])
        for summary in [parts[index][2], *remote.splits.get(index, ())]:
            tally.add(summary)
    # the first unit's first executions per outcome, when they are the sequential search's
    first = parts[(0,)][2][-1] if leftmost and (0,) in parts else {}
    wanted = set(tally.candidates) | tally.counterexamples.keys()
    if wanted <= tally.counterexamples.keys():
        pass  # the sequential search's own executions showed them all, first
    elif wanted <= first.keys():  # the sequential search shows them all in its first subtree: the first unit
        tally.counterexamples = {k: _replayed(test, arch, bounds, debug, k, first[k]) for k in first}
    else:
        tally.counterexamples = _first_counterexamples(test, arch, bounds, debug, wanted, deadline, merge)
    for key in sorted(wanted - tally.counterexamples.keys()):  # a bound stopped it: the least schedule
        schedule = min(tally.candidates[key], key=lambda s: (len(s), s))
        tally.counterexamples[key] = _replayed(test, arch, bounds, debug, key, schedule)
    search.complete = not search.cut
    search.seconds = time.perf_counter() - start
    return search, tally
