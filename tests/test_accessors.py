"""Per-accessor semantics on every backend, in the spirit of mm/debug_vm_pgtable.c."""

import pytest

from ptelab.arch.ppc64_hash import _PAGE_HASHPTE
from ptelab.machine import FAULT
from ptelab.machine.counters import ATOMIC_RMW, TLB_FLUSH_FULL, TLB_FLUSH_PAGE
from ptelab.machine.hash_table import hpt_vpn
from ptelab.machine.storage_key import _PAGE_REFERENCED
from ptelab.mm.pgtable import pte_alloc, pte_lockptr, spin_lock
from ptelab.pte import (
    pte_present,
    pte_accessible,
    ARCH_MASK,
    PAGE_SHARED,
    PAGE_READONLY,
    mk_pte,
    pte_dirty,
    pte_mkdirty,
    pte_mkyoung,
    pte_modify,
    pte_none,
    pte_pfn,
    pte_write,
    pte_young,
)
from tests.conftest import anon_region


class Setup:
    def __init__(self, kernel):
        self.kernel = kernel
        self.machine = kernel.machine
        self.arch = kernel.machine.arch
        self.mm, self.addr = anon_region(kernel, 64)
        self.vma = self.mm.find_vma(self.addr)
        self.ptep = pte_alloc(self.mm, self.addr)
        self.page = self.machine.mem.alloc_page()
        self.cpu0, self.cpu1 = self.machine.cpus
        for cpu in self.machine.cpus:
            self.machine.switch_mm(cpu, self.mm)

    def install(self, prot=PAGE_SHARED, extra=0):
        self.arch.set_pte_at(self.mm, self.addr, self.ptep, mk_pte(self.page, prot) | extra)

    def pte(self):
        return self.arch.ptep_get(self.ptep)

    def touch(self, cpu, write):
        """A user access by cpu.  Where software keeps Young and Dirty (s390), the hardware
        faults on an old or clean entry and handle_pte_fault's fix-up makes it young (and
        dirty): done here directly, since the test already holds the PTE lock."""
        pfn = self.machine.translate(cpu, self.mm, self.addr, write)
        if pfn == FAULT and self.arch.software_young and (not write or pte_write(self.pte())):
            entry = pte_mkyoung(pte_mkdirty(self.pte()) if write else self.pte())
            self.arch.ptep_set_access_flags(self.vma, self.addr, self.ptep, entry, write)
            pfn = self.machine.translate(cpu, self.mm, self.addr, write)
        return pfn

    def young(self, pte=None) -> bool:
        """Young of the entry (by default the current one), wherever the architecture keeps
        it: in the entry, or (s390-2.6.27) in the storage key of the frame it maps."""
        pte = self.pte() if pte is None else pte
        keys = self.machine.storage_keys
        return pte_young(pte) or keys is not None and bool(keys.key(pte_pfn(pte)) & _PAGE_REFERENCED)

    def dirty(self, pte=None) -> bool:
        """Dirty, likewise (the key's change bit on s390-2.6.27)."""
        pte = self.pte() if pte is None else pte
        keys = self.machine.storage_keys
        return pte_dirty(pte) or keys is not None and keys.changed(pte_pfn(pte))

    def cached_anywhere(self):
        if any(cpu.tlb.holds(self.mm.context, self.addr) for cpu in self.machine.cpus):
            return True
        hpt = self.machine.hash_table
        return hpt is not None and hpt.find(hpt.vpn(self.mm.context, self.addr)) >= 0


@pytest.fixture
def s(kernel):
    """Accessors run on cpu0 holding the PTE lock, as kernel code does."""
    setup = Setup(kernel)
    with kernel.machine.on_cpu(setup.cpu0):
        spin_lock(setup.mm, pte_lockptr(setup.mm, setup.ptep))
        yield setup


def generic(pte):
    return pte & ~ARCH_MASK


def test_set_pte_at_then_get(s):
    s.install()
    assert generic(s.pte()) == mk_pte(s.page, PAGE_SHARED)


def test_set_ptes_maps_consecutive_frames(s):
    s.arch.set_ptes(s.mm, s.addr, s.ptep, mk_pte(s.page, PAGE_SHARED), 4)
    assert [pte_pfn(s.arch.ptep_get(s.ptep + i)) for i in range(4)] == [s.page + i for i in range(4)]


def test_hardware_sets_accessed_and_dirty(s):
    s.install()
    assert s.touch(s.cpu1, write=False) == s.page
    assert s.young() and not s.dirty()
    assert s.touch(s.cpu1, write=True) == s.page
    assert s.dirty()


