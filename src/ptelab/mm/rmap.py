"""Reverse mapping: acting on a page from the side of the page (mm/rmap.c).

page_mkclean is writeback's write-protect-and-clean of every shared mapping;
try_to_unmap is reclaim's unmap, with the deferred "batched" TLB flush of
architectures that set ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH: the PTE is cleared at
once, the shootdown is gathered in current->tlb_ubc, and anything else that changes
that mm's PTEs under the PTE lock must first call flush_tlb_batched_pending.
"""

from __future__ import annotations

from ..machine.memory import PG_anon, PG_anon_exclusive, PG_dirty, PG_swapbacked
from ..pte import (
    PAGE_SIZE,
    VM_SHARED,
    pte_accessible,
    pte_dirty,
    pte_mkclean,
    pte_pfn,
    pte_present,
    pte_write,
    pte_wrprotect,
    swp_entry_to_pte,
)
from ..txn import PteTxn
from .gup import pin_unmapped
from .mm_types import anon_vma_prepare, linear_page_index, vma_address
from .pgtable import pte_offset_map_lock, spin_unlock

TTU_BATCH_FLUSH = 0x1


def set_page_dirty(mem, page: int) -> None:
    """6.12 mm/page-writeback.c:2891-2913 (folio_mark_dirty)."""
    mem.flags[page] |= PG_dirty


def PageAnon(mem, page: int) -> bool:
    """6.12 include/linux/page-flags.h:694-697 (folio_test_anon)."""
    return bool(mem.flags[page] & PG_anon)


def page_add_new_anon_rmap(mem, page: int, vma, addr: int) -> None:
    """6.12 mm/rmap.c:1422-1475 (folio_add_new_anon_rmap), with RMAP_EXCLUSIVE (:1446): every
    caller in the model maps a page no other mm maps (a fault's new page, a COW copy, a
    swap-in's private copy, fork's copy of a pinned page), so it is PageAnonExclusive."""
    mem.mapping[page] = anon_vma_prepare(vma)
    mem.index[page] = linear_page_index(vma, addr)
    mem.flags[page] |= PG_anon | PG_anon_exclusive
    mem.mapcount[page] = 1


def page_add_file_rmap(mem, page: int) -> None:
    """6.12 mm/rmap.c:1504-1508 (folio_add_file_rmap_ptes)."""
    mem.mapcount[page] += 1


def page_dup_rmap(mem, page: int) -> None:
    """6.12 include/linux/rmap.h:366-370 (folio_dup_file_rmap_pte)."""
    mem.mapcount[page] += 1


def page_remove_rmap(mem, page: int, mm=None) -> None:
    """6.12 mm/rmap.c:1613-1617 (folio_remove_rmap_ptes).  When the last mapping of a file
    or swap-cache page goes, the architecture's record of a store outside the PTEs moves to
    PG_dirty, as 2.6.27 mm/rmap.c:665-676 did for s390's storage key (a no-op elsewhere;
    `mm`, the mapping's, reaches the backend and the swap cache)."""
    mem.mapcount[page] -= 1
    if mm is None or mem.mapcount[page]:
        return
    if (not PageAnon(mem, page) or page in mm.kernel.swap_cache) \
            and mm.machine.arch.page_test_and_clear_dirty(page):
        set_page_dirty(mem, page)


def rmap_walk(mem, page: int):
    """6.12 mm/rmap.c:2743-2751 (rmap_walk).
    (vma, address) of every vma that may map the page."""
    mapping = mem.mapping[page]
    if mapping is None:
        return
    vmas = mapping.vmas if mem.flags[page] & PG_anon else mapping.i_mmap
    index = mem.index[page]
    for vma in list(vmas):
        addr = vma_address(vma, index)
        if addr is not None:
            yield vma, addr


def _map_pte_lock(vma, addr: int, page: int):
    """page_vma_mapped_walk for one small page: (ptep, ptl) if addr maps page."""
    mm = vma.mm
    ptep, ptl = pte_offset_map_lock(mm, addr)
    if ptep is None:
        return None, None
    pte = mm.machine.arch.ptep_get(ptep)
    if pte_present(pte) and pte_pfn(pte) == page:
        return ptep, ptl
    spin_unlock(mm, ptl)
    return None, None


