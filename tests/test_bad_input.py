"""Bad input: a clear error (file:line:col for a litmus file), exit 2, never a traceback
and never Python's internals; a kernel's complaint in the kernel's words."""

import json
from collections import Counter
from pathlib import Path

import pytest

from ptelab.cli import main
from ptelab.litmus import LitmusError, load

from .litmus_fuzz import INTERNALS, campaign

FUZZ = Path(__file__).parent / "fixtures" / "fuzz"

# reproducer -> (line:col of the error, what the message says)
REPRODUCERS = {
    "r1-condition-zerodiv": ("8:11", "division by zero ('/')"),
    "r1-condition-page_of-nonpage": ("8:9", "page_of: 5 is not a page of the test"),
    "r1-condition-write-in-final-state": ("8:9", "write() cannot be called here: a condition only reads"),
    "r3-recursion-braces": ("6:103", "nested more than 100 levels deep"),
    "r3-recursion-condition": ("8:107", "nested more than 100 levels deep"),
    "r3-recursion-first-error": ("6:3003", "'identifier' is missing"),
    "r3-recursion-if-chain": ("6:693", "nested more than 100 levels deep"),
    "r3-recursion-parens": ("6:110", "nested more than 100 levels deep"),
    "r4-parse-cpu-5000-digits": ("4:3", "a CPU number goes from 0 to 63"),
    "r4-parse-value-5000-digits": ("3:18", "the page's content goes from 0 to 18446744073709551615"),
    "r4-parse-value-superscript-two": ("3:18", "expected the page's content (a number), found '²'"),
    "r5-final-state-huge-int": ("6:14", "shift by 20000: C shifts a 64-bit value by 0 to 63"),
    "r5-final-state-huge-local": ("6:13", "shift by 20000"),
    "r7-echo-formfeed": ("4:12", "unknown page attribute 'bogus'"),
    "r8-invalid-utf8": ("6:15", "invalid UTF-8 (byte 0xff)"),
}


def litmus(capsys, path, *options):
    rc = main(["litmus", str(path), "--arch", "x86", *options])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean(text):
    found = INTERNALS.search(text)
    assert found is None, f"Python's internals in the output: {found.group()!r} in\n{text}"


def test_every_reproducer_is_a_test():
    named = set(REPRODUCERS) | {"r2-build-file-index-16", "r6-hang-loop-without-access"}
    assert {p.stem for p in FUZZ.glob("*.litmus")} == named


@pytest.mark.parametrize("name", sorted(REPRODUCERS))
def test_a_fuzz_reproducer_is_refused_where_it_goes_wrong(capsys, name):
    where, message = REPRODUCERS[name]
    path = FUZZ / f"{name}.litmus"
    rc, out, err = litmus(capsys, path)
    assert rc == 2
    first = err.splitlines()[0]
    assert first.startswith(f"ptelab: error: {path}:{where}: {message}"), first
    assert_clean(out + err)


def test_the_echoed_line_and_its_caret_ignore_a_form_feed(capsys):
    rc, _, err = litmus(capsys, FUZZ / "r7-echo-formfeed.litmus")
    lines = err.splitlines()
    assert lines[1] == "    A: anon, bogus;"
    assert lines[2].index("^") == lines[1].index("bogus")


@pytest.mark.parametrize("odd", ["\f", "\u2028", "\u0085", "\v", "\x1c"])
def test_a_line_with_a_character_that_does_not_print_keeps_its_caret(tmp_path, odd):
    path = tmp_path / "odd.litmus"
    path.write_text(f'PTE odd "x{odd}y"\n{{\n  A: anon, /*{odd}*/ bogus;\n}}\nP0 @ cpu0 {{ read(A); }}\n')
    with pytest.raises(LitmusError) as caught:
        load(path)
    err = caught.value
    assert (err.line, err.col) == (3, 18)
    _, shown, caret = str(err).splitlines()
    assert shown[caret.index("^"):].startswith("bogus")


def test_a_tab_before_the_error_is_kept_in_the_caret_line(tmp_path):
    path = tmp_path / "tab.litmus"
    path.write_text("PTE tab\n{\n\tA: anon,\tbogus;\n}\nP0 @ cpu0 { read(A); }\n")
    with pytest.raises(LitmusError) as caught:
        load(path)
    _, shown, caret = str(caught.value).splitlines()
    assert caret == "  \t        \t^" and shown == "  \tA: anon,\tbogus;"


