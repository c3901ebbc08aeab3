"""x86-64, native.

Hardware (Intel SDM vol. 3A, ch. 4):
- a TLB miss walks the page tables; only a present entry is cached (4.10.2.1);
- the walker sets Accessed, and Dirty on a store, with a locked read-modify-write
  of the entry, and never on a non-present entry (4.8); a store through a TLB entry
  whose Dirty is clear walks again to set it, and faults if the entry meanwhile
  became non-present or read-only;
- nothing snoops the page tables: a changed entry stays cached until an invlpg or
  CR3 write on each CPU, so remote CPUs need an IPI (arch/x86/mm/tlb.c).

Kernel, as in Linux 6.12 (Debian's 6.12.117; paths under arch/x86/):
- ptep_get_and_clear (include/asm/pgtable.h:1317-1323) is native_ptep_get_and_clear, an
  atomic xchg (include/asm/pgtable_64.h:91), so a Dirty the walker sets concurrently lands
  in the returned value or faults; ptep_get_and_clear_full(full=1) (pgtable.h:1326-1342)
  is a plain load and store, because at exit no CPU runs the mm any more;
- ptep_modify_prot_start/commit are the generic ones (include/linux/pgtable.h:1290-1345):
  ptep_get_and_clear, then set_pte_at;
- ptep_set_wrprotect (pgtable.h:1345-1359) is a try_cmpxchg loop (6.12 also moves Dirty to
  SavedDirty for shadow stacks, which the model does not have); ptep_test_and_clear_young
  (mm/pgtable.c:557-567) is a locked bit operation;
- ptep_set_access_flags (mm/pgtable.c:502-512) writes only when `dirty`, and flushes
  nothing: a stale, stricter TLB entry only causes a spurious fault, after which the walk
  refills it;
- ptep_clear_flush_young (mm/pgtable.c:597-614) does not flush: a stale Accessed costs
  only aging accuracy;
- flush_tlb_mm_range flushes page by page up to tlb_single_page_flush_ceiling (33, mm/tlb.c:998)
  pages, the whole context beyond.
"""

from __future__ import annotations

from ..machine.counters import (
    ATOMIC_RMW,
    HW_WALK,
    IPI,
    TLB_FLUSH_FULL,
    TLB_FLUSH_PAGE,
    TLB_FLUSH_REMOTE,
)
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
)
from .generic import GenericArch

TLB_SINGLE_PAGE_FLUSH_CEILING = 33


