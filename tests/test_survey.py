"""ptelab survey on the miniature kernel tree of tests/fixtures/survey/tree (written for these tests;
each fixture function says which finding it must or must not give).  The real 6.12 tree is surveyed by
bench/survey_6_12.py, whose output is docs/survey-6.12.md."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ptelab.cli import main
from ptelab.survey import cpp, model_functions, survey
from ptelab.survey.parse import scope_files

TREE = Path(__file__).parent / "fixtures" / "survey" / "tree"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PTELAB_CACHE", str(tmp_path / "cache"))


def found(findings):
    return {(f.rule, f.function) for f in findings}


# ---- the pre-pass

def test_prepass_keeps_every_line_and_blanks_annotations():
    text = ("static __always_inline void __init f(pte_t *p)\n\t__must_hold(&mm->page_table_lock)\n{\n"
            "\tx = min_t(unsigned long,\n\t\ta, b);\n}\n")
    out = cpp.prepare(text, {})
    assert out.text.count("\n") == text.count("\n")
    assert "__always_inline" not in out.text and "__init" not in out.text and "__must_hold" not in out.text
    assert out.lock_annotations == [(2, "__must_hold", "&mm->page_table_lock")]
    assert "unsigned" not in out.text and "min_t(" in out.text


def test_prepass_chooses_branches_per_configuration():
    text = "#ifdef CONFIG_A\nint a;\n#else\nint not_a;\n#endif\n"
    assert "not_a" not in cpp.prepare(text, {"CONFIG_A": True}).text
    assert "int a;" not in cpp.prepare(text, {"CONFIG_A": False}).text
    both = cpp.prepare(text, {})  # undecided, file level, balanced: both kept, each with its guard
    assert "int a;" in both.text and "not_a" in both.text
    assert both.guards_at(2) == (cpp.Guard("defined(CONFIG_A)", True),)
    assert both.guards_at(4) == (cpp.Guard("defined(CONFIG_A)", False),)


def test_prepass_keeps_the_first_branch_of_an_unbalanced_group_and_counts_the_rest():
    text = "void f(void)\n{\n#ifdef CONFIG_X\n\tif (a) {\n#else\n\tif (b) {\n#endif\n\t\tg();\n\t}\n}\n"
    out = cpp.prepare(text, {})
    assert "if (a)" in out.text and "if (b)" not in out.text
    assert out.dropped_lines == 1


def test_prepass_include_guard_is_no_guard():
    out = cpp.prepare("#ifndef _H\n#define _H\nint f(void) { return 0; }\n#endif\n", {})
    assert out.guards_at(3) == ()


def test_prepass_iterator_macro_becomes_a_loop():
    out = cpp.prepare("void f(void)\n{\n\tlist_for_each_entry(p, h, lru) {\n\t\tg(p);\n\t}\n}\n", {})
    assert "while (list_for_each_entry(p, h, lru))" in out.text


@pytest.mark.parametrize("expr, known, value", [
    ("defined(CONFIG_A) && !defined(CONFIG_B)", {"CONFIG_A": True, "CONFIG_B": False}, True),
    ("defined(CONFIG_A) && defined(CONFIG_C)", {"CONFIG_A": True}, None),
    ("defined(CONFIG_A) && defined(CONFIG_C)", {"CONFIG_A": False}, False),
    ("IS_ENABLED(CONFIG_A) || defined(CONFIG_C)", {"CONFIG_A": True}, True),
    ("CONFIG_PGTABLE_LEVELS > 4", {}, None),
    ("0", {}, False),
])
def test_if_expressions_are_three_valued(expr, known, value):
    assert cpp.evaluate(expr, known) is value


# ---- findings

def test_powerpc_findings_include_the_helper_and_the_arch_override():
    s = survey(TREE, "powerpc")
    assert found(s.findings) == {("flush-before-reuse", "madvise_free_pte_range"),
                                 ("flush-before-reuse", "change_pte_range"),
                                 ("flush-before-reuse", "seed_clear_then_set"),
                                 ("set-nonvalid", "upgrade_in_place"),
                                 ("flush-before-unlock", "unlock_in_section"),
                                 ("prot-pairing", "start_without_commit")}
    by_function = {f.function: f for f in s.findings}
    madv = by_function["madvise_free_pte_range"]  # reached through the generic helper
    assert [h[0] for h in madv.first.via] == ["clear_young_dirty_ptes"]
    assert madv.first.name == "ptep_get_and_clear" and madv.second.name == "set_pte_at"
    assert madv.first.path == "include/linux/pgtable.h" and madv.lazy.line == 17
    mprot = by_function["change_pte_range"]  # powerpc's own start (pte_update) and commit (set_pte_at)
    assert mprot.first.describe().endswith("pte_update (arch/powerpc/mm/pgtable.c:7)")
    assert mprot.second.describe().endswith("set_pte_at (arch/powerpc/mm/pgtable.c:17)")


def test_findings_depend_on_the_architecture():
    arm64 = survey(TREE, "arm64")  # its own clear_young_dirty_ptes and modify_prot pair: neither clears and sets
    assert not {"madvise_free_pte_range", "change_pte_range"} & {f.function for f in arm64.findings + arm64.other_findings}
    x86 = survey(TREE, "x86")  # the generic helpers: the shape is there, but the rule matters on powerpc only
    assert {("flush-before-reuse", "madvise_free_pte_range"), ("flush-before-reuse", "change_pte_range")} <= found(
        x86.other_findings)
    assert found(x86.findings) == {("set-nonvalid", "upgrade_in_place"), ("lazy-no-readback", "write_then_read"),
                                   ("flush-before-unlock", "unlock_in_section"),
                                   ("prot-pairing", "start_without_commit")}


def test_the_other_static_forms_name_both_calls():
    s = survey(TREE, "x86")
    by_rule = {f.rule: f for f in s.findings}
    readback = by_rule["lazy-no-readback"]
    assert (readback.first.name, readback.first.line, readback.second.name, readback.second.line) == (
        "set_pte_at", 110, "ptep_get", 111)
    pairing = by_rule["prot-pairing"]
    assert (pairing.first.name, pairing.second.name, pairing.second.line) == (
        "ptep_modify_prot_start", "pte_unmap_unlock", 136)
    assert by_rule["flush-before-unlock"].lazy.line == 121


def test_resolution_skips_the_variants_the_configuration_does_not_build():
    s = survey(TREE, "powerpc")
    assert s.definitions["clear_young_dirty_ptes"] == "include/linux/pgtable.h:20"  # not asm/nohash's
    assert s.definitions["ptep_get_and_clear"] == "arch/powerpc/include/asm/book3s/64/pgtable.h:6"
    assert survey(TREE).definitions["ptep_get_and_clear"] == "include/linux/pgtable.h:10"


# ---- the inventory

def site(s, function, accessor):
    (only,) = [x for x in s.sites if x.function == function and x.accessor == accessor]
    return only


def test_inventory_records_loop_lazy_lock_and_the_flush_before_unlock():
    s = survey(TREE, "powerpc")
    cyd = site(s, "madvise_free_pte_range", "clear_young_dirty_ptes")
    assert (cyd.loop, cyd.lazy, cyd.locks) == (True, "yes", ("ptl (pte_offset_map_lock)",))
    assert cyd.flushes == {"tlb_remove_tlb_entries"}
    seed = site(s, "seed_clear_then_set", "set_pte_at")
    assert (seed.loop, seed.lazy, seed.flushes) == (False, "yes", {"arch_leave_lazy_mmu_mode"})
    assert seed.locks == ("ptl",)
    up = site(s, "upgrade_in_place", "set_pte_at")
    assert (up.lazy, up.flushes) == ("no", {"none before unlock"})
    ann = site(s, "annotated", "ptep_set_wrprotect")
    assert ann.locks == ("mm->page_table_lock (caller's: __must_hold/__releases)",) and ann.loop is False
    assert ann.flushes == {"its caller releases the lock"}
    assert site(s, "change_pte_range", "flush_tlb_batched_pending").flush_text() == "-"  # a flush waits for none
    assert s.few_users()["ptep_modify_prot_start"] == ["change_pte_range", "start_without_commit"]
    assert "ptep_get" not in s.few_users()  # four users


def test_coverage_counts_what_tree_sitter_could_not_read():
    s = survey(TREE)
    assert s.coverage["fs"].functions == 3 and s.coverage["fs"].lost == 2
    assert s.lost_calls == [("fs/broken.c", 9, "set_pte_at")]
    assert s.coverage["mm"].with_errors == 0 and s.coverage["mm"].dropped_lines == 1


def test_the_fidelity_worklist_is_what_ptelab_does_not_mirror():
    s = survey(TREE)
    model = model_functions()
    assert "change_pte_range" in s.mirrored and "madvise_free_pte_range" in s.mirrored
    assert {f for f, _, _ in s.worklist} == {"madvise_cold_pte_range", "seed_clear_then_set", "seed_not_lazy",
                                             "seed_flushed", "seed_branches", "seed_next_entry",
                                             "upgrade_in_place", "annotated", "write_then_read",
                                             "unlock_in_section", "start_without_commit"} - model


def test_a_second_run_reads_the_cache_and_a_changed_file_is_read_again(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(TREE, tree)
    first = survey(tree, "powerpc")
    assert first.parsed_files == len(scope_files(tree))
    again = survey(tree, "powerpc")
    assert again.parsed_files == 0 and found(again.findings) == found(first.findings)
    seed = tree / "mm" / "seed.c"
    seed.write_text(seed.read_text().replace("set_pte_at(mm, addr, pte, ptent);\n\tarch_leave", "arch_leave"))
    st = os.stat(seed)
    os.utime(seed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    third = survey(tree, "powerpc")
    assert third.parsed_files == 1
    assert found(third.findings) == found(first.findings) - {("flush-before-reuse", "seed_clear_then_set")}


# ---- the command

def test_cli_json(capsys):
    assert main(["survey", str(TREE), "--arch", "ppc64-6.12", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["arch"] == "powerpc"
    rules = {(f["rule"], f["function"]) for f in data["findings"]}
    assert ("flush-before-reuse", "madvise_free_pte_range") in rules
    assert all(f["statement"] and f["matters_on"] for f in data["findings"])


def test_cli_terminal_explains_findings_in_the_rules_words(capsys):
    assert main(["survey", str(TREE), "--arch", "powerpc"]) == 0
    out = capsys.readouterr().out
    assert "Inside a lazy-MMU section, once a valid entry has been cleared" in out
    assert "madvise_free_pte_range" in out and "parse coverage" in out


@pytest.mark.parametrize("args, message", [
    (["/no/such/tree"], "no such file"),
    ([str(TREE / "README")], "not a directory"),
    ([str(TREE / "mm")], "not a kernel source tree"),
    ([str(TREE), "--arch", "sparc"], "accepted: arm64, powerpc, x86"),
    ([str(TREE), "--litmus", "no_such_function"], "no function 'no_such_function'"),
])
def test_cli_bad_input_exits_2(args, message, capsys):
    assert main(["survey", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_litmus_skeleton_runs_and_shows_the_race(tmp_path, capsys):
    from ptelab.litmus import load

    assert main(["survey", str(TREE), "--arch", "powerpc", "--litmus", "seed_clear_then_set"]) == 0
    text = capsys.readouterr().out
    assert "ptep_get_and_clear(mm, A, pte_offset(A))" in text and "arch_enter_lazy_mmu_mode();" in text
    path = tmp_path / "seed.litmus"
    path.write_text(text)
    test = load(str(path))
    result = test.check("ppc64-6.12", "exhaustive", _bounds(), seed=0, runs=1, debug=True)
    assert "flush-before-reuse" in result.outcomes


def _bounds():
    from ptelab.explore.dpor import Bounds
    return Bounds(max_steps=2000, preemptions=None, executions=None, seconds=None)


def test_litmus_skeleton_of_a_finding_through_a_helper_is_the_helpers_calls(tmp_path, capsys):
    from ptelab.litmus import load

    assert main(["survey", str(TREE), "--arch", "powerpc", "--litmus", "madvise_free_pte_range"]) == 0
    text = capsys.readouterr().out
    body = text[text.index("P0 @ cpu0"):text.index("P1 @ cpu1")]
    assert "clear_young_dirty_ptes(" not in body.split("/*")[0]
    calls = [line.split("/*")[0].strip() for line in body.splitlines()[1:] if line.strip() not in ("}", "")]
    assert calls == ["spinlock_t *ptl = pte_lockptr(A);", "spin_lock(ptl);", "arch_enter_lazy_mmu_mode();",
                     "pte_t v0 = ptep_get_and_clear(mm, A, pte_offset(A));",
                     "set_pte_at(mm, A, pte_offset(A), pte_mkold(v0));", "arch_leave_lazy_mmu_mode();",
                     "spin_unlock(ptl);"]
    assert "include/linux/pgtable.h:30" in body
    path = tmp_path / "madv.litmus"
    path.write_text(text)
    assert load(str(path)).name == "madvise-free-pte-range"


def test_docs_survey_names_the_6_12_windows():
    doc = (Path(__file__).parent.parent / "docs" / "survey-6.12.md").read_text()
    for function in ("madvise_free_pte_range", "change_pte_range", "migrate_vma_collect_pmd"):
        assert f"### flush-before-reuse: `{function}`" in doc
