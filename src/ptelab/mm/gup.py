"""mm/gup.c: GUP-fast, the lockless get_user_pages of 6.12, and the pins it takes.

GUP-fast walks the current mm's page tables with IRQs off and no lock: it reads each
entry once (ptep_get_lockless), checks it, takes a reference on its page
(try_grab_folio_fast: +1 for FOLL_GET, +GUP_PIN_COUNTING_BIAS for a pin of a small
folio), then reads the entry again and drops the reference if it changed.  Each entry
is judged alone (gup_fast_pte_range, 6.12 mm/gup.c:2935-3024): a walker of several
entries may see some of a transaction's changes and not others.  A pin also reads
mm->write_protect_seq before and after the walk and gives everything back if fork
write-protected the mm meanwhile (gup_fast, :3390-3436).

What the model leaves out, and why:
- the slow path.  gup_fast_fallback (:3438-3489) takes what GUP-fast could not by
  get_user_pages under mmap_lock; here `gup_fast` returns how many pages it took from
  the start, and the rest is "gave up" (a step-table note says so): the slow path
  faults, which the litmus bodies already do with user accesses;
- what IRQs off protects: page-table pages.  x86 frees them after an IPI flush that an
  IRQs-off CPU holds up, or, with paravirt flushes (Xen PV), after
  tlb_remove_table_sync_one's IPI; arm64, powerpc and s390 free them by RCU
  (MMU_GATHER_RCU_TABLE_FREE, 6.12 mm/mmu_gather.c:213-330), which IRQs off also holds
  up.  The model never reuses a freed table's entries: a walk keeps the table it
  started from, whose entries free_pgtables left none (as the hardware walkers here
  do), so a walk meeting a freed table gives up, as one that ran just before the free
  would.  IRQs off is therefore modelled as nothing: every interleaving an RCU-freeing
  architecture allows is explored, a superset of x86's IPI-held ones;
- huge pages, devmap (pte_devmap), FOLL_LONGTERM, secretmem and s390's
  arch_make_folio_accessible (protected-virtualisation guests): the model has none;
- a read-only pin (FOLL_PIN without FOLL_WRITE) is refused: whether it must unshare
  (gup_must_unshare, mm/internal.h:1373-1420) depends on PageAnonExclusive, which the
  model does not keep.  A FOLL_WRITE pin needs a writable entry, which maps an
  exclusive anonymous page, so it never unshares.
"""

from __future__ import annotations

from ..machine.memory import PG_referenced, PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..pte import PAGE_SHIFT, PMD_SHIFT, pte_pfn, pte_protnone, pte_special

FOLL_WRITE = 1 << 0  # 6.12 include/linux/mm_types.h:1511
FOLL_GET = 1 << 1  # :1513
FOLL_PIN = 1 << 19  # mm/internal.h:1340
FOLL_FAST_ONLY = 1 << 20  # :1342
GUP_PIN_COUNTING_BIAS = 1 << 10  # include/linux/mm.h:1583
GUP_FLAGS = FOLL_WRITE | FOLL_GET | FOLL_PIN | FOLL_FAST_ONLY


class GupFlagsError(ValueError):
    """Flags the kernel warns about (both FOLL_GET and FOLL_PIN, neither) or the model cannot
    judge (a read-only pin)."""


def check_flags(flags: int) -> None:
    """6.12 mm/gup.c:3438-3450 (gup_fast_fallback): its WARN_ON_ONCE on unknown flags, and
    try_grab_folio_fast's (lines 531-545): one of FOLL_GET and FOLL_PIN, nothing unknown."""
    if flags & ~GUP_FLAGS:
        raise GupFlagsError(f"gup flags {flags:#x}: only FOLL_WRITE, FOLL_GET, FOLL_PIN and FOLL_FAST_ONLY")
    if bool(flags & FOLL_GET) == bool(flags & FOLL_PIN):
        raise GupFlagsError("gup flags: exactly one of FOLL_GET and FOLL_PIN (mm/gup.c try_grab_folio_fast)")
    if flags & FOLL_PIN and not flags & FOLL_WRITE:
        raise GupFlagsError("gup flags: a read-only pin (FOLL_PIN without FOLL_WRITE) needs an anonymous page "
                            "that is not PageAnonExclusive unshared first (gup_must_unshare, "
                            "mm/internal.h:1373-1420), which the model does not do")


