"""mm/memory.c: faults, fork's copy, zap, and the pfn-mapping helpers.

Each function names the kernel function it mirrors; the accessor calls are the
kernel's, in the kernel's order, because the rules are about that order.
"""

from __future__ import annotations

from ..machine.counters import PAGE_FAULT
from ..machine.memory import PG_anon, PG_anon_exclusive, PG_dirty, PG_swapbacked
from ..mmu_gather import (
    MmuGather,
    tlb_finish_mmu,
    tlb_flush_mmu,
    tlb_flush_mmu_tlbonly,
    tlb_flush_rmaps,
    tlb_gather_mmu,
    tlb_remove_page,
    tlb_remove_tlb_entry,
)
from ..pte import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PFN_SHIFT,
    VM_MAYWRITE,
    VM_PFNMAP,
    VM_SHARED,
    VM_WRITE,
    is_migration_entry,
    maybe_mkwrite,
    mk_pte,
    pfn_pte,
    pte_dirty,
    pte_mkclean,
    pte_mkdirty,
    pte_mkold,
    pte_mkspecial,
    pte_mkyoung,
    pte_none,
    pte_pfn,
    pte_present,
    pte_special,
    pte_to_swp_entry,
    pte_mkwrite,
    pte_write,
    pte_wrprotect,
)
from ..txn import PteTxn
from .filemap import filemap_fault
from .gup import folio_needs_cow_for_dma, pin_unmapped, raw_write_seqcount
from .migrate import migration_entry_wait
from .mm_types import anon_vma_prepare, linear_page_index
from .pgtable import (
    pmd_chunks,
    pte_alloc,
    pte_alloc_map_lock,
    pte_lockptr,
    pte_offset_map_lock,
    spin_lock,
    spin_unlock,
)
from .rmap import (
    PageAnon,
    flush_tlb_batched_pending,
    page_add_file_rmap,
    page_add_new_anon_rmap,
    page_dup_rmap,
    page_remove_rmap,
    set_page_dirty,
)


class BusError(Exception):
    """SIGBUS: an access beyond the end of a mapped file."""


def vm_normal_page(vma, addr: int, pte: int):
    """6.12 mm/memory.c:594-658 (vm_normal_page).
    The struct page behind a present entry, or None for special and zero-page entries."""
    if pte_special(pte):
        return None
    pfn = pte_pfn(pte)
    if pfn == vma.mm.machine.zero_pfn:
        return None
    return pfn


def is_cow_mapping(flags: int) -> bool:
    """6.12 include/linux/mm.h:1595-1598 (is_cow_mapping)."""
    return flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE


# ---- faults ------------------------------------------------------------------------------

def handle_mm_fault(vma, addr: int, write: bool) -> None:
    """6.12 mm/memory.c:6071-6135 (handle_mm_fault) with handle_pte_fault (:5756-5832).
    handle_mm_fault -> handle_pte_fault."""
    mm = vma.mm
    mm.machine.counters[PAGE_FAULT] += 1
    ptep = pte_alloc(mm, addr)
    txn = mm.machine.api == "txn"  # its intents carry the entry as read, hash bits and all
    load = mm.machine.arch.ptep_get if txn else mm.machine.arch.ptep_get_compared
    entry = load(ptep)  # orig_pte, read without the lock
    if pte_none(entry):
        if vma.file is None:
            do_anonymous_page(vma, addr, ptep, write)
        else:
            do_fault(vma, addr, ptep, write)
        return
    if not pte_present(entry):
        do_swap_page(vma, addr, ptep, entry, write)
        return
    if txn:
        return _fault_present_txn(vma, addr, ptep, entry, write)
    arch = mm.machine.arch
    ptl = pte_lockptr(mm, ptep)
    spin_lock(mm, ptl)
    if not arch.pte_same(load(ptep), entry):  # :5798-5801
        spin_unlock(mm, ptl)
        return
    if write:
        if not pte_write(entry):
            do_wp_page(vma, addr, ptep, ptl, entry)
            return
        entry = pte_mkdirty(entry)
    entry = pte_mkyoung(entry)
    if arch.ptep_set_access_flags(vma, addr, ptep, entry, write):
        arch.update_mmu_cache(vma, addr, ptep)
    elif write:
        arch.flush_tlb_fix_spurious_fault(vma, addr, ptep)
    spin_unlock(mm, ptl)


def _set_new_pte(vma, addr: int, ptep: int, entry: int) -> bool:
    """Take the PTE lock and install entry if the slot is still none (the common tail
    of do_anonymous_page, finish_fault and insert_pfn)."""
    mm = vma.mm
    arch = mm.machine.arch
    if mm.machine.api == "txn":
        return _set_new_pte_txn(vma, addr, ptep, entry)
    ptl = pte_lockptr(mm, ptep)
    spin_lock(mm, ptl)
    # vmf_pte_changed for an entry that was none (6.12 mm/memory.c:5052-5054): pte_none reads
    # no hash bit (hash__pte_none, arch/powerpc/include/asm/book3s/64/hash.h:251-254, masks
    # H_PTE_NONE_MASK, _PAGE_HPTEFLAGS), so the load reads the other bits only
    installed = pte_none(arch.ptep_get_compared(ptep))
    if installed:
        arch.set_pte_at(mm, addr, ptep, entry)
        arch.update_mmu_cache(vma, addr, ptep)
    spin_unlock(mm, ptl)
    return installed


