"""How long reading and compiling a litmus file takes, by the number of statements in a block.

    .venv/bin/python bench/bench_compile.py --statements 10000,20000,40000

Each file has one page and one block of N statements (`x += 1;`, a declaration first); the
time is parse + compile (ptelab.litmus.load), best of three.  Linear compiling shows as a
constant time per statement.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ptelab.litmus import load


def litmus_text(statements: int) -> str:
    body = "\n".join(["  int x = 0;"] + ["  x += 1;"] * (statements - 1))
    return f"PTE bench\n{{\n  A: anon;\n}}\nP0 @ cpu0 {{\n{body}\n}}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statements", default="10000,20000,40000")
    args = parser.parse_args()
    print(f"| {'statements':>10} | {'seconds':>8} | {'us/statement':>12} |")
    print(f"|{'-' * 11}:|{'-' * 9}:|{'-' * 13}:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.statements.split(",")):
            path = Path(tmp) / f"bench-{n}.litmus"
            path.write_text(litmus_text(n))
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                load(path)
                best = min(best, time.perf_counter() - start)
            print(f"| {n:>10,} | {best:>8.3f} | {best / n * 1e6:>12.1f} |")


if __name__ == "__main__":
    main()
