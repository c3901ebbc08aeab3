"""What the transactional interface saves (issue 15): `ptelab cost`'s counters as ratios.

    .venv/bin/python bench/bench_cost_ratios.py [--sizes 64,4096] [--arch all] [--cpu-feature tlbirange]
        [--mthp] [--counters TLBI,dsb_ish,contpte_unfold]

For each mm operation, backend and region size, the legacy accessor code and the txn code
are measured by `ptelab.cost.measure` (a fresh machine each, two CPUs, no debug mode, the
result checked), and each group of `cost.NEVER_MORE` (flushes, IPIs, hypercalls,
invalidations) is compared.  Prints a markdown table: per operation and size, per backend,
the groups where txn costs less as `legacy -> txn (ratio)`, "=" where every group is equal;
it exits 1 if txn costs more anywhere (tests/test_txn.py asserts the same at 1, 64, 600).
With --counters, a second table: per operation, size and backend, each named counter (or
NEVER_MORE group) as legacy -> txn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ptelab.arch import ARCHES  # noqa: E402
from ptelab.cost import COST_COUNTERS, NEVER_MORE, OPERATIONS, cost_table, group, worse  # noqa: E402


def cell(row) -> str:
    parts = []
    for name in NEVER_MORE:
        legacy, txn = group(row["legacy"], name), group(row["txn"], name)
        if txn < legacy:
            ratio = f"{legacy / txn:.0f}x" if txn else "all"
            parts.append(f"{name} {legacy} -> {txn} ({ratio})")
    return "; ".join(parts) or "="


def count(counters, name: str) -> int:
    """A counter, or a NEVER_MORE group's sum."""
    return group(counters, name) if name in NEVER_MORE else counters[name]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,4096")
    parser.add_argument("--arch", default="all")
    parser.add_argument("--cpu-feature", action="append", default=[], help="machine.CPU_FEATURES (repeatable)")
    parser.add_argument("--mthp", action="store_true", help="regions in 64 KiB large folios (cost.measure)")
    parser.add_argument("--counters", default="", help="counters or NEVER_MORE groups, legacy -> txn, comma list")
    args = parser.parse_args(argv)
    arches = list(ARCHES) if args.arch == "all" else args.arch.split(",")
    unknown = [n for n in args.counters.split(",") if n and n not in COST_COUNTERS and n not in NEVER_MORE]
    if unknown:
        parser.error(f"--counters: unknown {', '.join(unknown)} (one of {', '.join((*NEVER_MORE, *COST_COUNTERS))})")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = cost_table(arches, list(OPERATIONS), sizes, features=tuple(args.cpu_feature), mthp=args.mthp)
    print("| operation | pages | " + " | ".join(arches) + " |")
    print("|---|---:|" + "---|" * len(arches))
    for operation in OPERATIONS:
        for pages in sizes:
            mine = {r["arch"]: r for r in rows if r["operation"] == operation and r["pages"] == pages}
            print(f"| {operation} | {pages} | " + " | ".join(cell(mine[a]) for a in arches) + " |")
    names = [n for n in args.counters.split(",") if n]
    if names:
        print("\n| operation | pages | backend | " + " | ".join(names) + " |")
        print("|---|---:|---|" + "---|" * len(names))
        for r in rows:
            cells = [f"{count(r['legacy'], n)} -> {count(r['txn'], n)}" for n in names]
            print(f"| {r['operation']} | {r['pages']} | {r['arch']} | " + " | ".join(cells) + " |")
    bad = [(r["operation"], r["arch"], r["pages"], worse(r)) for r in rows if worse(r)]
    for line in bad:
        print("txn costs more:", *line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
