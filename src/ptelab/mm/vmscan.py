"""Reclaim (mm/vmscan.c shrink_folio_list), one page at a time.

Anonymous pages go to swap, lazily-freed clean ones are discarded, file pages are
written back if dirty and dropped from the page cache.  Unmapping uses the
batched flush where the architecture has it, so the order matters: flush before
writing a dirty page out (try_to_unmap_flush_dirty) and before freeing.
"""

from __future__ import annotations

from ..machine.memory import PG_anon, PG_dirty, PG_swapbacked
from ..pte import PAGE_SIZE, pte_pfn, pte_present, swp_offset
from .filemap import delete_from_page_cache
from .gup import folio_maybe_dma_pinned
from .page_writeback import writepage
from .memory import vm_normal_page
from .swapfile import add_to_swap, delete_from_swap_cache
from .rmap import (
    TTU_BATCH_FLUSH,
    clear_page_dirty_for_io,
    try_to_unmap,
    try_to_unmap_flush,
    try_to_unmap_flush_dirty,
)


def shrink_page(kernel, page: int) -> bool:
    """6.12 mm/vmscan.c:1049-1582 (shrink_folio_list), one page.
    Try to free one page; True if it was freed."""
    mem = kernel.machine.mem
    mem.get_page(page)  # isolate_lru_page's reference
    try:
        if mem.flags[page] & PG_anon:
            return _shrink_anon(kernel, page)
        return _shrink_file(kernel, page)
    finally:
        try_to_unmap_flush(kernel)
        mem.put_page(page)


def _shrink_anon(kernel, page: int) -> bool:
    mem = kernel.machine.mem
    if not mem.flags[page] & PG_swapbacked:
        # MADV_FREE'd: try_to_unmap_one drops the mappings of a clean page (it is then
        # freed, its content discarded) or, if it was written since, restores them and
        # makes the page swap-backed again (False).
        return try_to_unmap(kernel, page, TTU_BATCH_FLUSH)
    if folio_maybe_dma_pinned(mem, page):  # 6.12 mm/vmscan.c:1254-1255: kept, not swapped
        return False
    entry = add_to_swap(kernel, page)
    if not try_to_unmap(kernel, page, TTU_BATCH_FLUSH):
        delete_from_swap_cache(kernel, page)
        return False
    try_to_unmap_flush_dirty(kernel)
    kernel.swap.write(entry, mem.data[page])  # pageout
    mem.note(f"frame {page} written to swap slot {swp_offset(entry)} ({mem.data[page]})")
    mem.flags[page] &= ~PG_dirty
    delete_from_swap_cache(kernel, page)
    return True


def _shrink_file(kernel, page: int) -> bool:
    mem = kernel.machine.mem
    if mem.mapping[page] is None:
        return False
    if not try_to_unmap(kernel, page, TTU_BATCH_FLUSH):
        return False
    if folio_maybe_dma_pinned(mem, page):  # 6.12 mm/vmscan.c:1337-1344: unmapped, kept in the cache
        return False
    try_to_unmap_flush_dirty(kernel)
    if clear_page_dirty_for_io(mem, page):
        writepage(mem, page)  # pageout
    delete_from_page_cache(mem, page)
    return True


def reclaim_range(kernel, mm, start: int, end: int) -> int:
    """Model's own: shrink_page on every page mapped in a range (a workload's "swap out").
    Reclaim every page mapped in [start, end) of mm (what a workload calls "swap out")."""
    arch = kernel.machine.arch
    freed = 0
    for addr in range(start, end, PAGE_SIZE):
        ptep = mm.pte_offset(addr)
        if ptep is None:
            continue
        pte = arch.ptep_get(ptep)
        if not pte_present(pte):
            continue
        vma = mm.find_vma(addr)
        page = vm_normal_page(vma, addr, pte) if vma is not None else None
        if page is not None and pte_pfn(pte) == page:
            freed += shrink_page(kernel, page)
    return freed
