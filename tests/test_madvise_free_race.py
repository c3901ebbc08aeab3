"""What flush-before-reuse prevents, shown on MADV_FREE (a finding of the model).

madvise_free_pte_range clears a young entry with ptep_get_and_clear_full and writes
the cleaned, old entry back with set_pte_at, inside lazy-MMU mode, flushing only at
tlb_finish_mmu.  On a hash MMU the clear only queues the invalidation of the old
HPTE; if that HPTE is read-only (the page was clean when hashed) and another CPU
stores to the page before the batch is issued, hash_page finds the new entry
unhashed and inserts a second HPTE.  The seed's fix (ppc64-2.6.27+fix) changes only
ptep_modify_prot_start, so it shows this too; x86 does not, nor do the 6.12 fixes.
"""

import pytest

from ptelab.arch import boot
from ptelab.machine.hash_table import hpt_vpn
from ptelab.machine.violation import DUPLICATE_HASH_ENTRY, InvariantViolation
from ptelab.mm.fault import user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.madvise import MADV_FREE, do_madvise
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap


def madv_free_with_racing_store(arch_name):
    kernel = Kernel(boot(arch_name, debug=False))
    machine = kernel.machine
    cpu0, cpu1 = machine.cpus
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    user_write(mm, cpu0, addr, 1)
    do_madvise(mm, addr, 4096, MADV_FREE)  # clean and old, still writable
    assert user_read(mm, cpu1, addr) == 1  # young again, hashed read-only
    set_pte_at = machine.arch.set_pte_at

    def set_then_store(mm_, va, ptep, pte):
        set_pte_at(mm_, va, ptep, pte)
        user_write(mm, cpu1, addr, 2)  # cpu1's store, placed right after the re-set

    machine.arch.set_pte_at = set_then_store
    if "+" in arch_name:  # the fixes' clear_young_dirty_ptes sets nothing: store after it
        clear = machine.arch.clear_young_dirty_ptes

        def clear_then_store(*args):
            clear(*args)
            user_write(mm, cpu1, addr, 2)

        machine.arch.clear_young_dirty_ptes = clear_then_store
    do_madvise(mm, addr, 4096, MADV_FREE)
    return kernel, mm, addr


@pytest.mark.parametrize("arch_name", ["ppc64-6.12", "ppc64-2.6.27", "ppc64-2.6.27+fix"])
def test_hash_mmus_get_a_duplicate_hash_entry(arch_name):
    with pytest.raises(InvariantViolation) as caught:
        madv_free_with_racing_store(arch_name)
    assert caught.value.invariant == DUPLICATE_HASH_ENTRY


@pytest.mark.parametrize("arch_name", ["x86", "ppc64-6.12+fix", "ppc64-6.12+flush"])
def test_x86_and_the_6_12_fixes_do_not(arch_name):
    """The fixes' clear_young_dirty_ptes keeps the entry hashed: the store's hash fault
    updates the old slot in place (it is invalidated with the batch)."""
    kernel, mm, addr = madv_free_with_racing_store(arch_name)  # no duplicate raised
    hpt = kernel.machine.hash_table
    if hpt is not None:  # the slot the store updated went with the batch
        assert not hpt.valid_slots(hpt_vpn(mm.context, addr))
    assert user_read(mm, kernel.machine.cpus[0], addr) == 2


def test_madvise_free_goes_through_the_generic_clear_young_dirty_ptes():
    """6.12's madvise_free_pte_range calls clear_young_dirty_ptes (mm/madvise.c:776);
    debug mode checks the accessors the generic version is built of, and names the
    generic caller as the one breaking flush-before-reuse."""
    from ptelab.debug import RuleViolation

    kernel = Kernel(boot("x86"))
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    user_write(mm, kernel.machine.cpus[0], addr, 1)
    with pytest.raises(RuleViolation) as caught:
        do_madvise(mm, addr, 4096, MADV_FREE)
    assert caught.value.rule == "flush-before-reuse" and caught.value.accessor == "set_pte_at"
    assert "madvise_free_pte_range" in caught.value.where
    assert "clear_young_dirty_ptes" in [entry.name for entry in caught.traceback]