def test_get_and_clear_returns_hardware_dirty_and_clears(s):
    s.install()
    s.touch(s.cpu1, write=True)
    old = s.arch.ptep_get_and_clear(s.mm, s.addr, s.ptep)
    assert s.dirty(old) and s.young(old) and pte_pfn(old) == s.page
    assert pte_none(s.pte())


def test_clear_flush_leaves_no_translation_anywhere(s):
    s.install()
    s.touch(s.cpu0, write=True)
    s.touch(s.cpu1, write=False)
    assert s.cached_anywhere()
    s.arch.ptep_clear_flush(s.vma, s.addr, s.ptep)
    assert not s.cached_anywhere()
    assert s.touch(s.cpu1, write=False) == FAULT


def test_set_wrprotect_keeps_dirty_and_stops_stores_after_flush(s):
    s.install()
    s.touch(s.cpu1, write=True)
    s.arch.ptep_set_wrprotect(s.mm, s.addr, s.ptep)
    assert not pte_write(s.pte()) and s.dirty()
    s.arch.flush_tlb_page(s.vma, s.addr)
    assert s.touch(s.cpu1, write=True) == FAULT
    assert s.touch(s.cpu1, write=False) == s.page


def test_set_access_flags_relaxes(s):
    if s.arch.name == "s390-2.6.27":
        pytest.skip("no Young or Dirty in the entry to relax: test_s390_2_6_27_entries_have_no_young_or_dirty")
    s.install(PAGE_READONLY)
    entry = pte_mkyoung(pte_mkdirty(s.pte()))
    assert s.arch.ptep_set_access_flags(s.vma, s.addr, s.ptep, entry, 1)
    assert pte_young(s.pte()) and pte_dirty(s.pte()) and not pte_write(s.pte())
    assert not s.arch.ptep_set_access_flags(s.vma, s.addr, s.ptep, s.pte(), 1)


def test_test_and_clear_young(s):
    if s.arch.name == "s390-2.6.27":
        pytest.skip("always 0 there: test_s390_2_6_27_young_is_the_keys")
    s.install()
    s.touch(s.cpu1, write=False)
    assert s.arch.ptep_test_and_clear_young(s.vma, s.addr, s.ptep) == 1
    assert not pte_young(s.pte())
    assert s.arch.ptep_test_and_clear_young(s.vma, s.addr, s.ptep) == 0


def test_clear_flush_young(s):
    if s.arch.name == "s390-2.6.27":
        pytest.skip("always 0 there: test_s390_2_6_27_young_is_the_keys")
    s.install()
    s.touch(s.cpu1, write=False)
    assert s.arch.ptep_clear_flush_young(s.vma, s.addr, s.ptep) == 1
    assert not pte_young(s.pte())


def test_modify_prot_start_commit(s):
    s.install(extra=0)
    s.touch(s.cpu1, write=True)
    s.arch.arch_enter_lazy_mmu_mode()
    old = s.arch.ptep_modify_prot_start(s.vma, s.addr, s.ptep)
    # start clears the entry; Xen's only reads it, and its commit keeps the A/D bits;
    # s390's leaves it present to software but invalid to the hardware (IPTE), and so does
    # ppc64-6.12's (_PAGE_INVALID, mm/book3s64/pgtable.c:534-546), which stays hashed
    if s.arch.name.startswith("ppc64-6.12"):
        assert pte_present(s.pte()) and not pte_accessible(s.pte()) and s.pte() & _PAGE_HASHPTE
    else:
        assert pte_none(s.pte()) == (s.arch.name not in ("xen", "s390-6.12"))
    if s.arch.name == "s390-6.12":
        assert s.machine.translate(s.cpu1, s.mm, s.addr, False) == FAULT
    s.arch.ptep_modify_prot_commit(s.vma, s.addr, s.ptep, old, pte_modify(old, PAGE_READONLY))
    s.arch.arch_leave_lazy_mmu_mode()
    assert generic(s.pte()) == generic(pte_modify(old, PAGE_READONLY))
    assert s.dirty() and not pte_write(s.pte())
    s.arch.flush_tlb_page(s.vma, s.addr)
    assert s.touch(s.cpu1, write=True) == FAULT


def test_test_and_clear_young_is_atomic_only_where_the_arch_says(s):
    s.install()
    s.touch(s.cpu1, write=False)
    before = s.machine.counters[ATOMIC_RMW]
    s.arch.ptep_test_and_clear_young(s.vma, s.addr, s.ptep)
    # one atomic update; ppc32 then flushes the hashed entry, clearing its hash bit atomically too;
    # s390-2.6.27 returns 0 without touching the entry (pgtable.h:747-770, 2.6.27)
    assert s.machine.counters[ATOMIC_RMW] == before + {"ppc32": 2, "s390-2.6.27": 0}.get(s.arch.name, 1)


