"""Operation contracts: every cached translation knows which write of its PTE it was filled
from, and each mm operation's promise is checked at its return (explore/invariants.py)."""

from ptelab.explore.execution import Execution
from ptelab.explore.schedule import Replay
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse
from ptelab.machine.tlb import tlb_key


def _run(text: str, arch: str, schedule: list[int]):
    test = LitmusTest(parse("t.litmus", text))
    ex = Execution(test.scenario, arch, Replay(schedule), debug=False)
    return ex.run()


REFILL = """PTE refill
"cpu1 holds A; P0 writes A's entry twice; cpu1 then refills"
{
  A: anon rw, young, dirty;
  cpu1 has A in its TLB;
}
P0 @ cpu0 {
  pte_t old = ptep_get_and_clear(mm, A, pte_offset(A));
  set_pte_at(mm, A, pte_offset(A), old);
  flush_tlb_page(vma, A);
}
P1 @ cpu1 {
  int r = read(A);
}
"""


def test_a_translation_records_the_write_of_the_pte_it_was_filled_from():
    # P0 runs first, then P1.  With the flush, cpu1 refills from P0's second write (powerpc's
    # pte_update invalidates the HPTE itself, so the refill comes from the HPTE hash_page made
    # from that write); without it, x86's cpu1 keeps the entry it was given at build time,
    # before any write the explorer counted.
    no_flush = REFILL.replace("flush_tlb_page(vma, A);", "")
    for arch, text, seq in (("x86", REFILL, 2), ("ppc64", REFILL, 2), ("ppc64", no_flush, 2), ("x86", no_flush, 0)):
            world = _run(text, arch, []).world
            mm, va = world.state["mms"]["mm"], world.state["va"]["A"]
            entry = world.machine.cpus[1].tlb.entries.get(tlb_key(mm.context, va))
            assert entry is not None and entry[3] == seq, (arch, seq, entry)
            assert world.machine.mem.pte_seq[mm.pte_offset(va)] == 2
