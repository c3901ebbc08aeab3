"""The footprint reductions of the powerpc hash MMUs (issue 16), each on explicit scenarios:
the search with the reduction reaches every final state naive enumeration reaches, where the
reduction does cut executions; and a companion makes the reduction too aggressive and
asserts that the search then misses a final state naive enumeration reaches.  The companion
is what shows the first test can fail: it asserts the broken variant is caught.

A final state is the test's observation and the machine state (test_odpor.machine_state:
every watched entry, every TLB, every valid HPTE, every frame), with the invariants broken.
The reductions:
- hash bits (explore/footprint.py): a step that wrote only ppc64's H_PAGE_BUSY, HASHPTE and
  slot bits commutes with a read of the other bits only;
- tlbie reads (arch/hash_mmu.py HashMmu._flush_everywhere): a tlbie on a TLB that holds no
  entry for the page is only a read of that TLB;
- ppc32's create_hpte of an entry that was not hashed (arch/ppc32_hash.py): no tlbie, so its
  step only reads the TLBs it announced as written;
- ppc64 hash_page's hpte_updatepp that leaves the HPTE as it was (arch/ppc64_hash.py): the
  same protection, recorded from the same write of the entry, only reads the hash table;
- a frame's content apart from its struct page (explore/points.py _PageData): a user store
  writes ("data", pfn) and reads ("frame", pfn), so the checks of the translations that map
  the frame (which read its allocation) do not order themselves against it.
"""

import re

import pytest

from ptelab.arch.hash_mmu import HashMmu
from ptelab.arch.ppc32_hash import Ppc32Hash
from ptelab.explore import dpor
from ptelab.explore.execution import Execution
from ptelab.explore.footprint import HASH_BITS, OTHER_BITS
from ptelab.explore.points import Controlled
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse
from ptelab.machine.hash_table import HashPageTable

from .test_odpor import CREATE_HIT, MPROTECT, PEEK, TLBIE_HIT, _fault_text, _search, machine_state

HASHED = "anon rw, young, clean, hashed"  # its HPTE read-only: the entry is clean
READ, WRITE, CPU1_READ = "int r1 = read(A);", "write(A, 1);", "int r2 = read(A);"


def _run(text: str, arch: str, *patches, naive: bool = False):
    """(the Search, every final state and broken invariant it reached) with `patches`
    ((owner, name, value)) applied for the search only; the search must be complete."""
    with pytest.MonkeyPatch.context() as m:
        for owner, name, value in patches:
            m.setattr(owner, name, value)
        search, finals, outcomes = _search(LitmusTest(parse("teeth.litmus", text)), arch,
                                           naive=naive, state=machine_state)
    assert search.complete
    return search, finals | {f"outcome {o}" for o in outcomes}


def _sound_and_cuts(text: str, arch: str, *without) -> None:
    """The search reaches what naive enumeration reaches, in fewer executions than with the
    reduction taken out (`without`): the scenario exercises it."""
    search, finals = _run(text, arch)
    assert finals == _run(text, arch, naive=True)[1]
    assert search.executions < _run(text, arch, *without)[0].executions


def _missed(text: str, arch: str, *broken) -> set:
    """What naive enumeration reaches and the search with the `broken` reduction does not."""
    naive = _run(text, arch, naive=True)[1]
    reduced = _run(text, arch, *broken)[1]
    assert reduced <= naive  # a reduction leaves states out, it makes none up
    return naive - reduced


def _then_every_tlb_read(function):
    """`function`, after which its step's footprint says every TLB was only read."""
    def broken(self, *args):
        result = function(self, *args)
        for loc in self._all_tlbs:
            self._only_read(loc)
        return result
    return broken