def do_anonymous_page(vma, addr: int, ptep: int, write: bool) -> None:
    """6.12 mm/memory.c:4736-4849 (do_anonymous_page)."""
    mm = vma.mm
    mem = mm.machine.mem
    if not write:
        entry = pte_mkspecial(pfn_pte(mm.machine.zero_pfn, vma.page_prot))
        _set_new_pte(vma, addr, ptep, entry)
        return
    anon_vma_prepare(vma)
    page = mem.alloc_page(PG_anon | PG_swapbacked)
    entry = maybe_mkwrite(pte_mkdirty(mk_pte(page, vma.page_prot)), vma.flags)
    page_add_new_anon_rmap(mem, page, vma, addr)
    if not _set_new_pte(vma, addr, ptep, entry):
        mem.mapcount[page] = 0
        mem.put_page(page)


def do_anonymous_folio(vma, addr: int, order: int) -> bool:
    """6.12 mm/memory.c:4736-4849 (do_anonymous_page) for a write fault at addr when
    alloc_anon_folio (:4650-4735) picks a folio of 2**order pages (an mTHP size enabled,
    the naturally aligned range inside the vma and none of its entries set, :4686-4700):
    consecutive, naturally aligned frames (machine/memory.py alloc_block), mapped dirty and
    writable by one set_ptes under the PTE lock (:4808-4837; on txn one map intent of the
    run), after checking every entry is still none (:4813-4816).  arm64's set_ptes writes
    such a range contiguous (contpte.c:240-282).  Whether it mapped the folio."""
    mm = vma.mm
    mem = mm.machine.mem
    nr = 1 << order
    addr &= ~((PAGE_SIZE << order) - 1)
    if addr < vma.start or addr + (nr << PAGE_SHIFT) > vma.end or not vma.flags & VM_WRITE:
        return False
    anon_vma_prepare(vma)
    ptep = pte_alloc(mm, addr)
    first = mem.alloc_block(order, PG_anon | PG_swapbacked)
    entry = maybe_mkwrite(pte_mkdirty(mk_pte(first, vma.page_prot)), vma.flags)  # pte_sw_mkyoung: a no-op
    if mm.machine.api == "txn":
        with PteTxn(vma, addr, addr + (nr << PAGE_SHIFT)) as t:
            mapped = all(pte_none(t.get(addr + (k << PAGE_SHIFT))) for k in range(nr))
            if mapped:
                _add_folio_rmap(mem, first, nr, vma, addr)
                t.map(addr, entry, nr)
    else:
        ptl = pte_lockptr(mm, ptep)
        spin_lock(mm, ptl)
        arch = mm.machine.arch
        mapped = all(pte_none(arch.ptep_get(ptep + k)) for k in range(nr))
        if mapped:
            _add_folio_rmap(mem, first, nr, vma, addr)
            arch.set_ptes(mm, addr, ptep, entry, nr)
        spin_unlock(mm, ptl)
    if not mapped:
        for k in range(nr):
            mem.put_page(first + k)
    return mapped


def _add_folio_rmap(mem, first: int, nr: int, vma, addr: int) -> None:
    """folio_add_new_anon_rmap (:4830): each page of the folio (the model keeps per-page
    counts, machine/memory.py)."""
    for k in range(nr):
        page_add_new_anon_rmap(mem, first + k, vma, addr + (k << PAGE_SHIFT))


def do_fault(vma, addr: int, ptep: int, write: bool) -> None:
    """6.12 mm/memory.c:5425-5467 (do_fault) with do_read_fault, do_cow_fault, do_shared_fault (:5301-5415).
    do_read_fault / do_cow_fault / do_shared_fault over the page cache."""
    mm = vma.mm
    mem = mm.machine.mem
    mapping = vma.file
    index = linear_page_index(vma, addr)
    if index >= mapping.size:
        raise BusError(f"access at {addr:#x} is beyond the end of {mapping.name}")
    page = filemap_fault(mem, mapping, index)
    if write and not vma.flags & VM_SHARED:  # do_cow_fault
        anon_vma_prepare(vma)
        new = mem.alloc_page(PG_anon | PG_swapbacked)
        mem.data[new] = mem.data[page]
        entry = maybe_mkwrite(pte_mkdirty(mk_pte(new, vma.page_prot)), vma.flags)
        page_add_new_anon_rmap(mem, new, vma, addr)
        if not _set_new_pte(vma, addr, ptep, entry):
            mem.mapcount[new] = 0
            mem.put_page(new)
        return
    entry = mk_pte(page, vma.page_prot)
    if write:  # do_shared_fault: finish_fault, then fault_dirty_shared_page
        entry = maybe_mkwrite(pte_mkdirty(entry), vma.flags)
    mem.get_page(page)
    page_add_file_rmap(mem, page)
    if not _set_new_pte(vma, addr, ptep, entry):
        page_remove_rmap(mem, page)
        mem.put_page(page)
        return
    if write:
        set_page_dirty(mem, page)