def test_a_column_counts_characters_not_bytes_in_a_block(tmp_path):
    path = tmp_path / "utf8.litmus"
    path.write_text("PTE u\n{\n  A: anon;\n}\nP0 @ cpu0 {\n  /* é → ü */ raed(A);\n}\n")
    with pytest.raises(LitmusError) as caught:
        load(path)
    assert (caught.value.line, caught.value.col) == (6, 15)


def test_invalid_utf8_is_reported_at_its_byte(tmp_path):
    path = tmp_path / "bad.litmus"
    path.write_bytes(b"PTE b\n{\n  A: anon;\n}\nP0 @ cpu0 {\n  read(A); // \xc3\xa9 \xe2\x82\n}\n")
    with pytest.raises(LitmusError) as caught:
        load(path)
    assert (caught.value.line, caught.value.col) == (6, 17)
    assert "invalid UTF-8 (byte 0xe2)" in caught.value.message


def test_a_file_grows_to_hold_every_page_declared_in_it(capsys, tmp_path):
    rc, out, err = litmus(capsys, FUZZ / "r2-build-file-index-16.litmus", "--json")
    assert rc == 0 and json.loads(out)[0]["ok"]
    path = tmp_path / "grow.litmus"
    path.write_text('PTE grow\n{\n  A: file "f" shared, value 3, index 1000;\n  B: file "f" shared, value 4;\n}\n'
                    'P0 @ cpu0 {\n  int a = read(A);\n  int b = read(B);\n}\n'
                    'forbid (P0.a != 3)\nforbid (P0.b != 4)\n')
    assert litmus(capsys, path)[0] == 0


def test_a_loop_that_touches_nothing_ends_and_names_its_line(capsys):
    path = FUZZ / "r6-hang-loop-without-access.litmus"
    rc, out, err = litmus(capsys, path)
    assert rc == 3  # inconclusive: the local-work bound cut it
    assert f"P0's loop at {path}:6 ran" in out
    assert_clean(out + err)


# ---- the initial state ------------------------------------------------------------------
INITIAL = "PTE init\n{{\n  A: {attrs};\n}}\nP0 @ cpu0 {{\n  int v = read(A);\n}}\n"


def _refused(path, text: str) -> LitmusError:
    """The error loading `text` from `path` raises."""
    path.write_text(text)
    with pytest.raises(LitmusError) as caught:
        load(path)
    return caught.value


@pytest.mark.parametrize("attrs,col,message", [
    ("anon vma ro, rw", 19, "a writable entry in a read-only vma"),
    ("anon rw, vma ro", 11, "a writable entry in a read-only vma"),
    ("anon rw, ro", 15, "page A says 'rw', then 'ro': give its write bit once"),
    ("anon dirty, clean", 18, "page A says 'dirty', then 'clean'"),
    ("anon young, young", 18, "page A says twice: give its Accessed bit once"),
    ("anon, value 1, value 2", 21, "give its content once"),
    ('anon, file "f"', 12, "give its kind once"),
    ("anon swapped, dirty", 20, "page A is swapped: its entry is not present, so it has no 'dirty'"),
    ("anon none, young", 17, "page A is none: its entry is not present, so it has no 'young'"),
    ("anon none, hashed", 17, "no 'hashed'"),
    ("anon, index 3", 12, "an anonymous page has none"),
    ("anon, value 18446744073709551616", 18, "the page's content goes from 0 to 18446744073709551615"),
    ("anon, value \u0663", 18, "expected the page's content (a number), found '\u0663'"),
    ('file "f', 11, "the file's name: this '\"' is never closed"),
    ("file f", 11, "expected the file's name in double quotes, found 'f'"),
])
def test_a_contradictory_or_impossible_initial_state_is_refused(tmp_path, attrs, col, message):
    error = _refused(tmp_path / "init.litmus", INITIAL.format(attrs=attrs))
    assert message in error.message
    assert (error.line, error.col) == (3, col)