# ---- writeback -------------------------------------------------------------------------

def page_mkclean(mem, page: int) -> int:
    """6.12 mm/rmap.c:1102-1124 (folio_mkclean) with page_vma_mkclean_one (:1021-1081).
    Write-protect and clean every shared mapping; the number of entries that were
    dirty or writable (the caller re-dirties the page if any was).  A page no PTE maps
    is left alone (:1114-1115, and 2.6.27's page_mkclean: page_mapped first): a zap that
    removed the rmap, its flush still to come, is not waited for.  A mapped page then has
    the architecture's record of a store outside the PTEs tested and reset, counted as one
    more, as 2.6.27 mm/rmap.c:495-512 did for s390's storage key (a no-op elsewhere)."""
    if not mem.mapcount[page]:
        return 0
    cleaned = 0
    arch = None
    for vma, addr in rmap_walk(mem, page):
        arch = vma.mm.machine.arch
        if not vma.flags & VM_SHARED:
            continue
        if vma.mm.machine.api == "txn":
            cleaned += page_mkclean_one_txn(vma, addr, page)
            continue
        ptep, ptl = _map_pte_lock(vma, addr, page)
        if ptep is None:
            continue
        mm = vma.mm
        arch = mm.machine.arch
        pte = arch.ptep_get(ptep)
        if pte_dirty(pte) or pte_write(pte):
            entry = arch.ptep_clear_flush(vma, addr, ptep)
            entry = pte_mkclean(pte_wrprotect(entry))
            arch.set_pte_at(mm, addr, ptep, entry)
            cleaned += 1
        spin_unlock(mm, ptl)
    if arch is not None and arch.page_test_and_clear_dirty(page):
        cleaned += 1
    return cleaned


def page_mkclean_one_txn(vma, addr: int, page: int) -> int:
    """Model's own: page_vma_mkclean_one on the transactional interface (txn.py): under the
    transaction's PTE lock, if addr still maps the page, dirty or writable, a clean intent
    that write-protects too; its commit clears the entry, flushes it, and writes it back
    clean and read-only, before unlock.  1 if the entry was dirty or writable."""
    if vma.mm.pte_offset(addr) is None:
        return 0
    with PteTxn(vma, addr, addr + PAGE_SIZE) as t:
        pte = t.get(addr)
        if not (pte_present(pte) and pte_pfn(pte) == page and (pte_dirty(pte) or pte_write(pte))):
            return 0
        t.clean(addr, wrprotect=True)
    return 1


def clear_page_dirty_for_io(mem, page: int) -> bool:
    """6.12 mm/page-writeback.c:2987-3046 (folio_clear_dirty_for_io).
    folio_clear_dirty_for_io: move PTE dirtiness into PG_dirty, then test-and-clear it."""
    if page_mkclean(mem, page):
        set_page_dirty(mem, page)
    if mem.flags[page] & PG_dirty:
        mem.flags[page] &= ~PG_dirty
        return True
    return False


# ---- reclaim ---------------------------------------------------------------------------

def set_tlb_ubc_flush_pending(kernel, mm, pteval: int, addr: int) -> None:
    """6.12 mm/rmap.c:682-721 (set_tlb_ubc_flush_pending); nothing on an architecture
    without ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH (:767-770)."""
    if not kernel.machine.arch.batched_unmap_tlb_flush or not pte_accessible(pteval):
        return
    kernel.machine.arch.arch_tlbbatch_add_pending(kernel.tlb_ubc, mm, addr)
    kernel.tlb_ubc_flush_required = True
    if pte_dirty(pteval):
        kernel.tlb_ubc_writable = True
    mm.machine.shared(("tlb_flush_batched", mm.context), True)
    mm.tlb_flush_batched = True


def try_to_unmap_flush(kernel) -> None:
    """6.12 mm/rmap.c:651-661 (try_to_unmap_flush)."""
    if kernel.tlb_ubc_flush_required:
        kernel.machine.arch.arch_tlbbatch_flush(kernel.tlb_ubc)
    kernel.tlb_ubc_flush_required = False
    kernel.tlb_ubc_writable = False


