"""Optimal DPOR (explore/dpor.py): wakeup trees reach what naive enumeration reaches, and a
sleep set cuts a run only where the docstring says it may (a probe before a violation, a
wakeup step whose footprint was not known)."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptelab.explore.dpor import Bounds, Exhaustive, _insert
from ptelab.litmus import load
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse

from .test_explore import COVERED, litmus_texts

LITMUS = Path(__file__).resolve().parent.parent / "litmus"


def _search(test, arch: str, **kw):
    finals, outcomes = set(), set()

    def seen(result):
        if result.final is not None:
            finals.add(repr(sorted(result.final.items())))
        outcomes.update(v.invariant for v in result.violations)

    search = Exhaustive(test.scenario, arch, Bounds(executions=kw.pop("executions", None)), **kw).run(seen)
    return search, finals, outcomes


# derandomized (CI runs the same examples every time); other examples than test_explore's
# properties, which check the default search (optimal) against naive enumeration too
@settings(max_examples=16, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=litmus_texts(), arch=st.sampled_from(COVERED))
def test_wakeup_trees_reach_what_naive_enumeration_reaches_and_cut_only_runs_they_guessed(text, arch):
    test = LitmusTest(parse("random.litmus", text))
    optimal, finals, outcomes = _search(test, arch, executions=2500)
    if not optimal.complete:  # left out: the bound that keeps the property's time down
        return
    assert optimal.redundant == optimal.probes + optimal.guessed
    naive, naive_finals, naive_outcomes = _search(test, arch, naive=True, executions=1000)
    assert naive_finals <= finals and naive_outcomes <= outcomes
    if naive.complete:
        assert naive_finals == finals and naive_outcomes == outcomes


def test_the_classic_search_cuts_runs_that_wakeup_trees_never_start():
    """txn-mprotect-range on Xen (mprotect over three pages, two PTE locks, racing a store and
    a TLB fill): the classic search starts runs a sleep set cuts; the optimal one starts
    none, in as many executions, and finds the same final states and violations."""
    test = load(LITMUS / "txn-mprotect-range.litmus")
    classic, classic_finals, classic_outcomes = _search(test, "xen", optimal=False)
    optimal, finals, outcomes = _search(test, "xen")
    assert classic.redundant > 0 and optimal.redundant == 0
    assert optimal.executions <= classic.executions
    assert (finals, outcomes) == (classic_finals, classic_outcomes)


def test_a_preemption_bounded_search_stays_classic_and_says_it_was_cut():
    test = load(LITMUS / "op-fault.litmus")
    search = Exhaustive(test.scenario, "x86", Bounds(preemptions=0))
    assert not search.optimal
    result = search.run(lambda r: None)
    assert "preemptions" in result.cut and not result.complete


def test_a_wakeup_sequence_covered_by_a_branch_is_not_inserted_and_others_are_added_last():
    x, y = ("pte", 1), ("pte", 2)
    tree = []
    _insert(tree, [(0, {x: True}), (1, {x: False})])
    assert tree == [[0, {x: True}, [[1, {x: False}, []]]]]
    # 1 reading y first, then 0: 0's step is a weak initial (independent of 1's), so the
    # descent follows 0, then reaches the leaf 1: covered
    _insert(tree, [(1, {y: False}), (0, {x: True})])
    assert tree == [[0, {x: True}, [[1, {x: False}, []]]]]
    # 1 writing x first: 0 is no weak initial; a new branch after the first
    _insert(tree, [(1, {x: True}), (0, {x: True})])
    assert [node[0] for node in tree] == [0, 1] and tree[1][2] == [[0, {x: True}, []]]
    # a longer sequence through 0 shares its first node
    _insert(tree, [(0, {x: True}), (2, {x: True})])
    assert [child[0] for child in tree[0][2]] == [1, 2]
