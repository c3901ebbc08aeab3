"""ia64 (Itanium), as in Linux 6.6, the last kernel that had it (read in Debian's 6.1 tree,
whose arch/ia64 files cited here are the same code).

Hardware (Intel Itanium Architecture SDM vol. 2, part I, ch. 4 "Addressing and Protection"):
- the VHPT walker fills the TLB from the virtually mapped linear page table (Linux uses the
  short format, so the VHPT *is* the page table: no separate cache of translations) without
  any lock, and never writes an entry: it sets neither Accessed nor Dirty;
- an access through a translation whose A bit is clear raises an Access-bit fault, a store
  through one whose D bit is clear a Dirty-bit fault (4.1.1.6; entries 8-10 of the IVT);
- ptc.l purges this CPU's TLB; ptc.ga is broadcast to every CPU by the hardware (no IPI), and
  the kernel serialises it with srlz.

Kernel (arch/ia64/kernel/ivt.S, arch/ia64/include/asm/pgtable.h, tlbflush.h, arch/ia64/mm/tlb.c,
arch/ia64/kernel/smp.c; SMP):
- Accessed and Dirty are set by software in the fault handlers dirty_bit and daccess_bit
  (ivt.S:530-588, 659-713), without the PTE lock: load the entry, OR in D|A (or A), and only
  if the entry is present, cmpxchg it; if the cmpxchg succeeded, insert the updated entry in the
  TLB (itc); load the entry again and, if it is no longer what was installed, purge it (ptc.l);
  then return to retry the access.  So an entry cleared between the handler's load and its
  cmpxchg is never written back, and a translation installed just before a clear is purged
  again.  (The !CONFIG_SMP form, a plain load and store, is for uniprocessors only.)
- ptep_test_and_clear_young is test_and_clear_bit, ptep_get_and_clear an xchg, and
  ptep_set_wrprotect a cmpxchg loop (pgtable.h:345-390); ptep_set_access_flags writes only when
  "safely writable" (the entry was not present, or the new one is dirty) and then flushes the
  page (pgtable.h:437-470);
- flush_tlb_range / flush_tlb_page purge with ptc.l when the mm is this CPU's and only it is in
  mm_cpumask, else with ptc.ga (tlb.c:311-365); flush_tlb_mm makes every CPU in mm_cpumask drop
  the mm's context by IPI (smp_flush_tlb_mm, smp.c:291-316), the single-threaded case locally.
Not modelled: region registers and context (RID) allocation (a context flush drops the mm's
entries), the VHPT's own TLB entries for the page table, the ALAT, huge pages, the 8-byte
access-rights encoding beyond read/write.
"""

from __future__ import annotations

from ..machine.counters import HW_WALK, IA64_AD_FAULT, IPI, PTC_GA, PTC_L, TLB_FLUSH_FULL, TLB_FLUSH_REMOTE
from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..machine.tlb import tlb_key
from ..pte import (
    PAGE_SHIFT,
    PFN_SHIFT,
    PMD_SHIFT,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_PRESENT,
    _PAGE_RW,
    _PAGE_USER,
    pte_wrprotect,
)
from .generic import GenericArch

MAX_HANDLER_RETRIES = 4  # the access retries after each handler (RFI); two always suffice


