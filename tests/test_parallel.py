"""One search on several processes (explore/parallel.py, litmus/parallel.py), and on a Ray
cluster (explore/cluster.py): sound (every final state and outcome naive enumeration reaches)
and deterministic (the verdict, the final states, the outcomes and the counterexamples shown
are those of one process)."""

import itertools
import json
import math
import re
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ptelab.cli import main
from ptelab.explore.dpor import Bounds, Exhaustive
from ptelab.explore import parallel
from ptelab.explore.parallel import split
from ptelab.explore.state import SUPPORTED
from ptelab.litmus import load
from ptelab.litmus import parallel as litmus_parallel
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse
from .test_explore import litmus_texts
from .test_merge import P0_OPS as MERGE_P0_OPS, USER_OPS

SUITE = Path(__file__).resolve().parent.parent / "litmus"


@pytest.fixture(autouse=True)
def split_at_once(monkeypatch):
    """These searches are small: split them at once instead of finishing them sequentially."""
    monkeypatch.setattr(litmus_parallel, "SEQUENTIAL_FIRST", 0)


def _stop_after(monkeypatch, executions: int) -> None:
    """The sequential search first (litmus/parallel.py) stops after this many executions:
    the time it is given, counted in looks at the clock (one an execution)."""
    ticks = itertools.count()
    monkeypatch.setattr(parallel, "_clock", lambda: next(ticks))
    monkeypatch.setattr(litmus_parallel, "SEQUENTIAL_FIRST", executions)


def _seen(r) -> tuple:
    """What must not depend on the workers: the counterexamples in the order they are shown."""
    return (r.verdict, set(r.states), dict(r.outcomes).keys(), r.problems and r.verdict,
            [(key, ce.schedule) for key, ce in r.counterexamples.items()])


@pytest.mark.parametrize("name,arch", [
    ("seed-mprotect", "ppc64-2.6.27"), ("seed-mprotect", "x86"), ("zap-dirty-shared-noflush", "x86"),
    ("zap-dirty-shared-noflush", "ppc64-6.12"), ("op-zap-page-range", "arm64"), ("mremap-fault-old-address", "x86"),
    ("op-shrink-page", "ppc64-6.12"), ("rule-lock-held", "ppc64-2.6.27")])
def test_two_workers_show_what_one_shows(name, arch):
    test = load(SUITE / f"{name}.litmus")
    one, two = test.check(arch), test.check(arch, workers=2)
    assert _seen(one) == _seen(two)
    assert two.complete and two.executions > 0


def test_a_failure_shows_the_counterexample_one_process_shows(tmp_path):
    path = tmp_path / "t.litmus"  # the ppc64-2.6.27 duplicate HPTE, no longer expected: FAIL there
    path.write_text((SUITE / "seed-mprotect.litmus").read_text().replace("expect ppc64-2.6.27", "expect x86"))
    test = load(path)
    one, two = test.check("ppc64-2.6.27"), test.check("ppc64-2.6.27", workers=3)
    assert one.verdict == two.verdict == "FAIL"
    assert _seen(one) == _seen(two) and two.counterexamples
    if SUPPORTED:  # merged: the merged sequential search's counterexample
        one, two = test.check("ppc64-2.6.27", merge=True), test.check("ppc64-2.6.27", merge=True, workers=3)
        assert one.verdict == two.verdict == "FAIL" and one.merged
        assert _seen(one) == _seen(two) and two.counterexamples


@pytest.mark.parametrize("name,arch,executions", [
    ("seed-mprotect", "ppc64-2.6.27", 1), ("zap-dirty-shared-noflush", "x86", 3),
    ("zap-dirty-shared-noflush", "ppc64-6.12", 40), ("op-zap-page-range", "arm64", 2),
    ("mremap-fault-old-address", "x86", 5), ("rule-lock-held", "ppc64-2.6.27", 1)])
def test_a_sequential_search_stopped_goes_on_split_and_shows_what_one_shows(monkeypatch, name, arch, executions):
    test = load(SUITE / f"{name}.litmus")
    one = test.check(arch)
    paths = []
    real = parallel.split  # (in_slices's, in this process: the sequential search's)
    monkeypatch.setattr(parallel, "split", lambda *a, **k: paths.append(k["path"]) or real(*a, **k))
    _stop_after(monkeypatch, executions)
    two = test.check(arch, workers=2)
    assert paths and paths[0] and one.executions > executions  # it was stopped, and went on
    assert _seen(one) == _seen(two) and two.complete


