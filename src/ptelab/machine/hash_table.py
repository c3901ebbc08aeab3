"""The powerpc hashed page table (HPT): groups of 8 HPTEs, primary and secondary hash.

Layout and search follow the Power ISA (Book III-S, "Hashed Page Table Search")
and the kernel's native backend (arch/powerpc/mm/hash_native_64.c):

- an HPTE is two doublewords, V (abbreviated VPN, H for "in secondary group",
  VALID) and R (real page number, Referenced, Changed, No-execute, PP);
- the primary hash is VSID xor page index, the secondary is its complement;
  each selects one group (PTEG) of 8 slots;
- the MMU searches the primary group, then the secondary, for a valid HPTE whose
  AVPN and H match.  A miss raises a hash fault that Linux handles in hash_page;
- insertion takes a free slot of a group, or fails (the caller then tries the
  other group and finally evicts an entry, native_hpte_remove);
- invalidation only clears a slot whose AVPN still matches (native_hpte_invalidate),
  so invalidating a slot that was meanwhile reused for another page is harmless.

`slot` below is the global index group * 8 + i, as `hash_page` computes it.
"""

from __future__ import annotations

from functools import lru_cache

HPTES_PER_GROUP = 8

HPTE_V_VALID = 0x1
HPTE_V_SECONDARY = 0x2
HPTE_V_AVPN_SHIFT = 2

HPTE_R_PP = 0x3  # 0b10: user read/write, 0b11: user read-only (key 1)
HPTE_R_N = 0x4
HPTE_R_C = 0x80
HPTE_R_R = 0x100
HPTE_R_RPN_SHIFT = 12

PP_RW = 0x2
PP_RO = 0x3

# arch/powerpc/include/asm/mmu-hash64.h: vsid_scramble for 256M segments
VSID_MULTIPLIER_256M = 200730139
VSID_BITS_256M = 36
VSID_MODULUS_256M = (1 << VSID_BITS_256M) - 1
SID_SHIFT = 28


def get_vsid(context: int, ea: int) -> int:
    proto_vsid = (context << 19) | (ea >> SID_SHIFT)
    return (proto_vsid * VSID_MULTIPLIER_256M) % VSID_MODULUS_256M


def hpt_vpn(context: int, ea: int) -> int:
    return _vpn(context, ea >> 12)


# A function of the context and the page alone, asked by every hash search, invalidation and
# check of a cached translation: remembered, for as many pages as a large workload maps.
@lru_cache(maxsize=1 << 16)
def _vpn(context: int, page: int) -> int:
    ea = page << 12
    return (get_vsid(context, ea) << (SID_SHIFT - 12)) | ((ea & ((1 << SID_SHIFT) - 1)) >> 12)


def hpt_hash(vpn: int) -> int:
    """Primary hash, 256M segments, 4K pages (hpt_hash in mmu-hash64.h)."""
    vsid = vpn >> (SID_SHIFT - 12)
    return (vsid & 0x7FFFFFFFFF) ^ (vpn & ((1 << (SID_SHIFT - 12)) - 1))


def _group(h: int, mask: int) -> int:
    """The first slot of the group hash h selects; the secondary group's is ~h's (6.12
    arch/powerpc/mm/book3s64/hash_4k.c:85, 94; hash_native.c:465-469)."""
    return (h & mask) * HPTES_PER_GROUP


@lru_cache(maxsize=1 << 16)
def _searches(vpn: int, mask: int) -> tuple:
    """(the V doubleword of a valid HPTE for vpn, its group's first slot): the primary group's,
    then the secondary's.  A function of vpn and the table's size alone, asked by every hash
    search, so remembered."""
    h = hpt_hash(vpn)
    want = (vpn << HPTE_V_AVPN_SHIFT) | HPTE_V_VALID
    return ((want, _group(h, mask)), (want | HPTE_V_SECONDARY, _group(~h, mask)))


