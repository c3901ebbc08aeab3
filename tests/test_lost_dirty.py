"""lost-dirty is exact (explore/invariants.py): a store is lost only when its data is on no
backing store and recorded dirty nowhere, so reclaim may discard it as clean."""

from pathlib import Path

from ptelab.explore.execution import Execution
from ptelab.explore.invariants import LOST_DIRTY
from ptelab.explore.schedule import Replay
from ptelab.litmus import load

SUITE = Path(__file__).resolve().parent.parent / "litmus"
P0, P1, P2 = 0, 1, 2
# zap-dirty-shared-noflush on x86: P0 clears the dirty shared entry, moves its Dirty to the
# page, drops the rmap and the PTE lock (steps: start, spin_lock, the clear, spin_unlock,
# invlpg), its flush to cpu1 still to come; cpu1 (P1) stores through its stale TLB entry;
# P2 writes the page back (write_one_page, one step: the page is mapped nowhere).
ZAP_UNLOCKED = [P0] * 5


def _run(schedule):
    test = load(SUITE / "zap-dirty-shared-noflush.litmus")
    return Execution(test.scenario, "x86", Replay(schedule), debug=False).run()


def _file_block(result) -> int:
    mem = result.world.machine.mem  # A's page is frame 2, block 0 of file "f"
    return mem.mapping[2].store[mem.index[2]]


def test_a_store_before_writebacks_clean_is_written_back_not_lost():
    result = _run(ZAP_UNLOCKED + [P1, P1, P2])
    assert [v.invariant for v in result.violations] == []
    assert _file_block(result) == 2  # the store reached the file


def test_a_store_after_writebacks_clean_is_lost_and_named():
    result = _run(ZAP_UNLOCKED + [P1, P2, P1])
    lost = [v for v in result.violations if v.invariant == LOST_DIRTY]
    assert len(lost) == 1, result.violations
    detail = lost[0].detail
    assert "cpu1's store" in detail and "holding 2" in detail and "block 0 of file 'f' holds 0" in detail
    assert _file_block(result) == 0 and result.world.machine.mem.data[2] == 2


def test_the_step_table_shows_what_writeback_wrote(capsys):
    from ptelab.cli import main

    main(["litmus", str(SUITE / "zap-dirty-shared-noflush.litmus"), "--arch", "x86",
          "--replay", "P0*5 P1 P2 P1 P0*2"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "written to" in line)
    assert "P2" in row and "frame 2 written to block 0 of file 'f' (0)" in row
    assert "left frame 2 holding 2, block 0 of file 'f' holds 0" in out
