"""The litmus front end and the bundled suite: expectations, errors, the command."""

import json
from pathlib import Path

import pytest

from ptelab.arch import ARCHES
from ptelab.cli import main
from ptelab.litmus import LitmusError, find, load
from ptelab.litmus.syntax import parse

SUITE = Path(__file__).resolve().parent.parent / "litmus"
FILES = find([SUITE])


def test_the_suite_is_there():
    names = {f.stem for f in FILES}
    for required in ("seed-mprotect", "lost-dirty-nonatomic-clear", "unmap-free-before-flush",
                     "mprotect-clear-flush-set", "dirty-atomic-clear", "unmap-gather"):
        assert required in names
    ops = {n for n in names if n.startswith("op-")}
    for op in ("unmap-mapping-range", "page-mkclean", "try-to-unmap", "zap-page-range",
               "change-protection", "fault"):
        assert f"op-{op}" in ops


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_every_bundled_test_meets_its_expectations_everywhere(path):
    test = load(path)
    assert test.litmus.description, "each file says what it teaches"
    for arch in ARCHES:
        result = test.check(arch)
        assert result.complete, (arch, result.cut)
        assert result.ok, (arch, result.problems)


def test_the_seed_bug_is_on_2_6_27_and_6_12_not_on_the_fixes():
    test = load(SUITE / "seed-mprotect.litmus")
    results = {arch: test.check(arch) for arch in ARCHES}
    for arch in ("ppc64-2.6.27", "ppc64-6.12"):
        assert set(results[arch].outcomes) == {"duplicate-hash-entry"}
        assert results[arch].observation == "Sometimes"
    for arch in ("ppc64-2.6.27+fix", "ppc64-6.12+fix", "ppc64-6.12+flush", "x86"):
        assert not results[arch].outcomes, arch
    assert results["x86"].observation == "Never"


def test_counterexamples_replay_to_the_same_violation():
    test = load(SUITE / "seed-mprotect.litmus")
    result = test.check("ppc64-2.6.27")
    ce = result.counterexamples["duplicate-hash-entry"]
    replayed, ex = test.table("ppc64-2.6.27", ce)
    [violation] = replayed.violations
    assert violation.invariant == "duplicate-hash-entry" and violation.cpu == 1
    assert violation.va is not None and violation.pfn is not None
    assert violation.prevented_by == "flush-before-reuse"
    assert [s.before is not None for s in ex.steps] == [True] * len(ex.steps)


def test_debug_mode_is_on_by_default_and_can_be_turned_off():
    test = load(SUITE / "rule-lock-held.litmus")
    assert test.check("x86").outcomes["lock-held"] > 0
    quiet = test.check("x86", debug=False)
    assert "lock-held" not in quiet.outcomes and quiet.ok  # expected rules are moot without debug


def test_a_rule_breach_nobody_expects_fails_the_test(tmp_path):
    text = (SUITE / "rule-lock-held.litmus").read_text().replace("expect all: lock-held\n", "")
    path = tmp_path / "t.litmus"
    path.write_text(text)
    result = load(path).check("x86")
    assert not result.ok and "rule broken: lock-held" in result.problems[0]


def test_random_mode_is_reproducible_and_finds_the_seed_bug():
    test = load(SUITE / "seed-mprotect.litmus")
    a = test.check("ppc64-2.6.27", mode="random", seed=7, runs=300)
    b = test.check("ppc64-2.6.27", mode="random", seed=7, runs=300)
    assert a.states == b.states and a.outcomes == b.outcomes
    assert "duplicate-hash-entry" in a.outcomes
    assert not a.complete  # random mode never claims to have covered everything


def test_a_bound_that_cuts_the_search_is_reported():
    from ptelab.explore.dpor import Bounds

    test = load(SUITE / "mprotect-clear-flush-set.litmus")
    result = test.check("ppc64-6.12", bounds=Bounds(executions=3))
    assert not result.complete and "executions" in result.cut
    result = test.check("ppc64-6.12", bounds=Bounds(preemptions=0))
    assert not result.complete and "preemptions" in result.cut


