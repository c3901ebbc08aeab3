"""Writeback (mm/page-writeback.c).

A page's content goes back to the file only if clear_page_dirty_for_io finds it
dirty, in PG_dirty or in any PTE that maps it: this is where a lost Dirty bit
becomes lost data.
"""

from __future__ import annotations

from .rmap import clear_page_dirty_for_io


def write_one_page(mem, page: int) -> bool:
    """Model's own: one page of filemap_write_and_wait_range (folio_clear_dirty_for_io, then the write).
    Write the page back if it is dirty; True if it was written."""
    if not clear_page_dirty_for_io(mem, page):
        return False
    writepage(mem, page)
    return True


def writepage(mem, page: int) -> None:
    """Model's own: the I/O of a clean-for-io file page (the filesystem's writepage): its
    content to its block of the file."""
    mapping, index = mem.mapping[page], mem.index[page]
    mapping.store[index] = value = mem.data[page]
    mem.note(f"frame {page} written to block {index} of file {mapping.name!r} ({value})")


def writeback_mapping(mem, mapping) -> int:
    """6.12 mm/filemap.c:667-691 (filemap_write_and_wait_range), the whole file.
    filemap_write_and_wait: write back every dirty page; the number written."""
    return sum(write_one_page(mem, page) for page in list(mapping.pages.values()))
