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
on x86 11.4 s -> 6.8 s = 1.68x instead of 1.85x: docs/benchmarks.md.)
"""

from __future__ import annotations

import time

from ..explore.dpor import Bounds, Exhaustive, Search
from ..explore.execution import Execution
from ..explore.parallel import add, begin, explore_unit, resume, split
from ..explore.parallel import path as explore_path
from ..explore.schedule import Replay, format_schedule

SEQUENTIAL_FIRST = 0.5  # seconds the sequential search runs alone before what it left is split
_TESTS: dict = {}  # (path, source, api) -> LitmusTest: forked workers find theirs here, others parse it


def _test(key: tuple):
    test = _TESTS.get(key)
    if test is None:
        from .check import LitmusTest
        from .syntax import parse

        path, source, api = key
        test = _TESTS[key] = LitmusTest(parse(path, source))
        test.scenario.api = api
    return test


def explore_unit_tally(payload: tuple) -> tuple:
    """A worker: explore one unit, return (its index, its Search, its tally's summary)."""
    from .check import Tally

    index, key, arch, bounds, debug, unit, deadline = payload
    test = _test(key)
    tally = Tally(test, debug, schedules=True)
    search = explore_unit(test.scenario, arch, bounds, unit, tally, debug=debug, deadline=deadline)
    search.progress = None
    return index, search, tally.summary()


class _Found(Exception):
    """Every counterexample wanted was shown: the sequential search stops."""


def _first_counterexamples(test, arch: str, bounds: Bounds, debug: bool, wanted: set, deadline) -> dict:
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
                                               seconds=seconds), debug=debug).run(tally_until_found)
    except _Found:
        pass
    return tally.counterexamples


def _replayed(test, arch: str, bounds: Bounds, debug: bool, key: str, schedule: list):
    """The Counterexample of the execution a worker ran with that schedule (run again here)."""
    from .check import Counterexample

    result = Execution(test.scenario, arch, Replay(schedule), max_steps=bounds.max_steps, debug=debug).run()
    return Counterexample(key, result, format_schedule(result.schedule, test.scenario.actor_names()))


class _Remote:
    """Units handed on: to a Pool given, to `workers` processes forked for them, or to the Ray
    cluster at `cluster`, at once; `results` yields what each sent back, as they end."""

    def __init__(self, workers, cluster: str | None, payloads: list):
        self.pool = None
        if cluster is not None:
            from ..explore.cluster import ray_map

            self.results = ray_map(cluster, explore_unit_tally, payloads)
        elif isinstance(workers, int) and workers <= 1 or not payloads:
            self.results = map(explore_unit_tally, payloads)  # here, when asked for
        else:
            if isinstance(workers, int):
                import multiprocessing

                from .matrix import _quiet_worker

                workers = self.pool = multiprocessing.get_context("fork").Pool(workers, initializer=_quiet_worker)
            self.results = workers.imap_unordered(explore_unit_tally, payloads, chunksize=1)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _in_order(parts):
    """(index, ...) tuples yielded in index order (0, 1, ...), whatever order they come in."""
    waiting, due = {}, 0
    for part in parts:
        waiting[part[0]] = part
        while due in waiting:
            yield waiting.pop(due)
            due += 1


def check_in_parallel(test, arch: str, bounds: Bounds, debug: bool, workers, cluster: str | None,
                      progress=None) -> tuple[Search, object]:
    """Explore `test` on `arch`: the sequential search for SEQUENTIAL_FIRST seconds, then,
    if it did not end, what it has not explored split into units on `workers` processes (a
    number, or a multiprocessing Pool whose workers were forked before the test was loaded:
    they parse it from its source), or on the Ray cluster at `cluster`, while this process
    goes on with the subtree it was in.  The Search summed over all of it, in the sequential
    search's order, then the units', and the check.Tally of its executions."""
    from .check import Tally

    start = time.perf_counter()
    tally = Tally(test, debug)  # the sequential search's executions, then the others' sums
    hook = None if progress is None else lambda s: progress(s.executions, len(tally.states), s.seconds)
    search, sequential, path = Search(), None, ()
    if bounds.seconds is None and SEQUENTIAL_FIRST > 0:  # (a --seconds bound is the whole search's)
        search, sequential = begin(test.scenario, arch, bounds, SEQUENTIAL_FIRST, tally, debug=debug, progress=hook)
        if sequential is None:  # it ended: it is the sequential search, exactly
            return search, tally
        path = explore_path(sequential)
    deadline = None if bounds.seconds is None else time.time() + bounds.seconds
    if cluster is not None:
        from ..explore.cluster import cpus

        count = cpus(cluster)
    else:
        count = workers if isinstance(workers, int) else workers._processes
    cut = split(test.scenario, arch, bounds, count, lambda: Tally(test, debug, schedules=True), debug=debug,
                path=path)
    add(search, cut.search)
    tally.add(cut.tally.summary())
    key = (test.litmus.path, test.litmus.text, test.scenario.api)
    _TESTS[key] = test
    payloads = [(i, key, arch, bounds, debug, unit, deadline) for i, unit in enumerate(cut.units)]
    remote = _Remote(workers if cut.units[1:] else 1, cluster, payloads)
    try:
        if sequential is not None:  # on with the subtree it was in, while the units are explored
            add(search, resume(sequential, cut.floor, tally))
        first = {}  # the first unit's first executions per outcome, when they are the sequential search's
        for index, part, summary in _in_order(remote.results):
            if index == 0 and cut.leftmost:
                first = summary[-1]
            add(search, part)
            tally.add(summary)
            if progress is not None:
                progress(search.executions, len(tally.states), time.perf_counter() - start)
    finally:
        remote.close()
    wanted = set(tally.candidates) | tally.counterexamples.keys()
    if wanted <= tally.counterexamples.keys():
        pass  # the sequential search's own executions showed them all, first
    elif wanted <= first.keys():  # the sequential search shows them all in its first subtree: the first unit
        tally.counterexamples = {k: _replayed(test, arch, bounds, debug, k, first[k]) for k in first}
    else:
        tally.counterexamples = _first_counterexamples(test, arch, bounds, debug, wanted, deadline)
    for key in sorted(wanted - tally.counterexamples.keys()):  # a bound stopped it: the least schedule
        schedule = min(tally.candidates[key], key=lambda s: (len(s), s))
        tally.counterexamples[key] = _replayed(test, arch, bounds, debug, key, schedule)
    search.complete = not search.cut
    search.seconds = time.perf_counter() - start
    return search, tally
