"""A focused property: parent and child after fork, each doing random things to a few
shared pages, always read what they themselves last wrote."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ptelab.arch import ARCHES, boot
from ptelab.machine.coherence import stale_translations
from ptelab.mm.fault import SegmentationFault, user_read, user_write
from ptelab.mm.fork import dup_mm
from ptelab.mm.kernel import Kernel
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap
from ptelab.mm.mprotect import do_mprotect
from ptelab.mm.vmscan import reclaim_range

PAGES = 3
ops = st.lists(st.tuples(st.sampled_from(["write", "read", "swap", "ro", "rw", "fork"]),
                         st.integers(0, 1), st.integers(0, PAGES - 1), st.integers(0, 2)),
               min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(list(ARCHES)), ops)
def test_fork_cow_keeps_each_side_its_own_values(arch, steps):
    kernel = Kernel(boot(arch, cpus=3))
    cpus = kernel.machine.cpus
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    procs = [[mm, [0] * PAGES, True]]
    value = 0
    for op, who, page, cpu in steps:
        proc = procs[who % len(procs)]
        target, values, writable = proc
        va = addr + page * 4096
        if op == "write":
            value += 1
            try:
                user_write(target, cpus[cpu], va, value)
                assert writable
                values[page] = value
            except SegmentationFault:
                assert not writable
        elif op == "read":
            assert user_read(target, cpus[cpu], va) == values[page]
        elif op == "swap":
            reclaim_range(kernel, target, addr, addr + PAGES * 4096)
        elif op == "fork" and len(procs) < 3:
            procs.append([dup_mm(target), list(values), writable])
        elif op in ("ro", "rw"):
            do_mprotect(target, addr, PAGES * 4096, PROT_READ | (PROT_WRITE if op == "rw" else 0))
            proc[2] = op == "rw"
        assert stale_translations(kernel.machine) == []
    for target, values, _ in procs:
        assert [user_read(target, cpus[0], addr + i * 4096) for i in range(PAGES)] == values