class X86(GenericArch):
    name = "x86"
    description = "x86-64 native: hardware walker with atomic A/D updates, IPI shootdowns"
    batched_unmap_tlb_flush = True
    # Accessors that inline a primitive on mprotect's hot path.  The explorer runs the
    # primitive instead, so the access is a scheduling point (explore/points.py).
    INLINED = {"ptep_get_and_clear": "xchg", "ptep_modify_prot_start": "xchg",
               "ptep_modify_prot_commit": "store"}

    def pte_access_permitted(self, pte: int, write: bool) -> bool:
        """6.12 arch/x86/include/asm/pgtable.h:1692-1714: _PAGE_PRESENT and _PAGE_USER, and
        _PAGE_RW for a write (protection keys, __pkru_allows_pkey, are not modelled)."""
        need = _PAGE_PRESENT | _PAGE_USER | (_PAGE_RW if write else 0)
        return pte & need == need

    # ---- the MMU ---------------------------------------------------------------------
    def tlb_miss(self, cpu, mm, va: int, write: bool):
        self.counters[HW_WALK] += 1
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        if table_pfn is None:
            return None
        table = self.tables[table_pfn]
        i = (va >> PAGE_SHIFT) & PTE_INDEX_MASK
        # the walk and its A/D update are one locked access (SDM vol. 3A 4.8); the fill
        # completes before the CPU takes a shootdown IPI, since interrupts are taken on
        # instruction boundaries (SDM vol. 3A 6.6)
        loc = ("pte", (table_pfn << PTE_TABLE_SHIFT) | i)
        self._sched(loc, True, "page walk", also=(("tlb", cpu.id),))
        pte = table[i]
        need = _PAGE_PRESENT | _PAGE_USER | (_PAGE_RW if write else 0)
        new = pte | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
        if pte & need != need or new == pte:
            self._only_read(loc)  # a fault, or Accessed (and Dirty) already set: no locked write
        if pte & need != need:
            # a page fault invalidates the faulting address's TLB entries (SDM 4.10.4.1)
            cpu.tlb.entries.pop(tlb_key(mm.context, va), None)
            return None
        if new != pte:
            table[i] = new  # locked RMW by the walker
            self.counters[ATOMIC_RMW] += 1
        return self.fill_tlb(cpu, mm, va, (table_pfn << PTE_TABLE_SHIFT) | i, new >> PFN_SHIFT,
                             bool(new & _PAGE_RW and new & _PAGE_DIRTY))

    def tlb_prefetch(self, cpu, mm, va: int) -> None:
        """Speculative walks cache present entries only, and may set Accessed (SDM 4.8,
        4.10.2.3); Dirty is set only by a real store."""
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        pte = 0 if table_pfn is None else self.tables[table_pfn][(va >> PAGE_SHIFT) & PTE_INDEX_MASK]
        if pte & (_PAGE_PRESENT | _PAGE_USER) == _PAGE_PRESENT | _PAGE_USER:
            self.tlb_miss(cpu, mm, va, False)

    # ---- mm_cpumask and lazy TLB (6.12 arch/x86/mm/tlb.c) -----------------------------
    def switch_mm(self, cpu, prev, next_) -> None:
        """6.12 arch/x86/mm/tlb.c:499-674 (switch_mm_irqs_off): switching to another mm
        leaves prev's mm_cpumask (:625) and joins next's (:630); the TLB keeps each
        context's entries (PCID), and flushes next's when next's tlb_gen moved since this
        CPU last caught up with it (choose_new_asid's need_flush, :633; the return from
        lazy mode to the same mm compares tlb_gen too, :584-597)."""
        if prev is not None and prev is not next_:
            prev.cpumask.discard(cpu.id)
        next_.cpumask.add(cpu.id)
        cpu.mm = next_
        cpu.is_lazy = False
        self.machine.shared(("tlb_gen", next_.context), False)
        if cpu.tlb_gen.get(next_.context, next_.tlb_gen) != next_.tlb_gen:
            self._sched(("tlb", cpu.id), True, f"switch_mm: cpu{cpu.id} catches up with a skipped flush")
            self.counters[TLB_FLUSH_FULL] += 1
            cpu.tlb.flush_context(next_.context)
        cpu.tlb_gen[next_.context] = next_.tlb_gen

    def inc_mm_tlb_gen(self, mm) -> None:
        """6.12 arch/x86/include/asm/tlbflush.h:270-279 (inc_mm_tlb_gen): every flush of mm, and
        every batched unmap, moves its tlb_gen on."""
        self.machine.shared(("cpumask", mm.context), False)
        self.machine.shared(("tlb_gen", mm.context), True)
        mm.tlb_gen += 1

    def enter_lazy_tlb(self, cpu) -> None:
        """6.12 arch/x86/mm/tlb.c:676-682: the mm stays loaded and in mm_cpumask, but
        shootdowns skip the CPU (should_flush_tlb, :900-932) unless page tables were freed."""
        cpu.is_lazy = True

    def tlb_flush(self, tlb) -> None:
        """6.12 arch/x86/include/asm/tlb.h:10-21: the gather's range (all of it for fullmm),
        with tlb->freed_tables."""
        if tlb.fullmm or tlb.need_flush_all:
            self._flush(tlb.mm, 0, 1 << 48, bool(tlb.tables))
        elif tlb.end > tlb.start:
            self._flush(tlb.mm, tlb.start, tlb.end, bool(tlb.tables))

    def flush_tlb_mm(self, mm) -> None:
        """6.12 arch/x86/include/asm/tlbflush.h:238-239: flush_tlb_mm_range(mm, 0,
        TLB_FLUSH_ALL, 0, true), which reaches lazy CPUs too."""
        self._flush(mm, 0, 1 << 48, True)

    # ---- shootdown -------------------------------------------------------------------
    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        self._flush(mm, start, end, False)

    def _flush(self, mm, start: int, end: int, freed_tables: bool) -> None:
        """6.12 arch/x86/mm/tlb.c:1043-1086 (flush_tlb_mm_range): tlb_gen moves on; the
        CPUs of mm_cpumask are flushed, but a lazy one only when page tables were freed
        (native_flush_tlb_multi, :950-978): it catches up when it returns (switch_mm)."""
        this = self.machine.this_cpu
        cpus = self.machine.cpus
        npages = (end - start) >> PAGE_SHIFT
        full = npages > TLB_SINGLE_PAGE_FLUSH_CEILING
        counters = self.counters
        self.inc_mm_tlb_gen(mm)
        for cpu_id in sorted(mm.cpumask):
            cpu = cpus[cpu_id]
            if cpu.is_lazy and not freed_tables and cpu is not this:
                continue  # should_flush_tlb: "Lazy TLB will get flushed at the next context switch"
            cpu.tlb_gen[mm.context] = mm.tlb_gen
            self._sched(("tlb", cpu_id), True, "invlpg" if cpu is this else f"flush IPI to cpu{cpu_id}")
            if cpu is not this:
                counters[IPI] += 1
                counters[TLB_FLUSH_REMOTE] += 1
            elif full:
                counters[TLB_FLUSH_FULL] += 1
            else:
                counters[TLB_FLUSH_PAGE] += npages
            if full:
                cpu.tlb.flush_context(mm.context)
            else:
                cpu.tlb.flush_range(mm.context, start, end)

    def arch_tlbbatch_add_pending(self, batch: set, mm, uaddr: int) -> None:
        """6.12 arch/x86/include/asm/tlbflush.h:281-288: tlb_gen moves on (a CPU that left
        the mm catches up when it comes back), the mm's CPUs join the batch."""
        self.inc_mm_tlb_gen(mm)
        batch.update(mm.cpumask)

    def arch_tlbbatch_flush(self, batch: set) -> None:
        """arch_tlbbatch_flush: one full flush on every CPU gathered (flush_tlb_multi; a
        lazy CPU is skipped, should_flush_tlb, and catches up by tlb_gen)."""
        this = self.machine.this_cpu
        for cpu_id in sorted(batch):
            cpu = self.machine.cpus[cpu_id]
            if cpu.is_lazy and cpu is not this:
                continue
            self._sched(("tlb", cpu_id), True, f"batched flush of cpu{cpu_id}")
            if cpu is not this:
                self.counters[IPI] += 1
                self.counters[TLB_FLUSH_REMOTE] += 1
            else:
                self.counters[TLB_FLUSH_FULL] += 1
            cpu.tlb.entries.clear()
        batch.clear()

    # ---- accessors x86 overrides -------------------------------------------------------
    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        table = self.tables[ptep >> PTE_TABLE_SHIFT]
        i = ptep & PTE_INDEX_MASK
        old = table[i]
        table[i] = 0  # xchg
        self.counters[ATOMIC_RMW] += 1
        return old

    def ptep_get_and_clear_full(self, mm, addr: int, ptep: int, full: int) -> int:
        if full:
            pte = self._get(ptep)  # native_local_ptep_get_and_clear
            self._set(ptep, 0)
            return pte
        return self.ptep_get_and_clear(mm, addr, ptep)

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        table = self.tables[ptep >> PTE_TABLE_SHIFT]  # ptep_get_and_clear, inlined: mprotect's hot path
        i = ptep & PTE_INDEX_MASK
        old = table[i]
        table[i] = 0
        self.counters[ATOMIC_RMW] += 1
        return old

    def ptep_modify_prot_commit(self, vma, addr: int, ptep: int, old_pte: int, pte: int) -> None:
        self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK] = pte

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        self._update(mm, addr, ptep, _PAGE_RW, 0)  # clear_bit(_PAGE_BIT_RW)

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        if not self._get(ptep) & _PAGE_ACCESSED:
            return 0
        return 1 if self._update(vma.mm, addr, ptep, _PAGE_ACCESSED, 0) & _PAGE_ACCESSED else 0

    def ptep_clear_flush_young(self, vma, addr: int, ptep: int) -> int:
        return self.ptep_test_and_clear_young(vma, addr, ptep)

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        changed = self._get(ptep) != entry
        if changed and dirty:
            self._set(ptep, entry)
        return changed

    def flush_tlb_fix_spurious_fault(self, vma, addr: int, ptep: int) -> None:
        pass
