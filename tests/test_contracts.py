"""Operation contracts: every cached translation knows which write of its PTE it was filled
from, and each mm operation's promise is checked at its return (explore/invariants.py)."""

from pathlib import Path

import pytest

from ptelab.explore.execution import Execution
from ptelab.explore.schedule import Replay
from ptelab.litmus import load
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse
from ptelab.machine.tlb import tlb_key
from ptelab import mmu_gather
from ptelab.mm import memory as mm_memory
from ptelab.mm import mprotect as mm_mprotect


def _run(text: str, arch: str, schedule: list[int]):
    test = LitmusTest(parse("t.litmus", text))
    ex = Execution(test.scenario, arch, Replay(schedule), debug=False)
    return ex.run()


REFILL = """PTE refill
"cpu1 holds A; P0 writes A's entry twice; cpu1 then refills"
{
  A: anon rw, young, dirty;
  cpu1 has A in its TLB;
}
P0 @ cpu0 {
  pte_t old = ptep_get_and_clear(mm, A, pte_offset(A));
  set_pte_at(mm, A, pte_offset(A), old);
  flush_tlb_page(vma, A);
}
P1 @ cpu1 {
  int r = read(A);
}
"""


def test_a_translation_records_the_write_of_the_pte_it_was_filled_from():
    # P0 runs first, then P1.  With the flush, cpu1 refills from P0's second write (powerpc's
    # pte_update invalidates the HPTE itself, so the refill comes from the HPTE hash_page made
    # from that write); without it, x86's cpu1 keeps the entry it was given at build time,
    # before any write the explorer counted.
    no_flush = REFILL.replace("flush_tlb_page(vma, A);", "")
    for arch, text, seq in (("x86", REFILL, 2), ("ppc64-6.12", REFILL, 2), ("ppc64-6.12", no_flush, 2), ("x86", no_flush, 0)):
            world = _run(text, arch, []).world
            mm, va = world.state["mms"]["mm"], world.state["va"]["A"]
            entry = world.machine.cpus[1].tlb.entries.get(tlb_key(mm.context, va))
            assert entry is not None and entry[3] == seq, (arch, seq, entry)
            assert world.machine.mem.pte_seq[mm.pte_offset(va)] == 2


SUITE = Path(__file__).resolve().parent.parent / "litmus"


@pytest.mark.parametrize("name,op", [("op-reclaim-madvise", "madvise > mmu_gather"), ("op-reclaim-mprotect", "mprotect")])
def test_an_operation_that_skips_the_flush_reclaim_deferred_breaks_its_promise(monkeypatch, name, op):
    """6.12 passes; without flush_tlb_batched_pending (Linux before 4.12) the operation returns
    while cpu1 still holds what reclaim cleared, and the violation names both operations."""
    test = load(SUITE / f"{name}.litmus")
    assert test.check("x86").ok and not test.check("x86").outcomes
    for module in (mm_memory, mm_mprotect):
        monkeypatch.setattr(module, "flush_tlb_batched_pending", lambda mm: None)
    result = test.check("x86")
    assert set(result.outcomes) == {"stale-translation"} and result.complete
    [violation] = result.counterexamples["stale-translation"].result.violations
    assert violation.detail.startswith(f"P1's {op} (line ") and "cpu1 TLB still holds A" in violation.detail
    assert "left behind by P0 (line 1" in violation.detail and violation.cpu == 1


REFAULT = """PTE refault
"MADV_DONTNEED on cpu1 while cpu0 reads: the shootdown reaches cpu0 first, so cpu0 may fault
the page in again and cache the new translation before the zap returns"
{
  A: anon rw, young, dirty, value 7;
  cpu0 has A in its TLB;
}
P0 @ cpu1 {
  madvise(mm, A, PAGE_SIZE, MADV_DONTNEED);
}
P1 @ cpu0 {
  int v = read(A);
}
forbid any_invariant
exists (P1.v == 0)
"""


def test_a_translation_filled_after_the_operation_saw_the_entry_is_not_blamed_on_it():
    """The new translation is from a later write of the entry than the zap saw, so the zap's
    promise holds in every order; judged against the entry the zap saw, it would not."""
    test = LitmusTest(parse("refault.litmus", REFAULT))
    for arch in ("x86", "ppc64-6.12"):
        result = test.check(arch)
        assert result.ok and result.complete and not result.outcomes, (arch, result.outcomes)


def test_a_zap_that_skips_the_nested_flush_breaks_its_promise(monkeypatch):
    """6.12's tlb_finish_mmu flushes when another flush of the mm is pending; without it
    (Linux before 4.13) MADV_DONTNEED returns while cpu1 holds what P0's zap cleared, and the
    blame names the rule the returning zap broke."""
    test = load(SUITE / "rule-flush-nested-fixed.litmus")
    assert test.check("x86").ok and not test.check("x86").outcomes
    monkeypatch.setattr(mmu_gather, "mm_tlb_flush_nested", lambda mm: False)
    result = test.check("x86")
    assert set(result.outcomes) == {"stale-translation"} and result.complete
    [violation] = result.counterexamples["stale-translation"].result.violations
    assert violation.detail.startswith("P1's madvise > mmu_gather") and "P0's mmu_gather" in violation.detail
    assert violation.prevented_by == "flush-nested"
    assert "rule: flush-nested (broken by the code that ran" in violation.describe()


