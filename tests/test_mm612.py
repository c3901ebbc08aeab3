"""mm/ as in Linux 6.12: the divergences issue 11 lists, closed one by one."""

import pytest

from ptelab.arch import boot
from ptelab.mm.fault import SegmentationFault, user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.memory import unmap_mapping_range
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, vm_mmap
from ptelab.mm.mremap import do_mremap
from ptelab.mm.rmap import TTU_BATCH_FLUSH, SwapCacheMissing, try_to_unmap, try_to_unmap_flush
from ptelab.mm.swapfile import add_to_swap, delete_from_swap_cache
from ptelab.mm.truncate import truncate_setsize
from ptelab.pte import PAGE_SIZE, is_swap_pte, pte_none, pte_pfn, pte_present

RW = PROT_READ | PROT_WRITE


def _file(arch_name, pages=4):
    kernel = Kernel(boot(arch_name))
    mm = kernel.new_mm()
    mapping = kernel.new_file("f", pages)
    addr = vm_mmap(mm, 0, pages * PAGE_SIZE, RW, MAP_SHARED, mapping)
    cpu = kernel.machine.cpus[0]
    for i in range(pages):
        user_write(mm, cpu, addr + i * PAGE_SIZE, 10 + i)
    return kernel, mm, mapping, addr


def _pte(kernel, mm, va):
    return kernel.machine.arch.ptep_get(mm.pte_offset(va))


@pytest.mark.parametrize("holebegin, holelen, zapped", [
    (0, PAGE_SIZE, {0}),                 # the bundled litmus test's call: one page, not 4,096
    (PAGE_SIZE, 2 * PAGE_SIZE, {1, 2}),
    (PAGE_SIZE + 1, 1, {1}),             # the start rounds down, the length up
    (2 * PAGE_SIZE, 0, {2, 3}),          # 0: to the end of the file
])
def test_unmap_mapping_range_takes_bytes(arch_name, holebegin, holelen, zapped):
    kernel, mm, mapping, addr = _file(arch_name)
    with kernel.machine.on_cpu(kernel.machine.cpus[0]):
        unmap_mapping_range(mapping, holebegin, holelen, False)
    gone = {i for i in range(4) if pte_none(_pte(kernel, mm, addr + i * PAGE_SIZE))}
    assert gone == zapped


def test_truncate_setsize_takes_bytes_and_keeps_a_straddling_page(arch_name):
    kernel, mm, mapping, addr = _file(arch_name)
    with kernel.machine.on_cpu(kernel.machine.cpus[0]):
        truncate_setsize(kernel.machine.mem, mapping, PAGE_SIZE + 1)
    assert mapping.size == 2 and sorted(mapping.pages) == [0, 1]
    assert user_read(mm, kernel.machine.cpus[1], addr + PAGE_SIZE) == 11


def test_try_to_unmap_of_an_anonymous_page_needs_its_swap_entry(arch_name):
    kernel = Kernel(boot(arch_name))
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    user_write(mm, kernel.machine.cpus[0], addr, 7)
    page = pte_pfn(_pte(kernel, mm, addr))
    mem = kernel.machine.mem
    with kernel.machine.on_cpu(kernel.machine.cpus[0]):
        mem.get_page(page)  # isolated from the LRU, as shrink_folio_list has it
        with pytest.raises(SwapCacheMissing, match="add_to_swap"):
            try_to_unmap(kernel, page, TTU_BATCH_FLUSH)
        assert pte_present(_pte(kernel, mm, addr))  # refused before touching anything
        entry = add_to_swap(kernel, page)
        assert try_to_unmap(kernel, page, TTU_BATCH_FLUSH)
        try_to_unmap_flush(kernel)
        kernel.swap.write(entry, kernel.machine.mem.data[page])  # pageout
        delete_from_swap_cache(kernel, page)
        mem.put_page(page)
    assert is_swap_pte(_pte(kernel, mm, addr))
    assert user_read(mm, kernel.machine.cpus[1], addr) == 7