def do_wp_page(vma, addr: int, ptep: int, ptl, orig: int) -> None:
    """6.12 mm/memory.c:3656-3747 (do_wp_page) with wp_page_shared (:3546-3584).
    A store to a present read-only entry: reuse, shared fix-up, or copy. Drops ptl."""
    mm = vma.mm
    mem = mm.machine.mem
    page = vm_normal_page(vma, addr, orig)
    if vma.flags & VM_SHARED:  # wp_page_shared / wp_pfn_shared
        _wp_page_reuse(vma, addr, ptep, ptl, orig)
        if page is not None:
            set_page_dirty(mem, page)  # fault_dirty_shared_page
        return
    if _reuses_anon(mem, page):
        _wp_page_reuse(vma, addr, ptep, ptl, orig)
        return
    spin_unlock(mm, ptl)
    wp_page_copy(vma, addr, ptep, orig, page)


def _reuses_anon(mem, page) -> bool:
    """6.12 mm/memory.c:3724-3728: a private anonymous page is reused when it is
    PageAnonExclusive, or when wp_can_reuse_anon_folio finds no other reference to it
    (:3590-3631; here a refcount of 1), which makes it exclusive.  A pinned page is
    exclusive (mm/gup.py), so a write fault never copies it away from its mm."""
    if page is None or not PageAnon(mem, page):
        return False
    if mem.flags[page] & PG_anon_exclusive or mem.refcount[page] == 1:
        mem.flags[page] |= PG_anon_exclusive
        return True
    return False


def _wp_page_reuse(vma, addr: int, ptep: int, ptl, orig: int) -> None:
    arch = vma.mm.machine.arch
    entry = maybe_mkwrite(pte_mkdirty(pte_mkyoung(orig)), vma.flags)
    if arch.ptep_set_access_flags(vma, addr, ptep, entry, 1):
        arch.update_mmu_cache(vma, addr, ptep)
    spin_unlock(vma.mm, ptl)


def wp_page_copy(vma, addr: int, ptep: int, orig: int, old_page) -> None:
    """6.12 mm/memory.c:3332-3481 (wp_page_copy)."""
    mm = vma.mm
    mem = mm.machine.mem
    arch = mm.machine.arch
    anon_vma_prepare(vma)
    new = mem.alloc_page(PG_anon | PG_swapbacked)
    mem.data[new] = mem.data[pte_pfn(orig)] if old_page is not None else 0
    if mm.machine.api == "txn":
        return _wp_page_copy_txn(vma, addr, ptep, orig, old_page, new)
    ptl = pte_lockptr(mm, ptep)
    spin_lock(mm, ptl)
    if not arch.pte_same(arch.ptep_get(ptep), orig):
        spin_unlock(mm, ptl)
        mem.put_page(new)
        return
    entry = maybe_mkwrite(pte_mkdirty(mk_pte(new, vma.page_prot)), vma.flags)
    arch.ptep_clear_flush(vma, addr, ptep)
    page_add_new_anon_rmap(mem, new, vma, addr)
    arch.set_pte_at(mm, addr, ptep, entry)
    arch.update_mmu_cache(vma, addr, ptep)
    if old_page is not None:
        page_remove_rmap(mem, old_page, mm)
        mem.put_page(old_page)  # the old mapping's reference, after the flush
    spin_unlock(mm, ptl)


def do_swap_page(vma, addr: int, ptep: int, orig: int, write: bool) -> None:
    """6.12 mm/memory.c:4201-4640 (do_swap_page)."""
    mm = vma.mm
    mem = mm.machine.mem
    arch = mm.machine.arch
    entry = pte_to_swp_entry(orig)
    if is_migration_entry(entry):
        migration_entry_wait(vma, addr, ptep)  # then the access is retried
        return
    anon_vma_prepare(vma)
    page = mem.alloc_page(PG_anon | PG_swapbacked | PG_dirty)
    if mm.machine.api == "txn":
        return _swap_in_txn(vma, addr, ptep, orig, write, page)
    ptl = pte_lockptr(mm, ptep)
    spin_lock(mm, ptl)
    if not arch.pte_same(arch.ptep_get(ptep), orig):
        spin_unlock(mm, ptl)
        mem.put_page(page)
        return
    # The kernel reads the slot before the lock, into the swap cache, where a fault that
    # loses the race finds the folio and waits on its lock (6.12 mm/memory.c:4274-4330).
    # With no swap cache here, the slot is read once the entry is known to be still there:
    # the winner frees it, and a loser read it after that.
    pte = _swapped_in(vma, addr, entry, write, page)
    arch.set_pte_at(mm, addr, ptep, pte)
    arch.update_mmu_cache(vma, addr, ptep)
    spin_unlock(mm, ptl)


# ---- the faults on the transactional interface (txn.py; model's own) ---------------------
# Each is the function above it written as one transaction over the faulting page: the
# entry is checked against what the fault saw, under the transaction's PTE lock, and the
# change is an intent; update_mmu_cache and the rmap follow the commit, under the lock.

def _set_new_pte_txn(vma, addr: int, ptep: int, entry: int) -> bool:
    with PteTxn(vma, addr, addr + PAGE_SIZE) as t:
        if not pte_none(t.get(addr)):
            return False
        t.map(addr, entry)
        t.commit()
        vma.mm.machine.arch.update_mmu_cache(vma, addr, ptep)
    return True


