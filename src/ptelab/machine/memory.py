"""Physical memory: frames and their struct page, kept as the kernel keeps mem_map.

One slot per pfn in parallel arrays (refcount, mapcount, flags, mapping, index,
content), so a million frames cost tens of megabytes, not hundreds.  A frame's
"content" is the value a user access last wrote to it; COW copies it, swap saves
it.  `gen` advances on every allocation and every free: a TLB entry remembers the
generation it was filled under, so an access through it after the frame was freed
(or freed and reused) is seen as the use-after-free it is.

Page-table pages are frames too (PG_pgtable): `ptes[pfn]` holds their 512 entries
and `ptl[pfn]` their split PTE lock, as struct page does (include/linux/mm_types.h).
A PTE pointer (pte_t *) is the int `pfn * PTRS_PER_PTE + index`, so `ptep + 1` is
the next entry, as in C.

`pte_seq[ptep]` counts the software writes of an entry (stores and atomic updates
by the accessors); a cached translation records the count it was filled under
(machine/tlb.py), so an operation can tell a translation filled before what it saw
under the PTE lock from one filled after (explore/invariants.py, operation
contracts).  The explorer counts (explore/points.py sees every software write); a
sequential run leaves every count 0 and checks coherence only between operations.
"""

from __future__ import annotations

from ..pte import PTRS_PER_PTE
from .spinlock import SpinLock

PG_dirty = 1 << 0
PG_anon = 1 << 1
PG_swapbacked = 1 << 2
PG_pgtable = 1 << 3
PG_reserved = 1 << 4
PG_referenced = 1 << 5
PG_writeback = 1 << 6
PG_anon_exclusive = 1 << 7  # PageAnonExclusive: only one mm maps the anonymous page

PTE_TABLE_SHIFT = 9  # log2(PTRS_PER_PTE)
PTE_INDEX_MASK = PTRS_PER_PTE - 1


class BadPageState(Exception):
    """Freeing a page that is still mapped, or putting a page that is already free."""


class PhysicalMemory:
    def __init__(self, counters):
        self.counters = counters
        self.refcount: list[int] = []
        self.mapcount: list[int] = []
        self.flags: list[int] = []
        self.gen: list[int] = []
        self.data: list[int] = []
        self.mapping: list[object] = []
        self.index: list[int] = []
        self.free_list: list[int] = []
        self.ptes: dict[int, list[int]] = {}
        self.ptl: dict[int, SpinLock] = {}
        self.pte_seq: dict[int, int] = {}  # ptep -> software writes of the entry so far
        self.folios: dict[int, tuple[int, int]] = {}  # a large folio's pfn -> (its first pfn, its pages)
        self.on_free = None  # debug mode's check before a frame is freed
        self.lock_class = SpinLock  # the explorer's locks are scheduling points

    # ---- the page allocator ------------------------------------------------------
    def alloc_page(self, flags: int = 0) -> int:
        """A zeroed frame with refcount 1.  Freed frames are reused last-in first-out,
        like the per-CPU free lists, which is what makes a stale reference land on a
        frame that already belongs to someone else."""
        if self.free_list:
            pfn = self.free_list.pop()
            self.refcount[pfn] = 1
            self.flags[pfn] = flags
            self.gen[pfn] += 1
            self.data[pfn] = 0
        else:
            pfn = len(self.refcount)
            self.refcount.append(1)
            self.mapcount.append(0)
            self.flags.append(flags)
            self.gen.append(1)
            self.data.append(0)
            self.mapping.append(None)
            self.index.append(0)
        return pfn

    def alloc_block(self, order: int, flags: int = 0) -> int:
        """2**order frames never used before, consecutive and naturally aligned, as the buddy
        allocator gives a large folio its frames; the first pfn.  Frames skipped to align
        the block go to the free list."""
        n = 1 << order
        reused, self.free_list[:] = list(self.free_list), []
        skipped = []
        while len(self.refcount) % n:
            skipped.append(self.alloc_page())
        first = self.alloc_page(flags)
        for _ in range(n - 1):
            self.alloc_page(flags)
        self.free_list[:0] = reused
        for pfn in skipped:
            self.put_page(pfn)
        if n > 1:
            for pfn in range(first, first + n):
                self.folios[pfn] = (first, n)
        return first

    def folio(self, pfn: int) -> tuple[int, int]:
        """page_folio, folio_pfn and folio_nr_pages: (first pfn, pages) of pfn's folio; a
        page freed from a large folio leaves it (the model frees page by page)."""
        return self.folios.get(pfn, (pfn, 1))

    def get_page(self, pfn: int) -> None:
        if self.refcount[pfn] <= 0:
            raise BadPageState(f"get_page on free pfn {pfn}")
        self.refcount[pfn] += 1

    def put_page(self, pfn: int) -> None:
        count = self.refcount[pfn] - 1
        if count < 0:
            raise BadPageState(f"put_page on free pfn {pfn}")
        if count == 0:
            self._free(pfn)
        else:
            self.refcount[pfn] = count

    def _free(self, pfn: int) -> None:
        if self.mapcount[pfn]:
            raise BadPageState(f"freeing pfn {pfn} still mapped {self.mapcount[pfn]} time(s)")
        if self.flags[pfn] & PG_reserved:
            raise BadPageState(f"freeing reserved pfn {pfn}")
        if self.on_free is not None:
            self.on_free(pfn)
        self.refcount[pfn] = 0
        self.flags[pfn] = 0
        self.mapping[pfn] = None
        self.gen[pfn] += 1
        self.folios.pop(pfn, None)
        self.free_list.append(pfn)

    def note(self, event: str) -> None:
        """An event of the frames a step table shows (a page written to its backing store):
        the explorer writes it in the step's row.  Nothing when run sequentially."""

    def is_free(self, pfn: int) -> bool:
        return self.refcount[pfn] == 0

    def frames_in_use(self) -> int:
        return len(self.refcount) - len(self.free_list)

    # ---- page-table pages ----------------------------------------------------------
    def alloc_pte_table(self) -> int:
        """pte_alloc_one + ptlock_init: returns the table's pfn."""
        pfn = self.alloc_page(PG_pgtable)
        self.ptes[pfn] = [0] * PTRS_PER_PTE
        self.ptl[pfn] = self.lock_class(f"ptl(pfn {pfn})", self.counters)
        return pfn

    def free_pte_table(self, pfn: int) -> None:
        """pte_free: the table's entries are gone; a walker still reaching it is a UAF."""
        del self.ptes[pfn]
        del self.ptl[pfn]
        self.put_page(pfn)