def _dealt(monkeypatch) -> list:
    """The indices of the units handed on to the workers, in the order they are."""
    dealt = []
    real = litmus_parallel._Remote.submit
    monkeypatch.setattr(litmus_parallel._Remote, "submit", lambda self, index, unit: dealt.append(index) or real(
        self, index, unit))
    return dealt


@pytest.mark.parametrize("name,arch", [("zap-dirty-shared-noflush", "ppc64-6.12"), ("zap-dirty-shared-noflush", "x86")])
def test_units_hand_back_what_they_leave_mid_way_and_show_what_one_shows(monkeypatch, name, arch):
    """A unit explored in slices (here: a worker always waits, and a search splits after 4
    executions) hands back the units it leaves while it goes on: they are dealt to the first
    free worker."""
    test = load(SUITE / f"{name}.litmus")
    one = test.check(arch)
    _stop_after(monkeypatch, 3)
    monkeypatch.setattr(parallel, "HUNGRY_AFTER", 4)
    monkeypatch.setattr(litmus_parallel._Demand, "hungry", lambda self, workers: lambda: True)
    monkeypatch.setattr(parallel, "UNITS_PER_WORKER", 1)  # large units
    dealt = _dealt(monkeypatch)
    two = test.check(arch, workers=2)
    assert any(len(index) > 1 for index in dealt)  # a unit's own units, handed back through the pipe
    assert len(set(dealt)) == len(dealt)
    assert _seen(one) == _seen(two) and two.complete


def test_no_search_splits_while_every_worker_is_busy(monkeypatch):
    """On a pool, a search hands on what it leaves only when a worker waits for work (the counts
    of litmus/parallel.py _Demand), not after a fixed time: with every worker busy, the first
    split's units are explored to their ends, and the counts are back at nothing waiting and
    nobody exploring once the search is done."""
    test = load(SUITE / "zap-dirty-shared-noflush.litmus")
    one = test.check("ppc64-6.12")
    _stop_after(monkeypatch, 3)
    monkeypatch.setattr(litmus_parallel._Demand, "hungry", lambda self, workers: lambda: False)
    dealt = _dealt(monkeypatch)
    two = test.check("ppc64-6.12", workers=2)
    assert dealt and all(len(index) == 1 for index in dealt)  # only this process's first split's
    assert _seen(one) == _seen(two) and two.complete
    assert list(litmus_parallel._DEMAND.counts) == [0, 0]


def test_a_seconds_bound_is_one_moment_however_often_a_search_is_run_on():
    """Bounds.until: a search run again (a slice of a unit of a --seconds search split over
    processes) stops at the same moment, not `seconds` after each run began."""
    test = load(SUITE / "zap-dirty-shared-noflush.litmus")
    past = Exhaustive(test.scenario, "x86", Bounds(until=time.time() - 1)).run(lambda result: None)
    assert past.cut == {"seconds": 1} and not past.complete and past.executions == 0
    ahead = Exhaustive(test.scenario, "x86", Bounds(until=time.time() + 600)).run(lambda result: None)
    assert ahead.complete and ahead.executions > 1


@pytest.mark.parametrize("name,arch", [("zap-dirty-shared-noflush", "ppc64-6.12"), ("seed-mprotect", "ppc64-2.6.27")])
def test_a_search_bounded_in_seconds_is_split_in_slices_too(monkeypatch, name, arch):
    """A --seconds search split over processes hands what its units leave back to the idle
    workers, as an unbounded one does (before, its first units were explored to their ends, so
    one worker could hold most of the tree while the others idled); with time to spare it shows
    what one process shows, and a bound already past cuts it, reported."""
    test = load(SUITE / f"{name}.litmus")
    one = test.check(arch)
    monkeypatch.setattr(parallel, "HUNGRY_AFTER", 0)
    monkeypatch.setattr(litmus_parallel._Demand, "hungry", lambda self, workers: lambda: True)
    monkeypatch.setattr(parallel, "UNITS_PER_WORKER", 1)  # large units
    dealt = _dealt(monkeypatch)
    two = test.check(arch, bounds=Bounds(seconds=600), workers=2)
    assert any(len(index) > 1 for index in dealt)  # a unit's own units, handed back through the pipe
    assert _seen(one) == _seen(two) and two.complete
    late = test.check(arch, bounds=Bounds(seconds=0), workers=2)
    assert not late.complete and "seconds" in late.cut


