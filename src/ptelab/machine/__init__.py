"""The hardware: physical memory, CPUs with TLBs, and the user-access path.

The machine knows nothing of Linux.  Its architecture backend (arch/) is handed
in after construction and supplies the part of the access path that differs per
MMU: what happens on a TLB miss.
"""

from __future__ import annotations

from contextlib import contextmanager
from weakref import WeakValueDictionary

from .counters import Counters
from .cpu import CPU
from .memory import PG_reserved, PhysicalMemory
from .rwsem import RwSemaphore
from .tlb import tlb_key
from .violation import USE_AFTER_FREE, InvariantViolation

FAULT = -1

# CPU features a machine may be given (`--cpu-feature`): every CPU has them, as the kernel
# sees a system-wide capability (arch/arm64/kernel/cpufeature.c, ARM64_CPUCAP_SYSTEM_FEATURE)
CPU_FEATURES = {
    # ID_AA64ISAR0_EL1.TLB == RANGE (cpufeature.c:2576-2581, 6.12): TLBI RVAE1IS and friends
    "tlbirange": "arm64 FEAT_TLBIRANGE: TLB range invalidations (TLBI RVAE1IS, Arm ARM DDI 0487 C5.5)",
}


class UnknownFeature(ValueError):
    def __init__(self, name: str):
        super().__init__(f"unknown CPU feature {name!r}; choose from: {', '.join(CPU_FEATURES)}")


class Machine:
    def __init__(self, ncpus: int = 2, tlb_capacity: int = 1536, features=()):
        if ncpus < 1:
            raise ValueError("a machine needs at least one CPU")
        for name in features:
            if name not in CPU_FEATURES:
                raise UnknownFeature(name)
        self.features = frozenset(features)  # CPU_FEATURES names; a backend reads what it knows
        self.counters = Counters()
        self.mem = PhysicalMemory(self.counters)
        self.cpus = [CPU(i, tlb_capacity) for i in range(ncpus)]
        self.this_cpu = self.cpus[0]
        self.arch = None
        self.debug = None  # ptelab.debug installs itself here
        self.hash_table = None
        self.storage_keys = None  # s390's per-frame keys (storage_key.py), where the backend has them
        self._next_context = 1
        self.address_spaces = WeakValueDictionary()  # context -> PageDirectory
        self.zero_pfn = self.mem.alloc_page(PG_reserved)
        self.rwsem_class = RwSemaphore  # the explorer's are scheduling points
        self.api = "legacy"  # mm's PTE code: "legacy" (accessors) or "txn" (ptelab/txn.py)
        self.txns: list = []  # transactions committing now (txn.py): the explorer's G3 check
        self.pins: list = []  # (mm, addr, pfn) of each write pin held (mm/gup.py): the explorer's check

    def wait_event(self, loc, condition, what: str) -> None:
        """Kernel code sleeps until condition() holds (wait_event, a folio lock).  In the
        explorer that is a scheduling point enabled only once the condition holds; in a
        sequential run nobody else can make it hold: no progress."""
        if not condition():
            raise RuntimeError(f"no progress: {what} would sleep forever (nothing else runs)")

    def shared(self, loc, write: bool) -> None:
        """Kernel code read or wrote shared state that is not a scheduling point (a vma
        list walked locklessly, a lock sequence number): the explorer records it in the
        step's footprint; a sequential machine does nothing."""

    def gup_took(self, mm, addr: int, pfn: int, write: bool) -> None:
        """GUP-fast kept a reference on the page it found at addr (mm/gup.py): the explorer
        checks the entry maps it there now, as asked; a sequential machine does nothing."""

    def new_context(self) -> int:
        context = self._next_context
        self._next_context += 1
        return context

    @contextmanager
    def on_cpu(self, cpu: CPU):
        """Run kernel code on `cpu`: smp_processor_id() for the accessors inside."""
        previous, self.this_cpu = self.this_cpu, cpu
        try:
            yield cpu
        finally:
            self.this_cpu = previous

    def switch_mm(self, cpu: CPU, pgd) -> None:
        """Load an address space on a CPU as a context switch does (kernel/sched/core.c
        context_switch): the architecture's switch_mm_irqs_off, then finish_task_switch's
        finish_arch_post_lock_switch.  Also the return from lazy TLB mode to the same mm."""
        self._attach(cpu, pgd)
        self.arch.finish_arch_post_lock_switch(cpu)

    def switch_mm_irqs_off(self, cpu: CPU, pgd) -> None:
        """The first half alone: the CPU attaches to the address space (it joins
        mm_cpumask)."""
        self._attach(cpu, pgd)

    def _attach(self, cpu: CPU, pgd) -> None:
        self.shared(("cpumask", pgd.context), True)
        if cpu.mm is not None and cpu.mm is not pgd:
            self.shared(("cpumask", cpu.mm.context), True)
        self.arch.switch_mm(cpu, cpu.mm, pgd)

    def enter_lazy_tlb(self, cpu: CPU) -> None:
        """The CPU's thread of its mm stops (it sleeps, or exits to the idle task), the mm
        stays loaded (enter_lazy_tlb)."""
        if cpu.mm is not None:  # which CPUs use the mm's entries changes (explore/invariants.py)
            self.shared(("cpumask", cpu.mm.context), True)
        self.arch.enter_lazy_tlb(cpu)

    def translate(self, cpu: CPU, pgd, va: int, write: bool) -> int:
        """One user access attempt: the frame reached, or FAULT for the OS to handle.

        A TLB hit is used as is, a store needing a writable entry; otherwise the
        architecture's miss path runs (hardware walk, or hash search + hash_page).
        """
        entry = cpu.tlb.entries.get(tlb_key(pgd.context, va))
        if entry is None or (write and not entry[2]):
            entry = self.arch.tlb_miss(cpu, pgd, va, write)
            if entry is None:
                return FAULT
        pfn, gen = entry[0], entry[1]
        if self.mem.gen[pfn] != gen:
            state = "free" if self.mem.is_free(pfn) else "reused"
            self.violation(USE_AFTER_FREE, f"{'store' if write else 'load'} through a stale "
                           f"translation reaches a {state} frame", va=va, pfn=pfn, cpu=cpu.id)
        if self.storage_keys is not None:
            self.storage_keys.access(pfn, write)
        return pfn

    def access(self, cpu: CPU, va: int, write: bool) -> int:
        """A user access by `cpu` in the address space it runs: the frame, or FAULT."""
        if cpu.mm is None:
            return FAULT
        return self.translate(cpu, cpu.mm, va, write)

    def operation_begin(self, name: str) -> None:
        """An mm operation that promises something at its return starts on this_cpu (an
        mmu_gather, change_protection, page_mkclean).  The explorer checks the promise when
        it ends (explore/invariants.py, operation contracts); nothing happens sequentially."""

    def operation_end(self) -> None:
        """The innermost operation begun on this_cpu returns."""

    def handed_back(self, olds) -> None:
        """Old entries, cleared or changed earlier, reach their caller only now (a
        transaction's results, at its commit): the explorer's lost-dirty invariant counts
        a Dirty bit as recorded from here on, as it does at an accessor's return."""

    def violation(self, invariant: str, detail: str, **where) -> None:
        """A safety invariant broke.  Sequential runs stop here; the explorer records it."""
        raise InvariantViolation(invariant, detail, **where)
