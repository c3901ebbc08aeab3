"""The test x architecture matrix of `ptelab litmus`, checked in parallel processes.

Each cell (one test on one architecture) is an independent search, so cells are handed to a
pool of worker processes and their results read back in the matrix's order: the output and
the exit status do not depend on the number of processes (only the `Time` lines, which are
wall-clock, do).  A worker returns what the command prints (text, JSON, the matrix cell),
not the search's objects, which hold closures and greenlet state.  With one process (or one
cell) nothing is forked: the cells run in this process, in the same order.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

from ..explore.execution import ScenarioError
from .errors import LitmusError


@dataclass
class Options:
    mode: str
    bounds: object  # explore.dpor.Bounds
    seed: int = 0
    runs: int = 1000
    debug: bool = True
    json: bool = False
    verbose: bool = False
    api: str = "legacy"  # the mm code the tests' operations run: legacy or txn


@dataclass
class Cell:
    """One test on one architecture, as the command prints it."""

    path: str
    test: str
    arch: str
    verdict: str = ""
    markup: str = ""  # the matrix cell (rich markup)
    lines: list = field(default_factory=list)  # the herd-style block and its counterexamples
    json: dict | None = None
    error: str | None = None  # bad input found while building the scenario (exit 2)


def default_jobs() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


_TESTS: list = []  # the loaded tests, inherited by forked workers
_OPTIONS: Options | None = None


def _check(job: tuple[int, str]) -> Cell:
    from .report import as_json, counterexample_lines, herd_block, matrix_cell

    index, arch = job
    test, o = _TESTS[index], _OPTIONS
    cell = Cell(test.litmus.path, test.name, arch)
    try:
        r = test.check(arch, o.mode, o.bounds, seed=o.seed, runs=o.runs, debug=o.debug, api=o.api)
    except (ScenarioError, LitmusError) as err:
        first, _, rest = str(err).partition("\n")  # the arch on the message's line
        cell.error = f"{first} (on {arch})" + (f"\n{rest}" if rest else "")
        return cell
    cell.test, cell.verdict, cell.markup = r.test, r.verdict, matrix_cell(r)
    if o.json:
        cell.json = as_json(test, r)
    else:
        cell.lines = herd_block(test, r)
        if r.counterexamples and (o.verbose or not r.ok):
            cell.lines += counterexample_lines(test, r, o.debug, verbose=o.verbose)
    return cell


def _quiet_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to report


class Matrix:
    """`with Matrix(tests, arches, options, jobs) as cells:` iterates the cells in order
    (every architecture of the first test, then the second's...).  Enter it before starting
    any thread (rich's progress display): the workers are forked."""

    def __init__(self, tests: list, arches: list[str], options: Options, jobs: int):
        self.jobs = [(i, arch) for i in range(len(tests)) for arch in arches]
        self.processes = max(1, min(jobs, len(self.jobs)))
        self.tests, self.options = tests, options
        self.pool = None

    def __enter__(self):
        global _TESTS, _OPTIONS
        _TESTS, _OPTIONS = self.tests, self.options
        if self.processes == 1:
            return map(_check, self.jobs)
        import multiprocessing

        self.pool = multiprocessing.get_context("fork").Pool(self.processes, initializer=_quiet_worker)
        return self.pool.imap(_check, self.jobs, chunksize=1)

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        return False