def test_the_counts_of_a_pool_say_when_a_worker_waits():
    import multiprocessing

    demand = litmus_parallel._Demand(multiprocessing.get_context("fork"))
    hungry = demand.hungry(2)
    assert hungry()  # nobody explores, nothing waits
    demand.add(exploring=1)
    assert hungry()  # one of two workers idle
    demand.add(waiting=1)
    assert not hungry()  # a unit waits for it
    demand.add(exploring=1, waiting=-1)
    assert not hungry()
    demand.add(exploring=-1)
    assert hungry()


def test_the_split_of_a_stopped_search_leaves_it_the_subtree_it_is_in(monkeypatch):
    from ptelab.explore.parallel import begin, path, resume
    test = load(SUITE / "zap-dirty-shared-noflush.litmus")
    _stop_after(monkeypatch, 30)
    ran = []
    first, stopped = begin(test.scenario, "x86", Bounds(), 30, lambda r: ran.append(list(r.schedule)))
    assert stopped is not None and first.executions == len(ran) == 30
    taken = path(stopped)
    cut = split(test.scenario, "x86", Bounds(), 2, lambda: (lambda result: None), path=taken)
    below = tuple(c for c, *_ in taken[:cut.floor])
    units = [tuple(c for c, *_ in u) for u in cut.units]
    assert 0 < cut.floor < len(taken) and len(units) >= 2 * parallel.UNITS_PER_WORKER
    assert not any(u[:len(below)] == below or below[:len(u)] == u for u in units)  # not its subtree
    assert not any(s[:len(u)] == u for u in units for s in ran)  # nor what it explored
    resume(stopped, cut.floor, lambda r: ran.append(list(r.schedule)))
    assert len(ran) > 30 and all(tuple(s[:cut.floor]) == below for s in ran[30:])  # its subtree, and only it


def test_the_split_pins_each_unit_below_the_top():
    test = load(SUITE / "zap-dirty-shared-noflush.litmus")
    cut = split(test.scenario, "x86", Bounds(), 2, lambda: (lambda result: None))
    units = cut.units
    paths = [tuple(c for c, *_ in u) for u in units]
    assert len(units) >= 2 * parallel.UNITS_PER_WORKER and len(set(paths)) == len(units)  # distinct paths
    assert not any(p != q and q[:len(p)] == p for p in paths for q in paths)  # disjoint subtrees
    assert len({len(u) for u in units}) > 1  # cut at a fork, not at a depth
    assert cut.search.complete and cut.leftmost
    assert not any(units[0][i][1] for i in range(len(units[0])))  # the first path: nothing tried before


def _normal(out: str) -> str:
    """The output without what may differ: executions, per state counts, wall-clock time."""
    out = re.sub(r"(?m)^Time (\S+) \d+\.\d\d$", r"Time \1 -", out)
    out = re.sub(r"(?m)^Explored .*$", "Explored -", out)
    out = re.sub(r"(?m)^(Positive|Observation) .*$", r"\1 -", out)
    out = re.sub(r"(?m)^FAIL: (.*) in \d+ execution\(s\)$", r"FAIL: \1", out)
    return re.sub(r"(?m);  \(\d+\)$", ";", out)


def test_one_cell_and_two_jobs_print_what_one_job_prints(tmp_path, capsys, monkeypatch):
    path = tmp_path / "t.litmus"
    path.write_text((SUITE / "seed-mprotect.litmus").read_text().replace("expect ppc64-2.6.27", "expect x86"))
    split_searches = []
    real = litmus_parallel.check_in_parallel
    monkeypatch.setattr(litmus_parallel, "check_in_parallel", lambda *a, **k: split_searches.append(a[1]) or real(*a, **k))
    outs = []
    for jobs in (1, 2):
        status = main(["litmus", str(path), "--arch", "ppc64-2.6.27", "--jobs", str(jobs)])
        outs.append((status, _normal(capsys.readouterr().out)))
    assert outs[0] == outs[1] and outs[0][0] == 1 and "--replay" in outs[0][1]
    assert split_searches == ["ppc64-2.6.27"]  # the one cell, with two jobs, was split
    _stop_after(monkeypatch, 2)  # the sequential search first, stopped, on with the pool's processes
    assert main(["litmus", str(path), "--arch", "ppc64-2.6.27", "--jobs", "2"]) == 1
    assert _normal(capsys.readouterr().out) == outs[0][1]


