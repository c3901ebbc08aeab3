"""What the spin-loop reduction saves: a waiting loop, searched with and without it.

    .venv/bin/python bench/bench_spin.py [--arch x86] [--max-steps 60]

The scenario of issue 10: P0 spins until P1 sets a flag, then clears A's entry without the
lock; its loop-free twin does the clear at once.  Each is searched exhaustively by DPOR with
the spin reduction (the default), by DPOR without it (every spin iteration is a step, so the
search is cut by --max-steps), and by naive enumeration without it (capped at 20,000
executions).  A search cut by a bound is INCONCLUSIVE: the line says which.
"""

from __future__ import annotations

import argparse
import time

from ptelab.explore.dpor import Bounds, Exhaustive
from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse

TEXT = """PTE {name}
{{
  A: anon, rw;
  B: anon, rw;
  cpu1 has A in its TLB;
}}
P0 @ cpu0 {{
  {spin}pte_clear(mm, A, pte_offset(A));
}}
P1 @ cpu1 {{
  write(B, 1);
}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="x86")
    parser.add_argument("--max-steps", type=int, default=60)
    args = parser.parse_args()
    print(f"| {'test':<6} | {'search':<28} | {'executions':>10} | {'invariants':<20} | {'cut':<30} | {'s':>6} |")
    print(f"|{'-' * 8}|{'-' * 30}|{'-' * 11}:|{'-' * 22}|{'-' * 32}|{'-' * 7}:|")
    for name, spin in (("spin", "while (read(B) == 0) {}\n  "), ("twin", "")):
        test = LitmusTest(parse(f"{name}.litmus", TEXT.format(name=name, spin=spin)))
        for label, naive, reduce in (("DPOR + spin reduction", False, True), ("DPOR, no spin reduction", False, False),
                                     ("naive, no spin reduction", True, False)):
            bounds = Bounds(max_steps=args.max_steps, executions=20000)
            outcomes, executions = set(), [0]

            def seen(result):
                executions[0] += 1
                outcomes.update(v.invariant for v in result.violations)

            start = time.perf_counter()
            search = Exhaustive(test.scenario, args.arch, bounds, naive=naive, spin=reduce).run(seen)
            seconds = time.perf_counter() - start
            cut = ", ".join(f"{k} ({v})" for k, v in search.cut.items()) or "complete"
            print(f"| {name:<6} | {label:<28} | {search.executions:>10,} | {','.join(sorted(outcomes)) or '-':<20} "
                  f"| {cut:<30} | {seconds:>6.2f} |")


if __name__ == "__main__":
    main()
