"""The explorer: the reduction is sound, schedules replay, sequential runs have no points."""

from collections import Counter, OrderedDict, deque
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ptelab.arch import ARCHES, boot
from ptelab.explore.checkpoint import Checkpoint
from ptelab.explore.dpor import Bounds, Exhaustive, dependent
from ptelab.explore.execution import Execution
from ptelab.explore.footprint import HASH_BITS, OTHER_BITS, join
from ptelab.explore.schedule import ScheduleError, format_schedule, parse_schedule
from ptelab.litmus import load
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse

LITMUS = Path(__file__).resolve().parent.parent / "litmus"

P0_OPS = [
    "pte_t o{i} = ptep_get_and_clear(mm, A, pte_offset(A));",
    "ptep_set_wrprotect(mm, A, pte_offset(A));",
    "ptep_test_and_clear_young(vma, A, pte_offset(A));",
    "pte_t g{i} = ptep_get(pte_offset(A));",
    "set_pte_at(mm, A, pte_offset(A), mk_pte(page_of(A), PAGE_SHARED));",
    "flush_tlb_page(vma, A);",
]
P1_OPS = ["int r{i} = read(A);", "write(A, {i});"]


@st.composite
def litmus_texts(draw, rich: bool = False):
    """A small random test: P0 changes A's entry under its lock, P1 accesses A; `rich` adds
    speculative fills and drops by cpu1 or a third user (both at once take minutes), and
    more accesses."""
    dirty = draw(st.booleans())
    writable = dirty and draw(st.booleans())
    ops = draw(st.lists(st.sampled_from(P0_OPS), min_size=1, max_size=3))
    lazy = draw(st.booleans())
    body = "\n  ".join(op.format(i=i) for i, op in enumerate(ops))
    if lazy:
        body = f"arch_enter_lazy_mmu_mode();\n  {body}\n  arch_leave_lazy_mmu_mode();"
    user = draw(st.lists(st.sampled_from(P1_OPS), min_size=1, max_size=3 if rich else 2))
    speculation = third = ""
    if rich:
        speculation = draw(st.sampled_from(["", "cpu1 may fill A;", "cpu1 may fill A;\n  cpu1 may drop A;"]))
        if not speculation and draw(st.booleans()):
            other = draw(st.lists(st.sampled_from(P1_OPS), min_size=1, max_size=1))
            third = "P2 @ cpu2 {\n  " + " ".join(op.format(i=i + 7) for i, op in enumerate(other)) + "\n}\n"
    return f"""PTE random
"generated"
{{
  A: anon rw, young, {'dirty' if dirty else 'clean'};
  cpu1 has A {'writable ' if writable else ''}in its TLB;
  {speculation}
}}
P0 @ cpu0 {{
  spinlock_t *ptl = pte_lockptr(A);
  spin_lock(ptl);
  {body}
  spin_unlock(ptl);
  flush_tlb_page(vma, A);
}}
P1 @ cpu1 {{
  {' '.join(op.format(i=i + 2) for i, op in enumerate(user))}
}}
{third}forbid any_invariant
"""


# derandomized: CI runs the same examples every time; KNOWN_GAP below is one this test
# found at random, which the reduction missed until the checks became part of the steps
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=litmus_texts(), arch=st.sampled_from(list(ARCHES)))
def test_dpor_reaches_every_state_and_outcome_naive_enumeration_reaches(text, arch):
    _reduced_covers_naive(text, arch)


# The backends whose searches missed states before the checks became part of the steps
# (ppc64-6.12's _PAGE_BUSY), and one of each other kind of MMU: a fixed seed, so CI runs the
# same examples every time (under 30 s on a loaded 2-core machine); both searches are capped,
# and the states naive enumeration reaches must all be reached by a DPOR search that completed
COVERED = ("ppc64-6.12", "ppc64-2.6.27", "x86", "arm64", "s390-6.12", "xen", "ppc32")


@settings(max_examples=24, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=litmus_texts(rich=True), arch=st.sampled_from(COVERED))
def test_dpor_reaches_what_naive_enumeration_reaches_on_richer_scenarios(text, arch):
    _reduced_covers_naive(text, arch, naive_executions=1000, reduced_executions=2500)


