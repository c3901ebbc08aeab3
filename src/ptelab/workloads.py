"""Named sequential workloads: what `ptelab run` measures.

Each workload drives the generic mm code on a booted machine, checks that every
page reads back what was last written to it (so a cost figure is never the cost
of a wrong answer), and returns nothing: the machine's counters are the result.
`WORKLOADS` maps name -> (function, one-line description).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .debug import call_site
from .mm.fault import user_read, user_write
from .mm.fork import dup_mm
from .mm.kernel import Kernel
from .mm.madvise import MADV_FREE, do_madvise
from .mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, vm_mmap, vm_munmap, exit_mmap
from .mm.mprotect import do_mprotect
from .mm.mremap import do_mremap
from .mm.page_writeback import writeback_mapping
from .mm.task_mmu import clear_refs
from .mm.vmscan import reclaim_range
from .pte import PAGE_SIZE

RW = PROT_READ | PROT_WRITE


class WorkloadError(AssertionError):
    """The model returned a wrong value: a bug in the model, never a cost figure."""


def _check(mm, cpu, addr: int, pages: int, expected) -> None:
    for i in range(pages):
        got = user_read(mm, cpu, addr + i * PAGE_SIZE)
        if got != expected(i):
            raise WorkloadError(f"page {i} reads {got}, expected {expected(i)}")


def _fill(mm, cpus, addr: int, pages: int, value) -> None:
    """One thread per CPU writes its share of the pages; then the threads sleep, and their
    CPUs keep the mm loaded in lazy TLB mode (6.12 enter_lazy_tlb): x86's shootdowns skip
    them until a thread of the mm runs there again."""
    for i in range(pages):
        user_write(mm, cpus[i % len(cpus)], addr + i * PAGE_SIZE, value(i))
    machine = mm.machine
    for cpu in cpus:
        if cpu.mm is mm:
            machine.enter_lazy_tlb(cpu)


def _anon(kernel, pages: int):
    mm = kernel.new_mm()
    return mm, vm_mmap(mm, 0, pages * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)


def fork_cow(kernel, pages: int) -> None:
    cpus = kernel.machine.cpus
    parent, addr = _anon(kernel, pages)
    _fill(parent, cpus, addr, pages, lambda i: i)
    child = dup_mm(parent)
    _fill(parent, cpus[:1], addr, pages, lambda i: i + 1_000_000)
    _fill(child, cpus[-1:], addr, pages, lambda i: i + 2_000_000)
    _check(parent, cpus[0], addr, pages, lambda i: i + 1_000_000)
    _check(child, cpus[-1], addr, pages, lambda i: i + 2_000_000)
    exit_mmap(child)
    exit_mmap(parent)


def mprotect_sweep(kernel, pages: int) -> None:
    cpus = kernel.machine.cpus
    mm, addr = _anon(kernel, pages)
    _fill(mm, cpus, addr, pages, lambda i: i)
    do_mprotect(mm, addr, pages * PAGE_SIZE, PROT_READ)
    do_mprotect(mm, addr, pages * PAGE_SIZE, RW)
    _check(mm, cpus[-1], addr, pages, lambda i: i)


def munmap(kernel, pages: int) -> None:
    mm, addr = _anon(kernel, pages)
    _fill(mm, kernel.machine.cpus, addr, pages, lambda i: i)
    vm_munmap(mm, addr, pages * PAGE_SIZE)
    if kernel.machine.mem.frames_in_use() != 1:  # the zero page
        raise WorkloadError("munmap left frames allocated")


def mremap(kernel, pages: int) -> None:
    cpus = kernel.machine.cpus
    mm, addr = _anon(kernel, pages)
    _fill(mm, cpus, addr, pages, lambda i: i)
    new = do_mremap(mm, addr, pages * PAGE_SIZE, 2 * pages * PAGE_SIZE)
    _check(mm, cpus[-1], new, pages, lambda i: i)


def swap(kernel, pages: int) -> None:
    cpus = kernel.machine.cpus
    mm, addr = _anon(kernel, pages)
    _fill(mm, cpus, addr, pages, lambda i: i + 7)
    reclaim_range(kernel, mm, addr, addr + pages * PAGE_SIZE)
    _check(mm, cpus[-1], addr, pages, lambda i: i + 7)


def file_writeback(kernel, pages: int) -> None:
    """Shared file mapping: write, write back (page_mkclean), write again, reclaim, read."""
    cpus = kernel.machine.cpus
    mm = kernel.new_mm()
    mapping = kernel.new_file("data", pages)
    addr = vm_mmap(mm, 0, pages * PAGE_SIZE, RW, MAP_SHARED, mapping)
    _fill(mm, cpus, addr, pages, lambda i: i + 1)
    writeback_mapping(kernel.machine.mem, mapping)
    _fill(mm, cpus, addr, pages, lambda i: i + 2)
    reclaim_range(kernel, mm, addr, addr + pages * PAGE_SIZE)
    if any(mapping.store.get(i) != i + 2 for i in range(pages)):
        raise WorkloadError("a write was lost on its way to the file")
    _check(mm, cpus[-1], addr, pages, lambda i: i + 2)


def clear_refs_scan(kernel, pages: int) -> None:
    cpus = kernel.machine.cpus
    mm, addr = _anon(kernel, pages)
    _fill(mm, cpus, addr, pages, lambda i: i)
    clear_refs(mm)
    _check(mm, cpus[-1], addr, pages, lambda i: i)


def madv_free(kernel, pages: int) -> None:
    """MADV_FREE, rewrite half the pages, reclaim: written pages keep their data."""
    cpus = kernel.machine.cpus
    mm, addr = _anon(kernel, pages)
    _fill(mm, cpus, addr, pages, lambda i: i + 1)
    do_madvise(mm, addr, pages * PAGE_SIZE, MADV_FREE)
    for i in range(0, pages, 2):
        user_write(mm, cpus[0], addr + i * PAGE_SIZE, i + 5)
    reclaim_range(kernel, mm, addr, addr + pages * PAGE_SIZE)
    _check(mm, cpus[-1], addr, pages, lambda i: i + 5 if i % 2 == 0 else 0)


WORKLOADS = {
    "fork-cow": (fork_cow, "fork, then parent and child each write every page"),
    "mprotect-sweep": (mprotect_sweep, "map N pages, mprotect read-only, then read-write again"),
    "munmap": (munmap, "map, touch and unmap N pages"),
    "mremap": (mremap, "map and touch N pages, grow the mapping so it moves"),
    "swap": (swap, "touch N anonymous pages, swap all out, fault all back in"),
    "file-writeback": (file_writeback, "shared file mapping: write, writeback, rewrite, reclaim"),
    "clear-refs": (clear_refs_scan, "touch N pages, age them through /proc/PID/clear_refs"),
    "madv-free": (madv_free, "MADV_FREE, rewrite half, reclaim: the rest are discarded"),
}


@dataclass(frozen=True)
class Finding:
    """A rule the kernel's own generic code breaks: a finding of the model, not a crash."""

    rule: str
    caller: str  # the kernel function that breaks it
    page: str  # its page in docs/findings/
    litmus: str  # the bundled litmus test that races it


FINDINGS = (
    Finding("flush-before-reuse", "madvise_free_pte_range", "docs/findings/ppc64-hash-duplicate-hpte.md",
            "litmus/op-madv-free.litmus"),
)


class Breaches(list):
    """Debug mode's record while a workload runs (instead of stopping it at the first
    breach): (rule id, the function that broke it, file:line)."""

    def append(self, rule_id):
        where = call_site(sys._getframe(1))
        super().append((rule_id, where.rsplit(" in ", 1)[-1], where))

    def findings(self):
        """{(Finding or None, rule, caller): (times, first file:line)}"""
        out = {}
        for rule, caller, where in self:
            known = next((f for f in FINDINGS if (f.rule, f.caller) == (rule, caller)), None)
            times, first = out.get((known, rule, caller), (0, where))
            out[(known, rule, caller)] = (times + 1, first)
        return out


def run_workload(machine, name: str, pages: int, breaches: Breaches | None = None) -> Kernel:
    """Run the workload; with `breaches`, debug mode records each rule broken there and
    the workload goes on to the end."""
    if breaches is not None and machine.debug is not None:
        machine.debug.record = breaches
    kernel = Kernel(machine)
    WORKLOADS[name][0](kernel, pages)
    return kernel
