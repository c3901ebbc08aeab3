"""The seed thread's powerpc bug, with the concurrent hash fault placed by hand.

mprotect's change_pte_range does, under the PTE lock and in lazy-MMU mode,
    old = ptep_modify_prot_start(); ptep_modify_prot_commit(pte_modify(old, prot))
On 2.6.27 the start clears the hashed PTE and only *queues* the hash invalidation;
the commit writes a valid PTE without _PAGE_HASHPTE.  A store from another CPU that
faults on the old, read-only HPTE now runs hash_page, finds the PTE unhashed and
inserts a second HPTE for the same page.  6.12's start only marks the entry invalid,
but its commit (a plain set_pte_at) strips the slot all the same.  The seed's fix
(ppc64-2.6.27+fix) issues the queued invalidation in ptep_modify_prot_start; the 6.12
fixes keep the slot in the commit (+fix) or issue the batch there (+flush).
"""

import pytest

from ptelab.arch import boot
from ptelab.machine.hash_table import hpt_vpn
from ptelab.machine.violation import DUPLICATE_HASH_ENTRY, InvariantViolation
from ptelab.mm.fault import user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap
from ptelab.mm.mprotect import do_mprotect
from ptelab.mm.pgtable import pte_offset_map_lock, spin_unlock
from ptelab.pte import PAGE_SHARED, pte_modify


def setup(arch_name):
    """A dirty page, read-only, hashed read-only on cpu1: mprotect is about to make it
    writable again."""
    kernel = Kernel(boot(arch_name, cpus=2))
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    cpu0, cpu1 = kernel.machine.cpus
    user_write(mm, cpu0, addr, 1)
    do_mprotect(mm, addr, 4096, PROT_READ)
    assert user_read(mm, cpu1, addr) == 1
    return kernel, mm, addr


def racing_mprotect(kernel, mm, addr):
    """change_pte_range for one page, with cpu1's store between commit and leave."""
    machine = kernel.machine
    arch = machine.arch
    cpu0, cpu1 = machine.cpus
    vma = mm.find_vma(addr)
    vma.flags |= 0x2  # VM_WRITE, as mprotect_fixup sets it before change_protection
    with machine.on_cpu(cpu0):
        ptep, ptl = pte_offset_map_lock(mm, addr)
        arch.arch_enter_lazy_mmu_mode()
        old = arch.ptep_modify_prot_start(vma, addr, ptep)
        arch.ptep_modify_prot_commit(vma, addr, ptep, old, pte_modify(old, PAGE_SHARED))
        user_write(mm, cpu1, addr, 2)  # the concurrent hash fault, placed here
        arch.arch_leave_lazy_mmu_mode()
        spin_unlock(mm, ptl)


@pytest.mark.parametrize("arch_name", ["ppc64-2.6.27", "ppc64-6.12"])
def test_2_6_27_and_6_12_create_a_duplicate_hash_entry(arch_name):
    kernel, mm, addr = setup(arch_name)
    with pytest.raises(InvariantViolation) as caught:
        racing_mprotect(kernel, mm, addr)
    assert caught.value.invariant == DUPLICATE_HASH_ENTRY
    assert caught.value.va == addr and caught.value.cpu == 1


@pytest.mark.parametrize("arch_name", ["ppc64-2.6.27+fix", "ppc64-6.12+fix", "ppc64-6.12+flush", "x86"])
def test_fixed_variants_and_x86_do_not(arch_name):
    kernel, mm, addr = setup(arch_name)
    racing_mprotect(kernel, mm, addr)
    assert user_read(mm, kernel.machine.cpus[0], addr) == 2
    hpt = kernel.machine.hash_table
    if hpt is not None:
        assert len(hpt.valid_slots(hpt_vpn(mm.context, addr))) == 1


def test_the_race_needs_the_interleaving():
    """Run sequentially, the 2.6.27 mprotect is harmless: the bug is the race."""
    kernel, mm, addr = setup("ppc64-2.6.27")
    do_mprotect(mm, addr, 4096, PROT_READ | PROT_WRITE)
    user_write(mm, kernel.machine.cpus[1], addr, 3)
    assert user_read(mm, kernel.machine.cpus[0], addr) == 3
