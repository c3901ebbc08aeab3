"""What debug mode costs: every workload with and without it, as a ratio.

    .venv/bin/python bench/bench_debug.py [--pages 20000] [--arch x86,ppc64-6.12]

Runs each workload of `ptelab run` (madv-free without debug only: debug mode stops
it, see docs/rules.md) best-of-3, sequentially, one process.  Ratios within one
run are what to compare; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import sys
import time

from ptelab.arch import boot
from ptelab.workloads import WORKLOADS, run_workload


def best_of(arch: str, workload: str, pages: int, debug: bool, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        machine = boot(arch, cpus=2, pages=pages, debug=debug)
        start = time.perf_counter()
        run_workload(machine, workload, pages)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--arch", default="x86,ppc64-6.12")
    args = parser.parse_args()
    print(f"{'arch':8} {'workload':15} {'off s':>7} {'on s':>7} {'ratio':>6}")
    for arch in args.arch.split(","):
        for workload in WORKLOADS:
            if workload == "madv-free":
                continue
            off = best_of(arch, workload, args.pages, False)
            on = best_of(arch, workload, args.pages, True)
            print(f"{arch:8} {workload:15} {off:7.3f} {on:7.3f} {on / off:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
