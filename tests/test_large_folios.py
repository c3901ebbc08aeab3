"""Large folios in the legacy mm code: 6.12 takes the entries of a large folio as one batch
(folio_pte_batch, mm/internal.h:160-258) in zap (zap_present_ptes, mm/memory.c:1548-1571),
fork (copy_present_ptes, :980-1055) and MADV_FREE (mm/madvise.c:715-748), and writes them
with the batch accessors (clear_full_ptes, wrprotect_ptes, set_ptes, clear_young_dirty_ptes).
For random operations over a region of 64 KiB folios (do_anonymous_folio), on every backend,
the batched legacy code, the same code taking every page alone, and the txn versions end in
the same page tables (Accessed, Dirty and the backends' own bits aside: a batch merges them,
arm64 keeps them per block), the same contents and the same frames in use."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptelab.arch import ARCHES, boot
from ptelab.machine.coherence import stale_translations
from ptelab.machine.memory import PhysicalMemory
from ptelab.mm.fault import SegmentationFault, user_write
from ptelab.mm.fork import dup_mm
from ptelab.mm.kernel import Kernel
from ptelab.mm.madvise import MADV_DONTNEED, MADV_FREE, do_madvise
from ptelab.mm.memory import do_anonymous_folio
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap, vm_munmap
from ptelab.mm.mprotect import do_mprotect
from ptelab.pte import ARCH_MASK, PAGE_SIZE, _PAGE_ACCESSED, _PAGE_DIRTY

from .test_txn import contents

FOLIOS = 3
PAGES = 16 * FOLIOS
BASE = 0x20000000
OPS = ("munmap", "madv-dontneed", "madv-free", "fork", "mprotect-ro", "write")
ops = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, PAGES - 1), st.integers(1, PAGES)),
               min_size=1, max_size=4)


def _run(arch, api, todo, monkeypatch=None):
    machine = boot(arch, cpus=2, pages=256, debug=False)
    machine.api = api
    mm = Kernel(machine).new_mm()
    vm_mmap(mm, BASE, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    vma = mm.find_vma(BASE)
    for f in range(FOLIOS):
        assert do_anonymous_folio(vma, BASE + f * 16 * PAGE_SIZE, 4)
    for i in range(PAGES):
        user_write(mm, machine.cpus[i % 2], BASE + i * PAGE_SIZE, i + 1)
    children = []
    for op, first, n in todo:
        n = min(n, PAGES - first)
        start, length = BASE + first * PAGE_SIZE, n * PAGE_SIZE
        if op == "fork":
            children.append(dup_mm(mm))
        elif op == "munmap":
            vm_munmap(mm, start, length)
        elif op in ("madv-free", "madv-dontneed"):
            do_madvise(mm, start, length, MADV_FREE if op == "madv-free" else MADV_DONTNEED)
        elif op == "write":
            try:
                user_write(mm, machine.cpus[1], start, first + 100)
            except SegmentationFault:
                pass
        elif all(mm.vmas_in(BASE + j * PAGE_SIZE, BASE + (j + 1) * PAGE_SIZE) for j in range(first, first + n)):
            do_mprotect(mm, start, length, PROT_READ)
        assert stale_translations(machine) == []
    mask = ~(ARCH_MASK | _PAGE_ACCESSED | _PAGE_DIRTY)
    entries = [[m.entry(BASE + i * PAGE_SIZE) & mask for i in range(PAGES)] for m in (mm, *children)]
    return entries, contents(machine, (mm, *children), BASE, PAGES), machine.mem.frames_in_use()


@pytest.mark.parametrize("arch", list(ARCHES))
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(todo=ops)
def test_batched_legacy_order0_legacy_and_txn_agree(arch, todo):
    batched = _run(arch, "legacy", todo)
    with pytest.MonkeyPatch.context() as patch:  # every page its own folio: no batch
        patch.setattr(PhysicalMemory, "folio", lambda self, pfn: (pfn, 1))
        alone = _run(arch, "legacy", todo)
    assert batched == alone == _run(arch, "txn", todo)


def test_the_batches_happen():
    """The test above compares batches, not three runs of the same code: on arm64 fork and
    munmap of the region write-protect and clear whole blocks in place (no unfold), where
    page by page each block is unfolded."""
    from ptelab.machine.counters import CONTPTE_UNFOLD

    def unfolds(folio=None):
        with pytest.MonkeyPatch.context() as patch:
            if folio is not None:
                patch.setattr(PhysicalMemory, "folio", folio)
            machine = boot("arm64", cpus=2, pages=256, debug=False)
            mm = Kernel(machine).new_mm()
            vm_mmap(mm, BASE, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
            for f in range(FOLIOS):
                do_anonymous_folio(mm.find_vma(BASE), BASE + f * 16 * PAGE_SIZE, 4)
            dup_mm(mm)
            vm_munmap(mm, BASE, PAGES * PAGE_SIZE)
            return machine.counters[CONTPTE_UNFOLD]

    assert unfolds() == 0 < unfolds(lambda self, pfn: (pfn, 1)) == FOLIOS
