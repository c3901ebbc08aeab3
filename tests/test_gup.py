"""GUP-fast as a lockless walker (mm/gup.py, 6.12 mm/gup.c): what it takes, where it gives
up, its pins, and the explorer's checks of it (gup-unmapped-page, pin-replaced)."""

from pathlib import Path

import pytest

from ptelab.arch import ARCHES, boot
from ptelab.explore.invariants import GUP_UNMAPPED_PAGE, PIN_REPLACED
from ptelab.litmus import load
from ptelab.mm import gup, memory
from ptelab.mm.fork import dup_mm
from ptelab.mm.mprotect import do_mprotect as mprotect
from ptelab.mm.memory import handle_mm_fault
from ptelab.pte import PAGE_SIZE, pte_dirty, pte_pfn, pte_special, pte_write
from ptelab.mm.mmap import PROT_NONE, PROT_READ

SUITE = Path(__file__).resolve().parent.parent / "litmus"
PIN_W = gup.FOLL_PIN | gup.FOLL_WRITE
NO_GUP_FAST = {"ia64", "s390-2.6.27"}

PAGES = """PTE pages
{
  A: anon rw, young, dirty, value 5;
  B: anon rw, value 6, follows A;
  C: anon, none, follows B;
  Z: anon, none;
}
P0 @ cpu0 {
  int z = read(Z);
}
forbid any_invariant
"""


def _world(tmp_path, arch):
    path = tmp_path / "pages.litmus"
    path.write_text(PAGES)
    test = load(path)
    machine = boot(arch, cpus=test.scenario.ncpus, debug=False)
    world = test.scenario.build(machine, debug=False)
    return machine, world.state["mms"]["mm"], world.state["va"]


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_a_write_pin_of_writable_pages_adds_the_bias_and_unpin_takes_it_back(tmp_path, arch):
    machine, mm, va = _world(tmp_path, arch)
    mem = machine.mem
    a, b = va["A"], va["B"]
    frames = [pte_pfn(mm.entry(x)) for x in (a, b)]
    before = [mem.refcount[f] for f in frames]
    pages = gup.gup_fast(mm, a, 2, PIN_W)
    if arch in NO_GUP_FAST:
        assert pages == [] and machine.pins == []
        return
    assert pages == frames
    assert [mem.refcount[f] - r for f, r in zip(frames, before)] == [gup.GUP_PIN_COUNTING_BIAS] * 2
    assert all(gup.folio_maybe_dma_pinned(mem, f) for f in frames)
    assert machine.pins == [(mm, a, frames[0]), (mm, b, frames[1])]
    for f in frames:
        gup.unpin_user_page(machine, f)
    assert [mem.refcount[f] for f in frames] == before and machine.pins == []


@pytest.mark.parametrize("arch", ["x86", "arm64", "ppc64-6.12", "ppc32", "s390-6.12", "xen"])
def test_it_gives_up_at_the_first_entry_it_may_not_take(tmp_path, arch):
    machine, mm, va = _world(tmp_path, arch)
    a, b = va["A"], va["B"]
    # C is none: two pages taken of three, the rest left to the slow path
    assert len(gup.gup_fast(mm, a, 3, gup.FOLL_GET)) == 2
    # the zero page, mapped by a read fault, is special: not taken (mm/gup.c:2974-2975)
    z = va["Z"]
    handle_mm_fault(mm.find_vma(z), z, False)
    assert pte_special(mm.entry(z)) and pte_pfn(mm.entry(z)) == machine.zero_pfn
    assert gup.gup_fast(mm, z, 1, gup.FOLL_GET) == []
    # read-only: not for a write (pte_access_permitted), but for a read
    mprotect(mm, b, PAGE_SIZE, PROT_READ)
    assert len(gup.gup_fast(mm, a, 2, PIN_W)) == 1
    assert len(gup.gup_fast(mm, b, 1, gup.FOLL_GET)) == 1
    # PROT_NONE: never (mm/gup.c:2958-2959)
    mprotect(mm, a, PAGE_SIZE, PROT_NONE)
    assert gup.gup_fast(mm, a, 1, gup.FOLL_GET) == []


