"""A reader-writer semaphore (kernel/locking/rwsem.c): mmap_lock and the per-vma lock.

Readers share it, a writer has it alone.  Sequentially a sleep can never end (nobody
else runs), so taking a semaphore that is not available is a deadlock, as a spinlock
taken twice is; the explorer's version (explore/points.py) makes every operation a
scheduling point and an acquire wait, as the explorer's blocking, until it can succeed.
"""

from .spinlock import LockError


class RwSemaphore:
    __slots__ = ("name", "readers", "writer")

    def __init__(self, name: str):
        self.name = name
        self.readers: list[int] = []  # the CPUs holding it for read (one each per hold)
        self.writer = None

    def read_free(self) -> bool:
        return self.writer is None

    def write_free(self) -> bool:
        return self.writer is None and not self.readers

    def down_read(self, owner: int) -> None:
        if self.writer is not None:
            raise LockError(f"{self.name}: read by cpu{owner} while cpu{self.writer} writes it (deadlock)")
        self.readers.append(owner)

    def down_read_trylock(self, owner: int) -> bool:
        if self.writer is not None:
            return False
        self.readers.append(owner)
        return True

    def up_read(self, owner: int) -> None:
        if owner not in self.readers:
            raise LockError(f"{self.name}: up_read by cpu{owner}, which does not hold it")
        self.readers.remove(owner)

    def down_write(self, owner: int) -> None:
        if not self.write_free():
            holder = f"cpu{self.writer}" if self.writer is not None else f"readers {self.readers}"
            raise LockError(f"{self.name}: written by cpu{owner} while held by {holder} (deadlock)")
        self.writer = owner

    def up_write(self, owner: int) -> None:
        if self.writer != owner:
            raise LockError(f"{self.name}: up_write by cpu{owner} but held by {self.writer}")
        self.writer = None
