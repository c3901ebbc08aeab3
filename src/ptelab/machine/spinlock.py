"""A spinlock: the split PTE lock lives in the page-table page's struct page."""

from .counters import PTE_LOCK

# (RELEASED, lock name), for the explorer: written by a lock's release, read by the acquire
# that follows it.  It only orders them (the acquire happens after the release that let it
# through); explore/dpor.py never reverses a race over it (the acquire is not enabled before
# the release: the race to reverse is with the acquire before that release).
RELEASED = "released"


class LockError(Exception):
    """Unlocking a lock one does not hold, or taking one already held (a deadlock)."""


class RecursiveLock(LockError):
    """A CPU taking a lock it already holds: it waits for itself forever (6.12
    kernel/locking/spinlock_debug.c:85-89, debug_spin_lock_before: "recursion")."""


class SpinLock:
    __slots__ = ("name", "owner", "counters")

    def __init__(self, name: str, counters):
        self.name = name
        self.owner = None
        self.counters = counters

    def lock(self, owner: int) -> None:
        if self.owner == owner:
            raise RecursiveLock(f"{self.name}: taken by cpu{owner}, which already holds it")
        if self.owner is not None:
            raise LockError(f"{self.name}: taken by cpu{owner} while held by cpu{self.owner}")
        self.owner = owner
        self.counters[PTE_LOCK] += 1

    def unlock(self, owner: int) -> None:
        if self.owner != owner:
            raise LockError(f"{self.name}: released by cpu{owner} but held by {self.owner}")
        self.owner = None

    def held(self) -> bool:
        return self.owner is not None
