"""The Xen PV backend: hypercalls, the multicall batch, PRESERVE_AD, trapped writes, flushes."""

import pytest

from ptelab.litmus import LitmusTest
from ptelab.litmus.syntax import parse
from ptelab.machine import FAULT
from ptelab.machine.counters import (
    IPI,
    XEN_HYPERCALL,
    XEN_MC_ENTRY,
    XEN_MMU_UPDATE,
    XEN_TLB_FLUSH,
    XEN_TRAPPED_WRITE,
)
from ptelab.machine.hypervisor import MMUEXT_INVLPG_MULTI, MMUEXT_TLB_FLUSH_MULTI, XenRefused
from ptelab.pte import PAGE_READONLY, PAGE_SHARED, mk_pte, pte_dirty, pte_none, pte_present, pte_write
from tests.test_accessors import s  # noqa: F401  (the fixture: cpu0 holding the PTE lock)

xen = pytest.mark.parametrize("arch_name", ["xen"])


@xen
def test_set_pte_at_outside_lazy_mode_is_one_hypercall(s):
    s.install()
    assert s.machine.counters[XEN_HYPERCALL] == 1 and s.machine.counters[XEN_MMU_UPDATE] == 1
    assert pte_present(s.pte())


@xen
def test_lazy_mode_queues_until_leave_and_a_read_back_sees_the_old_entry(s):
    s.arch.arch_enter_lazy_mmu_mode()
    s.machine.debug.record = []  # the read-back breaks lazy-no-readback: record it, go on
    s.install()
    assert pte_none(s.pte())  # queued in the multicall buffer: the page table is unchanged
    assert s.machine.debug.record == ["lazy-no-readback"]
    assert s.machine.counters[XEN_HYPERCALL] == 0
    s.arch.arch_leave_lazy_mmu_mode()
    assert pte_present(s.pte())
    assert s.machine.counters[XEN_HYPERCALL] == 1 and s.machine.counters[XEN_MC_ENTRY] == 1


@xen
def test_the_batch_is_issued_when_its_argument_space_fills(s):
    base = s.ptep - (s.ptep & 511)
    frames = [s.machine.mem.alloc_page() for _ in range(40)]
    s.arch.arch_enter_lazy_mmu_mode()
    for i, pfn in enumerate(frames):  # raw backend: 40 entries of one table
        s.arch._arch.xen_set_pte(base + i, mk_pte(pfn, PAGE_READONLY))
    # one mmu_update entry holds 31 requests (MC_ARGS 512, 16 bytes each); the 32nd issued them
    table = s.machine.mem.ptes[base >> 9]
    assert [pte_present(table[i]) for i in range(40)] == [True] * 31 + [False] * 9
    s.arch._arch.arch_leave_lazy_mmu_mode()
    assert all(pte_present(table[i]) for i in range(40))
    assert s.machine.counters[XEN_HYPERCALL] == 2 and s.machine.counters[XEN_MMU_UPDATE] == 40


@xen
def test_start_only_reads_and_commit_preserves_a_dirty_set_in_between(s):
    s.install(PAGE_SHARED)
    s.touch(s.cpu1, write=False)  # clean: cpu1's TLB entry is not writable
    old = s.arch.ptep_modify_prot_start(s.vma, s.addr, s.ptep)
    assert pte_present(s.pte()) and not pte_dirty(old)
    assert s.touch(s.cpu1, write=True) == s.page  # the walker sets Dirty in the valid entry
    s.arch.ptep_modify_prot_commit(s.vma, s.addr, s.ptep, old, mk_pte(s.page, PAGE_READONLY))
    assert pte_dirty(s.pte()) and not pte_write(s.pte())  # MMU_PT_UPDATE_PRESERVE_AD


@xen
def test_locked_instructions_trap_at_once_even_in_lazy_mode(s):
    s.install()
    s.arch.arch_enter_lazy_mmu_mode()
    old = s.arch.ptep_get_and_clear(s.mm, s.addr, s.ptep)
    assert pte_present(old) and pte_none(s.pte())
    assert s.machine.counters[XEN_TRAPPED_WRITE] == 1
    s.arch.arch_leave_lazy_mmu_mode()


