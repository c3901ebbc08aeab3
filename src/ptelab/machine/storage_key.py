"""The s390 storage key: seven bits the hardware keeps for each 4 KiB frame, outside memory.

z/Architecture Principles of Operation (SA22-7832), ch. 3 "Storage Key": access-control bits
(ACC, 4), fetch protection (F), reference (R) and change (C).  R is set by every fetch or store
to the frame, C by every store, whatever address reached it (a translation, a real address,
channel I/O); neither is in the page-table entry.  Software reads the key with INSERT STORAGE
KEY EXTENDED (ISKE), replaces it with SET STORAGE KEY EXTENDED (SSKE), and reads and resets R
alone with RESET REFERENCE BIT EXTENDED (RRBE, whose condition code says what R and C were).
The bit values are Linux's (arch/s390/include/asm/pgtable.h:355-356, 2.6.27: _PAGE_CHANGED
0x02, _PAGE_REFERENCED 0x04; page.h:19-20: PAGE_DEFAULT_KEY 0).

The model sets R and C at the user accesses the machine makes (Machine.translate), which are
the only stores whose loss the explorer judges; the kernel's own stores (clearing or copying a
page) are not modelled.  A frame's key reads as the default key again once the frame is freed
and allocated anew: a page-cache page is read in and then marked up to date, and on s390
SetPageUptodate resets the key (include/linux/page-flags.h:243-249, 2.6.27), which the model's
page cache, filling a page with no I/O, stands for; an anonymous page's C is read only once
the page is in the swap cache, which add_to_swap marks dirty anyway.

Each operation is recorded in the explorer's footprint as an access to the frame (a hardware
update of the key is a write only when it changes a bit), through Machine.shared.
"""

from __future__ import annotations

from .counters import ISKE, RRBE, SSKE

_PAGE_CHANGED = 0x02  # C
_PAGE_REFERENCED = 0x04  # R
PAGE_DEFAULT_KEY = 0x00


class StorageKeys:
    def __init__(self, machine):
        self.machine = machine
        self.mem = machine.mem
        self.counters = machine.counters
        self.keys: dict[int, tuple[int, int]] = {}  # pfn -> (allocation generation, key)

    def key(self, pfn: int) -> int:
        """The key as the hardware holds it (no instruction: what the invariants read)."""
        held = self.keys.get(pfn)
        return held[1] if held is not None and held[0] == self.mem.gen[pfn] else PAGE_DEFAULT_KEY

    def _store(self, pfn: int, key: int) -> None:
        self.keys[pfn] = (self.mem.gen[pfn], key)

    # ---- the hardware -----------------------------------------------------------------
    def access(self, pfn: int, write: bool) -> None:
        """A fetch sets R, a store R and C (PoP ch. 3, "Reference Recording", "Change
        Recording")."""
        key = self.key(pfn)
        new = key | _PAGE_REFERENCED | (_PAGE_CHANGED if write else 0)
        self.machine.shared(("frame", pfn), new != key)
        if new != key:
            self._store(pfn, new)

    # ---- the instructions ----------------------------------------------------------------
    def iske(self, pfn: int) -> int:
        """INSERT STORAGE KEY EXTENDED (page_get_storage_key, page.h:119-126, 2.6.27)."""
        self.counters[ISKE] += 1
        self.machine.shared(("frame", pfn), False)
        return self.key(pfn)

    def sske(self, pfn: int, key: int) -> None:
        """SET STORAGE KEY EXTENDED (page_set_storage_key, page.h:113-117, 2.6.27)."""
        self.counters[SSKE] += 1
        self.machine.shared(("frame", pfn), True)
        self._store(pfn, key)

    def rrbe(self, pfn: int) -> int:
        """RESET REFERENCE BIT EXTENDED: R is reset; the condition code is 2*R + C as they
        were (PoP ch. 10)."""
        self.counters[RRBE] += 1
        key = self.key(pfn)
        self.machine.shared(("frame", pfn), bool(key & _PAGE_REFERENCED))
        if key & _PAGE_REFERENCED:
            self._store(pfn, key & ~_PAGE_REFERENCED)
        return (2 if key & _PAGE_REFERENCED else 0) | (1 if key & _PAGE_CHANGED else 0)

    # ---- what the invariants and the state machines read (no instruction) ---------------
    def changed(self, pfn: int) -> bool:
        return bool(self.key(pfn) & _PAGE_CHANGED)

    def describe(self, pfn: int) -> str:
        """'key R C', 'key R', 'key C' or 'key clean', for a person and the state machines."""
        key = self.key(pfn)
        bits = [name for bit, name in ((_PAGE_REFERENCED, "R"), (_PAGE_CHANGED, "C")) if key & bit]
        return "key " + (" ".join(bits) if bits else "clean")