def test_mremap_moves_and_the_old_address_faults(arch_name):
    kernel = Kernel(boot(arch_name))
    mm = kernel.new_mm()
    cpus = kernel.machine.cpus
    addr = vm_mmap(mm, 0, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    user_write(mm, cpus[1], addr, 5)  # cpu1 caches the translation
    with kernel.machine.on_cpu(cpus[0]):
        new = do_mremap(mm, addr, 2 * PAGE_SIZE, 4 * PAGE_SIZE)
    assert new != addr and user_read(mm, cpus[1], new) == 5
    with pytest.raises(SegmentationFault):  # a stale TLB entry of cpu1 would read 5
        user_read(mm, cpus[1], addr)


def test_rwsem_readers_share_and_a_writer_is_alone():
    from ptelab.machine.rwsem import RwSemaphore
    from ptelab.machine.spinlock import LockError

    sem = RwSemaphore("s")
    sem.down_read(0)
    sem.down_read(1)
    assert not sem.write_free() and sem.read_free()
    with pytest.raises(LockError, match="deadlock"):
        sem.down_write(2)
    sem.up_read(0)
    sem.up_read(1)
    sem.down_write(2)
    assert not sem.down_read_trylock(0)
    with pytest.raises(LockError):
        sem.up_write(1)
    sem.up_write(2)
    assert sem.down_read_trylock(0)


def test_a_fault_takes_the_vma_lock_unless_a_writer_has_write_locked_the_vma(arch_name):
    from ptelab.mm.mmap_lock import (lock_vma_under_rcu, mmap_write_lock, mmap_write_unlock,
                                     vma_end_read, vma_start_write)
    kernel = Kernel(boot(arch_name))
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    vma = mm.find_vma(addr)
    assert lock_vma_under_rcu(mm, addr) is vma  # no writer: the per-vma lock, for read
    vma_end_read(vma)
    mmap_write_lock(mm)
    assert lock_vma_under_rcu(mm, addr) is vma  # mmap_lock alone does not stop it
    vma_end_read(vma)
    vma_start_write(vma)
    assert lock_vma_under_rcu(mm, addr) is None  # write-locked: the fault takes mmap_lock
    mmap_write_unlock(mm)  # vma_end_write_all
    assert lock_vma_under_rcu(mm, addr) is vma
    vma_end_read(vma)
    user_write(mm, kernel.machine.cpus[0], addr, 3)
    assert not mm.mmap_lock.readers and mm.mmap_lock.writer is None and not vma.vm_lock.readers


@pytest.mark.parametrize("shared", [False, True])
def test_migration_moves_content_dirtiness_and_mappings(arch_name, shared):
    from ptelab.machine.memory import PG_dirty
    from ptelab.mm.migrate import migrate_page

    kernel = Kernel(boot(arch_name))
    mm = kernel.new_mm()
    cpus = kernel.machine.cpus
    if shared:
        mapping = kernel.new_file("f", 1)
        addr = vm_mmap(mm, 0, PAGE_SIZE, RW, MAP_SHARED, mapping)
    else:
        addr = vm_mmap(mm, 0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    user_write(mm, cpus[1], addr, 9)
    old = pte_pfn(_pte(kernel, mm, addr))
    mem = kernel.machine.mem
    with kernel.machine.on_cpu(cpus[0]):
        new = migrate_page(kernel, old)
    assert new is not None and new != old and mem.is_free(old)
    assert pte_pfn(_pte(kernel, mm, addr)) == new and mem.mapcount[new] == 1
    # the PTE's Dirty went to the page, then to the new one; on s390-2.6.27 an anonymous
    # page's is in its frame's storage key, moved to the page only for a file or swap-cache
    # page (2.6.27 mm/rmap.c:665-676), and the copy's own stores (not modelled) set the new key
    assert mem.flags[new] & PG_dirty or arch_name == "s390-2.6.27" and not shared
    assert user_read(mm, cpus[1], addr) == 9  # cpu1's old TLB entry was flushed
    user_write(mm, cpus[1], addr, 10)
    assert mem.data[new] == 10
    if shared:
        assert mapping.pages[0] == new


def test_a_fault_on_a_migration_entry_nobody_removes_makes_no_progress(arch_name):
    from ptelab.pte import make_readable_migration_entry, swp_entry_to_pte

    kernel = Kernel(boot(arch_name, debug=False))
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    user_write(mm, kernel.machine.cpus[0], addr, 1)
    ptep = mm.pte_offset(addr)
    kernel.machine.arch.ptep_get_and_clear(mm, addr, ptep)
    kernel.machine.arch.flush_tlb_mm(mm)
    kernel.machine.arch.set_pte_at(mm, addr, ptep, swp_entry_to_pte(make_readable_migration_entry(5)))
    with pytest.raises(RuntimeError, match="migration_entry_wait"):
        user_read(mm, kernel.machine.cpus[1], addr)


def test_x86_mm_cpumask_and_lazy_tlb_as_in_6_12():
    from ptelab.machine.counters import IPI
    from ptelab.mm.mprotect import do_mprotect

    kernel = Kernel(boot("x86", cpus=4))
    machine = kernel.machine
    cpus = machine.cpus
    mm, other = kernel.new_mm(), kernel.new_mm()
    addr = vm_mmap(mm, 0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    vm_mmap(other, 0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    for cpu in cpus[1:]:
        user_write(mm, cpu, addr, 1)  # three threads, each with a writable TLB entry
    user_read(other, cpus[3], addr)  # cpu3 switches to another mm: it leaves mm_cpumask
    assert mm.cpumask == {1, 2} and other.cpumask == {3}
    machine.enter_lazy_tlb(cpus[2])  # cpu2's thread sleeps: lazy TLB, still in the mask
    ipis = machine.counters[IPI]
    with machine.on_cpu(cpus[0]):
        do_mprotect(mm, addr, PAGE_SIZE, PROT_READ)
    assert machine.counters[IPI] - ipis == 1  # cpu1 only: cpu2 is lazy, cpu3 left
    for cpu in cpus[1:]:  # each catches up (cpu2, cpu3: tlb_gen moved) and is refused
        with pytest.raises(SegmentationFault):
            user_write(mm, cpu, addr, 2)
    assert user_read(mm, cpus[3], addr) == 1