def test_json_of_one_search_is_the_same_bar_the_counts(capsys):
    def records(jobs):
        main(["litmus", str(SUITE / "zap-dirty-shared-noflush.litmus"), "--arch", "x86", "--json", "--jobs", str(jobs)])
        got = json.loads(capsys.readouterr().out)
        for record in got:
            for counted in ("seconds", "executions", "redundant", "positive", "negative", "outcomes"):
                record.pop(counted)
            record["states"] = sorted(map(tuple, (s["state"] for s in record["states"])))
        return got
    assert records(1) == records(2)


# derandomized (CI runs the same examples every time), a handful of small scenarios: naive
# enumeration is the slow part (from 0.1 to 20 s an example here)
@pytest.mark.slow
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=litmus_texts(), arch=st.sampled_from(["x86", "arm64", "ppc32", "s390-6.12"]))
def test_the_split_search_reaches_every_state_and_outcome_naive_enumeration_reaches(text, arch):
    test = LitmusTest(parse("random.litmus", text))
    wanted = parallel.UNITS_PER_WORKER
    parallel.UNITS_PER_WORKER = 1  # these trees are small: cut high, so that units explore most of it
    try:
        # a tree with fewer than two forks on every path is not split (the top search is all of it)
        assume(split(test.scenario, arch, Bounds(), 2, lambda: (lambda result: None)).units)
        split_search = test.check(arch, workers=2)
    finally:
        parallel.UNITS_PER_WORKER = wanted
    naive = test.check(arch, naive=True)
    assert naive.complete and split_search.complete
    assert set(naive.states) == set(split_search.states)
    assert set(naive.outcomes) == set(split_search.outcomes)


# the same for a sequential search stopped after 1 to 3 executions, the rest split: each
# search capped (a derandomized example's size depends on this function's source)
@pytest.mark.slow
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=litmus_texts(), arch=st.sampled_from(["x86", "arm64", "ppc32", "s390-6.12"]),
       first=st.integers(1, 3))
def test_a_stopped_search_split_reaches_every_state_and_outcome_naive_enumeration_reaches(text, arch, first):
    test = LitmusTest(parse("random.litmus", text))
    naive = test.check(arch, naive=True, bounds=Bounds(executions=400))
    assume(naive.complete)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(parallel, "UNITS_PER_WORKER", 1)  # these trees are small: cut high
        _stop_after(monkeypatch, first)
        split_search = test.check(arch, workers=2)
    assert split_search.complete
    assert set(naive.states) == set(split_search.states)
    assert set(naive.outcomes) == set(split_search.outcomes)


# ---- the merged search split: units sharing a visited set (explore/visited.py) --------------
frames = pytest.mark.skipif(not SUPPORTED, reason="frames are read on CPython 3.11 only: nothing is merged")


@frames
@pytest.mark.parametrize("name,arch,stopped", [
    ("seed-mprotect", "ppc64-2.6.27", 0), ("zap-dirty-shared-noflush", "ppc64-6.12", 0), ("op-fault", "arm64", 0),
    ("zap-dirty-shared-noflush", "ppc64-6.12", 2), ("op-fault", "arm64", 8)])
def test_merged_units_on_two_workers_show_what_one_merged_search_shows(monkeypatch, name, arch, stopped):
    test = load(SUITE / f"{name}.litmus")
    one = test.check(arch, merge=True)
    if stopped:  # the merged sequential search first, stopped, going on merged beside the units
        _stop_after(monkeypatch, stopped)
    two = test.check(arch, merge=True, workers=2)
    assert _seen(one) == _seen(two) and two.complete and one.merged
    stateless = test.check(arch)
    assert (set(one.states), set(one.outcomes)) == (set(stateless.states), set(stateless.outcomes))


