"""mprotect (mm/mprotect.c)."""

from __future__ import annotations

from ..pte import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_EXEC,
    VM_READ,
    VM_WRITE,
    _PAGE_PRESENT,
    _PAGE_PROTNONE,
    pte_dirty,
    pte_mkwrite,
    pte_modify,
)
from ..txn import PteTxn
from .mm_types import vma_set_page_prot, vma_wants_writenotify
from .mmap import MmapError, calc_vm_prot_bits, page_align, split_range, with_mmap_lock
from .mmap_lock import vma_start_write
from .pgtable import pmd_chunks, pte_offset_map_lock, spin_unlock
from .rmap import flush_tlb_batched_pending

_PRESENT = _PAGE_PRESENT | _PAGE_PROTNONE


def change_pte_range(vma, addr: int, end: int, newprot: int, dirty_accountable: bool) -> int:
    """6.12 mm/mprotect.c:86-294 (change_pte_range).
    Rewrite the protection of every present entry with modify_prot start/commit,
    in lazy-MMU mode, under the PTE lock.  Returns the number of entries changed."""
    mm = vma.mm
    arch = mm.machine.arch
    ptep, ptl = pte_offset_map_lock(mm, addr)
    if ptep is None:
        return 0
    flush_tlb_batched_pending(mm)
    get, start, commit = arch.ptep_get, arch.ptep_modify_prot_start, arch.ptep_modify_prot_commit
    arch.arch_enter_lazy_mmu_mode()
    pages = 0
    for p in range(ptep, ptep + ((end - addr) >> PAGE_SHIFT)):
        if get(p) & _PRESENT:
            oldpte = start(vma, addr, p)
            ptent = pte_modify(oldpte, newprot)
            if dirty_accountable and pte_dirty(ptent):
                ptent = pte_mkwrite(ptent)  # known dirty: spare the write fault
            commit(vma, addr, p, oldpte, ptent)
            pages += 1
        addr += PAGE_SIZE
    arch.arch_leave_lazy_mmu_mode()
    spin_unlock(mm, ptl)
    return pages


def change_protection_txn(vma, start: int, end: int, newprot: int, dirty_accountable: bool) -> int:
    """Model's own: change_protection on the transactional interface (txn.py): one
    transaction over the whole range, one protect intent per present entry; its commit
    flushes once, before the PTE locks are dropped, only if an entry lost a permission."""
    pages = 0
    mm = vma.mm
    with PteTxn(vma, start, end) as t:
        flush_tlb_batched_pending(mm)
        for a in t.addresses():
            if t.get(a) & _PRESENT:
                t.protect(a, newprot, dirty_accountable)
                pages += 1
    return pages


def change_protection(vma, start: int, end: int, newprot: int, dirty_accountable: bool) -> int:
    """6.12 mm/mprotect.c:541-570 (change_protection); on the transactional interface
    when the machine runs `--api txn`."""
    if vma.mm.machine.api == "txn":
        return change_protection_txn(vma, start, end, newprot, dirty_accountable)
    pages = 0
    for addr, next_ in pmd_chunks(start, end):
        pages += change_pte_range(vma, addr, next_, newprot, dirty_accountable)
    if pages:
        vma.mm.machine.arch.flush_tlb_range(vma, start, end)
    return pages


def do_mprotect(mm, start: int, length: int, prot: int) -> int:
    """mprotect(2), 6.12 mm/mprotect.c:709-854 (do_mprotect_pkey): under mmap_lock for
    write, each vma of the range write-locked (mprotect_fixup, :603-704, :676) before its
    flags change; the entries changed."""
    return with_mmap_lock(mm, True, _mprotect_locked, mm, start, length, prot)


def _mprotect_locked(mm, start: int, length: int, prot: int) -> int:
    if start & (PAGE_SIZE - 1):
        raise MmapError("EINVAL: start must be page-aligned")
    end = start + page_align(length)
    covered = sum(min(v.end, end) - max(v.start, start) for v in mm.vmas_in(start, end))
    if covered != end - start:
        raise MmapError("ENOMEM: the range is not fully mapped")
    pages = 0
    for vma in split_range(mm, start, end):
        vma_start_write(vma)
        newflags = (vma.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | calc_vm_prot_bits(prot)
        vma.flags = newflags
        vma_set_page_prot(vma)
        pages += change_protection(vma, vma.start, vma.end, vma.page_prot, vma_wants_writenotify(vma))
    return pages
