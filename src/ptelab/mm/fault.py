"""The user-access path: the MMU first, the generic fault handler on a fault.

This is the part of do_page_fault (arch/x86/mm/fault.c, arch/powerpc/mm/fault.c)
that every architecture shares: find the vma, check the access against it
(access_error), call handle_mm_fault, retry the access.
"""

from __future__ import annotations

from ..pte import VM_EXEC, VM_READ, VM_WRITE
from .memory import handle_mm_fault

MAX_FAULT_RETRIES = 8


class SegmentationFault(Exception):
    """SIGSEGV: no vma, or the vma does not allow the access."""


def access_error(vma, write: bool) -> bool:
    if write:
        return not vma.flags & VM_WRITE
    return not vma.flags & (VM_READ | VM_WRITE | VM_EXEC)


def user_access(mm, cpu, va: int, write: bool, value: int = 0) -> int:
    """A load (returns the value read) or a store of `value` by `cpu` running `mm`."""
    machine = mm.machine
    if cpu.mm is not mm:
        machine.switch_mm(cpu, mm)
    previous, machine.this_cpu = machine.this_cpu, cpu
    try:
        for _ in range(MAX_FAULT_RETRIES):
            pfn = machine.translate(cpu, mm, va, write)
            if pfn >= 0:
                break
            vma = mm.find_vma(va)
            if vma is None or access_error(vma, write):
                raise SegmentationFault(f"{'store' if write else 'load'} at {va:#x}")
            handle_mm_fault(vma, va, write)
        else:
            raise RuntimeError(f"no progress on a fault at {va:#x}: the handler left the entry unusable")
    finally:
        machine.this_cpu = previous
    if write:
        machine.mem.data[pfn] = value
        return value
    return machine.mem.data[pfn]


def user_read(mm, cpu, va: int) -> int:
    return user_access(mm, cpu, va, False)


def user_write(mm, cpu, va: int, value: int) -> None:
    user_access(mm, cpu, va, True, value)
