"""A CPU's TLB: translations cached from page tables (or, on powerpc, from the hash table).

An entry is a tuple (pfn, gen, writable, seq): the frame, the frame's allocation
generation when the entry was filled (see memory.py), whether a store may use
the entry without going back to the page tables, and which write of the PTE it
was filled from (memory.py, pte_seq).  On x86 writable means RW *and* Dirty were
set when it was filled: a store through a clean entry makes the walker set Dirty
first (Intel SDM vol. 3A, 4.8 "Accessed and Dirty Flags").  Backends fill entries
through one helper, GenericArch.fill_tlb (arch/generic.py).

Entries are tagged with the mm's context (an ASID/PCID/VSID in hardware).  The
TLB is finite and drops its oldest entry when full, as hardware may drop any
entry at any time; 1536 is a Skylake-class second-level TLB.
"""

VPN_BITS = 36


def tlb_key(context: int, va: int) -> int:
    return (context << VPN_BITS) | (va >> 12)


class TLB:
    __slots__ = ("entries", "capacity")

    def __init__(self, capacity: int = 1536):
        self.entries: dict[int, tuple[int, int, bool, int]] = {}
        self.capacity = capacity

    def insert(self, key: int, entry: tuple[int, int, bool, int]) -> None:
        entries = self.entries
        if key not in entries and len(entries) >= self.capacity:
            del entries[next(iter(entries))]
        entries[key] = entry

    def flush_page(self, context: int, va: int) -> None:
        self.entries.pop(tlb_key(context, va), None)

    def flush_range(self, context: int, start: int, end: int) -> None:
        entries = self.entries
        if (end - start) >> 12 > len(entries):
            lo, hi = tlb_key(context, start), tlb_key(context, end)
            for key in [k for k in entries if lo <= k < hi]:
                del entries[key]
        else:
            for va in range(start, end, 4096):
                entries.pop(tlb_key(context, va), None)

    def flush_context(self, context: int) -> None:
        entries = self.entries
        for key in [k for k in entries if k >> VPN_BITS == context]:
            del entries[key]

    def holds(self, context: int, va: int) -> bool:
        return tlb_key(context, va) in self.entries
