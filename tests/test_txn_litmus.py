"""Litmus tests of multi-entry transactions (issue 15, G2/G3 across entries): pages that
share a vma (`follows`), in one PTE table or across two (`next table`), and a file that
names the mm code it runs (`api txn`)."""

from pathlib import Path

import pytest

from ptelab.arch import boot
from ptelab.explore.invariants import TORN_TRANSACTION
from ptelab.litmus import load
from ptelab.machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ptelab.pte import PAGE_SIZE, PFN_SHIFT, pte_none
from ptelab import txn

GROUP = """PTE group
{{
  {api}
  X: anon, value 9;
  A: {kind}, dirty, value 1;
  B: {kind}, value 2, follows A;
  C: {kind}, ro, vma rw, value 3, follows B, next table;
}}
P0 @ cpu0 {{
  int r = mprotect(mm, A, 3 * PAGE_SIZE, PROT_READ);
}}
forbid (P0.r != 0)
"""


def _built(path, arch="x86"):
    test = load(path)
    machine = boot(arch, cpus=test.scenario.ncpus, debug=False)
    world = test.scenario.build(machine, debug=False)
    return world.state["mms"]["mm"], world.state["va"]


@pytest.mark.parametrize("kind", ["anon", 'file "f" shared'])
def test_pages_that_follow_share_one_vma_and_next_table_starts_a_table(tmp_path, kind):
    path = tmp_path / "group.litmus"
    path.write_text(GROUP.format(api="", kind=kind))
    mm, va = _built(path)
    a, b, c = va["A"], va["B"], va["C"]
    assert (b, c) == (a + PAGE_SIZE, a + 2 * PAGE_SIZE)
    vma = mm.find_vma(a)
    assert (vma.start, vma.end) == (a, a + 3 * PAGE_SIZE)
    assert mm.find_vma(va["X"]) is not vma
    tables = [mm.pte_offset(x) >> PTE_TABLE_SHIFT for x in (a, b, c)]
    assert tables[0] == tables[1] != tables[2]
    assert mm.pte_offset(c) & PTE_INDEX_MASK == 0 and mm.pte_offset(b) & PTE_INDEX_MASK == PTE_INDEX_MASK
    frames = [mm.machine.mem.data[mm.entry(x) >> PFN_SHIFT] for x in (a, b, c)]
    assert frames == [1, 2, 3]
    if "file" in kind:
        assert [vma.file.store[vma.pgoff + k] for k in range(3)] == [1, 2, 3]


@pytest.mark.parametrize("api,opened", [("", 0), ("api legacy;", 0), ("api txn;", 3)])
def test_a_file_that_names_txn_runs_its_range_as_one_transaction_of_every_entry(tmp_path, monkeypatch,
                                                                                 api, opened):
    sizes = []
    apply = txn.PteTxn._apply

    def recording(self):
        sizes.append(len(self.intents))
        return apply(self)

    monkeypatch.setattr(txn.PteTxn, "_apply", recording)
    path = tmp_path / "group.litmus"
    path.write_text(GROUP.format(api=api, kind="anon"))
    assert load(path).check("x86", api="legacy").ok
    assert max(sizes, default=0) == opened


# ---- G3 across entries: torn-transaction catches a commit a walker could see torn ---------
SUITE = Path(__file__).resolve().parent.parent / "litmus"


def _set_then_clear(arch, vma, mm, addr, ptep, new_addr, new_ptep):
    """move_ptes' two writes the wrong way round: the destination set, then the source cleared."""
    old = arch.ptep_get(ptep)
    if pte_none(old):
        return old, old
    arch.set_pte_at(mm, new_addr, new_ptep, old)
    return arch.ptep_get_and_clear(mm, addr, ptep), 0


def _next_frame(arch, vma, mm, addr, ptep, newprot, dirty_writable):
    """A batched protect that writes each entry with its neighbour's frame."""
    old = arch.ptep_modify_prot_start(vma, addr, ptep)
    new = txn._protected(old, newprot, dirty_writable)
    arch.ptep_modify_prot_commit(vma, addr, ptep, old, new + (1 << PFN_SHIFT))
    return old, new


@pytest.mark.parametrize("arch", ["x86", "ppc64-6.12", "s390-6.12"])
@pytest.mark.parametrize("name,op,broken", [("txn-mremap-range", "move", _set_then_clear),
                                            ("txn-mprotect-range", "protect", _next_frame)])
def test_a_commit_a_walker_could_see_torn_is_caught(monkeypatch, arch, name, op, broken):
    test = load(SUITE / f"{name}.litmus")
    assert TORN_TRANSACTION not in test.check(arch).outcomes
    for table in [t for t in (txn._APPLY, txn._BREAK) if t[op] is txn._APPLY[op]]:
        monkeypatch.setitem(table, op, broken)
    if op == "protect":  # and the make of a backend that breaks before it makes
        made = txn._made
        monkeypatch.setattr(txn, "_made", lambda *args: made(*args) + (1 << PFN_SHIFT))
    result = test.check(arch)
    assert not result.ok and TORN_TRANSACTION in result.outcomes
    [torn] = [v for v in result.counterexamples[TORN_TRANSACTION].result.violations
              if v.invariant == TORN_TRANSACTION]
    assert ("at both" if op == "move" else "grants more than each entry") in torn.detail


# ---- a transaction whose entry a lock-breaking writer changed under it -------------------
def test_an_intent_refused_after_a_lock_held_breach_is_a_kernel_bug_not_an_internal_error():
    """rule-lock-held with --api txn on s390-2.6.27: the unlocked wrprotect empties the entry
    between the fault's check and its map (IPTE, none, store), so the transaction refuses its
    intent; that is reported as a kernel BUG beside the breach (it was an internal error, exit 4)."""
    result = load(SUITE / "rule-lock-held.litmus").check("s390-2.6.27", api="txn")
    assert result.outcomes["lock-held"] and result.outcomes["bug"], result.outcomes
    assert result.verdict == "FAIL"