# ---- hash bits -----------------------------------------------------------------------------
# hash_page's ldarx/stdcx. loop sets H_PAGE_BUSY with Accessed (and Dirty for a store), the
# store after the HPTE insert clears BUSY and records HASHPTE and the slot (6.12
# arch/powerpc/mm/book3s64/hash_4k.c:35-53 and :127; the bits: include/asm/book3s/64/
# hash-4k.h:42-49).  When Accessed (and Dirty) were set already the first changes BUSY only,
# and the second never changes more than the hash bits unless a store changed the entry while
# BUSY was held: both are then hash-bits-only writes (ppc64_hash.py hash_page).
NEVER_APART = (dpor, "apart", lambda a, b: False)  # the reduction taken out


def _peeked(final: str) -> str:
    """The entry cpu1's ptep_get saw (P1.g), in a final state of PEEK's scenario."""
    return re.search(r"'P1\.g', '([^']*)'", final).group(1)


def test_hash_bit_writes_are_ordered_against_a_read_of_the_whole_entry():
    """cpu1's ptep_get reads the whole entry, hash bits included: it sees it before
    hash_page's BUSY store, while BUSY is held, or hashed; the search reaches all three."""
    text = _fault_text("hash-bits-peek", "anon rw, young, clean", [READ, PEEK])
    search, finals = _run(text, "ppc64-6.12")
    assert finals == _run(text, "ppc64-6.12", naive=True)[1]
    assert len({_peeked(final) for final in finals}) == 3


def test_hash_bit_writes_commute_with_other_bit_reads_and_lose_no_state():
    """Two CPUs fault on a missing page (fault-2cpu-1page): the second hash_page finds
    Accessed and Dirty set by the Linux fault, and its BUSY stores commute with the other
    CPU's store, whose lost-dirty read reads the entry's Dirty bit only.  Naive enumeration
    does not end here (over 60,000 executions); the reference is the search without the
    reduction, whose final states test_odpor's properties compare with naive enumeration on
    smaller scenarios."""
    text = _fault_text("hash-bits", "anon none", [WRITE, "write(A, 2);"])
    search, finals = _run(text, "ppc64-6.12")
    unreduced, reference = _run(text, "ppc64-6.12", NEVER_APART)
    assert finals == reference and search.executions < unreduced.executions


def test_a_whole_entry_read_taken_for_an_other_bits_read_is_caught():
    """Broken on purpose: every load of an entry (ptep_get, the Linux fault's loads) is taken
    for a read of the other bits only, so it commutes with hash_page's hash-bit stores.
    ptep_get returns the whole entry, H_PAGE_BUSY and HASHPTE included: the broken search
    loses the peeks that see BUSY held (or not yet), which is what makes the test above
    fail if a read is marked as reading less than it does."""
    point = Execution.point

    def loads_as_other_bits(self, loc, write, what, enabled=None, also=None):
        if write is False and loc[0] == "pte":
            write = OTHER_BITS
        return point(self, loc, write, what, enabled, also)

    text = _fault_text("hash-bits-peek", "anon rw, young, clean", [READ, PEEK])
    missed = _missed(text, "ppc64-6.12", (Execution, "point", loads_as_other_bits))
    assert any("BUSY" in _peeked(final) for final in missed)


def test_the_store_clearing_busy_changes_the_hash_bits_only():
    """Every writer of a ppc64 entry spins while H_PAGE_BUSY is set: pte_update and
    hash__ptep_set_access_flags ("and. BUSY; bne- 1b", 6.12 include/asm/book3s/64/
    hash.h:165-184, 225-244), and set_pte_at stores only to an entry hash_page never locks
    (not present, or between ptep_modify_prot_start and commit).  So hash_page's store
    clearing BUSY, which writes the whole entry it computed, never meets a change made
    meanwhile and is a hash-bits-only write.  A write fault's ptep_set_access_flags racing
    a read's hash_page, and mprotect's, show it; before ptep_set_access_flags waited, the
    first met BUSY held and the store clearing it overwrote RW and Dirty."""
    take_step, seen = Execution._take_step, []

    def watched(self, actor):
        footprint = take_step(self, actor)
        if self.step.what == "hash_page: store, clearing BUSY":
            seen.extend(write for loc, write in footprint.items() if loc[0] == "pte")
        return footprint

    for page, blocks in (("anon ro, young, clean, vma rw", [WRITE, CPU1_READ]),
                         ("anon rw, young, clean", [READ, MPROTECT])):
        _run(_fault_text("busy", page, blocks), "ppc64-6.12", (Execution, "_take_step", watched))
    assert seen and set(seen) == {HASH_BITS}


