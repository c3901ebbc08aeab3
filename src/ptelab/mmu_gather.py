"""The mmu_gather: unmap now, flush once, free after the flush.

include/asm-generic/tlb.h and mm/mmu_gather.c.  Pages and page-table pages removed
while zapping are only freed by tlb_flush_mmu, after the architecture's tlb_flush,
so no TLB can still reach them.  tlb_gather_mmu/tlb_finish_mmu also account
mm->tlb_flush_pending, and a finish that sees another flush pending on the same mm
(mm_tlb_flush_nested) flushes everything: MADV_DONTNEED/MADV_FREE racing on one
range must not return before the other's stale entries are gone.
"""

from __future__ import annotations

from .pte import PAGE_SIZE

# (PAGE_SIZE - sizeof(struct mmu_gather_batch)) / sizeof(void *) for 4K pages
MAX_GATHER_BATCH = 510


class MmuGather:
    __slots__ = ("mm", "fullmm", "start", "end", "need_flush_all", "pages", "tables", "delayed_rmap")

    def __init__(self):
        self.mm = None
        self.fullmm = False
        self.need_flush_all = False
        self.start = self.end = 0
        self.pages: list[int] = []
        self.tables: list[int] = []
        self.delayed_rmap: list[int] = []  # pages whose rmap goes after the flush


def _reset_range(tlb: MmuGather) -> None:
    tlb.start, tlb.end = 1 << 48, 0


def tlb_gather_mmu(tlb: MmuGather, mm) -> None:
    """6.12 mm/mmu_gather.c:411-414 (tlb_gather_mmu) with __tlb_gather_mmu (:377-409)."""
    tlb.mm = mm
    tlb.fullmm = False
    tlb.need_flush_all = False
    _reset_range(tlb)
    tlb.pages.clear()
    tlb.tables.clear()
    tlb.delayed_rmap.clear()
    inc_tlb_flush_pending(mm)
    mm.machine.operation_begin("mmu_gather")  # its promise is kept at tlb_finish_mmu


def inc_tlb_flush_pending(mm) -> None:
    """6.12 include/linux/mm_inline.h:447-486 (inc_tlb_flush_pending): a PTE change of mm
    whose flush is still to come (atomic_inc of mm->tlb_flush_pending)."""
    mm.machine.shared(("tlb_flush_pending", mm.context), True)
    mm.tlb_flush_pending += 1


def dec_tlb_flush_pending(mm) -> None:
    """6.12 include/linux/mm_inline.h:488-499 (dec_tlb_flush_pending): after the flush."""
    mm.machine.shared(("tlb_flush_pending", mm.context), True)
    mm.tlb_flush_pending -= 1


def mm_tlb_flush_nested(mm) -> bool:
    """6.12 include/linux/mm_inline.h:514-524 (mm_tlb_flush_nested): more than one flush
    of mm in flight (two gathers racing on one range)."""
    mm.machine.shared(("tlb_flush_pending", mm.context), False)
    return mm.tlb_flush_pending > 1


def tlb_gather_mmu_fullmm(tlb: MmuGather, mm) -> None:
    """6.12 mm/mmu_gather.c:427-430 (tlb_gather_mmu_fullmm)."""
    tlb_gather_mmu(tlb, mm)
    tlb.fullmm = True


def tlb_adjust_range(tlb: MmuGather, addr: int, size: int) -> None:
    """6.12 include/asm-generic/tlb.h:377-383 (__tlb_adjust_range)."""
    if addr < tlb.start:
        tlb.start = addr
    if addr + size > tlb.end:
        tlb.end = addr + size


def tlb_remove_tlb_entry(tlb: MmuGather, ptep: int, addr: int) -> None:
    """6.12 include/asm-generic/tlb.h:631-635 (tlb_remove_tlb_entry)."""
    tlb_adjust_range(tlb, addr, PAGE_SIZE)
    tlb.mm.machine.arch.tlb_remove_tlb_entry(tlb, ptep, addr)


def tlb_remove_page(tlb: MmuGather, page: int) -> None:
    """6.12 include/asm-generic/tlb.h:502-505 (tlb_remove_page)."""
    tlb.pages.append(page)
    if len(tlb.pages) >= MAX_GATHER_BATCH:
        tlb_flush_mmu(tlb)


def tlb_remove_table(tlb: MmuGather, table_pfn: int, addr: int, size: int) -> None:
    """6.12 mm/mmu_gather.c:332-349 (tlb_remove_table).
    pte_free_tlb: a page-table page is freed after the flush, like a page."""
    tlb_adjust_range(tlb, addr, size)
    tlb.mm.machine.arch.pte_free_tlb(tlb, addr)
    tlb.tables.append(table_pfn)


def tlb_flush_mmu_tlbonly(tlb: MmuGather) -> None:
    """6.12 include/asm-generic/tlb.h:471-483 (tlb_flush_mmu_tlbonly)."""
    if tlb.fullmm or tlb.need_flush_all or tlb.end > tlb.start:
        tlb.mm.machine.arch.tlb_flush(tlb)
    _reset_range(tlb)


def tlb_flush_rmaps(tlb: MmuGather, vma) -> None:
    """6.12 mm/mmu_gather.c:83-92: the rmap of pages zap delayed (a dirty file page) is
    removed after the flush, still under the PTE lock."""
    mem = tlb.mm.machine.mem
    for page in tlb.delayed_rmap:
        mem.mapcount[page] -= 1  # folio_remove_rmap_ptes
    tlb.delayed_rmap.clear()


def tlb_flush_mmu_free(tlb: MmuGather) -> None:
    """6.12 mm/mmu_gather.c:363-369: free the gathered pages and page tables."""
    mem = tlb.mm.machine.mem
    for page in tlb.pages:
        mem.put_page(page)
    tlb.pages.clear()
    for table in tlb.tables:
        mem.free_pte_table(table)
    tlb.tables.clear()


def tlb_flush_mmu(tlb: MmuGather) -> None:
    """6.12 mm/mmu_gather.c:371-375."""
    tlb_flush_mmu_tlbonly(tlb)
    tlb_flush_mmu_free(tlb)


def tlb_finish_mmu(tlb: MmuGather, nested_check: bool = True) -> None:
    """6.12 mm/mmu_gather.c:464-504 (tlb_finish_mmu): when another flush of the mm is in
    flight (:484-496), everything is flushed, not only what this gather collected.
    nested_check=False: before Linux 4.13 (99baac21e458), only the gathered range."""
    if nested_check and mm_tlb_flush_nested(tlb.mm):
        tlb.need_flush_all = True
    tlb_flush_mmu(tlb)
    dec_tlb_flush_pending(tlb.mm)
    tlb.mm.machine.operation_end()  # nothing it removed is usable now (explore/invariants.py)
