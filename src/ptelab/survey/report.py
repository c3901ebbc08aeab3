"""What `ptelab survey` prints: rich tables on a terminal, JSON for scripts, Markdown for docs/."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from ..rules import BY_ID
from . import Survey, rule_arches
from .flow import section


def _lock(site) -> str:
    return ", ".join(site.locks) or "-"


def grouped(survey: Survey):
    """(accessor, file, function) -> sites, in the inventory's order."""
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for site in survey.sites:
        groups[(site.accessor, site.path, site.function)].append(site)
    return groups


def finding_dict(f) -> dict:
    rule = BY_ID[f.rule]
    return {"rule": f.rule, "function": f.function, "file": f.path, "line": f.line,
            "first": f.first.describe(), "second": f.second.describe(),
            "lazy_section": f.lazy.where() if f.lazy else None, "note": f.note,
            "statement": rule.statement, "matters_on": rule_arches(f.rule), "backends": list(rule.archs)}


def as_json(survey: Survey) -> dict:
    return {
        "tree": str(survey.root), "arch": survey.arch, "configuration": survey.description,
        "seconds": survey.seconds, "files_parsed": survey.parsed_files,
        "findings": [finding_dict(f) for f in survey.findings],
        "findings_for_other_architectures": [finding_dict(f) for f in survey.other_findings],
        "sites": [{"accessor": s.accessor, "file": s.path, "line": s.line, "function": s.function,
                   "args": list(s.args), "pte_loop": s.loop, "lazy_mmu": s.lazy, "locks": list(s.locks),
                   "flush_before_unlock": sorted(s.flushes)} for s in survey.sites],
        "few_users": survey.few_users(),
        "definitions": survey.definitions,
        "coverage": {d: asdict(c) for d, c in sorted(survey.coverage.items())},
        "lost_calls": [{"file": p, "line": n, "accessor": a} for p, n, a in survey.lost_calls],
        "model": {"mirrored": survey.mirrored,
                  "worklist": [{"function": f, "file": p, "accessor_calls": n} for f, p, n in survey.worklist]},
    }


def _totals(survey: Survey):
    c = survey.coverage.values()
    return (sum(x.files for x in c), sum(x.lines for x in c), sum(x.dropped_lines for x in c),
            sum(x.functions for x in c), sum(x.with_errors for x in c), sum(x.lost for x in c),
            sum(x.lost_calls for x in c))


def print_terminal(survey: Survey, console: Console) -> None:
    files, lines, dropped, functions, errors, lost, lost_calls = _totals(survey)
    console.print(f"[bold]survey of {survey.root}[/] for {survey.arch or 'no architecture'}: "
                  f"{survey.description}")
    console.print(f"{files:,} files, {lines:,} lines ({dropped:,} in #if branches not taken); "
                  f"{functions:,} functions: {functions - errors - lost:,} parsed whole, {errors:,} with ERROR "
                  f"nodes inside, {lost:,} lost to top-level ERROR nodes; {lost_calls} accessor calls in unparsed "
                  f"text; {survey.parsed_files:,} files parsed, the rest from the cache; "
                  f"{survey.seconds['read']:.1f} s reading, {survey.seconds['walk']:.1f} s walking")

    table = Table(title=f"findings ({len(survey.findings)}; rules checked statically: flush-before-reuse, "
                        f"set-nonvalid)")
    for col in ("rule", "function", "first", "then", "matters on"):
        table.add_column(col)
    for f in survey.findings:
        table.add_row(f.rule, f"{f.function}\n{f.path}:{f.line}", f.first.describe(), f.second.describe(),
                      ", ".join(rule_arches(f.rule)))
    console.print(table)
    for f in survey.findings:
        console.print(f"[bold]{f.rule}[/] in {f.function} ({f.path}:{f.line}): {f.note}.\n"
                      f"  rule: {BY_ID[f.rule].statement}")
    if survey.other_findings:
        console.print(f"({len(survey.other_findings)} findings of rules that matter on other architectures: "
                      f"run without --arch to see them)")

    table = Table(title="inventory: call sites by accessor, file and function")
    for col in ("accessor", "file", "function", "lines", "PTE loop", "lazy MMU", "PTE lock", "flush before unlock"):
        table.add_column(col)
    for (accessor, path, function), sites in grouped(survey).items():
        table.add_row(accessor, path, function, ", ".join(str(s.line) for s in sites),
                      _any(s.loop for s in sites), "/".join(sorted({s.lazy for s in sites})),
                      "; ".join(sorted({_lock(s) for s in sites})),
                      "; ".join(sorted({s.flush_text() for s in sites})))
    console.print(table)

    table = Table(title="accessors by number of calling functions")
    table.add_column("accessor")
    table.add_column("sites", justify="right")
    table.add_column("functions", justify="right")
    table.add_column("definition that applies")
    for name, sites in survey.by_accessor().items():
        table.add_row(name, str(len(sites)), str(len({s.function for s in sites})), survey.definitions.get(name, "-"))
    console.print(table)
    few = survey.few_users()
    console.print("[bold]accessors with one or two users:[/] " + "; ".join(
        f"{name} ({', '.join(users)})" for name, users in few.items()))

    table = Table(title="parse coverage by directory (directories with losses first)")
    for col in ("directory", "files", "lines", "#if lines dropped", "functions", "with ERROR", "lost", "calls lost"):
        table.add_column(col, justify="right" if col != "directory" else "left")
    rows = sorted(survey.coverage.items(), key=lambda kv: (-(kv[1].lost + kv[1].with_errors), kv[0]))
    for d, c in rows[:25]:
        table.add_row(d, str(c.files), f"{c.lines:,}", f"{c.dropped_lines:,}", str(c.functions), str(c.with_errors),
                      str(c.lost), str(c.lost_calls))
    table.add_row("(all)", str(files), f"{lines:,}", f"{dropped:,}", str(functions), str(errors), str(lost),
                  str(lost_calls), style="bold")
    console.print(table)
    for path, line, name in survey.lost_calls:
        console.print(f"[red]not parsed[/]: {name} at {path}:{line}")

    console.print(f"[bold]mirrored by ptelab's mm/[/] ({len(survey.mirrored)}): {', '.join(survey.mirrored)}")
    console.print(f"[bold]fidelity worklist[/] (mm/ functions with accessor calls that ptelab does not mirror, "
                  f"{len(survey.worklist)}): " + ", ".join(f"{f} ({n})" for f, _, n in survey.worklist))