@frames
def test_a_stopped_merged_search_going_on_publishes_no_state_above_its_floor(monkeypatch):
    """Their subtrees are the units' too (explore/visited.py): published, a unit meeting one
    would take the stopped search's part of it for all of it."""
    from ptelab.explore.parallel import begin, path, resume
    test = load(SUITE / "zap-dirty-shared-noflush.litmus")
    monkeypatch.setattr(Exhaustive, "MERGE_EVERY", 1)
    _stop_after(monkeypatch, 8)
    _, stopped = begin(test.scenario, "x86", Bounds(), 8, lambda r: None, merge=True)
    cut = split(test.scenario, "x86", Bounds(), 2, lambda: (lambda result: None), path=path(stopped))
    above = [frame.key for frame in stopped.stack[:cut.floor] if frame.key is not None]
    before = len(stopped.explored)
    resume(stopped, cut.floor, lambda r: None)
    assert above and len(stopped.explored) > before  # fingerprinted above; it published below
    assert not any(key in stopped.explored.table for key in above)


def _merged_units(test, arch: str, shared: bool):
    """The split search with its units explored one after the other by the merged search,
    sharing one visited set (a later unit stops at the states an earlier one published, as
    units sharing the cluster's sharded set do) or each with its own: the tally of the top
    search and of every unit, and the units' executions and merged executions."""
    from ptelab.explore.visited import Visited
    from ptelab.litmus.check import Tally

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(parallel, "UNITS_PER_WORKER", 2)
        cut = split(test.scenario, arch, Bounds(), 2, lambda: Tally(test, True))
    visited, executions, merged = Visited(), 0, 0
    for unit in cut.units:
        search, _ = parallel.begin(test.scenario, arch, Bounds(), math.inf, cut.tally, unit=unit, merge=True,
                                   visited=visited if shared else Visited())
        assert search.complete
        executions, merged = executions + search.executions, merged + search.merged
    return cut.tally, executions, merged


@frames
def test_units_sharing_a_visited_set_stop_at_the_states_others_published():
    test = load(SUITE / "op-fault.litmus")
    shared, alone = _merged_units(test, "arm64", shared=True), _merged_units(test, "arm64", shared=False)
    assert shared[1] < alone[1] and shared[2] > alone[2]  # fewer executions: more stopped at a known state
    assert (set(shared[0].states), set(shared[0].outcomes)) == (set(alone[0].states), set(alone[0].outcomes))


