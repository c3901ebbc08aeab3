"""Counterexamples a reviewer can read: every failing clause has one, the step table shows
every event, the final state is decoded by the backend, files stay apart."""

import json
import re
from pathlib import Path

from ptelab.arch import ARCHES, boot
from ptelab.arch.generic import GenericArch
from ptelab.cli import main
from ptelab.litmus import load
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.report import counterexample_lines
from ptelab.litmus.syntax import parse
from ptelab.pte import PAGE_SHARED, mk_pte, pte_str

from .test_litmus import GOOD

SUITE = Path(__file__).resolve().parent.parent / "litmus"

# the bundled grammar example, with a value to see and no clause yet
RACE = GOOD.replace("anon rw, young, dirty;", "anon rw, young, dirty, value 5;").replace("int v", "int r") \
    .replace("forbid any_invariant\n", "")


def _race(clauses: str, name="race.litmus") -> LitmusTest:
    return LitmusTest(parse(name, RACE + clauses))


def test_a_forbid_condition_that_holds_gets_a_counterexample(tmp_path, capsys):
    path = tmp_path / "race.litmus"
    path.write_text(RACE + "forbid (P1.r == 5)\n")
    assert main(["litmus", str(path), "--arch", "x86", "--json"]) == 1
    [record] = json.loads(capsys.readouterr().out)
    example = record["counterexamples"]["forbid (P1.r == 5)"]
    assert example["schedule"]
    assert main(["litmus", str(path), "--arch", "x86"]) == 1
    out = capsys.readouterr().out
    assert "Violation forbid (P1.r == 5) holds on x86" in out
    assert "P1.r=5" in out.split("Violation forbid")[1]  # its final state shows it
    # the printed schedule replays to that final state
    assert main(["litmus", str(path), "--arch", "x86", "--replay", example["schedule"]]) == 0
    assert "P1.r=5" in capsys.readouterr().out


def test_an_exists_reached_has_a_witness_and_an_unreached_one_says_why():
    result = _race("exists (P1.r == 0)\n").check("x86")
    assert result.verdict == "ok" and "exists (P1.r == 0)" in result.counterexamples
    lines = counterexample_lines(_race("exists (P1.r == 0)\n"), result)
    assert any(line.startswith("Witness exists (P1.r == 0) reached") for line in lines)
    never = _race("exists (P1.r == 7)\n").check("x86")
    assert never.verdict == "FAIL" and "exists (P1.r == 7) holds in no execution" in never.problems[0]


def test_expect_accepts_a_condition_per_architecture():
    test = _race("forbid (P1.r == 5)\nexpect x86: (P1.r == 5)\n")
    assert test.check("x86").verdict == "ok"  # expected there, and reached
    ppc = test.check("ppc64-6.12")
    assert ppc.verdict == "FAIL" and "forbid (P1.r == 5) holds" in ppc.problems[0]
    missing = _race("expect x86: (P1.r == 7)\n").check("x86")
    assert missing.verdict == "FAIL" and "expected (P1.r == 7) on x86" in missing.problems[0]


def _table_rows(lines):
    return {int(m.group(1)): line for line in lines if (m := re.match(r"  (\d+)\s+cpu", line))}


def test_the_violating_row_shows_the_hpte_insert_and_the_queued_invalidation():
    test = load(SUITE / "seed-mprotect.litmus")
    result = test.check("ppc64-2.6.27")
    lines = counterexample_lines(test, result)
    [violation] = [line for line in lines if line.startswith("  duplicate-hash-entry:")]
    step = int(re.search(r"\(step (\d+),", violation).group(1))
    rows = _table_rows(lines)
    assert max(rows) == step  # the step named is the table's last row
    assert "HPTE insert" in rows[step]
    assert any("invalidation of va" in row and "queued" in row for row in rows.values())
    state = lines[lines.index("  state after step %d:" % step):]
    assert any("HASHPTE (slot 48: primary group, index 0) -> none" in row for row in rows.values())
    assert any(line.startswith("    A: pfn 2 WUAD BUSY;") for line in state)
    assert any(line.startswith("    key: W writable") for line in state)
    assert any("HPTE slot" in line for line in state)