# Not caught: a write marked hash-bits-only although it also set Accessed or Dirty (hash_page's
# BUSY store, whatever it changed, or the store clearing BUSY as well).  No scenario here, none
# of the property's examples, and no bundled litmus test on ppc64-6.12 (final machine states
# and broken invariants, against the unbroken search) tells it apart, for two reasons.  No
# read of the other bits only looks at Accessed: they are the checks, which read present,
# pfn and RW (machine/coherence.py grants_more) and Dirty (invariants.py _check_dirty), and a
# store's lost-dirty read (Dirty); for Accessed the marking would even be sound.  Dirty
# matters to the lost-dirty check only, which could be answered differently by the order of
# that store and an operation's end only after a store through a stale writable translation
# to an entry cleaned meanwhile (hash_page makes an HPTE writable only from a Dirty entry:
# htab_convert_pte_flags); then the same broken invariant is reached by other orders too,
# and an execution that breaks one records no final state to compare.  The store clearing
# BUSY changes nothing but the hash bits at all (the test above).


# ---- tlbie reads ---------------------------------------------------------------------------
# A tlbie invalidates the TLB entries that translate the page, on every processor, and no
# other (Power ISA 2.03 Book III-S 4.9.4, "Lookaside Buffer Management", tlbie: "for each TLB
# entry, if entry_VA matches, then TLB entry <- invalid"; the 32-bit Programming Environments
# manual's tlbie the same): on a TLB that holds none it is a read, ordered only against the
# steps that write that TLB (a fill).
# ppc64: mprotect's ptep_modify_prot_start queues the HPTE's invalidation in the lazy batch
# (6.12 arch/powerpc/mm/book3s64/pgtable.c:534-546), issued at arch_leave_lazy_mmu_mode
# (__flush_tlb_pending, hash_tlb.c:103-133; native_hpte_invalidate's tlbie, hash_native.c).
# ppc32: a write to a hashed, clean entry runs create_hpte on a hashed entry, which issues
# tlbie (arch/powerpc/mm/book3s32/hash_low.S:355, 6.12).
TLBIE_SCENARIOS = {
    ("ppc64-6.12", "held"): TLBIE_HIT,  # cpu0's load may hit its TLB before mprotect's tlbie
    ("ppc64-6.12", "not held"): _fault_text("tlbie", HASHED, [READ, MPROTECT]),
    ("ppc32", "held"): CREATE_HIT,  # cpu1's load may hit its TLB before cpu0's create_hpte
    ("ppc32", "not held"): _fault_text("tlbie", HASHED, [WRITE, CPU1_READ]),
}


def _flush_writing_every_tlb(self, mm, va):
    """_flush_everywhere without the reduction: every TLB stays written, as announced."""
    for cpu in self.machine.cpus:
        cpu.tlb.flush_page(mm.context, va)


@pytest.mark.parametrize("arch", ["ppc64-6.12", "ppc32"])
def test_a_tlbie_of_a_page_a_tlb_does_not_hold_only_reads_it_and_loses_no_state(arch):
    """The TLB of the CPU that loads holds no entry for the page when the tlbie comes, or it
    is filled after it: the tlbie only reads it, and commutes with that CPU's TLB lookups."""
    _sound_and_cuts(TLBIE_SCENARIOS[arch, "not held"], arch, (HashMmu, "_flush_everywhere", _flush_writing_every_tlb))
    held = TLBIE_SCENARIOS[arch, "held"]
    assert _run(held, arch)[1] == _run(held, arch, naive=True)[1]


