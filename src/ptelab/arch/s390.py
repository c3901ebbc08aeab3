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

    def __init__(self, machine):
        super().__init__(machine)
        self.attached: dict[int, set[int]] = {}  # context -> context.cpu_attach_mask
        self.flush_mm: dict[int, bool] = {}  # context -> context.flush_mm

    # ---- the MMU -------------------------------------------------------------------------
    def tlb_miss(self, cpu, mm, va: int, write: bool):
        """DAT reads the entry and never writes it (PoP ch. 3)."""
        self.counters[HW_WALK] += 1
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        if table_pfn is None:
            return None
        ptep = (table_pfn << PTE_TABLE_SHIFT) | ((va >> PAGE_SHIFT) & PTE_INDEX_MASK)
        self._sched(("pte", ptep), False, "DAT walk", also=(("tlb", cpu.id),))
        pte = self.tables[table_pfn][ptep & PTE_INDEX_MASK]
        if not hw_valid(pte) or (write and not hw_writable(pte)):
            return None  # a translation exception or a protection exception
        return self.fill_tlb(cpu, mm, va, ptep, pte >> PFN_SHIFT, hw_writable(pte))

    def switch_mm(self, cpu, prev, mm) -> None:
        """switch_mm_irqs_off then finish_arch_post_lock_switch (mmu_context.h:73-113): the
        CPU attaches, joins mm_cpumask, and flushes what a lazy invalidation left behind."""
        super().switch_mm(cpu, prev, mm)
        self.attached.setdefault(mm.context, set()).add(cpu.id)
        if prev is not None and prev is not mm:
            self.attached.get(prev.context, set()).discard(cpu.id)
        self._tlb_flush_mm_lazy(mm)

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

    def _only_this_cpu(self, cpus) -> bool:
        return set(cpus) == {self.machine.this_cpu.id}

    def ptep_flush_direct(self, mm, addr: int, ptep: int) -> int:
        """pgtable.c:78-94: nothing to purge from an invalid entry; IPTE, local when only
        this CPU may hold the mm's translations (mm_cpumask)."""
        old = self._get(ptep)
        if hw_valid(old):
            self._ipte(mm, addr, ptep, local=self._only_this_cpu(mm.cpumask))
        return old

    def ptep_flush_lazy(self, mm, addr: int, ptep: int) -> int:
        """pgtable.c:96-113: when the mm is attached to this CPU only, set the invalid bit
        and owe a flush (flush_mm); otherwise a global IPTE."""
        old = self._get(ptep)
        if hw_valid(old):
            if self._only_this_cpu(self.attached.get(mm.context, ())):
                self._set(ptep, old | _PAGE_INVALID_HW, what="lazy invalidation")
                self.flush_mm[mm.context] = True
                self.counters[LAZY_INVALIDATE] += 1
            else:
                self._ipte(mm, addr, ptep, local=False)
        return old

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

    def _tlb_flush_mm_lazy(self, mm) -> None:
        """__tlb_flush_mm_lazy (tlbflush.h:80-88): the owed flush, if any, as __tlb_flush_mm
        (:45-70): mm_cpumask reset to the attached CPUs, one IDTE for the address space."""
        if not self.flush_mm.get(mm.context):
            return
        self.flush_mm[mm.context] = False
        mm.cpumask.clear()
        mm.cpumask.update(self.attached.get(mm.context, ()))
        cpus = self.machine.cpus
        self.counters[IDTE] += 1
        self._sched(("tlb", cpus[0].id), True, "IDTE purges the address space",
                    also=tuple(("tlb", cpu.id) for cpu in cpus[1:]))
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
        if self._only_this_cpu(self.attached.get(mm.context, ())):
            return
        run: list = []
        for addr, ptep in rewritten:
            if not hw_valid(self._get(ptep)):
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
        return not any(hw_valid(self._get(p)) for p in range(last + 1, ptep))

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
