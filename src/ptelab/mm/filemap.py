"""The page cache (mm/filemap.c).

A file page is read from the file's backing store into a new frame on first use;
the cache holds one reference to it.
"""

from __future__ import annotations

from ..machine.memory import PG_dirty


def filemap_fault(mem, mapping, index: int) -> int:
    """6.12 mm/filemap.c:3305-3463 (filemap_fault).
    The cached page of `index`, read in if absent (filemap_fault -> readahead)."""
    page = mapping.pages.get(index)
    if page is None:
        page = mem.alloc_page()
        mem.data[page] = mapping.store.get(index, 0)
        mem.mapping[page] = mapping
        mem.index[page] = index
        mapping.pages[index] = page
    return page


def delete_from_page_cache(mem, page: int) -> None:
    """6.12 mm/filemap.c:249-263 (filemap_remove_folio)."""
    mapping = mem.mapping[page]
    del mapping.pages[mem.index[page]]
    mem.mapping[page] = None
    mem.flags[page] &= ~PG_dirty
    mem.put_page(page)
