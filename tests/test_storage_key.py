"""s390's storage key (machine/storage_key.py) and the s390-2.6.27 backend that keeps Young and
Dirty there (arch/s390.py S390_2_6_27): the hardware sets R and C, software takes C through
page_mkclean and page_remove_rmap (2.6.27 mm/rmap.c), and the entry never has either."""

import pytest

from ptelab.arch import boot
from ptelab.cli import main
from ptelab.machine.counters import IDTE, IPTE_GLOBAL, ISKE, RRBE, SSKE
from ptelab.machine.memory import PG_dirty
from ptelab.machine.storage_key import _PAGE_CHANGED, _PAGE_REFERENCED
from ptelab.mm.fault import user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.mmap import MAP_SHARED, PROT_READ, PROT_WRITE, vm_mmap, vm_munmap
from ptelab.mm.page_writeback import writeback_mapping
from ptelab.mm.pgtable import pte_offset_map_lock, spin_unlock
from ptelab.pte import PAGE_SHARED, PAGE_SIZE, mk_pte, pte_dirty, pte_mkdirty, pte_mkyoung, pte_pfn, pte_young
from tests.conftest import anon_region

ARCH = "s390-2.6.27"


@pytest.fixture
def kernel():
    return Kernel(boot(ARCH, cpus=2, pages=512))


def shared_file(kernel, pages=1):
    mm = kernel.new_mm()
    mapping = kernel.new_file("f", pages)
    addr = vm_mmap(mm, 0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mapping)
    return mm, mapping, addr


def frame(mm, addr):
    return pte_pfn(mm.machine.arch.ptep_get(mm.pte_offset(addr)))


def test_loads_set_r_stores_set_r_and_c_and_a_reused_frame_starts_clean(kernel):
    machine = kernel.machine
    keys = machine.storage_keys
    mm, addr = anon_region(kernel, 1)
    user_write(mm, machine.cpus[0], addr, 3)
    pfn = frame(mm, addr)
    assert keys.key(pfn) == _PAGE_REFERENCED | _PAGE_CHANGED
    assert machine.counters[ISKE] == machine.counters[SSKE] == 0  # the hardware's, no instruction
    assert keys.rrbe(pfn) == 3 and keys.key(pfn) == _PAGE_CHANGED and machine.counters[RRBE] == 1
    assert keys.iske(pfn) == _PAGE_CHANGED and machine.counters[ISKE] == 1
    keys.sske(pfn, 0)
    assert not keys.changed(pfn) and machine.counters[SSKE] == 1
    assert user_read(mm, machine.cpus[0], addr) == 3  # a TLB hit: every access is recorded
    assert keys.key(pfn) == _PAGE_REFERENCED
    keys.sske(pfn, _PAGE_CHANGED)
    vm_munmap(mm, addr, PAGE_SIZE)
    assert machine.mem.is_free(pfn)
    while machine.mem.alloc_page() != pfn:  # (the page table was freed after it)
        pass
    assert keys.key(pfn) == 0  # a new allocation starts with the default key (SetPageUptodate, page-flags.h:243-249)


def test_entries_have_no_young_or_dirty(kernel):
    """pte_mkyoung and pte_mkdirty are no-ops and pte_young, pte_dirty 0 in 2.6.27
    (arch/s390/include/asm/pgtable.h:598-614, 707-739): nothing for ptep_set_access_flags to
    relax, and ptep_test_and_clear_young always 0 while the key keeps R."""
    machine = kernel.machine
    arch = machine.arch
    mm, addr = anon_region(kernel, 1)
    user_write(mm, machine.cpus[0], addr, 1)
    vma = mm.find_vma(addr)
    with machine.on_cpu(machine.cpus[0]):
        ptep, ptl = pte_offset_map_lock(mm, addr)
        pte = arch.ptep_get(ptep)
        assert not pte_young(pte) and not pte_dirty(pte)
        assert not arch.ptep_set_access_flags(vma, addr, ptep, pte_mkyoung(pte_mkdirty(pte)), 1)
        arch.ptep_clear_flush(vma, addr, ptep)
        arch.set_pte_at(mm, addr, ptep, pte_mkdirty(mk_pte(pte_pfn(pte), PAGE_SHARED)))
        assert not pte_dirty(arch.ptep_get(ptep))
        assert arch.ptep_test_and_clear_young(vma, addr, ptep) == 0
        assert arch.ptep_clear_flush_young(vma, addr, ptep) == 0
        spin_unlock(mm, ptl)
    assert machine.storage_keys.key(pte_pfn(pte)) & _PAGE_REFERENCED