@pytest.mark.parametrize("arch", ["ppc64-6.12", "ppc32"])
def test_a_tlbie_taken_for_a_read_of_a_tlb_that_holds_the_page_is_caught(arch):
    """Broken on purpose: a tlbie says it only read every TLB, the ones it dropped the page
    from as well.  The load that hits its TLB then commutes with the tlbie, and the search
    explores one order only: the final state of the other (the load before the tlbie, which
    leaves that TLB without the page, or after it, a hash fault that fills it again) is
    missed.  This is what makes the test above fail for a tlbie that reads too much."""
    broken = (HashMmu, "_flush_everywhere", _then_every_tlb_read(HashMmu._flush_everywhere))
    assert _missed(TLBIE_SCENARIOS[arch, "held"], arch, broken)


# ---- ppc32 create_hpte reads ---------------------------------------------------------------
# create_hpte tests _PAGE_HASHPTE in the old entry and issues tlbie only when it is set (6.12
# arch/powerpc/mm/book3s32/hash_low.S:355, "skip the search if it is clear, meaning that the
# HPTE isn't there already"): for an entry that was not hashed its step writes no TLB.
def _and_every_tlb_written_if_not_hashed(create_hpte):
    """create_hpte without the reduction: for an entry not hashed every TLB stays written,
    as announced."""
    def unreduced(self, mm, va, vpn, pte, old, seq):
        create_hpte(self, mm, va, vpn, pte, old, seq)
        if not old & self.HASHPTE:
            for loc in self._all_tlbs:
                self._touch(loc, True)
    return unreduced


def test_create_hpte_of_an_entry_not_hashed_only_reads_the_tlbs_and_loses_no_state():
    """cpu0's write fault hashes a young, clean entry (no tlbie) while cpu1's load looks up
    its TLB; with a hashed entry (the tlbie) the search also reaches naive's states."""
    unreduced = (Ppc32Hash, "create_hpte", _and_every_tlb_written_if_not_hashed(Ppc32Hash.create_hpte))
    _sound_and_cuts(_fault_text("create", "anon rw, young, clean", [WRITE, CPU1_READ]), "ppc32", unreduced)
    assert _run(CREATE_HIT, "ppc32")[1] == _run(CREATE_HIT, "ppc32", naive=True)[1]


def test_create_hpte_taken_for_reads_of_a_hashed_entry_is_caught():
    """Broken on purpose: create_hpte says it only read the TLBs whether or not the entry
    was hashed, so its tlbie no longer orders it against cpu1's load that hits its TLB; the
    search then misses a state naive enumeration reaches.  This is what makes the test above
    fail if the reads are applied to a hashed entry."""
    broken = (Ppc32Hash, "create_hpte", _then_every_tlb_read(Ppc32Hash.create_hpte))
    assert _missed(CREATE_HIT, "ppc32", broken)


# ---- the fault's loads, compared with pte_same ---------------------------------------------
# handle_pte_fault's orig_pte and its recheck under the lock (6.12 mm/memory.c:5798-5801) and
# ptep_set_access_flags's comparison (arch/powerpc/mm/pgtable.c:243-255) use the entry only
# through pte_same, which on hash leaves _PAGE_HPTEFLAGS out (hash__pte_same, include/asm/
# book3s/64/hash.h:246-249), and accessors that read no hash bit: those loads read the other
# bits only (GenericArch.ptep_get_compared) and commute with hash_page's hash-bit stores.
def _compared_loads_whole(point):
    """Execution.point with the compared loads announced as reads of the whole entry."""
    def unreduced(self, loc, write, what, enabled=None, also=None):
        return point(self, loc, False if write == OTHER_BITS else write, what, enabled, also)
    return unreduced


