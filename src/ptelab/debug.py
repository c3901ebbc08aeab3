"""Debug mode: the rulebook's `debug` rules checked on every accessor call.

`enable_debug(machine)` puts a DebugArch in front of the backend.  Core code and
the accessor surface both call `machine.arch`, so every call is checked; the
backend's calls to itself (the asm-generic defaults built from primitives) are
not core code and are not checked.  The rules of *all* architectures are enforced
whichever backend runs: a sequence that would corrupt memory only on powerpc
fails on x86 too.  That is the point of it.

Bookkeeping, per CPU: the lazy-MMU writes of the current section, a pending
ptep_modify_prot_start.  Per mm: clears of valid entries not yet covered by a
flush (flush_tlb_*, ptep_clear_flush, the mmu_gather's tlb_flush, reclaim's
batched flush), and per frame how many such clears still point to it.
"""

from __future__ import annotations

import sys
from .arch.generic import GenericArch
from .machine.memory import PG_anon, PTE_TABLE_SHIFT
from .pte import (
    PAGE_SHIFT,
    PFN_SHIFT,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_EXEC,
    _PAGE_PRESENT,
    _PAGE_PROTNONE,
    _PAGE_RW,
    _PAGE_USER,
    pte_pfn,
    pte_present,
    pte_str,
)
from .rules import BY_ID

_STATE_BITS = _PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_RW | _PAGE_USER | _PAGE_EXEC | _PAGE_ACCESSED | _PAGE_DIRTY
_INTERNAL = ("ptelab/debug.py", "ptelab/accessors.py", "ptelab/arch/")


class RuleViolation(Exception):
    """A rule of the rulebook was broken by an accessor call."""

    def __init__(self, rule_id: str, accessor: str, args: tuple, pte_before, where: str, detail: str = ""):
        self.rule = rule_id
        self.accessor = accessor
        self.args = args
        self.pte_before = pte_before
        self.where = where
        before = pte_str(pte_before) if pte_before is not None else "-"
        text = f"[{rule_id}] {accessor}({', '.join(map(_arg, args))}) on entry '{before}'"
        if detail:
            text += f": {detail}"
        text += f"\n  rule: {BY_ID[rule_id].statement}\n  at {where}"
        super().__init__(text)


def _arg(value) -> str:
    return f"{value:#x}" if isinstance(value, int) and value > 4096 else repr(value)


def call_site(frame=None) -> str:
    """The first frame outside the accessor and debug machinery, from `frame` (the
    caller's by default) outward: where core code called."""
    frame = frame or sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename.replace("\\", "/")
        if not any(part in filename for part in _INTERNAL):
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


class _CpuState:
    __slots__ = ("lazy_written", "prot_pending", "prot_old", "locked_table", "deferred_flushes", "lazy_cleared",
                 "unsynced", "own_cleared", "dirty_shared")

    def __init__(self):
        self.lazy_written: set[int] | None = None  # None outside a lazy section
        self.prot_pending = None  # the ptep between modify_prot start and commit
        self.prot_old = 0  # what that start returned
        self.locked_table = None  # a PTE table whose lock this CPU was seen holding
        self.deferred_flushes: list = []  # flush_tlb_* inside a lazy section: effective at leave
        self.lazy_cleared: dict = {}  # (mm, addr) -> old: valid entries cleared in this lazy section
        self.own_cleared: dict = {}  # (mm, addr) -> old: valid entries this CPU cleared, not yet flushed
        self.unsynced: list = []  # (mm, start, end): flush_tlb_page_nosync, effective at this CPU's dsb
        self.dirty_shared: dict = {}  # (mm, addr) -> old: dirty entries of non-anonymous pages cleared


