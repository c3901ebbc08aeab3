"""From a kernel function to a litmus skeleton (docs/litmus.md): the function's PTE sequence on one
page A, on cpu0, under the PTE lock and lazy-MMU section it holds, racing a store on cpu1.

The sequence is the calls of ptelab's accessor surface in the order the survey's walk met them (a call
of a form ptelab does not model, such as clear_young_dirty_ptes, is replaced by the accessor calls of
its definition on the architecture).  When the function has a finding on the architecture, the
skeleton is that finding's path (its two calls, in the lazy section and under the lock); otherwise every
branch is included, in source order, a starting point to edit.  Each line names the kernel line it
comes from.
"""

from __future__ import annotations

from .flow import Step

_NEEDS_VALUE = {"set_pte_at", "set_ptes", "ptep_modify_prot_commit"}
_RETURNS = {"ptep_get", "ptep_get_and_clear", "ptep_get_and_clear_full", "ptep_clear_flush",
            "ptep_modify_prot_start"}


def _statement(name: str, value: str | None, var: str) -> str:
    ptr = "pte_offset(A)"
    stored = f"pte_mkold({value or 'ptep_get(' + ptr + ')'})"
    return {
        "ptep_get": f"pte_t {var} = ptep_get({ptr});",
        "set_pte_at": f"set_pte_at(mm, A, {ptr}, {stored});",
        "set_ptes": f"set_ptes(mm, A, {ptr}, {stored}, 1);",
        "pte_clear": f"pte_clear(mm, A, {ptr});",
        "ptep_get_and_clear": f"pte_t {var} = ptep_get_and_clear(mm, A, {ptr});",
        "ptep_get_and_clear_full": f"pte_t {var} = ptep_get_and_clear_full(mm, A, {ptr}, 0);",
        "ptep_clear_flush": f"pte_t {var} = ptep_clear_flush(vma, A, {ptr});",
        "ptep_set_wrprotect": f"ptep_set_wrprotect(mm, A, {ptr});",
        "ptep_set_access_flags": f"ptep_set_access_flags(vma, A, {ptr}, pte_mkyoung(ptep_get({ptr})), 1);",
        "ptep_test_and_clear_young": f"ptep_test_and_clear_young(vma, A, {ptr});",
        "ptep_clear_flush_young": f"ptep_clear_flush_young(vma, A, {ptr});",
        "ptep_modify_prot_start": f"pte_t {var} = ptep_modify_prot_start(vma, A, {ptr});",
        "ptep_modify_prot_commit": f"ptep_modify_prot_commit(vma, A, {ptr}, {value or 'ptep_get(' + ptr + ')'}, "
                                   f"pte_wrprotect({value or 'ptep_get(' + ptr + ')'}));",
        "arch_enter_lazy_mmu_mode": "arch_enter_lazy_mmu_mode();",
        "arch_leave_lazy_mmu_mode": "arch_leave_lazy_mmu_mode();",
        "flush_tlb_page": "flush_tlb_page(vma, A);",
        "flush_tlb_range": "flush_tlb_range(vma, A, A + 4096);",
        "flush_tlb_mm": "flush_tlb_mm(mm);",
        "update_mmu_cache": f"update_mmu_cache(vma, A, {ptr});",
    }[name]


def covers(outer: Step, inner: Step) -> bool:
    """Whether the call `outer` is `inner`, or the call through which the walk reached `inner`."""
    if outer == inner:
        return True
    n = len(outer.via)
    return len(inner.via) > n and inner.via[:n] == outer.via and inner.via[n] == (outer.name, outer.path, outer.line)


def finding_path(trace: dict[Step, tuple], finding) -> dict[Step, tuple]:
    """The calls of the trace that make a finding: its two calls, in a lazy-MMU section when it has one."""
    keep = {step: how for step, how in trace.items()
            if covers(step, finding.first) or covers(step, finding.second)}
    if finding.lazy is not None:
        keep = {step: (name, held, True) for step, (name, held, _) in keep.items()}
    return keep


def skeleton(function: str, path: str, line: int, arch: str | None, trace: dict[Step, tuple],
             finding=None) -> str:
    if finding is not None:
        trace = finding_path(trace, finding)
    body: list[str] = []
    locked = any(held for _, held, _ in trace.values())
    lazy_open = False
    value, n = None, 0
    for step, (name, held, lazy) in trace.items():
        if name == "ptep_get":
            continue  # reads change nothing; the skeleton keeps the PTE sequence
        if lazy and not lazy_open and name not in ("arch_enter_lazy_mmu_mode", "arch_leave_lazy_mmu_mode"):
            body.append("  arch_enter_lazy_mmu_mode();   /* the function's lazy-MMU section */")
            lazy_open = True
        if name == "arch_enter_lazy_mmu_mode":
            if lazy_open:
                continue
            lazy_open = True
        if name == "arch_leave_lazy_mmu_mode":
            if not lazy_open:
                continue
            lazy_open = False
        var = f"v{n}"
        stmt = _statement(name, value, var)
        if name in _RETURNS:
            value, n = var, n + 1
        body.append(f"  {stmt:<60} /* {step.describe()} */")
    if lazy_open:
        body.append("  arch_leave_lazy_mmu_mode();")
    if locked:
        body = ["  spinlock_t *ptl = pte_lockptr(A);", "  spin_lock(ptl);", *body, "  spin_unlock(ptl);"]
    where = f"{path}:{line}"
    what = (f"the path of its {finding.rule} finding ({finding.first.name} then {finding.second.name})"
            if finding is not None else "its PTE sequence, every branch in source order (edit to the path you mean)")
    return "\n".join([
        f"PTE {function.replace('_', '-')}",
        f'"Skeleton written by ptelab survey{" --arch " + arch if arch else ""} from {function} ({where}):',
        f"{what}, on one page, racing a store on another CPU.",
        'A value stored is the entry a call returned, aged (pte_mkold): edit it to the kernel\'s."',
        "{",
        "  A: anon rw, young, dirty;",
        "  cpu1 has A in its TLB;",
        "}",
        "P0 @ cpu0 {",
        *body,
        "}",
        "P1 @ cpu1 {",
        "  write(A, 2);",
        "}",
        "forbid any_invariant",
        "",
    ])
