"""What a step did to a location, in its footprint (location -> access).

False: it read the location; True: it wrote it.  Of a PTE whose hash bits software keeps
beside Linux's bits (ppc64's H_PAGE_BUSY, H_PAGE_HASHPTE and the slot: 6.12
arch/powerpc/include/asm/book3s/64/hash-4k.h:42-49), a step may also have written the
hash bits only (hash_page's stores that change nothing else: HASH_BITS), or read the other
bits only (the invariant checks, a store's lost-dirty read: OTHER_BITS).  Such a write and
such a read commute; every other pair of accesses one of which writes does not.
"""

HASH_BITS = "hash bits"  # wrote the hash bits only (and may have read all of the entry)
OTHER_BITS = ""  # read the bits other than the hash bits only


def join(a, b):
    """Two accesses of one location by one step, as one access."""
    if a is True or b is True:
        return True
    if a == HASH_BITS or b == HASH_BITS:
        return HASH_BITS
    return OTHER_BITS if a == OTHER_BITS and b == OTHER_BITS else False


def union(into: dict, footprint: dict) -> None:
    """Add a footprint to a union of footprints (per location, the accesses joined)."""
    for loc, access in footprint.items():
        old = into.get(loc)
        into[loc] = access if old is None else join(old, access)


def apart(a, b) -> bool:
    """Two accesses of one location, one of which writes, that commute all the same: a write
    of the hash bits only and a read of the other bits."""
    return a != b and a.__class__ is str and b.__class__ is str