KNOWN_GAP = """PTE random
"generated"
{
  A: anon rw, young, clean;
  cpu1 has A in its TLB;
}
P0 @ cpu0 {
  spinlock_t *ptl = pte_lockptr(A);
  spin_lock(ptl);
  set_pte_at(mm, A, pte_offset(A), mk_pte(page_of(A), PAGE_SHARED));
  pte_t o1 = ptep_get_and_clear(mm, A, pte_offset(A));
  spin_unlock(ptl);
  flush_tlb_page(vma, A);
}
P1 @ cpu1 {
  write(A, 2);
}
forbid any_invariant
"""


def test_dpor_reaches_the_state_a_check_order_hid():
    """On ppc64-6.12 naive enumeration reaches o1 = 'pfn 2 WU', *A=2 through
    P0*2 P1*5 P0*2 P1*2 P0: P0's plain store wipes the _PAGE_BUSY hash_page set, P0's clear
    goes through, hash_page's final store puts the entry back, then P0 unlocks.  With P0's
    unlock first the check after it finds cpu1's HPTE stale and the execution stops; the
    unlock and the store are independent as steps, so sleep sets took the two orders for
    one.  The check after a step is part of it now (what it reads is in its footprint)."""
    _reduced_covers_naive(KNOWN_GAP, "ppc64-6.12")
    test = LitmusTest(parse("random.litmus", KNOWN_GAP))
    assert ("P0.o1=pfn 2 WU", "*A=2", "[set-nonvalid]") in test.check("ppc64-6.12").states


def _reduced_covers_naive(text: str, arch: str, naive_executions: int = 4000,
                          reduced_executions: int | None = None) -> None:
    """DPOR's search completes and reaches every state naive enumeration reaches; given
    `reduced_executions`, a scenario DPOR does not finish within it is left out (the bound
    that keeps a random property's time down)."""
    test = LitmusTest(parse("random.litmus", text))
    reduced = test.check(arch, bounds=Bounds(executions=reduced_executions))
    if reduced_executions is not None and not reduced.complete:
        return
    naive = test.check(arch, naive=True, bounds=Bounds(executions=naive_executions))
    assert reduced.complete
    assert set(naive.states) <= set(reduced.states)
    assert set(naive.outcomes) <= set(reduced.outcomes)
    if naive.complete:
        assert set(naive.states) == set(reduced.states)
        assert reduced.executions <= naive.executions


def test_dependence_is_a_shared_location_with_a_write():
    pte, tlb = ("pte", 512), ("tlb", 1)
    assert dependent({pte: True}, {pte: False})
    assert not dependent({pte: False}, {pte: False})
    assert not dependent({pte: True}, {tlb: True})
    assert dependent({pte: False, tlb: True}, {tlb: False})


def test_a_write_of_hash_bits_only_commutes_with_a_read_of_the_other_bits_only():
    pte = ("pte", 512)
    assert not dependent({pte: HASH_BITS}, {pte: OTHER_BITS})
    assert not dependent({pte: OTHER_BITS}, {pte: OTHER_BITS})
    for other in (True, False, HASH_BITS):  # a write of anything, a read of every bit
        assert dependent({pte: HASH_BITS}, {pte: other})
    assert dependent({pte: OTHER_BITS}, {pte: True})
    # one step's accesses joined: a write of everything wins, a read of every bit over the others'
    assert join(HASH_BITS, True) is True and join(True, OTHER_BITS) is True
    assert join(OTHER_BITS, False) is False and join(OTHER_BITS, OTHER_BITS) == OTHER_BITS
    assert join(False, HASH_BITS) == HASH_BITS


def test_schedules_round_trip_and_bad_ones_are_refused():
    names = ["P0", "P1", "hw:cpu1:fill:A"]
    choices = [0, 0, 0, 1, 2, 0, 1, 1]
    text = format_schedule(choices, names)
    assert text == "P0*3 P1 hw:cpu1:fill:A P0 P1*2"
    assert parse_schedule(text, names) == choices
    for bad in ("P2", "P0*x", "*3"):
        try:
            parse_schedule(bad, names)
        except ScheduleError as err:
            assert "P0, P1" in str(err)
        else:
            raise AssertionError(bad)


def test_sequential_machines_have_no_scheduling_points():
    machine = boot("ppc64-6.12", debug=False)
    arch = machine.arch
    assert type(arch).__name__ == "Ppc64Hash"  # not the explorable subclass
    assert arch._sched(("pte", 0), True, "nothing") is None
    assert "translate" not in vars(machine)


