"""Checking a litmus test on one architecture: explore, tally, compare with expectations.

Outcomes of an execution: the invariants it broke, and (debug mode) the rules debug
mode saw broken.  Every outcome is forbidden unless an `expect` clause names it for
the architecture; an expected outcome must happen in some execution.  `forbid (C)`
must hold in no completed execution, `exists (C)` in at least one.  The first
clause is the test's condition in herd's sense: its positive witnesses are the
executions that show it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..arch import ARCHES
from ..explore.dpor import Bounds, Exhaustive
from ..explore.execution import Execution
from ..explore.invariants import INVARIANTS
from ..explore.pct import PCT
from ..explore.schedule import Replay, format_schedule
from ..rules import BY_ID
from .scenario import LitmusScenario
from .syntax import LitmusFile

ANY = "any_invariant"
OK, FAIL, INCONCLUSIVE = "ok", "FAIL", "INCONCLUSIVE"
OUTCOMES = (*INVARIANTS, *BY_ID)


@dataclass
class Counterexample:
    """The first execution that showed an outcome, with its schedule as printed."""

    outcome: str
    result: object  # the explorer's Result of the execution that showed it
    schedule: str
    table: list | None = None  # filled when printed


@dataclass
class ArchResult:
    """A litmus test checked on one architecture: the search's counts, its final states and
    outcomes, the verdict's problems."""

    test: str
    arch: str
    mode: str
    condition: str
    kind: str  # Forbidden | Allowed
    executions: int = 0
    redundant: int = 0
    merged: int = 0  # the merged search: executions stopped at a state explored before
    cut: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # what a bound that cut an execution says about it
    complete: bool = True
    seconds: float = 0.0
    seed: int = 0
    states: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    positive: int = 0
    negative: int = 0
    expected: tuple = ()
    problems: list = field(default_factory=list)  # what failed, whatever the search missed
    unmet: list = field(default_factory=list)  # what the part explored did not show (a cut search)
    counterexamples: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """ok (complete, every expectation held), FAIL, or INCONCLUSIVE (nothing failed in
        the part explored, but a bound cut the search, or it was a random sample)."""
        if self.problems:
            return FAIL
        return OK if self.complete and not self.unmet else INCONCLUSIVE

    @property
    def ok(self) -> bool:
        return self.verdict == OK

    @property
    def observation(self) -> str:
        if self.positive == 0:
            return "Never"
        return "Always" if self.negative == 0 else "Sometimes"


