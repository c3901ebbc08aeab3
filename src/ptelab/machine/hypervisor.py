"""Xen, as the page tables of a paravirtualised (PV) x86-64 guest see it.

A PV guest's page tables are the ones the MMU walks (the hardware walker sets
Accessed and Dirty in them as on native x86), but the guest maps every page-table
page read-only, and Xen validates each change (include/xen/interface/xen.h:140-168,
Linux 6.12, the guest's copy of the interface):

- `mmu_update` (xen.h:28, 131-139, 251-253) makes a list of requests, each
  `(ptr | cmd, val)`: MMU_NORMAL_PT_UPDATE is a checked `*ptr = val`;
  MMU_PT_UPDATE_PRESERVE_AD is "atomically: *ptr = val | (*ptr&(A|D))" (xen.h:181-183,
  253), so Accessed and Dirty set by the hardware since the guest read the entry survive;
- a direct write to a pinned table faults, and Xen emulates it ("the OS can also try to
  write to the PTE and be trapped by the hypervisor (as the PTE entry is RO)", xen.h:167-168):
  correct, but a fault, a decode and a validation per write, so much dearer;
- Xen refuses an update that would map a page-table page writable ("will disallow any
  pagetable update which will end up mapping pagetable page RW", xen.h:143-146);
- `mmuext_op` (xen.h:52, 279-290, 325-328) flushes TLBs: MMUEXT_TLB_FLUSH_LOCAL,
  MMUEXT_INVLPG_LOCAL, and on a set of vCPUs MMUEXT_TLB_FLUSH_MULTI / MMUEXT_INVLPG_MULTI,
  which Xen carries out itself (no guest IPI) and returns from when they are done;
- `multicall` (xen.h:39) runs a list of hypercalls in one trap.

The per-CPU multicall buffer (struct mc_buffer, arch/x86/xen/multicalls.c:38-46) is the
guest kernel's, but it is what the hypervisor reads when the batch is issued, and until
then the page tables do not hold what it queues: so it lives here, beside the
hypervisor; how the guest fills and issues it (xen_mc_entry, xen_mc_extend_args,
xen_mc_flush) is in arch/xen.py.

Pinning is modelled as far as the accessors need it: every PTE-table page of an mm is
pinned (xen_enter_mmap pins the whole tree, xen_alloc_ptpage pins a table allocated later,
arch/x86/xen/mmu_pv.c:955-960, 1594-1613), until exit_mmap unpins the mm
(xen_exit_mmap, mmu_pv.c:1036-1049).

The hypervisor reaches the page tables through the backend's primitives (`ptes._set`,
`ptes._update`, `ptes._sched`), so that each of its accesses is a scheduling point for
the explorer like any other.
"""

from __future__ import annotations

from ..pte import PFN_SHIFT, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW
from .counters import (
    TLB_FLUSH_FULL,
    TLB_FLUSH_PAGE,
    TLB_FLUSH_REMOTE,
    XEN_HYPERCALL,
    XEN_MMU_UPDATE,
    XEN_TLB_FLUSH,
    XEN_TRAPPED_WRITE,
)
from .memory import PG_pgtable

# include/xen/interface/xen.h (6.12)
HYPERVISOR_mmu_update = 1  # xen.h:28
HYPERVISOR_mmuext_op = 26  # xen.h:52
MMU_NORMAL_PT_UPDATE = 0  # xen.h:251
MMU_PT_UPDATE_PRESERVE_AD = 2  # xen.h:253
MMUEXT_TLB_FLUSH_LOCAL = 6  # xen.h:325
MMUEXT_INVLPG_LOCAL = 7  # xen.h:326
MMUEXT_TLB_FLUSH_MULTI = 8  # xen.h:327
MMUEXT_INVLPG_MULTI = 9  # xen.h:328
SIZEOF_MMU_UPDATE = 16  # struct mmu_update: u64 ptr, u64 val (xen.h:460-463)
SIZEOF_MMUEXT_OP = 24  # struct mmuext_op: cmd, arg1, arg2 (xen.h:341-354)

# arch/x86/xen/multicalls.c:33-35
MC_BATCH = 32
MC_ARGS = MC_BATCH * 16

_AD = _PAGE_ACCESSED | _PAGE_DIRTY


class XenRefused(RuntimeError):
    """The hypervisor refused an update (the guest's multicall then fails: xen_mc_flush
    WARNs and the entry is not changed, arch/x86/xen/multicalls.c:186-200)."""


