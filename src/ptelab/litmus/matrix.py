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
from dataclasses import dataclass, field

from ..explore.execution import ScenarioError
from .errors import LitmusError


@dataclass
class Options:
    """How every cell of the matrix is checked (the litmus command's options)."""

    mode: str
    bounds: object  # explore.dpor.Bounds
    seed: int = 0
    runs: int = 1000
    debug: bool = True
    json: bool = False
    verbose: bool = False
    api: str = "legacy"  # the mm code the tests' operations run: legacy or txn
    cluster: str | None = None  # a Ray address: each search's units are tasks there (explore/cluster.py)
    merge: bool = False  # the merged search (explore/dpor.py): states explored are not explored again
    pool: object = None  # processes for one search's units, when the matrix has fewer cells than jobs


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
_REPORT = None  # (index, arch, executions, states, seconds) -> None: where a cell's progress goes


def _check(job: tuple[int, str]) -> Cell:
    from .report import as_json, counterexample_lines, herd_block, matrix_cell

    index, arch = job
    test, o = _TESTS[index], _OPTIONS
    cell = Cell(test.litmus.path, test.name, arch)
    try:
        hook = None if _REPORT is None else lambda *so_far: _REPORT(index, arch, *so_far)
        r = test.check(arch, o.mode, o.bounds, seed=o.seed, runs=o.runs, debug=o.debug, api=o.api,
                       progress=hook, workers=o.pool or 1, cluster=o.cluster, merge=o.merge)
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
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to report


class Matrix:
    """`with Matrix(tests, arches, options, jobs) as cells:` iterates the cells in order
    (every architecture of the first test, then the second's...).  Enter it before starting
    any thread (rich's progress display): the workers are forked.

    `progress`, if given, is called in this process with (the test, arch, executions, distinct
    final states, seconds) of a cell still being checked, every PROGRESS_EVERY seconds of
    its search: the workers send it through a pipe, read while waiting for the next cell;
    nothing is said of a cell once it was handed out."""

    def __init__(self, tests: list, arches: list[str], options: Options, jobs: int, progress=None):
        self.jobs = [(i, arch) for i in range(len(tests)) for arch in arches]
        self.processes = max(1, min(jobs, len(self.jobs)))
        # fewer cells than jobs (or a cluster): the cells one after another here, each search
        # split over `jobs` processes (litmus/parallel.py) or the cluster's tasks
        self.spread = jobs if options.cluster is None and len(self.jobs) < jobs else 0
        if self.spread or options.cluster is not None:
            self.processes = 1
        self.tests, self.options = tests, options
        self.progress = progress
        self.pool = self.queue = None
        self.handed: set = set()  # the (index, arch) of the cells handed out

    def _report(self, index: int, arch: str, *so_far) -> None:
        if (index, arch) not in self.handed:
            self.progress(self.tests[index], arch, *so_far)

    def __enter__(self):
        global _TESTS, _OPTIONS, _REPORT
        _TESTS, _OPTIONS = self.tests, self.options
        _REPORT = None if self.progress is None else self._report
        if self.processes == 1 and not self.spread:
            return map(_check, self.jobs)  # no process to fork (multiprocessing is not even imported)
        import multiprocessing

        context = multiprocessing.get_context("fork")
        if self.spread:
            from .parallel import handoff_pipe

            handoff_pipe()  # the units' way back to this process mid-way (litmus/parallel.py)
            self.options.pool = self.pool = context.Pool(self.spread, initializer=_quiet_worker)
        if self.processes == 1:
            return map(_check, self.jobs)
        if self.progress is not None:
            self.queue = context.SimpleQueue()
            _REPORT = lambda *message: self.queue.put(message)  # noqa: E731 - in the workers
        self.pool = context.Pool(self.processes, initializer=_quiet_worker)
        _REPORT = None
        cells = self.pool.imap(_check, self.jobs, chunksize=1)
        return cells if self.queue is None else self._listening(cells)

    def _listening(self, cells):
        from multiprocessing import TimeoutError

        from ..explore.dpor import PROGRESS_EVERY

        for job in self.jobs:
            while True:
                try:
                    cell = cells.next(timeout=PROGRESS_EVERY)
                    break
                except TimeoutError:
                    self._drain()
            self._drain()
            self.handed.add(job)
            yield cell

    def _drain(self) -> None:
        while not self.queue.empty():
            self._report(*self.queue.get())

    def __exit__(self, *exc):
        global _REPORT
        _REPORT = None
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        return False