# ---- bad input ---------------------------------------------------------------------------
GOOD = """PTE t
"teaches nothing"
{
  A: anon rw, young, dirty;
  cpu1 has A in its TLB;
}
P0 @ cpu0 {
  spinlock_t *ptl = pte_lockptr(A);
  spin_lock(ptl);
  pte_t old = ptep_get_and_clear(mm, A, pte_offset(A));
  spin_unlock(ptl);
  flush_tlb_page(vma, A);
}
P1 @ cpu1 {
  int v = read(A);
}
forbid any_invariant
"""


@pytest.mark.parametrize("old,new,message,line,col", [
    ("ptep_get_and_clear(mm", "ptep_get_and_claer(mm", "unknown function 'ptep_get_and_claer'; did you mean "
     "'ptep_get_and_clear'?", 10, 15),
    ("pte_offset(A));\n  spin_unlock", "pte_offset(A), 1);\n  spin_unlock", "ptep_get_and_clear takes 3 argument(s), "
     "given 4", 10, 15),
    ("int v = read(A);", "int v = read(B);", "undefined name 'B'", 15, 16),
    ("spin_unlock(ptl);", "spin_unlock(ptl)", "expected ';' after 'spin_unlock(ptl)'", 11, 19),
    ("int v = read(A);", "int v = read(A;", "')' is missing", 15, 17),
    ("cpu1 has A", "cpu1 has C", "undefined page 'C'", 5, 3),
    ("P1 @ cpu1 {", "P1 @ cpu1 in child {", "undefined mm 'child'", 14, 1),
    ("forbid any_invariant", "forbid use-after-fre", "unknown outcome 'use-after-fre'; choose an invariant", 17, 8),
    ("forbid any_invariant", "expect ppc65: lost-dirty", "unknown architecture 'ppc65'", 17, 8),
    ("forbid any_invariant", "expect all except ppc65: lost-dirty", "unknown architecture 'ppc65' after 'except'",
     17, 19),
    ("forbid any_invariant", "expect all except all: lost-dirty", "unknown architecture 'all' after 'except'", 17, 19),
    ("A: anon rw", "A: anon rx", "unknown page attribute 'rx'", 4, 11),
    ("P1 @ cpu1", "P1 @ cpu0", "cpu0 already runs another block", 14, 6),
    ("  pte_t old", "  pte_t *old", None, None, None),  # a pointer declarator is fine
])
def test_bad_input_points_at_the_place(tmp_path, old, new, message, line, col):
    assert old in GOOD
    path = tmp_path / "bad.litmus"
    path.write_text(GOOD.replace(old, new, 1))
    if message is None:
        load(path)
        return
    with pytest.raises(LitmusError) as caught:
        load(path)
    err = caught.value
    assert message in err.message
    assert (err.line, err.col) == (line, col)
    text = str(err).splitlines()
    assert text[0].startswith(f"{path}:{line}:{col}: ")
    assert text[2] == "  " + " " * (col - 1) + "^"


