"""The visited set of the merged search: each explored state's fingerprint, with the summary
of its continuation and the actors asleep at every visit (explore/dpor.py, `merge=True`).

One set may be shared by several searches: the units of one split search (explore/parallel.py),
in one worker process (litmus/parallel.py keeps one a process for a search's units) or over a
Ray cluster (explore/cluster.py's `ShardedVisited`: the set sharded over actors by
fingerprint, as distributed TLC and SPIN shard theirs).  Why sharing is sound:

- *An entry is complete whoever wrote it.*  A search publishes a state only when it leaves
  it, its subtree explored (DFS leaves a state after every state below it): the summary then
  holds every footprint any actor had after it, and the actors not asleep were all explored
  from it.  A state still being explored somewhere is not in the set: a search meeting it
  explores it again, twice the work, never a missed race.  A copy of an entry taken earlier
  (a cache) is an entry some search published: complete for what it says.
- *Two entries of one state merge*: the summaries' union (what any search did after it) and
  the intersection of the actors asleep (an actor explored from it by either is explored).
  The state is the same (the fingerprint covers everything that decides what can happen
  next: explore/state.py), so what either explored from it holds for both.
- *No state above a unit's floor is published.*  A unit (explore/parallel.py Subtree) and
  a stopped search going on with its own subtree (`resume`: the sequential search, or a unit,
  each time a slice ends and what it left is handed on) explore one choice, or a few, at each
  state of their path above their floor: those states are not fingerprinted in a unit
  (`Exhaustive.merge_from`), and resume() forgets the fingerprints of the stopped search's
  states above its new floor, so none publishes a state whose subtree others hold.
- *The races a summary adds.*  Meeting a published state, a search races every step of its
  path against the summary (dpor.py `_summary_races`), which only adds backtrack points.
  Below a unit's floor the unit explores them itself; above it they are states of the top
  search, which tries every awake actor at each of its states (and, on the stopped
  sequential search's path, counts those that search tried as tried: it explored their
  subtrees), so every backtrack point asked there is explored by some unit or by the
  resumed search, as for the races found by executions (explore/parallel.py's soundness).
  A resumed search's floor is the state of its path at the cut: above it, the same holds.

Fingerprints name what lives as long as a process (classes, code, modules) by name, not by
address, and are salted with the process's string-hash seed (sets of strings iterate, and so
behave, by it): processes share a state only if their seeds agree.  Forked workers inherit
the parent's; explore/cluster.py gives Ray's workers one (PYTHONHASHSEED).
"""

from __future__ import annotations

from .footprint import union


def merged(known: tuple | None, summary: dict, asleep: frozenset) -> tuple:
    """A state's entry once a search has published (summary, asleep) for it."""
    if known is None:
        return summary, asleep
    total = {q: dict(fp) for q, fp in known[0].items()}
    for q, fp in summary.items():
        union(total.setdefault(q, {}), fp)
    return total, known[1] & asleep


class Visited:
    """The visited set in this process: fingerprint -> (summary, actors asleep at every visit)."""

    def __init__(self):
        self.table: dict[bytes, tuple[dict, frozenset]] = {}

    def get(self, key: bytes) -> tuple | None:
        return self.table.get(key)

    def publish(self, key: bytes, summary: dict, asleep: frozenset) -> None:
        self.table[key] = merged(self.table.get(key), summary, asleep)

    def flush(self) -> None:
        """Every entry published is in the set (here at once; explore/cluster.py's waits)."""

    def size(self) -> int:
        return len(self.table)

    __len__ = size