@xen
def test_teardown_writes_an_unpinned_table_without_trapping(s):
    s.install()
    s.arch.ptep_get_and_clear_full(s.mm, s.addr, s.ptep, 1)
    assert s.machine.counters[XEN_TRAPPED_WRITE] == 0 and pte_none(s.pte())


@xen
def test_flushes_are_hypercalls_not_ipis(s):
    s.install()
    s.touch(s.cpu1, write=False)
    calls = []
    hv = s.arch._arch.hv
    run = hv.mmuext_op
    hv.mmuext_op = lambda ptes, cmd, *rest: (calls.append(cmd), run(ptes, cmd, *rest))
    s.arch.flush_tlb_page(s.vma, s.addr)
    s.arch.flush_tlb_range(s.vma, s.addr, s.addr + 2 * 4096)
    assert calls == [MMUEXT_INVLPG_MULTI, MMUEXT_TLB_FLUSH_MULTI]
    assert s.machine.counters[XEN_TLB_FLUSH] == 2 and s.machine.counters[IPI] == 0
    assert not s.cpu1.tlb.holds(s.mm.context, s.addr)


@xen
def test_a_flush_in_lazy_mode_waits_with_the_updates(s):
    s.install()
    s.touch(s.cpu1, write=False)
    s.arch.arch_enter_lazy_mmu_mode()
    s.arch.flush_tlb_page(s.vma, s.addr)
    assert s.cpu1.tlb.holds(s.mm.context, s.addr)
    s.arch.arch_leave_lazy_mmu_mode()
    assert not s.cpu1.tlb.holds(s.mm.context, s.addr)


@xen
def test_a_writable_mapping_of_a_pinned_page_table_is_refused(s):
    table = s.ptep >> 9
    with pytest.raises(XenRefused):
        s.arch.set_pte_at(s.mm, s.addr, s.ptep, mk_pte(table, PAGE_SHARED))
    assert pte_none(s.pte())
    s.arch.set_pte_at(s.mm, s.addr, s.ptep, mk_pte(table, PAGE_READONLY))  # read-only is fine
    assert s.touch(s.cpu1, write=True) == FAULT


UNISSUED = """PTE xen-unissued
"The section is never left: the commit stays queued."
{
  A: anon rw, young, dirty;
  cpu1 has A writable in its TLB;
}
P0 @ cpu0 {
  arch_enter_lazy_mmu_mode();
  spin_lock(pte_lockptr(A));
  pte_t old = ptep_modify_prot_start(vma, A, pte_offset(A));
  ptep_modify_prot_commit(vma, A, pte_offset(A), old, pte_wrprotect(old));
  flush_tlb_page(vma, A);
}
forbid stale-translation
"""


def test_the_invariants_see_updates_still_queued_in_a_multicall():
    """The page table still holds the writable entry, but the kernel wrote a read-only one:
    judged against what was written, cpu1's writable TLB entry is stale, and so is the
    page table's own entry, which the walker would fill from."""
    result = LitmusTest(parse("unissued.litmus", UNISSUED)).check("xen")
    assert set(result.outcomes) == {"stale-translation"}
    assert result.complete
    x86 = LitmusTest(parse("unissued.litmus", UNISSUED)).check("x86")
    assert "stale-translation" not in x86.outcomes  # x86 made the write (its flush is only deferred by debug)


@xen
def test_debug_mode_judges_a_queued_write_as_made(s):
    """A second set_pte_at in one lazy section writes over a valid entry as far as the kernel
    knows, though the page table still holds none: set-nonvalid, as on every backend."""
    s.arch.arch_enter_lazy_mmu_mode()
    s.machine.debug.record = []
    s.install()
    s.install(PAGE_READONLY)
    assert s.machine.debug.record == ["set-nonvalid"]
    s.arch.arch_leave_lazy_mmu_mode()