class MulticallBuffer:
    """struct mc_buffer of one CPU, and its xen_lazy_mode (arch/x86/xen/enlighten_pv.c:139).
    `entries` are [op, requests]: one multicall entry each, whose argument list
    xen_mc_extend_args may grow; `argidx` is the bytes of argument space used."""

    __slots__ = ("entries", "argidx", "lazy", "unbounded")

    def __init__(self):
        self.entries: list[list] = []
        self.argidx = 0
        self.lazy = False
        self.unbounded = False  # a txn commit's own request array: no MC_ARGS bound (arch/xen.py)

    def queued(self, ptep: int):
        """The requests queued for the entry at ptep, oldest first: (cmd, val)."""
        return [(cmd, val) for op, requests in self.entries if op == HYPERVISOR_mmu_update
                for p, cmd, val in requests if p == ptep]


def apply_update(cmd: int, old: int, val: int) -> int:
    """What an mmu_update request leaves in an entry that held `old`."""
    if cmd == MMU_PT_UPDATE_PRESERVE_AD:
        return val | (old & _AD)
    return val


class Hypervisor:
    def __init__(self, machine):
        self.machine = machine
        self.mem = machine.mem
        self.counters = machine.counters
        self.unpinned: set[tuple[int, int]] = set()  # (table pfn, its allocation generation)

    # ---- pinning and validation ------------------------------------------------------
    def pinned(self, table_pfn: int) -> bool:
        mem = self.mem
        return bool(mem.flags[table_pfn] & PG_pgtable) and (table_pfn, mem.gen[table_pfn]) not in self.unpinned

    def unpin(self, table_pfn: int) -> None:
        """MMUEXT_UNPIN_TABLE, and the table is mapped writable again (xen_pgd_unpin)."""
        self.unpinned.add((table_pfn, self.mem.gen[table_pfn]))

    def validate(self, val: int) -> None:
        """get_page_from_l1e's check: no writable mapping of a pinned page-table page."""
        pfn = val >> PFN_SHIFT
        if val & _PAGE_PRESENT and val & _PAGE_RW and pfn < len(self.mem.flags) and self.pinned(pfn):
            raise XenRefused(f"mmu_update: a writable mapping of pinned page-table page {pfn} is refused")

    # ---- hypercalls ------------------------------------------------------------------------
    def hypercall(self, ptes, op: int, requests: list) -> None:
        """One hypercall made directly (HYPERVISOR_mmu_update, HYPERVISOR_mmuext_op)."""
        self.counters[XEN_HYPERCALL] += 1
        self._run(ptes, op, requests)

    def multicall(self, ptes, entries: list) -> None:
        """HYPERVISOR_multicall: every entry, in order, in one trap."""
        self.counters[XEN_HYPERCALL] += 1
        for op, requests in entries:
            self._run(ptes, op, requests)

    def _run(self, ptes, op: int, requests: list) -> None:
        if op == HYPERVISOR_mmu_update:
            for ptep, cmd, val in requests:
                self.mmu_update(ptes, ptep, cmd, val)
        else:
            for request in requests:
                self.mmuext_op(ptes, *request)

    def mmu_update(self, ptes, ptep: int, cmd: int, val: int) -> None:
        """One request: validated, then a store, or for PRESERVE_AD a cmpxchg loop that
        ORs in the A/D bits the entry has at that moment."""
        self.validate(val)
        self.counters[XEN_MMU_UPDATE] += 1
        if cmd == MMU_PT_UPDATE_PRESERVE_AD:
            ptes._update(None, 0, ptep, ~_AD, val, "Xen: mmu_update PRESERVE_AD")
        else:
            ptes._set(ptep, val, "Xen: mmu_update NORMAL_PT_UPDATE")

    def emulate_write(self, ptes, ptep: int, clr: int, set_: int) -> int:
        """A guest's locked read-modify-write (or store) of a pinned table: it faults, Xen
        decodes and validates it and makes it atomically (ptwr emulation); the old value."""
        self.validate(set_)
        self.counters[XEN_TRAPPED_WRITE] += 1
        return ptes._update(None, 0, ptep, clr, set_, "trapped write, emulated by Xen")

    def mmuext_op(self, ptes, cmd: int, context: int, va: int, vcpus: tuple) -> None:
        """A TLB flush, done by Xen on each vCPU named (the issuer's own for *_LOCAL)."""
        self.counters[XEN_TLB_FLUSH] += 1
        this = self.machine.this_cpu
        single = cmd in (MMUEXT_INVLPG_LOCAL, MMUEXT_INVLPG_MULTI)
        for cpu_id in vcpus:
            cpu = self.machine.cpus[cpu_id]
            ptes._sched(("tlb", cpu_id), True, f"Xen flushes cpu{cpu_id}'s TLB")
            if cpu is not this:
                self.counters[TLB_FLUSH_REMOTE] += 1
            else:
                self.counters[TLB_FLUSH_PAGE if single else TLB_FLUSH_FULL] += 1
            if single:
                cpu.tlb.flush_page(context, va)
            else:
                cpu.tlb.entries.clear()  # a PV guest's TLB flush drops every non-global entry