def try_to_unmap_flush_dirty(kernel) -> None:
    """6.12 mm/rmap.c:664-670 (try_to_unmap_flush_dirty).
    Before writing a page out: no CPU may still be able to store to it."""
    if kernel.tlb_ubc_writable:
        try_to_unmap_flush(kernel)


def flush_tlb_batched_pending(mm) -> None:
    """6.12 mm/rmap.c:750-765 (flush_tlb_batched_pending).
    Called under the PTE lock before changing PTEs reclaim may have cleared unflushed."""
    mm.machine.shared(("tlb_flush_batched", mm.context), False)
    if mm.tlb_flush_batched:
        mm.machine.arch.flush_tlb_mm(mm)
        mm.machine.shared(("tlb_flush_batched", mm.context), True)
        mm.tlb_flush_batched = False


class SwapCacheMissing(RuntimeError):
    """try_to_unmap of a swap-backed anonymous page that is not in the swap cache."""


def try_to_unmap(kernel, page: int, flags: int) -> bool:
    """6.12 mm/rmap.c:2013-2027: unmap the page everywhere; anonymous entries become the
    swap entry add_to_swap gave the page.  False when a lazily-freed page turned out dirty
    again and was left mapped (the kernel returns void; its caller tests folio_mapped)."""
    mem = kernel.machine.mem
    if mem.flags[page] & PG_anon and mem.flags[page] & PG_swapbacked and page not in kernel.swap_cache:
        # mm/rmap.c:1855-1859: WARN_ON_ONCE, and the walk aborts with the entry already
        # cleared: a caller's bug (shrink_folio_list calls add_to_swap first).
        raise SwapCacheMissing(f"try_to_unmap of anonymous page {page}, which is not in the swap "
                               "cache: call add_to_swap(page) first, as shrink_folio_list does "
                               "(6.12 mm/rmap.c:1855-1859 WARNs)")
    swap_entry = kernel.swap_cache.get(page)
    for vma, addr in rmap_walk(mem, page):
        if not try_to_unmap_one(kernel, vma, addr, page, flags, swap_entry):
            return False
    return mem.mapcount[page] == 0


def try_to_unmap_one(kernel, vma, addr: int, page: int, flags: int, swap_entry) -> bool:
    """6.12 mm/rmap.c:1642-1989, one small page: clear (the flush deferred with
    TTU_BATCH_FLUSH where the architecture batches), move Dirty to the page, then a swap
    entry, or, for a MADV_FREE'd page written since, the old entry back.  On the
    transactional interface when the machine runs `--api txn`."""
    if vma.mm.machine.api == "txn":
        return try_to_unmap_one_txn(kernel, vma, addr, page, flags, swap_entry)
    mm = vma.mm
    arch = mm.machine.arch
    ptep, ptl = _map_pte_lock(vma, addr, page)
    if ptep is None:
        return True
    if _defers_flush(arch, flags):
        pteval = arch.ptep_get_and_clear(mm, addr, ptep)
        set_tlb_ubc_flush_pending(kernel, mm, pteval, addr)
    else:
        pteval = arch.ptep_clear_flush(vma, addr, ptep)
    back = _unmapped(kernel, mm, page, pteval, swap_entry)
    if back is not None:
        arch.set_pte_at(mm, addr, ptep, back)
    if back != pteval:
        pin_unmapped(mm, addr, page)
        page_remove_rmap(mm.machine.mem, page, mm)
        mm.machine.mem.put_page(page)
    spin_unlock(mm, ptl)
    return back != pteval


