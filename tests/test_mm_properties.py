"""Random sequences of mm operations and user accesses on several CPUs, sequentially.

The reference model is what a process may expect of memory: a private page reads
the last value this process wrote to it (fork copies the expectation, COW must
honour it), a shared file page the last value any process wrote, through mremap,
swap-out and swap-in, writeback and reclaim.  After every step, no cached
translation grants more than the page tables, no lock is held, no batch is
pending; at the end, tearing everything down leaves no frame and no swap slot.
"""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ptelab.arch import ARCHES, boot
from ptelab.machine.coherence import stale_translations
from ptelab.mm.fault import SegmentationFault, user_read, user_write
from ptelab.mm.fork import dup_mm
from ptelab.mm.kernel import Kernel
from ptelab.mm.madvise import MADV_DONTNEED, MADV_FREE, do_madvise
from ptelab.mm.memory import BusError
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, vm_mmap, vm_munmap, exit_mmap
from ptelab.mm.mprotect import do_mprotect
from ptelab.mm.mremap import do_mremap
from ptelab.mm.page_writeback import writeback_mapping
from ptelab.mm.task_mmu import clear_refs
from ptelab.mm.truncate import truncate_setsize
from ptelab.mm.vmscan import reclaim_range, shrink_page

PAGE = 4096
LAZY = "lazy"  # MADV_FREE'd and not written since: the old value, or 0 once reclaimed

pick = st.integers(min_value=0, max_value=1 << 16)


class Region:
    def __init__(self, start, npages, file=None, values=None):
        self.start = start
        self.npages = npages
        self.file = file  # index into machine.files for a shared file mapping
        self.values = values  # anonymous: per page, a value or (LAZY, old)
        self.writable = True


class Proc:
    def __init__(self, mm):
        self.mm = mm
        self.regions: list[Region] = []


