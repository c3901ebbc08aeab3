"""`ptelab litmus --jobs N`: the matrix checked in N processes prints the same thing (bar the
wall-clock `Time` lines and JSON seconds) and exits with the same status as one process."""

import json
import re
from pathlib import Path

import pytest

from ptelab.cli import main
from ptelab.litmus.matrix import default_jobs

SUITE = Path(__file__).resolve().parent.parent / "litmus"
SOME = [str(SUITE / name) for name in ("seed-mprotect.litmus", "rule-lock-held.litmus", "op-fork.litmus")]


def _run(capsys, argv, jobs):
    status = main(["litmus", *argv, "--jobs", str(jobs)])
    captured = capsys.readouterr()
    return status, re.sub(r"(?m)^Time (\S+) \d+\.\d\d$", r"Time \1 -", captured.out), captured.err


@pytest.mark.parametrize("extra", [["--arch", "x86,ppc64-6.12,ppc64-2.6.27"], ["--arch", "x86,ppc64-2.6.27", "-v"]])
def test_one_process_and_two_print_the_same(capsys, extra):
    one = _run(capsys, [*SOME, *extra], 1)
    two = _run(capsys, [*SOME, *extra], 2)
    assert one[0] == two[0] == 0
    assert one[1] == two[1]
    assert "Test rule-lock-held Forbidden (ppc64-2.6.27)" in one[1] and "litmus verdicts" in one[1]


def test_a_failure_and_its_counterexample_are_the_same_whatever_the_jobs(tmp_path, capsys):
    path = tmp_path / "t.litmus"  # the ppc64-2.6.27 duplicate HPTE, no longer expected: FAIL there
    path.write_text((SUITE / "seed-mprotect.litmus").read_text().replace("expect ppc64-2.6.27", "expect x86"))
    one = _run(capsys, [str(path), SOME[1], "--arch", "ppc64-2.6.27,x86"], 1)
    two = _run(capsys, [str(path), SOME[1], "--arch", "ppc64-2.6.27,x86"], 2)
    assert one[0] == two[0] == 1
    assert one[1] == two[1] and "--replay" in one[1]


def test_json_is_the_same_whatever_the_jobs(capsys):
    def records(jobs):
        status = main(["litmus", *SOME, "--arch", "x86,ppc64-2.6.27", "--json", "--jobs", str(jobs)])
        got = json.loads(capsys.readouterr().out)
        for record in got:
            record.pop("seconds")
        return status, got
    assert records(1) == records(3)


def test_bad_input_found_in_a_worker_is_exit_2_with_the_same_message(tmp_path, capsys):
    path = tmp_path / "bad.litmus"  # a writable TLB entry of a clean page is refused when built
    path.write_text("PTE bad\n{\n  A: anon rw, clean;\n  cpu1 has A writable in its TLB;\n}\n"
                    "P0 @ cpu0 {\n  write(A, 1);\n}\nP1 @ cpu1 {\n  write(A, 2);\n}\n")
    one = _run(capsys, [SOME[1], str(path), "--arch", "x86,ppc64-6.12"], 1)
    two = _run(capsys, [SOME[1], str(path), "--arch", "x86,ppc64-6.12"], 2)
    assert one[0] == two[0] == 2
    assert one[2] == two[2] and "(on x86)" in one[2] and "Traceback" not in one[2]


def test_the_default_is_the_cores_available():
    import os
    assert default_jobs() == len(os.sched_getaffinity(0)) >= 1


def test_jobs_must_be_at_least_one(capsys):
    assert main(["litmus", SOME[1], "--jobs", "0"]) == 2
    assert "--jobs: 0 must be at least 1" in capsys.readouterr().err
