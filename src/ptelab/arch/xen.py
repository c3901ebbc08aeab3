"""x86-64 as a Xen PV guest (Linux 6.12, arch/x86/xen/mmu_pv.c, arch/x86/xen/multicalls.c).

The MMU is native x86's (the walker, its A/D updates and the TLB are those of X86);
what changes is how the kernel writes a PTE, since its page tables are read-only to
it (machine/hypervisor.py):

- set_pte (pv_ops.mmu.set_pte = xen_set_pte, mmu_pv.c:345-349, 2154), hence set_pte_at,
  set_ptes, pte_clear (paravirt.h:434-437, 534-538) and ptep_set_access_flags
  (arch/x86/mm/pgtable.c:502-512), is an mmu_update hypercall (MMU_NORMAL_PT_UPDATE,
  __xen_set_pte, mmu_pv.c:330-343) or, in lazy-MMU mode, a request queued in the per-CPU
  multicall buffer (xen_batched_set_pte, mmu_pv.c:312-328);
- the accessors that are locked instructions on the entry stay so (ptep_get_and_clear's
  xchg, pgtable.h:1317-1323 and pgtable_64.h:91-100; ptep_set_wrprotect's cmpxchg,
  pgtable.h:1345-1358; ptep_test_and_clear_young's test_and_clear_bit, pgtable.c:557-567):
  they write a read-only page, trap, and Xen emulates them, at once, lazy mode or not;
- ptep_modify_prot_start only reads the entry ("Just return the pte as-is.  We preserve
  the bits on commit", mmu_pv.c:351-357); ptep_modify_prot_commit queues or makes an
  MMU_PT_UPDATE_PRESERVE_AD request (mmu_pv.c:359-373), so an Accessed or Dirty bit the
  walker sets between the two survives;
- lazy-MMU mode (xen_enter_lazy_mmu / xen_leave_lazy_mmu, mmu_pv.c:2135-2138, 2172-2178)
  only switches the per-CPU xen_lazy_mode: every request made meanwhile waits in the
  buffer until leave issues it (xen_mc_flush), or until the buffer is full
  (__xen_mc_entry, multicalls.c:219-252).  A read of an entry written in the section
  (ptep_get is a plain load) returns the old value: the lazy-no-readback rule;
- TLB flushes are hypercalls (pv_ops.mmu.flush_tlb_*, mmu_pv.c:2188-2191):
  flush_tlb_mm_range (arch/x86/mm/tlb.c:1071-1078) calls xen_flush_tlb_multi
  (mmu_pv.c:1324-1357) when another CPU may hold the mm: one MMUEXT_INVLPG_MULTI for a
  single page, one MMUEXT_TLB_FLUSH_MULTI (a full flush) for anything larger; a flush of
  this CPU alone is flush_tlb_func (tlb.c:860-885): MMUEXT_INVLPG_LOCAL per page up to
  the ceiling, else MMUEXT_TLB_FLUSH_LOCAL.  Each goes through the multicall buffer too
  (xen_mc_issue(XEN_LAZY_MMU)), so inside lazy mode it waits with the updates;
- at exit, xen_exit_mmap unpins the mm's tables (mmu_pv.c:1036-1049) before unmap_vmas
  (arch_exit_mmap, mm/mmap.c:1928): ptep_get_and_clear_full(full=1) is then a plain load
  and store of an ordinary page ("paravirt does not care about updates",
  pgtable.h:1331-1336; "we've already switch to another pagetable at that point", the
  seed thread).

2.6.27 (arch/x86/xen/mmu.c) had the same lazy batching and the same PRESERVE_AD commit
(the seed thread: "in Xen its implemented with a pte update hypercall which updates the
pte without affecting the A/D bits"), so no rule differs and there is no 2.6.27 variant.
"""

from __future__ import annotations

from ..machine.hypervisor import (
    HYPERVISOR_mmu_update,
    HYPERVISOR_mmuext_op,
    MC_ARGS,
    MC_BATCH,
    MMU_NORMAL_PT_UPDATE,
    MMU_PT_UPDATE_PRESERVE_AD,
    MMUEXT_INVLPG_LOCAL,
    MMUEXT_INVLPG_MULTI,
    MMUEXT_TLB_FLUSH_LOCAL,
    MMUEXT_TLB_FLUSH_MULTI,
    SIZEOF_MMU_UPDATE,
    SIZEOF_MMUEXT_OP,
    Hypervisor,
    MulticallBuffer,
    apply_update,
)
from ..machine.counters import XEN_MC_ENTRY
from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..pte import PAGE_SHIFT, PAGE_SIZE, PFN_SHIFT, _PAGE_ACCESSED, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER
from .generic import GenericArch
from .x86 import TLB_SINGLE_PAGE_FLUSH_CEILING, X86