def test_pte_same_leaves_the_hash_bits_out_on_ppc64_only():
    """ppc64's pte_same ignores H_PAGE_BUSY, HASHPTE and the slot, and nothing else; x86's
    compares every bit."""
    from ptelab.arch import boot
    from ptelab.arch.ppc64_hash import _PAGE_BUSY, _PAGE_F_GIX, _PAGE_HASHPTE
    from ptelab.pte import _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW

    entry = (5 << 12) | _PAGE_PRESENT | _PAGE_RW
    ppc64, x86 = boot("ppc64-6.12").arch, boot("x86").arch
    assert ppc64.pte_same(entry, entry | _PAGE_BUSY | _PAGE_HASHPTE | _PAGE_F_GIX)
    assert not ppc64.pte_same(entry, entry | _PAGE_DIRTY) and not ppc64.pte_same(entry, entry | _PAGE_ACCESSED)
    assert not x86.pte_same(entry, entry | _PAGE_DIRTY) and x86.pte_same(entry, entry)


def test_the_faults_compared_loads_read_the_other_bits_and_lose_no_state():
    """cpu0's write to a read-only page takes the Linux fault (do_wp_page's reuse), which
    loads and rechecks the entry while cpu1's hash_page sets and clears BUSY on it: the
    search reaches naive enumeration's final states, in fewer executions than with those
    loads taken as reads of the whole entry.  (Two CPUs on a missing page gain too, but
    naive enumeration does not end there in reasonable time.)"""
    unreduced = (Execution, "point", _compared_loads_whole(Execution.point))
    text = _fault_text("compared", "anon ro, young, clean, vma rw", [WRITE, CPU1_READ])
    _sound_and_cuts(text, "ppc64-6.12", unreduced)


# ---- a frame's content apart from its struct page ---------------------------------------------
def _data_as(kind: str, write=None):
    """Execution.touch and .checked with every access of a frame's content taken for an access
    of `kind` (and, if given, for a write or a read), as a pair of patches."""
    touch, checked = Execution.touch, Execution.checked

    def moved(loc):
        return (kind, loc[1]) if loc[0] == "data" else loc

    def as_touch(self, loc, access):
        if loc[0] == "data" and write is not None:
            access = write
        return touch(self, moved(loc), access)

    return (Execution, "touch", as_touch), (Execution, "checked", lambda self, loc: checked(self, moved(loc)))


WRITABLE = "cpu0 has A writable in its TLB;"


@pytest.mark.parametrize("blocks, fill", [([WRITE, MPROTECT], WRITABLE), ([WRITE, CPU1_READ], "cpu1 may fill A;")])
def test_a_frames_content_apart_from_its_struct_page_loses_no_state(blocks, fill):
    """cpu0's store through a writable TLB entry races with cpu1's mprotect and its flush, or
    with cpu1's load while the MMU may fill cpu1's TLB: the checks of the translations read
    the frame's allocation, which the store only reads, so they commute with it; the search
    reaches naive enumeration's final states (frames' contents included) in fewer executions
    than with the content one location with the struct page (the reduction taken out)."""
    _sound_and_cuts(_fault_text("data", "anon rw, young, dirty", blocks, fill), "x86", *_data_as("frame"))


def test_a_stores_content_taken_for_a_read_is_caught():
    """Broken on purpose: a store's write of the frame's content taken for a read, so that two
    stores to one frame commute: the search loses the order in which cpu0's store is last."""
    text = _fault_text("data-stores", "anon rw, young, dirty", [WRITE, "write(A, 2);"],
                       WRITABLE + " cpu1 has A writable in its TLB;")
    missed = _missed(text, "x86", *_data_as("data", write=False))
    assert any("('*A', 1)" in final for final in missed)


# ---- ppc64's hpte_updatepp that changes nothing ------------------------------------------------
def _hash_writes_as_reads(kind: str):
    """Execution.only_read with the reduction taken out (`kind` "without": an HPTE update
    that changes nothing stays a write) or made too aggressive ("inserts": every HPTE insert
    is taken for a read, though it changed the table), as a patch."""
    only_read = Execution.only_read

    def without(self, loc):
        if loc[0] != "hash":
            only_read(self, loc)
    if kind == "without":
        return Execution, "only_read", without
    insert = HashPageTable.insert

    def insert_read(self, vpn, *args):
        slot = insert(self, vpn, *args)
        Controlled.ctl.only_read(("hash", vpn))
        return slot
    return HashPageTable, "insert", insert_read


