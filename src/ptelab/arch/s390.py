"""s390 (z/Architecture), as in Linux 6.12.

Hardware (z/Architecture Principles of Operation, SA22-7832, ch. 3 "Dynamic Address
Translation" and ch. 10 "INVALIDATE PAGE TABLE ENTRY"):
- DAT never writes a page-table entry: there are no hardware Referenced or Changed bits in
  the PTE (they are kept per frame in the storage key, which 6.12 no longer uses for
  Linux's own dirty and young tracking);
- an entry is usable when its invalid bit is clear; a store needs its protection bit clear;
  translations may be placed in the TLB at any time from valid entries, and stay there until
  purged: a valid entry must therefore never be changed in place (PoP 3-"Modification of
  translation tables"), only by IPTE, which sets the entry's invalid bit and purges every
  CPU's TLB of it before it completes (IPTE with the local-clearing control purges only the
  issuing CPU's), or IDTE for a whole table or address space.

Kernel (arch/s390/include/asm/pgtable.h, arch/s390/mm/pgtable.c, 6.12):
- software Young and Dirty with the hardware bits derived from them (pgtable.h:1033-1090):
  _PAGE_INVALID is set unless the entry is young and readable (pte_mkold sets it,
  pte_mkyoung clears it), _PAGE_PROTECT unless it is dirty and writable (pte_mkclean sets
  it, pte_mkdirty clears it); so the first access to an old page and the first store to a
  clean one fault, and the generic fault handler's ptep_set_access_flags makes the entry
  young or dirty.  The model derives both hardware bits from its software bits at the
  walk, which is the same as long as only those helpers build entries, and stores
  explicitly only the invalid bit that an IPTE or a lazy invalidation sets on an entry
  software still sees present (`_PAGE_INVALID_HW`, arch bit 9);
- every change of a live entry goes through ptep_xchg_direct (IPTE now) or ptep_xchg_lazy
  (pgtable.c:269-326): the lazy form, when the mm is attached to this CPU only
  (context.cpu_attach_mask), just sets the invalid bit and context.flush_mm, and the TLB is
  flushed later by __tlb_flush_mm_lazy (flush_tlb_mm, flush_tlb_range, tlb_flush, and
  finish_arch_post_lock_switch when a CPU attaches: tlbflush.h:80-121,
  mmu_context.h:101-113);
- ptep_get_and_clear, ptep_set_wrprotect and ptep_modify_prot_start are lazy;
  ptep_clear_flush, ptep_test_and_clear_young (and so ptep_clear_flush_young) and
  ptep_set_access_flags are direct (pgtable.h:1176-1322); flush_tlb_page is a no-op;
- the machine has the local-clearing facility (MACHINE_HAS_TLB_LC, z10 and later) and IDTE,
  but not RDP (z16's RESET DAT PROTECTION): ptep_set_access_flags always takes the IPTE
  path, and flush_tlb_fix_spurious_fault does nothing.
Not modelled: KVM guest mappings (PGSTEs, gmap), protected virtualisation (uv_*), large
pages, and s390's 256-entry page tables (the model's tables have 512 entries).
"""

from __future__ import annotations

from ..machine.counters import HW_WALK, IDTE, IPTE_GLOBAL, IPTE_LOCAL, IPTE_RANGE, LAZY_INVALIDATE
from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..machine.storage_key import _PAGE_CHANGED, _PAGE_REFERENCED, PAGE_DEFAULT_KEY, StorageKeys
from ..pte import (
    ARCH_BITS_SHIFT,
    PAGE_SHIFT,
    PFN_SHIFT,
    PMD_SHIFT,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_PRESENT,
    _PAGE_RW,
    _PAGE_USER,
    pte_mkold,
    pte_str,
    pte_write,
    pte_wrprotect,
)
from .generic import GenericArch

_PAGE_INVALID_HW = 1 << ARCH_BITS_SHIFT
IPTE_RANGE_MAX = 256  # entries one IPTE with the range option invalidates (r3: 0-255 more)  # _PAGE_INVALID set on an entry software sees present


def hw_valid(pte: int) -> bool:
    """Is the entry's invalid bit clear (pgtable.h:1033-1090: young and readable, and not
    invalidated by an IPTE or a lazy invalidation)?"""
    return (pte & (_PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED) == _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
            and not pte & _PAGE_INVALID_HW)