def folio_maybe_dma_pinned(mem, page: int) -> bool:
    """6.12 include/linux/mm.h:1935-1950: a small folio is maybe pinned once its refcount
    reaches GUP_PIN_COUNTING_BIAS (false positives allowed, never false negatives)."""
    return mem.refcount[page] >= GUP_PIN_COUNTING_BIAS


def gup_fast(mm, start: int, nr_pages: int, flags: int) -> list[int]:
    """6.12 mm/gup.c:3390-3436 (gup_fast) over gup_fast_pte_range (:2935-3024): the pages
    taken from `start` on, in order; fewer than nr_pages when it gave up (the slow path,
    not modelled, would take the rest)."""
    check_flags(flags)
    machine = mm.machine
    arch = machine.arch
    if flags & FOLL_PIN:  # gup_fast_fallback's mm_set_has_pinned_flag (:3450-3451), never cleared
        machine.shared(("mm flags", mm.context), True)
        mm.has_pinned = True
    if not arch.have_gup_fast:  # !IS_ENABLED(CONFIG_HAVE_GUP_FAST): all to the slow path
        arch._note("GUP-fast gave up: this kernel has no GUP-fast (the slow path is not modelled)")
        return []
    seq_loc = ("write_protect_seq", mm.context)
    if flags & FOLL_PIN:
        arch._sched(seq_loc, False, "GUP-fast: raw_read_seqcount(write_protect_seq)")  # :3401-3405
        seq = mm.write_protect_seq
        if seq & 1:
            arch._note("GUP-fast gave up: fork is write-protecting the mm (write_protect_seq odd)")
            return []
    # local_irq_save (:3418): holds up page-table freeing, modelled as nothing (module doc)
    pages = []
    for i in range(nr_pages):
        page = _gup_fast_pte(mm, start + (i << PAGE_SHIFT), flags)
        if page is None:
            break
        pages.append(page)
    if flags & FOLL_PIN:
        if read_seqcount_retry(mm, seq):
            for page in pages:  # gup_fast_unpin_user_pages
                gup_put_folio(machine, page, flags)
            arch._note("GUP-fast gave up: fork write-protected the mm during the walk (write_protect_seq)")
            return []
        # what a write pin promises (the explorer's pin-replaced check): the page stays the
        # one mm maps there while it is held, unless mm unmaps it (pin_unmapped)
        machine.pins.extend((mm, start + (i << PAGE_SHIFT), page) for i, page in enumerate(pages)
                            if page != machine.zero_pfn)
    if len(pages) < nr_pages:
        arch._note(f"GUP-fast gave up after {len(pages)} of {nr_pages} pages (the slow path is not modelled)")
    return pages


def read_seqcount_retry(mm, seq: int) -> bool:
    """6.12 mm/gup.c:3427-3432: did fork write-protect the mm since GUP-fast read the count?"""
    mm.machine.arch._sched(("write_protect_seq", mm.context), False,
                           "GUP-fast: read_seqcount_retry(write_protect_seq)")
    return mm.write_protect_seq != seq


def raw_write_seqcount(mm) -> None:
    """6.12 mm/memory.c:1356-1425 (copy_page_range), lines 1401 and 1419:
    raw_write_seqcount_begin or _end of mm->write_protect_seq, fork's write section.  Not a
    scheduling point (a store in the step of the code around it), but in the step's
    footprint, so the reduction orders it against GUP-fast's reads of the count."""
    mm.machine.shared(("write_protect_seq", mm.context), True)
    mm.write_protect_seq += 1


def folio_needs_cow_for_dma(vma, page: int) -> bool:
    """6.12 include/linux/mm.h:1958-1967 (page_needs_cow_for_dma before 5.18): fork, under the
    PTE lock and inside write_protect_seq's write section, asks whether a page of the parent
    may be pinned (MMF_HAS_PINNED, then folio_maybe_dma_pinned); if so the child gets a copy
    (mm/memory.c:1030-1045, copy_present_page)."""
    mm = vma.mm
    mm.machine.shared(("mm flags", mm.context), False)
    return mm.has_pinned and folio_maybe_dma_pinned(mm.machine.mem, page)


