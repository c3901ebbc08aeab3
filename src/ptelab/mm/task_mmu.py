"""/proc/PID/clear_refs (fs/proc/task_mmu.c): age every mapped page, then flush once."""

from __future__ import annotations

from ..machine.memory import PG_referenced
from ..pte import PAGE_SHIFT, pte_present
from ..txn import PteTxn
from .memory import vm_normal_page
from .mmap_lock import mmap_write_lock, mmap_write_unlock
from .pgtable import pmd_chunks, pte_offset_map_lock, spin_unlock


def clear_refs(mm) -> int:
    """CLEAR_REFS_ALL, 6.12 fs/proc/task_mmu.c:1555-1628 (clear_refs_write), under
    mmap_lock for write (:1588); returns how many entries were young."""
    mmap_write_lock(mm)
    young = 0
    for vma in mm.vmas:
        if mm.machine.api == "txn":
            young += clear_refs_txn(vma)
            continue
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


def clear_refs_txn(vma) -> int:
    """Model's own: clear_refs_pte_range on the transactional interface (txn.py): one
    transaction over the vma, an age intent per present entry; aging takes no permission
    away, so the commit flushes nothing (the caller's flush_tlb_mm does, as in 6.12)."""
    mm = vma.mm
    mem = mm.machine.mem
    aged = []
    with PteTxn(vma, vma.start, vma.end) as t:
        for a in t.addresses():
            pte = t.get(a)
            if pte_present(pte):
                aged.append((a, pte, t.age(a)))
    for a, pte, young in aged:
        page = vm_normal_page(vma, a, pte)
        if page is not None:
            mem.flags[page] &= ~PG_referenced
    return sum(bool(young.value) for _, _, young in aged)