class MemorySemantics(RuleBasedStateMachine):
    ARCH = "x86"
    DEBUG = True  # debug mode checks every accessor call; MADV_FREE breaks a rule (test_debug.py)

    def __init__(self):
        super().__init__()
        self.kernel = Kernel(boot(self.ARCH, cpus=3, pages=256, debug=self.DEBUG))
        self.machine = self.kernel.machine
        self.procs = [Proc(self.kernel.new_mm())]
        self.files = []  # (mapping, content list)
        self.counter = 0

    # ---- helpers ---------------------------------------------------------------------
    def proc(self, i):
        return self.procs[i % len(self.procs)]

    def region(self, p, j):
        return p.regions[j % len(p.regions)]

    def cpu(self, k):
        return self.machine.cpus[k % len(self.machine.cpus)]

    def expected(self, region, page):
        if region.file is not None:
            mapping, content = self.files[region.file]
            return content[page] if page < mapping.size else BusError
        return region.values[page]

    def has_regions(self):
        return any(p.regions for p in self.procs)

    # ---- address-space operations ---------------------------------------------------
    @precondition(lambda self: len(self.procs) < 4)
    @rule()
    def new_process(self):
        self.procs.append(Proc(self.kernel.new_mm()))

    @rule(i=pick, npages=st.integers(1, 6))
    def mmap_anon(self, i, npages):
        p = self.proc(i)
        start = vm_mmap(p.mm, 0, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.regions.append(Region(start, npages, values=[0] * npages))

    @rule(i=pick, f=pick, npages=st.integers(1, 6))
    def mmap_shared_file(self, i, f, npages):
        p = self.proc(i)
        if not self.files or f % 2:
            mapping = self.kernel.new_file(f"f{len(self.files)}", npages)
            self.files.append((mapping, [0] * npages))
        index = f % len(self.files)
        mapping, _ = self.files[index]
        size = max(mapping.size, 1)
        start = vm_mmap(p.mm, 0, size * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mapping)
        p.regions.append(Region(start, size, file=index))

    @precondition(lambda self: self.has_regions())
    @rule(i=pick, j=pick, page=pick, k=pick)
    def write(self, i, j, page, k):
        p = self.proc(i)
        if not p.regions:
            return
        r = self.region(p, j)
        page %= r.npages
        self.counter += 1
        expect = self.expected(r, page)
        try:
            user_write(p.mm, self.cpu(k), r.start + page * PAGE, self.counter)
        except SegmentationFault:
            assert not r.writable
            return
        except BusError:
            assert expect is BusError
            return
        assert r.writable and expect is not BusError
        if r.file is not None:
            self.files[r.file][1][page] = self.counter
        else:
            r.values[page] = self.counter

    @precondition(lambda self: self.has_regions())
    @rule(i=pick, j=pick, page=pick, k=pick)
    def read(self, i, j, page, k):
        p = self.proc(i)
        if not p.regions:
            return
        r = self.region(p, j)
        page %= r.npages
        expect = self.expected(r, page)
        try:
            got = user_read(p.mm, self.cpu(k), r.start + page * PAGE)
        except BusError:
            assert expect is BusError
            return
        if isinstance(expect, tuple):  # lazily freed: either outcome, then it is settled
            assert got in (expect[1], 0), f"read {got}, expected {expect[1]} or 0"
            if got == 0:
                r.values[page] = 0
            return
        assert got == expect, f"{self.ARCH}: page {page} of {r.start:#x} read {got}, expected {expect}"

    @initialize(npages=st.integers(1, 6), k=pick)
    def populated_region(self, npages, k):
        self.mmap_anon(0, npages)
        self.write_region(0, 0, k)

    @precondition(lambda self: self.has_regions())
    @rule(k=pick)
    def read_everything(self, k):
        """Every process reads every page it maps."""
        for i, p in enumerate(self.procs):
            for j, r in enumerate(p.regions):
                for page in range(r.npages):
                    self.read(i, j, page, k + page)

    @precondition(lambda self: self.has_regions())
    @rule(i=pick, j=pick, k=pick)
    def write_region(self, i, j, k):
        p = self.proc(i)
        if p.regions:
            for page in range(self.region(p, j).npages):
                self.write(self.procs.index(p), j, page, k + page)

    @precondition(lambda self: self.files)
    @rule(f=pick)
    def reclaim_file(self, f):
        """Reclaim every cached page of a file from the page's side (rmap)."""
        mapping, _ = self.files[f % len(self.files)]
        for page in list(mapping.pages.values()):
            shrink_page(self.kernel, page)

    @rule(i=pick)
    def fork(self, i):
        if len(self.procs) >= 4:
            return
        p = self.proc(i)
        child = Proc(dup_mm(p.mm))
        for r in p.regions:
            copy = Region(r.start, r.npages, r.file, list(r.values) if r.values is not None else None)
            copy.writable = r.writable
            child.regions.append(copy)
        self.procs.append(child)

    @precondition(lambda self: self.has_regions())
    @rule(i=pick, j=pick, writable=st.booleans())
    def mprotect(self, i, j, writable):
        p = self.proc(i)
        if not p.regions:
            return
        r = self.region(p, j)
        do_mprotect(p.mm, r.start, r.npages * PAGE, PROT_READ | (PROT_WRITE if writable else 0))
        r.writable = writable

    @precondition(lambda self: self.has_regions())
    @rule(i=pick, j=pick)
    def munmap(self, i, j):
        p = self.proc(i)
        if not p.regions:
            return
        r = self.region(p, j)
        vm_munmap(p.mm, r.start, r.npages * PAGE)
        p.regions.remove(r)

    @precondition(lambda self: self.has_regions())
    @rule(i=pick, j=pick, grow=st.integers(1, 4))
    def mremap(self, i, j, grow):
        p = self.proc(i)
        anon = [r for r in p.regions if r.file is None]
        if not anon:
            return
        r = anon[j % len(anon)]
        r.start = do_mremap(p.mm, r.start, r.npages * PAGE, (r.npages + grow) * PAGE)
        r.npages += grow
        r.values += [0] * grow

    @precondition(lambda self: self.has_regions())
    @rule(i=pick, j=pick)
    def swap_out(self, i, j):
        p = self.proc(i)
        if not p.regions:
            return
        r = self.region(p, j)
        reclaim_range(self.kernel, p.mm, r.start, r.start + r.npages * PAGE)

    @precondition(lambda self: self.files)
    @rule(f=pick)
    def writeback(self, f):
        writeback_mapping(self.machine.mem, self.files[f % len(self.files)][0])

    @precondition(lambda self: self.files)
    @rule(f=pick, size=st.integers(0, 6))
    def truncate(self, f, size):
        mapping, content = self.files[f % len(self.files)]
        if size >= mapping.size:
            return
        truncate_setsize(self.machine.mem, mapping, size * PAGE)

    @precondition(lambda self: self.has_regions())
    @rule(i=pick, j=pick, free=st.booleans())
    def madvise(self, i, j, free):
        p = self.proc(i)
        if not p.regions:
            return
        r = self.region(p, j)
        free = free and not self.DEBUG
        do_madvise(p.mm, r.start, r.npages * PAGE, MADV_FREE if free else MADV_DONTNEED)
        if r.values is None:
            return
        if free:
            r.values = [v if isinstance(v, tuple) or v == 0 else (LAZY, v) for v in r.values]
        else:
            r.values = [0] * r.npages

    @rule(i=pick)
    def clear_refs(self, i):
        clear_refs(self.proc(i).mm)

    @precondition(lambda self: len(self.procs) > 1)
    @rule(i=pick)
    def exit(self, i):
        p = self.proc(i)
        exit_mmap(p.mm)
        self.procs.remove(p)

    # ---- invariants -------------------------------------------------------------------
    @invariant()
    def translations_are_coherent(self):
        assert stale_translations(self.machine) == []

    @invariant()
    def nothing_left_in_flight(self):
        assert not any(lock.held() for lock in self.machine.mem.ptl.values())
        for cpu in self.machine.cpus:
            assert not cpu.lazy_mmu
            # a hash MMU's batch is empty; arm64's TLBIs may stay pending past an operation
            # (ptep_clear_flush_young elides the DSB, pgtable.h:1249-1268), so it is not asked
            assert not getattr(cpu.arch_state, "entries", ())
        assert all(p.mm.tlb_flush_pending == 0 for p in self.procs)

    def teardown(self):
        for p in self.procs:
            exit_mmap(p.mm)
        for mapping, _ in self.files:
            truncate_setsize(self.machine.mem, mapping, 0)
        assert self.machine.mem.frames_in_use() == 1, "frames leaked (only the zero page may stay)"
        assert self.kernel.swap.slots_in_use() == 0, "swap slots leaked"


for _name in ARCHES:
    for _debug, _examples in ((True, 200), (False, 100)):
        _label = _name.replace("-", "_").replace(".", "_") + ("" if _debug else "_nodebug_madv_free")
        _cls = type(f"Test_{_label}", (MemorySemantics,), {"ARCH": _name, "DEBUG": _debug})
        _cls.TestCase.settings = settings(max_examples=_examples, stateful_step_count=50, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
        globals()[_cls.__name__] = _cls.TestCase
