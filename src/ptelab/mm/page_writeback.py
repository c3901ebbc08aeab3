"""Writeback (mm/page-writeback.c).

A page's content goes back to the file only if clear_page_dirty_for_io finds it
dirty, in PG_dirty or in any PTE that maps it: this is where a lost Dirty bit
becomes lost data.
"""

from __future__ import annotations

from .rmap import clear_page_dirty_for_io


def write_one_page(mem, page: int) -> bool:
    """Write the page back if it is dirty; True if it was written."""
    if not clear_page_dirty_for_io(mem, page):
        return False
    mem.mapping[page].store[mem.index[page]] = mem.data[page]
    return True


def writeback_mapping(mem, mapping) -> int:
    """filemap_write_and_wait: write back every dirty page; the number written."""
    return sum(write_one_page(mem, page) for page in list(mapping.pages.values()))