def _fault_present_txn(vma, addr: int, ptep: int, orig: int, write: bool) -> None:
    """handle_pte_fault's present entry: the Accessed/Dirty fix-up or a write-protect
    fault's reuse is a relax intent; a copy (wp_page_copy) is made after the lock is
    dropped, as in 6.12."""
    mm = vma.mm
    mem = mm.machine.mem
    arch = mm.machine.arch
    page, copy, shared_dirty = None, False, False
    with PteTxn(vma, addr, addr + PAGE_SIZE) as t:
        if t.get(addr) != orig:
            return
        entry = pte_mkyoung(orig)
        if write and not pte_write(orig):
            page = vm_normal_page(vma, addr, orig)
            shared_dirty = bool(vma.flags & VM_SHARED) and page is not None
            copy = not vma.flags & VM_SHARED and not _reuses_anon(mem, page)
            entry = maybe_mkwrite(pte_mkdirty(entry), vma.flags)
        elif write:
            entry = pte_mkdirty(entry)
        if not copy:
            # even when it adds nothing: the backend may have more to mend than the bits
            # (s390's ptep_set_access_flags rewrites an entry left invalid, pgtable.h:1292-1307)
            t.relax(addr, entry)
            t.commit()
            if arch.ptep_get(ptep) != orig:
                arch.update_mmu_cache(vma, addr, ptep)
            elif write:
                arch.flush_tlb_fix_spurious_fault(vma, addr, ptep)
    if copy:
        wp_page_copy(vma, addr, ptep, orig, page)
    elif shared_dirty:
        set_page_dirty(mem, page)  # fault_dirty_shared_page


def _wp_page_copy_txn(vma, addr: int, ptep: int, orig: int, old_page, new: int) -> None:
    """wp_page_copy: the old entry unmapped (its round flushed) and the copy mapped in the
    next round, so the new frame is never mapped over an unflushed old one."""
    mm = vma.mm
    mem = mm.machine.mem
    with PteTxn(vma, addr, addr + PAGE_SIZE) as t:
        if t.get(addr) != orig:
            mem.put_page(new)
            return
        t.unmap(addr)
        t.map(addr, maybe_mkwrite(pte_mkdirty(mk_pte(new, vma.page_prot)), vma.flags))
        page_add_new_anon_rmap(mem, new, vma, addr)
        t.commit()
        mm.machine.arch.update_mmu_cache(vma, addr, ptep)
        if old_page is not None:
            page_remove_rmap(mem, old_page)
            mem.put_page(old_page)  # the old mapping's reference, after the flush


def _swapped_in(vma, addr: int, entry, write: bool, page: int) -> int:
    """The slot read into the new page and freed, the page in the rmap: the entry to map."""
    mm = vma.mm
    mm.machine.mem.data[page] = mm.kernel.swap.read(entry)
    mm.kernel.swap.swap_free(entry)
    pte = mk_pte(page, vma.page_prot)
    if write:
        pte = maybe_mkwrite(pte_mkdirty(pte), vma.flags)
    page_add_new_anon_rmap(mm.machine.mem, page, vma, addr)
    return pte


def _swap_in_txn(vma, addr: int, ptep: int, orig: int, write: bool, page: int) -> None:
    """do_swap_page: the swap entry replaced by the new page's entry (a map intent over a
    not-present entry), if it is still the one the fault saw."""
    mm = vma.mm
    mem = mm.machine.mem
    with PteTxn(vma, addr, addr + PAGE_SIZE) as t:
        if t.get(addr) != orig:
            mem.put_page(page)
            return
        t.map(addr, _swapped_in(vma, addr, pte_to_swp_entry(orig), write, page))
        t.commit()
        mm.machine.arch.update_mmu_cache(vma, addr, ptep)


# ---- fork --------------------------------------------------------------------------------

def copy_page_range(dst_vma, src_vma) -> None:
    """6.12 mm/memory.c:1356-1425 (copy_page_range).
    Skip what a fault would fill correctly: no anon_vma and no pfn map.  A COW mapping is
    copied inside mm->write_protect_seq's write section (:1388-1419), which makes a racing
    GUP-fast pin give up (mm/gup.py)."""
    if src_vma.anon_vma is None and not src_vma.flags & VM_PFNMAP:
        return
    is_cow = is_cow_mapping(src_vma.flags)
    if is_cow:
        raw_write_seqcount(src_vma.mm)  # raw_write_seqcount_begin, :1401
    for addr, end in pmd_chunks(src_vma.start, src_vma.end):
        if src_vma.mm.pte_offset(addr) is not None:
            copy_pte_range(dst_vma, src_vma, addr, end)
    if is_cow:
        raw_write_seqcount(src_vma.mm)  # raw_write_seqcount_end, :1419


