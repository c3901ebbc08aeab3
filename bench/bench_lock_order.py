"""What ordering PTE locks' critical sections only when they must (lazy happens-before) could save.

    .venv/bin/python bench/bench_lock_order.py [--arch ppc64-6.12] [--only fault-3cpu-1page] [--seconds S]

Each scenario of bench/scenarios/ is searched exhaustively (optimal DPOR, one core), and:

- the races the search reverses are counted, and among them the races of two acquires of one
  PTE lock, and those of them whose critical sections' bodies commute (the earlier one's steps
  up to its release against the later one's, neither dependent on the other once the lock's own
  locations are left out), and those whose earlier body also commutes with every step that
  happens after the later acquire (what a lazy happens-before would not order);
- every execution the search reports is keyed by its trace: its events (actor, its n-th step,
  the step's footprint) and, per location, which earlier events of other actors each access
  conflicts with.  The *eager* key uses every location, the *lazy* key leaves out the PTE
  locks' own locations (("lock", L), ("unlock", L), (RELEASED, L)): two critical sections are
  then ordered only by what their steps touch.  The search covers every eager class, and each
  lazy class is a union of eager ones, so the distinct lazy keys are the executions a search
  that explored one execution per lazy class (Kokologiannakis, Raad, Vafeiadis, "Effective lock
  handling in stateless model checking", OOPSLA 2019) would run: eager / lazy is the most lazy
  lock handling can save on that search.
- the *observers* key is the lazy one where the frames' contents (("data", pfn)) are keyed by
  what reads them only: each read by the write it reads from, each write by the reads before it,
  and the last write (Aronis, Jonsson, Lång, Sagonas, "Optimal dynamic partial order reduction
  with observers", TACAS 2018: two stores no load observes need not be ordered but for the final
  value).  It takes a step that wrote a frame's content for a blind write, so it is a ceiling
  on what both reductions together could save.

A search cut by --seconds gives counts over what it explored, not a bound.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ptelab.explore.dpor import Bounds, Exhaustive, dependent
from ptelab.explore.footprint import apart, union
from ptelab.litmus import load
from ptelab.machine.spinlock import RELEASED

SCENARIOS = Path(__file__).parent / "scenarios"


def _lock(footprint: dict | None) -> str | None:
    """The PTE lock a step acquires, if it does."""
    for loc in footprint or ():
        if loc.__class__ is tuple and loc[0] == "lock":
            return loc[1]
    return None


def _own(loc, locks) -> bool:
    """Whether loc is one of the PTE locks' own locations."""
    return loc.__class__ is tuple and len(loc) == 2 and loc[0] in ("lock", "unlock", RELEASED) and loc[1] in locks


def _body(steps, actor: int, start: int, name: str) -> dict | None:
    """The union of `actor`'s footprints from step `start` up to its release of lock `name`
    (the lock's own locations left out); None if it never released it."""
    body: dict = {}
    for step in steps[start:]:
        if step.actor != actor:
            continue
        if ("unlock", name) in step.footprint:
            return body
        union(body, {loc: w for loc, w in step.footprint.items() if not _own(loc, (name,))})
    return None


def trace_key(steps, lazy: bool, observers: bool = False) -> tuple:
    """An execution's trace: its events and, per location, the conflicts between them
    (lazy: the PTE locks' own locations left out; observers: the frames' contents by what
    reads them, the module's docstring)."""
    locks = {_lock(step.footprint) for step in steps} - {None}
    count: dict[int, int] = {}
    events, accesses = [], {}
    for step in steps:
        n = count.get(step.actor, 0)
        count[step.actor] = n + 1
        event = (step.actor, n)
        events.append((event, tuple(sorted(step.footprint.items(), key=repr))))
        for loc, access in step.footprint.items():
            if not (lazy and _own(loc, locks)):
                accesses.setdefault(loc, []).append((event, access))
    order = []
    for loc, seq in accesses.items():
        if observers and loc[0] == "data":
            last = None
            for j, (event, access) in enumerate(seq):
                if access:
                    last = event
                    order.append(("overwrites", repr(loc), event, frozenset(e for e, a in seq[:j] if not a and e[0] != event[0])))
                else:
                    order.append(("reads", repr(loc), event, last))
            order.append(("last", repr(loc), last))
            continue
        for j, (event, access) in enumerate(seq):
            before = frozenset(e for e, a in seq[:j] if e[0] != event[0] and (a or access) and not apart(a, access))
            if before:
                order.append((repr(loc), event, before))
    return frozenset(events), frozenset(order)


class _Counting(Exhaustive):
    """The search, counting the races it reverses (those of two acquires of one lock, at the
    end of each execution, when both critical sections are known)."""

    def run(self, on_result):
        self.counts = dict(races=0, lock=0, bodies_commute=0, commute_with_after=0)
        self._lock_races = []
        return super().run(on_result)

    def _reverse(self, k, i, actor, footprint):
        self.counts["races"] += 1
        name = _lock(self.stack[k].footprint)
        if name is not None and name == _lock(footprint):
            self._lock_races.append((k, i, actor, name))
        super()._reverse(k, i, actor, footprint)

    def _pending_races(self, ex):
        super()._pending_races(ex)  # may reverse more races
        steps, counts = ex.steps, self.counts
        for k, i, actor, name in self._lock_races:
            counts["lock"] += 1
            earlier = _body(steps, steps[k].actor, k, name)
            later = _body(steps, actor, i, name) if i < len(steps) else None
            if earlier is None or later is None or dependent(earlier, later):
                continue
            counts["bodies_commute"] += 1
            after: dict = {}
            for j in range(i, len(steps)):
                if self._clocks[j][actor] >= i:
                    union(after, {loc: w for loc, w in steps[j].footprint.items() if not _own(loc, (name,))})
            counts["commute_with_after"] += not dependent(earlier, after)
        self._lock_races = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="ppc64-6.12", help="comma list (default ppc64-6.12)")
    parser.add_argument("--only", action="append", help="scenario (repeatable; default fault-3cpu-1page)")
    parser.add_argument("--seconds", type=float, default=None, help="cap on each search (default none)")
    args = parser.parse_args()
    print("| scenario | arch | executions | cut | races reversed | lock-acquire races | bodies commute "
          "| also with what follows | eager classes | lazy classes | eager/lazy | lazy + observers | eager/that | CPU s |")
    print("|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name in args.only or ["fault-3cpu-1page"]:
        test = load(str(SCENARIOS / f"{name}.litmus"))
        for arch in args.arch.split(","):
            eager, lazy, observed = set(), set(), set()

            def seen(result):
                eager.add(trace_key(result.steps, False))
                lazy.add(trace_key(result.steps, True))
                observed.add(trace_key(result.steps, True, True))

            search = _Counting(test.scenario, arch, Bounds(seconds=args.seconds))
            cpu = time.process_time()
            s = search.run(seen)
            cpu = time.process_time() - cpu
            c = search.counts
            print(f"| {name} | {arch} | {s.executions:,} | {', '.join(sorted(s.cut)) or 'complete'} | {c['races']:,} "
                  f"| {c['lock']:,} | {c['bodies_commute']:,} | {c['commute_with_after']:,} | {len(eager):,} "
                  f"| {len(lazy):,} | {len(eager) / max(len(lazy), 1):.2f} | {len(observed):,} "
                  f"| {len(eager) / max(len(observed), 1):.2f} | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
