"""hash_page's hpte_updatepp ends with a tlbie (native_hpte_updatepp): on 6.12 unless the
fault found no HPTE (HPTE_NOHPTE_UPDATE), on 2.6.27 always, hit or miss.  Every CPU's
translation of the page goes with it."""

import pytest

from ptelab.arch import boot
from ptelab.machine.counters import TLBIE
from ptelab.mm.fault import user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap
from ptelab.mm.pgtable import pte_offset_map_lock, spin_unlock
from ptelab.pte import pte_mkclean


def hashed_read_only_on_cpu1(arch_name):
    """A writable page whose entry is clean: hashed read-only (htab_convert_pte_flags), and
    cpu1's TLB holds that read-only translation."""
    kernel = Kernel(boot(arch_name, cpus=2))
    machine = kernel.machine
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    cpu0, cpu1 = machine.cpus
    user_write(mm, cpu0, addr, 1)
    arch = machine.arch
    with machine.on_cpu(cpu0):
        ptep, ptl = pte_offset_map_lock(mm, addr)
        old = arch.ptep_get_and_clear(mm, addr, ptep)  # (its HPTE and translations go)
        arch.set_pte_at(mm, addr, ptep, pte_mkclean(old))
        spin_unlock(mm, ptl)
    assert user_read(mm, cpu1, addr) == 1
    assert cpu1.tlb.holds(mm.context, addr)
    return machine, mm, addr


@pytest.mark.parametrize("arch_name", ["ppc64-6.12", "ppc64-2.6.27"])
def test_a_store_to_a_read_only_hpte_flushes_every_cpus_translation(arch_name):
    machine, mm, addr = hashed_read_only_on_cpu1(arch_name)
    cpu0, cpu1 = machine.cpus
    before = machine.counters[TLBIE]
    user_write(mm, cpu0, addr, 2)  # a protection fault: hash_page updates the HPTE in place
    assert machine.counters[TLBIE] == before + 1
    assert not cpu1.tlb.holds(mm.context, addr)
    assert user_read(mm, cpu1, addr) == 2


@pytest.mark.parametrize("arch_name,flushes", [("ppc64-6.12", False), ("ppc64-2.6.27", True)])
def test_a_fault_that_finds_no_hpte_flushes_only_on_2_6_27(arch_name, flushes):
    """The HPTE the entry records is gone without a tlbie (an eviction, hpte_remove): cpu1
    keeps its translation until the next tlbie of the page.  cpu0's access misses in the
    hash table, hash_page's update misses the recorded slot and inserts anew."""
    machine, mm, addr = hashed_read_only_on_cpu1(arch_name)
    cpu0, cpu1 = machine.cpus
    hpt = machine.hash_table
    vpn = hpt.vpn(mm.context, addr)
    slot = hpt.find(vpn)
    assert slot >= 0 and hpt.invalidate(slot, vpn)
    before = machine.counters[TLBIE]
    assert user_read(mm, cpu0, addr) == 1
    assert (machine.counters[TLBIE] - before, cpu1.tlb.holds(mm.context, addr)) == (int(flushes), not flushes)
