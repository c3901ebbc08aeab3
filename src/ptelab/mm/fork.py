"""fork's address-space copy (kernel/fork.c dup_mmap)."""

from __future__ import annotations

from .memory import copy_page_range
from .mm_types import VMA
from .mmap_lock import mmap_write_lock, mmap_write_unlock, vma_start_write


def dup_mm(mm):
    """6.12 kernel/fork.c:641-816 (dup_mmap).
    The child's mm: every vma copied, anonymous and pfn-mapped entries copied with
    COW write-protection, then one flush_tlb_mm of the parent (the pairing the seed
    thread calls fragile: ptep_set_wrprotect leaves the flush to this caller)."""
    child = mm.kernel.new_mm()
    child.mmap_base = mm.mmap_base
    mmap_write_lock(mm)  # 6.12 kernel/fork.c:641-816 (dup_mmap), :650
    mmap_write_lock(child)  # :657, nested
    for vma in mm.vmas:
        vma_start_write(vma)  # :676
        new = VMA(child, vma.start, vma.end, vma.flags, vma.pgoff, vma.file)
        new.anon_vma = vma.anon_vma
        new.page_prot = vma.page_prot
        child.insert_vma(new)
        copy_page_range(new, vma)
    mm.machine.arch.flush_tlb_mm(mm)
    mmap_write_unlock(child)
    mmap_write_unlock(mm)
    return child