class DebugArch:
    """The backend, with every accessor of the surface checked against the rulebook."""

    def __init__(self, machine, arch):
        self._arch = arch
        self._machine = machine
        self._mem = machine.mem
        for cpu in machine.cpus:
            cpu.debug = _CpuState()
        self._ptl = machine.mem.ptl
        self.record: list[str] | None = None  # a list: breaches are recorded, not raised
        # mm -> {addr: the value the clear returned} for clears no flush has covered yet
        self._unflushed: dict[object, dict[int, int]] = {}
        self.tlb_miss = arch.tlb_miss  # the hardware is not checked: bind it directly
        self._get = arch.ptep_get
        self._get_compared = arch._get_compared
        # neither accessors of the surface nor checked: what the explorer's checks and the
        # model's own code ask of the hardware after most steps, bound directly (not looked
        # up through __getattr__, after a failed lookup, at every call)
        for name in ("cache_locations", "cached_translations", "entry_as_written", "describe_pte", "pte_same",
                     "update_mmu_cache"):
            setattr(self, name, getattr(arch, name))
        self._start = arch.ptep_modify_prot_start
        self._commit = arch.ptep_modify_prot_commit
        # the checks' own reads are not accesses of the code being checked (no scheduling
        # point); they see the entry as written, a write the backend still defers included
        self._peek = arch.entry_written_at

    def __getattr__(self, name):
        return getattr(self._arch, name)

    # ---- helpers ---------------------------------------------------------------------
    def _fail(self, rule_id, accessor, args, ptep=None, detail=""):
        if self.record is not None:  # recording (the state-machine generator): note it, go on
            self.record.append(rule_id)
            return
        before = self._peek(ptep) if ptep is not None else None
        raise RuleViolation(rule_id, accessor, args, before, call_site(), detail)

    def _cpu(self) -> _CpuState:
        return self._machine.this_cpu.debug

    def _lock_held(self, accessor, args, ptep, cpu_id):
        owner = self._ptl[ptep >> PTE_TABLE_SHIFT].owner
        if owner != cpu_id:
            self._fail("lock-held", accessor, args, ptep,
                       f"PTE lock {'not held' if owner is None else f'held by cpu{owner}'}")

    def _changing(self, accessor, args, ptep):
        """Checks common to every accessor that changes an entry."""
        cpu = self._machine.this_cpu
        self._lock_held(accessor, args, ptep, cpu.id)
        if cpu.debug.prot_pending == ptep:
            self._fail("prot-pairing", accessor, args, ptep, "the entry is between modify_prot start and commit")

    def _reading(self, accessor, args, ptep):
        written = self._cpu().lazy_written
        if written is not None and ptep in written:
            self._fail("lazy-no-readback", accessor, args, ptep,
                       "this CPU wrote the entry earlier in the same lazy-MMU section")

    def _rmw(self, accessor, args, ptep):
        """Checks for an accessor that reads the entry and changes it."""
        self._changing(accessor, args, ptep)
        self._reading(accessor, args, ptep)

    def _wrote(self, ptep, nr=1):
        written = self._cpu().lazy_written
        if written is not None:
            written.update(range(ptep, ptep + nr))

    def _cleared(self, mm, addr, old):
        """A valid entry was cleared and no flush came with it."""
        if old & _PAGE_PRESENT:
            entries = self._unflushed.get(mm)
            if entries is None:
                entries = self._unflushed[mm] = {}
            entries[addr] = old
            state = self._cpu()
            state.own_cleared[(mm, addr)] = old
            if state.lazy_written is not None:
                state.lazy_cleared[(mm, addr)] = old

    def _dirty_shared_cleared(self, mm, addr, old):
        """A cleared entry whose Dirty goes to a page that is not anonymous: its flush is owed
        before the PTE lock goes (flush-dirty-shared-before-unlock)."""
        if old & _PAGE_PRESENT and old & _PAGE_DIRTY:
            pfn = pte_pfn(old)
            if pfn < len(self._mem.flags) and not self._mem.flags[pfn] & PG_anon:
                self._cpu().dirty_shared[(mm, addr)] = old

    def _tlb_flushed(self, mm, start=0, end=1 << 64):
        """flush_tlb_page/range/mm: inside a lazy-MMU section they count only once it is
        left, since a hash MMU issues its queued invalidations then (its flush_tlb_* are
        no-ops while the batch is active)."""
        state = self._cpu()
        if state.lazy_written is not None:
            state.deferred_flushes.append((mm, start, end))
        else:
            self._flushed(mm, start, end)

    def _flushed(self, mm, start=0, end=1 << 64):
        for cpu in self._machine.cpus:  # (a flush pays a dirty shared clear's debt too: a clean
            # clear after it owes nothing at unlock, flush-dirty-shared-before-unlock)
            for cleared in (cpu.debug.lazy_cleared, cpu.debug.own_cleared, cpu.debug.dirty_shared):
                if cleared:
                    for key in [k for k in cleared if k[0] is mm and start <= k[1] < end]:
                        del cleared[key]
        entries = self._unflushed.get(mm)
        if not entries:
            return
        if start == 0 and end == 1 << 64:
            entries.clear()
            return
        for addr in [a for a in entries if start <= a < end]:
            del entries[addr]

    def _writing_valid(self, accessor, args, mm, addr, ptep, pte):
        """set_pte_at/set_ptes of `pte` over the entry at addr: not another frame over a clear
        this CPU made that no flush has covered (break-before-make; another CPU's fault over a
        clear is left to arm64's invariant, which sees whether a TLB still holds it); inside a lazy-MMU section, not over a clear
        of the same section that no flush has issued yet."""
        if not pte_present(pte):
            return
        cleared = self._cpu().own_cleared.get((mm, addr))
        if cleared is not None and pte_pfn(cleared) != pte_pfn(pte):
            self._fail("break-before-make", accessor, args, ptep,
                       f"frame {pte_pfn(cleared)} becomes frame {pte_pfn(pte)} and no flush has covered the clear")
        old = self._cpu().lazy_cleared.get((mm, addr))
        if old is None or pte == old:
            return  # nothing pending, or putting back exactly what was cleared
        self._fail("flush-before-reuse", accessor, args, ptep,
                   "a valid entry is written over a clear of the same lazy-MMU section that no flush "
                   "has issued")

    # ---- reading ---------------------------------------------------------------------
    def ptep_get(self, ptep):
        written = self._machine.this_cpu.debug.lazy_written
        if written and ptep in written:
            self._reading("ptep_get", (ptep,), ptep)
        return self._get(ptep)

    def ptep_get_compared(self, ptep):
        written = self._machine.this_cpu.debug.lazy_written
        if written and ptep in written:
            self._reading("ptep_get", (ptep,), ptep)
        return self._get_compared(ptep)

    # ---- setting ---------------------------------------------------------------------
    def set_pte_at(self, mm, addr, ptep, pte):
        self.set_ptes(mm, addr, ptep, pte, 1, "set_pte_at")

    def set_ptes(self, mm, addr, ptep, pte, nr, accessor="set_ptes"):
        args = (mm, addr, ptep, pte, nr) if accessor == "set_ptes" else (mm, addr, ptep, pte)
        self._changing(accessor, args, ptep)
        for i in range(nr):
            if pte_present(self._peek(ptep + i)):
                self._fail("set-nonvalid", accessor, args, ptep + i, "the entry is valid")
            self._writing_valid(accessor, args, mm, addr + (i << PAGE_SHIFT), ptep + i, pte + (i << PFN_SHIFT))
        self._arch.set_ptes(mm, addr, ptep, pte, nr)
        self._wrote(ptep, nr)

    def pte_clear(self, mm, addr, ptep):
        self._clear_nonpresent("pte_clear", (mm, addr, ptep), ptep)
        self._cleared(mm, addr, self._peek(ptep))  # only when recording can it be present
        self._arch.pte_clear(mm, addr, ptep)
        self._wrote(ptep)

    def pte_clear_not_present_full(self, mm, addr, ptep, full):
        self._clear_nonpresent("pte_clear_not_present_full", (mm, addr, ptep, full), ptep)
        self._arch.pte_clear_not_present_full(mm, addr, ptep, full)
        self._wrote(ptep)

    def _clear_nonpresent(self, accessor, args, ptep):
        self._changing(accessor, args, ptep)
        if pte_present(self._peek(ptep)):
            self._fail("atomic-clear", accessor, args, ptep,
                       "a present entry is cleared without returning its old value")

    # ---- clearing --------------------------------------------------------------------
    def ptep_get_and_clear(self, mm, addr, ptep):
        self._rmw("ptep_get_and_clear", (mm, addr, ptep), ptep)
        old = self._arch.ptep_get_and_clear(mm, addr, ptep)
        self._cleared(mm, addr, old)
        self._dirty_shared_cleared(mm, addr, old)
        return old

    def ptep_get_and_clear_full(self, mm, addr, ptep, full):
        self._rmw("ptep_get_and_clear_full", (mm, addr, ptep, full), ptep)
        old = self._arch.ptep_get_and_clear_full(mm, addr, ptep, full)
        self._cleared(mm, addr, old)
        self._dirty_shared_cleared(mm, addr, old)
        return old

    def get_and_clear_full_ptes_each(self, mm, addr, ptep, nr, full):
        args = (mm, addr, ptep, nr, full)
        if type(self._arch).get_and_clear_full_ptes_each is GenericArch.get_and_clear_full_ptes_each:
            return GenericArch.get_and_clear_full_ptes_each(self, *args)  # each ptep_get_and_clear_full checked
        for i in range(nr):
            self._rmw("get_and_clear_full_ptes", args, ptep + i)
        olds = self._arch.get_and_clear_full_ptes_each(*args)
        for i, old in enumerate(olds):
            self._cleared(mm, addr + (i << PAGE_SHIFT), old)
            self._dirty_shared_cleared(mm, addr + (i << PAGE_SHIFT), old)
        return olds

    def clear_full_ptes(self, mm, addr, ptep, nr, full):
        GenericArch.clear_full_ptes(self, mm, addr, ptep, nr, full)  # through the checks above

    def get_and_clear_full_ptes(self, mm, addr, ptep, nr, full):
        return GenericArch.get_and_clear_full_ptes(self, mm, addr, ptep, nr, full)

    def ptep_clear_flush(self, vma, addr, ptep):
        self._rmw("ptep_clear_flush", (vma, addr, ptep), ptep)
        old = self._arch.ptep_clear_flush(vma, addr, ptep)
        if pte_present(old):  # the flush is immediate, lazy or not; a none entry flushes nothing
            # (not so on 6.12 hash, where the generic ptep_clear_flush's flush_tlb_page does
            # nothing, tlbflush.h:120-127, and the invalidation waits in the batch: no 6.12
            # caller uses it in a lazy section; docs/findings/ppc64-hash-duplicate-hpte.md)
            self._flushed(vma.mm, addr, addr + (1 << PAGE_SHIFT))
        return old

    # ---- changing a valid entry --------------------------------------------------------
    def ptep_set_wrprotect(self, mm, addr, ptep):
        self._rmw("ptep_set_wrprotect", (mm, addr, ptep), ptep)
        self._arch.ptep_set_wrprotect(mm, addr, ptep)

    def ptep_set_access_flags(self, vma, addr, ptep, entry, dirty):
        args = (vma, addr, ptep, entry, dirty)
        self._rmw("ptep_set_access_flags", args, ptep)
        current = self._peek(ptep)
        if pte_pfn(current) != pte_pfn(entry) or current & _STATE_BITS & ~entry:
            self._fail("relax-only", "ptep_set_access_flags", args, ptep,
                       f"the new entry '{pte_str(entry)}' takes something away")
        return self._arch.ptep_set_access_flags(vma, addr, ptep, entry, dirty)

    def ptep_test_and_clear_young(self, vma, addr, ptep):
        args = (vma, addr, ptep)
        self._rmw("ptep_test_and_clear_young", args, ptep)
        return self._arch.ptep_test_and_clear_young(vma, addr, ptep)

    def ptep_clear_flush_young(self, vma, addr, ptep):
        args = (vma, addr, ptep)
        self._rmw("ptep_clear_flush_young", args, ptep)
        return self._arch.ptep_clear_flush_young(vma, addr, ptep)

    def clear_young_dirty_ptes(self, vma, addr, ptep, nr, flags):
        return self._batch("clear_young_dirty_ptes", (vma, addr, ptep, nr, flags), ptep, nr)

    def wrprotect_ptes(self, mm, addr, ptep, nr):
        return self._batch("wrprotect_ptes", (mm, addr, ptep, nr), ptep, nr)

    def _batch(self, accessor, args, ptep, nr):
        """An accessor over nr entries.  include/linux/pgtable.h's version is core code:
        each accessor it calls is checked; an architecture's own is one read-modify-write
        per entry."""
        generic = getattr(GenericArch, accessor)
        if getattr(type(self._arch), accessor) is generic:
            return generic(self, *args)
        for i in range(nr):
            self._rmw(accessor, args, ptep + i)
        return getattr(self._arch, accessor)(*args)

    # start and commit are written out flat: mprotect calls them for every entry.
    def ptep_modify_prot_start(self, vma, addr, ptep):
        cpu = self._machine.this_cpu
        state = cpu.debug
        if state.prot_pending is not None:
            self._fail("prot-pairing", "ptep_modify_prot_start", (vma, addr, ptep), ptep,
                       "a previous start has not been committed")
        if ptep >> PTE_TABLE_SHIFT != state.locked_table:
            self._lock_held("ptep_modify_prot_start", (vma, addr, ptep), ptep, cpu.id)
            state.locked_table = ptep >> PTE_TABLE_SHIFT
        written = state.lazy_written
        if written and ptep in written:
            self._reading("ptep_modify_prot_start", (vma, addr, ptep), ptep)
        old = self._start(vma, addr, ptep)
        self._cleared(vma.mm, addr, old)
        state.prot_pending = ptep
        state.prot_old = old
        return old

    def ptep_modify_prot_commit(self, vma, addr, ptep, old_pte, pte):
        state = self._machine.this_cpu.debug
        if state.prot_pending != ptep:
            self._fail("prot-pairing", "ptep_modify_prot_commit", (vma, addr, ptep, old_pte, pte), ptep,
                       "no matching start")
        # the start just checked the lock of this very table, and no unlock came between
        if state.prot_old >> PFN_SHIFT != pte >> PFN_SHIFT and state.prot_old & _PAGE_PRESENT \
                and pte_present(pte):
            self._fail("break-before-make", "ptep_modify_prot_commit", (vma, addr, ptep, old_pte, pte), ptep,
                       f"frame {pte_pfn(state.prot_old)} becomes frame {pte_pfn(pte)} with no flush between")
        state.prot_pending = None
        self._commit(vma, addr, ptep, old_pte, pte)
        if state.lazy_written is not None:
            state.lazy_written.add(ptep)

    # ---- batching ----------------------------------------------------------------------
    def arch_enter_lazy_mmu_mode(self):
        self._cpu().lazy_written = set()
        self._arch.arch_enter_lazy_mmu_mode()

    def arch_leave_lazy_mmu_mode(self):
        state = self._cpu()
        if state.prot_pending is not None:
            self._fail("prot-pairing", "arch_leave_lazy_mmu_mode", (), state.prot_pending,
                       "leaving lazy-MMU mode between modify_prot start and commit")
        state.lazy_written = None
        state.lazy_cleared.clear()  # leaving the section issues its batch (hash MMUs)
        self._arch.arch_leave_lazy_mmu_mode()
        for mm, start, end in state.deferred_flushes:
            self._flushed(mm, start, end)
        state.deferred_flushes.clear()

    # ---- flushes -------------------------------------------------------------------------
    def flush_tlb_page(self, vma, addr):
        self._arch.flush_tlb_page(vma, addr)
        self._tlb_flushed(vma.mm, addr, addr + (1 << PAGE_SHIFT))

    def flush_tlb_page_nosync(self, vma, addr):
        """arm64's TLBI without the DSB: it covers the clear only once this CPU's dsb(ish)
        runs (whatever the backend, as every rule)."""
        self._arch.flush_tlb_page_nosync(vma, addr)
        self._cpu().unsynced.append((vma.mm, addr, addr + (1 << PAGE_SHIFT)))

    def dsb_ish(self):
        self._arch.dsb_ish()
        state = self._cpu()
        for mm, start, end in state.unsynced:
            self._tlb_flushed(mm, start, end)
        state.unsynced.clear()

    def flush_tlb_range(self, vma, start, end):
        self._arch.flush_tlb_range(vma, start, end)
        self._tlb_flushed(vma.mm, start, end)

    def flush_tlb_mm(self, mm):
        self._arch.flush_tlb_mm(mm)
        self._tlb_flushed(mm)

    def tlb_flush(self, tlb):
        self._arch.tlb_flush(tlb)
        if tlb.fullmm or tlb.need_flush_all:
            self._flushed(tlb.mm)
        else:
            self._flushed(tlb.mm, tlb.start, tlb.end)

    def arch_tlbbatch_flush(self, batch):
        covered = set(batch)
        self._arch.arch_tlbbatch_flush(batch)
        for mm in [mm for mm in self._unflushed if mm.cpumask <= covered]:
            self._flushed(mm)

    # ---- hooks outside the accessors ----------------------------------------------------
    def before_unlock(self, ptl):
        state = self._cpu()
        state.locked_table = None
        if state.lazy_written is not None:
            self._fail("flush-before-unlock", "spin_unlock", (ptl.name,), None,
                       "the PTE lock is released inside a lazy-MMU section")
        if state.prot_pending is not None:
            self._fail("prot-pairing", "spin_unlock", (ptl.name,), None,
                       "the PTE lock is released between modify_prot start and commit")
        if state.dirty_shared:
            owed = [(addr, old) for (mm, addr), old in state.dirty_shared.items() if addr in self._unflushed.get(mm, ())]
            state.dirty_shared.clear()
            if owed:
                addr, old = owed[0]
                self._fail("flush-dirty-shared-before-unlock", "spin_unlock", (ptl.name,), None,
                           f"va {addr:#x} was cleared dirty ('{pte_str(old)}') and no flush has covered it")

    def arch_tlbbatch_add_pending(self, batch, mm, addr):
        """Reclaim's batch takes over the flush of what it cleared: it holds the page lock and
        flushes before writeback (try_to_unmap_flush_dirty), so the unlock need not wait."""
        cleared = self._cpu().dirty_shared
        for key in [k for k in cleared if k[0] is mm]:
            del cleared[key]
        self._arch.arch_tlbbatch_add_pending(batch, mm, addr)

    def before_free(self, pfn):
        for mm, entries in self._unflushed.items():
            for addr, old in entries.items():
                if pte_pfn(old) == pfn:
                    self._fail("flush-before-free", "free_page", (pfn,), None,
                               f"va {addr:#x} of {mm} mapped it and no flush has covered that clear")


def enable_debug(machine):
    """Check every accessor call on `machine` against the rulebook from now on."""
    if machine.debug is None:
        debug = DebugArch(machine, machine.arch)
        machine.arch = debug
        machine.debug = debug
        machine.mem.on_free = debug.before_free
    return machine.debug