def test_the_largest_value_and_cpu_are_accepted_and_the_next_refused(tmp_path):
    path = tmp_path / "big.litmus"
    path.write_text("PTE big\n{\n  A: anon, value 18446744073709551615;\n  cpu63 has A in its TLB;\n}\n"
                    "P0 @ cpu0 {\n  int v = read(A);\n}\nforbid (P0.v != 18446744073709551615)\n")
    assert load(path).check("x86").ok
    path.write_text(path.read_text().replace("cpu63", "cpu64"))
    with pytest.raises(LitmusError, match="a CPU number goes from 0 to 63"):
        load(path)


def test_a_read_only_vma_makes_the_entry_read_only_unless_it_says_otherwise(tmp_path):
    path = tmp_path / "ro.litmus"
    path.write_text("PTE ro\n{\n  A: anon dirty, vma ro;\n}\nP0 @ cpu0 {\n  pte_t e = ptep_get(pte_offset(A));\n"
                    "  write(A, 2);\n}\nforbid (pte_write(P0.e))\nexists (value(A) == 0)\n")
    result = load(path).check("x86")
    assert result.ok and any("SIGSEGV" in s for state in result.states for s in state)


# ---- errors while a block runs -----------------------------------------------------------
BLOCK = "PTE run\n{{\n  A: anon rw, young, dirty;\n}}\nP0 @ cpu0 {{\n  int r = 0;\n  {stmt}\n}}\n{cond}\n"


@pytest.mark.parametrize("stmt,col,message", [
    ("r = 1 / r;", 9, "division by zero ('/')"),
    ("r = 5 % r;", 9, "division by zero ('%')"),
    ("r = 1 << 64;", 9, "shift by 64: C shifts a 64-bit value by 0 to 63"),
    ("r = 1 >> -1;", 9, "shift by -1"),
    ("r = 0xffffffffffffffff; r += 1;", 29, "the result of '+=' does not fit in 64 bits"),
    ("r = 0xffffffffffffffff * 2;", 26, "the result of '*' does not fit in 64 bits"),
    ("r = mm + 1;", 10, "'+' works on numbers; this operand is an mm"),
    ("r = -mm;", 7, "'-' works on numbers; this operand is an mm"),
    ("zap_page_range(5, A, 4096);", 3, "zap_page_range: argument 1 (vma) is 5, not a vma"),
    ("flush_tlb_page(vma, 0x4000);", 3, "argument 1 (vma) is NULL, not a vma; no vma contains the address"),
    ("put_page(A);", 3, "put_page: argument 1 (page) is 0x10000000, not a page (a frame number); "
                        "page_of(A) gives one"),
    ("ptep_get(A);", 3, "ptep_get: argument 1 (ptep) is 0x10000000, not a PTE pointer"),
    ("set_pte_at(mm, A, pte_offset(A), pfn_pte(99999, PAGE_SHARED));", 3,
     "argument 4 (pte) is 0x1869f0007, not an entry the kernel makes"),
    ("set_pte_at(mm, A, pte_offset(A), swp_entry_to_pte(swp_entry(0, 777)));", 3,
     "not an entry the kernel makes"),
    ("set_pte_at(mm, mm, pte_offset(A), 0);", 3, "argument 2 (addr) is an mm, not an address"),
    ("struct mmu_gather tlb; tlb_finish_mmu(&tlb);", 26, "not a gathering struct mmu_gather; declare one"),
    ("change_protection(vma, A, A + 4096, 0, 1);", 3, "argument 4 (newprot) is 0, not a page protection"),
    ("try_to_unmap(page_of(A), 0);", 3, "try_to_unmap: try_to_unmap of anonymous page 2, which is not in the swap"),
    ("pte_offset(0x4000);", 3, "pte_offset: no PTE table maps 0x4000"),
    ("migrate_folio(A, A);", 3, "migrate_folio: argument 1 (dst) is 0x10000000, not a page"),
    ("write(A, mm);", 3, "write: argument 2 (value) is an mm, not a number"),
    ("pte_mkdirty(find_vma(mm, A));", 3, "argument 1 (pte) is a vma, not a number"),
    ("mapping_of(A) + 1;", 17, "'+' works on numbers; this operand is NULL"),
])
def test_an_error_while_a_block_runs_is_bad_input_at_its_place(capsys, tmp_path, stmt, col, message):
    path = tmp_path / "run.litmus"
    path.write_text(BLOCK.format(stmt=stmt, cond=""))
    rc, out, err = litmus(capsys, path)
    assert rc == 2
    first = err.splitlines()[0]
    assert first.startswith(f"ptelab: error: {path}:7:{col}: ") and message in first, first
    assert first.endswith("(on x86)")
    assert_clean(out + err)


