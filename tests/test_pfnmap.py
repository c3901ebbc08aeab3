"""insert_pfn and remap_pfn_range: special entries with no struct page behind them."""

import pytest

from ptelab.mm.fault import user_access

from ptelab.arch import boot
from ptelab.machine import FAULT
from ptelab.machine.memory import PG_reserved
from ptelab.mm.fault import user_read
from ptelab.mm.fork import dup_mm
from ptelab.mm.kernel import Kernel
from ptelab.mm.memory import insert_pfn, remap_pfn_range
from ptelab.mm.mmap import MAP_SHARED, PROT_READ, vm_mmap, vm_munmap, exit_mmap
from ptelab.pte import PAGE_READONLY, pte_pfn, pte_special


def device(kernel, n):
    """n frames of "device memory": reserved, never freed, content = 100 + i."""
    mem = kernel.machine.mem
    frames = [mem.alloc_page(PG_reserved) for _ in range(n)]
    for i, pfn in enumerate(frames):
        mem.data[pfn] = 100 + i
    assert frames == list(range(frames[0], frames[0] + n))
    return frames


@pytest.fixture
def setup(arch_name):
    kernel = Kernel(boot(arch_name))
    mm = kernel.new_mm()
    mapping = kernel.new_file("dev", 8)
    addr = vm_mmap(mm, 0, 8 * 4096, PROT_READ, MAP_SHARED, mapping)
    return kernel, mm, mm.find_vma(addr), addr


def test_remap_pfn_range_maps_consecutive_special_frames(setup):
    kernel, mm, vma, addr = setup
    frames = device(kernel, 8)
    with kernel.machine.on_cpu(kernel.machine.cpus[0]):
        remap_pfn_range(vma, addr, frames[0], 8 * 4096, PAGE_READONLY)
    for i in range(8):
        pte = kernel.machine.arch.ptep_get(mm.pte_offset(addr + i * 4096))
        assert pte_special(pte) and pte_pfn(pte) == frames[i]
        assert user_read(mm, kernel.machine.cpus[1], addr + i * 4096) == 100 + i
    child = dup_mm(mm)  # VM_PFNMAP: fork copies the entries
    assert user_read(child, kernel.machine.cpus[0], addr + 4096) == 101
    exit_mmap(child)
    vm_munmap(mm, addr, 8 * 4096)  # special: nothing is freed
    assert all(not kernel.machine.mem.is_free(f) for f in frames)
    assert kernel.machine.access(kernel.machine.cpus[1], addr, False) == FAULT


def test_insert_pfn_fills_an_empty_slot_only(setup):
    kernel, mm, vma, addr = setup
    (frame,) = device(kernel, 1)
    with kernel.machine.on_cpu(kernel.machine.cpus[0]):
        assert insert_pfn(vma, addr, frame, PAGE_READONLY)
        assert not insert_pfn(vma, addr, frame, PAGE_READONLY)  # -EBUSY
    assert user_read(mm, kernel.machine.cpus[1], addr) == 100


def test_access_uses_the_address_space_the_cpu_runs(setup):
    kernel, mm, vma, addr = setup
    cpu = kernel.machine.cpus[1]
    assert kernel.machine.access(cpu, addr, False) == FAULT  # runs nothing yet
    (frame,) = device(kernel, 1)
    with kernel.machine.on_cpu(kernel.machine.cpus[0]):
        insert_pfn(vma, addr, frame, PAGE_READONLY)
    kernel.machine.switch_mm(cpu, mm)
    if kernel.machine.arch.software_young:  # s390: the first access faults and makes it young
        user_access(mm, cpu, addr, False)
    assert kernel.machine.access(cpu, addr, False) == frame
    assert kernel.machine.access(cpu, addr, True) == FAULT