def test_speculative_fills_and_drops_are_explored(tmp_path):
    """A TLB may be filled at any moment: with `cpu1 may fill A`, an x86 entry whose
    write-protect is never flushed is found stale once a speculative walk cached it
    writable before the change."""
    text = """PTE spec
"speculation"
{
  A: anon rw, young, dirty;
  cpu1 may fill A;
  cpu1 may drop A;
}
P0 @ cpu0 {
  spinlock_t *ptl = pte_lockptr(A);
  spin_lock(ptl);
  ptep_set_wrprotect(mm, A, pte_offset(A));
  spin_unlock(ptl);
}
forbid any_invariant
"""
    test = LitmusTest(parse("spec.litmus", text))
    result = test.check("x86")
    assert result.outcomes["stale-translation"] >= 1
    names = test.scenario.actor_names()
    assert names == ["P0", "hw:cpu1:fill:A", "hw:cpu1:drop:A"]
    assert not test.check("ppc64-6.12").outcomes  # pte_update invalidates the HPTE at once


class _FullReplay(Exhaustive):
    """The search with every prefix replayed step by step, through the controller, from
    an initial state built again for every execution (no checkpoint)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial = None

    def prefix(self):
        return [], []


def _executions(chooser_class, test, arch):
    runs = []

    def record(result):
        runs.append((list(result.schedule), result.final, result.breaches,
                     [v.describe() for v in result.violations], [s.footprint for s in result.steps]))

    search = chooser_class(test.scenario, arch, Bounds()).run(record)
    return runs, search.redundant


@pytest.mark.parametrize("name,arch", [("seed-mprotect", "ppc64-2.6.27"), ("op-fault", "ppc64-6.12"),
                                       ("rule-flush-before-unlock", "ppc64-6.12"), ("fork-cow", "x86"),
                                       ("unmap-free-before-flush", "x86")])
def test_a_fast_forwarded_prefix_gives_the_executions_a_step_by_step_replay_gives(name, arch):
    """The search restores its initial state from a checkpoint and replays each prefix
    without stopping at its points and without checking it again: every execution (its
    schedule, final state, the breaches debug mode saw with their steps, the violations,
    each step's footprint) is the one a step-by-step replay from a freshly built state
    gives."""
    test = load(f"{LITMUS}/{name}.litmus")
    fast, fast_redundant = _executions(Exhaustive, test, arch)
    full, full_redundant = _executions(_FullReplay, test, arch)
    assert len(fast) > 1
    assert fast == full
    assert fast_redundant == full_redundant


@pytest.mark.parametrize("name,arch", [("seed-mprotect", "ppc64-2.6.27"), ("fork-cow", "x86")])
def test_a_search_counts_the_steps_it_ran_and_the_prefix_steps_it_ran_again(name, arch, monkeypatch):
    """Search.steps and Search.replayed: the search goes depth first, so each execution (one a
    sleep set cut too) replays exactly the schedule it shares with the one before (it branches
    off at the next step), and the first replays nothing."""
    test = load(f"{LITMUS}/{name}.litmus")
    schedules, run = [], Execution.run

    def recorded(ex):
        result = run(ex)
        schedules.append(list(result.schedule))
        return result

    monkeypatch.setattr(Execution, "run", recorded)
    search = Exhaustive(test.scenario, arch, Bounds()).run(lambda result: None)
    assert len(schedules) == search.executions + search.redundant > 2

    def shared(a: list, b: list) -> int:
        return next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))

    assert search.steps == sum(map(len, schedules))
    assert search.replayed == sum(shared(a, b) for a, b in zip(schedules, schedules[1:]))
    assert 0 < search.replayed < search.steps


def test_a_search_runs_its_actors_in_the_same_workers_even_after_cutting_them_off(monkeypatch):
    """Each actor runs in a worker greenlet the search reuses: an execution that stops on
    a violation unwinds the actors it cut off and their workers go back idle, so a
    search with stopped executions still makes only one worker per actor."""
    test = load(f"{LITMUS}/rule-flush-before-unlock.litmus")
    used = []
    take = Execution._worker

    def worker(self):
        glet = take(self)
        used.append(glet)
        return glet

    monkeypatch.setattr(Execution, "_worker", worker)
    stopped = []
    search = Exhaustive(test.scenario, "ppc64-6.12", Bounds())
    search.run(lambda result: stopped.append(bool(result.violations)))
    actors = len(test.scenario.actor_names())
    assert any(stopped) and not all(stopped)
    assert len(used) == actors * (search.search.executions + search.search.redundant)
    assert len({id(glet) for glet in used}) == actors
    assert sorted(map(id, search.initial.workers)) == sorted({id(glet) for glet in used})
    assert not any(glet.dead for glet in search.initial.workers)


def _reads_more(fast: list, full: list) -> bool:
    """The same executions, but for reads the fast-forwarded prefix's deferred checks add to
    the first step checked after it: each step's footprint holds the full replay's, and
    whatever it holds beyond it is a read."""
    if [run[:4] for run in fast] != [run[:4] for run in full]:
        return False
    return all(all(a.get(loc) == write for loc, write in b.items())
               and all(write not in (True, HASH_BITS) for loc, write in a.items() if loc not in b)
               for x, y in zip(fast, full) for a, b in zip(x[4], y[4]))


# The fast-forwarded prefix (Execution._replay) runs without the checks, so what the checks
# keep between steps (explore/invariants.py: the operations that ended, the stores whose
# dirtiness is not yet recorded) is brought up to date at the first step checked after it,
# which then reads what the step-by-step replay read during the prefix: on s390, whose
# storage key records a store's dirtiness at once, the step-by-step replay forgets the store
# at the store's own step, the fast-forward at the next entry write, which also reads its
# frame (this example, found at random).  More reads order more steps: never a missed order.
@example(text="PTE random\n\"generated\"\n{\n  A: anon rw, young, clean;\n  cpu1 has A in its TLB;\n}\n"
         "P0 @ cpu0 {\n  spinlock_t *ptl = pte_lockptr(A);\n  spin_lock(ptl);\n"
         "  pte_t o0 = ptep_get_and_clear(mm, A, pte_offset(A));\n  spin_unlock(ptl);\n"
         "  flush_tlb_page(vma, A);\n}\nP1 @ cpu1 {\n  write(A, 2); int r3 = read(A);\n}\nforbid any_invariant\n",
         arch="s390-2.6.27")
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=litmus_texts(), arch=st.sampled_from(list(ARCHES)))
def test_random_scenarios_explore_the_same_from_a_checkpoint_as_from_fresh_builds(text, arch):
    test = LitmusTest(parse("random.litmus", text))
    (fast, fast_redundant), (full, full_redundant) = _executions(Exhaustive, test, arch), _executions(_FullReplay,
                                                                                                        test, arch)
    assert fast_redundant == full_redundant and _reads_more(fast, full)


def test_a_checkpoint_puts_back_contents_in_place_and_drops_what_an_execution_made():
    class Node:
        def __init__(self, items):
            self.items = items
            self.seen = set()

    class Lock:
        __slots__ = ("owner", "since")

        def __init__(self):
            self.owner = None  # "since" stays empty until the lock is taken

    shared = [1, 2]
    node = Node({"a": shared, "b": (shared, [3])})
    lock = Lock()
    root = [node, shared, {lock: "held by nobody"}]
    checkpoint = Checkpoint(root)
    lock.owner, lock.since = 1, 3
    shared.append(99)
    node.items["c"] = Node({})
    node.items["b"][1].clear()
    node.seen.add(5)
    node.extra = "new attribute"
    assert checkpoint.restore() is root
    assert shared == [1, 2] and node.items["a"] is shared and root[1] is shared
    assert set(node.items) == {"a", "b"} and node.items["b"][1] == [3]
    assert node.seen == set() and not hasattr(node, "extra")
    assert lock.owner is None and not hasattr(lock, "since")


def test_a_checkpoint_restores_subclasses_by_their_contents():
    class Recording(list):
        writes = 0

        def __setitem__(self, i, value):
            Recording.writes += 1
            list.__setitem__(self, i, value)

    counts, field = Counter(a=2), Recording([0, 0])
    checkpoint = Checkpoint([counts, field])
    counts["a"] += 5
    field[1] = 7
    checkpoint.restore()
    assert counts == Counter(a=2)  # not 2 + 2: put back, not added
    assert field == [0, 0] and Recording.writes == 1  # the restore is not a recorded access


def test_a_checkpoint_refuses_state_it_cannot_see():
    with pytest.raises(TypeError, match="deque"):
        Checkpoint({"queue": deque()})
    with pytest.raises(TypeError, match="OrderedDict"):
        Checkpoint([OrderedDict()])