def hw_writable(pte: int) -> bool:
    """Is the entry's protection bit clear (dirty and writable: pte_mkdirty, pte_mkwrite)?"""
    return bool(pte & _PAGE_RW and pte & _PAGE_DIRTY)


class S390(GenericArch):
    name = "s390-6.12"
    description = "s390: no hardware PTE writes, IPTE invalidate-and-purge, lazy local invalidation"
    kernel = "6.12"
    differs = "software young/dirty with the invalid/protect bits derived from them (since 3.9)"
    software_young = True
    hw_valid = staticmethod(hw_valid)
    hw_writable = staticmethod(hw_writable)

    def __init__(self, machine):
        super().__init__(machine)
        self.attached: dict[int, set[int]] = {}  # context -> context.cpu_attach_mask
        self.flush_mm: dict[int, bool] = {}  # context -> context.flush_mm
        self.flush_count: dict[int, int] = {}  # context -> context.flush_count

    # ---- the MMU -------------------------------------------------------------------------
    def tlb_miss(self, cpu, mm, va: int, write: bool):
        """DAT reads the entry and never writes it (PoP ch. 3)."""
        self.counters[HW_WALK] += 1
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        if table_pfn is None:
            return None
        ptep = (table_pfn << PTE_TABLE_SHIFT) | ((va >> PAGE_SHIFT) & PTE_INDEX_MASK)
        # the table the walk started from: one freed meanwhile (free_pgtables, after the
        # purge) reads as the none entries it was freed with, a translation exception
        table = self.tables[table_pfn]
        self._sched(("pte", ptep), False, "DAT walk", also=(("tlb", cpu.id),))
        pte = table[ptep & PTE_INDEX_MASK]
        if not self.hw_valid(pte) or (write and not self.hw_writable(pte)):
            return None  # a translation exception or a protection exception
        return self.fill_tlb(cpu, mm, va, ptep, pte >> PFN_SHIFT, self.hw_writable(pte))

    def switch_mm(self, cpu, prev, mm) -> None:
        """switch_mm_irqs_off (mmu_context.h:73-87): the CPU attaches (cpu_attach_mask) and
        leaves prev's; CR7 is cleared, so it translates no user address until
        finish_arch_post_lock_switch."""
        super().switch_mm(cpu, prev, mm)
        self.attached.setdefault(mm.context, set()).add(cpu.id)
        if prev is not None and prev is not mm:
            self.attached.get(prev.context, set()).discard(cpu.id)

    def finish_arch_post_lock_switch(self, cpu) -> None:
        """mmu_context.h:100-113: mm_cpumask, then the flush a lazy invalidation left owed
        (__tlb_flush_mm_lazy), then CR7 loaded.  The CPU uses no translation of the mm
        before the flush: it runs in the attach's step, with no scheduling point between."""
        if cpu.mm is not None:
            self._tlb_flush_mm_lazy(cpu.mm, point=False)

    # ---- IPTE, IDTE and the lazy invalidation --------------------------------------------
    def _ipte(self, mm, addr: int, ptep: int, local: bool) -> None:
        """IPTE: set the entry's invalid bit, then purge the TLBs of every CPU (with the
        local-clearing control, of this CPU only); the instruction completes after both."""
        self._update(mm, addr, ptep, 0, _PAGE_INVALID_HW, what="IPTE")
        cpus = [self.machine.this_cpu] if local else self.machine.cpus
        self.counters[IPTE_LOCAL if local else IPTE_GLOBAL] += 1
        self._sched(("tlb", cpus[0].id), True, "IPTE purges " + ("the local TLB" if local else "every TLB"),
                    also=tuple(("tlb", cpu.id) for cpu in cpus[1:]))
        for cpu in cpus:
            cpu.tlb.flush_page(mm.context, addr)

    def _only_this_cpu(self, cpus, mm) -> bool:
        """cpus (mm_cpumask or cpu_attach_mask) is this CPU alone: a read of what
        switch_mm writes (machine.switch_mm_irqs_off)."""
        self.machine.shared(("cpumask", mm.context), False)
        return set(cpus) == {self.machine.this_cpu.id}

    def ptep_flush_direct(self, mm, addr: int, ptep: int) -> int:
        """pgtable.c:78-94: nothing to purge from an invalid entry; IPTE, local when only
        this CPU may hold the mm's translations (mm_cpumask)."""
        old = self._get(ptep)
        if self.hw_valid(old):
            self._ipte(mm, addr, ptep, local=self._only_this_cpu(mm.cpumask, mm))
        return old

    def ptep_flush_lazy(self, mm, addr: int, ptep: int) -> int:
        """pgtable.c:96-113: when the mm is attached to this CPU only, set the invalid bit
        and owe a flush (flush_mm); otherwise a global IPTE."""
        old = self._get(ptep)
        if self.hw_valid(old):
            self._flush_count(mm, 1)
            if self._only_this_cpu(self.attached.get(mm.context, ()), mm):
                self._set(ptep, old | _PAGE_INVALID_HW, what="lazy invalidation")
                self.flush_mm[mm.context] = True
                self.counters[LAZY_INVALIDATE] += 1
            else:
                self._ipte(mm, addr, ptep, local=False)
            self._flush_count(mm, -1)
        return old

    def _flush_count(self, mm, delta: int) -> None:
        """atomic_inc/atomic_dec(&mm->context.flush_count) around the decision and the
        invalidation (pgtable.c:103-111), which a CPU attaching waits for."""
        self.machine.shared(("cpumask", mm.context), True)
        self.flush_count[mm.context] = self.flush_count.get(mm.context, 0) + delta

    def attach_ready(self, mm):
        """finish_arch_post_lock_switch waits while flush_count is not 0 (mmu_context.h:
        105-106), then flushes.  The model waits before the attach and makes the attach and
        the flush one step: the CPU translates nothing of the mm before that flush (CR7 is
        loaded after it), and an invalidation deciding after the attach sees the CPU
        attached, as in the kernel."""
        return lambda: not self.flush_count.get(mm.context)

    @staticmethod
    def _from_core(pte: int) -> int:
        """An entry core code built: s390's pte_mkyoung, pte_modify and friends recompute
        the invalid bit from Young and Read (pgtable.h:1033-1090), so a value read during
        an invalidation and passed through them comes back without it.  The model's
        generic helpers do not know the bit: the backend clears it on every value core code
        hands it, as arm64's backend completes its own helpers."""
        return pte & ~_PAGE_INVALID_HW

    def set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """set_ptes (pgtable.h:1372-1390): set_pte of each entry (no PGSTEs)."""
        super().set_ptes(mm, addr, ptep, self._from_core(pte), nr)

    def ptep_xchg_direct(self, mm, addr: int, ptep: int, new: int) -> int:
        old = self.ptep_flush_direct(mm, addr, ptep)
        self._set(ptep, new)  # ptep_xchg_commit: set_pte (pgtable.c:248-267)
        return old

    def ptep_xchg_lazy(self, mm, addr: int, ptep: int, new: int) -> int:
        old = self.ptep_flush_lazy(mm, addr, ptep)
        self._set(ptep, new)
        return old

    def _tlb_flush_mm_lazy(self, mm, point: bool = True) -> None:
        """__tlb_flush_mm_lazy (tlbflush.h:80-88): the owed flush, if any, as __tlb_flush_mm
        (:45-70): mm_cpumask reset to the attached CPUs, one IDTE for the address space."""
        if not self.flush_mm.get(mm.context):
            return
        self.flush_mm[mm.context] = False
        mm.cpumask.clear()
        mm.cpumask.update(self.attached.get(mm.context, ()))
        self._idte(mm, point)

    def _idte(self, mm, point: bool = True) -> None:
        """IDTE of the address space: every CPU's TLB drops the mm's translations (a
        scheduling point unless `point` is False: then only the step's footprint)."""
        cpus = self.machine.cpus
        self.counters[IDTE] += 1
        if point:
            self._sched(("tlb", cpus[0].id), True, "IDTE purges the address space",
                        also=tuple(("tlb", cpu.id) for cpu in cpus[1:]))
        else:
            for cpu in cpus:
                self.machine.shared(("tlb", cpu.id), True)
        for cpu in cpus:
            cpu.tlb.flush_context(mm.context)

    # ---- txn (ptelab/txn.py) ------------------------------------------------------------
    def txn_round_begin(self, mm, rewritten: list) -> None:
        """Before a commit round rewrites these entries: when another CPU is attached, each
        run of consecutive hardware-valid entries of one page table is invalidated and
        purged from every TLB by one IPTE with the range option (the IPTE-range facility,
        facility 13: r3 holds the number of further entries, at most 255, and the
        instruction may stop early and is reissued until done: __ptep_ipte_range,
        arch/s390/include/asm/pgtable.h:1146-1158, 6.12, used by __kernel_map_pages,
        arch/s390/mm/pageattr.c:426-434), instead of one IPTE per entry; the accessors then
        find the entries invalid and purge nothing more (ptep_flush_direct/lazy return at
        once, pgtable.c:78-113).  When the mm is attached to this CPU only, the accessors'
        lazy invalidations and the round's one IDTE are cheaper already: nothing here."""
        if self._only_this_cpu(self.attached.get(mm.context, ()), mm):
            return
        run: list = []
        for addr, ptep in rewritten:
            if not self.hw_valid(self._get(ptep)):
                continue
            if run and not self._extends(run, ptep):
                self._ipte_range(mm, run)
                run = []
            run.append((addr, ptep))
        if run:
            self._ipte_range(mm, run)

    def _extends(self, run: list, ptep: int) -> bool:
        """Can the IPTE range of `run` reach ptep?  In one page table, at most 256 entries
        from its first, and every entry between is invalid already (none, old, PROT_NONE:
        their _PAGE_INVALID is set, so the range leaves them as they are), not a valid
        entry the round keeps."""
        first, last = run[0][1], run[-1][1]
        if ptep >> PTE_TABLE_SHIFT != first >> PTE_TABLE_SHIFT or ptep - first >= IPTE_RANGE_MAX:
            return False
        return not any(self.hw_valid(self._get(p)) for p in range(last + 1, ptep))

    def _ipte_range(self, mm, run: list) -> None:
        """One IPTE with the range option from run's first entry to its last (of one table):
        the valid entries of `run` invalid, then every CPU's TLB purged of them, before the
        instruction completes (the entries between are invalid already)."""
        for addr, ptep in run:
            self._update(mm, addr, ptep, 0, _PAGE_INVALID_HW, what="IPTE range")
        self.counters[IPTE_RANGE] += 1
        cpus = self.machine.cpus
        self._sched(("tlb", cpus[0].id), True, f"IPTE range purges {len(run)} entries from every TLB",
                    also=tuple(("tlb", cpu.id) for cpu in cpus[1:]))
        for cpu in cpus:
            for addr, _ in run:
                cpu.tlb.flush_page(mm.context, addr)

    # ---- the accessors s390 overrides (pgtable.h:1176-1322, pgtable.c:328-365) -------------
    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        return self.ptep_xchg_lazy(mm, addr, ptep, 0)

    def ptep_get_and_clear_full(self, mm, addr: int, ptep: int, full: int) -> int:
        if full:  # the whole mm is being torn down: a plain load and store
            pte = self._get(ptep)
            self._set(ptep, 0)
            return pte
        return self.ptep_xchg_lazy(mm, addr, ptep, 0)

    def ptep_clear_flush(self, vma, addr: int, ptep: int) -> int:
        return self.ptep_xchg_direct(vma.mm, addr, ptep, 0)

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        pte = self._get(ptep)
        if pte_write(pte):
            self.ptep_xchg_lazy(mm, addr, ptep, pte_wrprotect(pte))

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        pte = self._get(ptep)
        return 1 if self.ptep_xchg_direct(vma.mm, addr, ptep, pte_mkold(pte)) & _PAGE_ACCESSED else 0

    def ptep_clear_flush_young(self, vma, addr: int, ptep: int) -> int:
        return self.ptep_test_and_clear_young(vma, addr, ptep)

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        entry = self._from_core(entry)
        if self._get(ptep) == entry:
            return 0
        self.ptep_xchg_direct(vma.mm, addr, ptep, entry)  # no RDP: always the IPTE path
        return 1

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        """The entry stays as it was, but invalid (IPTE, or the lazy invalidation)."""
        return self.ptep_flush_lazy(vma.mm, addr, ptep)

    def ptep_modify_prot_commit(self, vma, addr: int, ptep: int, old_pte: int, pte: int) -> None:
        self._set(ptep, self._from_core(pte))

    # ---- TLB maintenance (tlbflush.h:100-121, tlb.h:70-75) --------------------------------
    def flush_tlb_page(self, vma, addr: int) -> None:
        """A no-op: the accessors purged, or owe a flush_mm."""

    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        self._tlb_flush_mm_lazy(mm)

    def flush_tlb_fix_spurious_fault(self, vma, addr: int, ptep: int) -> None:
        """Only with RDP (pgtable.h:1292-1307), which the modelled machine does not have."""

    def tlb_flush(self, tlb) -> None:
        self._tlb_flush_mm_lazy(tlb.mm)

    def pte_free_tlb(self, tlb, addr: int) -> None:
        """A freed page table owes the address space a flush (asm/tlb.h:81-91): the one
        tlb_flush makes, even at exit, where ptep_get_and_clear_full(full) purged nothing."""
        self.flush_mm[tlb.mm.context] = True

    # ---- what the state machine and the invariants ask -------------------------------------
    def abstract_caches(self, mm, addr: int) -> str:
        ptep = mm.pte_offset(addr)
        invalidated = ptep is not None and self._get_raw(ptep) & _PAGE_INVALID_HW
        owed = self.flush_mm.get(mm.context)
        words = (["invalidated"] if invalidated else []) + (["flush_mm owed"] if owed else [])
        return ", ".join(words) or "-"

    def describe_pte(self, pte: int, mm=None, va: int | None = None) -> str:
        """The invalid bit an IPTE or a lazy invalidation set (_PAGE_INVALID, pgtable.h:182)
        as INVALID; the derived hardware bits are implied by the software ones."""
        text = pte_str(pte & ~_PAGE_INVALID_HW)
        return text + " INVALID" if pte & _PAGE_INVALID_HW else text

    def _get_raw(self, ptep: int) -> int:
        return self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK]