class LitmusTest:
    """A parsed, compiled litmus file, checked for names it uses."""

    def __init__(self, litmus: LitmusFile):
        self.litmus = litmus
        self.name = litmus.name
        for clause in litmus.clauses:
            for name, offset in clause.outcomes:
                if name != ANY and name not in OUTCOMES:
                    raise litmus.error(offset, f"unknown outcome '{name}'; choose an invariant "
                                       f"({', '.join(INVARIANTS)}), a rule id, or {ANY}", OUTCOMES, name)
            for name, offset in clause.excluded:
                if name not in ARCHES:
                    raise litmus.error(offset, f"unknown architecture '{name}' after 'except'; choose "
                                       f"from: {', '.join(ARCHES)}", tuple(ARCHES), name)
            for name, offset in clause.archs:
                if name != "all" and name not in ARCHES:
                    raise litmus.error(offset, f"unknown architecture '{name}'; choose from: "
                                       f"{', '.join(ARCHES)}, all", (*ARCHES, "all"), name)
        self.scenario = LitmusScenario(litmus)
        conditions = [c for c in litmus.clauses if c.kind != "expect"]
        self.main = conditions[0] if conditions else None

    def condition_text(self) -> str:
        c = self.main
        if c is None:
            return f"forbid {ANY}"
        return f"{c.kind} " + (c.expr if c.expr else ", ".join(n for n, _ in c.outcomes))

    def expected(self, arch: str) -> tuple[str, ...]:
        names = []
        for c in self.litmus.clauses:
            if c.kind == "expect" and _names_arch(c, arch):
                names += [n for n, _ in c.outcomes if n not in names]
        return tuple(names)

    def check(self, arch: str, mode: str = "exhaustive", bounds: Bounds | None = None, seed: int = 0,
              runs: int = 1000, debug: bool = True, naive: bool = False, api: str = "legacy",
              progress=None, merge: bool = False, workers=1, cluster: str | None = None) -> ArchResult:
        """Explore the test on `arch`; `naive` turns the partial-order reduction off; `api`
        runs the mm operations the test calls on the accessors (legacy) or on txn.
        `progress`, if given, is called now and then (dpor.PROGRESS_EVERY) with the executions
        explored so far, the distinct final states found and the seconds spent.  `merge`
        merges equal states (explore/dpor.py).  `workers` > 1 explores the one search on that
        many processes (or on a multiprocessing Pool given), `cluster` (a Ray address) as tasks on a Ray cluster (litmus/parallel.py:
        the same verdict, final states and counterexamples; other execution counts)."""
        self.scenario.api = api
        bounds = bounds or Bounds()
        result = ArchResult(self.name, arch, mode, self.condition_text(),
                            "Allowed" if self.main is not None and self.main.kind == "exists" else "Forbidden")
        result.expected = tuple(n for n in self.expected(arch) if debug or n in INVARIANTS or n not in BY_ID)
        result.seed = seed
        tally = Tally(self, debug)
        scenario = self.scenario
        hook = None if progress is None else lambda s: progress(s.executions, len(tally.states), s.seconds)
        if mode == "exhaustive" and (workers != 1 or cluster is not None) and not naive \
                and bounds.executions is None:
            from .parallel import check_in_parallel  # one search on several processes or a cluster
            search, tally = check_in_parallel(self, arch, bounds, debug, workers, cluster, progress, merge)
        elif mode == "exhaustive":
            search = Exhaustive(scenario, arch, bounds, naive=naive, debug=debug, progress=hook,
                                merge=merge).run(tally)
        else:
            search = PCT(scenario, arch, bounds, seed=seed, runs=runs, debug=debug, progress=hook).run(tally)
        tally.into(result)
        result.executions, result.redundant, result.merged = search.executions, search.redundant, search.merged
        result.cut, result.complete, result.seconds = search.cut, search.complete, search.seconds
        result.notes = search.notes
        self._judge(result, tally.hits)
        return result

    def _holds(self, i, clause, seen, ex_result) -> bool:
        if clause.expr is not None:
            return ex_result.final is not None and self.scenario.evaluate(i, ex_result.world)
        names = {n for n, _ in clause.outcomes}
        if ANY in names:
            return bool(seen & set(INVARIANTS))
        return bool(seen & names)

    def _judge(self, result: ArchResult, hits: list[int]) -> None:
        expected = set(result.expected)
        for name, count in sorted(result.outcomes.items()):
            if name not in expected:
                what = "invariant broken" if name in INVARIANTS else "rule broken"
                result.problems.append(f"{what}: {name} in {count} execution(s)")
        # What the search did not show is a failure only when it covered everything.
        unmet = result.problems if result.complete else result.unmet
        for name in result.expected:
            if name not in result.outcomes:
                unmet.append(f"expected {name}, which no execution showed{_cut_by(result)}")
        arch = result.arch
        expected_conditions = {_spaced(c.expr) for c in self.litmus.clauses
                               if c.kind == "expect" and c.expr is not None and _names_arch(c, arch)}
        for i, clause in enumerate(self.litmus.clauses):
            if clause.expr is None:
                continue
            if clause.kind == "expect":
                if _names_arch(clause, arch) and not hits[i]:
                    unmet.append(f"expected {clause.expr} on {arch}, which no execution showed{_cut_by(result)}")
                continue
            if clause.kind == "forbid" and _spaced(clause.expr) in expected_conditions:
                continue  # expected on this architecture: allowed here, and required by its expect
            if clause.kind == "forbid" and hits[i]:
                result.problems.append(f"forbid {clause.expr} holds in {hits[i]} execution(s)")
            if clause.kind == "exists" and not hits[i]:
                unmet.append(f"exists {clause.expr} holds in no execution{_cut_by(result)}")

    def table(self, arch: str, counterexample: Counterexample, debug: bool = True):
        """Replay a counterexample with the step table recorded."""
        ex = Execution(self.scenario, arch, Replay(list(counterexample.result.schedule)), table=True,
                       debug=debug)
        return ex.run(), ex


