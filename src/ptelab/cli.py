"""The `ptelab` command."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

from pathlib import Path

from . import __version__
from .arch import ARCHES, boot
from .debug import RuleViolation
from .machine.violation import InvariantViolation
from .rules import BY_ID, INVARIANT_BY_ID, INVARIANTS, RULES
from .machine.counters import DESCRIPTIONS, Counters
from .workloads import WORKLOADS, Breaches, run_workload

# 0 ok (complete, every expectation held), 1 a failure, 2 bad input, 3 inconclusive (nothing
# failed, but a bound cut the search or it was a random sample), 4 an internal error of ptelab.
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_FINDING = 5  # run: a workload broke a rule in the kernel's own code, a known finding (docs/findings/)
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a C program's status would be


class UsageError(Exception):
    """Bad input from the command line: message, then exit 2."""


def choose(kind: str, name: str, accepted) -> str:
    if name in accepted:
        return name
    import difflib  # only on bad input: not imported at every start

    close = difflib.get_close_matches(name, list(accepted), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown {kind} {name!r}{hint}; accepted: {', '.join(accepted)}")


def parse_arches(spec: str) -> list[str]:
    """'x86', 'x86,ppc64-6.12' or 'all'."""
    if spec == "all":
        return list(ARCHES)
    names = [choose("architecture", name.strip(), [*ARCHES, "all"]) for name in spec.split(",")]
    if "all" in names:
        return list(ARCHES)
    return list(dict.fromkeys(names))  # each once, in the order given


def output_console() -> Console:
    """The console for tables on standard output: on a file or a pipe, wide enough that no
    name or title is folded or cut (a terminal's own width otherwise)."""
    from rich.console import Console  # rich is imported only where it prints (start-up, issue 16)

    console = Console()
    return console if console.is_terminal else Console(width=400)


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def whole(least: int):
    """An argparse type: a whole number, `least` or more."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({least}, {least + 1}, ...)") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} must be at least {least}")
        return value
    return parse


positive, non_negative = whole(1), whole(0)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds greater than 0 (such as 2 or 0.5)")
    return value


def counters_table(title: str, columns: dict[str, Counters], elapsed: dict[str, float]) -> Table:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("event")
    for name in columns:  # an architecture's name is never cut, however many are shown
        table.add_column(name, justify="right", min_width=len(name), no_wrap=True)
    table.add_column("meaning", style="dim")
    events = [e for e in DESCRIPTIONS if any(c[e] for c in columns.values())]
    events += sorted({e for c in columns.values() for e in c} - set(events))
    for event in events:
        any_counter = next(iter(columns.values()))
        table.add_row(event, *(f"{c[event]:,}" for c in columns.values()), any_counter.describe(event))
    table.add_row("seconds", *(f"{elapsed[n]:.2f}" for n in columns), "wall-clock time of the run", style="italic")
    return table


def cmd_run(args) -> int:
    workload = choose("workload", args.workload, WORKLOADS)
    arches = parse_arches(args.arch)
    columns, elapsed, broken, found = {}, {}, [], {}
    for name in arches:
        machine = boot(name, cpus=args.cpus, pages=args.pages, debug=not args.no_debug,
                       features=cpu_features(args.cpu_feature))
        machine.api = args.api
        breaches = Breaches()  # a rule broken is recorded and the workload runs on
        start = time.perf_counter()
        try:
            run_workload(machine, workload, args.pages, breaches)
        except (RuleViolation, InvariantViolation) as err:
            broken.append(f"{name}: {err}")
            continue
        elapsed[name] = time.perf_counter() - start
        columns[name] = machine.counters
        for (finding, rule, caller), (times, where) in breaches.findings().items():
            if finding is None:
                broken.append(f"{name}: rule {rule} broken {plural(times, 'time')} by {caller}, first at {where}")
            else:
                found.setdefault(finding, []).append((name, times, where))
    console = output_console()
    if columns:
        mode = "debug mode" if not args.no_debug else "no debug mode"
        api = ", api txn" if args.api == "txn" else ""  # the legacy title as it was
        title = f"{workload}: {WORKLOADS[workload][1]} ({plural(args.pages, 'page')}, {plural(args.cpus, 'CPU')}, {mode}{api})"
        console.print(counters_table(title, columns, elapsed))
    from rich.markup import escape

    for finding, hits in found.items():
        console.print(f"[bold yellow]finding[/] rule {finding.rule} is broken by the kernel's own "
                      f"{finding.caller}: {finding.page}", highlight=False)
        for name, times, where in hits:
            console.print(f"  {name}: {plural(times, 'time')}, first at {escape(where)}{_raced(finding, name)}",
                          highlight=False)
    for report in broken:
        console.print(f"[bold red]broken[/] {escape(report)}", highlight=False)
    return EXIT_FAIL if broken else EXIT_FINDING if found else EXIT_OK


def _raced(finding, arch: str) -> str:
    """What the finding's litmus test shows on `arch` when another CPU races the call:
    the invariants its executions break (the consequence on that architecture)."""
    from .explore.invariants import INVARIANTS
    from .litmus import load

    path = Path(__file__).resolve().parents[2] / finding.litmus
    if not path.exists():  # installed without the bundled suite
        return ""
    shown = sorted(set(load(path).check(arch).outcomes) & set(INVARIANTS))
    return f"; raced ({finding.litmus}): {', '.join(shown) or 'no invariant broken'}"


def cpu_features(names) -> tuple[str, ...]:
    """--cpu-feature (repeated): names of machine.CPU_FEATURES."""
    from .machine import CPU_FEATURES

    for name in names:
        if name not in CPU_FEATURES:
            raise UsageError(f"--cpu-feature: unknown CPU feature {name!r}; choose from: {', '.join(CPU_FEATURES)}")
    return tuple(names)


def cmd_cost(args) -> int:
    from rich.table import Table

    from .cost import NEVER_MORE, OPERATIONS, TABLE_COLUMNS, cost_table, table_cells

    arches = parse_arches(args.arch)
    operations = list(OPERATIONS) if args.op == "all" else [choose("operation", args.op, OPERATIONS)]
    try:
        sizes = [int(n) for n in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(n < 1 or n > 4096 for n in sizes):
        raise UsageError(f"--sizes: a comma list of page counts from 1 to 4096, not {args.sizes!r}")
    if args.png is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--png needs matplotlib: pip install 'ptelab[plot]'") from None
        if not os.path.isdir(args.png):
            raise UsageError(f"--png: {args.png} is not a directory")
    total = len(arches) * len(operations) * len(sizes) * 2
    done = 0

    def measured():
        nonlocal done
        done += 1
        say("measuring", done, total)

    with _status(enabled=not args.json) as say:
        rows = cost_table(arches, operations, sizes, measured, features=cpu_features(args.cpu_feature),
                          mthp=args.mthp)
    if args.png is not None:
        from .cost import plot

        for path in plot(rows, args.png):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        import json

        print(json.dumps(rows, indent=1))
        return EXIT_OK
    console = output_console()  # piped: no column name cut
    for operation in operations:
        table = Table(title=f"{operation}: {OPERATIONS[operation][2]} (legacy → txn)")
        for column in TABLE_COLUMNS:
            table.add_column(column, justify="right" if column in NEVER_MORE or column == "pages" else "left")
        for row in (r for r in rows if r["operation"] == operation):
            table.add_row(*table_cells(row))
        console.print(table)
    return EXIT_OK


def cmd_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="architectures")
    table.add_column("name")
    table.add_column("kernel")
    table.add_column("description")
    for name, cls in ARCHES.items():
        kernel = "proposal on " + cls.kernel if cls.proposal else cls.kernel
        what = cls.description + (f"\n  differs: {cls.differs}" if cls.differs else "")
        table.add_row(name, kernel, what)
    console.print(table)
    table = Table(title="workloads")
    table.add_column("name")
    table.add_column("description")
    for name, (_, description) in WORKLOADS.items():
        table.add_row(name, description)
    console.print(table)
    return EXIT_OK


def cmd_rules(args) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if args.id is not None:
        rule = BY_ID.get(args.id)
        if rule is None and args.id in INVARIANT_BY_ID:
            print(invariant_text(INVARIANT_BY_ID[args.id]))
            return EXIT_OK
        if rule is None:
            choose("rule or invariant", args.id, [*BY_ID, *INVARIANT_BY_ID])
        from rich.markdown import Markdown  # markdown-it is a third of start-up: only here

        from .report import rule_text

        console.print(Markdown(rule_text(rule)))
        return EXIT_OK
    console = output_console()
    table = Table(title="the rulebook (ptelab rules ID for one rule)")
    table.add_column("rule", no_wrap=True)
    table.add_column("statement")
    table.add_column("needed by")
    table.add_column("check")
    for rule in RULES:
        table.add_row(rule.id, rule.statement, ", ".join(rule.archs), rule.check)
    console.print(table)
    table = Table(title="the invariants: outcomes the explorer reports (ptelab rules ID for one)")
    table.add_column("outcome", no_wrap=True)
    table.add_column("statement")
    table.add_column("rules that prevent it")
    for invariant in INVARIANTS:
        table.add_row(invariant.id, invariant.statement, ", ".join(invariant.rules) or "-")
    console.print(table)
    return EXIT_OK


def invariant_text(invariant) -> str:
    lines = [f"{invariant.id} (an invariant: an outcome the explorer reports)", "", invariant.statement, "",
             f"Checked by: {invariant.how}"]
    for rule_id in invariant.rules:
        lines.append(f"Prevented by rule {rule_id}: {BY_ID[rule_id].statement}")
    if invariant.shown_by:
        lines.append(f"Shown by: {', '.join(invariant.shown_by)}")
    return "\n".join(lines)


def cmd_litmus(args) -> int:
    from .explore.dpor import Bounds
    from .explore.schedule import ScheduleError, parse_schedule
    from .litmus import LitmusError, find, load
    from .litmus.check import FAIL, OK
    from .litmus.matrix import Matrix, Options, default_jobs
    from .litmus.report import search_text

    arches = parse_arches(args.arch)
    mode = choose("mode", args.mode, ("exhaustive", "random"))
    if args.merge:  # the merged search is an exhaustive search's (explore/dpor.py)
        other = "--mode random" if mode != "exhaustive" else "--replay" if args.replay is not None else \
            "--preemptions (a bound on a path's preemptions is not one on its state)" \
            if args.preemptions is not None else None
        if other is not None:
            raise UsageError(f"--merge merges the equal states of an exhaustive search: not with {other}")
    debug = not args.no_debug
    bounds = Bounds(max_steps=args.max_steps, preemptions=args.preemptions, executions=args.executions,
                    seconds=args.seconds)
    try:
        tests = [load(path) for path in find(args.paths)]
    except LitmusError as err:
        raise UsageError(str(err)) from None
    if not tests:
        raise UsageError("no litmus files (*.litmus) found in: " + ", ".join(args.paths))
    for test in tests:
        test.scenario.api = args.api
    if args.replay is not None:
        if len(tests) != 1 or len(arches) != 1:
            raise UsageError("--replay runs one test on one architecture")
        try:
            return _replay(tests[0], arches[0], parse_schedule(args.replay, tests[0].scenario.actor_names()), debug,
                           args.json)
        except ScheduleError as err:
            raise UsageError(str(err)) from None
    options = Options(mode, bounds, seed=args.seed, runs=args.runs, debug=debug, json=args.json,
                      verbose=args.verbose, api=args.api, cluster=args.cluster, merge=args.merge)
    if args.cluster is not None:
        from .explore.cluster import ClusterError, connect
        try:
            connect(args.cluster)
        except ClusterError as err:
            raise UsageError(str(err)) from None
    from .plain_table import on_pipe

    cells, out = [], []
    shown = not args.json and not on_pipe(sys.stderr)  # rich's console is made only when shown
    progress = _progress(None, enabled=shown)
    running: dict[tuple[str, str], int] = {}  # (file, arch) -> the progress line of a cell being checked

    def searching(test, arch, executions, states, seconds):
        text = f"  {test.name} on {arch}: {search_text(executions, states, seconds)}"
        task = running.get((test.litmus.path, arch))
        if task is None:
            running[test.litmus.path, arch] = progress.add_task(text, total=None, count="")
        else:
            progress.update(task, description=text)

    # the workers are forked before rich's progress starts its thread
    with Matrix(tests, arches, options, args.jobs or default_jobs(), searching if shown else None) as checked, \
            progress:
        total = len(tests) * len(arches)
        task = progress.add_task("litmus", total=total, count=f"0/{total}")
        for done, cell in enumerate(checked, 1):
            if cell.error is not None:
                raise UsageError(cell.error)
            cells.append(cell)
            if (cell.path, cell.arch) in running:
                progress.remove_task(running.pop((cell.path, cell.arch)))
            progress.update(task, description=f"{cell.test} on {cell.arch}", count=f"{done}/{total}")
            progress.advance(task)
    if args.json:
        import json
        print(json.dumps([cell.json for cell in cells], indent=2))
    else:
        for cell in cells:
            out += cell.lines
            out.append("")
        print("\n".join(out))
        _print_matrix(cells, arches)
    verdicts = {cell.verdict for cell in cells}
    return EXIT_FAIL if FAIL in verdicts else EXIT_OK if verdicts == {OK} else EXIT_INCONCLUSIVE


def _replay(test, arch, choices, debug, as_json=False) -> int:
    from .explore.execution import Execution, ScenarioError
    from .explore.schedule import Replay, format_schedule
    from .litmus.check import final_items
    from .litmus.report import step_table

    ex = Execution(test.scenario, arch, Replay(choices), table=True, debug=debug)
    try:
        result = ex.run()
    except ScenarioError as err:
        raise UsageError(str(err)) from None
    schedule = format_schedule(result.schedule, test.scenario.actor_names())
    status = EXIT_FAIL if result.violations or (debug and result.breaches) else \
        EXIT_INCONCLUSIVE if result.cut else EXIT_OK
    if as_json:
        import json

        print(json.dumps({
            "test": test.name, "file": test.litmus.path, "arch": arch, "schedule": schedule,
            "verdict": {EXIT_OK: "ok", EXIT_FAIL: "FAIL", EXIT_INCONCLUSIVE: "INCONCLUSIVE"}[status],
            "steps": step_table(test, ex), "violations": [v.describe() for v in result.violations],
            "breaches": [{"rule": rule_id, "step": step, "actor": actor, "line": line}
                         for rule_id, step, actor, line in result.breaches],
            "final": result.final, "cut": result.cut, "note": result.note}, indent=2, default=str))
        return status
    print(f"Test {test.name} on {arch}, schedule: {schedule}")
    print("\n".join(step_table(test, ex)))
    for v in result.violations:
        print(v.describe())
    for rule_id, step, actor, line in result.breaches:
        print(f"rule {rule_id} broken at step {step} by {actor}, {test.litmus.path}:{line}")
    if result.final is not None:
        print("final: " + "; ".join(final_items(result.final)))
    if status == EXIT_INCONCLUSIVE:
        print(f"cut by {result.cut}" + (f": {result.note}" if result.note else ""))
    return status


def _progress(console, enabled):
    """A progress display on `console` (stderr): a line per task, its text, a bar (pulsing
    when the total is unknown), its `count` field (such as 3/54) and the time; or, when not
    shown (not a terminal, or JSON asked for), one that does nothing, so that what is printed
    on stdout is the same however the command runs."""
    from contextlib import nullcontext

    if not enabled:  # rich.progress (8 ms) is imported only when it is shown
        class Quiet(nullcontext):
            def add_task(self, *a, **k):
                return 0

            def update(self, *a, **k):
                pass

            def advance(self, *a, **k):
                pass

            def remove_task(self, *a, **k):
                pass
        return Quiet()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
                    TimeElapsedColumn(), console=console or Console(stderr=True), transient=True)


def _status(enabled: bool = True):
    """A one-line progress display on stderr, shown on a terminal only: a context giving
    say(text, done=None, total=None)."""
    from contextlib import contextmanager

    @contextmanager
    def showing():
        from rich.console import Console

        console = Console(stderr=True)
        progress = _progress(console, enabled=enabled and console.is_terminal)
        with progress:
            task = progress.add_task("", total=None, count="")

            def say(text: str, done: int | None = None, total: int | None = None) -> None:
                count = f"{done}/{total}" if total else ""
                progress.update(task, description=text, count=count, **({"completed": done, "total": total}
                                                                       if total else {}))
            yield say
    return showing()


def _print_matrix(cells, arches) -> None:
    """On a pipe or in a file the matrix is drawn without rich, as rich draws it there
    (rich's import was a sixth of a verdict's start-up); on a terminal, by rich."""
    from .plain_table import Table, on_pipe

    text = _matrix(cells, arches, Table).render() if on_pipe() else None
    if text is not None:
        print(text)
        return
    from rich.table import Table as RichTable

    output_console().print(_matrix(cells, arches, RichTable))


def _matrix(cells, arches, Table):
    table = Table(title="litmus verdicts", caption="ok: a complete search, every expectation held")
    table.add_column("test")
    for arch in arches:
        table.add_column(arch, justify="center")
    rows: dict[tuple, dict] = {}  # (file, test name) -> arch -> cell: same names stay apart
    for cell in cells:
        rows.setdefault((cell.path, cell.test), {})[cell.arch] = cell
    names = [name for _, name in rows]
    for (path, name), by_arch in rows.items():
        label = f"{name} ({path})" if names.count(name) > 1 else name
        table.add_row(label, *(by_arch[arch].markup for arch in arches))
    return table


def cmd_states(args) -> int:
    from .states import FORMATS, derive  # deriving needs the mm code: imported only here

    from .kernel_view import VIEW_FORMATS, kernel_view

    arch = choose("architecture", args.arch, ARCHES)
    view = choose("view", args.view, ("kernel", "full"))
    fmt = choose("format", args.format, FORMATS if view == "full" else VIEW_FORMATS)
    with _status() as say:
        sm = derive(arch, progress=lambda states, transitions: say(
            f"deriving the {arch} state machine: {plural(states, 'state')}, {plural(transitions, 'transition')}"))
    print(FORMATS[fmt](sm) if view == "full" else VIEW_FORMATS[fmt](kernel_view(sm), sm), end="")
    return EXIT_OK


def cmd_report(args) -> int:
    from .html_report import build
    from .litmus import LitmusError, find

    arches = parse_arches(args.arch)
    try:
        paths = [str(p) for p in find(args.litmus)]
    except LitmusError as err:
        raise UsageError(str(err)) from None
    if not paths:
        raise UsageError("no litmus files (*.litmus) found in: " + ", ".join(args.litmus))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    page = out / "index.html"
    try:
        with _status() as say:
            text = build(arches, paths, Path(args.docs), progress=say)
        page.write_text(text)
    except LitmusError as err:
        raise UsageError(str(err)) from None
    print(f"wrote {page}")
    return EXIT_OK


def cmd_docs(args) -> int:
    from .report import stale_docs, write_docs

    docs = Path(args.dir)
    if args.check:
        with _status() as say:
            checked, stale = stale_docs(docs, progress=say)
        for path in stale:
            why = "is missing" if not path.exists() else "is out of date"
            print(f"ptelab: {path} {why}: run `ptelab docs`", file=sys.stderr)
        print(f"checked {plural(len(checked), 'generated file')} under {docs}: "
              + (f"{len(stale)} to regenerate" if stale else "all up to date"))
        return EXIT_FAIL if stale else EXIT_OK
    try:
        with _status() as say:
            written = write_docs(docs, progress=say)
    except OSError as err:
        raise UsageError(f"cannot write the docs under {docs}: {err.strerror or err}") from None
    for path in written:
        print(path)
    return EXIT_OK


def cmd_survey(args) -> int:
    from .survey import SurveyError, litmus_skeleton, survey
    from .survey.report import as_json, print_terminal

    try:
        if args.litmus:
            print(litmus_skeleton(args.path, args.litmus, args.arch, use_cache=not args.no_cache), end="")
            return EXIT_OK
        with _status(enabled=not args.json) as say:
            result = survey(args.path, args.arch, use_cache=not args.no_cache,
                            progress=lambda done, total: say("reading the tree", done, total))
    except SurveyError as err:
        raise UsageError(str(err)) from None
    if args.json:
        import json
        print(json.dumps(as_json(result), indent=2))
    else:
        print_terminal(result, output_console())
    return EXIT_OK


class Parser(argparse.ArgumentParser):
    commands: dict = {}  # command -> its parser (the top-level parser's)

    def error(self, message):
        raise UsageError(message)

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but what a command does not take is named with what it takes."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self.commands.get(getattr(namespace, "command", None), self)
            word = extras[0].split("=")[0]
            if not word.startswith("-"):
                raise UsageError(f"unexpected argument {word!r} for {command.prog}")
            options = sorted({o for o in command._option_string_actions if o.startswith("--")})
            import difflib

            close = difflib.get_close_matches(word, options, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            commands = f"; commands: {', '.join(self.commands)}" if command is self else ""
            raise UsageError(f"unknown option {word!r} for {command.prog}{hint}; accepted: {', '.join(options)}"
                             + commands)
        return namespace


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ptelab", description="An executable model of Linux page-table accessors.")
    parser.add_argument("--version", action="version", version=f"ptelab {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    run = sub.add_parser("run", help="run a named workload sequentially and print the event counters",
                         epilog="exit status: 0 ok; 1 a rule or invariant broken (a bug); 2 bad input; "
                                "5 a finding: a rule broken by the kernel's own generic code, with its page "
                                "in docs/findings/ (the workload still runs to the end)")
    run.add_argument("workload", help=f"one of: {', '.join(WORKLOADS)}")
    run.add_argument("--arch", default="x86", help=f"one of {', '.join(ARCHES)}, a comma list, or all")
    run.add_argument("--pages", type=positive, default=1024, help="pages the workload maps (default 1024)")
    run.add_argument("--cpus", type=positive, default=2, help="CPUs of the machine (default 2)")
    run.add_argument("--no-debug", action="store_true", help="do not check the rulebook on every accessor call")
    run.add_argument("--api", choices=("legacy", "txn"), default="legacy",
                     help="mm's PTE code: the accessor sequences (legacy) or the transactional interface (txn)")
    run.add_argument("--cpu-feature", action="append", default=[], metavar="NAME",
                     help="a CPU feature every CPU has (repeatable): tlbirange (arm64 FEAT_TLBIRANGE)")
    run.set_defaults(func=cmd_run)
    cost = sub.add_parser("cost", help="what each mm operation costs, legacy accessor code against txn")
    cost.add_argument("--arch", default="all", help=f"one of {', '.join(ARCHES)}, a comma list, or all (default)")
    cost.add_argument("--op", default="all", help="mprotect, munmap, madv-dontneed, mremap, madv-free, clear-refs, fork, swap-out or all (default)")
    cost.add_argument("--sizes", default="1,8,64,512,4096", help="region sizes in pages (default 1,8,64,512,4096)")
    cost.add_argument("--json", action="store_true", help="the counters of every measurement as JSON")
    cost.add_argument("--png", metavar="DIR", help="also a plot per operation, DIR/cost-OP.png (needs ptelab[plot])")
    cost.add_argument("--cpu-feature", action="append", default=[], metavar="NAME",
                      help="a CPU feature every CPU has (repeatable): tlbirange (arm64 FEAT_TLBIRANGE)")
    cost.add_argument("--mthp", action="store_true",
                      help="the region faults in 64 KiB large folios (contiguous blocks on arm64), not page by page")
    cost.set_defaults(func=cmd_cost)
    lst = sub.add_parser("list", help="list architectures and workloads")
    lst.set_defaults(func=cmd_list)
    rules = sub.add_parser("rules", help="print the rulebook, or one rule")
    rules.add_argument("id", nargs="?", help=f"one of: {', '.join([*BY_ID, *INVARIANT_BY_ID])}")
    rules.set_defaults(func=cmd_rules)
    states = sub.add_parser("states", help="derive and print the PTE state machine of an architecture")
    states.add_argument("--arch", default="x86", help=f"one of: {', '.join(ARCHES)}")
    states.add_argument("--format", default="md", help="md, dot or json (see `ptelab states --format x`); json: full view only")
    states.add_argument("--view", default="kernel",
                        help="kernel (lumped to what a kernel developer tells apart, minimised) or full (every state)")
    states.set_defaults(func=cmd_states)
    lit = sub.add_parser("litmus", help="explore litmus tests on every interleaving, per architecture")
    lit.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="litmus files, or directories of *.litmus")
    lit.add_argument("--arch", default="all", help=f"one of {', '.join(ARCHES)}, a comma list, or all (default)")
    lit.add_argument("--mode", default="exhaustive", help="exhaustive (default) or random (PCT)")
    lit.add_argument("--no-debug", action="store_true", help="do not check the rulebook on every accessor call")
    lit.add_argument("--json", action="store_true", help="print the results as JSON")
    lit.add_argument("--replay", metavar="SCHEDULE", help="run exactly this schedule (as printed) and show its steps")
    lit.add_argument("--max-steps", type=positive, default=2000, help="steps per execution (default 2000)")
    lit.add_argument("--preemptions", type=non_negative, default=None, help="bound on preemptions per execution")
    lit.add_argument("--executions", type=positive, default=None, help="bound on executions per test")
    lit.add_argument("--seconds", type=seconds, default=None, help="bound on seconds per test and architecture")
    lit.add_argument("--seed", type=int, default=0, help="random mode: the seed (default 0)")
    lit.add_argument("--runs", type=positive, default=1000, help="random mode: schedules per test (default 1000)")
    lit.add_argument("-v", "--verbose", action="store_true", help="show the step table of expected outcomes too")
    lit.add_argument("--api", choices=("legacy", "txn"), default="legacy",
                     help="the mm operations the tests call: on the accessors (default) or on txn")
    lit.add_argument("--jobs", type=positive, default=None,
                     help="processes checking the test x architecture matrix, and one search when the matrix "
                     "has fewer cells (default: the cores available)")
    lit.add_argument("--cluster", metavar="ADDRESS", default=None,
                     help="explore each search as tasks on the Ray cluster at ADDRESS (auto, HOST:PORT, or local "
                     "to start one here); needs the extra ptelab[cluster]")
    lit.add_argument("--merge", action="store_true",
                     help="merge equal states: a state explored is not explored again (a stateful search; "
                     "exhaustive mode, no --preemptions; with --cluster its visited set is sharded over the cluster)")
    lit.set_defaults(func=cmd_litmus)
    report = sub.add_parser("report", help="write one self-contained HTML page: rules, state machines, litmus, findings")
    report.add_argument("--out", default="report", help="the directory to write index.html to (default: report)")
    report.add_argument("--arch", default="all", help=f"one of {', '.join(ARCHES)}, a comma list, or all (default)")
    report.add_argument("--litmus", nargs="+", default=["litmus"], metavar="FILE_OR_DIR",
                        help="the litmus tests to run (default: litmus/)")
    report.add_argument("--docs", default="docs", help="the docs directory with findings/ (default: docs)")
    report.set_defaults(func=cmd_report)

    docs = sub.add_parser("docs", help="regenerate docs/rules.md and docs/states/ from the model")
    docs.add_argument("--dir", default="docs", help="the docs directory (default: docs)")
    docs.add_argument("--check", action="store_true", help="only check that the files are up to date")
    docs.set_defaults(func=cmd_docs)
    sur = sub.add_parser("survey", help="the call sites of the PTE accessors in a kernel tree, and the rules they may break")
    sur.add_argument("path", metavar="PATH", help="the top of a kernel source tree")
    sur.add_argument("--arch", default=None, help="resolve definitions for this arch/ directory (powerpc, x86, ...)")
    sur.add_argument("--json", action="store_true", help="print the survey as JSON")
    sur.add_argument("--litmus", metavar="FUNC", help="print a litmus skeleton of FUNC's PTE sequence instead")
    sur.add_argument("--no-cache", action="store_true", help="read every file again and do not write the cache")
    sur.set_defaults(func=cmd_survey)
    parser.commands = sub.choices
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:  # bare `ptelab`: what it can do
            parser.print_help()
            return EXIT_USAGE
        return args.func(args)
    except UsageError as err:
        print(f"ptelab: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ptelab: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (| head): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception:  # noqa: BLE001 - a bug of ptelab's, not of the input: say so, never exit 1
        import traceback

        traceback.print_exc()
        print("ptelab: internal error (a bug in ptelab, not in the input): please report it with the "
              "traceback above", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
