"""mprotect throughput and the memory of a large mm, per architecture.

    .venv/bin/python bench/bench_mprotect.py [--pages 1000000] [--arch x86,ppc64-6.12]

Each architecture runs in its own process (so its peak RSS is its own): map and
touch N anonymous pages, then mprotect the whole region read-only and back to
read-write.  Reported: PTE updates per second over the two mprotect calls (2N
updates), and the RSS the populated mm added to a fresh interpreter.  The numbers
land in docs/benchmarks.md; compare architectures as ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def measure(arch: str, pages: int, debug: bool) -> dict:
    from ptelab.arch import boot
    from ptelab.mm.fault import user_write
    from ptelab.mm.kernel import Kernel
    from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap
    from ptelab.mm.mprotect import do_mprotect

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    machine = boot(arch, cpus=2, pages=pages, debug=debug)
    kernel = Kernel(machine)
    mm = kernel.new_mm()
    size = pages * 4096
    addr = vm_mmap(mm, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    cpu = machine.cpus[0]
    start = time.perf_counter()
    for va in range(addr, addr + size, 4096):
        user_write(mm, cpu, va, va)
    populate = time.perf_counter() - start
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_kb) / 1024
    start = time.perf_counter()
    changed = do_mprotect(mm, addr, size, PROT_READ)
    changed += do_mprotect(mm, addr, size, PROT_READ | PROT_WRITE)
    elapsed = time.perf_counter() - start
    assert changed == 2 * pages
    return {"arch": arch, "pages": pages, "debug": debug, "populate_s": round(populate, 2),
            "mprotect_s": round(elapsed, 3), "updates_per_s": round(changed / elapsed),
            "rss_mb": round(rss_mb, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--arch", default="x86,ppc64-6.12")
    parser.add_argument("--debug", action="store_true", help="measure with debug mode on too")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.pages, args.debug)))
        return 0
    rows = []
    for arch in args.arch.split(","):
        for debug in ([False, True] if args.debug else [False]):
            cmd = [sys.executable, __file__, "--one", arch, "--pages", str(args.pages)] + (["--debug"] if debug else [])
            rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    print(f"{'arch':14} {'debug':>5} {'pages':>9} {'populate s':>10} {'mprotect s':>10} {'updates/s':>11} {'RSS MB':>7}")
    for r in rows:
        print(f"{r['arch']:14} {str(r['debug']):>5} {r['pages']:>9} {r['populate_s']:>10} {r['mprotect_s']:>10} "
              f"{r['updates_per_s']:>11,} {r['rss_mb']:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
