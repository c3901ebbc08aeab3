"""`ptelab report`: one self-contained HTML page (inline CSS and SVG, nothing fetched at
view time): the rulebook with each rule's litmus tests and their verdicts per
architecture, each architecture's kernel-view state machine (drawn by graphviz's `dot`
when installed, else as a table), the architectures side by side, the litmus matrix
with each counterexample as a timeline (one lane per CPU and one for the hardware),
the cost plots of `ptelab cost` (matplotlib's SVG in data: URIs; its table without
matplotlib) and the findings (docs/findings/*.md).
"""

from __future__ import annotations

import shutil
import subprocess
from html import escape
from pathlib import Path

from .compare import to_markdown as compare_markdown
from .kernel_view import KernelView, drawings, drawn_edges, edge_text, kernel_view
from .litmus.check import FAIL, OK
from .litmus.report import search_text, step_rows
from .rules import RULES
from .states import derive

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #888;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:2px 6px;font-size:.85em;vertical-align:top}
th{background:#eee}.ok{background:#d8f5d8}.FAIL{background:#f8c8c8;font-weight:bold}.INCONCLUSIVE{background:#fbeec0}
.red{color:#c00}.lane{min-width:14em}.hw{background:#f4f4ff}.diagram{overflow:auto;border:1px solid #ddd;margin:.3em 0}.diagram svg{max-width:100%;height:auto}
pre{background:#f7f7f7;padding:.5em;overflow:auto;font-size:.8em}nav a{margin-right:1em}
figure{margin:.5em 0}figure img{max-width:100%}summary{cursor:pointer;font-size:.85em}
td.ok,td.FAIL,td.INCONCLUSIVE{font-size:.75em;padding:2px 3px}th{font-size:.8em}
.finding{border-left:3px solid #ccc;padding-left:1em;margin:1em 0;max-width:60em}.finding code{font-size:.85em}
"""


def _svg(dot: str) -> str | None:
    if not shutil.which("dot"):
        return None
    out = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout
    return out[out.index("<svg"):]


def _diagram(view: KernelView, red: int) -> str:
    """The kernel view drawn whole; past what one drawing carries (split), its PTE classes,
    each class's states and legal moves, the rules broken from each state, and every edge
    in a table, folded."""
    parts = drawings(view)
    svgs = {suffix: _svg(dot) for suffix, dot in parts.items()}
    if None in svgs.values():
        return _view_table(view)
    if len(parts) == 1:
        return f"<div class=diagram>{svgs['']}</div>"
    classes = [suffix for suffix in parts if suffix not in ("", "-rules")]
    return (f"<p>Too many edges for one drawing: its PTE classes (each box lists its states), then each class "
            f"({len(classes)}: its states and every legal move from them), then the rules broken from each state "
            f"(the {red} edges that break a rule, with where they lead, are in the table).</p>"
            f"<div class=diagram>{svgs['']}</div>"
            + "".join(f"<div class=diagram id='states-{view.arch}{suffix}'>{svgs[suffix]}</div>" for suffix in classes)
            + f"<div class=diagram>{svgs['-rules']}</div>"
            f"<details><summary>every edge</summary>{_view_table(view)}</details>")


def _view_table(view: KernelView) -> str:
    ids = {s: f"K{i}" for i, s in enumerate(view.states)}
    rows = "".join(f"<tr><td>{ids[s]}</td><td>{escape(s)}</td><td>{view.lumped[s]}</td></tr>" for s in view.states)
    edges = "".join(
        f"<tr><td>{ids[src]}</td><td>{ids[dst]}</td><td>{escape(', '.join(legal))}</td>"
        f"<td class=red>{escape(edge_text([], broken, '; '))}</td></tr>"
        for (src, dst), (legal, broken) in drawn_edges(view).items())
    return (f"<table><tr><th>id</th><th>state</th><th>full states</th></tr>{rows}</table>"
            f"<table><tr><th>from</th><th>to</th><th>legal</th><th>breaking a rule</th></tr>{edges}</table>")


def _quiet(text, done=None, total=None) -> None:
    pass


def states_section(arches: list[str], progress=_quiet) -> tuple[str, dict[str, KernelView]]:
    views, parts = {}, []
    for i, arch in enumerate(arches):
        sm = derive(arch, progress=lambda states, transitions, arch=arch, i=i: progress(
            f"state machine of {arch}: {states:,} states, {transitions:,} transitions", i, len(arches)))
        views[arch] = view = kernel_view(sm)
        red = sum(1 for _, broken in drawn_edges(view).values() if broken)
        parts.append(f"<div class=arch id='states-{arch}'><h3>{arch}</h3><p>{len(view.states)} states, "
                     f"{len(drawn_edges(view))} edges ({red} breaking a rule, red); the full machine has "
                     f"{len(sm.states)} states and {len(sm.transitions)} transitions.</p>"
                     + _diagram(view, red) + "</div>")
    return "".join(parts), views


def _markdown_table(text: str) -> str:
    """The side-by-side table and its preamble (compare.py's markdown) as HTML."""
    out, rows = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                rows.append([c.strip() for c in line.strip("|").split("|")])
            continue
        if line and not line.startswith("#"):
            out.append(escape(line.replace("**", "")))
    head, *body = rows
    table = "<table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in head) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body) + "</table>"
    return "<p>" + " ".join(out) + "</p>" + table


def run_litmus(paths: list[str], arches: list[str], progress=_quiet):
    from .explore.dpor import Bounds
    from .litmus import find, load

    tests = [load(path) for path in find(paths)]
    results = []
    total = len(tests) * len(arches)
    for test in tests:
        for arch in arches:
            where = f"litmus: {test.name} on {arch}"
            progress(where, len(results), total)

            def searching(executions, states, seconds, where=where):
                progress(f"{where}: {search_text(executions, states, seconds)}", len(results), total)
            results.append((test, test.check(arch, "exhaustive", Bounds(max_steps=2000), seed=0, runs=1000,
                                             debug=True, progress=searching)))
    return results


def _cell(r) -> str:
    seen = ", ".join(sorted(r.outcomes)) or "-"  # a space after each comma: twelve columns wrap there
    return f"<td class={r.verdict}><b>{escape(r.verdict)}</b><br>{escape(seen)}</td>"


def rules_section(results, arches) -> str:
    by_file: dict[str, dict] = {}
    for test, r in results:
        by_file.setdefault(test.litmus.path, {})[r.arch] = r
    head = "".join(f"<th>{a}</th>" for a in arches)
    rows = []
    for rule in RULES:
        tests = [t for t in rule.shown_by if t.startswith("litmus/")] or ["(none)"]
        for i, path in enumerate(tests):
            cells = "".join(_cell(by_file[path][a]) if a in by_file.get(path, {}) else "<td>-</td>" for a in arches)
            first = (f"<td rowspan={len(tests)}><b>{rule.id}</b></td><td rowspan={len(tests)}>"
                     f"{escape(rule.statement)}</td>") if i == 0 else ""
            rows.append(f"<tr>{first}<td>{escape(path)}</td>{cells}</tr>")
    return f"<table><tr><th>rule</th><th>statement</th><th>litmus test</th>{head}</tr>{''.join(rows)}</table>"


def matrix_section(results, arches) -> str:
    rows: dict[tuple, dict] = {}
    for test, r in results:
        rows.setdefault((test.litmus.path, r.test), {})[r.arch] = r
    head = "".join(f"<th>{a}</th>" for a in arches)
    body = "".join(f"<tr><td>{escape(name)}<br><small>{escape(path)}</small></td>"
                   + "".join(_cell(by[a]) if a in by else "<td>-</td>" for a in arches) + "</tr>"
                   for (path, name), by in rows.items())
    return f"<table id=matrix><tr><th>test</th>{head}</tr>{body}</table>"


def timeline(test, r, name, ce) -> str:
    """One counterexample: a row per step, a lane per CPU and one for the hardware."""
    result, ex = test.table(r.arch, ce, True)
    rows = step_rows(test, ex)
    cpus = sorted({row[1] for row in rows[1:]})
    head = "".join(f"<th class=lane>{c}</th>" for c in cpus) + "<th class='lane hw'>hardware (TLB / cache)</th>"
    body = []
    for step, cpu, actor, line, action, pte, change in rows[1:]:
        lanes = "".join(f"<td>{escape(f'{actor} L{line}: {action}') + (f'<br><b>PTE</b> {escape(pte)}' if pte else '')}</td>"
                        if c == cpu else "<td></td>" for c in cpus)
        body.append(f"<tr><td>{step}</td>{lanes}<td class=hw>{escape(change)}</td></tr>")
    problems = "".join(f"<li class=red>{escape(v.describe())}</li>" for v in result.violations) + "".join(
        f"<li class=red>rule {escape(rule)} broken at step {step} by {escape(actor)}</li>"
        for rule, step, actor, _ in result.breaches)
    return (f"<div class=timeline><h3>{escape(test.name)} on {r.arch}: {escape(name)}</h3><ul>{problems}</ul>"
            f"<table><tr><th>step</th>{head}</tr>{''.join(body)}</table>"
            f"<p>replay: <code>ptelab litmus {escape(test.litmus.path)} --arch {r.arch} --replay "
            f"'{escape(ce.schedule)}'</code></p></div>")


def counterexamples_section(results, progress=_quiet) -> str:
    parts = []
    for i, (test, r) in enumerate(results):
        if not r.counterexamples:
            continue
        progress(f"timeline of {test.name} on {r.arch}", i, len(results))
        seen = set()
        for name, ce in r.counterexamples.items():
            if tuple(ce.result.schedule) not in seen:
                seen.add(tuple(ce.result.schedule))
                parts.append(timeline(test, r, name, ce))
    return "".join(parts) or "<p>No execution showed a violation or an outcome.</p>"


COST_SIZES = (1, 8, 64, 512)  # region sizes measured for the report (ptelab cost's default adds 4096)


def _cost_svg(fig) -> str:
    """A figure as an <img> whose SVG is in its data: URI (self-contained, and its ids
    cannot clash with the state diagrams' inline SVG)."""
    import base64
    import io

    from .cost import close

    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})  # no date: the same page twice
    close(fig)
    return f"<img alt='cost plot' src='data:image/svg+xml;base64,{base64.b64encode(buffer.getvalue()).decode()}'>"


def _cost_table(rows) -> str:
    from .cost import TABLE_COLUMNS, table_cells

    head = "".join(f"<th>{escape(c)}</th>" for c in TABLE_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in table_cells(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def costs_section(arches: list[str], progress=_quiet) -> str:
    """`ptelab cost` on the report's architectures: per operation a plot (matplotlib, the
    optional extra ptelab[plot]) with its table folded under it, or the table alone."""
    from .cost import APIS, OPERATIONS, cost_table, figures

    total, done = len(OPERATIONS) * len(arches) * len(COST_SIZES) * len(APIS), 0

    def measured():
        nonlocal done
        done += 1
        progress("costs: legacy against txn", done, total)
    rows = cost_table(arches, list(OPERATIONS), COST_SIZES, measured)
    try:
        plots = {operation: _cost_svg(fig) for operation, fig in figures(rows)}
    except ImportError:
        plots = {}
    parts = ["<p>What each mm operation costs on each backend, the kernel's accessor sequences (legacy) "
             "against the transactional interface (txn), per region size in pages (<code>ptelab cost</code>; "
             "a cell is legacy → txn)."
             + ("" if plots else " No plots: matplotlib is not installed (<code>pip install 'ptelab[plot]'</code>).")
             + "</p>"]
    for operation, (_, _, what) in OPERATIONS.items():
        table = _cost_table([r for r in rows if r["operation"] == operation])
        parts.append(f"<h3 id='cost-{operation}'>{escape(operation)}: {escape(what)}</h3>")
        parts.append(f"<figure>{plots[operation]}</figure><details><summary>the figures</summary>{table}</details>"
                     if operation in plots else table)
    return "".join(parts)


def findings_section(docs: Path) -> str:
    """Each finding's markdown as HTML (markdown-it, which rich brings; raw HTML in it escaped),
    its headings one level down, under the finding's file name."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    files = sorted((docs / "findings").glob("*.md"))
    return "".join(f"<div class=finding id='finding-{escape(f.stem)}'>"
                   + md.render(f.read_text()).replace("<h1>", "<h3>").replace("</h1>", "</h3>")
                   .replace("<h2>", "<h4>").replace("</h2>", "</h4>") + "</div>" for f in files) or "<p>None.</p>"


SECTIONS = ("rules", "states", "compare", "matrix", "counterexamples", "costs", "findings")


def build(arches: list[str], litmus_paths: list[str], docs: Path, progress=_quiet) -> str:
    """The page; `progress(text, done, total)` is told what is being done."""
    results = run_litmus(litmus_paths, arches, progress)
    states, views = states_section(arches, progress)
    body = {
        "rules": rules_section(results, arches),
        "states": states,
        "compare": _markdown_table(compare_markdown(views)),
        "matrix": matrix_section(results, arches),
        "counterexamples": counterexamples_section(results, progress),
        "costs": costs_section(arches, progress),
        "findings": findings_section(docs),
    }
    titles = {"rules": "The rulebook and its litmus verdicts", "states": "PTE state machines (kernel view)",
              "compare": "Architectures side by side", "matrix": "Litmus matrix",
              "counterexamples": "Counterexamples as timelines", "costs": "Costs", "findings": "Findings"}
    nav = "".join(f"<a href='#{s}'>{titles[s]}</a>" for s in SECTIONS)
    sections = "".join(f"<section id={s}><h2>{titles[s]}</h2>{body[s]}</section>" for s in SECTIONS)
    verdicts = {r.verdict for _, r in results}
    summary = (f"{len(results)} litmus runs on {', '.join(arches)}: "
               + ", ".join(f"{sum(1 for _, r in results if r.verdict == v)} {v}" for v in (OK, FAIL) if v in verdicts))
    return (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>ptelab report</title><style>{CSS}</style>"
            f"</head><body><h1>ptelab report</h1><p>{escape(summary)}</p><nav>{nav}</nav>{sections}</body></html>\n")
