"""The explorer's sleeping locks (mmap_lock, the per-vma locks, a migration wait, `after`):
the reduction that lets read acquires commute is checked against naive enumeration."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptelab.explore.dpor import Bounds
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse

OPS = [
    "int r{i} = read(A);",
    "write(A, {i});",
    "mmap_read_lock(mm); int m{i} = read(A); mmap_read_unlock(mm);",
    "mmap_write_lock(mm); mmap_write_unlock(mm);",
    "madvise(mm, A, PAGE_SIZE, MADV_DONTNEED);",
    "mprotect(mm, A, PAGE_SIZE, PROT_READ);",
    "mmap_write_lock(mm); vma_start_write(find_vma(mm, A)); mmap_write_unlock(mm);",
]


@st.composite
def texts(draw):
    blocks = []
    for n in range(2):
        ops = draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=2))
        body = " ".join(op.format(i=10 * n + i) for i, op in enumerate(ops))
        after = " after P0" if n == 1 and draw(st.integers(0, 4)) == 0 else ""
        blocks.append(f"P{n} @ cpu{n}{after} {{\n  {body}\n}}")
    return "PTE random\n\"generated\"\n{\n  A: anon rw, young, dirty;\n}\n" + "\n".join(blocks) + "\nforbid any_invariant\n"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts(), arch=st.sampled_from(["x86", "ppc64-6.12"]))
def test_dpor_with_sleeping_locks_reaches_what_naive_enumeration_reaches(text, arch):
    test = LitmusTest(parse("random.litmus", text))
    reduced = test.check(arch)
    naive = test.check(arch, naive=True, bounds=Bounds(executions=3000))
    assert reduced.complete
    assert set(naive.states) <= set(reduced.states)
    assert set(naive.outcomes) <= set(reduced.outcomes)
    if naive.complete:
        assert set(naive.states) == set(reduced.states)
        assert reduced.executions <= naive.executions


RECURSIVE = """PTE recursive
"P0 takes the PTE lock it holds; P1 takes it as it should"
{
  A: anon rw, young, clean;
}
P0 @ cpu0 {
  spinlock_t *ptl = pte_lockptr(A);
  spin_lock(ptl);
  pte_t old = ptep_get(pte_offset(A));
  spin_lock(ptl);
  spin_unlock(ptl);
}
P1 @ cpu1 {
  spinlock_t *ptl = pte_lockptr(A);
  spin_lock(ptl);
  spin_unlock(ptl);
}
forbid any_invariant
"""


def test_a_recursive_spin_lock_is_the_callers_own_deadlock():
    """The blame names the caller and the second spin_lock's file:line:col, and no rule (not
    lock-held, whose breach debug mode did not see); two CPUs taking the lock in turn are fine."""
    result = LitmusTest(parse("recursive.litmus", RECURSIVE)).check("x86")
    assert set(result.outcomes) == {"deadlock"} and result.complete
    [violation] = result.counterexamples["deadlock"].result.violations
    assert violation.actor == "P0" and violation.prevented_by is None
    text = violation.describe()
    assert "P0's spin_lock() at recursive.litmus:10:3" in text
    assert "blame: the caller's own: it took a lock it holds" in text and "rule:" not in text
    once = RECURSIVE.replace("  spin_lock(ptl);\n  spin_unlock(ptl);\n}\nP1", "  spin_unlock(ptl);\n}\nP1")
    assert not LitmusTest(parse("once.litmus", once)).check("x86").outcomes