class HashPageTable:
    def __init__(self, groups: int, vpn=hpt_vpn):
        """`vpn(context, ea)`: the virtual page number the MMU hashes, from the segment's
        VSID (ppc64's scramble by default; ppc32 passes its own, arch/ppc32_hash.py)."""
        if groups & (groups - 1):
            raise ValueError("the number of hash groups must be a power of two")
        self.vpn = vpn
        self.mask = groups - 1
        nslots = groups * HPTES_PER_GROUP
        self.v = [0] * nslots
        self.r = [0] * nslots
        self.owner: list = [None] * nslots  # (context, va): bookkeeping for checks, not hardware
        self._victim = 0

    def group(self, vpn: int, secondary: bool) -> int:
        h = hpt_hash(vpn)
        return _group(~h if secondary else h, self.mask)

    def find(self, vpn: int) -> int:
        """The MMU's search: the slot of the valid HPTE for vpn, or -1."""
        v = self.v
        for want, base in _searches(vpn, self.mask):
            group = v[base:base + HPTES_PER_GROUP]
            if want in group:
                return base + group.index(want)
        return -1

    def valid_slots(self, vpn: int) -> list[int]:
        """Every valid HPTE for vpn (more than one is architecturally illegal)."""
        v = self.v
        found = []
        for want, base in _searches(vpn, self.mask):
            group = v[base:base + HPTES_PER_GROUP]
            if want in group:
                found.extend([base + i for i, word in enumerate(group) if word == want])
        return found

    def insert(self, vpn: int, pfn: int, rflags: int, secondary: bool, owner=None) -> int:
        """native_hpte_insert: the slot used, or -1 if the group is full."""
        base = self.group(vpn, secondary)
        v = self.v
        for slot in range(base, base + HPTES_PER_GROUP):
            if not v[slot] & HPTE_V_VALID:
                self.r[slot] = (pfn << HPTE_R_RPN_SHIFT) | rflags
                self.owner[slot] = owner
                v[slot] = (vpn << HPTE_V_AVPN_SHIFT) | HPTE_V_VALID | (HPTE_V_SECONDARY if secondary else 0)
                return slot
        return -1

    def evict(self, vpn: int) -> int:
        """native_hpte_remove: free one slot of the primary group (round-robin here,
        the time base in the kernel); returns the slot freed."""
        base = self.group(vpn, False)
        self._victim = (self._victim + 1) % HPTES_PER_GROUP
        slot = base + self._victim
        self.v[slot] = 0
        return slot

    def matches(self, slot: int, vpn: int) -> bool:
        v = self.v[slot]
        return v & HPTE_V_VALID and v >> HPTE_V_AVPN_SHIFT == vpn

    def invalidate(self, slot: int, vpn: int) -> bool:
        """native_hpte_invalidate: clear the slot only if it still holds vpn."""
        if self.matches(slot, vpn):
            self.v[slot] = 0
            return True
        return False

    def update_pp(self, slot: int, vpn: int, rflags: int) -> bool:
        """native_hpte_updatepp: change protection in place if the slot still holds vpn."""
        if not self.matches(slot, vpn):
            return False
        self.r[slot] = (self.r[slot] & ~(HPTE_R_PP | HPTE_R_N)) | (rflags & (HPTE_R_PP | HPTE_R_N))
        return True

    def rewrite(self, slot: int, vpn: int, pfn: int, rflags: int) -> bool:
        """Store a new second word (frame and protection) into the slot if it still holds
        vpn (ppc32's create_hpte, .Lfound_slot, arch/powerpc/mm/book3s32/hash_low.S:420-440)."""
        if not self.matches(slot, vpn):
            return False
        self.r[slot] = (pfn << HPTE_R_RPN_SHIFT) | rflags
        return True

    def entry(self, slot: int) -> tuple[int, int]:
        """(pfn, rflags) of a valid slot."""
        r = self.r[slot]
        return r >> HPTE_R_RPN_SHIFT, r & ((1 << HPTE_R_RPN_SHIFT) - 1)