def test_writeback_takes_the_change_bit_from_the_key(kernel):
    """page_mkclean write-protects the shared mapping, then tests and resets C and reports the
    page dirty (2.6.27 mm/rmap.c:495-512): the data reaches the file; a second writeback with
    no store between finds nothing to write."""
    machine = kernel.machine
    mm, mapping, addr = shared_file(kernel)
    user_write(mm, machine.cpus[1], addr, 9)
    pfn = frame(mm, addr)
    machine.mem.flags[pfn] &= ~PG_dirty  # only the key knows (the fault marked the page too)
    assert not pte_dirty(machine.arch.ptep_get(mm.pte_offset(addr)))
    assert writeback_mapping(machine.mem, mapping) == 1 and mapping.store[0] == 9
    assert not machine.storage_keys.changed(pfn)
    assert machine.counters[ISKE] >= 1 and machine.counters[SSKE] >= 1
    assert writeback_mapping(machine.mem, mapping) == 0


def test_unmapping_moves_the_change_bit_to_the_page(kernel):
    """page_remove_rmap, last mapping of a file page (2.6.27 mm/rmap.c:665-676)."""
    machine = kernel.machine
    mm, mapping, addr = shared_file(kernel)
    user_write(mm, machine.cpus[0], addr, 4)
    pfn = frame(mm, addr)
    machine.mem.flags[pfn] &= ~PG_dirty
    vm_munmap(mm, addr, PAGE_SIZE)
    assert machine.mem.flags[pfn] & PG_dirty and not machine.storage_keys.changed(pfn)
    assert writeback_mapping(machine.mem, mapping) == 1 and mapping.store[0] == 4


def test_an_anonymous_page_out_of_the_swap_cache_keeps_its_key(kernel):
    """Only a file or swap-cache page's C goes to PG_dirty: an anonymous page is about to be
    freed (mm/rmap.c:665-672, 2.6.27)."""
    machine = kernel.machine
    mm, addr = anon_region(kernel, 1)
    user_write(mm, machine.cpus[0], addr, 4)
    pfn = frame(mm, addr)
    machine.mem.get_page(pfn)  # keep the frame to look at it
    vm_munmap(mm, addr, PAGE_SIZE)
    assert not machine.mem.flags[pfn] & PG_dirty and machine.storage_keys.changed(pfn)


def test_a_one_user_mm_defers_the_purge_to_flush_tlb_range(kernel):
    """ptep_get_and_clear with mm_users <= 1 and the mm this CPU's is a plain clear, the TLB
    purged later by flush_tlb_range's IDTE; with another CPU in the mm it is an IPTE
    (pgtable.h:835-845, tlbflush.h:92-122, 2.6.27)."""
    machine = kernel.machine
    arch = machine.arch
    cpu0, cpu1 = machine.cpus
    mm, addr = anon_region(kernel, 2)
    vma = mm.find_vma(addr)
    user_write(mm, cpu0, addr, 1)
    with machine.on_cpu(cpu0):
        ptep, ptl = pte_offset_map_lock(mm, addr)
        arch.ptep_get_and_clear(mm, addr, ptep)
        assert machine.counters[IPTE_GLOBAL] == 0 and cpu0.tlb.holds(mm.context, addr)
        spin_unlock(mm, ptl)
        arch.flush_tlb_range(vma, addr, addr + PAGE_SIZE)
        assert machine.counters[IDTE] == 1 and not cpu0.tlb.holds(mm.context, addr)
    user_write(mm, cpu1, addr + PAGE_SIZE, 2)  # a second CPU joins the mm
    with machine.on_cpu(cpu0):
        ptep, ptl = pte_offset_map_lock(mm, addr + PAGE_SIZE)
        arch.ptep_get_and_clear(mm, addr + PAGE_SIZE, ptep)
        spin_unlock(mm, ptl)
    assert machine.counters[IPTE_GLOBAL] == 1 and not cpu1.tlb.holds(mm.context, addr + PAGE_SIZE)


def test_the_state_machine_shows_the_key(capsys):
    assert main(["states", "--arch", ARCH]) == 0
    assert "key R C" in capsys.readouterr().out  # lumped with "key R" by the kernel view
    assert main(["states", "--arch", "x86"]) == 0
    assert "key" not in capsys.readouterr().out
