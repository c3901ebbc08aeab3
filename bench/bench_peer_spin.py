"""ptelab against SPIN on the seed thread's powerpc64 hash race, side by side in one run.

    .venv/bin/python bench/bench_peer_spin.py [--rounds 5]

Needs `spin` and a C compiler (Debian: `apt-get install spin gcc`).  The peer is a Promela
model of the same race (bench/peers/seed-ppc64.pml: 2.6.27's mprotect on cpu0, a user access
through hash_page on cpu1, "never two valid HPTEs"); ptelab's side is the bundled
litmus/seed-mprotect.litmus on ppc64-2.6.27.  Each round measures, alternately:

- SPIN end to end: `spin -a`, `cc -O2 -DSAFETY pan.c`, `./pan -c0` (every error, so the whole
  state space is searched, as ptelab's search is), each step's wall time;
- pan's search alone: `./pan -c0 -w16` (a 64k-slot hash table; the default 128 MB table's
  allocation is most of pan's time on a space this small);
- ptelab end to end: `ptelab litmus litmus/seed-mprotect.litmus --arch ppc64-2.6.27 --jobs 1`,
  process start to verdict (the bytecode cached by a warm-up run, as an installed Python
  has it);
- ptelab's search alone: the exhaustive search of the same test in this process, the test
  already compiled.

The medians, and the ratios of the medians, are printed as a Markdown table.  Both sides
must find the race (pan's errors, ptelab's duplicate-hash-entry), or the script exits 1.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import os
import tempfile
import time
from pathlib import Path

from ptelab.explore.dpor import Bounds, Exhaustive
from ptelab.litmus import load

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "bench" / "peers" / "seed-ppc64.pml"
TEST = ROOT / "litmus" / "seed-mprotect.litmus"
ARCH = "ppc64-2.6.27"
# Python as installed: modules compiled once and their bytecode cached (an environment that
# forbids writing bytecode would measure compiling ptelab's sources at every start).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    """Run argv in cwd; its wall time and output.  A failing command stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=ENV)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:  # pan exits 0 with errors found; ptelab 0 when the expectation holds
        sys.exit(f"bench_peer_spin: {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def spin_round(work: Path) -> dict[str, float]:
    """One SPIN round: generate, compile, search; and the search alone with a small table."""
    generate, _ = timed(["spin", "-a", str(MODEL)], work)
    compile_, _ = timed(["cc", "-O2", "-DSAFETY", "-o", "pan", "pan.c"], work)
    search, out = timed(["./pan", "-c0"], work)
    if "errors: 0" in out:
        sys.exit("bench_peer_spin: pan found no error: the peer model does not show the race")
    alone, _ = timed(["./pan", "-c0", "-w16"], work)
    return {"spin -a": generate, "cc": compile_, "pan": search,
            "SPIN end to end": generate + compile_ + search, "pan search alone": alone}


def ptelab_round(ptelab: str, test) -> dict[str, float]:
    """One ptelab round: the CLI from process start to verdict; the search alone in-process."""
    end_to_end, out = timed([ptelab, "litmus", str(TEST), "--arch", ARCH, "--jobs", "1"], ROOT)
    if "duplicate-hash-entry" not in out:
        sys.exit("bench_peer_spin: ptelab did not report the duplicate HPTE")
    start = time.perf_counter()
    search = Exhaustive(test.scenario, ARCH, Bounds()).run(lambda result: None)
    alone = time.perf_counter() - start
    if search.cut:
        sys.exit(f"bench_peer_spin: ptelab's search was cut ({', '.join(sorted(search.cut))})")
    return {"ptelab end to end": end_to_end, "ptelab search alone": alone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args()
    for tool in ("spin", "cc"):
        if shutil.which(tool) is None:
            sys.exit(f"bench_peer_spin: `{tool}` is not installed (Debian: apt-get install spin gcc)")
    ptelab = str(Path(sys.executable).with_name("ptelab"))
    test = load(str(TEST))
    ptelab_round(ptelab, test)  # warm-up: the bytecode cache, the page cache
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name, value in {**spin_round(Path(tmp)), **ptelab_round(ptelab, test)}.items():
                times.setdefault(name, []).append(value)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"| {'measure':<22} | {'median s':>9} | {'min s':>7} | {'max s':>7} |")
    print(f"|{'-' * 24}|{'-' * 10}:|{'-' * 8}:|{'-' * 8}:|")
    for name, values in times.items():
        print(f"| {name:<22} | {median[name]:>9.3f} | {min(values):>7.3f} | {max(values):>7.3f} |")
    print()
    print(f"SPIN end to end / ptelab end to end: "
          f"{median['SPIN end to end'] / median['ptelab end to end']:.1f}x")
    print(f"ptelab search alone / pan search alone: "
          f"{median['ptelab search alone'] / median['pan search alone']:.1f}x")


if __name__ == "__main__":
    main()
