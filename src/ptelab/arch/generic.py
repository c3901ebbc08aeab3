"""The generic library: every accessor built from a few primitives.

This is include/asm-generic/pgtable.h and mm/pgtable-generic.c: a backend
overrides only what its hardware needs, the way an architecture defines
__HAVE_ARCH_PTEP_GET_AND_CLEAR and friends.  The primitives are

    _get(ptep)                      a plain load of the entry
    _set(ptep, pte)                 a plain store (set_pte)
    _update(mm, addr, ptep, clr, set)  an atomic read-modify-write, returning the old value

(both take an optional `what`, the step's name in the explorer's tables: a backend
whose stores are made by someone else, Xen's hypervisor, says so)
    flush_tlb_mm_range(mm, start, end) the architecture's TLB shootdown
    tlb_miss(cpu, mm, va, write)    the MMU's miss path (hardware walker, hash lookup...)

A backend marks each other access to shared state (a TLB flush on one CPU, a
hash-table operation) with `self._sched(...)`, a no-op here: the explorer
(ptelab/explore/points.py) turns these and the primitives into scheduling points.

and the generic defaults deliberately keep the kernel's non-atomic sequences
(a read then a store), because that is what an architecture gets when it does
not override them, and the rules are about exactly that.

Methods call one another through `self`, so a backend's override is used by the
defaults that build on it; the debug mode wraps only the surface core code calls.
"""

from __future__ import annotations

from ..machine.counters import ATOMIC_RMW
from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..machine.tlb import tlb_key
from ..pte import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PFN_SHIFT,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_RW,
    pte_accessible,
    pte_dirty,
    pte_mkclean,
    pte_mkdirty,
    pte_mkold,
    pte_mkyoung,
    pte_present,
    pte_str,
    pte_write,
    pte_wrprotect,
    pte_young,
)

# cydp_t, include/linux/mm_types.h:1454-1460 (6.12): what clear_young_dirty_ptes clears
CYDP_CLEAR_YOUNG, CYDP_CLEAR_DIRTY = 1 << 0, 1 << 1


def gather_young_dirty(pte: int, others) -> int:
    """pte with Accessed and Dirty added when any of `others` has them: how a batch of
    entries of one folio reports the folio's (get_and_clear_full_ptes, include/linux/
    pgtable.h:660-697; madvise_folio_pte_batch's any_young and any_dirty, mm/madvise.c:331-341,
    6.12)."""
    for other in others:
        pte = pte_mkyoung(pte) if pte_young(other) else pte
        pte = pte_mkdirty(pte) if pte_dirty(other) else pte
    return pte