class Ia64(GenericArch):
    name = "ia64"
    description = "ia64: VHPT walker that never writes, software A/D fault handlers (cmpxchg), ptc.l/ptc.ga purges"
    kernel = "6.6"
    differs = "the last kernel with ia64 (removed in 6.7); Debian's 6.1 tree read for it"
    software_young = True
    # 6.6 arch/ia64/Kconfig selects no HAVE_FAST_GUP: get_user_pages_fast is the slow path
    have_gup_fast = False

    # ---- the MMU and the low-level fault handlers ----------------------------------------
    def tlb_miss(self, cpu, mm, va: int, write: bool):
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        if table_pfn is None:
            return None
        ptep = (table_pfn << PTE_TABLE_SHIFT) | ((va >> PAGE_SHIFT) & PTE_INDEX_MASK)
        table = self.tables[table_pfn]  # freed meanwhile (free_pgtables): its none entries, a fault
        for _ in range(MAX_HANDLER_RETRIES):
            self.counters[HW_WALK] += 1
            self._sched(("pte", ptep), False, "VHPT walk", also=(("tlb", cpu.id),))
            pte = table[ptep & PTE_INDEX_MASK]
            need = _PAGE_PRESENT | _PAGE_USER | (_PAGE_RW if write else 0)
            if pte & need != need:
                return None  # a page-not-present or access-rights fault: the generic handler
            missing = _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
            if pte & missing == missing:
                return self.fill_tlb(cpu, mm, va, ptep, pte >> PFN_SHIFT, bool(pte & _PAGE_DIRTY and pte & _PAGE_RW))
            self._ad_fault(cpu, mm, va, ptep, missing)
            entry = cpu.tlb.entries.get(tlb_key(mm.context, va))
            if entry is not None and (entry[2] or not write):
                return entry  # the handler's itc stood: the retried access hits it
        return None

    def _ad_fault(self, cpu, mm, va: int, ptep: int, bits: int) -> None:
        """dirty_bit (D|A) or daccess_bit (A), SMP form (ivt.S:547-575, 668-694): no lock.

        The handler runs with interrupts off, and the entry its itc installs is not used
        before its rfi.  So the model installs it in the step of the second load, and only
        if that load finds the entry unchanged: that is what the CPU can use after the rfi
        (an itc followed by a purge from another CPU, or by the handler's own ptc.l, leaves
        nothing), and the invariants never judge an entry the CPU cannot use yet."""
        self.counters[IA64_AD_FAULT] += 1
        old = self._get(ptep)  # ld8 r18=[r17]
        new = old | bits
        if not old & _PAGE_PRESENT:
            return  # only if the page is present: retry, and the walk sends it to the page fault
        installed = self._cmpxchg(ptep, old, new) == old  # cmpxchg8.acq; itc if it succeeded
        self._sched(("pte", ptep), False, "itc, then load PTE again", also=(("tlb", cpu.id),))
        if installed and self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK] == new:
            self.fill_tlb(cpu, mm, va, ptep, new >> PFN_SHIFT, bool(new & _PAGE_DIRTY and new & _PAGE_RW))
            return
        self.counters[PTC_L] += 1  # changed since the itc (or no itc): ptc.l r16
        cpu.tlb.flush_page(mm.context, va)

    # ---- the accessors ia64 overrides (pgtable.h:345-470) ----------------------------------
    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        if not self._get(ptep) & _PAGE_ACCESSED:
            return 0
        return 1 if self._update(vma.mm, addr, ptep, _PAGE_ACCESSED, 0) & _PAGE_ACCESSED else 0

    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        return self._update(mm, addr, ptep, ~0, 0, what="xchg")

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        while True:
            old = self._get(ptep)
            if self._cmpxchg(ptep, old, pte_wrprotect(old)) == old:
                return

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        changed = self._get(ptep) != entry
        if changed and dirty:  # __safely_writable
            self._set(ptep, entry)
            self.flush_tlb_page(vma, addr)
        return changed

    def flush_tlb_fix_spurious_fault(self, vma, addr: int, ptep: int) -> None:
        """The asm-generic default flushes the page; ia64 keeps it (nothing overrides it)."""
        self.flush_tlb_page(vma, addr)

    # ---- purges (tlb.c:311-365, smp.c:291-316) --------------------------------------------
    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        this = self.machine.this_cpu
        if this.mm is mm and mm.cpumask <= {this.id}:
            self.counters[PTC_L] += 1
            self._sched(("tlb", this.id), True, "ptc.l")
            this.tlb.flush_range(mm.context, start, end)
            return
        cpus = self.machine.cpus
        self.counters[PTC_GA] += 1
        self._sched(("tlb", cpus[0].id), True, "ptc.ga (broadcast)",
                    also=tuple(("tlb", cpu.id) for cpu in cpus[1:]))
        for cpu in cpus:
            cpu.tlb.flush_range(mm.context, start, end)

    def flush_tlb_mm(self, mm) -> None:
        """Every CPU of mm_cpumask drops the mm's context: by IPI, locally when the mm is this
        CPU's alone (the kernel tests mm_users == 1, a single thread)."""
        this = self.machine.this_cpu
        for cpu_id in sorted(mm.cpumask | ({this.id} if this.mm is mm else set())):
            cpu = self.machine.cpus[cpu_id]
            self._sched(("tlb", cpu_id), True, "local_finish_flush_tlb_mm" if cpu is this
                        else f"flush IPI to cpu{cpu_id}")
            if cpu is not this:
                self.counters[IPI] += 1
                self.counters[TLB_FLUSH_REMOTE] += 1
            else:
                self.counters[TLB_FLUSH_FULL] += 1
            cpu.tlb.flush_context(mm.context)
