"""Page migration (mm/migrate.c, mm/rmap.c try_to_migrate, Linux 6.12), one small page,
MIGRATE_SYNC: every PTE mapping the page becomes a migration entry (flushed at once),
the content and flags go to a new page, and the entries become PTEs of the new page.

A fault that meets a migration entry waits (migration_entry_wait) until the entry is
gone.  6.12 sleeps on the folio lock, which migration holds from before the first
entry is made until after the last is removed; the model, with no page lock, waits
for its own entry to change.  The model's entries carry no Accessed/Dirty bits (an
architecture without migration_entry_supports_ad): the new entry is old and clean,
the page keeps the dirtiness (try_to_migrate_one moves a dirty PTE's Dirty to it).
"""

from __future__ import annotations

from ..machine.memory import PG_anon, PG_swapbacked
from ..pte import (
    is_migration_entry,
    is_writable_migration_entry,
    make_readable_migration_entry,
    make_writable_migration_entry,
    mk_pte,
    pfn_swap_entry_to_page,
    pte_dirty,
    pte_mkold,
    pte_mkwrite,
    pte_present,
    pte_to_swp_entry,
    pte_write,
    swp_entry_to_pte,
)
from .pgtable import pte_lockptr, pte_offset_map_lock, pte_peek, spin_lock, spin_unlock
from .gup import folio_maybe_dma_pinned
from .rmap import _map_pte_lock, page_remove_rmap, rmap_walk, set_page_dirty


def migration_entry_wait(vma, addr: int, ptep: int) -> None:
    """6.12 mm/migrate.c:426-452 with migration_entry_wait_on_locked (mm/filemap.c:
    1374-1434): under the PTE lock, if the entry is still a migration entry, sleep until
    the migration is done; the fault is then retried."""
    mm = vma.mm
    arch = mm.machine.arch
    ptl = pte_lockptr(mm, ptep)
    spin_lock(mm, ptl)
    pte = arch.ptep_get(ptep)
    spin_unlock(mm, ptl)
    if pte_present(pte) or not is_migration_entry(pte_to_swp_entry(pte)):
        return
    mm.machine.wait_event(("pte", ptep), lambda: pte_peek(mm, ptep) != pte,
                          f"migration_entry_wait at {addr:#x}")


def migrate_page(kernel, page: int):
    """6.12 mm/migrate.c:2041-2136 (migrate_pages), one page, MIGRATE_SYNC:
    migrate_folio_unmap (:1183-1341: try_to_migrate), move_to_new_folio (:1065-1103:
    migrate_folio, :823-828, copying the content and folio_migrate_flags, :692-779, and
    the page-cache slot, folio_migrate_mapping, :640-649), remove_migration_ptes
    (:401-419).  The new page, or None when a mapping could not be replaced (the page
    stays where it is, its entries restored)."""
    mem = kernel.machine.mem
    mem.get_page(page)  # isolated
    new = mem.alloc_page(mem.flags[page] & (PG_anon | PG_swapbacked))
    try_to_migrate(kernel, page)
    # a pinned page's count is not the one folio_migrate_mapping expects (6.12 mm/migrate.c:543-546,
    # folio_ref_freeze): -EAGAIN, the old page mapped back
    if mem.mapcount[page] or folio_maybe_dma_pinned(mem, page):
        remove_migration_ptes(kernel, page, page)
        mem.put_page(new)
        mem.put_page(page)
        return None
    migrate_folio(mem, new, page)
    remove_migration_ptes(kernel, page, new)
    mem.put_page(page)  # the isolation reference; the page cache's went with the slot
    return new


def try_to_migrate(kernel, page: int) -> None:
    """6.12 mm/rmap.c:2363-2399 with try_to_migrate_one (:2034-2353), without
    TTU_BATCH_FLUSH: each PTE mapping the page is cleared and flushed (ptep_clear_flush,
    :2198), its Dirty moved to the page, and replaced by a migration entry, writable if it
    was.  Its promise, checked at its return: no CPU can use a translation of the page
    through an entry it replaced, so nothing writes the page while it is copied (MIGRATE_ASYNC's
    TTU_BATCH_FLUSH, mm/migrate.c:1319, keeps it later, at migrate_pages_batch's
    try_to_unmap_flush before the copy, :1893-1894: not modelled)."""
    mem = kernel.machine.mem
    kernel.machine.operation_begin("try_to_migrate")
    for vma, addr in rmap_walk(mem, page):
        ptep, ptl = _map_pte_lock(vma, addr, page)
        if ptep is None:
            continue
        mm = vma.mm
        arch = mm.machine.arch
        pteval = arch.ptep_clear_flush(vma, addr, ptep)
        if pte_dirty(pteval):
            set_page_dirty(mem, page)  # folio_mark_dirty
        entry = make_writable_migration_entry(page) if pte_write(pteval) else \
            make_readable_migration_entry(page)
        arch.set_pte_at(mm, addr, ptep, swp_entry_to_pte(entry))
        page_remove_rmap(mem, page, mm)
        mem.put_page(page)  # the mapping's reference
        spin_unlock(mm, ptl)
    kernel.machine.operation_end()


def migrate_folio(mem, dst: int, src: int) -> None:
    """6.12 mm/migrate.c:823-828 (__migrate_folio, :786-809): the page-cache slot
    (folio_migrate_mapping), the content (folio_mc_copy) and the flags, dirtiness
    included (folio_migrate_flags)."""
    mapping = mem.mapping[src]
    if not mem.flags[src] & PG_anon and mapping is not None:
        mapping.pages[mem.index[src]] = dst  # the cache's reference moves to dst
        mem.get_page(dst)
        mem.put_page(src)
    mem.mapping[dst] = mapping
    mem.index[dst] = mem.index[src]
    mem.data[dst] = mem.data[src]
    mem.flags[dst] = mem.flags[src]
    if not mem.flags[src] & PG_anon:
        mem.mapping[src] = None


def remove_migration_ptes(kernel, src: int, dst: int) -> None:
    """6.12 mm/migrate.c:401-419 with remove_migration_pte (:288-395): every migration
    entry for src becomes a PTE of dst (old, writable if the entry was; dirtiness stays
    in the page, the entries have no Dirty bit).  No flush (the entries it replaces are not
    present: try_to_migrate flushed what they replaced); its promise, checked at its
    return: no CPU uses a translation older than the entries it made."""
    mem = kernel.machine.mem
    kernel.machine.operation_begin("remove_migration_ptes")
    for vma, addr in rmap_walk(mem, dst):
        mm = vma.mm
        ptep, ptl = pte_offset_map_lock(mm, addr)
        if ptep is None:
            continue
        arch = mm.machine.arch
        old = arch.ptep_get(ptep)
        if pte_present(old) or not is_migration_entry(pte_to_swp_entry(old)) \
                or pfn_swap_entry_to_page(pte_to_swp_entry(old)) != src:
            spin_unlock(mm, ptl)
            continue
        pte = pte_mkold(mk_pte(dst, vma.page_prot))
        if is_writable_migration_entry(pte_to_swp_entry(old)):
            pte = pte_mkwrite(pte)
        mem.get_page(dst)
        mem.mapcount[dst] += 1  # folio_add_anon_rmap_pte / folio_add_file_rmap_pte
        arch.set_pte_at(mm, addr, ptep, pte)
        arch.update_mmu_cache(vma, addr, ptep)
        spin_unlock(mm, ptl)
    kernel.machine.operation_end()
