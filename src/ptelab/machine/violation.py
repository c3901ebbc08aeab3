"""Safety invariants the hardware model can see being broken (DESIGN.md, explore)."""

USE_AFTER_FREE = "use-after-free"
STALE_TRANSLATION = "stale-translation"
LOST_DIRTY = "lost-dirty"
DUPLICATE_HASH_ENTRY = "duplicate-hash-entry"
BREAK_BEFORE_MAKE = "break-before-make"  # arm64: a CPU can hold two conflicting translations


class InvariantViolation(Exception):
    """A safety invariant broke.  Sequential runs raise it at the step it happens."""

    def __init__(self, invariant: str, detail: str, *, va=None, pfn=None, cpu=None, own=None):
        self.invariant = invariant
        self.own = own  # why the caller alone is to blame (a lock it took twice), if so
        self.detail = detail
        self.va = va
        self.pfn = pfn
        self.cpu = cpu
        where = []
        if cpu is not None:
            where.append(f"cpu{cpu}")
        if va is not None:
            where.append(f"va {va:#x}")
        if pfn is not None:
            where.append(f"pfn {pfn}")
        super().__init__(f"{invariant}: {detail}" + (f" ({', '.join(where)})" if where else ""))