def test_the_command_exits_2_on_bad_input_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.litmus"
    path.write_text(GOOD.replace("read(A)", "raed(A)"))
    assert main(["litmus", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.litmus:15:11: unknown function 'raed'" in err and "did you mean 'read'" in err
    assert "Traceback" not in err
    assert main(["litmus", str(tmp_path / "missing.litmus")]) == 2
    assert main(["litmus", str(SUITE / "seed-mprotect.litmus"), "--arch", "ppc65"]) == 2
    assert main(["litmus", str(SUITE / "seed-mprotect.litmus"), "--mode", "dfs"]) == 2
    assert main(["litmus", str(SUITE / "seed-mprotect.litmus"), "--arch", "x86", "--replay", "P7*2"]) == 2


def test_the_command_prints_herd_style_blocks_and_a_matrix(capsys):
    assert main(["litmus", str(SUITE / "seed-mprotect.litmus"), str(SUITE / "dirty-atomic-clear.litmus")]) == 0
    out = capsys.readouterr().out
    assert "Test seed-mprotect Forbidden (ppc64-2.6.27)" in out
    assert "Observation seed-mprotect Sometimes" in out and "Observation seed-mprotect Never" in out
    assert "Witnesses" in out and "Positive: " in out
    assert "litmus verdicts" in out


def test_the_command_exits_1_when_an_expectation_fails(tmp_path, capsys):
    path = tmp_path / "t.litmus"
    path.write_text((SUITE / "seed-mprotect.litmus").read_text().replace("expect ppc64-2.6.27", "expect x86"))
    assert main(["litmus", str(path), "--arch", "ppc64-2.6.27,x86"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: invariant broken: duplicate-hash-entry" in out
    assert "schedule: " in out and "--replay" in out


def test_json_and_replay(capsys):
    assert main(["litmus", str(SUITE / "seed-mprotect.litmus"), "--arch", "ppc64-2.6.27", "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["ok"] and set(record["outcomes"]) == {"duplicate-hash-entry"}
    assert record["outcomes"]["duplicate-hash-entry"] >= 1
    schedule = record["counterexamples"]["duplicate-hash-entry"]["schedule"]
    assert main(["litmus", str(SUITE / "seed-mprotect.litmus"), "--arch", "ppc64-2.6.27",
                 "--replay", schedule]) == 1
    out = capsys.readouterr().out
    assert "duplicate-hash-entry" in out and "hash_page" in out


def test_parse_keeps_positions():
    f = parse("x.litmus", GOOD)
    assert [p.name for p in f.pages] == ["A"]
    assert [b.name for b in f.blocks] == ["P0", "P1"] and f.blocks[1].cpu == 1
    assert f.description == "teaches nothing"
    assert GOOD[f.blocks[0].body_offset] == "{"


def test_every_rule_links_a_litmus_test_that_shows_its_failure():
    """docs/rules.md links, per rule, the litmus test showing the failure it prevents: the
    test must exist and expect that failure (the rule's breach, or the invariant)."""
    from ptelab.rules import RULES

    root = SUITE.parent
    for rule in RULES:
        litmus = [w for w in rule.shown_by if w.startswith("litmus/")]
        assert litmus, rule.id
        test = load(root / litmus[0])
        expected = {name for arch in ARCHES for name in test.expected(arch)}
        wanted = rule.id if rule.check == "debug" else rule.id.removeprefix("no-")
        if "contract" in rule.how:  # an operation's contract at its return reports a stale translation
            wanted = "stale-translation"
        assert wanted in expected, (rule.id, litmus[0], expected)


def test_loops_and_conditions_run_as_c(tmp_path):
    """A for loop over a range of pages, an if, compound assignment: the final state says so
    (pte_young is 0 on s390-2.6.27, whose Young is in the storage key: `expect ... except`)."""
    text = """PTE loop
"two pages, one loop"
{
  A: anon rw, young, dirty, value 1;
  B: anon rw, young, dirty, value 1;
}
P0 @ cpu0 {
  int sum = 0;
  for (int i = 0; i < 2; i++) {
    if (i == 1)
      write(A + i * PAGE_SIZE, 7);
    sum += read(A + i * PAGE_SIZE);
  }
  int young = pte_young(ptep_get(pte_offset(B))) ? 1 : 0;
}
forbid (P0.sum != 8 || value(B) != 7)
expect all except s390-2.6.27: (P0.young == 1)
"""
    path = tmp_path / "loop.litmus"
    path.write_text(text)
    test = load(path)
    assert test.scenario.globals["B"] is not None
    for arch in ARCHES:
        result = test.check(arch)
        assert result.ok, result.problems
        [state] = result.states
        assert "P0.sum=8" in state


def test_a_block_needs_a_cpu(tmp_path):
    path = tmp_path / "cpu.litmus"
    path.write_text(GOOD.replace("P1 @ cpu1", "P1 @ cpux"))
    with pytest.raises(LitmusError) as caught:
        load(path)
    assert "expected a CPU (cpu0, cpu1, ...), found 'cpux'" in caught.value.message


def test_a_lost_dirty_names_the_store_that_was_lost():
    test = load(SUITE / "lost-dirty-nonatomic-clear.litmus")
    result = test.check("x86")
    [violation] = result.counterexamples["lost-dirty"].result.violations
    assert violation.invariant == "lost-dirty"
    assert violation.cpu == 1 and violation.va is not None and violation.pfn is not None
    assert violation.rule == "atomic-clear"  # debug mode saw the non-atomic clear first
