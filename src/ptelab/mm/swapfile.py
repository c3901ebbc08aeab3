"""A swap device (mm/swapfile.c): slots holding page contents, with a map count each.

There is no swap cache in the model: a swap-in gives each faulting mm a private
copy and drops one reference to the slot.  That keeps every read correct (the
copies hold the same content and were COW-shared anyway) at the price of not
sharing the copy; the page is marked dirty, since once its slot goes it has no
other home.
"""

from __future__ import annotations

from ..machine.memory import PG_dirty
from ..pte import swp_entry, swp_offset


class SwapFull(Exception):
    pass


class SwapDevice:
    def __init__(self, type_: int = 0, nslots: int = 1 << 20):
        self.type = type_
        self.nslots = nslots
        self.data: dict[int, int] = {}
        self.count: dict[int, int] = {}
        self.free_offsets: list[int] = []
        self.next_offset = 1  # slot 0 holds the swap header

    def get_swap_page(self) -> int:
        """folio_alloc_swap: a free slot, referenced by nobody yet."""
        if self.free_offsets:
            offset = self.free_offsets.pop()
        elif self.next_offset < self.nslots:
            offset = self.next_offset
            self.next_offset += 1
        else:
            raise SwapFull("no free swap slot")
        self.count[offset] = 0
        self.data[offset] = 0
        return swp_entry(self.type, offset)

    def swap_duplicate(self, entry: int) -> None:
        self.count[swp_offset(entry)] += 1

    def swap_free(self, entry: int) -> None:
        offset = swp_offset(entry)
        self.count[offset] -= 1
        if self.count[offset] == 0:
            self._release(offset)

    def free_if_unused(self, entry: int) -> None:
        offset = swp_offset(entry)
        if self.count.get(offset) == 0:
            self._release(offset)

    def _release(self, offset: int) -> None:
        del self.count[offset]
        del self.data[offset]
        self.free_offsets.append(offset)

    def write(self, entry: int, value: int) -> None:
        self.data[swp_offset(entry)] = value

    def read(self, entry: int) -> int:
        return self.data[swp_offset(entry)]

    def slots_in_use(self) -> int:
        return len(self.count)


def add_to_swap(kernel, page: int) -> int:
    """6.12 mm/swap_state.c:180-229: a swap slot for an anonymous page, recorded as the
    page's swap entry (folio->swap) in the swap cache; try_to_unmap writes it into the
    entries it clears.  The page is marked dirty (:211-222: a MADV_FREE'd entry's Dirty may be
    gone while the page is swap-backed again), so reclaim always writes it to the slot."""
    entry = kernel.swap.get_swap_page()
    kernel.swap_cache[page] = entry
    kernel.machine.mem.flags[page] |= PG_dirty  # folio_mark_dirty
    return entry


def delete_from_swap_cache(kernel, page: int) -> None:
    """6.12 mm/swap_state.c:237-248: the page leaves the swap cache; its slot goes too when
    no entry refers to it."""
    kernel.swap.free_if_unused(kernel.swap_cache.pop(page))
