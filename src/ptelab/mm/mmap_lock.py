"""mmap_lock and the per-vma locks (include/linux/mmap_lock.h, include/linux/mm.h,
mm/memory.c lock_vma_under_rcu and lock_mm_and_find_vma, Linux 6.12).

A fault first tries the vma's own lock, for read, without mmap_lock; it fails while
an mmap_lock writer has write-locked that vma (vma_start_write: the vma's
vm_lock_seq equals the mm's mm_lock_seq until mmap_write_unlock moves the latter on),
and the fault then takes mmap_lock for read.  mmap, munmap, mremap, mprotect and fork
take mmap_lock for write and write-lock each vma before changing or removing it;
MADV_DONTNEED and MADV_FREE take it for read.

The semaphores are machine.RwSemaphore (explore/points.py makes every operation a
scheduling point and an acquire wait).  The sequence numbers and the vma list are
read and written around them: those accesses are recorded in the step's footprint
(machine.shared) under ("vma_seq", mm) and ("vmas", mm).
"""

from __future__ import annotations


def _cpu(mm) -> int:
    return mm.machine.this_cpu.id


def _seq(mm, write: bool) -> None:
    mm.machine.shared(("vma_seq", mm.context), write)


def mmap_read_lock(mm) -> None:
    """6.12 include/linux/mmap_lock.h:158-163."""
    mm.mmap_lock.down_read(_cpu(mm))


def mmap_read_unlock(mm) -> None:
    """6.12 include/linux/mmap_lock.h:185-189."""
    mm.mmap_lock.up_read(_cpu(mm))


def mmap_write_lock(mm) -> None:
    """6.12 include/linux/mmap_lock.h:102-108: down_write, then mm_lock_seqcount_begin."""
    mm.mmap_lock.down_write(_cpu(mm))
    _seq(mm, True)
    mm.mm_lock_seq += 1


def mmap_write_unlock(mm) -> None:
    """6.12 include/linux/mmap_lock.h:144-149: vma_end_write_all (:138-142, every vma this
    writer locked is unlocked at once: mm_lock_seq moves on), then up_write."""
    _seq(mm, True)
    mm.mm_lock_seq += 1
    mm.mmap_lock.up_write(_cpu(mm))


def mmap_assert_write_locked(mm) -> None:
    """6.12 include/linux/mmap_lock.h:68-71 (mmap_assert_write_locked)."""
    if mm.mmap_lock.writer != _cpu(mm):
        raise AssertionError(f"{mm}: mmap_lock is not held for write by cpu{_cpu(mm)} "
                             "(mmap_assert_write_locked)")


def vma_start_write(vma) -> None:
    """6.12 include/linux/mm.h:750-766: under mmap_lock for write; waits for the faults
    holding the vma's lock for read, then marks it write-locked until mmap_write_unlock."""
    mm = vma.mm
    mmap_assert_write_locked(mm)
    if vma.vm_lock_seq == mm.mm_lock_seq:  # __is_vma_write_locked
        return
    vma.vm_lock.down_write(_cpu(mm))
    _seq(mm, True)
    vma.vm_lock_seq = mm.mm_lock_seq
    vma.vm_lock.up_write(_cpu(mm))


def vma_start_read(vma) -> bool:
    """6.12 include/linux/mm.h:692-723: False while a writer has the vma write-locked."""
    mm = vma.mm
    _seq(mm, False)
    if vma.vm_lock_seq == mm.mm_lock_seq:
        return False
    if not vma.vm_lock.down_read_trylock(_cpu(mm)):
        return False
    _seq(mm, False)
    if vma.vm_lock_seq == mm.mm_lock_seq:
        vma.vm_lock.up_read(_cpu(mm))
        return False
    return True


def vma_end_read(vma) -> None:
    """6.12 include/linux/mm.h:725-730."""
    vma.vm_lock.up_read(_cpu(vma.mm))


def lock_vma_under_rcu(mm, addr: int):
    """6.12 mm/memory.c:6260-6302: the vma containing addr, read-locked, or None (the
    caller then takes mmap_lock).  The vma list is walked without any lock (RCU)."""
    while True:
        mm.machine.shared(("vmas", mm.context), False)
        vma = mm.find_vma(addr)  # mas_walk
        if vma is None or not vma_start_read(vma):
            return None
        if vma.detached:  # replaced after it was found: walk again
            vma_end_read(vma)
            continue
        if not vma.start <= addr < vma.end:
            vma_end_read(vma)
            return None
        return vma


def lock_mm_and_find_vma(mm, addr: int):
    """6.12 mm/memory.c:6198-6251 (no stack expansion): mmap_lock for read and the vma
    containing addr; None, with the lock dropped, when there is none."""
    mmap_read_lock(mm)
    vma = mm.find_vma(addr)
    if vma is None:
        mmap_read_unlock(mm)
    return vma
