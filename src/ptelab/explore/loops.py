"""Loops in an actor's code: the local-work bound and the spin-loop (await) reduction.

Every loop of a litmus block reports the start of each of its iterations here
(`Actor.loop(where)` gives it a `Loop`).

**The local-work bound.**  A loop that touches no shared state takes no scheduling
point, so no step bound applies to it (`while (1) {}`, a long local computation).
An actor may run at most LOCAL_WORK iterations between two of its scheduling points;
past that the execution is cut (bound `local-work`, naming the loop's file:line), and
`--seconds` is checked inside the loop as well.  Every execution ends.

**The spin-loop reduction.**  A *waiting* iteration is one that took at least one step,
wrote nothing (its steps' footprints have no write), and ends with the locals it
started with: the next iteration makes the same reads and, unless another actor wrote
one of the locations read since, gets the same values, so it does exactly the same
again.  After a waiting iteration the actor is blocked (not enabled) until another
actor writes a location the iteration read.  Every execution of the loop is thereby
equivalent to one in which it spins once less, with the same final state and the same
outcomes (Godefroid's await; the "spin-assume" transformation of stateless model
checkers), so a spin loop finds exactly what its loop-free twin finds.  When no actor
can go on and one is blocked so, the loop spins forever: a livelock, reported as a
deadlock with the loop's file:line.

The footprints of the steps the iteration overlaps over-approximate what it read and
wrote (a step also holds the code before and after the iteration up to the actor's
next points): more writes block less often, more reads wake more often; both keep the
reduction sound.  Only locals that are values (integers, entries) or shared objects
whose changes are scheduling points (a PTE lock) are compared; a block holding other
state (an mmu_gather) is never blocked.
"""

from __future__ import annotations

from time import perf_counter

from ..machine.spinlock import SpinLock

LOCAL_WORK = 100_000  # iterations an actor may run between two of its scheduling points
_CLOCK_EVERY = 1024  # iterations between two looks at the clock (--seconds)


class Cut(Exception):
    """A bound stopped the execution inside an actor's code."""

    def __init__(self, bound: str, note: str):
        super().__init__(note)
        self.bound, self.note = bound, note


class Waiting:
    """An actor blocked after a waiting iteration: until another actor writes one of `reads`
    at or after step `since`."""

    __slots__ = ("reads", "since", "where")

    def __init__(self, reads: frozenset, since: int, where: str):
        self.reads, self.since, self.where = reads, since, where

    def woken(self, steps: list, me: int) -> bool:
        """Whether a step of another actor since `since` wrote what the loop read (and the
        steps looked at are not looked at again)."""
        reads = self.reads
        for i in range(self.since, len(steps)):
            step = steps[i]
            if step.actor != me and any(write and loc in reads for loc, write in step.footprint.items()):
                return True
        self.since = len(steps)
        return False


class Loop:
    """One running loop of one actor."""

    __slots__ = ("execution", "actor", "where", "locals", "first")

    def __init__(self, execution, actor, where: str):
        self.execution, self.actor, self.where = execution, actor, where
        self.locals = None  # the locals when the last iteration started
        self.first = -1  # the step in progress when it started

    def iterate(self, env_vars: dict) -> bool:
        """At the start of each iteration (before its condition): count local work, check the
        clock, and block the actor if the iteration that just ended was a waiting one."""
        ex, actor = self.execution, self.actor
        if not ex.active:
            return True
        steps = ex.steps
        current = len(steps) - 1
        if actor.work_step == current:
            actor.work += 1
            if actor.work > LOCAL_WORK:
                raise Cut("local-work", f"{actor.name}'s loop at {self.where} ran {LOCAL_WORK:,} iterations "
                          "without a scheduling point (the local-work bound)")
            if actor.work % _CLOCK_EVERY == 0 and ex.deadline is not None and perf_counter() > ex.deadline:
                raise Cut("seconds", f"{actor.name}'s loop at {self.where} was running when --seconds ran out")
        else:
            actor.work_step, actor.work = current, 0
        if not ex.spin:
            return True
        now = _snapshot(env_vars)
        if now is not None and now == self.locals and self.first < current:
            reads = _waited_on(steps, self.first, current, actor.index)
            if reads:
                waiting = Waiting(reads, self.first, self.where)
                if not waiting.woken(steps, actor.index):
                    actor.waiting = waiting
        self.locals, self.first = now, current
        return True


def _waited_on(steps: list, first: int, last: int, me: int) -> frozenset | None:
    """The locations the actor's steps first..last read, or None if one of them wrote."""
    reads = set()
    for i in range(first, last + 1):
        step = steps[i]
        if step.actor != me:
            continue
        for loc, write in step.footprint.items():
            if write:
                return None
            reads.add(loc)
    return frozenset(reads)


def _snapshot(env_vars: dict) -> tuple | None:
    """The locals as values, or None when one is state that a comparison cannot see."""
    items = []
    for name, value in env_vars.items():
        if not (value is None or isinstance(value, (int, str, SpinLock))):
            return None
        items.append((name, value))
    return tuple(items)