@pytest.mark.parametrize("stmt,message", [
    ("r = 18446744073709551616;", "18446744073709551616 does not fit in 64 bits"),
    ("r = 0x" + "f" * 5000 + ";", "0xfffffffffffffffffffffffff... does not fit in 64 bits"),
    ("r = 0779;", "'0779' is not an integer"),
])
def test_an_integer_literal_is_a_64_bit_c_one(tmp_path, stmt, message):
    path = tmp_path / "literal.litmus"
    path.write_text(BLOCK.format(stmt=stmt, cond=""))
    with pytest.raises(LitmusError) as caught:
        load(path)
    assert message == caught.value.message and (caught.value.line, caught.value.col) == (7, 7)
    path.write_text(BLOCK.format(stmt="r = 0777 + 0x10 + (18446744073709551615UL - 18446744073709551615);",
                                 cond="forbid (P0.r != 511 + 16)"))
    assert load(path).check("x86").ok


def test_every_parameter_of_every_function_has_a_kind():
    """A function a block may call checks its arguments by what its parameters are named:
    a new parameter name must say what it takes (names.KINDS) or be a number (names.NUMERIC)."""
    from ptelab.litmus.names import FUNCTIONS, KINDS, NUMERIC

    unknown = {f"{name}({p})" for name, fn in FUNCTIONS.items() for p in fn.params
               if p.strip("[]") not in KINDS and p.strip("[]") not in NUMERIC}
    assert not unknown, f"say what these take, in litmus/names.py KINDS or NUMERIC: {sorted(unknown)}"


def test_a_system_call_that_refuses_returns_minus_errno(capsys, tmp_path):
    path = tmp_path / "errno.litmus"
    path.write_text(BLOCK.format(stmt="r = mprotect(mm, A + 1, 4096, PROT_READ) + 100 * madvise(mm, A, 4096, 99);",
                                 cond="forbid (P0.r != -22 - 2200)"))
    assert litmus(capsys, path)[0] == 0


def test_a_local_is_visible_only_in_its_block(tmp_path):
    path = tmp_path / "scope.litmus"
    path.write_text(BLOCK.format(stmt="if (r) { int y = 1; } r = y;", cond=""))
    with pytest.raises(LitmusError, match="undefined name 'y' \\(declared in a block that ended before\\)"):
        load(path)
    path.write_text(BLOCK.format(stmt="for (int i = 0; i < 2; i++) r += i; r += i;", cond=""))
    with pytest.raises(LitmusError, match="undefined name 'i'"):
        load(path)


def test_releasing_a_lock_not_held_is_the_kernels_bug_report_at_the_call(capsys, tmp_path):
    path = tmp_path / "unlock.litmus"
    path.write_text(BLOCK.format(stmt="spin_unlock(pte_lockptr(A));", cond=""))
    rc, out, err = litmus(capsys, path)
    assert rc == 1
    assert f"bug: spin_unlock() at {path}:7:3: BUG: spinlock already unlocked on CPU#0" in out
    assert_clean(out + err)


def test_a_page_freed_while_mapped_is_the_kernels_bad_page_state(capsys, tmp_path):
    path = tmp_path / "free.litmus"
    path.write_text(BLOCK.format(stmt="put_page(page_of(A));", cond=""))
    rc, out, err = litmus(capsys, path)
    assert rc == 1
    assert f"bug: put_page() at {path}:7:3: BUG: Bad page state: freeing pfn" in out
    assert_clean(out + err)


@pytest.mark.parametrize("cond,message", [
    ("exists (ptep_get(pte_offset(A)) == 0)", "ptep_get() cannot be called here"),
    ("forbid (spin_unlock(pte_lockptr(A)))", "spin_unlock() cannot be called here"),
    ("forbid (mapcount(A) == 0)", "mapcount: argument 1 (page) is 0x10000000, not a page"),
])
def test_a_condition_only_reads_the_final_state(capsys, tmp_path, cond, message):
    path = tmp_path / "cond.litmus"
    path.write_text(BLOCK.format(stmt="", cond=cond))
    rc, out, err = litmus(capsys, path)
    assert rc == 2 and f"{path}:9:" in err and message in err
    assert_clean(out + err)


