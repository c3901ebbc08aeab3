"""Page-table pages and the PTE lock: pte_alloc, pte_offset_map_lock, free_pgtables."""

from __future__ import annotations

from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..mmu_gather import tlb_remove_table
from ..pte import PMD_SHIFT, PMD_SIZE, pte_none


def pte_alloc(mm, addr: int) -> int:
    """6.12 mm/memory.c:447-457 (__pte_alloc).
    __pte_alloc: make sure a PTE table maps addr; return the PTE pointer."""
    ptep = mm.pte_offset(addr)
    if ptep is None:
        mm.pmd[addr >> PMD_SHIFT] = mm.machine.mem.alloc_pte_table()
        ptep = mm.pte_offset(addr)
    return ptep


def pte_lockptr(mm, ptep: int):
    """6.12 include/linux/mm.h:2998-3001 (pte_lockptr)."""
    return mm.machine.mem.ptl[ptep >> PTE_TABLE_SHIFT]


def spin_lock(mm, ptl) -> None:
    """6.12 include/linux/spinlock.h:349-352 (spin_lock)."""
    ptl.lock(mm.machine.this_cpu.id)


def spin_unlock(mm, ptl) -> None:
    """6.12 include/linux/spinlock.h:389-392 (spin_unlock)."""
    if mm.machine.debug is not None:
        mm.machine.debug.before_unlock(ptl)
    ptl.unlock(mm.machine.this_cpu.id)


def pte_peek(mm, ptep: int) -> int:
    """Model's own: the entry's value without a scheduling point, what a sleeper's
    wake-up condition reads (the explorer evaluates it to decide whether the sleeper may run)."""
    return mm.machine.mem.ptes[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK]


def pte_offset_map_lock(mm, addr: int):
    """6.12 mm/pgtable-generic.c:364-382 (__pte_offset_map_lock).
    (ptep, ptl) with the PTE lock held, or (None, None) when no table maps addr."""
    ptep = mm.pte_offset(addr)
    if ptep is None:
        return None, None
    ptl = mm.machine.mem.ptl[ptep >> PTE_TABLE_SHIFT]
    ptl.lock(mm.machine.this_cpu.id)
    return ptep, ptl


def pte_alloc_map_lock(mm, addr: int):
    """6.12 include/linux/mm.h:3093-3095 (pte_alloc_map_lock)."""
    ptep = pte_alloc(mm, addr)
    ptl = mm.machine.mem.ptl[ptep >> PTE_TABLE_SHIFT]
    ptl.lock(mm.machine.this_cpu.id)
    return ptep, ptl


def pmd_chunks(start: int, end: int):
    """Model's own: the pmd_addr_end loops of the page-table walkers.
    Split [start, end) at PTE-table boundaries, as the p?d_addr_end loops do."""
    addr = start
    while addr < end:
        next_ = min((addr & ~(PMD_SIZE - 1)) + PMD_SIZE, end)
        yield addr, next_
        addr = next_


def free_pgtables(tlb, mm, start: int, end: int) -> None:
    """6.12 mm/memory.c:365-419 (free_pgtables) with free_pgd_range (:303-363).
    Free the PTE tables of [start, end) that no remaining vma needs (free_pgd_range).
    The pmd entry goes now; the page goes after the flush, through the mmu_gather."""
    mem = mm.machine.mem
    for index in range(start >> PMD_SHIFT, ((end - 1) >> PMD_SHIFT) + 1):
        table = mm.pmd.get(index)
        lo, hi = index << PMD_SHIFT, (index + 1) << PMD_SHIFT
        if table is None or mm.vmas_in(lo, hi):
            continue
        if not all(pte_none(pte) for pte in mem.ptes[table]):
            raise AssertionError(f"freeing a PTE table at {lo:#x} that still maps pages")
        del mm.pmd[index]
        tlb_remove_table(tlb, table, lo, PMD_SIZE)
