"""madvise (mm/madvise.c): MADV_DONTNEED and MADV_FREE."""

from __future__ import annotations

from ..arch.generic import CYDP_CLEAR_DIRTY, CYDP_CLEAR_YOUNG, gather_young_dirty
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
from .memory import folio_pte_batch, vm_normal_page, zap_page_range
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
    """mm/madvise.c:650-790 (6.12): clean and age exclusive anonymous pages so reclaim may drop them unless they
    are written again; swap entries are simply freed.  A large folio mapped whole is one batch
    (clear_young_dirty_ptes and tlb_remove_tlb_entries over its nr entries); one mapped in
    part, which 6.12 splits first (:715-740), is taken page by page."""
    mm = vma.mm
    mem = mm.machine.mem
    arch = mm.machine.arch
    ptep, ptl = pte_offset_map_lock(mm, addr)
    if ptep is None:
        return
    flush_tlb_batched_pending(mm)
    arch.arch_enter_lazy_mmu_mode()
    pages = (end - addr) >> PAGE_SHIFT
    i, nr = 0, 1
    while i + nr <= pages:  # entry i - 1 is the next, the nr of a batch skipped
        i += nr
        nr = 1
        a, p = addr + ((i - 1) << PAGE_SHIFT), ptep + i - 1
        ptent = arch.ptep_get(p)
        if pte_none(ptent):
            continue
        if not pte_present(ptent):
            entry = pte_to_swp_entry(ptent)
            if not is_migration_entry(entry):
                mm.kernel.swap.swap_free(entry)
                arch.pte_clear_not_present_full(mm, a, p, tlb.fullmm)
            continue
        page = vm_normal_page(vma, a, ptent)
        if page is not None and mem.folio(page)[1] > 1:  # a large folio (mm/madvise.c:715-748)
            nr = folio_pte_batch(mm, p, ptent, pages - i + 1, True)
            if nr < mem.folio(page)[1]:
                nr = 1  # not mapped whole here: 6.12 splits it; the model treats its pages one by one
            else:
                ptent = _batch_young_dirty(arch, p, ptent, nr)
        if _lazyfree_candidates(vma, a, ptent, nr) is None:
            continue
        if pte_young(ptent) or pte_dirty(ptent):
            # mm/madvise.c:775-778 (6.12); the generic clear_young_dirty_ptes clears the
            # entry and sets it again inside this lazy-MMU section (docs/findings/)
            arch.clear_young_dirty_ptes(vma, a, p, nr, CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY)
            for k in range(nr):  # tlb_remove_tlb_entries
                tlb_remove_tlb_entry(tlb, p + k, a + (k << PAGE_SHIFT))
        for k in range(nr):
            mem.flags[page + k] &= ~PG_swapbacked  # folio_mark_lazyfree
    arch.arch_leave_lazy_mmu_mode()
    spin_unlock(mm, ptl)


def _batch_young_dirty(arch, ptep: int, pte: int, nr: int) -> int:
    """madvise_folio_pte_batch's any_young and any_dirty (mm/madvise.c:331-341, 740-743):
    pte with Accessed and Dirty if any entry of the batch has them."""
    return gather_young_dirty(pte, (arch.ptep_get(ptep + k) for k in range(1, nr)))


def _lazyfree_candidates(vma, addr: int, ptent: int, nr: int):
    """_lazyfree_candidate for a batch of nr entries mapping consecutive pages of one
    folio (a large one is exclusive when its mapcount is its size, :757-760): the first
    page, or None."""
    page = _lazyfree_candidate(vma, addr, ptent)
    if page is None or nr == 1:
        return page
    mem = vma.mm.machine.mem
    if any(mem.mapcount[page + k] != 1 or not mem.flags[page + k] & PG_anon for k in range(1, nr)):
        return None
    for k in range(1, nr):
        mem.flags[page + k] &= ~PG_dirty
        vma.mm.machine.arch.page_test_and_clear_dirty(page + k)
    return page


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
    inside its lazy section (the MADV_FREE finding, litmus/op-madv-free.litmus).  arm64
    cleans in place instead (no lazy-MMU batch there in 6.12), whole contiguous blocks
    folded (Arm64.txn_clean_run, contpte.c:366-393), with the same one flush."""
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