# ---- the fuzzer --------------------------------------------------------------------------
def test_mutants_of_the_suite_are_refused_or_run_never_crash(tmp_path):
    """A few hundred mutants of the bundled suite (tests/litmus_fuzz.py): each is refused
    with a LitmusError or runs; none raises anything else or prints Python's internals."""
    kinds = Counter()
    for source, text, kind, out in campaign(300, 0, tmp_path, seconds=2):
        kinds[kind] += 1
        assert kind != "defect", f"a mutant of {source}:\n{text}\ngave:\n{out[:500]}"
    assert kinds["refused"] > 50 and kinds["ran"] > 50  # the mutants are varied


# ---- the command line ----------------------------------------------------------------------
SEED = Path(__file__).resolve().parent.parent / "litmus" / "seed-mprotect.litmus"


@pytest.mark.parametrize("options,message", [
    (["--replay", ""], "an empty schedule: a schedule is steps NAME or NAME*COUNT (COUNT at least 1)"),
    (["--replay", "P0*0"], "bad schedule step 'P0*0': a schedule is steps NAME or NAME*COUNT"),
    (["--replay", "P0*99999 P1*99999 " * 6], "a schedule of more than 1,000,000 steps"),
    (["--replay", "P7"], "NAME one of P0, P1"),
    (["--seconds", "-1"], "argument --seconds: '-1' is not a number of seconds greater than 0"),
    (["--seconds", "nan"], "'nan' is not a number of seconds greater than 0 (such as 2 or 0.5)"),
    (["--seconds", "inf"], "'inf' is not a number of seconds"),
    (["--seconds", "0"], "'0' is not a number of seconds"),
    (["--preemptions", "-1"], "argument --preemptions: -1 must be at least 0"),
    (["--preemptions", "x"], "'x' is not a whole number (0, 1, ...)"),
    (["--mode", "dfs"], "unknown mode 'dfs'; accepted: exhaustive, random"),
    (["--merge", "--mode", "random"], "--merge merges the equal states of an exhaustive search: not with --mode random"),
    (["--merge", "--preemptions", "2"], "--merge merges the equal states of an exhaustive search: not with --preemptions"),
    (["--merge", "--replay", "P0"], "--merge merges the equal states of an exhaustive search: not with --replay"),
    (["--arch", "al"], "unknown architecture 'al' (did you mean 'all'?); accepted: x86, "),
    (["--arch", "x86,"], "unknown architecture ''; accepted: x86, "),
    (["--jsn"], "unknown option '--jsn' for ptelab litmus (did you mean '--json'?); accepted: --api, --arch,"),
    (["--arhc=x86"], "unknown option '--arhc' for ptelab litmus (did you mean '--arch'?)"),
])
def test_a_bad_option_is_refused_with_the_accepted_form(capsys, options, message):
    rc, out, err = litmus(capsys, SEED, *options)
    assert rc == 2 and message in err, err
    assert len(err.splitlines()) == 1 and not out


def test_a_bad_command_or_argument_lists_what_is_accepted(capsys):
    from ptelab.cli import build_parser

    commands = list(next(a for a in build_parser()._actions if a.dest == "command").choices)
    assert {"run", "list", "rules", "states", "litmus", "docs"} <= set(commands)
    assert main(["--foo"]) == 2
    assert f"commands: {', '.join(commands)}" in capsys.readouterr().err
    assert main(["bogus"]) == 2
    assert f"invalid choice: 'bogus' (choose from {', '.join(map(repr, commands))}" in capsys.readouterr().err
    assert main(["rules", "a", "b"]) == 2
    assert "unexpected argument 'b' for ptelab rules" in capsys.readouterr().err
    assert main(["states", "--formt", "md"]) == 2
    assert "did you mean '--format'?" in capsys.readouterr().err