# ---- x86 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("arch_name", ["x86"])
def test_x86_walker_never_sets_dirty_on_a_cleared_entry(s):
    s.install()
    assert s.touch(s.cpu1, write=False) == s.page  # TLB: RW but clean
    s.arch.ptep_get_and_clear(s.mm, s.addr, s.ptep)  # no flush yet
    assert s.touch(s.cpu1, write=True) == FAULT  # the store must walk to set D, and faults
    assert s.pte() == 0
    # the fault invalidated the stale entry (SDM 4.10.4.1), so a load faults too
    assert s.touch(s.cpu1, write=False) == FAULT


@pytest.mark.parametrize("arch_name", ["x86"])
def test_x86_full_teardown_clear_is_not_atomic(s):
    s.install()
    before = s.machine.counters[ATOMIC_RMW]
    s.arch.ptep_get_and_clear_full(s.mm, s.addr, s.ptep, 1)
    assert s.machine.counters[ATOMIC_RMW] == before
    s.install()
    s.arch.ptep_get_and_clear_full(s.mm, s.addr, s.ptep, 0)
    assert s.machine.counters[ATOMIC_RMW] == before + 1


@pytest.mark.parametrize("arch_name", ["x86"])
def test_x86_flushes_pages_up_to_the_ceiling_then_everything(s):
    s.arch.flush_tlb_range(s.vma, s.addr, s.addr + 33 * 4096)
    assert s.machine.counters[TLB_FLUSH_PAGE] == 33 and s.machine.counters[TLB_FLUSH_FULL] == 0
    s.arch.flush_tlb_range(s.vma, s.addr, s.addr + 34 * 4096)
    assert s.machine.counters[TLB_FLUSH_FULL] == 1


# ---- powerpc64 hash -------------------------------------------------------------------------

ppc = pytest.mark.parametrize("arch_name", ["ppc64-6.12", "ppc64-2.6.27"])


@ppc
def test_hash_page_records_slot_and_updates_it_in_place(s):
    s.install()
    s.touch(s.cpu1, write=False)
    assert s.pte() & _PAGE_HASHPTE
    hpt = s.machine.hash_table
    vpn = hpt_vpn(s.mm.context, s.addr)
    slot = hpt.find(vpn)
    assert hpt.entry(slot)[1] & 0x3 == 0x3  # clean: hashed read-only
    s.touch(s.cpu1, write=True)  # protection fault -> hash_page -> updatepp
    assert hpt.find(vpn) == slot and hpt.entry(slot)[1] & 0x3 == 0x2
    assert hpt.valid_slots(vpn) == [slot]


@ppc
def test_lazy_mode_defers_hash_invalidation_until_leave(s):
    s.install()
    s.touch(s.cpu1, write=False)
    vpn = hpt_vpn(s.mm.context, s.addr)
    s.arch.arch_enter_lazy_mmu_mode()
    s.arch.ptep_get_and_clear(s.mm, s.addr, s.ptep)
    assert s.machine.hash_table.find(vpn) >= 0  # still hashed: queued in the batch
    s.arch.arch_leave_lazy_mmu_mode()
    assert s.machine.hash_table.find(vpn) < 0


@ppc
def test_outside_lazy_mode_hash_invalidation_is_immediate(s):
    s.install()
    s.touch(s.cpu1, write=False)
    s.arch.ptep_get_and_clear(s.mm, s.addr, s.ptep)
    assert s.machine.hash_table.find(hpt_vpn(s.mm.context, s.addr)) < 0


@ppc
def test_set_pte_at_strips_hash_flags(s):
    s.install(extra=_PAGE_HASHPTE)
    assert not s.pte() & _PAGE_HASHPTE


@ppc
def test_evicted_hpte_is_reinserted_not_duplicated(s):
    s.install()
    s.touch(s.cpu1, write=False)
    hpt = s.machine.hash_table
    vpn = hpt_vpn(s.mm.context, s.addr)
    hpt.v[hpt.find(vpn)] = 0  # evicted behind the PTE's back (native_hpte_remove)
    for cpu in s.machine.cpus:
        cpu.tlb.entries.clear()
    assert s.pte() & _PAGE_HASHPTE  # the PTE still names the old slot
    assert s.touch(s.cpu1, write=True) == s.page
    assert len(hpt.valid_slots(vpn)) == 1


