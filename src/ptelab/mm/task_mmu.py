"""/proc/PID/clear_refs (fs/proc/task_mmu.c): age every mapped page, then flush once."""

from __future__ import annotations

from ..machine.memory import PG_referenced
from ..pte import PAGE_SHIFT, pte_present
from .memory import vm_normal_page
from .mmap_lock import mmap_write_lock, mmap_write_unlock
from .pgtable import pmd_chunks, pte_offset_map_lock, spin_unlock


def clear_refs(mm) -> int:
    """CLEAR_REFS_ALL, 6.12 fs/proc/task_mmu.c:1555-1628 (clear_refs_write), under
    mmap_lock for write (:1588); returns how many entries were young."""
    mmap_write_lock(mm)
    young = 0
    for vma in mm.vmas:
        for addr, end in pmd_chunks(vma.start, vma.end):
            young += clear_refs_pte_range(vma, addr, end)
    mm.machine.arch.flush_tlb_mm(mm)
    mmap_write_unlock(mm)
    return young


def clear_refs_pte_range(vma, addr: int, end: int) -> int:
    """6.12 fs/proc/task_mmu.c:1467-1525 (clear_refs_pte_range)."""
    mm = vma.mm
    mem = mm.machine.mem
    arch = mm.machine.arch
    ptep, ptl = pte_offset_map_lock(mm, addr)
    if ptep is None:
        return 0
    young = 0
    for i in range((end - addr) >> PAGE_SHIFT):
        a, p = addr + (i << PAGE_SHIFT), ptep + i
        pte = arch.ptep_get(p)
        if not pte_present(pte):
            continue
        young += arch.ptep_test_and_clear_young(vma, a, p)
        page = vm_normal_page(vma, a, pte)
        if page is not None:
            mem.flags[page] &= ~PG_referenced
    spin_unlock(mm, ptl)
    return young
