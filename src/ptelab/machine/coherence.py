"""Is every cached translation backed by the current page tables?

Checked when no operation is in progress (between the steps of a sequential run,
after every operation a test performs): then every TLB entry and every valid
hash-table entry must translate to the frame its PTE names, grant a store only
if the PTE is writable, and reach a frame in the allocation it was filled from.
This is the quiescent form of the "stale translation" invariant of DESIGN.md.
"""

from __future__ import annotations

from ..pte import PAGE_SHIFT, PFN_SHIFT, _PAGE_PRESENT, _PAGE_RW
from .tlb import VPN_BITS


def judge(machine, where: str, context: int, va: int, pfn: int, gen: int, writable: bool):
    pgd = machine.address_spaces.get(context)
    pte = pgd.entry(va) if pgd is not None else 0
    problem = grants_more(machine, pte, pfn, gen, writable)
    return stale(where, context, va, problem) if problem else None


def stale(where: str, context: int, va: int, problem: str) -> str:
    """The report of a stale translation: where it is cached, for what, and why."""
    return f"{where}: context {context} va {va:#x} {problem}"


def grants_more(machine, pte: int, pfn: int, gen: int, writable: bool):
    """Why a cached translation (pfn, the allocation it was filled from, writable?)
    grants more than the entry `pte` backing it, or None."""
    if not pte & _PAGE_PRESENT:
        return f"-> pfn {pfn}, but the PTE is not present"
    if pte >> PFN_SHIFT != pfn:
        return f"-> pfn {pfn}, but the PTE maps pfn {pte >> PFN_SHIFT}"
    if writable and not pte & _PAGE_RW:
        return "is writable, but the PTE is read-only"
    if machine.mem.gen[pfn] != gen:
        return f"-> pfn {pfn} from a freed allocation"
    return None


def stale_translations(machine) -> list[str]:
    """Every cached translation that grants more than the page tables do now."""
    problems = []
    for cpu in machine.cpus:
        # only the context the CPU runs a thread of can be used: one it left (or runs lazily)
        # is caught up with when it comes back (x86's switch_mm compares tlb_gen)
        loaded = cpu.mm.context if cpu.mm is not None and not cpu.is_lazy else None
        for key, (pfn, gen, writable, _) in cpu.tlb.entries.items():
            context, va = key >> VPN_BITS, (key & ((1 << VPN_BITS) - 1)) << PAGE_SHIFT
            if context != loaded:
                continue
            problem = judge(machine, f"cpu{cpu.id} TLB", context, va, pfn, gen, writable)
            if problem:
                problems.append(problem)
    for where, context, va, pfn, gen, writable, _ in machine.arch.all_cached_translations():
        problem = judge(machine, where, context, va, pfn, gen, writable)
        if problem:
            problems.append(problem)
    return problems
