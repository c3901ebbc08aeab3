"""mm operations on the transactional interface against their accessor versions
(issue 15 item 5): for random workloads, `--api legacy` and `--api txn` end in the same
page tables, the same page contents and the same frames in use, on every backend; and the
`move` intent against move_ptes' accessor sequence."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptelab.arch import ARCHES, boot
from ptelab.machine.coherence import stale_translations
from ptelab.mm.fault import SegmentationFault, user_read, user_write
from ptelab.mm.kernel import Kernel
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap
from ptelab.mm.mremap import MREMAP_FIXED, MREMAP_MAYMOVE, do_mremap
from ptelab.mm.pgtable import pte_alloc
from ptelab.pte import ARCH_MASK, PAGE_SIZE, PMD_SIZE, pte_pfn
from ptelab.txn import PteTxn, TxnError

PAGES = 10
BASE = 0x10000000 + PMD_SIZE - 4 * PAGE_SIZE  # straddles two PTE tables
TARGET = 0x30000000 + PMD_SIZE - 3 * PAGE_SIZE  # a move's destination, two tables too
SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))


def _machine(arch, api, writes):
    machine = boot(arch, cpus=2, pages=256)
    machine.api = api
    mm = Kernel(machine).new_mm()
    assert vm_mmap(mm, BASE, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED) == BASE
    for i in writes:
        user_write(mm, machine.cpus[i % 2], BASE + i * PAGE_SIZE, i + 1)
    return machine, mm


def _state(machine, mm, where):
    entries = [mm.entry(where + i * PAGE_SIZE) for i in range(PAGES + 2)]
    contents = []
    for i in range(PAGES + 2):
        try:
            contents.append(user_read(mm, machine.cpus[0], where + i * PAGE_SIZE))
        except SegmentationFault:
            contents.append(None)
    return [e & ~ARCH_MASK for e in entries], contents, machine.mem.frames_in_use()


pages = st.lists(st.integers(0, PAGES - 1), max_size=PAGES)


@pytest.mark.parametrize("arch", list(ARCHES))
@SETTINGS
@given(writes=pages, first=st.integers(0, PAGES - 1), n=st.integers(1, PAGES), grow=st.integers(-1, 2),
       fixed=st.booleans(), later=pages)
def test_mremap_legacy_and_txn_agree(arch, writes, first, n, grow, fixed, later):
    n = min(n, PAGES - first)
    new_len = max(1, n + grow) * PAGE_SIZE
    out = []
    for api in ("legacy", "txn"):
        machine, mm = _machine(arch, api, writes)
        where = do_mremap(mm, BASE + first * PAGE_SIZE, n * PAGE_SIZE, new_len,
                          MREMAP_MAYMOVE | (MREMAP_FIXED if fixed else 0), TARGET if fixed else None)
        assert stale_translations(machine) == []
        for i in later:  # the moved pages work: fault, write, read
            try:
                user_write(mm, machine.cpus[1], where + (i % n) * PAGE_SIZE, 100 + i)
            except SegmentationFault:
                pass
        out.append((where, _state(machine, mm, where), _state(machine, mm, BASE)))
    assert out[0] == out[1]


@pytest.mark.parametrize("arch", list(ARCHES))
def test_move_intent_equals_move_ptes(arch):
    """Moves of present, written and read pages across two PTE tables: the entries land as
    they were cleared (Accessed/Dirty exact: the result is what the atomic clear returned),
    the old ones are none, nothing stale is left, and the contents follow."""
    machine, mm = _machine(arch, "legacy", [0, 2, 5, 9])
    user_read(mm, machine.cpus[1], BASE + 3 * PAGE_SIZE)
    vma = mm.vmas_in(BASE, BASE + PAGE_SIZE)[0]
    for i in (0, PAGES - 1):
        pte_alloc(mm, TARGET + i * PAGE_SIZE)
    before = [mm.entry(BASE + i * PAGE_SIZE) for i in range(PAGES)]
    with PteTxn(vma, BASE, BASE + PAGES * PAGE_SIZE, to=(vma, TARGET)) as t:
        results = {i: t.move(BASE + i * PAGE_SIZE, TARGET + i * PAGE_SIZE)
                   for i in range(PAGES) if before[i]}
        assert t.get(BASE) == 0 and t.get(TARGET) == before[0]  # reads see the intents
        with pytest.raises(TxnError):
            t.move(BASE + PAGE_SIZE, TARGET)  # the destination is taken now
    for i in range(PAGES):
        assert mm.entry(BASE + i * PAGE_SIZE) == 0
        moved = mm.entry(TARGET + i * PAGE_SIZE)
        if before[i]:
            assert results[i].value & ~ARCH_MASK == before[i] & ~ARCH_MASK
            assert moved & ~ARCH_MASK == before[i] & ~ARCH_MASK
    assert stale_translations(machine) == []
    assert all(ptl.owner is None for ptl in machine.mem.ptl.values())
    for i in (0, 2, 5, 9):  # the frames moved with what was written to them
        assert machine.mem.data[pte_pfn(mm.entry(TARGET + i * PAGE_SIZE))] == i + 1


def test_move_refuses_what_it_cannot_do():
    machine, mm = _machine("x86", "legacy", [0])
    vma = mm.vmas_in(BASE, BASE + PAGE_SIZE)[0]
    with pytest.raises(TxnError):
        PteTxn(vma, BASE, BASE + 4 * PAGE_SIZE, to=(vma, BASE + 2 * PAGE_SIZE))  # overlaps
    with pytest.raises(TxnError):
        with PteTxn(vma, BASE, BASE + 2 * PAGE_SIZE, to=(vma, TARGET)) as t:
            t.move(BASE, TARGET)  # no PTE table at TARGET yet
    assert mm.entry(BASE) != 0
    assert all(ptl.owner is None for ptl in machine.mem.ptl.values())


def _end_state(machine):
    """Every page table's entries (bits the backend keeps for itself aside), every frame's
    contents and use count: what a workload leaves behind."""
    mem = machine.mem
    tables = sorted((pfn, [e & ~ARCH_MASK for e in entries]) for pfn, entries in mem.ptes.items())
    return tables, list(mem.data), list(mem.refcount), mem.frames_in_use()


@pytest.mark.parametrize("arch", list(ARCHES))
def test_workloads_legacy_and_txn_agree(arch):
    """Every workload of `ptelab run` (each checks what it reads back) ends in the same page
    tables, contents and frames with the txn versions of the mm operations as with the
    accessor code; txn runs with debug mode, so no rule of any backend is broken (legacy
    runs without: its MADV_FREE breaks flush-before-reuse, docs/rules.md)."""
    from ptelab.workloads import WORKLOADS, run_workload

    for name in WORKLOADS:
        ends = []
        for api, debug in (("legacy", False), ("txn", True)):
            machine = boot(arch, cpus=2, pages=256, debug=debug)
            machine.api = api
            run_workload(machine, name, 24)
            assert stale_translations(machine) == [], (name, api)
            ends.append(_end_state(machine))
        assert ends[0] == ends[1], name


@pytest.mark.parametrize("arch", list(ARCHES))
def test_remap_pfn_range_legacy_and_txn_agree(arch):
    """remap_pfn_range over two PTE tables: the same special entries, read the same."""
    from ptelab.machine.memory import PG_reserved
    from ptelab.mm.memory import remap_pfn_range
    from ptelab.mm.mmap import MAP_SHARED
    from ptelab.pte import PAGE_READONLY

    out = []
    for api in ("legacy", "txn"):
        machine = boot(arch, cpus=2, pages=256)
        machine.api = api
        kernel = Kernel(machine)
        mm = kernel.new_mm()
        mapping = kernel.new_file("dev", PAGES)
        assert vm_mmap(mm, BASE, PAGES * PAGE_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED, mapping) == BASE
        frames = [machine.mem.alloc_page(PG_reserved) for _ in range(PAGES)]
        for i, pfn in enumerate(frames):
            machine.mem.data[pfn] = 100 + i
        remap_pfn_range(mm.find_vma(BASE), BASE, frames[0], PAGES * PAGE_SIZE, PAGE_READONLY)
        entries = [mm.entry(BASE + i * PAGE_SIZE) & ~ARCH_MASK for i in range(PAGES)]
        assert [user_read(mm, machine.cpus[1], BASE + i * PAGE_SIZE) for i in range(PAGES)] == \
            [100 + i for i in range(PAGES)]
        out.append((entries, machine.mem.frames_in_use()))
    assert out[0] == out[1]
