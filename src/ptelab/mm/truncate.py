"""Truncation (mm/truncate.c truncate_pagecache)."""

from __future__ import annotations

from .filemap import delete_from_page_cache
from .memory import unmap_mapping_range


def truncate_pagecache(mem, mapping, new_size: int) -> None:
    """Shrink a file to new_size pages: unmap (private COW copies too), drop the
    cached pages, unmap again for the pages faulted in meanwhile."""
    unmap_mapping_range(mapping, new_size, 0, even_cows=True)
    for index in sorted(i for i in mapping.pages if i >= new_size):
        delete_from_page_cache(mem, mapping.pages[index])
    for index in [i for i in mapping.store if i >= new_size]:
        del mapping.store[index]
    mapping.size = new_size
    unmap_mapping_range(mapping, new_size, 0, even_cows=True)
