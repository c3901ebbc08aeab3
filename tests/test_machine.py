import pytest

from ptelab.arch import boot
from ptelab.machine.coherence import stale_translations
from ptelab.machine.hash_table import HashPageTable, hpt_vpn
from ptelab.machine.memory import BadPageState
from ptelab.machine.tlb import TLB, tlb_key
from ptelab.machine.violation import USE_AFTER_FREE, InvariantViolation
from ptelab.mm.fault import user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.mmap import vm_munmap
from ptelab.mm.pgtable import pte_offset_map_lock, spin_unlock
from ptelab.mm.rmap import page_remove_rmap
from ptelab.pte import pte_pfn
from tests.conftest import anon_region


def test_frames_are_reused_last_in_first_out(kernel):
    mem = kernel.machine.mem
    a = mem.alloc_page()
    b = mem.alloc_page()
    mem.put_page(b)
    mem.put_page(a)
    assert mem.alloc_page() == a


def test_freeing_a_mapped_page_is_bad_page_state(kernel):
    mem = kernel.machine.mem
    page = mem.alloc_page()
    mem.mapcount[page] = 1
    with pytest.raises(BadPageState):
        mem.put_page(page)


def test_unmap_without_flush_is_a_use_after_free(arch_name):
    """Clear and free without the flush: cpu1's cached translation reaches the freed
    frame.  The hardware model sees it with debug mode off (debug mode would stop the
    free itself: tests/test_debug.py)."""
    kernel = Kernel(boot(arch_name, debug=False))
    machine = kernel.machine
    mm, addr = anon_region(kernel, 1)
    cpu0, cpu1 = machine.cpus
    user_write(mm, cpu1, addr, 5)
    arch, mem = machine.arch, machine.mem
    with machine.on_cpu(cpu0):
        ptep, ptl = pte_offset_map_lock(mm, addr)
        old = arch.ptep_get_and_clear(mm, addr, ptep)
        spin_unlock(mm, ptl)
        if machine.hash_table is not None:  # the hash entry goes at once outside lazy mode;
            cpu1.tlb.insert(tlb_key(mm.context, addr), (pte_pfn(old), mem.gen[pte_pfn(old)], True, 0))
        page_remove_rmap(mem, pte_pfn(old))
        mem.put_page(pte_pfn(old))  # freed with no flush
    if machine.arch.name in ("s390-6.12", "s390-2.6.27"):
        # ptep_get_and_clear purged every TLB itself: an IPTE, since the mm is attached to
        # another CPU (arch/s390/include/asm/pgtable.h:1160-1172, 1193-1204), or in 2.6.27
        # is not this CPU's (pgtable.h:835-845, 2.6.27)
        assert not stale_translations(machine) and not cpu1.tlb.holds(mm.context, addr)
        return
    assert stale_translations(machine)
    with pytest.raises(InvariantViolation) as caught:
        user_read(mm, cpu1, addr)
    assert caught.value.invariant == USE_AFTER_FREE and caught.value.pfn == pte_pfn(old)


def test_munmap_frees_frames_only_after_the_flush(kernel):
    machine = kernel.machine
    mm, addr = anon_region(kernel, 8)
    for i in range(8):
        user_write(mm, machine.cpus[i % 2], addr + i * 4096, i)
    frames = {pte_pfn(machine.arch.ptep_get(mm.pte_offset(addr + i * 4096))) for i in range(8)}
    arch = machine.arch
    seen = []
    real_flush = arch.tlb_flush

    def tlb_flush(tlb):
        seen.append(all(not machine.mem.is_free(f) for f in frames))
        real_flush(tlb)

    arch.tlb_flush = tlb_flush
    vm_munmap(mm, addr, 8 * 4096)
    assert seen == [True]
    assert all(machine.mem.is_free(f) for f in frames)
    assert not stale_translations(machine)


def test_tlb_drops_its_oldest_entry_when_full():
    tlb = TLB(capacity=2)
    tlb.insert(1, (1, 1, False, 0))
    tlb.insert(2, (2, 1, False, 0))
    tlb.insert(3, (3, 1, False, 0))
    assert list(tlb.entries) == [2, 3]


def test_hash_table_primary_secondary_and_eviction():
    hpt = HashPageTable(groups=256)
    vpn = hpt_vpn(1, 0x10000000)
    assert hpt.group(vpn, False) != hpt.group(vpn, True)
    slots = [hpt.insert(vpn + 0, 7, 0x2, False) for _ in range(8)]
    assert len(set(slots)) == 8 and hpt.insert(vpn, 7, 0x2, False) == -1
    assert hpt.insert(vpn, 7, 0x2, True) >= 0  # the secondary group has room
    freed = hpt.evict(vpn)
    assert hpt.group(vpn, False) <= freed < hpt.group(vpn, False) + 8
    assert not hpt.invalidate(freed, vpn)  # already gone: invalidation is harmless


def test_page_table_pages_are_frames_and_are_freed(arch_name):
    kernel = Kernel(boot(arch_name))
    mm, addr = anon_region(kernel, 4)
    user_write(mm, kernel.machine.cpus[0], addr, 1)
    assert len(kernel.machine.mem.ptes) == 1
    vm_munmap(mm, addr, 4 * 4096)
    assert not kernel.machine.mem.ptes and not mm.pmd
    assert kernel.machine.mem.frames_in_use() == 1  # the zero page
