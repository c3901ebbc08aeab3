"""Each rule broken on purpose is caught by debug mode on every backend; the correct
sequence passes.  The sequences are what core code would write."""

import pytest

from ptelab.arch import boot
from ptelab.arch.generic import GenericArch
from ptelab.debug import RuleViolation
from ptelab.mm.fault import user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.madvise import MADV_FREE, do_madvise
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap
from ptelab.mm.pgtable import pte_alloc, pte_lockptr, spin_lock, spin_unlock
from ptelab.pte import (PAGE_READONLY, PAGE_SHARED, mk_pte, pte_dirty, pte_mkdirty, pte_modify, pte_wrprotect, swp_entry,
                        swp_entry_to_pte)
from ptelab.pte import _PAGE_RW
from ptelab.rules import DEBUG, RULES


class Page:
    """One mapped, written page; kernel code runs on cpu0 (self.arch is the debug wrapper)."""

    def __init__(self, arch_name):
        self.kernel = Kernel(boot(arch_name, debug=True))
        self.machine = self.kernel.machine
        self.arch = self.machine.arch
        self.mm = self.kernel.new_mm()
        self.addr = vm_mmap(self.mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        self.vma = self.mm.find_vma(self.addr)
        self.cpu0, self.cpu1 = self.machine.cpus
        user_write(self.mm, self.cpu1, self.addr, 7)
        self.machine.this_cpu = self.cpu0
        self.ptep = self.mm.pte_offset(self.addr)
        self.ptl = self.machine.mem.ptl[self.ptep >> 9]
        self.frame = self.arch.ptep_get(self.ptep) >> 16

    def lock(self):
        spin_lock(self.mm, self.ptl)

    def unlock(self):
        spin_unlock(self.mm, self.ptl)


@pytest.fixture
def page(arch_name):
    return Page(arch_name)


def broken(page, rule_id):
    return pytest.raises(RuleViolation, match=rf"^\[{rule_id}\]")


def test_every_debug_rule_has_a_test_here():
    names = {name for name in globals() if name.startswith("test_")}
    for rule in RULES:
        if rule.check == DEBUG:
            assert f"test_{rule.id.replace('-', '_')}" in names, rule.id


def test_set_nonvalid(page):
    page.lock()
    with broken(page, "set-nonvalid"):  # the pre-2.6 COW: set_pte_at over the old entry
        page.arch.set_pte_at(page.mm, page.addr, page.ptep, mk_pte(page.frame, PAGE_SHARED))
    page.arch.ptep_clear_flush(page.vma, page.addr, page.ptep)
    page.arch.set_pte_at(page.mm, page.addr, page.ptep, mk_pte(page.frame, PAGE_SHARED))
    page.unlock()


def test_relax_only(page):
    page.lock()
    current = page.arch.ptep_get(page.ptep)
    with broken(page, "relax-only"):
        page.arch.ptep_set_access_flags(page.vma, page.addr, page.ptep, pte_wrprotect(current), 1)
    page.arch.ptep_set_access_flags(page.vma, page.addr, page.ptep, pte_mkdirty(current), 1)
    page.unlock()


def test_prot_pairing(page):
    page.lock()
    page.arch.arch_enter_lazy_mmu_mode()
    old = page.arch.ptep_modify_prot_start(page.vma, page.addr, page.ptep)
    with broken(page, "prot-pairing"):
        page.arch.ptep_modify_prot_start(page.vma, page.addr, page.ptep)
    page.arch.ptep_modify_prot_commit(page.vma, page.addr, page.ptep, old, pte_modify(old, PAGE_READONLY))
    with broken(page, "prot-pairing"):  # a commit with no start
        page.arch.ptep_modify_prot_commit(page.vma, page.addr, page.ptep, old, old)
    page.arch.arch_leave_lazy_mmu_mode()
    page.unlock()


def test_lock_held(page):
    with broken(page, "lock-held"):
        page.arch.ptep_set_wrprotect(page.mm, page.addr, page.ptep)
    page.lock()
    page.arch.ptep_set_wrprotect(page.mm, page.addr, page.ptep)
    page.unlock()


def test_wrprotect_ptes_is_checked_entry_by_entry(page):
    """wrprotect_ptes(nr): the lock-held and lazy-no-readback checks of each entry, the
    generic loop's ptep_set_wrprotect (include/linux/pgtable.h:835-864) or arm64's own."""
    with broken(page, "lock-held"):
        page.arch.wrprotect_ptes(page.mm, page.addr, page.ptep, 1)
    page.lock()
    page.arch.arch_enter_lazy_mmu_mode()
    page.arch.ptep_clear_flush(page.vma, page.addr, page.ptep)
    page.arch.set_pte_at(page.mm, page.addr, page.ptep, mk_pte(page.frame, PAGE_SHARED))
    with broken(page, "lazy-no-readback"):
        page.arch.wrprotect_ptes(page.mm, page.addr, page.ptep, 1)
    page.arch.arch_leave_lazy_mmu_mode()
    page.arch.wrprotect_ptes(page.mm, page.addr, page.ptep, 1)
    assert not page.arch.ptep_get(page.ptep) & _PAGE_RW
    page.unlock()


def test_lazy_no_readback(page):
    page.lock()
    page.arch.ptep_clear_flush(page.vma, page.addr, page.ptep)
    page.arch.arch_enter_lazy_mmu_mode()
    page.arch.ptep_get(page.ptep)  # reading before writing is fine
    page.arch.set_pte_at(page.mm, page.addr, page.ptep, mk_pte(page.frame, PAGE_READONLY))
    with broken(page, "lazy-no-readback"):  # Xen: still the old value until leave
        page.arch.ptep_get(page.ptep)
    page.arch.arch_leave_lazy_mmu_mode()
    assert page.arch.ptep_get(page.ptep) == mk_pte(page.frame, PAGE_READONLY)  # after leave: fine
    page.unlock()


def test_flush_before_reuse(page):
    """The seed thread's sequence inside a lazy-MMU section: get_and_clear, then set_pte_at,
    no flush issued between.  A flush_tlb_* in the section counts only at its end."""
    page.lock()
    page.arch.arch_enter_lazy_mmu_mode()
    old = page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    page.arch.flush_tlb_page(page.vma, page.addr)  # a no-op on hash until the batch is issued
    with broken(page, "flush-before-reuse"):
        page.arch.set_pte_at(page.mm, page.addr, page.ptep, pte_modify(old, PAGE_READONLY))
    page.arch.arch_leave_lazy_mmu_mode()
    page.unlock()


def test_reuse_after_the_lazy_section(page):
    """Outside a section the hash invalidation is immediate; after one, the batch was issued."""
    page.lock()
    old = page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    page.arch.set_pte_at(page.mm, page.addr, page.ptep, pte_modify(old, PAGE_READONLY))
    page.arch.arch_enter_lazy_mmu_mode()
    old = page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    page.arch.arch_leave_lazy_mmu_mode()
    page.arch.set_pte_at(page.mm, page.addr, page.ptep, pte_modify(old, PAGE_READONLY))
    page.unlock()
    page.arch.flush_tlb_page(page.vma, page.addr)


def test_flush_before_free(page):
    mem = page.machine.mem
    page.lock()
    page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    page.unlock()
    mem.mapcount[page.frame] = 0
    with broken(page, "flush-before-free"):
        mem.put_page(page.frame)
    page.arch.flush_tlb_mm(page.mm)
    mem.put_page(page.frame)
    assert mem.is_free(page.frame)


def test_flush_before_unlock(page):
    page.lock()
    page.arch.arch_enter_lazy_mmu_mode()
    with broken(page, "flush-before-unlock"):
        page.unlock()
    page.arch.arch_leave_lazy_mmu_mode()
    page.unlock()


def test_atomic_clear(page):
    page.lock()
    with broken(page, "atomic-clear"):
        page.arch.pte_clear(page.mm, page.addr, page.ptep)
    page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    page.arch.pte_clear(page.mm, page.addr, page.ptep)  # clearing a none entry is fine
    page.arch.flush_tlb_page(page.vma, page.addr)
    page.unlock()


def test_break_before_make(page):
    other = page.machine.mem.alloc_page()
    page.lock()
    page.arch.arch_enter_lazy_mmu_mode()
    old = page.arch.ptep_modify_prot_start(page.vma, page.addr, page.ptep)
    with broken(page, "break-before-make"):
        page.arch.ptep_modify_prot_commit(page.vma, page.addr, page.ptep, old, mk_pte(other, PAGE_READONLY))
    page.arch.ptep_modify_prot_commit(page.vma, page.addr, page.ptep, old, pte_modify(old, PAGE_READONLY))
    page.arch.arch_leave_lazy_mmu_mode()
    page.unlock()


def test_break_before_make_by_set_pte_at(page):
    """Another frame written over a clear that only a TLBI without its DSB covered: the
    DSB of the CPU that issued it makes the clear flushed, another CPU's does not."""
    other = page.machine.mem.alloc_page()
    page.lock()
    page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    page.arch.flush_tlb_page_nosync(page.vma, page.addr)
    page.machine.this_cpu = page.cpu1
    page.arch.dsb_ish()  # cpu1's: cpu0's TLBI is still pending
    page.machine.this_cpu = page.cpu0
    with broken(page, "break-before-make"):
        page.arch.set_pte_at(page.mm, page.addr, page.ptep, mk_pte(other, PAGE_READONLY))
    page.arch.dsb_ish()
    page.arch.set_pte_at(page.mm, page.addr, page.ptep, mk_pte(other, PAGE_READONLY))
    page.unlock()


def test_swap_entries_may_be_set_over_an_unflushed_clear(page):
    """try_to_unmap_one with the batched flush: clear, then a swap entry, flush later."""
    page.lock()
    page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    page.arch.set_pte_at(page.mm, page.addr, page.ptep, swp_entry_to_pte(swp_entry(0, 5)))
    page.unlock()


def test_violation_names_rule_accessor_entry_and_caller(page):
    with pytest.raises(RuleViolation) as caught:
        page.arch.ptep_set_wrprotect(page.mm, page.addr, page.ptep)
    err = caught.value
    assert err.rule == "lock-held" and err.accessor == "ptep_set_wrprotect"
    assert err.pte_before >> 16 == page.frame
    assert "test_debug.py" in err.where and "test_violation_names" in err.where


def test_madvise_free_breaks_flush_before_reuse_wherever_the_generic_code_runs(page):
    """A finding of the model: MADV_FREE clears a young entry and sets the cleaned one
    back inside lazy-MMU mode with no flush (mm/madvise.c madvise_free_pte_range), through
    the generic clear_young_dirty_ptes; arm64's own cleans the live entry in place
    (pgtable.h:1385-1405), with no clear to reuse, and so do the ppc64-6.12 fixes;
    s390-2.6.27's entry has no Young or Dirty to clean (its store is in the storage key,
    which MADV_FREE resets instead)."""
    keys = page.machine.storage_keys
    if keys is not None:
        assert keys.changed(page.frame)
        do_madvise(page.mm, page.addr, 4096, MADV_FREE)
        assert not keys.changed(page.frame)
        return
    if type(page.arch._arch).clear_young_dirty_ptes is not GenericArch.clear_young_dirty_ptes:
        do_madvise(page.mm, page.addr, 4096, MADV_FREE)
        assert not pte_dirty(page.mm.entry(page.addr))
        return
    with broken(page, "flush-before-reuse"):
        do_madvise(page.mm, page.addr, 4096, MADV_FREE)


def test_debug_mode_can_be_off(arch_name):
    kernel = Kernel(boot(arch_name, debug=False))
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    user_write(mm, kernel.machine.cpus[0], addr, 1)
    do_madvise(mm, addr, 4096, MADV_FREE)
    assert user_read(mm, kernel.machine.cpus[1], addr) == 1
    assert kernel.machine.debug is None


def test_set_ptes_putting_back_what_was_cleared_is_judged_per_entry(arch_name):
    """Entry i of set_ptes maps frame pte+i: putting back exactly what two clears took is
    allowed for every entry, a different value is not."""
    kernel = Kernel(boot(arch_name, debug=True))
    machine = kernel.machine
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    machine.this_cpu = machine.cpus[0]
    ptep = pte_alloc(mm, addr)
    arch = machine.arch
    first = mk_pte(machine.mem.alloc_page(), PAGE_READONLY)
    spin_lock(mm, pte_lockptr(mm, ptep))
    arch.set_ptes(mm, addr, ptep, first, 2)
    arch.arch_enter_lazy_mmu_mode()
    for i in range(2):
        arch.ptep_get_and_clear(mm, addr + i * 4096, ptep + i)
    arch.set_ptes(mm, addr, ptep, first, 2)  # exactly what was cleared, entry by entry
    arch.arch_leave_lazy_mmu_mode()
    arch.arch_enter_lazy_mmu_mode()
    for i in range(2):
        arch.ptep_get_and_clear(mm, addr + i * 4096, ptep + i)
    with pytest.raises(RuleViolation, match=r"^\[flush-before-reuse\]"):
        arch.set_ptes(mm, addr, ptep, pte_modify(first, PAGE_SHARED), 2)


def test_flush_dirty_shared_before_unlock(page):
    """A dirty entry of a page that is not anonymous (its Dirty goes to the page) is flushed
    before the unlock; an anonymous page's clear may wait for the mmu_gather."""
    from ptelab.machine.memory import PG_anon
    page.lock()
    page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)  # anonymous: no breach at unlock
    page.unlock()
    page.arch.flush_tlb_page(page.vma, page.addr)
    user_write(page.mm, page.cpu1, page.addr, 8)
    page.machine.this_cpu = page.cpu0
    frame = page.arch.ptep_get(page.ptep) >> 16  # the page faulted in again
    page.machine.mem.flags[frame] &= ~PG_anon  # as a shared file page
    page.lock()
    old = page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    if page.machine.storage_keys is not None:  # s390-2.6.27: pte_dirty is 0 (pgtable.h:598-605)
        assert not pte_dirty(old)
        page.unlock()  # no dirty entry was cleared: nothing owed
        return
    assert pte_dirty(old)
    with broken(page, "flush-dirty-shared-before-unlock"):
        page.unlock()
    page.unlock()
    page.lock()  # flushed before the unlock: fine
    page.arch.set_pte_at(page.mm, page.addr, page.ptep, old)
    page.arch.ptep_get_and_clear(page.mm, page.addr, page.ptep)
    page.arch.flush_tlb_page(page.vma, page.addr)
    page.unlock()
