"""arm64's txn commit and FEAT_TLBIRANGE (issue 15 item 3).

- __flush_tlb_range_op with FEAT_TLBIRANGE covers exactly the range, each operation of an
  architectural size (Arm ARM C5.5, TLBI RVAE1IS), at most four of them and one page;
- arm64's commit unfolds the contiguous blocks a round rewrites at once: fewer DSBs (and,
  with FEAT_TLBIRANGE, fewer TLBIs) than the generic commit and the legacy accessor code,
  the same page tables afterwards;
- the explorer finds nothing on txn mprotect of entries in a contiguous block raced
  against a store (G1-G3), and `ptelab cost` accepts the feature.
"""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptelab.arch import boot
from ptelab.arch.arm64 import CONT_PTES, MAX_TLBI_RANGE_PAGES, PTE_CONT, Arm64, _tlbi_range_pages
from ptelab.arch.generic import CYDP_CLEAR_DIRTY, CYDP_CLEAR_YOUNG, GenericArch
from ptelab.cli import main
from ptelab.cost import TLBI, measure
from ptelab.litmus import load
from ptelab.machine import UnknownFeature
from ptelab.machine.counters import CONTPTE_UNFOLD, DSB_ISH, TLBI_ASIDE1IS, TLBI_RVAE1IS, TLBI_RVALE1IS
from ptelab.machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT, PG_anon, PG_swapbacked
from ptelab.machine.tlb import tlb_key
from ptelab.mm.fault import user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.mm_types import anon_vma_prepare
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap, vm_munmap
from ptelab.mm.mprotect import do_mprotect
from ptelab.mm.fork import dup_mm
from ptelab.mm.pgtable import pte_alloc_map_lock, pte_lockptr, spin_lock, spin_unlock
from ptelab.mm.rmap import page_add_new_anon_rmap
from ptelab.mm.madvise import MADV_FREE, do_madvise
from ptelab.pte import PAGE_SHIFT, PAGE_SIZE, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_HW_DIRTY, _PAGE_RW, mk_pte, pte_dirty, pte_write, pte_young
from ptelab.txn import PteTxn

FIXTURES = Path(__file__).parent / "fixtures" / "txn"
FIXTURE = FIXTURES / "txn-arm64-cont-mprotect.litmus"
MULTI = [FIXTURES / "txn-mprotect-multi.litmus", FIXTURES / "txn-fork-multi.litmus"]
BASE = 0x20000000
BLOCKS = 4


@settings(max_examples=200, deadline=None)
@given(st.integers(1, MAX_TLBI_RANGE_PAGES), st.integers(0, 1 << 20), st.booleans())
def test_range_op_covers_exactly(pages, first, last_level):
    machine = boot("arm64", cpus=1, pages=16, debug=False, features=("tlbirange",))
    arch = machine.arch
    start = first << PAGE_SHIFT
    arch._flush_tlb_range_op(7, start, pages, last_level)
    issued = machine.cpus[0].arch_state.tlbi
    assert issued[0][1] == start and issued[-1][2] == start + (pages << PAGE_SHIFT)
    for (_, _, end), (_, begin, _) in zip(issued, issued[1:]):
        assert end == begin  # contiguous, no overlap
    sizes = [(end - begin) >> PAGE_SHIFT for _, begin, end in issued]
    # a range operation covers (NUM + 1) * 2^(5 * SCALE + 1) pages; one odd page, last, by a page TLBI
    legal = {_tlbi_range_pages(num, scale) for num in range(32) for scale in range(4)}
    assert all(n in legal for n in sizes[:-1]) and (sizes[-1] == 1 or sizes[-1] in legal), sizes
    assert len(sizes) <= 5
    kinds = (TLBI_RVALE1IS if last_level else TLBI_RVAE1IS)
    assert machine.counters[kinds] == len(sizes) - sizes.count(1)


def test_without_the_feature_page_by_page():
    machine = boot("arm64", cpus=1, pages=16, debug=False)
    machine.arch._flush_tlb_range_nosync(Kernel(machine).new_mm(), 0, 64 * PAGE_SIZE, True)
    assert machine.counters[TLBI_RVALE1IS] == 0 and len(machine.cpus[0].arch_state.tlbi) == 64
    with pytest.raises(UnknownFeature):
        boot("arm64", features=("tlbrange",))


