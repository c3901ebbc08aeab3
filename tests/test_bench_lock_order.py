"""bench/bench_lock_order.py's trace keys: what its eager/lazy figure counts."""

import importlib.util
from pathlib import Path

from ptelab.explore.execution import Step
from ptelab.explore.footprint import OTHER_BITS
from ptelab.machine.spinlock import RELEASED

_spec = importlib.util.spec_from_file_location("bench_lock_order", Path(__file__).parent.parent / "bench" / "bench_lock_order.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

L = "ptl:0"


def _section(actor: int, body: dict) -> list:
    """A critical section of lock L: the acquire, one step inside, the release."""
    return [Step(actor, {("lock", L): True, (RELEASED, L): False}, "spin_lock", 0),
            Step(actor, body, "load PTE", 0),
            Step(actor, {("unlock", L): True, (RELEASED, L): True}, "spin_unlock", 0)]


def _keys(first: dict, second: dict) -> tuple:
    """The eager and lazy keys of cpu0's section then cpu1's, and of the other order."""
    one = _section(0, first) + _section(1, second)
    other = _section(1, second) + _section(0, first)
    return [(bench.trace_key(e, False), bench.trace_key(e, True)) for e in (one, other)]


def test_sections_whose_bodies_commute_are_one_lazy_class_and_two_eager_ones():
    (eager1, lazy1), (eager2, lazy2) = _keys({("pte", 1): OTHER_BITS}, {("pte", 1): False})
    assert eager1 != eager2
    assert lazy1 == lazy2


def test_sections_whose_bodies_conflict_stay_two_lazy_classes():
    (eager1, lazy1), (eager2, lazy2) = _keys({("pte", 1): True}, {("pte", 1): False})
    assert eager1 != eager2
    assert lazy1 != lazy2


def test_the_order_of_steps_outside_the_lock_stays_in_the_lazy_key():
    # cpu0 stores to the frame after its section, cpu1 loads it inside its own: the lock's
    # order is left out, the data's order is not
    one = _section(0, {}) + [Step(0, {("data", 5): True}, "store", 0)] + _section(1, {("data", 5): False})
    other = _section(0, {}) + _section(1, {("data", 5): False}) + [Step(0, {("data", 5): True}, "store", 0)]
    assert bench.trace_key(one, True) != bench.trace_key(other, True)


def test_observers_key_keeps_the_last_store_and_what_each_load_reads():
    def store(actor):
        return Step(actor, {("data", 5): True}, "store", 0)

    def load(actor):
        return Step(actor, {("data", 5): False}, "load", 0)

    def key(steps):
        return bench.trace_key(steps, True, True)

    # two stores before a third: their order is seen by nothing
    assert key([store(0), store(1), store(2)]) == key([store(1), store(0), store(2)])
    assert bench.trace_key([store(0), store(1), store(2)], True) != bench.trace_key([store(1), store(0), store(2)], True)
    # which store is last, and which store a load reads, are kept
    assert key([store(0), store(1)]) != key([store(1), store(0)])
    assert key([store(0), load(2), store(1), store(3)]) != key([store(1), load(2), store(0), store(3)])
