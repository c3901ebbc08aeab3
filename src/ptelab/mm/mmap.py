"""mmap, munmap and exit (mm/mmap.c, mm/vma.c)."""

from __future__ import annotations

from ..mmu_gather import MmuGather, tlb_finish_mmu, tlb_gather_mmu, tlb_gather_mmu_fullmm
from ..pte import PAGE_SHIFT, PAGE_SIZE, VM_EXEC, VM_MAYWRITE, VM_READ, VM_SHARED, VM_WRITE
from .memory import unmap_page_range
from .mm_types import VMA, unlink_vma
from .mmap_lock import (
    mmap_assert_write_locked,
    mmap_read_lock,
    mmap_read_unlock,
    mmap_write_lock,
    mmap_write_unlock,
    vma_start_write,
)
from .pgtable import free_pgtables

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x1, 0x2, 0x10, 0x20


class MmapError(Exception):
    """EINVAL, ENOMEM, EACCES: the call is refused and nothing changed."""


def calc_vm_prot_bits(prot: int) -> int:
    """6.12 include/linux/mman.h:142-149 (calc_vm_prot_bits)."""
    return (VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0) \
        | (VM_EXEC if prot & PROT_EXEC else 0)


def page_align(length: int) -> int:
    """Model's own: PAGE_ALIGN."""
    return (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def get_unmapped_area(mm, length: int) -> int:
    """6.12 mm/mmap.c:760-790 (generic_get_unmapped_area), first fit above mmap_base.
    Bottom-up first fit above mmap_base."""
    addr = mm.mmap_base
    for vma in mm.vmas:
        if vma.end <= addr:
            continue
        if vma.start >= addr + length:
            break
        addr = vma.end
    return addr


def with_mmap_lock(mm, write: bool, fn, *args):
    """Model's own: a system call's body under mmap_lock.
    A system call's body under mmap_lock (for write or read); an error it returns
    (MmapError) drops the lock too, as the kernel's `goto out` paths do."""
    lock, unlock = (mmap_write_lock, mmap_write_unlock) if write else (mmap_read_lock, mmap_read_unlock)
    lock(mm)
    try:
        result = fn(*args)
    except MmapError:
        unlock(mm)
        raise
    unlock(mm)
    return result


def vm_mmap(mm, addr: int, length: int, prot: int, flags: int, file=None, pgoff: int = 0) -> int:
    """mmap(2): 6.12 mm/util.c:575-596 (vm_mmap_pgoff): do_mmap under mmap_lock for write."""
    return with_mmap_lock(mm, True, do_mmap, mm, addr, length, prot, flags, file, pgoff)


def vm_munmap(mm, start: int, length: int) -> None:
    """munmap(2): 6.12 mm/mmap.c:1633-1649 (__vm_munmap): do_munmap under mmap_lock for write."""
    with_mmap_lock(mm, True, do_munmap, mm, start, length)


def do_mmap(mm, addr: int, length: int, prot: int, flags: int, file=None, pgoff: int = 0) -> int:
    """6.12 mm/mmap.c:284-512 with __mmap_region (:1372-1597), mmap_lock held for write:
    MAP_FIXED unmaps what was there first; the new vma is write-locked (:1534)."""
    if length <= 0 or addr & (PAGE_SIZE - 1):
        raise MmapError("EINVAL: length must be positive and addr page-aligned")
    if bool(flags & MAP_SHARED) == bool(flags & MAP_PRIVATE):
        raise MmapError("EINVAL: exactly one of MAP_SHARED and MAP_PRIVATE")
    length = page_align(length)
    vm_flags = calc_vm_prot_bits(prot) | VM_MAYWRITE
    if flags & MAP_SHARED:
        vm_flags |= VM_SHARED
        if file is None:  # shared anonymous memory is a shmem file
            file = mm.kernel.new_file(f"shmem-{mm.context}-{len(mm.kernel.files)}",
                                      length >> PAGE_SHIFT)
    if flags & MAP_FIXED:
        do_munmap(mm, addr, length)
    else:
        addr = get_unmapped_area(mm, length)
    vma = VMA(mm, addr, addr + length, vm_flags,
              pgoff if file is not None else addr >> PAGE_SHIFT, file)
    vma_start_write(vma)
    mm.insert_vma(vma)
    return addr


def split_vma(mm, vma: VMA, addr: int) -> VMA:
    """6.12 mm/vma.c:370-457 (__split_vma): cut vma at addr, both parts write-locked
    (:416-417); returns the upper part (a new vma)."""
    vma_start_write(vma)
    new = VMA(mm, addr, vma.end, vma.flags, vma.pgoff + ((addr - vma.start) >> PAGE_SHIFT), vma.file)
    new.anon_vma = vma.anon_vma
    new.page_prot = vma.page_prot
    vma_start_write(new)
    vma.end = addr
    mm.insert_vma(new)
    return new


def split_range(mm, start: int, end: int) -> list[VMA]:
    """Model's own: the split_vma calls at a range's two edges (vms_gather_munmap_vmas, mprotect_fixup).
    The vmas exactly covering [start, end) ∩ mapped, splitting at the edges."""
    for vma in mm.vmas_in(start, end):
        if vma.start < start:
            split_vma(mm, vma, start)
    for vma in mm.vmas_in(start, end):
        if vma.end > end:
            split_vma(mm, vma, end)
    return mm.vmas_in(start, end)


def do_munmap(mm, start: int, length: int) -> None:
    """6.12 mm/mmap.c:1364-1370 -> do_vmi_munmap (mm/vma.c:1399-1422) -> do_vmi_align_munmap
    (:1352-1381), mmap_lock held for write: every vma of the range is write-locked
    (vms_gather_munmap_vmas, :1254), detached, its pages zapped, its page tables freed."""
    mmap_assert_write_locked(mm)
    if start & (PAGE_SIZE - 1) or length <= 0:
        raise MmapError("EINVAL: start must be page-aligned and length positive")
    end = start + page_align(length)
    vmas = split_range(mm, start, end)
    if not vmas:
        return
    for vma in vmas:
        vma_start_write(vma)
        mm.remove_vma(vma)
    unmap_region(mm, vmas, start, end)
    for vma in vmas:
        unlink_vma(vma)


def unmap_region(mm, vmas: list[VMA], start: int, end: int) -> None:
    """6.12 mm/vma.c:347-363 (unmap_region)."""
    tlb = MmuGather()
    tlb_gather_mmu(tlb, mm)
    for vma in vmas:
        unmap_page_range(tlb, vma, vma.start, vma.end)
    free_pgtables(tlb, mm, start, end)
    tlb_finish_mmu(tlb)


def exit_mmap(mm) -> None:
    """6.12 mm/mmap.c:1916-1980: the last user is gone: tear everything down with one
    fullmm gather (the model holds mmap_lock for write throughout; 6.12 reads first)."""
    for cpu in mm.machine.cpus:
        if cpu.mm is mm:
            mm.machine.shared(("cpumask", mm.context), True)
            cpu.mm = None
    mmap_write_lock(mm)
    tlb = MmuGather()
    tlb_gather_mmu_fullmm(tlb, mm)
    for vma in mm.vmas:
        unmap_page_range(tlb, vma, vma.start, vma.end)
    vmas, mm.vmas = mm.vmas, []
    if vmas:
        free_pgtables(tlb, mm, vmas[0].start, vmas[-1].end)
    tlb_finish_mmu(tlb)
    for vma in vmas:
        unlink_vma(vma)
    mmap_write_unlock(mm)