@pytest.mark.parametrize("blocks", [[READ, CPU1_READ], [WRITE, "write(A, 2);"]])
def test_an_hpte_update_that_changes_nothing_only_reads_and_loses_no_state(blocks):
    """Two CPUs access a page that is not hashed: the second hash_page finds HASHPTE set and
    updates the HPTE the first inserted with the protection it has (hash_4k.c:67-77, 6.12),
    which changes nothing; the search reaches naive enumeration's final states in fewer
    executions than with that update a write of the hash table."""
    _sound_and_cuts(_fault_text("updatepp", "anon rw, young, clean", blocks), "ppc64-6.12",
                    _hash_writes_as_reads("without"))


def test_an_hpte_insert_taken_for_a_read_is_caught():
    """Broken on purpose: an HPTE insert taken for a read of the hash table, though it changed
    it, so it commutes with cpu1's speculative hash search: the search loses the orders in
    which cpu1's MMU fills its TLB from the new HPTE before cpu1 reads the entry, which is
    what the test above relies on to fail if an update that changes the HPTE were taken for a
    read.  (That broken variant itself loses no final state on the scenarios tried, test_odpor's
    machine-state property included: an update changes the protection inside hash_page's BUSY
    window, after the entry changed, and a search that sees the old protection there fills
    what a search before the window fills.)"""
    text = _fault_text("insert", "anon rw, young, clean", [READ, PEEK], "cpu1 may fill A;")
    assert _missed(text, "ppc64-6.12", _hash_writes_as_reads("inserts"))


def _recheck_whole():
    """Patches: memory._set_new_pte's recheck (vmf_pte_changed's pte_none) loads the whole
    entry, as it did before it read the other bits only (the CPUs inside it: ptep_get_compared
    is ptep_get for them)."""
    from ptelab.debug import DebugArch
    from ptelab.mm import memory

    inside, set_new_pte, compared = set(), memory._set_new_pte, DebugArch.ptep_get_compared

    def unreduced(vma, addr, ptep, entry):
        cpu = vma.mm.machine.this_cpu.id
        inside.add(cpu)
        try:
            return set_new_pte(vma, addr, ptep, entry)
        finally:
            inside.discard(cpu)

    def load(self, ptep):
        return self.ptep_get(ptep) if self._machine.this_cpu.id in inside else compared(self, ptep)
    return (memory, "_set_new_pte", unreduced), (DebugArch, "ptep_get_compared", load)


def test_pte_none_leaves_the_hash_bits_out():
    """What lets the recheck of an entry that was none read the other bits only: pte_none
    ignores H_PAGE_BUSY, HASHPTE and the slot (hash__pte_none), and nothing else."""
    from ptelab.arch.ppc64_hash import _PAGE_BUSY, _PAGE_F_GIX, _PAGE_HASHPTE
    from ptelab.pte import _PAGE_PRESENT, pte_none

    assert pte_none(_PAGE_BUSY | _PAGE_HASHPTE | _PAGE_F_GIX)
    assert not pte_none(_PAGE_PRESENT) and not pte_none(5 << 16)


def test_the_recheck_of_a_none_entry_reads_the_other_bits_and_loses_no_state():
    """Two CPUs fault on a missing page: the second, under the PTE lock, rechecks the entry
    the first installed while the first's hash_page sets and clears BUSY on it.  Naive
    enumeration does not end here; the reference is the search with the compared loads read
    whole (test_odpor's properties compare it with naive enumeration on smaller scenarios):
    the same final states, in fewer executions than with the recheck loading the whole entry."""
    text = _fault_text("recheck", "anon none", [WRITE, "write(A, 2);"])
    search, finals = _run(text, "ppc64-6.12")
    assert finals == _run(text, "ppc64-6.12", (Execution, "point", _compared_loads_whole(Execution.point)))[1]
    whole = _run(text, "ppc64-6.12", *_recheck_whole())[0]
    assert search.executions < whole.executions
