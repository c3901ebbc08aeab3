"""Litmus tests of multi-entry transactions (issue 15, G2/G3 across entries): pages that
share a vma (`follows`), in one PTE table or across two (`next table`), and a file that
names the mm code it runs (`api txn`)."""

import pytest

from ptelab.arch import boot
from ptelab.litmus import load
from ptelab.machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ptelab.pte import PAGE_SIZE, PFN_SHIFT
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
