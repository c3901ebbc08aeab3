"""What scheduling points cost a sequential run: this tree against another revision.

    .venv/bin/python bench/bench_points.py [--against REV] [--pages 200000] [--rounds 5]

Checks out REV (default: the commit before the explorer, 6b02971) into a temporary
git worktree and runs bench/bench_mprotect.py's measurement from both trees in
alternating subprocesses, so both see the same machine load.  Reported per backend:
the median mprotect PTE updates/s of each tree and their ratio (target: this tree
no more than 10% slower).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(tree: Path, arch: str, pages: int) -> float:
    env = {"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, str(tree / "bench" / "bench_mprotect.py"), "--one", arch,
                          "--pages", str(pages)], check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out)["updates_per_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default="6b02971")
    parser.add_argument("--pages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--arch", default="x86,ppc64-6.12")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other), args.against],
                       check=True, capture_output=True)
        try:
            print(f"{'arch':8} {args.against + ' /s':>14} {'this tree /s':>14} {'ratio':>7}")
            for arch in args.arch.split(","):
                old, new = [], []
                for _ in range(args.rounds):
                    old.append(run(other, arch, args.pages))
                    new.append(run(ROOT, arch, args.pages))
                o, n = statistics.median(old), statistics.median(new)
                print(f"{arch:8} {o:>14,.0f} {n:>14,.0f} {n / o:>7.3f}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)],
                           capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
