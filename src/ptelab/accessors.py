"""The accessor surface: the kernel's names and arguments, dispatching to the backend.

Core code (mm/) calls `mm.machine.arch.<accessor>` directly; this module offers the
same calls the way kernel code writes them, for scenarios, litmus bodies and
interactive use.  Both paths reach `machine.arch`, so a debug-mode wrapper
installed there sees every call.  Calls that name no mm (ptep_get,
arch_enter_lazy_mmu_mode) act on the machine made current with `use()`, as a
kernel has one running architecture.

`SURFACE` lists every accessor with its one-line meaning: the written rules start
here (docs, debug mode and the litmus front end read it).
"""

from __future__ import annotations

from contextlib import contextmanager

from . import mmu_gather as _gather

SURFACE: dict[str, str] = {
    "ptep_get": "read an entry (READ_ONCE)",
    "set_pte_at": "write an entry that is not valid: none, or non-present, to anything",
    "set_ptes": "write nr not-valid consecutive entries mapping consecutive frames",
    "pte_clear": "clear an entry; the caller flushes if it was valid",
    "ptep_get_and_clear": "clear an entry and return its old value, hardware updates included",
    "ptep_get_and_clear_full": "as ptep_get_and_clear; full=1 when the whole mm is being torn down",
    "ptep_clear_flush": "clear an entry and flush its translation before returning",
    "ptep_set_wrprotect": "remove write permission from a valid entry, keeping Dirty",
    "wrprotect_ptes": "remove write permission from nr valid entries mapping consecutive pages of one folio",
    "ptep_set_access_flags": "relax a valid entry: add Accessed, Dirty or write, never remove",
    "ptep_test_and_clear_young": "clear Accessed, returning whether it was set",
    "ptep_clear_flush_young": "clear Accessed and flush if the architecture needs it",
    "ptep_modify_prot_start": "begin a protection change of a valid entry; returns the old value",
    "ptep_modify_prot_commit": "end it, writing the new value; strictly paired with start",
    "arch_enter_lazy_mmu_mode": "start a batch: updates may be deferred until leave",
    "arch_leave_lazy_mmu_mode": "end a batch: every deferred update and flush is done",
    "flush_tlb_page": "no CPU may use a translation of this page older than now",
    "flush_tlb_range": "the same for a range of one vma",
    "flush_tlb_mm": "the same for a whole mm",
    "update_mmu_cache": "a new entry was set by a fault: the architecture may preload it",
}

_current = None


def use(machine) -> None:
    """Make `machine` the running system for calls that name no mm."""
    global _current
    _current = machine


@contextmanager
def running(machine):
    previous = _current
    use(machine)
    try:
        yield machine
    finally:
        use(previous)


def _arch():
    if _current is None:
        raise RuntimeError("no current machine: call ptelab.accessors.use(machine) first")
    return _current.arch


def ptep_get(ptep):
    return _arch().ptep_get(ptep)


def set_pte_at(mm, addr, ptep, pte):
    mm.machine.arch.set_pte_at(mm, addr, ptep, pte)


def set_ptes(mm, addr, ptep, pte, nr):
    mm.machine.arch.set_ptes(mm, addr, ptep, pte, nr)


def pte_clear(mm, addr, ptep):
    mm.machine.arch.pte_clear(mm, addr, ptep)


def ptep_get_and_clear(mm, addr, ptep):
    return mm.machine.arch.ptep_get_and_clear(mm, addr, ptep)


def ptep_get_and_clear_full(mm, addr, ptep, full):
    return mm.machine.arch.ptep_get_and_clear_full(mm, addr, ptep, full)


def ptep_clear_flush(vma, addr, ptep):
    return vma.mm.machine.arch.ptep_clear_flush(vma, addr, ptep)


def ptep_set_wrprotect(mm, addr, ptep):
    mm.machine.arch.ptep_set_wrprotect(mm, addr, ptep)


def wrprotect_ptes(mm, addr, ptep, nr):
    mm.machine.arch.wrprotect_ptes(mm, addr, ptep, nr)


def ptep_set_access_flags(vma, addr, ptep, entry, dirty):
    return vma.mm.machine.arch.ptep_set_access_flags(vma, addr, ptep, entry, dirty)


def ptep_test_and_clear_young(vma, addr, ptep):
    return vma.mm.machine.arch.ptep_test_and_clear_young(vma, addr, ptep)


def ptep_clear_flush_young(vma, addr, ptep):
    return vma.mm.machine.arch.ptep_clear_flush_young(vma, addr, ptep)


def ptep_modify_prot_start(vma, addr, ptep):
    return vma.mm.machine.arch.ptep_modify_prot_start(vma, addr, ptep)


def ptep_modify_prot_commit(vma, addr, ptep, old_pte, pte):
    vma.mm.machine.arch.ptep_modify_prot_commit(vma, addr, ptep, old_pte, pte)


def arch_enter_lazy_mmu_mode():
    _arch().arch_enter_lazy_mmu_mode()


def arch_leave_lazy_mmu_mode():
    _arch().arch_leave_lazy_mmu_mode()


def flush_tlb_page(vma, addr):
    vma.mm.machine.arch.flush_tlb_page(vma, addr)


def flush_tlb_range(vma, start, end):
    vma.mm.machine.arch.flush_tlb_range(vma, start, end)


def flush_tlb_mm(mm):
    mm.machine.arch.flush_tlb_mm(mm)


def update_mmu_cache(vma, addr, ptep):
    vma.mm.machine.arch.update_mmu_cache(vma, addr, ptep)


MmuGather = _gather.MmuGather
tlb_gather_mmu = _gather.tlb_gather_mmu
tlb_gather_mmu_fullmm = _gather.tlb_gather_mmu_fullmm
tlb_remove_tlb_entry = _gather.tlb_remove_tlb_entry
tlb_remove_page = _gather.tlb_remove_page
tlb_finish_mmu = _gather.tlb_finish_mmu
