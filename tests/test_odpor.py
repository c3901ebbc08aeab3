"""Optimal DPOR (explore/dpor.py): wakeup trees reach what naive enumeration reaches, and a
sleep set cuts a run only where the docstring says it may (a probe before a violation, a
wakeup step whose footprint was not known)."""

from pathlib import Path

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ptelab.explore.dpor import Bounds, Exhaustive, _insert
from ptelab.litmus import load
from ptelab.machine.hash_table import HPTE_V_VALID
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse

from .test_explore import COVERED, KNOWN_GAP, litmus_texts

LITMUS = Path(__file__).resolve().parent.parent / "litmus"


def _search(test, arch: str, state=None, **kw):
    """(the Search, its final states, its outcomes); a final state is the test's observation,
    with what state(world) says of the machine when given."""
    finals, outcomes = set(), set()

    def seen(result):
        if result.final is not None:
            finals.add(repr(sorted(result.final.items())) + (repr(state(result.world)) if state else ""))
        outcomes.update(v.invariant for v in result.violations)

    search = Exhaustive(test.scenario, arch, Bounds(executions=kw.pop("executions", None)), **kw).run(seen)
    return search, finals, outcomes


def _naive_reaches_no_more(test, arch: str, finals: set, outcomes: set, executions: int, state=None) -> None:
    """Naive enumeration (up to `executions`) reaches no final state or outcome the search did
    not, and, when it is complete, exactly the search's."""
    naive, naive_finals, naive_outcomes = _search(test, arch, naive=True, executions=executions, state=state)
    assert naive_finals <= finals and naive_outcomes <= outcomes
    if naive.complete:
        assert naive_finals == finals and naive_outcomes == outcomes


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
    _naive_reaches_no_more(test, arch, finals, outcomes, 1000)


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


# Faults on a hash MMU: hash_page's ldarx that finds the entry not present, busy or not
# writable stores nothing, a hash search that fills no TLB entry writes none, and a tlbie
# writes only the TLBs that hold the page: those steps only read the others
# (explore/execution.py only_read); on x86 a walk that sets no Accessed or Dirty bit
# only reads the entry
PAGES = ('anon rw, old, clean', 'anon rw, young, clean', 'anon rw, young, clean, hashed', 'anon none',
         'anon ro, young, clean, vma rw', 'file "f" shared, ro, young, dirty, vma rw')
ACCESSES = ("int r{i} = read(A);", "write(A, {i});")
MPROTECT = ("spinlock_t *ptl = pte_lockptr(A); spin_lock(ptl); arch_enter_lazy_mmu_mode(); "
            "pte_t old = ptep_modify_prot_start(vma, A, pte_offset(A)); "
            "ptep_modify_prot_commit(vma, A, pte_offset(A), old, pte_modify(old, PAGE_SHARED)); "
            "arch_leave_lazy_mmu_mode(); spin_unlock(ptl);")


PEEK = "pte_t g = ptep_get(pte_offset(A));"  # sees whether a walk or hash_page set Accessed yet
# a plain store that takes write permission away, with no flush: a translation filled writable
# before it is stale once the store's block has ended (checked then), in some orders only
WRPROTECT = "pte_t w = ptep_get(pte_offset(A)); set_pte_at(mm, A, pte_offset(A), pte_wrprotect(w));"
def _fault_text(name: str, page: str, blocks: list, fill: str = "") -> str:
    """A generated litmus test: page A in state `page`, one CPU per block."""
    body = "".join(f"P{n} @ cpu{n} {{\n  {block}\n}}\n" for n, block in enumerate(blocks))
    return f'PTE {name}\n"generated"\n{{\n  A: {page};\n  {fill}\n}}\n{body}forbid any_invariant\n'


OLD_PAGE_PEEK = _fault_text("peek", PAGES[0], [ACCESSES[0].format(i=1), PEEK])
OLD_PAGE_WRITE_READ = _fault_text("old", PAGES[0], [ACCESSES[1].format(i=1), ACCESSES[0].format(i=2)])
# A tlbie that drops the page from a TLB a load of another CPU hits: ppc64's mprotect flush
# (cpu0 holds it), ppc32's create_hpte of a hashed entry (cpu1 holds it)
TLBIE_HIT = _fault_text("tlbie", PAGES[2], [ACCESSES[0].format(i=1), MPROTECT], "cpu0 has A in its TLB;")
CREATE_HIT = _fault_text("create", PAGES[2], [ACCESSES[1].format(i=1), ACCESSES[0].format(i=2)],
                         "cpu1 has A in its TLB;")