# ---- s390 as in 2.6.27: Referenced and Changed in the storage key ---------------------------

_PTE_SOFTWARE_AD = _PAGE_ACCESSED | _PAGE_DIRTY


class S390_2_6_27(S390):
    """s390 as in Linux 2.6.27 (arch/s390/include/asm/pgtable.h, tlbflush.h, tlb.h,
    mmu_context.h; mm/rmap.c): the page-table entry has no young or dirty state at all.

    - pte_dirty and pte_young return 0, pte_mkdirty, pte_mkclean, pte_mkold and pte_mkyoung
      return the entry unchanged (pgtable.h:598-614, 707-739): the backend drops Young and Dirty
      from every entry core code hands it, so no entry ever has them;
    - DAT uses an entry when its invalid bit is clear and stores through it when its protection
      bit is clear (a writable entry: pte_write, pgtable.h:590-593); Referenced and Changed are
      set by the hardware in the frame's storage key (machine/storage_key.py) on every access;
    - software takes them from there: page_mkclean (mm/rmap.c:497-512) tests and resets the change
      bit after write-protecting the shared mappings, page_remove_rmap (mm/rmap.c:665-676) moves
      it to PG_dirty when the last mapping of a file or swap-cache page goes
      (page_test_dirty and page_clear_dirty, ISKE and SSKE, pgtable.h:907-917), and
      page_referenced (mm/rmap.c:439, RRBE) reads Referenced, which the model, having no
      page_referenced, never asks;
    - ptep_test_and_clear_young and ptep_clear_flush_young return 0 (pgtable.h:747-784: what
      they do with PGSTEs, mm->context.pgstes, is for a KVM host process after s390_enable_sie,
      which the model has not);
    - a live entry changes only after ptep_invalidate (pgtable.h:786-820: IPTE if the entry is
      valid, then the empty entry), from ptep_clear_flush, ptep_set_access_flags and a
      non-full ptep_get_and_clear_full always, and from ptep_get_and_clear and
      ptep_set_wrprotect unless the mm has one user and is this CPU's (mm_users <= 1 and
      current->active_mm, pgtable.h:835-887): then a plain store, and the TLB keeps the old
      translation until flush_tlb_range or flush_tlb_mm purge the address space with IDTE
      (__tlb_flush_mm_cond, tlbflush.h:91-132); flush_tlb_page does nothing.  The model
      counts the users of an mm as the CPUs in its mm_cpumask (2.6.27's switch_mm only adds
      to it, mmu_context.h:61-66): the model has no threads that have not run yet;
    - no local-clearing IPTE and no lazy flush_mm: those came later; switch_mm flushes nothing;
    - the mmu_gather flushes the address space once page tables were freed (tlb_flush_mmu,
      tlb.h:64-75); 2.6.27's own tlb_gather_mmu, which purges at the start when the mm has
      one user, is not modelled (the model's gather is 6.12's, flushing at its end).
    """

    name = "s390-2.6.27"
    description = "s390 (2008): referenced/changed in each frame's storage key, IPTE, no dirty or young in the PTE"
    kernel = "2.6.27"
    differs = "R/C in the frame's storage key, pte_dirty/pte_young always 0 (arch/s390/include/asm/pgtable.h)"
    software_young = False
    # no GUP-fast on s390 before arch/s390/mm/gup.c ("Copyright IBM Corp. 2010"): 2.6.27's
    # get_user_pages_fast is mm/util.c's weak one, get_user_pages under mmap_sem
    have_gup_fast = False

    @staticmethod
    def hw_valid(pte: int) -> bool:
        return (pte & (_PAGE_PRESENT | _PAGE_USER) == _PAGE_PRESENT | _PAGE_USER
                and not pte & _PAGE_INVALID_HW)

    @staticmethod
    def hw_writable(pte: int) -> bool:
        return bool(pte & _PAGE_RW)

    @classmethod
    def attach(cls, machine, pages: int, hash_groups: int | None = None) -> "S390_2_6_27":
        machine.storage_keys = StorageKeys(machine)
        return cls(machine)

    @property
    def keys(self) -> StorageKeys:
        return self.machine.storage_keys

    @staticmethod
    def _from_core(pte: int) -> int:
        """pte_mkdirty, pte_mkyoung... are no-ops in 2.6.27 (pgtable.h:707-739): an entry core
        code built has neither Young nor Dirty."""
        return pte & ~(_PAGE_INVALID_HW | _PTE_SOFTWARE_AD)

    def pte_as_set(self, pte: int) -> int:
        return self._from_core(pte)

    def switch_mm(self, cpu, prev, mm) -> None:
        """mmu_context.h:61-66: the CPU joins cpu_vm_mask and loads the mm; nothing is flushed."""
        GenericArch.switch_mm(self, cpu, prev, mm)

    def finish_arch_post_lock_switch(self, cpu) -> None:
        """2.6.27 has none for s390."""

    def attach_ready(self, mm):
        return None

    # no IPTE range in 2.6.27 (__ptep_ipte_range came with 4.x): each accessor purges
    txn_round_begin = GenericArch.txn_round_begin

    def _single_user(self, mm) -> bool:
        """mm_users <= 1 && mm == current->active_mm (pgtable.h:838-839, tlbflush.h:94)."""
        this = self.machine.this_cpu
        self.machine.shared(("cpumask", mm.context), False)
        return this.mm is mm and mm.cpumask <= {this.id}

    def _invalidate(self, mm, addr: int, ptep: int) -> int:
        """ptep_invalidate (pgtable.h:803-820, no PGSTEs): IPTE if the entry is valid, then
        the empty entry."""
        old = self._get(ptep)
        if self.hw_valid(old):
            self._ipte(mm, addr, ptep, local=False)
        self._set(ptep, 0)
        return old

    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        if not self._single_user(mm):
            return self._invalidate(mm, addr, ptep)
        pte = self._get(ptep)
        self._set(ptep, 0)  # pte_clear: the TLB keeps it until flush_tlb_range
        return pte

    def ptep_get_and_clear_full(self, mm, addr: int, ptep: int, full: int) -> int:
        """pgtable.h:863-875."""
        if full:
            pte = self._get(ptep)
            self._set(ptep, 0)
            return pte
        return self._invalidate(mm, addr, ptep)

    def ptep_clear_flush(self, vma, addr: int, ptep: int) -> int:
        return self._invalidate(vma.mm, addr, ptep)

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        pte = self._get(ptep)
        if pte_write(pte):
            if not self._single_user(mm):
                self._invalidate(mm, addr, ptep)
            self._set(ptep, self._from_core(pte_wrprotect(pte)))

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        entry = self._from_core(entry)
        if self._get(ptep) == entry:
            return 0
        self._invalidate(vma.mm, addr, ptep)
        self._set(ptep, entry)
        return 1

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        return 0

    def ptep_clear_flush_young(self, vma, addr: int, ptep: int) -> int:
        return 0

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        """The asm-generic pair (include/asm-generic/pgtable.h:199-252, 2.6.27):
        ptep_get_and_clear, then set_pte_at."""
        return self.ptep_get_and_clear(vma.mm, addr, ptep)

    def ptep_modify_prot_commit(self, vma, addr: int, ptep: int, old_pte: int, pte: int) -> None:
        self.set_pte_at(vma.mm, addr, ptep, pte)

    # ---- TLB maintenance (tlbflush.h:71-132, tlb.h:64-75) ----------------------------------
    def _tlb_flush_mm(self, mm) -> None:
        """__tlb_flush_mm (tlbflush.h:74-90): nothing if the mm never ran, else IDTE."""
        if mm.cpumask:
            self._idte(mm)

    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        """flush_tlb_mm and flush_tlb_range: __tlb_flush_mm_cond (tlbflush.h:92-96): the
        purge the accessors left owed when the mm had one user."""
        if self._single_user(mm):
            self._tlb_flush_mm(mm)

    def tlb_flush(self, tlb) -> None:
        """tlb_flush_mmu (tlb.h:64-75): IDTE once page tables were freed; the pages' entries
        were purged by the accessors, except those of an mm with one user, which 2.6.27's
        tlb_gather_mmu purged at its start (tlb.h:50-62: fullmm, then __tlb_flush_mm): the
        model's gather, 6.12's, makes that IDTE here, before any page is freed."""
        if self.flush_mm.pop(tlb.mm.context, False) or tlb.fullmm or self._single_user(tlb.mm):
            self._tlb_flush_mm(tlb.mm)

    def pte_free_tlb(self, tlb, addr: int) -> None:
        """tlb.h:96-104: the freed table is queued, and tlb_flush_mmu purges before freeing it."""
        self.flush_mm[tlb.mm.context] = True

    # ---- the storage key ----------------------------------------------------------------
    def page_test_and_clear_dirty(self, pfn: int) -> bool:
        """page_test_dirty then page_clear_dirty (pgtable.h:907-917): ISKE, then SSKE with the
        default key if C was set.  The model runs both in one step: the callers have
        write-protected (page_mkclean) or removed (page_remove_rmap) every mapping first, as
        the comment at pgtable.h:900-906 requires."""
        if not self.keys.iske(pfn) & _PAGE_CHANGED:
            return False
        self.keys.sske(pfn, PAGE_DEFAULT_KEY)
        return True

    def frame_state(self, pfn: int, young: bool, dirty: bool) -> None:
        """A scenario's page declared young or old, dirty or clean: the key says so (SSKE)."""
        self.keys.sske(pfn, (_PAGE_REFERENCED if young else 0) | (_PAGE_CHANGED if dirty else 0))

    def writable_translation(self, pte: int) -> bool:
        return self.hw_writable(pte)

    def dirty_recorded(self, pfn: int) -> bool:
        """A store recorded only in the key's change bit is not lost."""
        return self.keys.changed(pfn)

    def abstract_caches(self, mm, addr: int) -> str:
        ptep = mm.pte_offset(addr)
        pte = self._get_raw(ptep) if ptep is not None else 0
        words = ["invalidated"] if pte & _PAGE_INVALID_HW else []
        if self.flush_mm.get(mm.context):
            words.append("IDTE owed (tables freed)")
        return ", ".join(words) or "-"

    def abstract_frame(self, pfn: int) -> str:
        """The frame's key when it has R or C set (what x86 keeps in the entry as Accessed and
        Dirty), mapped or not: the key outlives a cleared entry, and page_remove_rmap reads
        its C once the last mapping is gone (mm/rmap.c:665-676, 2.6.27); a clean key is not
        named, so the states with one are the ones every backend has."""
        return self.keys.describe(pfn) if self.keys.key(pfn) else "-"
