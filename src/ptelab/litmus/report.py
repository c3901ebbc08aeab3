"""Results as a herd7 user reads them, as a summary matrix, and as JSON."""

from __future__ import annotations

from ..pte import pte_str
from ..rules import BY_ID
from .check import FAIL, INCONCLUSIVE, OK, ArchResult, LitmusTest


def herd_block(test: LitmusTest, r: ArchResult) -> list[str]:
    lines = [f"Test {r.test} {r.kind} ({r.arch})", f"States {len(r.states)}"]
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


def inconclusive_reason(r: ArchResult) -> str:
    """Why a search that found nothing wrong is no proof."""
    if r.mode != "exhaustive":
        return f"a random sample of {r.executions} execution(s), not every interleaving"
    return "nothing failed in the part explored, but the search was cut by " + ", ".join(r.cut)


def matrix_cell(r: ArchResult) -> str:
    """The verdict, as the matrix shows it (rich markup)."""
    seen = ",".join(sorted(r.outcomes)) or "-"
    if r.verdict == OK:
        return f"[green]ok[/] {seen}"
    if r.verdict == FAIL:
        return f"[bold red]FAIL[/] {seen}"
    why = "sampled" if r.mode != "exhaustive" else "cut: " + ",".join(r.cut)
    return f"[yellow]INCONCLUSIVE[/] ({why}) {seen}"


def counterexample_lines(test: LitmusTest, r: ArchResult, debug: bool = True) -> list[str]:
    """Each outcome seen, with the step table of the first execution that showed it."""
    lines = []
    for name, ce in r.counterexamples.items():
        expected = name in r.expected
        result, ex = test.table(r.arch, ce, debug)
        head = "Expected" if expected else "Violation"
        lines.append(f"{head} {name} on {r.arch}:")
        for v in result.violations:
            lines += ["  " + line for line in v.describe().splitlines()]
        for rule_id, step, actor, line in result.breaches:
            if rule_id == name or not result.violations:
                lines.append(f"  rule {rule_id} broken at step {step} by {actor}, "
                             f"{test.litmus.path}:{line}: {BY_ID[rule_id].statement}")
        lines += ["  " + row for row in step_table(test, ex)]
        lines.append(f"  schedule: {ce.schedule}")
        lines.append(f"  replay:   ptelab litmus {test.litmus.path} --arch {r.arch} --replay '{ce.schedule}'")
    return lines


def step_table(test: LitmusTest, ex) -> list[str]:
    names = test.scenario.actor_names()
    rows = [("step", "cpu", "actor", "line", "action", "PTE before -> after", "TLB / hash change")]
    for i, step in enumerate(ex.steps):
        actor = ex.actors[step.actor]
        pte, change = _diff(step.before, step.after)
        rows.append((str(i), f"cpu{actor.cpu.id}", names[step.actor], str(step.line or ""), step.what, pte, change))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _diff(before, after) -> tuple[str, str]:
    if before is None or after is None:
        return "", ""
    ptes, changes = [], []
    for (name, pte0, tlbs0, hash0), (_, pte1, tlbs1, hash1) in zip(before, after):
        if pte0 != pte1:
            ptes.append(f"{name}: {pte_str(pte0)} -> {pte_str(pte1)}")
        for (cpu, e0), (_, e1) in zip(tlbs0, tlbs1):
            if e0 != e1:
                changes.append(f"cpu{cpu} TLB {name}: {_tlb(e0)} -> {_tlb(e1)}")
        if hash0 != hash1:
            changes.append(f"HPTE {name}: slots {list(hash0)} -> {list(hash1)}")
    return "; ".join(ptes), "; ".join(changes)


def _tlb(entry) -> str:
    if entry is None:
        return "-"
    pfn, writable = entry[0], entry[2]
    return f"pfn {pfn} {'rw' if writable else 'ro'}"


def as_json(test: LitmusTest, r: ArchResult) -> dict:
    return {
        "test": r.test, "file": test.litmus.path, "arch": r.arch, "kind": r.kind, "ok": r.ok,
        "verdict": r.verdict.lower(), "sampled": r.mode != "exhaustive", "unmet": r.unmet, "notes": r.notes,
        "condition": r.condition, "observation": r.observation, "positive": r.positive,
        "negative": r.negative, "states": [{"state": list(s), "count": n} for s, n in r.states.items()],
        "outcomes": dict(r.outcomes), "expected": list(r.expected), "problems": r.problems,
        "executions": r.executions, "redundant": r.redundant, "complete": r.complete, "cut": r.cut,
        "mode": r.mode, "seconds": round(r.seconds, 3),
        "counterexamples": {name: {"schedule": ce.schedule,
                                   "violations": [v.describe() for v in ce.result.violations],
                                   "breaches": [b[0] for b in ce.result.breaches]}
                            for name, ce in r.counterexamples.items()},
    }