def copy_pte_range(dst_vma, src_vma, addr: int, end: int) -> None:
    """6.12 mm/memory.c:1080-1224 (copy_pte_range) with copy_present_ptes (:980-1055), copy_nonpresent_pte (:792-900).
    A large folio's entries are one batch (folio_pte_batch).  On the transactional
    interface when the machine runs `--api txn`."""
    if src_vma.mm.machine.api == "txn":
        copy_pte_range_txn(dst_vma, src_vma, addr, end)
        return
    src_mm, dst_mm = src_vma.mm, dst_vma.mm
    arch = src_mm.machine.arch
    dst_ptep, dst_ptl = pte_alloc_map_lock(dst_mm, addr)
    src_ptep = src_mm.pte_offset(addr)
    src_ptl = pte_lockptr(src_mm, src_ptep)
    spin_lock(src_mm, src_ptl)
    arch.arch_enter_lazy_mmu_mode()
    pages = (end - addr) >> PAGE_SHIFT
    i, nr = 0, 1
    while i + nr <= pages:  # entry i - 1 is the next, the nr of a batch skipped
        i += nr
        a = addr + ((i - 1) << PAGE_SHIFT)
        pte = arch.ptep_get(src_ptep + i - 1)
        nr = 1
        if pte_none(pte):
            continue
        if pte_present(pte) and vm_normal_page(src_vma, a, pte) is not None:  # copy_present_ptes (:1000-1030)
            nr = folio_pte_batch(src_mm, src_ptep + i - 1, pte, pages - i + 1, bool(src_vma.flags & VM_SHARED))
        if nr > 1 and not _batch_may_be_pinned(src_vma, pte, nr):
            _copy_folio_ptes(dst_vma, src_vma, a, dst_ptep + i - 1, src_ptep + i - 1, pte, nr)
            continue
        nr = 1
        child, wrprotect = _copy_one(dst_vma, src_vma, a, pte)
        if wrprotect:
            arch.ptep_set_wrprotect(src_mm, a, src_ptep + i - 1)
        arch.set_pte_at(dst_mm, a, dst_ptep + i - 1, child)
    arch.arch_leave_lazy_mmu_mode()
    spin_unlock(src_mm, src_ptl)
    spin_unlock(dst_mm, dst_ptl)


def copy_pte_range_txn(dst_vma, src_vma, addr: int, end: int) -> None:
    """Model's own: copy_pte_range on the transactional interface (txn.py), in two
    transactions.  The child's PTE table allocated first (pte_alloc_map_lock's
    allocation); then one transaction over the parent's range: a `wrprotect` per writable
    entry of a COW mapping, each entry's copy computed from what it reads; committed
    (the locks kept), the child's transaction maps every copy, before the parent's lock
    is dropped.  The parent's write-protection is flushed by dup_mm's flush_tlb_mm after
    every vma (6.12 kernel/fork.c:800), as in legacy: the commit hands it the entries
    (`defer_flush`) and makes no flush of its own.  The kernel takes the child's lock
    first (memory.c:1109-1120); here the parent's is taken first, since the child's
    section can only begin once the parent's has ended (lazy MMU sections do not nest):
    no deadlock, as the child's mm is reached by nobody but rmap walkers, who hold one
    PTE lock at a time."""
    src_mm, dst_mm = src_vma.mm, dst_vma.mm
    pte_alloc(dst_mm, addr)
    copies = []
    with PteTxn(src_vma, addr, end, defer_flush=_flushed_by_dup_mm) as t:
        for a in t.addresses():
            pte = t.get(a)
            if pte_none(pte):
                continue
            child, wrprotect = _copy_one(dst_vma, src_vma, a, pte)
            if wrprotect:
                t.wrprotect(a)
            copies.append((a, child))
        t.commit()
        with PteTxn(dst_vma, addr, end) as c:
            for a, child in copies:
                c.map(a, child)


def _copy_folio_ptes(dst_vma, src_vma, addr: int, dst_ptep: int, src_ptep: int, pte: int, nr: int) -> None:
    """copy_present_ptes' batch (6.12 mm/memory.c:1003-1027) with __copy_present_ptes
    (:955-978): nr entries mapping consecutive pages of one large folio, each page's
    reference and rmap taken, the first entry made writable if any of them is
    (any_writable), then the parent's write-protected by one wrprotect_ptes and the child's
    written by one set_ptes."""
    src_mm = src_vma.mm
    arch = src_mm.machine.arch
    if any(pte_write(arch.ptep_get(src_ptep + k)) for k in range(nr)):  # folio_pte_batch's any_writable
        pte = pte_mkwrite(pte)
    child, wrprotect = _copy_one(dst_vma, src_vma, addr, pte)
    for k in range(1, nr):
        _copy_one(dst_vma, src_vma, addr + (k << PAGE_SHIFT), pte + (k << PFN_SHIFT))  # the reference and rmap
    if wrprotect:
        arch.wrprotect_ptes(src_mm, addr, src_ptep, nr)
    arch.set_ptes(dst_vma.mm, addr, dst_ptep, child, nr)


def _batch_may_be_pinned(src_vma, pte: int, nr: int) -> bool:
    """folio_try_dup_anon_rmap_ptes (include/linux/rmap.h:401-428) fails for a batch with a
    page the parent may have pinned: copy_present_ptes then retries page by page with a
    preallocated folio (mm/memory.c:1007-1012, 1183-1200), so the model takes it alone."""
    mem = src_vma.mm.machine.mem
    first = pte_pfn(pte)
    return any(PageAnon(mem, p) and mem.flags[p] & PG_anon_exclusive and folio_needs_cow_for_dma(src_vma, p)
               for p in range(first, first + nr))


def _flushed_by_dup_mm(addr: int, ptep: int) -> None:
    """The parent's write-protected entries are flushed by dup_mm (flush_tlb_mm)."""