def _cont_region(features, api):
    """BLOCKS contiguous blocks of a written anonymous region (large folios mapped by one
    set_ptes each, as the litmus `cont` page), in cpu1's TLB: (machine, mm, vma)."""
    machine = boot("arm64", cpus=2, pages=256, features=features)
    machine.api = api
    mm = Kernel(machine).new_mm()
    size = BLOCKS * CONT_PTES * PAGE_SIZE
    vm_mmap(mm, BASE, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    vma = mm.find_vma(BASE)
    anon_vma_prepare(vma)
    ptep, ptl = pte_alloc_map_lock(mm, BASE)
    for b in range(BLOCKS):
        first = machine.mem.alloc_block(4, PG_anon | PG_swapbacked)
        for k in range(CONT_PTES):
            page_add_new_anon_rmap(machine.mem, first + k, vma, BASE + (b * CONT_PTES + k) * PAGE_SIZE)
        va = BASE + b * CONT_PTES * PAGE_SIZE
        machine.arch.set_ptes(mm, va, ptep + b * CONT_PTES,
                              mk_pte(first, vma.page_prot & ~_PAGE_RW) | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY,
                              CONT_PTES)
    spin_unlock(mm, ptl)
    for i in range(0, BLOCKS * CONT_PTES, 5):
        user_write(mm, machine.cpus[1], BASE + i * PAGE_SIZE, i + 1)
    return machine, mm, vma


def _blocks(features, api, generic: bool = False, monkeypatch=None):
    """mprotect(PROT_READ) of all but the first and last page of _cont_region: the counters
    of the mprotect and the entries after."""
    if generic:
        monkeypatch.setattr(Arm64, "txn_round_begin", GenericArch.txn_round_begin)
    machine, mm, vma = _cont_region(features, api)
    size = BLOCKS * CONT_PTES * PAGE_SIZE
    before = dict(machine.counters)
    do_mprotect(mm, BASE + PAGE_SIZE, size - 2 * PAGE_SIZE, PROT_READ)
    counts = {c: machine.counters.get(c, 0) - before.get(c, 0) for c in (*TLBI, DSB_ISH, CONTPTE_UNFOLD)}
    for i in range(0, BLOCKS * CONT_PTES, 5):
        assert user_read(mm, machine.cpus[0], BASE + i * PAGE_SIZE) == i + 1
    return counts, [mm.entry(BASE + i * PAGE_SIZE) for i in range(BLOCKS * CONT_PTES)]


@pytest.mark.parametrize("features", [(), ("tlbirange",)])
def test_commit_unfolds_once(features, monkeypatch):
    arm64, tables = _blocks(features, "txn")
    legacy, legacy_tables = _blocks(features, "legacy")
    generic, generic_tables = _blocks(features, "txn", generic=True, monkeypatch=monkeypatch)
    assert tables == legacy_tables == generic_tables
    assert arm64[CONTPTE_UNFOLD] == generic[CONTPTE_UNFOLD] == BLOCKS
    # the blocks' break, one flush, one DSB; the round's flush, one DSB
    assert arm64[DSB_ISH] == 2 < generic[DSB_ISH] == legacy[DSB_ISH] == BLOCKS + 1
    tlbis = {name: sum(c[k] for k in TLBI) for name, c in (("arm64", arm64), ("generic", generic),
                                                             ("legacy", legacy))}
    if features:  # one range operation for the four adjacent blocks, one for the round
        assert tlbis["arm64"] == 2 < tlbis["generic"] == tlbis["legacy"] == BLOCKS + 1
    else:  # page by page either way
        assert tlbis["arm64"] == tlbis["generic"] == tlbis["legacy"] == BLOCKS * CONT_PTES + BLOCKS * CONT_PTES - 2  # blocks, then the round


@pytest.mark.parametrize("ranged", [False, True])
def test_explorer_cont_block_txn(ranged, monkeypatch):
    """G1-G3 under the explorer: txn mprotect of two entries of a contiguous block raced
    against a store through cpu1's contiguous TLB entry, with and without FEAT_TLBIRANGE
    (the litmus scenario's machine has no features: the backend is told directly)."""
    monkeypatch.setattr(Arm64, "tlbi_range", ranged)
    test = load(FIXTURE)
    for arch in ("arm64", "arm64-nocont"):
        result = test.check(arch, api="txn")
        assert result.verdict == "ok", (arch, result.problems)
        assert result.complete and result.executions > 1


@pytest.mark.parametrize("path", MULTI, ids=lambda p: p.stem)
def test_explorer_multi_entry_txn_with_range_ops(path, monkeypatch):
    """Transactions of three entries over two PTE tables (mprotect, fork) raced against
    stores, on CPUs with FEAT_TLBIRANGE: the round's flush is a range operation and a page
    TLBI; nothing found."""
    monkeypatch.setattr(Arm64, "tlbi_range", True)
    for arch in ("arm64", "arm64-nocont"):
        result = load(path).check(arch)
        assert result.verdict == "ok" and result.complete, (arch, result.problems)


def test_a_range_op_one_page_short_is_caught(monkeypatch):
    """The test above can fail: a TLBI RVAE1IS that stops a page short leaves cpu1's
    writable translation of the middle page after mprotect."""
    monkeypatch.setattr(Arm64, "tlbi_range", True)
    tlbi = Arm64._tlbi

    def short(self, kind, context, start, end):
        if kind in (TLBI_RVAE1IS, TLBI_RVALE1IS):
            end -= PAGE_SIZE
        return tlbi(self, kind, context, start, end)

    monkeypatch.setattr(Arm64, "_tlbi", short)
    assert "stale-translation" in load(MULTI[0]).check("arm64").outcomes


def test_cost_with_the_feature(capsys):
    """mprotect of 64 pages: one TLBI RVAE1IS with the feature, 64 TLBI VAE1IS without
    (from MAX_DVM_OPS pages one TLBI ASIDE1IS either way, tlbflush.h:465-469), legacy and
    txn alike: the flush is the same call."""
    ranged = {api: measure("arm64", "mprotect", 64, api, features=("tlbirange",)) for api in ("legacy", "txn")}
    plain = measure("arm64", "mprotect", 64, "txn")
    assert ranged["txn"][TLBI_RVAE1IS] == ranged["legacy"][TLBI_RVAE1IS] == 1
    assert sum(ranged["txn"][k] for k in TLBI) == 1 < sum(plain[k] for k in TLBI) == 64
    assert main(["cost", "--arch", "arm64", "--op", "mprotect", "--sizes", "64",
                 "--cpu-feature", "tlbirange", "--json"]) == 0
    capsys.readouterr()
    assert main(["cost", "--arch", "arm64", "--op", "mprotect", "--sizes", "64", "--mthp", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["legacy"][CONTPTE_UNFOLD] for r in rows] == [64 // CONT_PTES]
    assert main(["cost", "--arch", "arm64", "--sizes", "64", "--cpu-feature", "bogus"]) == 2
    assert "unknown CPU feature 'bogus'" in capsys.readouterr().err


def _counted(machine, what):
    before = dict(machine.counters)
    what()
    return {c: machine.counters.get(c, 0) - before.get(c, 0) for c in (*TLBI, DSB_ISH, CONTPTE_UNFOLD)}


def test_fork_write_protects_whole_blocks_in_place():
    """fork of 4 contiguous blocks (large folios), legacy and txn: 6.12's copy_present_ptes
    batches each folio (folio_pte_batch, mm/memory.c:1003-1027): one wrprotect_ptes, which
    write-protects the block in place (contpte.c:348-363), and one set_ptes, which writes
    the child's contiguous; txn's round write-protects every entry of each block, so arm64
    keeps them folded too.  No unfold, only dup_mmap's flush (one TLBI ASIDE1IS and its
    DSB); the same page tables."""
    got, tables = {}, {}
    for api in ("txn", "legacy"):
        machine, mm, _ = _cont_region((), api)
        children = []
        got[api] = _counted(machine, lambda: children.append(dup_mm(mm)))
        tables[api] = [m.entry(BASE + i * PAGE_SIZE) for m in (mm, children[0]) for i in range(BLOCKS * CONT_PTES)]
        assert not any(pte_write(e) for e in tables[api])
        assert all(e & PTE_CONT for e in tables[api])
        for i in range(0, BLOCKS * CONT_PTES, 5):
            assert user_read(mm, machine.cpus[1], BASE + i * PAGE_SIZE) == i + 1
        assert got[api] == {**{k: 0 for k in got[api]}, TLBI_ASIDE1IS: 1, DSB_ISH: 1}
    assert tables["txn"] == tables["legacy"]


def test_zap_clears_whole_blocks_without_unfolding():
    """munmap of 4 contiguous blocks but the first and last 8 pages, legacy and txn: 6.12's
    zap clears a large folio's entries with one clear_full_ptes (zap_present_ptes,
    mm/memory.c:1548-1571), which unfolds only the blocks it covers in part
    (contpte_clear_full_ptes, contpte.c:284-290); txn's unmap runs do the same, its two
    partial blocks unfolded at once (one DSB, not two)."""
    got = {}
    for api in ("txn", "legacy"):
        machine, mm, _ = _cont_region((), api)
        got[api] = _counted(machine, lambda: vm_munmap(mm, BASE + 8 * PAGE_SIZE, (BLOCKS * CONT_PTES - 16) * PAGE_SIZE))
        kept = [mm.entry(BASE + i * PAGE_SIZE) for i in (*range(8), *range(BLOCKS * CONT_PTES - 8, BLOCKS * CONT_PTES))]
        assert all(e and not e & PTE_CONT for e in kept)
    assert got["txn"][CONTPTE_UNFOLD] == got["legacy"][CONTPTE_UNFOLD] == 2
    assert got["txn"][DSB_ISH] < got["legacy"][DSB_ISH]


@pytest.mark.parametrize("features", [(), ("tlbirange",)])
def test_a_round_unfolds_the_blocks_it_write_protects_in_part_at_once(features):
    """wrprotect intents over all but the first and last 8 pages: the two blocks covered in
    part are unfolded together (one flush, one DSB), the two whole ones write-protected in
    place; wrprotect_ptes over the same range (contpte_try_unfold_partial) unfolds them
    one by one, each with its DSB.  The same page tables either way."""
    tables, counts = {}, {}
    start, end = BASE + 8 * PAGE_SIZE, BASE + (BLOCKS * CONT_PTES - 8) * PAGE_SIZE
    nr = (end - start) // PAGE_SIZE
    for how in ("txn", "wrprotect_ptes"):
        machine, mm, vma = _cont_region(features, "txn")
        ptep = mm.pte_offset(start)

        def txn():
            with PteTxn(vma, start, end) as t:
                for a in t.addresses():
                    t.wrprotect(a)

        def batch():
            ptl = pte_lockptr(mm, ptep)
            spin_lock(mm, ptl)
            machine.arch.wrprotect_ptes(mm, start, ptep, nr)
            spin_unlock(mm, ptl)
            machine.arch.flush_tlb_range(vma, start, end)

        counts[how] = _counted(machine, txn if how == "txn" else batch)
        tables[how] = [mm.entry(BASE + i * PAGE_SIZE) for i in range(BLOCKS * CONT_PTES)]
    assert tables["txn"] == tables["wrprotect_ptes"]
    assert [bool(e & PTE_CONT) for e in tables["txn"][::CONT_PTES]] == [False, True, True, False]
    assert counts["txn"][CONTPTE_UNFOLD] == counts["wrprotect_ptes"][CONTPTE_UNFOLD] == 2
    assert counts["txn"][DSB_ISH] == 2 < counts["wrprotect_ptes"][DSB_ISH] == 3


def test_explorer_fork_of_a_block_txn():
    """The explorer on txn fork of a contiguous block raced against a store: nothing found
    on arm64 (the block write-protected in place) or without contpte; with dup_mmap's
    flush dropped, the writable translation outlives fork."""
    test = load(FIXTURES / "txn-arm64-cont-fork.litmus")
    for arch in ("arm64", "arm64-nocont"):
        result = test.check(arch, api="txn")
        assert result.verdict == "ok" and result.complete and result.executions > 1, (arch, result.problems)


def test_explorer_fork_of_a_block_without_its_flush_is_caught(monkeypatch):
    monkeypatch.setattr(Arm64, "flush_tlb_mm", lambda self, mm: None)
    assert "stale-translation" in load(FIXTURES / "txn-arm64-cont-fork.litmus").check("arm64", api="txn").outcomes


@pytest.mark.parametrize("arch,pages,blocks", [("arm64", 64, 4), ("arm64", 40, 2), ("arm64", 8, 0),
                                               ("arm64-nocont", 64, 0)])
def test_cost_regions_hold_contiguous_blocks(arch, pages, blocks):
    """`ptelab cost --mthp` maps each naturally aligned 16 pages of its region as one large
    folio (do_anonymous_folio, 64 KiB mTHP): contiguous on arm64, so the legacy mprotect
    unfolds each block (modify_prot_start, one entry at a time: contpte_try_unfold), which
    txn does once for the round.  Without --mthp (6.12's default) there is no block."""
    for api in ("legacy", "txn"):
        assert measure(arch, "mprotect", pages, api, mthp=True)[CONTPTE_UNFOLD] == blocks
        assert measure(arch, "mprotect", pages, api)[CONTPTE_UNFOLD] == 0


def test_explorer_dontneed_of_part_of_a_block_txn(monkeypatch):
    """txn MADV_DONTNEED of half a contiguous block (the round unfolds it, then clears 8
    entries) raced against stores inside and outside the range: nothing found; without
    the mmu_gather's flush (arch tlb_flush) a translation of a cleared page survives."""
    path = FIXTURES / "txn-arm64-cont-dontneed.litmus"
    for arch in ("arm64", "arm64-nocont"):
        result = load(path).check(arch, api="txn")
        assert result.verdict == "ok" and result.complete, (arch, result.problems)
    monkeypatch.setattr(Arm64, "tlb_flush", lambda self, tlb: None)
    assert "stale-translation" in load(path).check("arm64", api="txn").outcomes


def test_madv_free_cleans_whole_blocks_in_place():
    """MADV_FREE of 4 contiguous blocks, legacy and txn: 6.12's clear_young_dirty_ptes
    cleans each folio's block in place, folded (contpte_clear_young_dirty_ptes,
    contpte.c:366-393); txn's cleans of whole blocks do too (txn_clean_run), where the
    generic commit breaks each entry (4 unfolds, 64 + 64 TLBIs).  The same page tables
    and the same flush: each entry, once, in one DSB."""
    got, tables = {}, {}
    for api in ("txn", "legacy"):
        machine, mm, _ = _cont_region((), api)
        got[api] = _counted(machine, lambda: do_madvise(mm, BASE, BLOCKS * CONT_PTES * PAGE_SIZE, MADV_FREE))
        tables[api] = [mm.entry(BASE + i * PAGE_SIZE) for i in range(BLOCKS * CONT_PTES)]
        assert all(e & PTE_CONT and not pte_dirty(e) and not pte_young(e) for e in tables[api])
        for i in range(0, BLOCKS * CONT_PTES, 5):
            assert user_read(mm, machine.cpus[0], BASE + i * PAGE_SIZE) == i + 1
    assert tables["txn"] == tables["legacy"]
    assert got["txn"][CONTPTE_UNFOLD] == got["legacy"][CONTPTE_UNFOLD] == 0
    assert sum(got["txn"][k] for k in TLBI) == sum(got["legacy"][k] for k in TLBI) == BLOCKS * CONT_PTES
    assert got["txn"][DSB_ISH] == got["legacy"][DSB_ISH] == 1


def _one_dirty_entry():
    """A contiguous block made clean and old by MADV_FREE and read by cpu1 (one contiguous
    TLB entry for all 16 pages, not writable), then its entries set as the hardware leaves
    them when a store walks the block through its sixth entry: that entry young and dirty
    (DBM clears PTE_RDONLY of the entry the walk used, D8.5, D8.7.1), the others old and
    clean (written in the table directly: the model's fault path ages the whole block)."""
    machine, mm, vma = _cont_region((), "txn")
    do_madvise(mm, BASE, BLOCKS * CONT_PTES * PAGE_SIZE, MADV_FREE)
    user_read(mm, machine.cpus[1], BASE + 3 * PAGE_SIZE)
    ptep = mm.pte_offset(BASE)
    table, first = machine.mem.ptes[ptep >> PTE_TABLE_SHIFT], ptep & PTE_INDEX_MASK
    for i in range(CONT_PTES):
        table[first + i] &= ~_PAGE_ACCESSED
    table[first + 5] |= _PAGE_ACCESSED | _PAGE_HW_DIRTY
    assert [pte_dirty(e) for e in table[first:first + CONT_PTES]] == [i == 5 for i in range(CONT_PTES)]
    assert all(e & PTE_CONT for e in table[first:first + CONT_PTES])
    assert all(tlb_key(mm.context, BASE + i * PAGE_SIZE) in machine.cpus[1].tlb.entries for i in range(CONT_PTES))
    return machine, mm, vma


def test_a_clean_in_place_returns_the_blocks_dirty_and_flushes_the_block():
    """G2 and G1 for a block cleaned in place: each old entry carries the block's Dirty
    (contpte_ptep_get, contpte.c:155-180: a store through the block's TLB entry dirtied the
    entry the walk used, not its own), and the commit's flush covers the whole block, the
    15 entries whose own bits were clean too (cpu1's translations of them are writable)."""
    machine, mm, vma = _one_dirty_entry()
    end = BASE + CONT_PTES * PAGE_SIZE
    with PteTxn(vma, BASE, end) as t:
        olds = [t.clean(a, mkold=True) for a in range(BASE, end, PAGE_SIZE)]
    assert all(pte_dirty(r.value) for r in olds)
    assert t.flushed == (BASE, end)
    assert not any(tlb_key(mm.context, a) in machine.cpus[1].tlb.entries for a in range(BASE, end, PAGE_SIZE))
    entries = [mm.entry(a) for a in range(BASE, end, PAGE_SIZE)]
    assert all(e & PTE_CONT and not pte_dirty(e) for e in entries)
    assert machine.counters[CONTPTE_UNFOLD] == 0


def test_unmapping_a_block_returns_a_hardware_dirty_siblings_dirty():
    """clear_full_ptes of a whole block (txn_unmap_run): each old entry gets the block's
    Dirty, a hardware one (PTE_RDONLY clear, pte_dirty: pgtable.h:123-125) included."""
    machine, mm, vma = _one_dirty_entry()
    end = BASE + CONT_PTES * PAGE_SIZE
    with PteTxn(vma, BASE, end) as t:
        olds = [t.unmap(a) for a in range(BASE, end, PAGE_SIZE)]
    assert all(pte_dirty(r.value) for r in olds)


def _madv_free_fixtures():
    return [FIXTURES / "txn-arm64-cont-madv-free.litmus", FIXTURES / "txn-arm64-cont-madv-free-walk.litmus"]


def test_explorer_madv_free_of_a_block_txn(monkeypatch):
    """txn MADV_FREE of a whole contiguous block raced with stores: nothing found, on arm64
    (cleaned in place) and without contpte; with the commit's flush dropped, a writable
    translation outlives the clean and a store after it is lost (lost-dirty)."""
    paths = _madv_free_fixtures()
    for path, arch in ((paths[0], "arm64"), (paths[0], "arm64-nocont"), (paths[1], "arm64")):
        result = load(path).check(arch, api="txn")
        assert result.verdict == "ok" and result.complete and result.executions > 1, (arch, result.problems)
    monkeypatch.setattr(Arm64, "flush_tlb_range", lambda self, vma, start, end: None)
    assert "lost-dirty" in load(paths[0]).check("arm64", api="txn").outcomes


@pytest.mark.slow
def test_explorer_madv_free_of_a_block_without_the_loop_or_the_gather_is_caught(monkeypatch):
    """Broken on purpose, each is caught as lost-dirty: a plain load and store instead of
    the cmpxchg loop (6.12's own __clear_young_dirty_ptes with both flags,
    pgtable.h:1392-1393: a hardware Dirty set in between is overwritten); the old entries
    not given the block's Dirty (the store through a sibling's translation)."""
    from ptelab.arch import arm64

    def plain(self, vma, addr, ptep, nr, mkold):
        olds = [self._get(p) for p in range(ptep, ptep + nr)]
        self._clear_young_dirty_ptes(vma, addr, ptep, nr, CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY)
        return arm64._gather_blocks(ptep, olds)

    walk = _madv_free_fixtures()[1]
    for owner, name, value in ((Arm64, "txn_clean_run", plain), (arm64, "_gather_blocks", lambda ptep, olds: olds)):
        with monkeypatch.context() as m:
            m.setattr(owner, name, value)
            assert "lost-dirty" in load(walk).check("arm64", api="txn").outcomes, name