def test_docs_in_a_place_that_cannot_be_written_is_bad_input(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    assert main(["docs", "--dir", str(tmp_path / "file" / "docs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ptelab: error: cannot write the docs under {tmp_path}/file/docs: ")
    assert len(err.splitlines()) == 1


def test_no_preemption_is_a_bound_like_any_other(capsys):
    assert litmus(capsys, SEED, "--preemptions", "0")[0] in (0, 3)


def test_json_works_with_replay(capsys):
    rc, out, _ = litmus(capsys, SEED, "--arch", "ppc64-2.6.27", "--json")
    schedule = json.loads(out)[0]["counterexamples"]["duplicate-hash-entry"]["schedule"]
    rc, out, _ = litmus(capsys, SEED, "--arch", "ppc64-2.6.27", "--replay", schedule, "--json")
    record = json.loads(out)
    assert rc == 1 and record["verdict"] == "FAIL" and record["schedule"] == schedule
    assert any("duplicate-hash-entry" in v for v in record["violations"])
    assert record["steps"][0].startswith("step") and len(record["steps"]) > 5


def test_ctrl_c_ends_with_one_line_and_exit_130(capsys):
    """Ctrl-C (SIGINT, which Python's default handler turns into KeyboardInterrupt) ends a
    long search with one line and exit 130.  The test installs that handler itself: a process
    started in the background of a non-interactive shell inherits SIGINT ignored (POSIX), and
    Python then installs none, so a bare SIGINT was ignored and the search ran on (a fresh-clone
    CI run started so: ten minutes, stopped by hand).  The search is bounded, so the test
    fails rather than hangs if the signal is lost."""
    import os
    import signal
    import threading

    running = True

    def interrupt(signum, frame):  # signal.default_int_handler, but only while the command runs
        if running:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:  # a random search of a hundred million schedules: the interrupt comes long before its end
        rc = main(["litmus", str(SEED), "--arch", "ppc64-2.6.27", "--mode", "random", "--runs", "100000000",
                   "--seconds", "120"])
    finally:
        running = False
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    out, err = capsys.readouterr()
    assert rc == 130 and err == "ptelab: interrupted\n" and not out


# ---- pages sharing a vma (`follows`, `next table`) and the api a file names ----------------
GROUPED = "PTE grouped\n{{\n  A: anon, value 1;\n{decls}\n}}\nP0 @ cpu0 {{\n  int v = read(A);\n}}\n"


@pytest.mark.parametrize("decls,where,message", [
    ("  B: anon, follows Z;", "4:3", "page B follows 'Z': name a page declared before it"),
    ("  B: anon, follows B;", "4:3", "page B follows 'B': name a page declared before it"),
    ("  B: anon, next table;", "4:12", "'next table' places a page that follows another"),
    ("  B: anon, follows A, next tables;", "4:28", "expected 'table'"),
    ('  B: file "f", follows A;', "4:3", "give it the same kind of memory (anon, private)"),
    ("  B: anon, ro, follows A;", "4:3", "one vma, which is rw: say 'vma rw'"),
    ("  B: anon, follows A;\n  C: anon, follows A;", "5:3", "which B already follows; follow that one"),
    ("  X: anon;\n  B: anon, follows A;", "5:3", "declare it right after A"),
    ("  fork child;\n  B: anon, follows A;", "5:3", "a fork comes between it and A"),
    ("  B: anon, follows A, next table;\n  C: anon, follows B, next table;", "5:3", "one 'next table' per vma"),
    ("  B: anon, follows A, follows A;", "4:23", "page B says twice: give its place once"),
    ('  F: file "f", index 2;\n  G: file "f", index 3, follows F;', "5:16", "its index is F's plus one: give none"),
    ("  api txn;\n  api txn;", "5:3", "the file already says 'api txn': give it once"),
    ("  api fast;", "4:7", "unknown api 'fast'; choose from: legacy, txn"),
])
def test_a_page_placed_where_no_vma_can_hold_it_is_refused(tmp_path, decls, where, message):
    error = _refused(tmp_path / "grouped.litmus", GROUPED.format(decls=decls))
    assert message in error.message
    assert f"{error.line}:{error.col}" == where


def test_a_cont_block_is_followed_by_nothing(tmp_path):
    path = tmp_path / "cont.litmus"
    path.write_text(GROUPED.format(decls="").replace("A: anon, value 1;", "A: anon, cont;\n  B: anon, follows A;"))
    with pytest.raises(LitmusError, match="a 'cont' block is a vma of its own") as caught:
        load(path)
    assert (caught.value.line, caught.value.col) == (4, 3)
