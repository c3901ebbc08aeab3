"""Loops: a spin loop blocks its actor until another writes what it read (and finds what its
loop-free twin finds); a loop that can only spin is a livelock; local loops hit a bound."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptelab.cli import main
from ptelab.explore.dpor import Bounds, Exhaustive
from ptelab.explore.loops import LOCAL_WORK
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse

HEAD = """PTE {name}
"generated"
{{
  A: anon, rw, dirty;
  B: anon, rw;
  C: anon, rw;
  cpu1 has A in its TLB;
}}
"""


def _test(name, p0, p1, clauses="forbid any_invariant"):
    text = HEAD.format(name=name) + f"P0 @ cpu0 {{\n  {p0}\n}}\nP1 @ cpu1 {{\n  {p1}\n}}\n{clauses}\n"
    return LitmusTest(parse(f"{name}.litmus", text))


UNLOCKED_CLEAR = "pte_clear(mm, A, pte_offset(A));"


def test_a_spin_loop_finds_what_its_loop_free_twin_finds():
    spin = _test("spin", "while (read(B) == 0) {}\n  " + UNLOCKED_CLEAR, "write(B, 1);")
    twin = _test("twin", UNLOCKED_CLEAR, "write(B, 1);")
    for arch in ("x86", "ppc64-6.12"):
        a, b = spin.check(arch), twin.check(arch)
        assert a.complete and b.complete
        assert set(a.states) == set(b.states) and set(a.outcomes) == set(b.outcomes)
        assert a.verdict == b.verdict == "FAIL"
    assert "stale-translation" in a.outcomes or "stale-translation" in spin.check("x86").outcomes


def test_a_spin_loop_sees_the_write_it_waits_for_and_every_order_after_it():
    spin = _test("order", "while (read(B) == 0) {}\n  int r = read(C);", "write(C, 2);\n  write(B, 1);",
                 "exists (P0.r == 2)\nforbid (P0.r == 0)")
    result = spin.check("x86")
    assert result.complete and result.verdict == "ok", result.problems


def test_a_loop_that_can_only_spin_is_a_livelock_named_by_its_line():
    forever = _test("forever", "while (read(B) == 0) {}", "int r = read(C);")
    result = forever.check("x86")
    assert result.complete and set(result.outcomes) == {"deadlock"}
    [violation] = result.counterexamples["deadlock"].result.violations
    assert "spins forever in the loop at forever.litmus:10" in violation.detail
    assert violation.prevented_by is None  # no rule of the rulebook is about it


def test_two_loops_waiting_for_each_other_deadlock_and_the_handshake_completes():
    cross = _test("cross", "while (read(C) == 0) {}\n  write(B, 1);", "while (read(B) == 0) {}\n  write(C, 1);")
    assert set(cross.check("x86").outcomes) == {"deadlock"}
    shake = _test("shake", "write(B, 1);\n  while (read(C) == 0) {}", "while (read(B) == 0) {}\n  write(C, 1);")
    result = shake.check("x86")
    assert result.verdict == "ok" and result.complete


def test_local_loops_end_with_the_local_work_bound_naming_the_loop(tmp_path, capsys):
    for body, line in (("while (1) {}", 10), ("int s = 0;\n  for (int i = 0; i < 100000000; i++) s += i;", 11)):
        test = _test("local", body, "int r = read(A);")
        result = test.check("x86")
        assert result.verdict == "INCONCLUSIVE" and "local-work" in result.cut
        assert any(f"local.litmus:{line}" in note and f"{LOCAL_WORK:,}" in note for note in result.notes)
    path = tmp_path / "local.litmus"
    path.write_text(test.litmus.text)
    assert main(["litmus", str(path), "--arch", "x86"]) == 3
    assert "local-work bound" in capsys.readouterr().out


def test_seconds_is_honoured_inside_an_execution():
    import time

    test = _test("slow", "int s = 0;\n  for (int i = 0; i < 1000000000; i++) s += i;", "int r = read(A);")
    from ptelab.explore import loops
    saved, loops.LOCAL_WORK = loops.LOCAL_WORK, 10 ** 9
    try:
        start = time.perf_counter()
        result = test.check("x86", bounds=Bounds(seconds=0.2))
    finally:
        loops.LOCAL_WORK = saved
    assert time.perf_counter() - start < 5
    assert result.verdict == "INCONCLUSIVE" and "seconds" in result.cut


# ---- the reduction against naive enumeration on random scenarios -------------------------
SPINS = ["while (read(B) == 0) {{}}", "while (read(C) != {v}) {{}}"]
OPS = ["write(B, {v});", "write(C, {v});", "int r{i} = read(A);", "write(A, {v});", "int q{i} = read(C);"]
P0_ONLY = ["pte_t o{i} = ptep_get_and_clear(mm, A, pte_offset(A));", "flush_tlb_page(vma, A);",
           "ptep_set_wrprotect(mm, A, pte_offset(A));"]


@st.composite
def spin_scenarios(draw):
    def body(choices, actor):
        ops = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3))
        return "\n  ".join(op.format(i=f"{actor}{k}", v=draw(st.integers(0, 2))) for k, op in enumerate(ops))
    p0 = body(SPINS + OPS + P0_ONLY, 0)
    p1 = body(SPINS + OPS, 1)
    if "while" not in p0 + p1:
        p0 = SPINS[0].format() + "\n  " + p0
    return p0, p1


def _key_free_of(states, marker):
    return {s for s in states if marker not in s}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=spin_scenarios(), arch=st.sampled_from(["x86", "ppc64-6.12"]))
def test_the_spin_reduction_finds_what_naive_enumeration_of_every_interleaving_finds(bodies, arch):
    test = _test("random", *bodies)
    lengths = []
    Exhaustive(test.scenario, arch, Bounds()).run(lambda r: lengths.append(len(r.steps)))
    reduced = test.check(arch)
    assert reduced.complete
    # Every execution the reduced search ran is a real one, at most max(lengths) steps long:
    # naive enumeration of every interleaving (spinning included) up to that length runs it too.
    naive = test.check(arch, naive=True, bounds=Bounds(max_steps=max(lengths) + 1, executions=3000))
    finished = _key_free_of(naive.states, "[cut by steps]")
    assert finished <= set(reduced.states)
    assert set(naive.outcomes) <= set(reduced.outcomes)
    if "executions" not in naive.cut:
        assert _key_free_of(reduced.states, "[deadlock]") <= finished
        assert set(reduced.outcomes) - {"deadlock"} <= set(naive.outcomes)


def test_a_loop_opening_operations_it_never_closes_ends_with_the_bound_in_bounded_memory():
    """Each tlb_gather_mmu begins an operation (explore/invariants.py); named after the
    outermost one, 100,000 of them cost kilobytes each, not a name per level (the grammar
    property drew this loop and the suite was killed at 24 GB)."""
    import tracemalloc

    test = _test("gathers", "while (1) { struct mmu_gather tlb; tlb_gather_mmu(&tlb, mm); }", "int r = read(A);")
    tracemalloc.start()
    try:
        result = test.check("x86")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.verdict == "INCONCLUSIVE" and "local-work" in result.cut
    assert peak < 500 * 2**20, f"{peak / 2**20:.0f} MB"