def _copy_one(dst_vma, src_vma, addr: int, pte: int) -> tuple[int, bool]:
    """copy_nonpresent_pte (6.12 mm/memory.c:792-900: the swap slot's count) or
    copy_present_ptes (:980-1055: the page's reference and rmap, write-protected in both
    for a COW mapping, clean in the child of a shared one, old; an anonymous page the
    parent may have pinned copied for the child instead, :1030-1045), for one entry that
    is not none: (the child's entry, whether the parent's is write-protected).  Shared by
    the accessor and txn versions."""
    mem = src_vma.mm.machine.mem
    if not pte_present(pte):
        entry = pte_to_swp_entry(pte)
        if not is_migration_entry(entry):
            src_vma.mm.kernel.swap.swap_duplicate(entry)
        return pte, False
    page = vm_normal_page(src_vma, addr, pte)
    if page is not None and PageAnon(mem, page):
        # folio_try_dup_anon_rmap_pte (include/linux/rmap.h:401-428): -EBUSY for a page that may
        # be pinned and is PageAnonExclusive, copied for the child; else shared, not exclusive
        if mem.flags[page] & PG_anon_exclusive and folio_needs_cow_for_dma(src_vma, page):
            return copy_present_page(dst_vma, addr, page), False
        mem.flags[page] &= ~PG_anon_exclusive
    wrprotect = bool(is_cow_mapping(src_vma.flags) and pte_write(pte))
    if wrprotect:
        pte = pte_wrprotect(pte)
    if src_vma.flags & VM_SHARED:
        pte = pte_mkclean(pte)
    if page is not None:
        mem.get_page(page)
        page_dup_rmap(mem, page)
    return pte_mkold(pte), wrprotect


def copy_present_page(dst_vma, addr: int, page: int) -> int:
    """6.12 mm/memory.c:915-947 (copy_present_page): the child's own copy of a page the parent
    may have pinned, mapped writable and dirty; the parent's entry is left as it is, so the
    pinned page stays the one the parent maps.  The kernel allocates the copy outside the
    PTE locks and tries the entry again (-EAGAIN, folio_prealloc, :1183-1200); the model
    allocates it under them (fork holds mmap_lock for write: only lockless walkers and rmap
    walkers run meanwhile, and the retry reads the entry afresh)."""
    mem = dst_vma.mm.machine.mem
    new = mem.alloc_page(PG_anon | PG_swapbacked)
    mem.data[new] = mem.data[page]  # copy_mc_user_highpage
    page_add_new_anon_rmap(mem, new, dst_vma, addr)
    return maybe_mkwrite(pte_mkdirty(mk_pte(new, dst_vma.page_prot)), dst_vma.flags)


# ---- zap ---------------------------------------------------------------------------------

class ZapDetails:
    """zap_details: unmap_mapping_range zaps only pages of `mapping`, private COW
    copies too when even_cows."""

    __slots__ = ("mapping", "even_cows")

    def __init__(self, mapping, even_cows: bool):
        self.mapping = mapping
        self.even_cows = even_cows


def zap_pte_range(tlb, vma, addr: int, end: int, details=None) -> None:
    """6.12 mm/memory.c:1582-1701 with zap_present_ptes and zap_present_folio_ptes
    (:1484-1571): a large folio's entries are one batch (folio_pte_batch, _zap_folio_ptes).
    A dirty file page's rmap removal is delayed (tlb_delay_rmap, SMP) and forces the TLB flush
    before the PTE lock is dropped (:1685-1689): until then another CPU may still store
    through the old entry, and folio_mkclean must not find the page unmapped and clean."""
    mm = vma.mm
    mem = mm.machine.mem
    arch = mm.machine.arch
    ptep, ptl = pte_offset_map_lock(mm, addr)
    if ptep is None:
        return
    force_flush = False
    flush_tlb_batched_pending(mm)
    arch.arch_enter_lazy_mmu_mode()
    pages = (end - addr) >> PAGE_SHIFT
    i, nr = 0, 1
    while i + nr <= pages:  # entry i - 1 is the next, the nr of a batch skipped
        i += nr
        nr = 1
        a = addr + ((i - 1) << PAGE_SHIFT)
        p = ptep + i - 1
        ptent = arch.ptep_get(p)
        if pte_none(ptent):
            continue
        if pte_present(ptent):
            page = vm_normal_page(vma, a, ptent)
            if details is not None and page is not None and not details.even_cows \
                    and mem.mapping[page] is not details.mapping:
                continue
            if page is not None:  # zap_present_ptes (:1548-1571): a large folio's batch
                nr = folio_pte_batch(mm, p, ptent, pages - i + 1, True)
            if nr > 1:
                force_flush |= _zap_folio_ptes(tlb, mm, a, p, page, nr)
                continue
            ptent = arch.ptep_get_and_clear_full(mm, a, p, tlb.fullmm)
            tlb_remove_tlb_entry(tlb, p, a)
            if page is None:
                continue
            pin_unmapped(mm, a, page)
            if not PageAnon(mem, page) and pte_dirty(ptent):
                set_page_dirty(mem, page)  # folio_mark_dirty
                tlb.delayed_rmap.append(page)  # tlb_delay_rmap
                force_flush = True
            else:
                page_remove_rmap(mem, page, mm)
            tlb_remove_page(tlb, page)
            continue
        if details is not None and not details.even_cows:
            continue  # swap entries are anonymous: private copies stay
        entry = pte_to_swp_entry(ptent)
        if not is_migration_entry(entry):
            mm.kernel.swap.swap_free(entry)
        arch.pte_clear_not_present_full(mm, a, p, tlb.fullmm)
    arch.arch_leave_lazy_mmu_mode()
    if force_flush:  # "Do the actual TLB flush before dropping ptl"
        tlb_flush_mmu_tlbonly(tlb)
        tlb_flush_rmaps(tlb, vma)
    spin_unlock(mm, ptl)
    if force_flush:
        tlb_flush_mmu(tlb)