def try_to_unmap_one_txn(kernel, vma, addr: int, page: int, flags: int, swap_entry) -> bool:
    """Model's own: try_to_unmap_one on the transactional interface (txn.py).  Under the
    transaction's PTE lock, if addr still maps the page: an `unmap` intent, and for a
    swap-backed anonymous page (swap-out) the swap entry's `map` in the same transaction
    (two rounds of one entry: the clear, flushed or handed to reclaim's batch, then the
    swap entry); committed before the rmap goes, under the lock.  With TTU_BATCH_FLUSH
    where the architecture batches, the commit hands the cleared entry to reclaim's
    batch (`defer_flush` = set_tlb_ubc_flush_pending, rmap.c:1794-1804) and makes no
    flush: try_to_unmap_flush(_dirty) owes it; otherwise it flushes before unlock, as
    ptep_clear_flush.  A lazily-freed page written since gets its old entry back in a
    second transaction under the same lock (`again`, rmap.c:1897-1908)."""
    mm = vma.mm
    mem = mm.machine.mem
    arch = mm.machine.arch
    if mm.pte_offset(addr) is None:
        return True
    cleared = []

    def batched(a: int, ptep: int) -> None:
        set_tlb_ubc_flush_pending(kernel, mm, cleared[0].value, a)

    swap_out = swap_entry is not None and mem.flags[page] & PG_anon and mem.flags[page] & PG_swapbacked
    with PteTxn(vma, addr, addr + PAGE_SIZE, defer_flush=batched if _defers_flush(arch, flags) else None) as t:
        pte = t.get(addr)
        if not (pte_present(pte) and pte_pfn(pte) == page):  # page_vma_mapped_walk
            return True
        cleared.append(t.unmap(addr))
        if swap_out:
            kernel.swap.swap_duplicate(swap_entry)  # the slot's count before its entry is visible
            t.map(addr, swp_entry_to_pte(swap_entry))
        t.commit()
        pteval = cleared[0].value
        back = _unmapped(kernel, mm, page, pteval, swap_entry, duplicated=bool(swap_out))
        if back is not None and not swap_out:
            t.again()
            t.map(addr, back)
            t.commit()
        if back != pteval:
            pin_unmapped(mm, addr, page)
            page_remove_rmap(mem, page, mm)
            mem.put_page(page)
    return back != pteval


def _defers_flush(arch, flags: int) -> bool:
    """should_defer_flush (6.12 mm/rmap.c:723-740): TTU_BATCH_FLUSH on an architecture with
    ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH."""
    return bool(flags & TTU_BATCH_FLUSH and arch.batched_unmap_tlb_flush)


def _unmapped(kernel, mm, page: int, pteval: int, swap_entry, duplicated: bool = False):
    """What try_to_unmap_one does once the entry is cleared (6.12 mm/rmap.c:1809-1810,
    1845-1956), shared by the accessor and txn versions: Dirty moves to the page; the entry
    to write back: the swap entry (swap_duplicate'd here unless `duplicated`), the old
    entry of a MADV_FREE'd page written since or referenced by someone else (a GUP
    reference or pin: made swap-backed again, kept mapped), or None (a clean
    lazily-freed page is discarded, a file page dropped)."""
    mem = mm.machine.mem
    arch = mm.machine.arch
    lazyfree = mem.flags[page] & PG_anon and not mem.flags[page] & PG_swapbacked
    # a lazily-freed page written since MADV_FREE is kept: on s390-2.6.27 the write is in the
    # storage key, not the entry (madvise_free_pte_range)
    if pte_dirty(pteval) or lazyfree and arch.page_test_and_clear_dirty(page):
        set_page_dirty(mem, page)
    if not mem.flags[page] & PG_anon:
        return None
    if lazyfree:
        # 6.12 mm/rmap.c:1861-1908: the refcount is read after the clear (smp_mb, :1866-1870,
        # pairs with GUP-fast's increment then recheck of the entry); a clean page is
        # discarded only if its references are isolation's and its mappings' (:1881-1894);
        # else (written since, or another reference: a GUP one or a pin) the entry goes back
        # and the page is swap-backed again (:1896-1908)
        mm.machine.shared(("frame", page), False)
        if mem.refcount[page] == 1 + mem.mapcount[page] and not mem.flags[page] & PG_dirty:
            return None
        mem.flags[page] |= PG_swapbacked
        return pteval
    if not duplicated:
        kernel.swap.swap_duplicate(swap_entry)
    return swp_entry_to_pte(swap_entry)


