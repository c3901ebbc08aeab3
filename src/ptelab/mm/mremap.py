"""mremap (mm/mremap.c, 6.12): move_ptes clears each entry, sets it at the new address,
and flushes the old range once before dropping the PTE locks."""

from __future__ import annotations

from ..pte import PAGE_SHIFT, PAGE_SIZE, pte_none, pte_pfn, pte_present
from ..txn import PteTxn
from .gup import pin_unmapped
from .mm_types import VMA
from .mmap import MmapError, do_munmap, get_unmapped_area, page_align, split_range, with_mmap_lock
from .mmap_lock import vma_start_write
from .pgtable import pmd_chunks, pte_alloc, pte_lockptr, pte_offset_map_lock, spin_lock, spin_unlock
from .rmap import flush_tlb_batched_pending

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2


def move_ptes(vma, old_addr: int, old_end: int, new_vma, new_addr: int) -> None:
    """6.12 mm/mremap.c:136-236: under both PTE locks, in lazy-MMU mode, each entry is
    cleared (ptep_get_and_clear) and set at the new address; when a present entry moved,
    one flush_tlb_range of the old range before the PTE locks are dropped."""
    mm = vma.mm
    arch = mm.machine.arch
    old_ptep, old_ptl = pte_offset_map_lock(mm, old_addr)
    if old_ptep is None:
        return
    new_ptep = pte_alloc(mm, new_addr)
    new_ptl = pte_lockptr(mm, new_ptep)
    if new_ptl is not old_ptl:
        spin_lock(mm, new_ptl)
    flush_tlb_batched_pending(mm)
    arch.arch_enter_lazy_mmu_mode()
    force_flush = False
    for i in range((old_end - old_addr) >> PAGE_SHIFT):
        if pte_none(arch.ptep_get(old_ptep + i)):
            continue
        pte = arch.ptep_get_and_clear(mm, old_addr + (i << PAGE_SHIFT), old_ptep + i)
        if pte_present(pte):
            force_flush = True
            pin_unmapped(mm, old_addr + (i << PAGE_SHIFT), pte_pfn(pte))  # moved away from there
        arch.set_pte_at(mm, new_addr + (i << PAGE_SHIFT), new_ptep + i, pte)  # move_pte: as is
    arch.arch_leave_lazy_mmu_mode()
    if force_flush:
        arch.flush_tlb_range(vma, old_addr, old_end)
    if new_ptl is not old_ptl:
        spin_unlock(mm, new_ptl)
    spin_unlock(mm, old_ptl)


def _pieces(old_addr: int, new_addr: int, length: int):
    """move_page_tables' pieces (6.12 mm/mremap.c:563-685): (old, old_end, new), each
    inside one old and one new PTE table."""
    done = 0
    while done < length:
        old, new = old_addr + done, new_addr + done
        step = min(length - done,
                   next(pmd_chunks(old, old + length - done))[1] - old,
                   next(pmd_chunks(new, new + length - done))[1] - new)
        yield old, old + step, new
        done += step


def move_page_tables_txn(vma, old_addr: int, new_vma, new_addr: int, length: int) -> None:
    """Model's own: move_page_tables on the transactional interface (txn.py): the new PTE
    tables allocated first, for the pieces whose old table exists (as move_ptes'
    pte_alloc), then one transaction over the old and the new range, a move intent per
    entry that is not none; its commit flushes the old entries that were present once,
    before the PTE locks are dropped, however many PTE tables the ranges span (legacy:
    one flush per piece)."""
    mm = vma.mm
    for old, _, new in _pieces(old_addr, new_addr, length):
        if mm.pte_offset(old) is not None:
            pte_alloc(mm, new)
    with PteTxn(vma, old_addr, old_addr + length, to=(new_vma, new_addr)) as t:
        flush_tlb_batched_pending(mm)
        for old, old_end, new in _pieces(old_addr, new_addr, length):
            if mm.pte_offset(old) is None:
                continue
            for a in range(old, old_end, PAGE_SIZE):
                pte = t.get(a)
                if not pte_none(pte):
                    t.move(a, new + (a - old))
                    if pte_present(pte):
                        pin_unmapped(mm, a, pte_pfn(pte))  # moved away from there


def move_page_tables(vma, old_addr: int, new_vma, new_addr: int, length: int) -> None:
    """6.12 mm/mremap.c:563-685 (move_page_tables).
    Move in pieces that stay inside one old and one new PTE table; on the transactional
    interface when the machine runs `--api txn`."""
    if vma.mm.machine.api == "txn":
        return move_page_tables_txn(vma, old_addr, new_vma, new_addr, length)
    for old, old_end, new in _pieces(old_addr, new_addr, length):
        move_ptes(vma, old, old_end, new_vma, new)


def do_mremap(mm, old_addr: int, old_len: int, new_len: int, flags: int = MREMAP_MAYMOVE,
              new_addr: int | None = None) -> int:
    """6.12 mm/mremap.c:1047-1253 (mremap): mremap(2), SYSCALL_DEFINE5, under mmap_lock
    for write (:1101)."""
    return with_mmap_lock(mm, True, _mremap_locked, mm, old_addr, old_len, new_len, flags, new_addr)


def _mremap_locked(mm, old_addr: int, old_len: int, new_len: int, flags: int, new_addr) -> int:
    if old_addr & (PAGE_SIZE - 1) or old_len <= 0 or new_len <= 0:
        raise MmapError("EINVAL: addresses page-aligned, lengths positive")
    old_len, new_len = page_align(old_len), page_align(new_len)
    vma = mm.find_vma(old_addr)
    if vma is None or old_addr + old_len > vma.end:
        raise MmapError("EFAULT: the old range is not one mapping")
    if not flags & MREMAP_FIXED:
        if new_len <= old_len:
            if new_len < old_len:
                do_munmap(mm, old_addr + new_len, old_len - new_len)
            return old_addr
        if not flags & MREMAP_MAYMOVE:
            raise MmapError("ENOMEM: cannot grow in place without MREMAP_MAYMOVE")
        new_addr = get_unmapped_area(mm, new_len)
    else:
        if new_addr is None or new_addr & (PAGE_SIZE - 1):
            raise MmapError("EINVAL: MREMAP_FIXED needs an aligned new address")
        if new_addr < old_addr + old_len and old_addr < new_addr + new_len:
            raise MmapError("EINVAL: old and new ranges overlap")
        do_munmap(mm, new_addr, new_len)
    return move_vma(mm, old_addr, old_len, new_len, new_addr)


def move_vma(mm, old_addr: int, old_len: int, new_len: int, new_addr: int) -> int:
    """6.12 mm/mremap.c:687-878: the old vma write-locked (:759), a new vma (copy_vma,
    write-locked as mmap's are), the page tables moved, the old range unmapped."""
    (vma,) = split_range(mm, old_addr, old_addr + old_len)
    vma_start_write(vma)
    new_vma = VMA(mm, new_addr, new_addr + new_len, vma.flags, vma.pgoff, vma.file)
    new_vma.anon_vma = vma.anon_vma
    new_vma.page_prot = vma.page_prot
    vma_start_write(new_vma)
    mm.insert_vma(new_vma)
    move_page_tables(vma, old_addr, new_vma, new_addr, min(old_len, new_len))
    do_munmap(mm, old_addr, old_len)
    return new_addr