def _gup_fast_pte(mm, addr: int, flags: int) -> int | None:
    """One entry of gup_fast_pte_range (6.12 mm/gup.c:2935-3024): its page, referenced, or
    None (goto pte_unmap: this entry and the rest go to the slow path)."""
    machine = mm.machine
    arch = machine.arch
    mem = machine.mem
    index = addr >> PMD_SHIFT
    table_pfn = mm.pmd.get(index)  # pte_offset_map (:2942): NULL when no table
    if table_pfn is None:
        return None
    ptep = (table_pfn << PTE_TABLE_SHIFT) | ((addr >> PAGE_SHIFT) & PTE_INDEX_MASK)
    table = mem.ptes[table_pfn]  # the table it started from (module doc: IRQs off)
    arch._sched(("pte", ptep), False, "GUP-fast: ptep_get_lockless")  # :2946
    pte = table[ptep & PTE_INDEX_MASK]  # READ_ONCE(*ptep), include/linux/pgtable.h:610-620
    write = bool(flags & FOLL_WRITE)
    if pte_protnone(pte) or not arch.pte_access_permitted(pte, write):  # :2958-2962
        return None
    if pte_special(pte):  # :2974-2975 (no devmap in the model)
        return None
    page = pte_pfn(pte)
    if not try_grab_folio_fast(machine, page, flags):  # :2979-2981
        return None
    if not entry_unchanged(mm, addr, table_pfn, pte):
        gup_put_folio(machine, page, flags)
        arch._note(f"GUP-fast: the entry at {addr:#x} changed: reference dropped")
        return None
    # gup_fast_folio_allowed (:2989-2992) refuses only FOLL_LONGTERM write pins of file pages
    # and secretmem, neither modelled; gup_must_unshare (:2994-2997) is false for what
    # check_flags lets through
    mem.flags[page] |= PG_referenced  # folio_set_referenced (:3010)
    machine.gup_took(mm, addr, page, write)
    return page


def entry_unchanged(mm, addr: int, table_pfn: int, pte: int) -> bool:
    """6.12 mm/gup.c:2935-3024 (gup_fast_pte_range), lines 2983-2987: the pmd still points to
    the table, and the entry (read again, after the reference was taken) is the one the checks
    judged."""
    table = mm.machine.mem.ptes.get(table_pfn)
    ptep = (table_pfn << PTE_TABLE_SHIFT) | ((addr >> PAGE_SHIFT) & PTE_INDEX_MASK)
    mm.machine.arch._sched(("pte", ptep), False, "GUP-fast: recheck the entry")
    return mm.pmd.get(addr >> PMD_SHIFT) == table_pfn and table is not None and table[ptep & PTE_INDEX_MASK] == pte


def try_grab_folio_fast(machine, page: int, flags: int) -> bool:
    """6.12 mm/gup.c:531-595: FOLL_GET adds 1, a pin of a small folio adds
    GUP_PIN_COUNTING_BIAS; never on a free page (try_get_folio: folio_ref_try_add, a
    count of 0 stays 0); a pin of the zero page takes nothing (:549-554)."""
    mem = machine.mem
    machine.arch._sched(("frame", page), True, "GUP-fast: try_grab_folio_fast")
    if flags & FOLL_PIN and page == machine.zero_pfn:
        return True
    if mem.refcount[page] == 0:
        return False
    mem.refcount[page] += GUP_PIN_COUNTING_BIAS if flags & FOLL_PIN else 1
    return True


def gup_put_folio(machine, page: int, flags: int) -> None:
    """6.12 mm/gup.c:107-121: the reference taken back (the last one frees the page)."""
    mem = machine.mem
    if flags & FOLL_PIN:
        if page == machine.zero_pfn:
            return
        if mem.refcount[page] < GUP_PIN_COUNTING_BIAS:
            raise AssertionError(f"unpinning pfn {page}, which is not pinned")  # a kernel BUG
        if mem.refcount[page] == GUP_PIN_COUNTING_BIAS:
            mem.refcount[page] = 1
            mem.put_page(page)  # folio_put_refs: the last reference frees it
        else:
            mem.refcount[page] -= GUP_PIN_COUNTING_BIAS
    else:
        mem.put_page(page)


def unpin_user_page(machine, page: int) -> None:
    """6.12 mm/gup.c:186-196 (unpin_user_page): a pin given back."""
    gup_put_folio(machine, page, FOLL_PIN)
    for i, (_, _, pfn) in enumerate(machine.pins):
        if pfn == page:
            del machine.pins[i]
            break


def pin_unmapped(mm, addr: int, page: int) -> None:
    """Model's own: mm unmapped the page at addr (munmap, MADV_DONTNEED, truncation, reclaim,
    mremap moving it elsewhere): a write pin of it there promises nothing more about what mm
    maps at addr (the bookkeeping of the pin-replaced invariant)."""
    pins = mm.machine.pins
    if pins:
        pins[:] = [pin for pin in pins if pin != (mm, addr, page)]