def test_the_pre_4_13_finish_breaks_flush_nested_and_is_blamed_for_it():
    """litmus/rule-flush-nested.litmus: the hand-written zap whose tlb_finish_mmu has no
    nested check returns while cpu1 holds what the other zap removed; the 6.12 finish does not."""
    result = load(SUITE / "rule-flush-nested.litmus").check("x86")
    [violation] = result.counterexamples["stale-translation"].result.violations
    assert violation.detail.startswith("P1's mmu_gather") and "left behind by P0's mmu_gather" in violation.detail
    assert violation.prevented_by == "flush-nested"
    fixed = (SUITE / "rule-flush-nested.litmus").read_text().replace("tlb_finish_mmu_unnested", "tlb_finish_mmu")
    result = LitmusTest(parse("fixed.litmus", fixed)).check("x86")
    assert result.complete and not result.outcomes  # (its expectation, the breach, is unmet)


def test_reclaims_deferred_flush_is_blamed_on_the_missing_flush_tlb_batched_pending():
    test = load(SUITE / "rule-flush-batched-pending.litmus")
    [violation] = test.check("x86").counterexamples["stale-translation"].result.violations
    assert violation.prevented_by == "flush-batched-pending"


def test_debug_mode_sees_a_dirty_shared_clear_unflushed_at_unlock():
    """zap before 3.15: the dirty shared entry's flush waits for tlb_finish_mmu, after the
    unlock; debug mode says so on every backend, the 6.12 zap (flush first) on none."""
    noflush = load(SUITE / "zap-dirty-shared-noflush.litmus")
    flush = load(SUITE / "zap-dirty-shared-flush.litmus")
    for arch in ("x86", "ppc64-6.12"):
        assert "flush-dirty-shared-before-unlock" in noflush.check(arch).outcomes
        assert "flush-dirty-shared-before-unlock" not in flush.check(arch).outcomes


def test_a_violation_no_rule_prevents_says_so():
    from ptelab.explore.invariants import Violation
    v = Violation("stale-translation", "x", None, None, None, 3, None, blame=True)
    assert "the backend breaks it" not in v.describe()
    assert "no per-call check" in v.describe()  # no-stale-translation is checked on state only
    v = Violation("lost-dirty", "x", None, None, None, 3, None)
    assert "or the caller broke a rule the rulebook lacks" in v.describe()


def test_try_to_migrate_promises_no_translation_of_the_old_page_at_its_return(monkeypatch):
    """6.12 try_to_migrate flushes each entry it replaces under the PTE lock (mm/rmap.c:2198):
    migrate-fault-waits passes.  A try_to_migrate whose ptep_clear_flush does not flush
    breaks its own promise, found at its return inside migrate_page, before any copy."""
    from ptelab.arch import ARCHES

    test = load(SUITE / "migrate-fault-waits.litmus")
    assert "stale-translation" not in test.check("x86").outcomes
    monkeypatch.setattr(ARCHES["x86"], "ptep_clear_flush",
                        lambda self, vma, addr, ptep: self.ptep_get_and_clear(vma.mm, addr, ptep))
    result = test.check("x86")
    [violation] = result.counterexamples["stale-translation"].result.violations
    assert violation.detail.startswith("P0's try_to_migrate") and "cpu1 TLB still holds A" in violation.detail
    assert violation.prevented_by == "no-stale-translation"


def test_a_migration_that_flushes_after_unlock_breaks_the_racing_mprotect():
    """The pair: the hand-written migration's late flush leaves mprotect returning with cpu2's
    writable translation (blamed on no rule: the rulebook has none for it); 6.12's sequence
    passes on x86."""
    late = load(SUITE / "migrate-flush-after-unlock.litmus").check("x86")
    [violation] = late.counterexamples["stale-translation"].result.violations
    assert violation.detail.startswith("P1's change_protection") and "left behind by P0" in violation.detail
    assert violation.prevented_by is None
    kernel = load(SUITE / "migrate-kernel-sequence.litmus").check("x86")
    assert kernel.ok and kernel.complete and not kernel.outcomes


MUNMAP_TWO_VMAS = """PTE munmap-two-vmas
"munmap of two pages, two vmas, both in cpu1's TLB: free_pgtables frees their table before
tlb_finish_mmu flushes"
{
  A: anon rw, young, dirty, value 7;
  B: anon rw, young, dirty, value 8;
  cpu1 has A in its TLB;
  cpu1 has B in its TLB;
}
P0 @ cpu0 {
  munmap(mm, A, 2 * PAGE_SIZE);
}
forbid any_invariant
"""


@pytest.mark.parametrize("arch", ["x86", "xen", "arm64", "ppc64-6.12", "s390-6.12", "ia64"])
def test_munmap_freeing_the_table_before_its_flush_is_no_stale_translation(arch):
    """The entries munmap cleared are in flight until its gather flushes, although the
    table that held them is already freed (it was reported as a stale translation on x86
    and Xen between the two)."""
    result = LitmusTest(parse("munmap.litmus", MUNMAP_TWO_VMAS)).check(arch)
    assert result.ok and result.complete and not result.outcomes, (arch, result.outcomes)


def test_a_munmap_that_frees_the_table_and_skips_its_flush_breaks_its_promise(monkeypatch):
    """The same munmap without the gather's flush: the contract is still checked at its
    return, on the slot of the freed table."""
    monkeypatch.setattr(mmu_gather, "tlb_flush_mmu_tlbonly", mmu_gather._reset_range)
    result = LitmusTest(parse("munmap.litmus", MUNMAP_TWO_VMAS)).check("x86", debug=False)
    assert set(result.outcomes) == {"stale-translation"}
    [violation] = result.counterexamples["stale-translation"].result.violations
    assert "munmap" in violation.detail and "returned while cpu1 TLB still holds" in violation.detail
