"""The user-access path: the MMU first, the generic fault handler on a fault.

This is the part of do_page_fault (arch/x86/mm/fault.c, arch/powerpc/mm/fault.c)
that every architecture shares: find the vma, check the access against it
(access_error), call handle_mm_fault, retry the access.
"""

from __future__ import annotations

from ..pte import VM_EXEC, VM_READ, VM_WRITE
from .memory import BusError, handle_mm_fault
from .mmap_lock import lock_mm_and_find_vma, lock_vma_under_rcu, mmap_read_unlock, vma_end_read

MAX_FAULT_RETRIES = 8


class SegmentationFault(Exception):
    """SIGSEGV: no vma, or the vma does not allow the access."""


def access_error(vma, write: bool) -> bool:
    """6.12 arch/x86/mm/fault.c:1050-1115 (access_error)."""
    if write:
        return not vma.flags & VM_WRITE
    return not vma.flags & (VM_READ | VM_WRITE | VM_EXEC)


def do_user_addr_fault(mm, va: int, write: bool) -> None:
    """6.12 arch/x86/mm/fault.c:1209-1450, the steps at :1324-1415 (powerpc's
    ___do_page_fault, arch/powerpc/mm/fault.c:489-567, has the same): the vma's own lock
    first, mmap_lock for read when that fails."""
    vma = lock_vma_under_rcu(mm, va)
    if vma is not None:
        if access_error(vma, write):
            vma_end_read(vma)  # bad_area_access_error
            raise SegmentationFault(f"{'store' if write else 'load'} at {va:#x}")
        _handle(vma, va, write, lambda: vma_end_read(vma))
        return
    vma = lock_mm_and_find_vma(mm, va)
    if vma is None:
        raise SegmentationFault(f"{'store' if write else 'load'} at {va:#x}")  # bad_area_nosemaphore
    if access_error(vma, write):
        mmap_read_unlock(mm)
        raise SegmentationFault(f"{'store' if write else 'load'} at {va:#x}")
    _handle(vma, va, write, lambda: mmap_read_unlock(mm))


def _handle(vma, va: int, write: bool, unlock) -> None:
    """handle_mm_fault, then the unlock; SIGBUS (VM_FAULT_SIGBUS) unlocks too."""
    try:
        handle_mm_fault(vma, va, write)
    except BusError:
        unlock()
        raise
    unlock()


def user_access(mm, cpu, va: int, write: bool, value: int = 0) -> int:
    """Model's own: a user load or store, the MMU first, then do_user_addr_fault and a retry.
    A load (returns the value read) or a store of `value` by `cpu` running `mm`."""
    machine = mm.machine
    if cpu.mm is not mm or cpu.is_lazy:  # a thread of mm runs here (again)
        machine.switch_mm(cpu, mm)
    previous, machine.this_cpu = machine.this_cpu, cpu
    try:
        for _ in range(MAX_FAULT_RETRIES):
            pfn = machine.translate(cpu, mm, va, write)
            if pfn >= 0:
                break
            do_user_addr_fault(mm, va, write)
        else:
            raise RuntimeError(f"no progress on a fault at {va:#x}: the handler left the entry unusable")
    finally:
        machine.this_cpu = previous
    if write:
        machine.mem.data[pfn] = value
        return value
    return machine.mem.data[pfn]


def user_read(mm, cpu, va: int) -> int:
    """Model's own: a user load (user_access)."""
    return user_access(mm, cpu, va, False)


def user_write(mm, cpu, va: int, value: int) -> None:
    """Model's own: a user store (user_access)."""
    user_access(mm, cpu, va, True, value)