class Tally:
    """What a search's executions showed, one execution at a time: final states, outcomes,
    witnesses, per clause the executions it holds in, and the first execution that showed
    each outcome or condition (its Counterexample; with `schedules`, only its schedule, which
    a worker process can send back: litmus/parallel.py)."""

    def __init__(self, test: LitmusTest, debug: bool, schedules: bool = False):
        self.test, self.debug, self.schedules = test, debug, schedules
        self.names = test.scenario.actor_names()
        self.states: Counter = Counter()
        self.outcomes: Counter = Counter()
        self.positive = self.negative = 0
        self.hits = [0] * len(test.litmus.clauses)  # per clause: the executions in which it holds
        self.counterexamples: dict = {}
        self.candidates: dict[str, list] = {}  # key -> the schedules workers showed it first in

    def _first(self, key: str, ex_result) -> None:
        if key not in self.counterexamples:
            self.counterexamples[key] = list(ex_result.schedule) if self.schedules else Counterexample(
                key, ex_result, format_schedule(ex_result.schedule, self.names))

    def __call__(self, ex_result) -> None:
        test, clauses = self.test, self.test.litmus.clauses
        seen = {v.invariant for v in ex_result.violations}
        if self.debug:
            seen |= {b[0] for b in ex_result.breaches}
        for name in sorted(seen, key=_outcome_order):  # the same order whatever PYTHONHASHSEED
            self.outcomes[name] += 1
            self._first(name, ex_result)
        self.states[_state_key(ex_result, seen)] += 1
        holds = [test._holds(i, c, seen, ex_result) for i, c in enumerate(clauses)]
        for i, held in enumerate(holds):
            self.hits[i] += held
            if held and clauses[i].expr is not None:  # the first execution it holds in, shown
                self._first(condition_key(clauses[i]), ex_result)
        main = test.main
        if main is not None and holds[clauses.index(main)] or main is None and seen & set(INVARIANTS):
            self.positive += 1
        else:
            self.negative += 1

    def summary(self) -> tuple:
        """What a worker sends back (plain data)."""
        return self.states, self.outcomes, self.positive, self.negative, self.hits, self.counterexamples

    def add(self, summary: tuple) -> None:
        """Add a worker's summary (its schedules kept as candidates: litmus/parallel.py)."""
        states, outcomes, positive, negative, hits, firsts = summary
        self.states.update(states)
        self.outcomes.update(outcomes)
        self.positive += positive
        self.negative += negative
        self.hits = [a + b for a, b in zip(self.hits, hits)]
        for key, schedule in firsts.items():
            self.candidates.setdefault(key, []).append(schedule)

    def into(self, result: ArchResult) -> None:
        result.states, result.outcomes = self.states, self.outcomes
        result.positive, result.negative = self.positive, self.negative
        result.counterexamples = self.counterexamples


def _names_arch(clause, arch: str) -> bool:
    return any(a in ("all", arch) for a, _ in clause.archs) and all(a != arch for a, _ in clause.excluded)


def _spaced(expr: str) -> str:
    return " ".join(expr.split())


def condition_key(clause) -> str:
    """How a condition clause names its counterexample (or witness): 'forbid (P0.r == 0)'."""
    return f"{clause.kind} {_spaced(clause.expr)}"


def final_items(final: dict) -> list[str]:
    """The final state as 'name=value' items; a page no entry maps reads 'A unmapped'."""
    return [f"{k[1:]} unmapped" if k.startswith("*") and v is None else f"{k}={v}" for k, v in final.items()]


def _outcome_order(name: str) -> tuple:
    """Invariants first (what went wrong), in the order INVARIANTS lists them, then rules by id."""
    return (0, INVARIANTS.index(name), "") if name in INVARIANTS else (1, 0, name)


def _cut_by(result: ArchResult) -> str:
    if result.complete:
        return ""
    if result.mode != "exhaustive":
        return f" in {result.executions} sampled execution(s)"
    return " (the search was cut by " + ", ".join(result.cut) + ")"


def _state_key(ex_result, seen) -> tuple:
    if ex_result.final is None:
        cut = (f"[cut by {ex_result.cut}]",) if ex_result.cut else ()
        return tuple(f"[{name}]" for name in sorted(seen)) + cut or ("[stopped]",)
    items = final_items(ex_result.final)
    items += [f"{actor}:{outcome}" for actor, outcome in sorted(ex_result.outcomes.items())]
    items += [f"[{name}]" for name in sorted(seen)]
    return tuple(items)