class GenericArch:
    name = "generic"
    description = "asm-generic defaults"
    kernel = "6.12"  # the Linux version whose code this variant models
    software_young = False  # an old entry faults, and the fault handler makes it young (s390, ia64)
    proposal = False  # True for a fix no kernel shipped (named like "ppc64-6.12+fix")
    differs = ""  # what this variant changes from the one it derives from, with the kernel file
    # ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH: reclaim may defer its shootdown (mm/rmap.c)
    batched_unmap_tlb_flush = False
    BUSY = 0  # a software lock bit in the PTE that atomic updates wait on (ppc64 _PAGE_BUSY)
    INLINED: dict[str, str] = {}  # accessors inlining a primitive; see X86
    STORE_READS_TLBS = False  # a PTE store is checked against every TLB (arm64 break-before-make)
    # CONFIG_HAVE_GUP_FAST: GUP-fast walks the page tables locklessly (mm/gup.py); 6.12 selects
    # it on x86, arm64, powerpc and s390 (arch/x86/Kconfig:231, arm64/Kconfig:218,
    # powerpc/Kconfig:241, s390/Kconfig:182)
    have_gup_fast = True

    def __init__(self, machine):
        self.machine = machine
        self.mem = machine.mem
        self.tables = machine.mem.ptes
        self.counters = machine.counters

    @classmethod
    def attach(cls, machine, pages: int, hash_groups: int | None = None) -> "GenericArch":
        """The backend for `machine`, sized for `pages` of user memory (a backend with a
        hardware structure sized by memory, such as a hash table, overrides this)."""
        return cls(machine)

    # ---- primitives ------------------------------------------------------------------
    def _get(self, ptep: int) -> int:
        return self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK]

    def _set(self, ptep: int, pte: int, what: str = "") -> None:
        self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK] = pte

    def _update(self, mm, addr: int, ptep: int, clr: int, set_: int, what: str = "") -> int:
        table = self.tables[ptep >> PTE_TABLE_SHIFT]
        i = ptep & PTE_INDEX_MASK
        old = table[i]
        table[i] = (old & ~clr) | set_
        self.counters[ATOMIC_RMW] += 1
        return old

    def _cmpxchg(self, ptep: int, old: int, new: int) -> int:
        """A compare-and-exchange of the entry: stores `new` if it holds `old`; returns what
        it held (cmpxchg_relaxed; arm64's loops over live entries are built on it)."""
        table = self.tables[ptep >> PTE_TABLE_SHIFT]
        i = ptep & PTE_INDEX_MASK
        found = table[i]
        if found == old:
            table[i] = new
        self.counters[ATOMIC_RMW] += 1
        return found

    def _sched(self, loc, write: bool, what: str, busy_wait: bool = False, also=None, until=None) -> None:
        """A scheduling point before an access to `loc` (and a write of each location in
        `also`); `busy_wait`: the access waits while the PTE at loc has BUSY set (or, given
        a mask, any of its bits); `until`: it waits until that predicate holds (a lock of the
        backend's that another CPU holds, ppc32's mmu_hash_lock).  Nothing when run
        sequentially."""

    def _touch(self, loc, write: bool) -> None:
        """The step in progress (since the last scheduling point) also reads, or writes, `loc`:
        a walk that reads more entries than the one it announced (arm64's contiguous block).
        Nothing when run sequentially."""

    def _only_read(self, loc) -> None:
        """The access announced at the last scheduling point as a write of `loc` only read it
        (an ldarx whose stdcx. was not needed, a hash search that filled no TLB entry): the
        step's footprint says a read, unless the step writes `loc` later on.  Nothing when run
        sequentially."""

    def _hash_bits_only(self, loc) -> None:
        """The step since the last scheduling point, announced as a write of the entry at loc,
        changed only its hash bits (ppc64's H_PAGE_BUSY, HASHPTE, slot): it commutes with a
        read of the entry's other bits.  Nothing when run sequentially."""

    def _defer(self, ptep: int) -> None:
        """A write of the entry is owed but deferred (queued in a hypervisor batch): the
        running operation counts as having written it.  Nothing when run sequentially."""

    def _note(self, event: str) -> None:
        """An event a person reading a step table wants to see (an HPTE inserted, an
        invalidation queued): the explorer writes it in the step's row.  Nothing when run
        sequentially."""

    def pte_access_permitted(self, pte: int, write: bool) -> bool:
        """What GUP-fast may take through the entry: 6.12 include/linux/pgtable.h:1007-1010
        (the generic one, s390's)."""
        return pte_present(pte) and (not write or pte_write(pte))

    def describe_pte(self, pte: int, mm=None, va: int | None = None) -> str:
        """The entry as a person reads it, architecture bits by name: by default the generic
        rendering ('pfn 2 WUAD', unknown arch bits as 'arch=0x..'); a backend with bits of
        its own overrides it (given (mm, va), it may say where the entry's cache entry is)."""
        return pte_str(pte)

    def tlb_miss(self, cpu, mm, va: int, write: bool):
        raise NotImplementedError(f"{self.name}: no MMU miss path")

    def fill_tlb(self, cpu, mm, va: int, ptep: int, pfn: int, writable: bool,
                 gen: int | None = None, seq: int | None = None) -> tuple:
        """The MMU caches a translation of (mm, va) in cpu's TLB: every backend's fill goes
        through here.  By default it was read from the PTE at ptep, under the frame's current
        allocation and the entry's current write count; a backend filling from another cache
        (an HPTE) passes that cache's `gen` and `seq`."""
        entry = (pfn, self.mem.gen[pfn] if gen is None else gen, writable,
                 self.mem.pte_seq.get(ptep, 0) if seq is None else seq)
        cpu.tlb.insert(tlb_key(mm.context, va), entry)
        return entry

    def tlb_prefetch(self, cpu, mm, va: int) -> None:
        """The MMU fills a TLB entry on its own (speculation: "translations required for
        prefetches and for accesses that are a result of speculative execution", Intel SDM
        vol. 3A 4.10.2.3), from what it can reach without software: by default, a read walk."""
        self.tlb_miss(cpu, mm, va, False)

    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        raise NotImplementedError(f"{self.name}: no TLB shootdown")

    def tlb_drop(self, cpu, mm, va: int) -> None:
        """The MMU drops a TLB entry on its own: "processors ... may invalidate any TLB entry
        at any time" (Intel SDM vol. 3A 4.10.2.2); capacity, an unrelated flush..."""
        self._sched(("tlb", cpu.id), True, "the TLB drops an entry")
        cpu.tlb.flush_page(mm.context, va)

    # ---- reading and setting -----------------------------------------------------------
    def ptep_get(self, ptep: int) -> int:
        return self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK]

    def pte_same(self, a: int, b: int) -> bool:
        """include/linux/pgtable.h's pte_same: the two values are equal.  An architecture
        whose entries hold bits only its MMU code keeps (ppc64's hash bits) leaves them out."""
        return a == b

    def ptep_get_compared(self, ptep: int) -> int:
        """ptep_get for a caller that uses the value only through pte_same and the
        accessors that read no architecture bit (pte_none, pte_present, pte_write, pte_pfn,
        pte_mk*, and stores that strip the hash bits): the fault handler's orig_pte and its
        recheck under the lock (mm/memory.py handle_mm_fault), ptep_set_access_flags's
        comparison.  The same load as ptep_get; explored, a read of the bits other than the
        hash bits (explore/points.py, explore/footprint.py OTHER_BITS)."""
        return self.ptep_get(ptep)

    def _get_compared(self, ptep: int) -> int:
        """The primitive load (_get) for such a caller: what debug mode's ptep_get_compared
        loads with, as its ptep_get loads with _get."""
        return self._get(ptep)

    def set_pte_at(self, mm, addr: int, ptep: int, pte: int) -> None:
        self.set_ptes(mm, addr, ptep, pte, 1)

    def set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """nr consecutive entries mapping consecutive frames (include/linux/pgtable.h)."""
        for i in range(nr):
            self._set(ptep + i, pte + (i << PFN_SHIFT))

    def pte_clear(self, mm, addr: int, ptep: int) -> None:
        self._set(ptep, 0)

    def pte_clear_not_present_full(self, mm, addr: int, ptep: int, full: int) -> None:
        self.pte_clear(mm, addr, ptep)

    # ---- clearing ------------------------------------------------------------------------
    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        pte = self._get(ptep)
        self.pte_clear(mm, addr, ptep)
        return pte

    def ptep_get_and_clear_full(self, mm, addr: int, ptep: int, full: int) -> int:
        return self.ptep_get_and_clear(mm, addr, ptep)

    def get_and_clear_full_ptes_each(self, mm, addr: int, ptep: int, nr: int, full: int) -> list:
        """Model's own: nr entries mapping consecutive pages of one folio cleared as
        clear_full_ptes and get_and_clear_full_ptes clear them, each old entry as it was
        (what those merge or drop; a transaction hands each back exactly, G2)."""
        return [self.ptep_get_and_clear_full(mm, addr + (i << PAGE_SHIFT), ptep + i, full) for i in range(nr)]

    def clear_full_ptes(self, mm, addr: int, ptep: int, nr: int, full: int) -> None:
        """include/linux/pgtable.h:700-729 (6.12): ptep_get_and_clear_full on each entry."""
        self.get_and_clear_full_ptes_each(mm, addr, ptep, nr, full)

    def get_and_clear_full_ptes(self, mm, addr: int, ptep: int, nr: int, full: int) -> int:
        """include/linux/pgtable.h:660-697 (6.12): the first old entry, with Dirty and
        Accessed if any of the others had them."""
        olds = self.get_and_clear_full_ptes_each(mm, addr, ptep, nr, full)
        return gather_young_dirty(olds[0], olds[1:])

    def ptep_clear_flush(self, vma, addr: int, ptep: int) -> int:
        """mm/pgtable-generic.c: clear, then flush if a TLB could hold the old entry."""
        pte = self.ptep_get_and_clear(vma.mm, addr, ptep)
        if pte_accessible(pte):
            self.flush_tlb_page(vma, addr)
        return pte

    # ---- changing a valid entry --------------------------------------------------------
    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        self._set(ptep, pte_wrprotect(self._get(ptep)))

    def ptep_set_wrprotect_noncont(self, mm, addr: int, ptep: int) -> None:
        """arm64's __ptep_set_wrprotect, blind to contiguous blocks; elsewhere the same."""
        self.ptep_set_wrprotect(mm, addr, ptep)

    def wrprotect_ptes(self, mm, addr: int, ptep: int, nr: int) -> None:
        """include/linux/pgtable.h:835-864 (6.12): ptep_set_wrprotect on each of nr entries
        mapping consecutive pages of one folio, in one PTE table, under its lock."""
        for i in range(nr):
            self.ptep_set_wrprotect(mm, addr + (i << PAGE_SHIFT), ptep + i)

    def wrprotect_ptes_noncont(self, mm, addr: int, ptep: int, nr: int) -> None:
        """arm64's __wrprotect_ptes, blind to contiguous blocks; elsewhere wrprotect_ptes."""
        self.wrprotect_ptes(mm, addr, ptep, nr)

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        """mm/pgtable-generic.c: only ever relaxes (adds Accessed, Dirty, write)."""
        changed = self._get(ptep) != entry
        if changed:
            self._set(ptep, entry)
            self.flush_tlb_fix_spurious_fault(vma, addr, ptep)
        return changed

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        pte = self._get(ptep)
        if not pte & _PAGE_ACCESSED:
            return 0
        self._set(ptep, pte_mkold(pte))
        return 1

    def ptep_clear_flush_young(self, vma, addr: int, ptep: int) -> int:
        young = self.ptep_test_and_clear_young(vma, addr, ptep)
        if young:
            self.flush_tlb_page(vma, addr)
        return young

    def clear_young_dirty_ptes(self, vma, addr: int, ptep: int, nr: int, flags: int) -> None:
        """include/linux/pgtable.h:489-511 (6.12), for an architecture that does not define
        its own: CYDP_CLEAR_YOUNG alone is ptep_test_and_clear_young; otherwise each entry
        is cleared with ptep_get_and_clear and written back, aged and cleaned, with
        set_pte_at.  This is core code built from accessors: debug mode checks the
        accessors it calls (debug.py), so a rule they break is the generic code's."""
        for i in range(nr):
            a, p = addr + (i << PAGE_SHIFT), ptep + i
            if flags == CYDP_CLEAR_YOUNG:
                self.ptep_test_and_clear_young(vma, a, p)
                continue
            pte = self.ptep_get_and_clear(vma.mm, a, p)
            if flags & CYDP_CLEAR_YOUNG:
                pte = pte_mkold(pte)
            if flags & CYDP_CLEAR_DIRTY:
                pte = pte_mkclean(pte)
            self.set_pte_at(vma.mm, a, p, pte)

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        return self.ptep_get_and_clear(vma.mm, addr, ptep)

    def ptep_modify_prot_commit(self, vma, addr: int, ptep: int, old_pte: int, pte: int) -> None:
        self.set_pte_at(vma.mm, addr, ptep, pte)

    # ---- batching ------------------------------------------------------------------------
    def arch_enter_lazy_mmu_mode(self) -> None:
        self.machine.this_cpu.lazy_mmu = True

    def arch_leave_lazy_mmu_mode(self) -> None:
        self.machine.this_cpu.lazy_mmu = False

    # ---- TLB and MMU-cache maintenance ---------------------------------------------------
    def flush_tlb_page(self, vma, addr: int) -> None:
        self.flush_tlb_mm_range(vma.mm, addr, addr + PAGE_SIZE)

    def flush_tlb_range(self, vma, start: int, end: int) -> None:
        self.flush_tlb_mm_range(vma.mm, start, end)

    def flush_tlb_mm(self, mm) -> None:
        self.flush_tlb_mm_range(mm, 0, 1 << 48)

    def flush_tlb_fix_spurious_fault(self, vma, addr: int, ptep: int) -> None:
        self.flush_tlb_page(vma, addr)

    def flush_tlb_page_nosync(self, vma, addr: int) -> None:
        """arm64's TLBI without its DSB (tlbflush.h:318-322); elsewhere a complete flush."""
        self.flush_tlb_page(vma, addr)

    def dsb_ish(self) -> None:
        """arm64's DSB ISH, completing this CPU's TLBIs; nothing elsewhere."""

    def update_mmu_cache(self, vma, addr: int, ptep: int) -> None:
        pass

    def switch_mm(self, cpu, prev, next_) -> None:
        """switch_mm: the CPU joins next's mm_cpumask and stays in prev's (the TLB keeps
        prev's entries, tagged with its context, and the shootdowns still reach it)."""
        cpu.mm = next_
        cpu.is_lazy = False
        next_.cpumask.add(cpu.id)

    def attach_ready(self, mm):
        """A condition a CPU's context switch to mm waits for (explore/points.py), or None:
        never by default."""
        return None

    def finish_arch_post_lock_switch(self, cpu) -> None:
        """What the architecture does once a context switch to cpu.mm is done, before the
        task runs (kernel/sched/core.c finish_task_switch): nothing by default."""

    def enter_lazy_tlb(self, cpu) -> None:
        """Nothing by default: the CPU keeps the mm and receives its flushes."""

    def tlb_flush(self, tlb) -> None:
        """asm-generic/tlb.h tlb_flush: the mmu_gather's one shootdown."""
        if tlb.fullmm or tlb.need_flush_all:
            self.flush_tlb_mm(tlb.mm)
        elif tlb.end > tlb.start:
            self.flush_tlb_mm_range(tlb.mm, tlb.start, tlb.end)

    def pte_free_tlb(self, tlb, addr: int) -> None:
        """What the architecture adds when the mmu_gather frees a PTE table (pte_free_tlb):
        nothing by default (include/asm-generic/tlb.h)."""

    def tlb_remove_tlb_entry(self, tlb, ptep: int, addr: int) -> None:
        """__tlb_remove_tlb_entry: an architecture hook, nothing by default."""

    # ---- reclaim's deferred shootdown (arch_tlbbatch_*) --------------------------------
    def arch_tlbbatch_add_mm(self, batch: set, mm) -> None:
        batch.update(mm.cpumask)

    def arch_tlbbatch_add_pending(self, batch: set, mm, uaddr: int) -> None:
        """mm/rmap.c set_tlb_ubc_flush_pending: the page at uaddr of mm joins the batch."""
        self.arch_tlbbatch_add_mm(batch, mm)

    def arch_tlbbatch_flush(self, batch: set) -> None:
        raise NotImplementedError(f"{self.name}: no batched unmap flush")

    def hashed(self, pte: int) -> bool:
        """Does the PTE say a hash-table entry was made from it? (hash MMUs only)"""
        return False

    def pte_state_words(self, pte: int) -> str:
        """For the derived state machine (states.py): what this architecture's entry holds
        beyond pte_present, pte_write, pte_young and pte_dirty that its accessors act on, in
        a word or two ("hashed"), or "" when nothing."""
        return "hashed" if self.hashed(pte) else ""

    # ---- the transactional interface's levels (ptelab/txn.py calls them; docs/txn.md) ------
    # The generic commit applies a round of intents with the accessors above, leaves lazy MMU
    # mode, then makes one flush_tlb_range; a backend overrides only the level it needs.
    txn_break_before_make = False  # clear every entry the round rewrites, issue the batch and the
                                   # flush once, then write the new entries (hash MMUs)
    txn_flush_in_lazy = False  # the round's flush is made before leaving lazy MMU mode, so it
                               # joins what the section batched (Xen: one multicall)
    txn_in_place: tuple = ()  # intents the accessors carry out in place on a live entry, whose
                              # entries txn_round_begin need not take out of use (arm64: age)

    def txn_round_begin(self, mm, rewritten: list) -> None:
        """A lazy-MMU section of a commit begins, under the PTE locks: it will replace the
        present entries `rewritten` ((addr, ptep) in address order; unmap, protect, move,
        clean, relax, and age of a young entry) with values of their own.  The backend may
        take them out of use in one go first (s390's IPTE range), or prepare to batch the
        section's writes its own way (Xen).  Nothing by default: each accessor does its own."""

    def txn_round_out_of_use(self, mm, rewritten: list, runs: list) -> list:
        """Which entries txn_round_begin takes out of use: `rewritten` (addr, ptep) by
        default.  `runs` are the round's wrprotect and unmap intents of present entries
        ((addr, ptep, op), in the order stated), each run of consecutive ones written with
        one batch accessor (wrprotect_ptes; txn_unmap_run).  arm64 leaves out the blocks a
        run covers whole and adds those it covers in part."""
        return rewritten

    txn_unmap_run = None  # or (mm, addr, ptep, nr) -> the nr old entries: a run of unmaps
                          # cleared with the backend's batch accessor (arm64); else one by one

    def txn_clean_in_place(self, mm, cleans: list) -> set:
        """Of the round's clean intents ((addr, ptep, wrprotect, mkold)), the pteps of those
        this backend cleans in place, on the live entry (txn_clean_run; never one with
        wrprotect), where the generic commit breaks the entry and makes it clean once the
        break is flushed.  None by default: the generic clear_young_dirty_ptes writes the
        cleaned entry over its own unflushed clear inside a lazy-MMU section
        (include/linux/pgtable.h:489-511, 6.12: the MADV_FREE finding, op-madv-free.litmus)."""
        return set()

    txn_clean_run = None  # or (vma, addr, ptep, nr, mkold) -> the nr old entries, each exact:
                          # a run of cleans made in place (arm64)

    # ---- what the explorer's invariants ask of the hardware --------------------------------
    def cached_translations(self, mm, va: int):
        """Translations of (mm, va) the hardware holds outside the per-CPU TLBs (which every
        backend has and the invariants read directly): a hash table, a hypervisor's queue,
        a VHPT...  Each is (where, pfn, allocation generation, writable, cpu or None, seq):
        seq is the write of the PTE it was filled from (machine/memory.py, pte_seq)."""
        return ()

    def cache_locations(self, mm, va: int) -> tuple:
        """The explorer's locations (explore/points.py) that cached_translations(mm, va)
        reads, so a check reading them is ordered against the steps that change them."""
        return ()

    def all_cached_translations(self):
        """Every translation held outside the per-CPU TLBs, whatever its address:
        (where, context, va, pfn, allocation generation, writable, seq)."""
        return ()

    def entry_written_at(self, ptep: int) -> int:
        """The entry at ptep as software last wrote it (see entry_as_written): what debug
        mode judges a call by, so that its rules hold whatever the backend defers."""
        return self.tables[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK]

    def entry_as_written(self, mm, va: int) -> int:
        """The entry mapping va as software last wrote it: what the page table holds, unless
        the backend holds a write it has not made yet (Xen's queued mmu_update).  The
        stale-translation invariant judges the cached translations against it."""
        return mm.entry(va)

    def abstract_caches(self, mm, addr: int) -> str:
        """For the derived state machine (states.py): what this architecture's own structures
        beyond the TLBs hold for (mm, addr), in a few words ("hash ro", "queued update"), or
        "-" when it has none.  Say DUPLICATE or CONFLICT in it for an architecturally illegal
        state, which the diagrams draw in red."""
        return "-"

    def abstract_frame(self, pfn: int) -> str:
        """For the derived state machine (states.py): what this architecture keeps for the
        frame pfn outside the page tables and outside memory (s390's storage key), whatever
        maps it now, in a few words, or "-" when it keeps nothing."""
        return "-"

    @staticmethod
    def kernel_view_cache(pte_class: str, hashed: bool, cache: str) -> str:
        """What the kernel view (kernel_view.py) says of a state's abstract_caches text, in a
        kernel developer's words, given the PTE's class ("none", "swap", "ro", "rw dirty"...)
        and whether it is hashed: "" when there is nothing worth a state of its own.  By
        default the text itself."""
        return "" if cache == "-" else cache

    def evict_cached(self, mm, addr: int) -> bool:
        """The hardware drops what its own structures (beyond the TLBs) cache for (mm, addr),
        as a hash table evicts an entry: True if there was something to drop."""
        return False

    def pending_invalidation(self, mm, addr: int) -> bool:
        """Is an invalidation of (mm, addr) queued on this CPU and not yet issued?"""
        return False

    def pte_as_set(self, pte: int) -> int:
        """The entry this backend stores when core code hands it `pte` (what set_pte_at
        makes of it), for a reader predicting it (txn.py): `pte` by default; s390-2.6.27
        drops Young and Dirty, which its pte_mkyoung and pte_mkdirty never set."""
        return pte

    def writable_translation(self, pte: int) -> bool:
        """May the MMU cache a translation of this entry that stores use without a fault?
        By default when it is writable and dirty (x86 caches a writable entry only with Dirty
        set; the software-dirty backends make a clean entry fault on the first store)."""
        return bool(pte & _PAGE_RW and pte & _PAGE_DIRTY)

    def frame_state(self, pfn: int, young: bool, dirty: bool) -> None:
        """A scenario declares the page at frame pfn young or old, dirty or clean (litmus
        initial state): what the hardware records of it outside the PTE is made to agree (an
        s390 storage key's R and C).  Nothing by default: the entry says it all."""

    def page_test_and_clear_dirty(self, pfn: int) -> bool:
        """Was frame pfn written since the hardware last recorded it clean outside the PTEs,
        and record it clean (2.6.27's page_test_dirty then page_clear_dirty, called from
        mm/rmap.c page_mkclean and page_remove_rmap; include/asm-generic/pgtable.h:106-112
        2.6.27: 0 and nothing, as here).  Generic mm calls it where 2.6.27 did."""
        return False

    def dirty_recorded(self, pfn: int) -> bool:
        """Does the hardware record, outside the PTEs, that frame `pfn` was written (an s390
        storage key's change bit, a hash entry's C bit)?  The lost-dirty invariant counts it."""
        return False