@frames
def test_two_processes_give_one_state_one_fingerprint(tmp_path):
    """A visited set shared by processes compares fingerprints made in each: a state is named
    by its content and the code's names, not by addresses (explore/state.py)."""
    import os
    import subprocess

    script = tmp_path / "keys.py"
    script.write_text(textwrap.dedent("""\
        import hashlib, sys
        from ptelab.explore.dpor import Bounds, Exhaustive
        from ptelab.explore.execution import Execution
        from ptelab.litmus import load

        keys, fingerprint = set(), Execution.fingerprint

        def recorded(ex):
            key = fingerprint(ex)
            if key is not None:
                keys.add(key)
            return key

        Execution.fingerprint = recorded
        Exhaustive(load(sys.argv[1]).scenario, "ppc64-6.12", Bounds(), merge=True).run(lambda result: None)
        print(len(keys), hashlib.sha256(b"".join(sorted(keys))).hexdigest())
        """))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    runs = [subprocess.run([sys.executable, str(script), str(SUITE / "seed-mprotect.litmus")], env=env,
                           capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and int(runs[0].split()[0]) > 10


@frames
def test_litmus_merge_says_how_many_executions_it_merged(capsys):
    for jobs in ("1", "2"):
        assert main(["litmus", str(SUITE / "op-fault.litmus"), "--arch", "arm64", "--merge", "--jobs", jobs]) == 0
        explored = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Explored"))
        assert re.search(r", [1-9]\d* stopped at a state explored before, complete$", explored), explored
    main(["litmus", str(SUITE / "op-fault.litmus"), "--arch", "arm64", "--merge", "--json"])
    assert json.loads(capsys.readouterr().out)[0]["merged"] > 0


@st.composite
def merging_texts(draw):
    """Small tests whose orders reach equal states (test_merge's operations): P0 changes A's
    entry once or twice, under its lock or not; one CPU reads or writes A and B twice, or two
    CPUs once each.  Naive enumeration of most takes under a second."""
    ops = draw(st.lists(st.sampled_from(MERGE_P0_OPS), min_size=1, max_size=2))
    body = "\n  ".join(op.format(i=i) for i, op in enumerate(ops))
    if draw(st.booleans()):
        body = f"spinlock_t *ptl = pte_lockptr(A);\n  spin_lock(ptl);\n  {body}\n  spin_unlock(ptl);"
    shape = draw(st.sampled_from([[2], [1, 1], [1]]))
    users = [draw(st.lists(st.sampled_from(USER_OPS), min_size=n, max_size=n)) for n in shape]
    blocks = "\n".join(f"P{n + 1} @ cpu{n + 1} {{\n  {' '.join(op.format(i=10 * n + i) for i, op in enumerate(user))}\n}}"
                       for n, user in enumerate(users))
    return f"""PTE random
"generated"
{{
  A: anon rw, young, {'dirty' if draw(st.booleans()) else 'clean'};
  B: anon rw, young, clean;
}}
P0 @ cpu0 {{
  {body}
}}
{blocks}
forbid any_invariant
"""


# small and few (an example takes a second at most): naive enumeration capped, every state
# fingerprinted, the units cut high and explored here one after the other, sharing the merged
# sequential search's visited set (stopped after `first` executions and resumed, or none)
@frames
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=merging_texts(), arch=st.sampled_from(["x86", "arm64"]), first=st.integers(0, 3))
def test_the_merged_split_search_reaches_every_state_and_outcome_naive_enumeration_reaches(text, arch, first):
    test = LitmusTest(parse("random.litmus", text))
    naive = test.check(arch, naive=True, bounds=Bounds(executions=3000))
    assume(naive.complete)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(parallel, "UNITS_PER_WORKER", 2)
        monkeypatch.setattr(Exhaustive, "MERGE_EVERY", 1)
        if first:
            _stop_after(monkeypatch, first)
        search, tally = litmus_parallel.check_in_parallel(test, arch, Bounds(), True, 1, None, merge=True)
    assert search.complete
    assert set(naive.states) == set(tally.states)
    assert set(naive.outcomes) == set(tally.outcomes)


def test_a_small_search_is_not_split(monkeypatch):
    monkeypatch.setattr(litmus_parallel, "SEQUENTIAL_FIRST", 60)
    monkeypatch.setattr(litmus_parallel, "split", None)  # would fail if called
    test = load(SUITE / "seed-mprotect.litmus")
    one, two = test.check("ppc64-2.6.27"), test.check("ppc64-2.6.27", workers=2)
    assert _seen(one) == _seen(two) and (one.executions, one.redundant) == (two.executions, two.redundant)


def test_cluster_without_ray_is_a_usage_error_naming_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    assert main(["litmus", str(SUITE / "seed-mprotect.litmus"), "--arch", "x86", "--cluster", "local"]) == 2
    err = capsys.readouterr().err
    assert "ptelab[cluster]" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_local_ray_cluster_shows_what_one_process_shows(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="the cluster extra: pip install -e '.[cluster]'")
    from ptelab.explore.cluster import ShardedVisited, connect
    path = tmp_path / "t.litmus"
    path.write_text((SUITE / "seed-mprotect.litmus").read_text().replace("expect ppc64-2.6.27", "expect x86"))
    test = load(path)
    connect("local")
    published = []  # per merged search, the states its units published on the cluster
    real = ShardedVisited.close
    monkeypatch.setattr(ShardedVisited, "close", lambda self: published.append(self.size()) or real(self))
    try:
        for name, arch in ((path, "ppc64-2.6.27"), (SUITE / "zap-dirty-shared-noflush.litmus", "x86")):
            test = load(name)
            if arch == "x86":
                _stop_after(monkeypatch, 20)  # the sequential search first, stopped: the rest on the cluster
            one, cluster = test.check(arch), test.check(arch, cluster="local")
            assert _seen(one) == _seen(cluster) and cluster.complete
            # merged, the units' visited set sharded over the cluster's actors
            merged, on_cluster = test.check(arch, merge=True), test.check(arch, merge=True, cluster="local")
            assert _seen(merged) == _seen(on_cluster) and on_cluster.complete
            assert (set(merged.states), set(merged.outcomes)) == (set(one.states), set(one.outcomes))
        assert len(published) == 2 and published[-1] > 0  # zap-dirty's units published states on the cluster
        # --seconds on the cluster: every slice of every unit stops at the whole search's deadline
        timed = test.check(arch, cluster="local", bounds=Bounds(seconds=600))
        assert _seen(one) == _seen(timed) and timed.complete
        late = test.check(arch, cluster="local", bounds=Bounds(seconds=0))
        assert not late.complete and "seconds" in late.cut
    finally:
        ray.shutdown()