@st.composite
def fault_texts(draw):
    """A CPU accesses a page that is missing, read-only, old or clean, so that hash_page and
    the Linux fault run; another CPU accesses it too, reads its entry, or runs mprotect's
    start/commit on it, or the MMU may fill cpu1's TLB; cpu0's or cpu1's TLB may hold the page."""
    page = draw(st.sampled_from(PAGES))
    blocks = [draw(st.sampled_from(ACCESSES)).format(i=1)]
    others = ["access", "peek", "mprotect", "wrprotect", "fill"] if "none" not in page else ["access", "fill"]
    other = draw(st.sampled_from(others))
    if other == "access":
        blocks.append(draw(st.sampled_from(ACCESSES)).format(i=2))
    elif other == "peek":
        blocks.append(PEEK)
    elif other == "mprotect":
        blocks.append(MPROTECT)
    elif other == "wrprotect":
        blocks.append(WRPROTECT)
    fill = "cpu1 may fill A;" if other == "fill" else ""
    if "none" not in page and draw(st.booleans()):  # a tlbie then has an entry to drop
        # cpu0's: a load that hits it races with cpu1's tlbie (mprotect's flush on ppc64)
        fill += f" cpu{draw(st.integers(0, 1))} has A in its TLB;"
    return _fault_text("random", page, blocks, fill)


def machine_state(world) -> tuple:
    """What the hardware and the page tables hold at the end of an execution: each watched
    entry, each CPU's TLB (frame and writable), each valid HPTE (frame and protection), each
    frame's content.  Executions equivalent under the reduction end in the same one."""
    machine = world.machine
    hpt = getattr(machine, "hash_table", None)
    return (tuple(mm.entry(va) for mm, va, _ in world.watched),
            tuple(tuple(sorted((key, e[0], e[2]) for key, e in cpu.tlb.entries.items())) for cpu in machine.cpus),
            tuple((slot, hpt.entry(slot)) for slot, v in enumerate(hpt.v) if v & HPTE_V_VALID) if hpt else (),
            tuple(machine.mem.data))


@settings(max_examples=16, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=fault_texts(), arch=st.sampled_from(("ppc64-6.12", "ppc64-2.6.27", "ppc64-6.12+fix", "ppc32", "x86")))
# hash_page's ldarx stores Accessed in the old entry: taken for a read there, the search lost
# a final machine state naive enumeration reaches (checked by making it so)
@example(text=OLD_PAGE_WRITE_READ, arch="ppc64-6.12")
@example(text=OLD_PAGE_PEEK, arch="x86")
# a tlbie taken for a read of a TLB that holds the page loses the order where the load hit
# before it (checked by making it so: tests/test_reduction_teeth.py)
@example(text=TLBIE_HIT, arch="ppc64-6.12")
@example(text=CREATE_HIT, arch="ppc32")
# a check after hash_page's store that put a cleared entry back decides a state (the check
# reads what the step changed); the property fails with the checks' reads dropped (checked)
@example(text=KNOWN_GAP, arch="ppc64-6.12")
def test_hash_faults_reach_every_machine_state_naive_enumeration_reaches(text, arch):
    """Final machine states, not only the test's observation: an ldarx taken for a read when
    it stored would lose orders that end with other bits in the entry."""
    assume(arch != "x86" or "hashed" not in text)
    test = LitmusTest(parse("random.litmus", text))
    optimal, finals, outcomes = _search(test, arch, executions=2000, state=machine_state)
    if not optimal.complete:
        return
    _naive_reaches_no_more(test, arch, finals, outcomes, 1500, machine_state)


@st.composite
def shared_frame_texts(draw):
    """Two or three CPUs load and store one page (missing, present, read-only for a COW copy,
    a shared file's), through TLB entries they may hold already or the MMU may fill: the
    frame's content is stored, copied and loaded while the translations that map the frame
    are filled, flushed and checked."""
    page = draw(st.sampled_from(('anon rw, young, dirty', 'anon rw, young, clean', 'anon none',
                                 'anon ro, young, clean, vma rw', 'file "f" shared, rw, young, dirty')))
    n = draw(st.integers(2, 3))
    blocks = [" ".join(draw(st.lists(st.sampled_from(ACCESSES), min_size=1, max_size=3 - n + 1))).format(i=cpu + 1)
              for cpu in range(n)]
    fill = ""
    if "none" not in page:
        for cpu in draw(st.lists(st.integers(0, n - 1), max_size=2, unique=True)):
            # a TLB entry is writable only if the entry is writable and dirty (litmus/scenario.py)
            writable = "writable " if "dirty" in page and draw(st.booleans()) else ""
            fill += f" cpu{cpu} has A {writable}in its TLB;"
    if draw(st.booleans()):
        fill += " cpu1 may fill A;"
    return _fault_text("random", page, blocks, fill)


@settings(max_examples=16, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=shared_frame_texts(), arch=st.sampled_from(("x86", "ppc64-6.12", "arm64", "s390-6.12")))
def test_stores_loads_and_copies_of_one_frame_reach_every_machine_state_naive_enumeration_reaches(text, arch):
    """A frame's content is a location apart from its struct page (explore/points.py
    _PageData): the final machine states (every frame's content among them) and the broken
    invariants are naive enumeration's."""
    test = LitmusTest(parse("random.litmus", text))
    optimal, finals, outcomes = _search(test, arch, executions=1500, state=machine_state)
    if not optimal.complete:
        return
    _naive_reaches_no_more(test, arch, finals, outcomes, 1500, machine_state)
