"""Results as a herd7 user reads them, as a summary matrix, and as JSON."""

from __future__ import annotations

from ..machine.tlb import tlb_key
from ..pte import FLAG_KEY, pte_pfn, pte_present
from ..rules import BY_ID
from .check import FAIL, INCONCLUSIVE, OK, ArchResult, LitmusTest


def search_text(executions: int, states: int, seconds: float) -> str:
    """A search so far, as a progress line says it: executions, their rate, final states."""
    rate = f" ({executions / seconds:,.0f}/s)" if seconds > 0 else ""
    return (f"{executions:,} execution{'s' * (executions != 1)}{rate}, "
            f"{states:,} distinct final state{'s' * (states != 1)}")


def herd_block(test: LitmusTest, r: ArchResult) -> list[str]:
    lines = [f"Test {r.test} {r.kind} ({r.arch})", f"File {test.litmus.path}", f"States {len(r.states)}"]
    for state, count in sorted(r.states.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {'; '.join(state)};  ({count})")
    lines.append({OK: "Ok", FAIL: "No"}.get(r.verdict, "Inconclusive"))
    lines += ["Witnesses", f"Positive: {r.positive} Negative: {r.negative}",
              f"Condition {r.condition}",
              f"Observation {r.test} {r.observation} {r.positive} {r.negative}"]
    if r.expected:
        lines.append(f"Expected on {r.arch}: {', '.join(r.expected)}")
    search = f"{r.executions} executions, {r.mode}"
    if r.mode == "exhaustive":
        search += f", {r.redundant} cut short by sleep sets"
        if r.merged:
            search += f", {r.merged} stopped at a state explored before"
        search += ", complete" if r.complete else ", INCOMPLETE: cut by " + ", ".join(
            f"{name} ({count})" for name, count in r.cut.items())
    else:
        search += f" (PCT) from seed {r.seed}: sampled, not every interleaving"
        if r.cut:
            search += "; cut by " + ", ".join(f"{name} ({count})" for name, count in r.cut.items())
    lines.append(f"Explored {search}")
    lines += [f"  {note}" for note in r.notes]
    lines.append(f"Time {r.test} {r.seconds:.2f}")
    for problem in r.problems:
        lines.append(f"FAIL: {problem}")
    if r.verdict == INCONCLUSIVE:
        for unmet in r.unmet:
            lines.append(f"INCONCLUSIVE: {unmet}")
        lines.append(f"INCONCLUSIVE: {inconclusive_reason(r)}")
    return lines


# What takes a search past each bound that can cut it (docs/litmus.md, "Each test gets one verdict")
_FURTHER = {
    "seconds": "a larger --seconds, or --jobs N to search on N cores",
    "executions": "a larger --executions",
    "steps": "a larger --max-steps",
    "preemptions": "a larger --preemptions, or none",
}


def inconclusive_reason(r: ArchResult) -> str:
    """Why a search that found nothing wrong is no proof, and what would take it further."""
    if r.mode != "exhaustive":
        return f"a random sample of {r.executions} execution(s), not every interleaving"
    reason = "nothing failed in the part explored, but the search was cut by " + ", ".join(r.cut)
    further = [_FURTHER[name] for name in r.cut if name in _FURTHER]
    return reason + (f" (to go further: {'; '.join(further)})" if further else "")


def matrix_cell(r: ArchResult) -> str:
    """The verdict, as the matrix shows it (rich markup)."""
    seen = ",".join(sorted(r.outcomes)) or "-"
    if r.verdict == OK:
        return f"[green]ok[/] {seen}"
    if r.verdict == FAIL:
        return f"[bold red]FAIL[/] {seen}"
    why = "sampled" if r.mode != "exhaustive" else "cut: " + ",".join(r.cut)
    return f"[yellow]INCONCLUSIVE[/] ({why}) {seen}"


def counterexample_lines(test: LitmusTest, r: ArchResult, debug: bool = True, verbose: bool = True) -> list[str]:
    """Each outcome seen and each condition clause that held, with the step table and the
    state of the first execution that showed it; outcomes one execution showed together
    are shown once.  Without `verbose`, only what made the test fail."""
    lines = []
    groups: dict[tuple, list[str]] = {}
    for name, ce in r.counterexamples.items():
        if verbose or _fails(test, r, name):
            groups.setdefault(tuple(ce.result.schedule), []).append(name)
    for names in groups.values():
        ce = r.counterexamples[names[0]]
        result, ex = test.table(r.arch, ce, debug)
        lines.append(_heading(test, r, names))
        for v in result.violations:
            lines += ["  " + line for line in v.describe().splitlines()]
        for rule_id, step, actor, line in result.breaches:
            if rule_id in names or not result.violations:
                lines.append(f"  rule {rule_id} broken at step {step} by {actor}, "
                             f"{test.litmus.path}:{line}: {BY_ID[rule_id].statement}")
        lines += ["  " + row for row in step_table(test, ex)]
        lines += ["  " + row for row in state_lines(test, ex, result)]
        lines.append(f"  schedule: {ce.schedule}")
        lines.append(f"  replay:   ptelab litmus {test.litmus.path} --arch {r.arch} --replay '{ce.schedule}'")
    return lines


def _fails(test: LitmusTest, r: ArchResult, name: str) -> bool:
    """Whether the outcome or condition `name` is one the verdict fails for."""
    if name.startswith("forbid "):
        return any(p.startswith(name) for p in r.problems)
    if name.startswith(("exists ", "expect ")):
        return False
    return name not in r.expected


def _heading(test: LitmusTest, r: ArchResult, names: list[str]) -> str:
    what = []
    for name in names:
        if name.startswith("forbid "):
            what.append(f"{name} holds" if _fails(test, r, name) else f"{name} holds (expected here)")
        elif name.startswith("exists "):
            what.append(f"{name} reached")
        elif name.startswith("expect "):
            what.append(f"expected {name[len('expect '):]} reached")
        else:
            what.append(name)
    head = "Violation" if any(_fails(test, r, n) for n in names) else \
        "Witness" if all(n.startswith(("exists ", "expect ")) for n in names) else "Expected"
    return f"{head} {', '.join(what)} on {r.arch} ({test.litmus.path}):"


def step_table(test: LitmusTest, ex) -> list[str]:
    """The step table as text (step_rows), in aligned columns."""
    rows = step_rows(test, ex)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def step_rows(test: LitmusTest, ex) -> list[tuple[str, ...]]:
    """One row per step, numbered as violations number them: its PTE change (decoded by the
    backend), its TLB and cache changes, and the events it caused (a frame freed, an HPTE
    inserted, an invalidation queued).  The first row names the columns."""
    names = test.scenario.actor_names()
    describe = ex.world.machine.arch.describe_pte
    pages = {name: (mm, va) for mm, va, name in ex.world.watched}
    rows = [("step", "cpu", "actor", "line", "action", "PTE before -> after", "TLB / cache change, events")]
    for i, step in enumerate(ex.steps):
        actor = ex.actors[step.actor]
        pte, change = _diff(step.before, step.after, describe, pages)
        change = "; ".join(c for c in (change, *step.events) if c)
        rows.append((str(i), f"cpu{actor.cpu.id}", names[step.actor], str(step.line or ""), step.what, pte, change))
    return rows


def _diff(before, after, describe, pages) -> tuple[str, str]:
    if before is None or after is None:
        return "", ""
    ptes, changes = [], []
    for (name, pte0, tlbs0, cached0), (_, pte1, tlbs1, cached1) in zip(before, after):
        mm, va = pages[name]
        if pte0 != pte1:
            ptes.append(f"{name}: {describe(pte0, mm, va)} -> {describe(pte1, mm, va)}")
        for (cpu, e0), (_, e1) in zip(tlbs0, tlbs1):
            if e0 != e1:
                changes.append(f"cpu{cpu} TLB {name}: {_tlb(e0)} -> {_tlb(e1)}")
        for where, pfn, writable in cached1:
            if (where, pfn, writable) not in cached0:
                changes.append(f"{where} {name}: {_tlb((pfn, 0, writable))}")
        for where, pfn, writable in cached0:
            if not any(w == where for w, _, _ in cached1):
                changes.append(f"{where} {name}: gone")
    return "; ".join(ptes), "; ".join(changes)


def _tlb(entry) -> str:
    if entry is None:
        return "-"
    pfn, writable = entry[0], entry[2]
    return f"pfn {pfn} {'rw' if writable else 'ro'}"


def state_lines(test: LitmusTest, ex, result) -> list[str]:
    """The machine where the execution ended: each page's entry (decoded) and content, each
    CPU's TLB entry and the hardware's other cached translations of it, each block's locals."""
    world = ex.world
    machine = world.machine
    arch = machine.arch
    last = len(ex.steps) - 1
    lines = ["final state:" if result.final is not None else f"state after step {last}:"]
    for mm, va, name in world.watched:
        pte = mm.entry(va)
        if pte_present(pte):
            lines.append(f"  {name}: {arch.describe_pte(pte, mm, va)}; frame {pte_pfn(pte)} holds "
                         f"{machine.mem.data[pte_pfn(pte)]}")
        else:
            lines.append(f"  {name} unmapped: {arch.describe_pte(pte, mm, va)}")
        key = tlb_key(mm.context, va)
        for cpu in machine.cpus:
            entry = cpu.tlb.entries.get(key)
            if entry is not None:
                lines.append(f"    cpu{cpu.id} TLB: {_tlb(entry)}")
        for where, pfn, _, writable, *_ in arch.cached_translations(mm, va):
            lines.append(f"    {where}: {_tlb((pfn, 0, writable))}")
    scenario = test.scenario
    for block in test.litmus.blocks:
        values = world.state["vars"].get(block.name, {})
        shown = []
        for name, typename in scenario.locals[block.name].items():
            value = values.get(name)
            if isinstance(value, int):
                shown.append(f"{block.name}.{name}={arch.describe_pte(value) if typename == 'pte_t' else value}")
        if shown:
            lines.append("  " + "; ".join(shown))
    for actor, outcome in sorted(result.outcomes.items()):
        lines.append(f"  {actor}: {outcome}")
    lines.append(f"  key: {FLAG_KEY}")
    return lines


def as_json(test: LitmusTest, r: ArchResult) -> dict:
    return {
        "test": r.test, "file": test.litmus.path, "arch": r.arch, "kind": r.kind, "ok": r.ok,
        "verdict": r.verdict, "sampled": r.mode != "exhaustive", "unmet": r.unmet, "notes": r.notes,
        "condition": r.condition, "observation": r.observation, "positive": r.positive,
        "negative": r.negative, "states": [{"state": list(s), "count": n} for s, n in r.states.items()],
        "outcomes": dict(r.outcomes), "expected": list(r.expected), "problems": r.problems,
        "executions": r.executions, "redundant": r.redundant, "merged": r.merged, "complete": r.complete, "cut": r.cut,
        "mode": r.mode, "seconds": round(r.seconds, 3),
        "counterexamples": {name: {"schedule": ce.schedule,
                                   "violations": [v.describe() for v in ce.result.violations],
                                   "breaches": [b[0] for b in ce.result.breaches]}
                            for name, ce in r.counterexamples.items()},
    }