def _any(values) -> str:
    values = list(values)
    return "yes" if all(values) else "some" if any(values) else "no"


def markdown(survey: Survey, command: str) -> str:
    files, lines, dropped, functions, errors, lost, lost_calls = _totals(survey)
    out = [f"# The accessor survey of {survey.root.name}, {survey.arch or 'no architecture'}", "",
           f"Generated by `{command}` (do not edit by hand).  Configuration: {survey.description}.", "",
           f"Scope: mm/, include/, fs/, arch/*/mm, arch/*/include: {files:,} files, {lines:,} lines, "
           f"{dropped:,} of them in `#if` branches the configuration does not take.  {functions:,} functions: "
           f"{functions - errors - lost:,} parsed whole, {errors:,} with ERROR nodes inside (the rest of their "
           f"body is read), {lost:,} lost inside top-level ERROR nodes; {lost_calls} accessor calls fall in text "
           f"tree-sitter could not parse.", "", "## Findings", ""]
    if not survey.findings:
        out.append("None.")
    for f in survey.findings:
        rule = BY_ID[f.rule]
        out += [f"### {f.rule}: `{f.function}` ({f.path}:{f.line})", "",
                f"- first: {f.first.describe()}", f"- then: {f.second.describe()}"]
        if f.lazy:
            out.append(f"- lazy-MMU section: {section(f.lazy)}")
        out += [f"- matters on: {', '.join(rule_arches(f.rule))} (ptelab backends: {', '.join(rule.archs)})", "",
                f"{f.note}.  The rule: *{rule.statement}*  Why: {rule.reason}", ""]
    if survey.other_findings:
        out += [f"({len(survey.other_findings)} more findings are of rules that matter only on other architectures.)", ""]
    out += ["## Accessors", "", "| accessor | sites | functions | definition that applies |", "|---|---:|---:|---|"]
    for name, sites in survey.by_accessor().items():
        out.append(f"| `{name}` | {len(sites)} | {len({s.function for s in sites})} | {survey.definitions.get(name, '-')} |")
    out += ["", "Accessors with one or two users: " + "; ".join(
        f"`{name}` ({', '.join(users)})" for name, users in survey.few_users().items()) + ".", "",
        "## Call sites", "",
        "Per accessor, file and function: the lines, whether the call runs in a loop over PTEs, inside a "
        "lazy-MMU section (yes / no / maybe: on some paths), under which PTE lock, and the first flush that "
        "follows it before the lock is released.", "",
        "| accessor | file | function | lines | PTE loop | lazy MMU | PTE lock | flush before unlock |",
        "|---|---|---|---|---|---|---|---|"]
    for (accessor, path, function), sites in grouped(survey).items():
        out.append(f"| `{accessor}` | {path} | `{function}` | {', '.join(str(s.line) for s in sites)} | "
                   f"{_any(s.loop for s in sites)} | {'/'.join(sorted({s.lazy for s in sites}))} | "
                   f"{'; '.join(sorted({_lock(s) for s in sites}))} | "
                   f"{'; '.join(sorted({s.flush_text() for s in sites}))} |")
    out += ["", "## What ptelab's mm/ mirrors", "",
            f"Mirrored ({len(survey.mirrored)}): " + ", ".join(f"`{f}`" for f in survey.mirrored) + ".", "",
            "Fidelity worklist: the functions of mm/ with accessor calls that ptelab does not mirror "
            "(accessor calls in parentheses).", ""]
    out.append(", ".join(f"`{f}` ({p}, {n})" for f, p, n in survey.worklist) + ".")
    out += ["", "## Parse coverage by directory", "",
            "| directory | files | lines | `#if` lines dropped | functions | with ERROR | lost | accessor calls lost |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for d, c in sorted(survey.coverage.items()):
        if c.functions or c.lost_calls:
            out.append(f"| {d} | {c.files} | {c.lines:,} | {c.dropped_lines:,} | {c.functions} | {c.with_errors} | "
                       f"{c.lost} | {c.lost_calls} |")
    if survey.lost_calls:
        out += ["", "Accessor calls in text tree-sitter could not parse: " + ", ".join(
            f"`{a}` {p}:{n}" for p, n, a in survey.lost_calls) + "."]
    return "\n".join(out) + "\n"