def _zap_folio_ptes(tlb, mm, addr: int, ptep: int, page: int, nr: int) -> bool:
    """zap_present_folio_ptes (6.12 mm/memory.c:1484-1526) for nr > 1 entries mapping
    consecutive pages of one large folio: an anonymous folio's cleared with clear_full_ptes,
    a file folio's with get_and_clear_full_ptes, whose Dirty marks the folio dirty and
    delays its rmap removal; tlb_remove_tlb_entries, then each page's rmap and gather.
    Whether the flush is forced before unlock."""
    mem, arch = mm.machine.mem, mm.machine.arch
    delay = False
    if PageAnon(mem, page):
        arch.clear_full_ptes(mm, addr, ptep, nr, tlb.fullmm)
    elif pte_dirty(arch.get_and_clear_full_ptes(mm, addr, ptep, nr, tlb.fullmm)):
        delay = True
    for k in range(nr):
        tlb_remove_tlb_entry(tlb, ptep + k, addr + (k << PAGE_SHIFT))
    for k in range(nr):
        if delay:
            set_page_dirty(mem, page + k)  # folio_mark_dirty
            tlb.delayed_rmap.append(page + k)
        else:
            page_remove_rmap(mem, page + k, mm)
        tlb_remove_page(tlb, page + k)
    return delay


def folio_pte_batch(mm, ptep: int, pte: int, max_nr: int, ignore_dirty: bool) -> int:
    """6.12 mm/internal.h:204-258 (folio_pte_batch): how many entries from ptep (whose
    value is pte, present), at most max_nr and no further than the folio's last page, map
    consecutive pages of pte's folio with the same bits but for Accessed and write
    permission (and Dirty, ignore_dirty: FPB_IGNORE_DIRTY); 1 for a small folio."""
    mem, arch = mm.machine.mem, mm.machine.arch
    pfn = pte_pfn(pte)
    folio = mem.folio(pfn)
    max_nr = min(max_nr, folio[0] + folio[1] - pfn)
    expected = _batch_clear_ignored(pte, ignore_dirty)
    nr = 1
    while nr < max_nr:
        other = arch.ptep_get(ptep + nr)
        if not pte_present(other) or mem.folio(pte_pfn(other)) != folio \
                or _batch_clear_ignored(other, ignore_dirty) != expected + (nr << PFN_SHIFT):
            break
        nr += 1
    return nr


def _batch_clear_ignored(pte: int, ignore_dirty: bool) -> int:
    """__pte_batch_clear_ignored (mm/internal.h:169-176): the bits a batch may differ in
    cleared (no soft-dirty in the model)."""
    return pte_wrprotect(pte_mkold(pte_mkclean(pte) if ignore_dirty else pte))


def _zap_wanted(vma, addr: int, ptent: int, details) -> bool:
    """6.12 mm/memory.c:1582-1701: does zap_pte_range clear this entry? (zap_details)"""
    if pte_none(ptent):
        return False
    if details is None or details.even_cows:
        return True
    if not pte_present(ptent):
        return False  # swap entries are anonymous: private copies stay
    page = vm_normal_page(vma, addr, ptent)
    return page is None or vma.mm.machine.mem.mapping[page] is details.mapping


def zap_range_txn(tlb, vma, start: int, end: int, details=None) -> None:
    """Model's own: unmap_page_range on the transactional interface (txn.py): one unmap
    intent per entry zap_pte_range would clear.  The commit hands its flush to the
    mmu_gather (tlb_remove_tlb_entry per entry), which makes it before the pages are freed, as
    zap_pte_range's tlb_remove_tlb_entry does; a dirty file page forces it before the
    PTE locks are dropped and before its rmap goes, as in zap_pte_range."""
    mm = vma.mm
    mem = mm.machine.mem
    with PteTxn(vma, start, end, lambda a, p: tlb_remove_tlb_entry(tlb, p, a)) as t:
        flush_tlb_batched_pending(mm)
        olds = [(a, t.unmap(a)) for addr, next_ in pmd_chunks(start, end) if mm.pte_offset(addr) is not None
                for a in range(addr, next_, PAGE_SIZE) if _zap_wanted(vma, a, t.get(a), details)]
        t.commit()
        if any(pte_present(o.value) and pte_dirty(o.value) and vm_normal_page(vma, a, o.value) is not None
               and not PageAnon(mem, vm_normal_page(vma, a, o.value)) for a, o in olds):
            tlb_flush_mmu_tlbonly(tlb)  # "Do the actual TLB flush before dropping ptl"
        for a, old in olds:
            ptent = old.value
            if not pte_present(ptent):
                entry = pte_to_swp_entry(ptent)
                if not is_migration_entry(entry):
                    mm.kernel.swap.swap_free(entry)
                continue
            page = vm_normal_page(vma, a, ptent)
            if page is None:
                continue
            pin_unmapped(mm, a, page)
            if not PageAnon(mem, page) and pte_dirty(ptent):
                set_page_dirty(mem, page)  # folio_mark_dirty
            page_remove_rmap(mem, page, mm)
            tlb_remove_page(tlb, page)