def test_a_freed_frame_and_a_broken_rule_are_in_the_row_of_the_step_that_did_them():
    test = load(SUITE / "unmap-free-before-flush.litmus")
    result = test.check("x86")
    lines = counterexample_lines(test, result)
    [breach] = [line for line in lines if "rule flush-before-free broken at step" in line][:1]
    step = int(re.search(r"at step (\d+)", breach).group(1))
    row = _table_rows(lines)[step]
    assert "frame 2 freed (line 17)" in row and "breaks rule flush-before-free (line 17)" in row


def test_unmapped_pages_read_unmapped_not_none(tmp_path):
    result = _race("forbid (P1.r == 5)\n").check("x86")
    assert any("A unmapped" in item for state in result.states for item in state)
    assert not any("None" in item for state in result.states for item in state)


def test_each_backend_decodes_its_entries_and_the_default_is_generic():
    pte = mk_pte(2, PAGE_SHARED)
    for name in ARCHES:
        arch = boot(name, cpus=2, pages=16, debug=False).arch
        text = arch.describe_pte(pte)
        assert text.startswith("pfn 2 ")
        if type(arch).describe_pte is GenericArch.describe_pte:
            assert text == pte_str(pte)
    ppc = boot("ppc64-6.12", cpus=2, pages=16, debug=False).arch
    from ptelab.arch.ppc64_hash import _PAGE_BUSY, _PAGE_HASHPTE
    assert ppc.describe_pte(pte | _PAGE_BUSY | _PAGE_HASHPTE) == "pfn 2 " + pte_str(pte).split()[2] + \
        " BUSY HASHPTE (primary group, index 0)"


def test_tests_with_one_name_in_two_files_stay_apart(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "t.litmus").write_text(RACE + "forbid (P1.r == 5)\n")
    (tmp_path / "b" / "t.litmus").write_text(RACE + "exists (P1.r == 0)\n")
    assert main(["litmus", str(tmp_path / "a"), str(tmp_path / "b"), "--arch", "x86"]) == 1
    out = capsys.readouterr().out
    assert f"File {tmp_path / 'a' / 't.litmus'}" in out and f"File {tmp_path / 'b' / 't.litmus'}" in out
    rows = [line for line in out.splitlines() if "t.litmus) │" in line]  # the matrix: two rows, not one
    assert len(rows) == 2 and "FAIL" in rows[0] and "ok" in rows[1] and "(" + str(tmp_path / "a") in rows[0]


def test_every_outcome_has_an_entry_ptelab_rules_shows(capsys):
    from ptelab.explore.invariants import INVARIANTS as OUTCOMES
    from ptelab.rules import BY_ID, INVARIANT_BY_ID

    root = Path(__file__).resolve().parent.parent
    for outcome in OUTCOMES:
        assert outcome in INVARIANT_BY_ID or outcome in BY_ID, outcome
        assert main(["rules", outcome]) == 0
        out = capsys.readouterr().out
        assert outcome in out
        entry = INVARIANT_BY_ID.get(outcome)
        for rule_id in entry.rules if entry else ():
            assert f"Prevented by rule {rule_id}" in out
        for path in entry.shown_by if entry else ():  # the litmus test it names shows it somewhere
            test = load(root / path)
            assert any(outcome in test.expected(arch) for arch in ARCHES), (outcome, path)
    assert "invariants" in (main(["rules"]), capsys.readouterr().out)[1]
    assert main(["rules", "stale-translaton"]) == 2
    assert "did you mean 'stale-translation'" in capsys.readouterr().err


def test_arm64_and_xen_name_their_bits_and_queues():
    from ptelab.arch.arm64 import PTE_CONT
    from ptelab.pte import _PAGE_HW_DIRTY

    arm = boot("arm64", cpus=2, pages=16, debug=False).arch
    assert arm.describe_pte(mk_pte(2, PAGE_SHARED) | _PAGE_HW_DIRTY | PTE_CONT).endswith(" HWDIRTY CONT")
    test = load(SUITE / "rule-lazy-no-readback.litmus")
    lines = counterexample_lines(test, test.check("xen"))
    assert any("queued in the multicall buffer" in row for row in _table_rows(lines).values())
