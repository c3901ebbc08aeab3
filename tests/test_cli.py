"""The command line: every workload runs, bad input is refused with the choices, exit 2."""

import pytest

from ptelab.cli import main
from ptelab.workloads import WORKLOADS


@pytest.mark.parametrize("workload", [w for w in WORKLOADS if w != "madv-free"])
def test_every_workload_runs_on_every_arch_in_debug_mode(workload, capsys):
    assert main(["run", workload, "--arch", "all", "--pages", "40", "--cpus", "3"]) == 0
    out = capsys.readouterr().out
    assert "x86" in out and "ppc64-2.6.27" in out and "debug mode" in out


def test_madv_free_breaks_a_rule_in_debug_mode_and_runs_without(capsys):
    assert main(["run", "madv-free", "--pages", "8"]) == 1
    assert "[flush-before-reuse]" in capsys.readouterr().out
    assert main(["run", "madv-free", "--pages", "8", "--no-debug"]) == 0


@pytest.mark.parametrize("argv, needle", [
    (["run", "fork"], "did you mean 'fork-cow'"),
    (["run", "munmap", "--arch", "sparc"], "accepted: x86, ppc64, ppc64-2.6.27"),
    (["run", "munmap", "--pages", "0"], "must be at least 1"),
    (["run", "munmap", "--pages", "many"], "not a whole number"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_input_exits_2_with_a_message(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in WORKLOADS)
