"""Start-up: what a litmus verdict pays before and around its search (issue 16, item 5).

    .venv/bin/python bench/bench_startup.py [--rounds 7] [--before DIR]

Each figure is the wall-clock time of a fresh interpreter (its own process, this venv's python),
median and minimum of --rounds, the rows alternated round by round so the shared machine's
noise falls on all of them alike:
- `python -c pass`: the interpreter alone;
- `import ptelab.cli`: the command's module;
- the modules a litmus verdict imports (`ptelab.cli`, the litmus checker, report and matrix, the
  x86 backend);
- a whole verdict: `ptelab litmus litmus/rule-lock-held.litmus --arch x86 --jobs 1` (22 executions).
`python -X importtime` says which module costs what; this script measures what a user waits.
With `--before DIR` (another checkout, e.g. `git worktree add /tmp/before main`), every row is
also run on DIR/src (PYTHONPATH), alternated with this tree's, for a before/after in one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = {
    "python -c pass": ["-c", "pass"],
    "import ptelab.cli": ["-c", "import ptelab.cli"],
    "imports of a litmus verdict": ["-c", "import ptelab.cli, ptelab.litmus.check, ptelab.litmus.report, "
                                    "ptelab.litmus.matrix; from ptelab.arch import ARCHES; ARCHES['x86']"],
    "a whole verdict (rule-lock-held, x86)": ["-m", "ptelab.cli", "litmus", str(ROOT / "litmus/rule-lock-held.litmus"),
                                              "--arch", "x86", "--jobs", "1"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", metavar="DIR", help="another checkout to measure alternately (its src/)")
    args = parser.parse_args()
    trees = {"": None} if args.before is None else {"": None, "before: ": str(Path(args.before).resolve() / "src")}
    times: dict[str, list[float]] = {tree + row: [] for row in ROWS for tree in trees}
    for _ in range(args.rounds):
        for row, argv in ROWS.items():
            for tree, src in trees.items():
                env = dict(os.environ, PYTHONPATH=src) if src else None
                start = time.perf_counter()
                subprocess.run([sys.executable, *argv], check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
                times[tree + row].append(time.perf_counter() - start)
    print(f"| {'process':<48} | {'median s':>8} | {'min s':>6} |")
    print(f"|{'-' * 50}|{'-' * 9}:|{'-' * 7}:|")
    for row, seconds in times.items():
        print(f"| {row:<48} | {statistics.median(seconds):>8.3f} | {min(seconds):>6.3f} |")


if __name__ == "__main__":
    main()