def unmap_page_range(tlb, vma, start: int, end: int, details=None) -> None:
    """6.12 mm/memory.c:1793-1811 (unmap_page_range); on the transactional interface
    when the machine runs `--api txn`."""
    if vma.mm.machine.api == "txn":
        return zap_range_txn(tlb, vma, start, end, details)
    for addr, next_ in pmd_chunks(start, end):
        zap_pte_range(tlb, vma, addr, next_, details)


def zap_page_range(vma, start: int, size: int, details=None) -> None:
    """6.12 mm/memory.c:1915-1937 (zap_page_range_single).
    zap_page_range_single: one vma, its own mmu_gather."""
    tlb = MmuGather()
    tlb_gather_mmu(tlb, vma.mm)
    end = min(start + size, vma.end)
    start = max(start, vma.start)
    if start < end:
        unmap_page_range(tlb, vma, start, end, details)
    tlb_finish_mmu(tlb)


def unmap_mapping_range(mapping, holebegin: int, holelen: int, even_cows: bool) -> None:
    """6.12 mm/memory.c:3859-3875: zap the file's bytes [holebegin, holebegin+holelen)
    (holelen 0: to the end) in every vma of every mm that maps them; the bytes are
    turned into pages as the kernel does, the start rounded down, the length up."""
    unmap_mapping_pages(mapping, holebegin >> PAGE_SHIFT, (holelen + PAGE_SIZE - 1) >> PAGE_SHIFT,
                        even_cows)


def unmap_mapping_pages(mapping, start: int, nr: int, even_cows: bool) -> None:
    """6.12 mm/memory.c:3823-3841 with unmap_mapping_range_tree (:3756-3773): pages
    [start, start+nr) (nr 0: to the end) of the file, in every vma mapping them."""
    first = start
    last = start + nr - 1 if nr else None
    details = ZapDetails(mapping, even_cows)
    for vma in list(mapping.i_mmap):
        vma_first = vma.pgoff
        vma_last = vma.pgoff + ((vma.end - vma.start) >> PAGE_SHIFT) - 1
        lo = max(first, vma_first)
        hi = vma_last if last is None else min(last, vma_last)
        if lo > hi:
            continue
        start = vma.start + ((lo - vma.pgoff) << PAGE_SHIFT)
        zap_page_range(vma, start, (hi - lo + 1) << PAGE_SHIFT, details)


# ---- pfn mappings --------------------------------------------------------------------------

def insert_pfn(vma, addr: int, pfn: int, prot: int) -> bool:
    """6.12 mm/memory.c:2315-2367 (insert_pfn), as vmf_insert_pfn (:2450-2454) calls it.
    vmf_insert_pfn: map one special frame; False (-EBUSY) if something is there."""
    ptep = pte_alloc(vma.mm, addr)
    return _set_new_pte(vma, addr, ptep, pte_mkspecial(pfn_pte(pfn, prot)))


def remap_pfn_range(vma, addr: int, pfn: int, size: int, prot: int) -> None:
    """6.12 mm/memory.c:2723-2736 (remap_pfn_range) with remap_pte_range (:2544-2568).
    Map consecutive frames at [addr, addr+size); every entry must be none."""
    mm = vma.mm
    arch = mm.machine.arch
    vma.flags |= VM_PFNMAP
    end = addr + size
    if mm.machine.api == "txn":
        return remap_pfn_range_txn(vma, addr, pfn, size, prot)
    for start, next_ in pmd_chunks(addr, end):
        ptep, ptl = pte_alloc_map_lock(mm, start)
        arch.arch_enter_lazy_mmu_mode()
        for i in range((next_ - start) >> PAGE_SHIFT):
            if not pte_none(arch.ptep_get(ptep + i)):
                raise AssertionError(f"remap_pfn_range over a mapped entry at {start + i * PAGE_SIZE:#x}")
            arch.set_pte_at(mm, start + (i << PAGE_SHIFT), ptep + i,
                            pte_mkspecial(pfn_pte(pfn + ((start - addr) >> PAGE_SHIFT) + i, prot)))
        arch.arch_leave_lazy_mmu_mode()
        spin_unlock(mm, ptl)


def remap_pfn_range_txn(vma, addr: int, pfn: int, size: int, prot: int) -> None:
    """Model's own: remap_pte_range on the transactional interface (txn.py): the PTE
    tables allocated first (pte_alloc_map_lock's allocation), then one transaction over
    the range, one map intent of consecutive special frames per PTE table (set_ptes)."""
    mm = vma.mm
    end = addr + size
    for start, _ in pmd_chunks(addr, end):
        pte_alloc(mm, start)
    with PteTxn(vma, addr, end) as t:
        for start, next_ in pmd_chunks(addr, end):
            for a in range(start, next_, PAGE_SIZE):
                if not pte_none(t.get(a)):
                    raise AssertionError(f"remap_pfn_range over a mapped entry at {a:#x}")
            t.map(start, pte_mkspecial(pfn_pte(pfn + ((start - addr) >> PAGE_SHIFT), prot)),
                  (next_ - start) >> PAGE_SHIFT)
