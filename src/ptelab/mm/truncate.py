"""Truncation (mm/truncate.c), at page granularity: a page straddling the new size is
kept whole (the kernel zeroes its tail, folio_zero_range; a model page holds one value)."""

from __future__ import annotations

from ..machine.memory import PG_dirty
from ..pte import PAGE_SHIFT, PAGE_SIZE
from .filemap import delete_from_page_cache
from .memory import unmap_mapping_pages, unmap_mapping_range


def truncate_setsize(mem, mapping, newsize: int) -> None:
    """6.12 mm/truncate.c:770-779: the new size in bytes (i_size_write), the file's blocks
    past it freed (the filesystem's part), then truncate_pagecache."""
    pages = (newsize + PAGE_SIZE - 1) >> PAGE_SHIFT
    for index in [i for i in mapping.store if i >= pages]:
        del mapping.store[index]
    mapping.size = pages
    truncate_pagecache(mem, mapping, newsize)


def truncate_pagecache(mem, mapping, newsize: int) -> None:
    """6.12 mm/truncate.c:737-754: unmap (private COW copies too), drop the cached pages,
    unmap again for the private copies made meanwhile.  newsize in bytes."""
    holebegin = (newsize + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)  # round_up
    unmap_mapping_range(mapping, holebegin, 0, True)
    truncate_inode_pages_range(mem, mapping, newsize, -1)
    unmap_mapping_range(mapping, holebegin, 0, True)


def truncate_inode_pages_range(mem, mapping, lstart: int, lend: int) -> None:
    """6.12 mm/truncate.c:329-444: every cached page wholly inside bytes [lstart, lend]
    (lend -1: to the end) is unmapped if still mapped, loses its dirtiness and leaves the
    page cache (truncate_inode_folio, :172-180, with truncate_cleanup_folio, :155-170)."""
    start = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT
    end = None if lend == -1 else (lend + 1) >> PAGE_SHIFT
    for index in sorted(i for i in mapping.pages if i >= start and (end is None or i < end)):
        page = mapping.pages[index]
        if mem.mapcount[page]:
            unmap_mapping_pages(mapping, index, 1, False)  # unmap_mapping_folio
        mem.flags[page] &= ~PG_dirty  # folio_cancel_dirty
        delete_from_page_cache(mem, page)  # filemap_remove_folio
