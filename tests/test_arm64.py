"""arm64's hardware and kernel behaviours, one by one: hardware Access flag and DBM dirty,
cmpxchg loops, TLBIs pending until their issuer's DSB, break-before-make, contpte blocks."""

import pytest

from ptelab.arch import boot
from ptelab.arch.arm64 import CONT_PTES, PTE_CONT
from ptelab.machine import FAULT
from ptelab.machine.counters import CMPXCHG_RETRY, CONTPTE_UNFOLD, DSB_ISH, TLBI_VALE1IS
from ptelab.machine.memory import PG_anon
from ptelab.machine.violation import BREAK_BEFORE_MAKE, InvariantViolation
from ptelab.mm.kernel import Kernel
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap
from ptelab.mm.pgtable import pte_alloc
from ptelab.pte import (
    PAGE_SHARED,
    PAGE_SIZE,
    _PAGE_ACCESSED,
    _PAGE_EXEC,
    mk_pte,
    pte_dirty,
    pte_hw_dirty,
    pte_sw_dirty,
    pte_write,
    pte_young,
)

BOTH = pytest.mark.parametrize("name", ["arm64", "arm64-nocont"])


class Region:
    """16 pages of one vma, 64 KiB aligned, their PTE table allocated; no debug mode (these
    tests call the backend as the kernel's own code does)."""

    def __init__(self, name):
        self.machine = boot(name, cpus=2, debug=False)
        self.arch = self.machine.arch
        self.kernel = Kernel(self.machine)
        self.mm = self.kernel.new_mm()
        size = CONT_PTES * PAGE_SIZE
        start = vm_mmap(self.mm, 0, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        self.addr = (start + size - 1) & ~(size - 1)
        self.vma = self.mm.find_vma(self.addr)
        self.ptep = pte_alloc(self.mm, self.addr)
        self.cpu0, self.cpu1 = self.machine.cpus
        for cpu in self.machine.cpus:
            self.machine.switch_mm(cpu, self.mm)

    def entry(self, k=0):
        return self.mm.entry(self.addr + k * PAGE_SIZE)

    def access(self, cpu, k=0, write=False):
        return self.machine.translate(cpu, self.mm, self.addr + k * PAGE_SIZE, write)


def _clean_writable(region, k=0):
    frame = region.machine.mem.alloc_page(PG_anon)
    region.arch.set_pte_at(region.mm, region.addr + k * PAGE_SIZE, region.ptep + k, mk_pte(frame, PAGE_SHARED))
    return frame


@BOTH
def test_walker_sets_access_flag_and_a_store_sets_hardware_dirty(name):
    r = Region(name)
    frame = _clean_writable(r)
    assert not pte_young(r.entry()) and not pte_dirty(r.entry())
    assert r.access(r.cpu1) == frame
    assert pte_young(r.entry()) and not pte_dirty(r.entry())  # AF by the walker (HA)
    assert r.access(r.cpu1, write=True) == frame
    pte = r.entry()
    assert pte_hw_dirty(pte) and not pte_sw_dirty(pte) and pte_dirty(pte)  # DBM cleared PTE_RDONLY


@BOTH
def test_a_store_to_a_read_only_entry_faults_and_changes_nothing(name):
    r = Region(name)
    _clean_writable(r)
    r.arch.ptep_set_wrprotect(r.mm, r.addr, r.ptep)
    before = r.entry()
    assert r.access(r.cpu1, write=True) == FAULT
    assert r.entry() == before, "a faulting walk caches nothing and updates nothing"
    assert not r.cpu1.tlb.holds(r.mm.context, r.addr)


@BOTH
def test_wrprotect_retries_its_cmpxchg_and_keeps_the_hardware_dirty(name):
    r = Region(name)
    _clean_writable(r)
    stale = r.arch.ptep_get(r.ptep)  # what a CPU loaded before the MMU's update
    r.access(r.cpu1, write=True)
    r.arch._ptep_set_wrprotect(r.mm, r.addr, r.ptep, stale)
    pte = r.entry()
    assert r.machine.counters[CMPXCHG_RETRY] == 1
    assert not pte_write(pte) and pte_sw_dirty(pte) and not pte_hw_dirty(pte)


@BOTH
def test_a_tlbi_completes_only_at_the_dsb_of_the_cpu_that_issued_it(name):
    r = Region(name)
    _clean_writable(r)
    r.access(r.cpu1)
    r.arch.ptep_get_and_clear(r.mm, r.addr, r.ptep)
    r.arch.flush_tlb_page_nosync(r.vma, r.addr)  # issued by cpu0 (this_cpu)
    assert r.cpu1.tlb.holds(r.mm.context, r.addr)
    with r.machine.on_cpu(r.cpu1):
        r.arch.dsb_ish()
    assert r.cpu1.tlb.holds(r.mm.context, r.addr), "cpu1's DSB does not complete cpu0's TLBI"
    r.arch.dsb_ish()
    assert not r.cpu1.tlb.holds(r.mm.context, r.addr)
    assert r.machine.counters[TLBI_VALE1IS] == 1 and r.machine.counters[DSB_ISH] == 2


@BOTH
def test_the_batched_unmap_flush_issues_tlbis_and_completes_them_at_its_dsb(name):
    r = Region(name)
    _clean_writable(r)
    r.access(r.cpu1)
    batch = set()
    r.arch.ptep_get_and_clear(r.mm, r.addr, r.ptep)
    r.arch.arch_tlbbatch_add_pending(batch, r.mm, r.addr)
    assert r.cpu1.tlb.holds(r.mm.context, r.addr)
    r.arch.arch_tlbbatch_flush(batch)
    assert not r.cpu1.tlb.holds(r.mm.context, r.addr)


@BOTH
def test_another_frame_over_a_cached_translation_is_break_before_make(name):
    r = Region(name)
    _clean_writable(r)
    r.access(r.cpu1)
    r.arch.ptep_get_and_clear(r.mm, r.addr, r.ptep)  # no flush: cpu1 still holds it
    other = r.machine.mem.alloc_page(PG_anon)
    with pytest.raises(InvariantViolation) as caught:
        r.arch.set_pte_at(r.mm, r.addr, r.ptep, mk_pte(other, PAGE_SHARED))
    assert caught.value.invariant == BREAK_BEFORE_MAKE and caught.value.cpu == r.cpu1.id


@BOTH
def test_the_same_frame_with_other_permissions_needs_no_break(name):
    r = Region(name)
    frame = _clean_writable(r)
    r.access(r.cpu1)
    old = r.arch.ptep_modify_prot_start(r.vma, r.addr, r.ptep)
    r.arch.ptep_modify_prot_commit(r.vma, r.addr, r.ptep, old, mk_pte(frame, PAGE_SHARED) | _PAGE_ACCESSED)


def _block(r):
    first = r.machine.mem.alloc_block(4, PG_anon)
    r.arch.set_ptes(r.mm, r.addr, r.ptep, mk_pte(first, PAGE_SHARED), CONT_PTES)
    return first


@BOTH
def test_set_ptes_of_an_aligned_block_is_contiguous_with_contpte_only(name):
    r = Region(name)
    first = _block(r)
    assert first % CONT_PTES == 0
    cont = [bool(r.entry(k) & PTE_CONT) for k in range(CONT_PTES)]
    assert cont == [name == "arm64"] * CONT_PTES


def test_a_store_through_a_block_entry_dirties_the_entry_it_was_filled_from():
    """The TLB holds the block as one entry made from entry 0; a store to page 5 through it
    sets nothing in entry 5: ptep_get gathers the block (contpte.c:155-180)."""
    r = Region("arm64")
    first = _block(r)
    assert r.access(r.cpu1, 0, write=True) == first  # fills the block, writable, from entry 0
    assert r.access(r.cpu1, 5, write=True) == first + 5
    assert not pte_dirty(r.entry(5)) and pte_dirty(r.entry(0))
    assert pte_dirty(r.arch.ptep_get(r.ptep + 5))
    assert r.arch.dirty_recorded(first + 5)


def test_unfolding_a_block_flushes_it_and_gathers_its_dirty():
    r = Region("arm64")
    _block(r)
    r.access(r.cpu1, 0, write=True)
    r.arch.ptep_set_wrprotect(r.mm, r.addr + 3 * PAGE_SIZE, r.ptep + 3)
    assert r.machine.counters[CONTPTE_UNFOLD] == 1
    assert not any(r.entry(k) & PTE_CONT for k in range(CONT_PTES))
    assert all(pte_dirty(r.entry(k)) for k in range(CONT_PTES))  # contpte_convert's pte_mkdirty
    assert not pte_write(r.entry(3)) and pte_write(r.entry(4))
    assert not r.cpu1.tlb.entries, "the block's translation went with the unfold's TLBI and DSB"


def test_changing_attributes_of_a_live_block_in_place_is_break_before_make():
    """Anything but Accessed, Dirty and write permission (here: execute permission, UXN, not
    in pgattr_change_is_safe's mask, mmu.c:127-128) changed in place in a cached block."""
    r = Region("arm64")
    _block(r)
    r.access(r.cpu1, 0)
    with pytest.raises(InvariantViolation) as caught:
        r.arch._cmpxchg(r.ptep + 3, r.entry(3), r.entry(3) ^ _PAGE_EXEC)
    assert caught.value.invariant == BREAK_BEFORE_MAKE


def test_a_block_whose_entries_differ_is_walked_with_the_most_permissive():
    """Write permission changes in place without break-before-make (D8.17), but a block left
    with entries of different permissions may be cached from any of them (D8.7.1): after
    the flush, a walk of the read-only entry 3 makes a writable translation from a sibling,
    and the store through it dirties that sibling, not entry 3."""
    r = Region("arm64")
    first = _block(r)
    r.access(r.cpu1, 0, write=True)
    r.arch.ptep_set_wrprotect_noncont(r.mm, r.addr + 3 * PAGE_SIZE, r.ptep + 3)  # no violation
    r.arch.flush_tlb_range(r.vma, r.addr, r.addr + CONT_PTES * PAGE_SIZE)
    assert not r.cpu1.tlb.entries
    assert r.access(r.cpu1, 3, write=True) == first + 3
    assert r.cpu1.tlb.entries and all(e[2] for e in r.cpu1.tlb.entries.values())  # writable
    assert not pte_write(r.entry(3)) and r.entry(3) & PTE_CONT
    assert r.arch.dirty_recorded(first + 3)


@pytest.mark.parametrize("nr,unfolded", [(CONT_PTES, 0), (2 * CONT_PTES, 0), (8, 1), (CONT_PTES + 8, 1),
                                         (CONT_PTES - 2, 1)])
def test_wrprotect_ptes_unfolds_only_the_blocks_it_covers_in_part(nr, unfolded):
    """contpte_wrprotect_ptes (contpte.c:348-363): whole blocks in place, keeping PTE_CONT,
    with no TLBI of their own; a block the range covers in part unfolded first (an
    unaligned start: the range starts one page into the first block for CONT_PTES - 2)."""
    r = Region("arm64")
    _block(r)
    second = r.machine.mem.alloc_block(4, PG_anon)
    r.arch.set_ptes(r.mm, r.addr + CONT_PTES * PAGE_SIZE, r.ptep + CONT_PTES, mk_pte(second, PAGE_SHARED),
                    CONT_PTES)
    start = 1 if nr == CONT_PTES - 2 else 0
    r.arch.wrprotect_ptes(r.mm, r.addr + start * PAGE_SIZE, r.ptep + start, nr)
    assert r.machine.counters[CONTPTE_UNFOLD] == unfolded
    assert [pte_write(r.entry(k)) for k in range(2 * CONT_PTES)] == \
        [not start <= k < start + nr for k in range(2 * CONT_PTES)]
    whole = [b for b in range(2) if start <= b * CONT_PTES and (b + 1) * CONT_PTES <= start + nr]
    for b in range(2):
        cont = [bool(r.entry(b * CONT_PTES + k) & PTE_CONT) for k in range(CONT_PTES)]
        touched = start < (b + 1) * CONT_PTES and b * CONT_PTES < start + nr
        assert cont == [b in whole or not touched] * CONT_PTES, (b, cont)
    assert r.machine.counters[TLBI_VALE1IS] == unfolded * CONT_PTES  # only the unfolds flush


def test_access_flags_of_a_live_block_change_in_place():
    """Accessed and Dirty may change without unfolding (contpte.c:302-325)."""
    r = Region("arm64")
    _block(r)
    r.access(r.cpu1, 0)
    assert r.arch.ptep_test_and_clear_young(r.vma, r.addr, r.ptep + 2) == 1
    assert not any(pte_young(r.entry(k)) for k in range(CONT_PTES))
    assert all(r.entry(k) & PTE_CONT for k in range(CONT_PTES))


SMALL = [("arm64-bbm-clear-flush-set", "arm64"), ("arm64-bbm-set-then-flush", "arm64"),
         ("arm64-cont-in-place", "arm64"), ("arm64-dsb-own-cpu", "arm64"), ("arm64-dsb-wrong-cpu", "arm64"),
         ("arm64-dsb-wrong-cpu", "arm64-nocont"), ("arm64-cont-wrprotect-partial", "arm64"),
         ("arm64-cont-wrprotect-block", "arm64")]


@pytest.mark.parametrize("name,arch", SMALL)
def test_dpor_finds_what_naive_enumeration_finds_in_the_arm64_tests(name, arch):
    """The break-before-make check reads every TLB at a store (explore/points.py): the reduced
    search must still reach every final state and outcome of the naive one."""
    from pathlib import Path

    from ptelab.explore.dpor import Bounds
    from ptelab.litmus import load

    test = load(Path(__file__).resolve().parent.parent / "litmus" / f"{name}.litmus")
    reduced = test.check(arch)
    naive = test.check(arch, naive=True, bounds=Bounds(executions=2000))
    assert reduced.complete and naive.complete
    assert set(naive.states) == set(reduced.states)
    assert set(naive.outcomes) == set(reduced.outcomes)