_CPUMASK_BYTES = 8  # BITS_TO_LONGS(num_possible_cpus()) longs after the op (mmu_pv.c:1333-1334)


class Xen(X86):
    name = "xen"
    description = "x86-64 Xen PV guest: read-only page tables changed by hypercalls, batched in lazy-MMU mode"
    kernel = "6.12"
    differs = ("PTE writes are mmu_update hypercalls, queued in lazy-MMU mode; flushes are "
               "MMUEXT_*_MULTI hypercalls (arch/x86/xen/mmu_pv.c)")
    INLINED: dict[str, str] = {}  # nothing bypasses the primitives: each access is the hypervisor's

    def __init__(self, machine):
        super().__init__(machine)
        self.hv = Hypervisor(machine)
        for cpu in machine.cpus:
            cpu.arch_state = MulticallBuffer()

    # ---- the multicall buffer (arch/x86/xen/multicalls.c) ----------------------------------
    def _buffer(self) -> MulticallBuffer:
        return self.machine.this_cpu.arch_state

    def _mc_entry(self, op: int, size: int) -> list:
        """__xen_mc_entry (multicalls.c:219-252): a new entry, issuing the batch first
        when it has MC_BATCH entries or the arguments would not fit."""
        buf = self._buffer()
        argidx = (buf.argidx + 7) & ~7
        if not buf.unbounded and (len(buf.entries) == MC_BATCH or argidx + size >= MC_ARGS):
            self.xen_mc_flush()
            argidx = 0
        requests: list = []
        buf.entries.append([op, requests])
        buf.argidx = argidx + size
        return requests

    def _mc_extend(self, op: int, size: int):
        """xen_mc_extend_args (multicalls.c:254-281): the previous entry's argument list
        when it is the same hypercall and there is room, else None."""
        buf = self._buffer()
        if not buf.entries or buf.entries[-1][0] != op or (buf.argidx + size >= MC_ARGS and not buf.unbounded):
            return None
        buf.argidx += size
        return buf.entries[-1][1]

    def xen_mc_flush(self) -> None:
        """multicalls.c:142-217: nothing, one hypercall made directly, or one multicall."""
        buf = self._buffer()
        entries = buf.entries
        if not entries:
            return
        self.counters[XEN_MC_ENTRY] += len(entries)
        self._note(f"multicall buffer issued ({len(entries)} entr{'y' if len(entries) == 1 else 'ies'})")
        if len(entries) == 1:
            op, requests = entries[0]
            self.hv.hypercall(self, op, requests)
        else:
            self.hv.multicall(self, entries)
        buf.entries, buf.argidx = [], 0  # emptied once the call returns (multicalls.c:206-207)
        buf.unbounded = False

    def xen_mc_issue(self) -> None:
        """xen-ops.h:238-247: issue now unless the CPU is in lazy-MMU mode."""
        if not self._buffer().lazy:
            self.xen_mc_flush()
        else:
            self._note("queued in the multicall buffer (lazy MMU)")

    def _mmu_update(self, ptep: int, cmd: int, val: int) -> None:
        """xen_mc_batch; xen_extend_mmu_update (mmu_pv.c:233-249); xen_mc_issue.  The entry
        counts as written by the running operation from now on (its write is owed)."""
        self._defer(ptep)
        requests = self._mc_extend(HYPERVISOR_mmu_update, SIZEOF_MMU_UPDATE)
        if requests is None:
            requests = self._mc_entry(HYPERVISOR_mmu_update, SIZEOF_MMU_UPDATE)
        requests.append((ptep, cmd, val))
        if self._buffer().lazy:
            self._note(f"mmu_update of entry {ptep:#x} queued (multicall)")
        self.xen_mc_issue()

    def xen_set_pte(self, ptep: int, pte: int) -> None:
        """xen_set_pte (mmu_pv.c:312-349): queued in lazy mode, else one HYPERVISOR_mmu_update."""
        if self._buffer().lazy:
            self._mmu_update(ptep, MMU_NORMAL_PT_UPDATE, pte)
        else:
            self.hv.hypercall(self, HYPERVISOR_mmu_update, [(ptep, MMU_NORMAL_PT_UPDATE, pte)])

    def _mmuext(self, cmd: int, size: int, context: int, va: int, vcpus: tuple) -> None:
        """xen_mc_entry + MULTI_mmuext_op + xen_mc_issue(XEN_LAZY_MMU) (mmu_pv.c:1286-1357)."""
        self._mc_entry(HYPERVISOR_mmuext_op, size).append((cmd, context, va, vcpus))
        if self._buffer().lazy:
            self._note("TLB flush queued (multicall)")
        self.xen_mc_issue()

    def _trapped(self, ptep: int, clr: int, set_: int) -> int:
        """A locked instruction on a pinned table: Xen traps and emulates it."""
        return self.hv.emulate_write(self, ptep, clr, set_)

    # ---- accessors -------------------------------------------------------------------------
    def set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """include/linux/pgtable.h:268-280: set_pte per entry."""
        for i in range(nr):
            self.xen_set_pte(ptep + i, pte + (i << PFN_SHIFT))

    def pte_clear(self, mm, addr: int, ptep: int) -> None:
        self.xen_set_pte(ptep, 0)  # paravirt.h:534-538

    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        return self._trapped(ptep, ~0, 0)  # xchg (pgtable_64.h:91-95)

    def ptep_get_and_clear_full(self, mm, addr: int, ptep: int, full: int) -> int:
        if not full:
            return self.ptep_get_and_clear(mm, addr, ptep)
        table = ptep >> PTE_TABLE_SHIFT
        if self.hv.pinned(table):
            self.hv.unpin(table)  # xen_exit_mmap unpinned the mm before unmap_vmas
        pte = self._get(ptep)  # native_local_ptep_get_and_clear: an ordinary page now
        self._set(ptep, 0)
        return pte

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        self._trapped(ptep, _PAGE_RW, 0)  # try_cmpxchg loop, pgtable.h:1345-1358

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        if not self._get(ptep) & _PAGE_ACCESSED:  # pgtable.c:557-567
            return 0
        return 1 if self._trapped(ptep, _PAGE_ACCESSED, 0) & _PAGE_ACCESSED else 0

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        changed = self._get(ptep) != entry  # pgtable.c:502-512
        if changed and dirty:
            self.xen_set_pte(ptep, entry)
        return changed

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        return self._get(ptep)  # mmu_pv.c:351-357

    def ptep_modify_prot_commit(self, vma, addr: int, ptep: int, old_pte: int, pte: int) -> None:
        self._mmu_update(ptep, MMU_PT_UPDATE_PRESERVE_AD, pte)  # mmu_pv.c:359-373

    def arch_enter_lazy_mmu_mode(self) -> None:
        cpu = self.machine.this_cpu
        cpu.lazy_mmu = True
        cpu.arch_state.lazy = True  # enter_lazy(XEN_LAZY_MMU)

    def arch_leave_lazy_mmu_mode(self) -> None:
        cpu = self.machine.this_cpu
        self.xen_mc_flush()  # xen_leave_lazy_mmu, mmu_pv.c:2172-2178
        cpu.arch_state.lazy = False
        cpu.lazy_mmu = False

    # ---- txn (ptelab/txn.py): one multicall per commit round -------------------------------
    # A proposal, not 6.12: the commit's round goes to Xen as one multicall, the round's
    # MMU_PT_UPDATE_PRESERVE_AD requests (ptep_modify_prot_commit, mmu_pv.c:359-373) as one
    # mmu_update entry over the commit's own request array instead of the per-CPU buffer's
    # MC_ARGS bytes (HYPERVISOR_mmu_update takes any count and Xen preempts and continues a
    # long one: do_mmu_update, xen/arch/x86/mm.c, hypercall_create_continuation), and the
    # round's flush (xen_flush_tlb_multi, queued in lazy mode: mmu_pv.c:1324-1357) as the
    # multicall's last entry, issued at arch_leave_lazy_mmu_mode.  The A/D bits the walker
    # sets meanwhile survive, as with the per-CPU buffer (PRESERVE_AD).
    txn_flush_in_lazy = True

    def txn_round_begin(self, mm, rewritten: list) -> None:
        self._buffer().unbounded = True  # until the multicall is issued (xen_mc_flush)

    # ---- TLB flushes: hypercalls, not IPIs ------------------------------------------------
    # x86's flush_tlb_mm_range (tlb.c:1043-1086) with the Xen pv_ops flush below, also for
    # the mmu_gather and flush_tlb_mm (x86's freed_tables changes nothing here)
    tlb_flush = GenericArch.tlb_flush
    flush_tlb_mm = GenericArch.flush_tlb_mm

    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        self.inc_mm_tlb_gen(mm)  # tlb.c:1058; the CPUs flushed below are caught up
        for cpu_id in mm.cpumask:
            self.machine.cpus[cpu_id].tlb_gen[mm.context] = mm.tlb_gen
        this = self.machine.this_cpu.id
        if any(cpu != this for cpu in mm.cpumask):
            self._flush_tlb_multi(mm, tuple(sorted(mm.cpumask)), start, end)
        elif this in mm.cpumask:
            npages = (end - start) >> PAGE_SHIFT
            if npages > TLB_SINGLE_PAGE_FLUSH_CEILING:  # tlb.c:1053-1057, 860-885
                self._mmuext(MMUEXT_TLB_FLUSH_LOCAL, SIZEOF_MMUEXT_OP, mm.context, 0, (this,))
            else:
                for va in range(start, end, PAGE_SIZE):
                    self._mmuext(MMUEXT_INVLPG_LOCAL, SIZEOF_MMUEXT_OP, mm.context, va, (this,))

    def _flush_tlb_multi(self, mm, vcpus: tuple, start: int, end: int) -> None:
        """xen_flush_tlb_multi (mmu_pv.c:1324-1357)."""
        cmd = MMUEXT_INVLPG_MULTI if end - start <= PAGE_SIZE else MMUEXT_TLB_FLUSH_MULTI
        self._mmuext(cmd, SIZEOF_MMUEXT_OP + _CPUMASK_BYTES, mm.context if mm else 0, start, vcpus)

    def arch_tlbbatch_flush(self, batch: set) -> None:
        """tlb.c:1296-1312: flush_tlb_multi of the gathered CPUs, a full flush."""
        this = self.machine.this_cpu.id
        if any(cpu != this for cpu in batch):
            self._flush_tlb_multi(None, tuple(sorted(batch)), 0, 1 << 64)
        elif this in batch:
            self._mmuext(MMUEXT_TLB_FLUSH_LOCAL, SIZEOF_MMUEXT_OP, 0, 0, (this,))
        batch.clear()

    # ---- what the explorer's invariants ask of the machine ---------------------------------
    def _queued(self, ptep: int):
        """(the page table's entry, the entry once every queued request for it is made, cpu)
        when some CPU's multicall buffer holds a request for the entry, else None."""
        for cpu in self.machine.cpus:
            requests = cpu.arch_state.queued(ptep)
            if requests:
                current = written = self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK]
                for cmd, val in requests:
                    written = apply_update(cmd, written, val)
                return current, written, cpu.id
        return None

    def entry_written_at(self, ptep: int) -> int:
        queued = self._queued(ptep)
        return self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK] if queued is None else queued[1]

    def entry_as_written(self, mm, va: int) -> int:
        ptep = mm.pte_offset(va)
        return 0 if ptep is None else self.entry_written_at(ptep)

    def abstract_caches(self, mm, addr: int) -> str:
        """The mmu_update requests queued for the entry, when there are any, even if they
        would write what it holds (a cpu1 access then sets Accessed in the table, which
        MMU_NORMAL_PT_UPDATE overwrites at issue); "preserving A/D" when each one is
        MMU_PT_UPDATE_PRESERVE_AD (ptep_modify_prot_commit, mmu_pv.c:359-373), which keeps
        what the walker sets meanwhile (apply_update)."""
        ptep = mm.pte_offset(addr)
        queued = [] if ptep is None else self._buffer().queued(ptep)
        if not queued:
            return "-"
        preserving = all(cmd == MMU_PT_UPDATE_PRESERVE_AD for cmd, _ in queued)
        return "mmu_update queued" + (" preserving A/D" if preserving else "")

    @staticmethod
    def kernel_view_cache(pte_class: str, hashed: bool, cache: str) -> str:
        """Nothing: the kernel view names a queued write by what it writes (kernel_key)."""
        return ""

    def pending_invalidation(self, mm, addr: int) -> bool:
        """Is a TLB flush covering (mm, addr) queued in this CPU's multicall buffer?  In lazy
        mode flush_tlb_* only queue their MMUEXT op (xen_mc_issue(XEN_LAZY_MMU),
        mmu_pv.c:1324-1357), made when the batch is issued (xen_leave_lazy_mmu's xen_mc_flush,
        mmu_pv.c:2172-2178): then it drops whatever the TLBs hold, however old."""
        for op, requests in self._buffer().entries:
            if op != HYPERVISOR_mmuext_op:
                continue
            for cmd, context, va, _ in requests:
                if cmd not in (MMUEXT_INVLPG_LOCAL, MMUEXT_INVLPG_MULTI) or (context, va) == (mm.context, addr):
                    return True
        return False

    def cached_translations(self, mm, va: int):
        """While a request is queued, the page table still holds the old entry and the walker
        fills TLBs from it: it is a translation the written entry does not back."""
        ptep = mm.pte_offset(va)
        queued = None if ptep is None else self._queued(ptep)
        if queued is None:
            return ()
        current, _, cpu_id = queued
        if current & (_PAGE_PRESENT | _PAGE_USER) != _PAGE_PRESENT | _PAGE_USER:
            return ()
        pfn = current >> PFN_SHIFT
        return ((f"the page table (cpu{cpu_id}'s mmu_update still queued)", pfn, self.mem.gen[pfn],
                 bool(current & _PAGE_RW), None, self.mem.pte_seq.get(mm.pte_offset(va), 0)),)
