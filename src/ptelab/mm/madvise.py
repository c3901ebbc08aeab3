"""madvise (mm/madvise.c): MADV_DONTNEED and MADV_FREE."""

from __future__ import annotations

from ..arch.generic import CYDP_CLEAR_DIRTY, CYDP_CLEAR_YOUNG
from ..machine.memory import PG_anon, PG_dirty, PG_swapbacked
from ..mmu_gather import MmuGather, tlb_finish_mmu, tlb_gather_mmu, tlb_remove_tlb_entry
from ..pte import (
    PAGE_SHIFT,
    is_migration_entry,
    pte_dirty,
    pte_none,
    pte_present,
    pte_to_swp_entry,
    pte_young,
)
from ..txn import PteTxn
from .memory import vm_normal_page, zap_page_range
from .mmap import MmapError, page_align, with_mmap_lock
from .pgtable import pmd_chunks, pte_offset_map_lock, spin_unlock
from .rmap import flush_tlb_batched_pending

MADV_DONTNEED = 4
MADV_FREE = 8


def do_madvise(mm, start: int, length: int, advice: int) -> None:
    """madvise(2), 6.12 mm/madvise.c:1430-1491: MADV_DONTNEED and MADV_FREE under mmap_lock
    for read (madvise_need_mmap_write, :50-66)."""
    if advice not in (MADV_DONTNEED, MADV_FREE):
        raise MmapError(f"EINVAL: advice {advice} is not MADV_DONTNEED or MADV_FREE")
    with_mmap_lock(mm, False, _madvise_locked, mm, start, length, advice)


def _madvise_locked(mm, start: int, length: int, advice: int) -> None:
    end = start + page_align(length)
    vmas = mm.vmas_in(start, end)
    if advice == MADV_DONTNEED:
        for vma in vmas:
            zap_page_range(vma, max(start, vma.start), min(end, vma.end) - max(start, vma.start))
    elif advice == MADV_FREE:
        for vma in vmas:
            if vma.file is None:
                madvise_free_single_vma(vma, max(start, vma.start), min(end, vma.end))


def madvise_free_single_vma(vma, start: int, end: int) -> None:
    """6.12 mm/madvise.c:798-831 (madvise_free_single_vma); on the transactional interface
    when the machine runs `--api txn`."""
    if vma.mm.machine.api == "txn":
        return madvise_free_txn(vma, start, end)
    tlb = MmuGather()
    tlb_gather_mmu(tlb, vma.mm)
    for addr, next_ in pmd_chunks(start, end):
        madvise_free_pte_range(tlb, vma, addr, next_)
    tlb_finish_mmu(tlb)


def madvise_free_pte_range(tlb, vma, addr: int, end: int) -> None:
    """mm/madvise.c:650-790 (6.12), for order-0 folios: clean and age exclusive anonymous pages so reclaim may drop them unless they
    are written again; swap entries are simply freed."""
    mm = vma.mm
    mem = mm.machine.mem
    arch = mm.machine.arch
    ptep, ptl = pte_offset_map_lock(mm, addr)
    if ptep is None:
        return
    flush_tlb_batched_pending(mm)
    arch.arch_enter_lazy_mmu_mode()
    for i in range((end - addr) >> PAGE_SHIFT):
        a, p = addr + (i << PAGE_SHIFT), ptep + i
        ptent = arch.ptep_get(p)
        if pte_none(ptent):
            continue
        if not pte_present(ptent):
            entry = pte_to_swp_entry(ptent)
            if not is_migration_entry(entry):
                mm.kernel.swap.swap_free(entry)
                arch.pte_clear_not_present_full(mm, a, p, tlb.fullmm)
            continue
        page = _lazyfree_candidate(vma, a, ptent)
        if page is None:
            continue
        if pte_young(ptent) or pte_dirty(ptent):
            # mm/madvise.c:775-778 (6.12); the generic clear_young_dirty_ptes clears the
            # entry and sets it again inside this lazy-MMU section (docs/findings/)
            arch.clear_young_dirty_ptes(vma, a, p, 1, CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY)
            tlb_remove_tlb_entry(tlb, p, a)
        mem.flags[page] &= ~PG_swapbacked  # mark_page_lazyfree
    arch.arch_leave_lazy_mmu_mode()
    spin_unlock(mm, ptl)


def _lazyfree_candidate(vma, addr: int, ptent: int):
    """The page a present entry maps if MADV_FREE may make it lazyfree (an exclusive
    anonymous page, mm/madvise.c:705-760), its PG_dirty cleared; else None."""
    mem = vma.mm.machine.mem
    page = vm_normal_page(vma, addr, ptent)
    if page is None or not mem.flags[page] & PG_anon or mem.mapcount[page] != 1:
        return None
    mem.flags[page] &= ~PG_dirty
    # a store recorded outside the entry is forgotten too (s390-2.6.27's storage key: MADV_FREE,
    # 4.5, came after s390 stopped keeping Dirty there, 3.9; the model asks the key where 6.12
    # asks the entry, as try_to_unmap_one does)
    vma.mm.machine.arch.page_test_and_clear_dirty(page)
    return page


def madvise_free_txn(vma, start: int, end: int) -> None:
    """Model's own: madvise_free_pte_range on the transactional interface (txn.py): one
    transaction over the range; a swap entry is unmapped (its slot freed once the commit
    returned it), an exclusive anonymous page that is young or dirty gets a clean intent
    that ages it too.  The commit clears those entries, issues the batch and one flush,
    and only then writes them back clean and old, before unlock: the cleaned entry is
    never written over an unflushed clear, which the generic clear_young_dirty_ptes does
    inside its lazy section (the MADV_FREE finding, litmus/op-madv-free.litmus)."""
    mm = vma.mm
    mem = mm.machine.mem
    swapped = []
    with PteTxn(vma, start, end) as t:
        flush_tlb_batched_pending(mm)
        for a in t.addresses():
            ptent = t.get(a)
            if pte_none(ptent):
                continue
            if not pte_present(ptent):
                if not is_migration_entry(pte_to_swp_entry(ptent)):
                    swapped.append(t.unmap(a))
                continue
            page = _lazyfree_candidate(vma, a, ptent)
            if page is None:
                continue
            if pte_young(ptent) or pte_dirty(ptent):
                t.clean(a, mkold=True)
            mem.flags[page] &= ~PG_swapbacked  # mark_page_lazyfree
    for old in swapped:
        mm.kernel.swap.swap_free(pte_to_swp_entry(old.value))