@pytest.mark.parametrize("flags", [0, gup.FOLL_GET | gup.FOLL_PIN, gup.FOLL_PIN, gup.FOLL_GET | (1 << 8)])
def test_flags_the_kernel_refuses_or_the_model_cannot_judge_are_refused(tmp_path, flags):
    machine, mm, va = _world(tmp_path, "x86")
    with pytest.raises(gup.GupFlagsError):
        gup.gup_fast(mm, va["A"], 1, flags)


def test_a_read_only_pin_in_a_litmus_file_is_bad_input_at_its_place(tmp_path, capsys):
    from ptelab.cli import main
    path = tmp_path / "ro-pin.litmus"
    path.write_text(PAGES.replace("int z = read(Z);", "int n = gup_fast(A, 1, FOLL_PIN);"))
    assert main(["litmus", str(path), "--arch", "x86"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:9:11:" in err and "PageAnonExclusive" in err and "Traceback" not in err


def test_unpinning_a_page_not_pinned_is_a_kernel_bug_outcome(tmp_path):
    path = tmp_path / "unpin.litmus"
    path.write_text(PAGES.replace("int z = read(Z);", "unpin_user_page(page_of(A));"))
    result = load(path).check("x86")
    assert result.outcomes.get("bug") and result.verdict == "FAIL"


# ---- the explorer: GUP-fast against mm operations ----------------------------------------
@pytest.mark.parametrize("arch", ["x86", "ppc64-6.12", "arm64", "s390-6.12"])
def test_without_the_recheck_a_write_pin_through_a_changed_entry_is_caught(monkeypatch, arch):
    test = load(SUITE / "gup-fast-mprotect.litmus")
    assert test.check(arch).ok
    monkeypatch.setattr(gup, "entry_unchanged", lambda *args: True)
    result = test.check(arch)
    assert not result.ok and GUP_UNMAPPED_PAGE in result.outcomes
    [v] = [v for v in result.counterexamples[GUP_UNMAPPED_PAGE].result.violations
           if v.invariant == GUP_UNMAPPED_PAGE]
    assert "for write" in v.detail and "recheck" in v.detail


@pytest.mark.parametrize("arch", ["x86", "ppc64-6.12", "ia64", "s390-2.6.27"])
def test_gup_fast_against_munmap_takes_the_page_only_where_the_kernel_has_gup_fast(arch):
    result = load(SUITE / "gup-fast-munmap.litmus").check(arch)
    assert result.ok, result.outcomes


# ---- pins and fork (page_needs_cow_for_dma, write_protect_seq) ----------------------------
@pytest.mark.parametrize("api", ["legacy", "txn"])
@pytest.mark.parametrize("pinned", [False, True])
def test_fork_copies_a_pinned_anonymous_page_for_the_child_and_shares_an_unpinned_one(tmp_path, api, pinned):
    machine, mm, va = _world(tmp_path, "x86")
    machine.api = api
    mem = machine.mem
    a = va["A"]
    frame = pte_pfn(mm.entry(a))
    if pinned:
        assert gup.gup_fast(mm, a, 1, PIN_W) == [frame]
    seq = mm.write_protect_seq
    child = dup_mm(mm)
    # one write section, closed: A's COW vma (Z's has no anon_vma, copy_page_range skips it)
    assert mm.write_protect_seq == seq + 2
    parent, copy = mm.entry(a), child.entry(a)
    assert pte_pfn(parent) == frame and mem.data[pte_pfn(copy)] == mem.data[frame] == 5
    if pinned:  # the child's own writable, dirty copy; the parent's entry still writable
        assert pte_pfn(copy) != frame and pte_write(copy) and pte_dirty(copy) and pte_write(parent)
        assert mem.mapcount[frame] == 1 and mem.mapcount[pte_pfn(copy)] == 1
    else:  # shared COW: write-protected in both
        assert pte_pfn(copy) == frame and not pte_write(copy) and not pte_write(parent)
        assert mem.mapcount[frame] == 2


def test_reclaim_and_migration_keep_a_pinned_page_where_it_is(tmp_path):
    from ptelab.mm.migrate import migrate_page
    from ptelab.mm.vmscan import shrink_page

    path = tmp_path / "pages.litmus"
    path.write_text(PAGES)
    test = load(path)
    machine = boot("x86", cpus=test.scenario.ncpus, debug=False)
    world = test.scenario.build(machine, debug=False)
    mm, kernel, a = world.state["mms"]["mm"], world.state["kernel"], world.state["va"]["A"]
    entry = mm.entry(a)
    gup.gup_fast(mm, a, 1, PIN_W)
    assert not shrink_page(kernel, pte_pfn(entry))  # 6.12 mm/vmscan.c:1254-1255
    assert migrate_page(kernel, pte_pfn(entry)) is None and pte_pfn(mm.entry(a)) == pte_pfn(entry)
    assert machine.pins == [(mm, a, pte_pfn(entry))]


PIN_THEN = """PTE pin-then
{
  A: anon rw, young, dirty, value 5;
}
P0 @ cpu0 {
  int n = gup_fast(A, 1, FOLL_WRITE | FOLL_PIN);
  int r = madvise(mm, A, PAGE_SIZE, MADV_DONTNEED);
  write(A, 2);
}
forbid any_invariant
exists (P0.n == 1)
"""


def test_a_pin_promises_nothing_once_its_mm_unmapped_the_page(tmp_path):
    path = tmp_path / "pin-then.litmus"
    path.write_text(PIN_THEN)
    assert load(path).check("x86").ok  # MADV_DONTNEED, then a fault maps a new page: allowed
    path.write_text(PIN_THEN.replace("int r = madvise(mm, A, PAGE_SIZE, MADV_DONTNEED);",
                                     "int r = mprotect(mm, A, PAGE_SIZE, PROT_READ);\n"
                                     "  r = mprotect(mm, A, PAGE_SIZE, PROT_READ | PROT_WRITE);\n"
                                     "  dup_mm(mm);"))
    assert load(path).check("x86").ok  # a write pin survives mprotect; fork then copies for the child


def _without(monkeypatch, what):
    if what == "page_needs_cow_for_dma":
        monkeypatch.setattr(memory, "folio_needs_cow_for_dma", lambda *args: False)
    else:  # GUP-fast's read_seqcount_retry
        monkeypatch.setattr(gup, "read_seqcount_retry", lambda *args: False)


def _pin_fork_caught(monkeypatch, arch, api, what):
    test = load(SUITE / "gup-pin-fork.litmus")
    assert test.check(arch, api=api).ok
    _without(monkeypatch, what)
    result = test.check(arch, api=api)
    if arch in NO_GUP_FAST:  # nothing pins: nothing to lose
        assert result.ok
        return
    assert not result.ok and PIN_REPLACED in result.outcomes, (arch, api, what, result.outcomes)
    [v] = [v for v in result.counterexamples[PIN_REPLACED].result.violations if v.invariant == PIN_REPLACED]
    assert "still pinned" in v.detail


@pytest.mark.parametrize("what", ["page_needs_cow_for_dma", "write_protect_seq"])
@pytest.mark.parametrize("arch,api", [("x86", "legacy"), ("arm64", "legacy"), ("s390-6.12", "legacy"),
                                      ("ppc64-6.12", "legacy"), ("x86", "txn"), ("arm64", "txn")])
def test_fork_without_its_pin_checks_replaces_a_pinned_page(monkeypatch, arch, api, what):
    _pin_fork_caught(monkeypatch, arch, api, what)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["page_needs_cow_for_dma", "write_protect_seq"])
@pytest.mark.parametrize("api", ["legacy", "txn"])
@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_fork_without_its_pin_checks_replaces_a_pinned_page_on_every_backend(monkeypatch, arch, api, what):
    _pin_fork_caught(monkeypatch, arch, api, what)


# ---- GUP-fast over several entries against transactions of several entries ----------------
RANGES = ("gup-fast-mprotect-range", "gup-fast-munmap-range", "gup-fast-fork-range")


@pytest.mark.parametrize("arch", ["x86", "s390-6.12", "ppc64-6.12", "arm64"])
def test_gup_fast_sees_a_transaction_torn_entry_by_entry_and_only_that(arch):
    """Each range file pins `api txn`: GUP-fast takes a prefix of the range (fewer pages than
    asked while a commit is half-way), and no invariant breaks."""
    for name in RANGES:
        result = load(SUITE / f"{name}.litmus").check(arch)
        assert result.ok and result.complete, (name, result.outcomes)
        taken = {int(item[len("P0.n="):]) for state in result.states for item in state if item.startswith("P0.n=")}
        assert 0 in taken and max(taken) == (2 if "munmap" in name or "fork" in name else 3), (name, taken)
        if "fork" not in name:  # a torn view: some pages before the commit, none after it
            assert any(0 < n < max(taken) for n in taken), (name, taken)


def test_without_the_recheck_gup_fast_keeps_a_page_the_transaction_already_changed(monkeypatch):
    test = load(SUITE / "gup-fast-mprotect-range.litmus")
    monkeypatch.setattr(gup, "entry_unchanged", lambda *args: True)
    result = test.check("x86")
    assert not result.ok and GUP_UNMAPPED_PAGE in result.outcomes


@pytest.mark.parametrize("what", ["page_needs_cow_for_dma", "write_protect_seq"])
@pytest.mark.parametrize("arch", ["x86", "s390-6.12"])
def test_a_txn_fork_of_two_tables_without_its_pin_checks_replaces_a_pinned_page(monkeypatch, arch, what):
    test = load(SUITE / "gup-fast-fork-range.litmus")
    _without(monkeypatch, what)
    result = test.check(arch)
    assert not result.ok and PIN_REPLACED in result.outcomes


SMALL = """PTE small
{
  A: anon rw, young, dirty, value 5;
}
P0 @ cpu0 {
  int n = gup_fast(A, 1, FOLL_WRITE | FOLL_PIN);
}
P1 @ cpu1 {
  spin_lock(pte_lockptr(A));
  pte_t old = ptep_get_and_clear(mm, A, pte_offset(A));
  BODY
  spin_unlock(pte_lockptr(A));
}
forbid any_invariant
"""
BODIES = {
    "wrprotect": "set_pte_at(mm, A, pte_offset(A), pte_wrprotect(old));\n  flush_tlb_page(vma, A);",
    "zap and free": "flush_tlb_page(vma, A);\n  page_remove_rmap(page_of(A));\n  put_page(page_of(A));",
}


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("arch", ["x86", "ppc64-6.12", "arm64", "s390-6.12"])
def test_dpor_finds_what_naive_enumeration_finds_with_gup_fast(tmp_path, arch, body):
    """GUP-fast's reference is a step on its frame, its loads steps on the entry: the reduced
    search reaches every final state and outcome of the naive one (every interleaving)."""
    from ptelab.explore.dpor import Bounds

    path = tmp_path / "small.litmus"
    path.write_text(SMALL.replace("BODY", BODIES[body]))
    test = load(path)
    reduced = test.check(arch)
    naive = test.check(arch, naive=True, bounds=Bounds(executions=3000))
    assert reduced.complete and naive.complete
    assert set(naive.states) == set(reduced.states) and set(naive.outcomes) == set(reduced.outcomes)
    assert reduced.executions < naive.executions


@pytest.mark.parametrize("api", ["legacy", "txn"])
def test_mremap_moving_a_pinned_page_ends_the_promise_at_its_old_address(tmp_path, api):
    from ptelab.mm.mremap import MREMAP_FIXED, MREMAP_MAYMOVE, do_mremap

    machine, mm, va = _world(tmp_path, "x86")
    machine.api = api
    a = va["A"]
    frame = pte_pfn(mm.entry(a))
    gup.gup_fast(mm, a, 1, PIN_W)
    assert machine.pins == [(mm, a, frame)]
    new = do_mremap(mm, a, 3 * PAGE_SIZE, 3 * PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, 0x20000000)
    assert new != a and pte_pfn(mm.entry(new)) == frame and machine.pins == []


LAZY = """PTE lazy
{
  A: anon rw, young, dirty, value 5;
}
P0 @ cpu0 {
  int r = read(A);
}
forbid any_invariant
"""


@pytest.mark.parametrize("api", ["legacy", "txn"])
@pytest.mark.parametrize("flags", [0, gup.FOLL_GET, PIN_W])
def test_reclaim_keeps_a_referenced_clean_madv_free_page(tmp_path, api, flags):
    """6.12 try_to_unmap_one discards a clean MADV_FREE'd page only if its references are
    reclaim's isolation and its mappings (mm/rmap.c:1881-1894): one GUP-fast took (a pin or
    a FOLL_GET reference) keeps it mapped, swap-backed again (:1896-1908), its data whole."""
    from ptelab.machine.memory import PG_swapbacked
    from ptelab.mm.madvise import MADV_FREE, do_madvise
    from ptelab.mm.vmscan import shrink_page

    path = tmp_path / "lazy.litmus"
    path.write_text(LAZY)
    test = load(path)
    machine = boot("x86", cpus=test.scenario.ncpus, debug=False)
    machine.api = api
    world = test.scenario.build(machine, debug=False)
    mm, kernel, a = world.state["mms"]["mm"], world.state["kernel"], world.state["va"]["A"]
    page = pte_pfn(mm.entry(a))
    if flags:
        assert gup.gup_fast(mm, a, 1, flags) == [page]
    do_madvise(mm, a, PAGE_SIZE, MADV_FREE)
    assert not machine.mem.flags[page] & PG_swapbacked and not pte_dirty(mm.entry(a))
    freed = shrink_page(kernel, page)
    if not flags:  # discarded: the address reads zeroes
        assert freed and mm.entry(a) == 0
        return
    assert not freed and pte_pfn(mm.entry(a)) == page and machine.mem.data[page] == 5
    assert machine.mem.flags[page] & PG_swapbacked


LAZY_RACE = """PTE gup-pin-lazyfree-reclaim
"GUP-fast pins a MADV_FREE'd page while reclaim unmaps it: try_to_unmap_one reads the
refcount after the clear (6.12 mm/rmap.c:1866-1870) and discards the clean page only if
nothing but isolation and the mapping holds it (:1881-1894); GUP-fast takes its reference,
then reads the entry again (mm/gup.c:2983-2987).  Either the pin fails (the entry is gone)
or reclaim sees it and keeps the page mapped."
{
  A: anon rw, value 5;
}
P0 @ cpu0 {
  madvise(mm, A, PAGE_SIZE, MADV_FREE);
  int n = gup_fast(A, 1, FOLL_WRITE | FOLL_PIN);
}
P1 @ cpu1 {
  int freed = shrink_page(page_of(A));
}
forbid (P0.n == 1 && P1.freed == 1)
exists (P0.n == 1)
exists (P1.freed == 1)
"""


@pytest.mark.parametrize("api", ["legacy", "txn"])
def test_the_explorer_never_finds_reclaim_discarding_a_page_gup_fast_pinned(tmp_path, api):
    """Both orders happen (a pin, a discard), never both in one execution.  Debug mode off:
    the legacy MADV_FREE's generic clear_young_dirty_ptes breaks flush-before-reuse on most
    backends (op-madv-free.litmus), which is not this test's question."""
    path = tmp_path / "lazy-race.litmus"
    path.write_text(LAZY_RACE)
    for arch in ("x86", "arm64"):
        result = load(path).check(arch, api=api, debug=False)
        assert result.verdict == "ok" and result.complete, (arch, result.problems)
