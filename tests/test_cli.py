"""The command line: every workload runs, bad input is refused with the choices, exit 2."""

import pytest

from ptelab.cli import main
from ptelab.workloads import WORKLOADS


@pytest.mark.parametrize("workload", [w for w in WORKLOADS if w != "madv-free"])
def test_every_workload_runs_on_every_arch_in_debug_mode(workload, capsys):
    assert main(["run", workload, "--arch", "all", "--pages", "40", "--cpus", "3"]) == 0
    out = capsys.readouterr().out
    assert "x86" in out and "ppc64-2.6.27" in out and "debug mode" in out


def test_madv_free_is_a_finding_in_debug_mode_and_runs_to_the_end(capsys):
    """The generic clear_young_dirty_ptes breaks flush-before-reuse: a finding (exit 5,
    its page named), not a crash: the workload runs to the end and its counters print;
    on ppc64-6.12 the finding's litmus test shows the duplicate HPTE."""
    assert main(["run", "madv-free", "--pages", "8", "--arch", "x86,ppc64-6.12"]) == 5
    out = capsys.readouterr().out
    assert "finding rule flush-before-reuse is broken by the kernel's own madvise_free_pte_range" in out
    assert "docs/findings/ppc64-hash-duplicate-hpte.md" in out and "8 times" in out
    assert "hash_fault" in out and "hw_walk" in out  # both columns of counters: ran to the end
    ppc = next(line for line in out.splitlines() if line.startswith("  ppc64-6.12:"))
    assert "duplicate-hash-entry" in ppc
    x86 = next(line for line in out.splitlines() if line.startswith("  x86:"))
    assert "duplicate-hash-entry" not in x86
    assert main(["run", "madv-free", "--pages", "8", "--no-debug"]) == 0
    assert main(["run", "madv-free", "--pages", "8", "--arch", "ppc64-6.12+fix,ppc64-6.12+flush"]) == 0


def test_a_rule_broken_outside_a_known_finding_is_still_broken(capsys, monkeypatch):
    """A breach the findings do not list exits 1, after the workload ran to the end."""
    import ptelab.workloads as workloads

    monkeypatch.setattr(workloads, "FINDINGS", ())
    assert main(["run", "madv-free", "--pages", "8"]) == 1
    out = capsys.readouterr().out
    assert "broken x86: rule flush-before-reuse broken 8 times by madvise_free_pte_range" in out
    assert "atomic_rmw" in out


@pytest.mark.parametrize("argv, needle", [
    (["run", "fork"], "did you mean 'fork-cow'"),
    (["run", "munmap", "--arch", "sparc"], "accepted: x86, ppc64-6.12, ppc64-6.12+fix"),
    (["run", "munmap", "--arch", "ppc64"], "ppc64-2.6.27, ppc64-2.6.27+fix"),  # no alias: the kernel is named
    (["run", "munmap", "--pages", "0"], "must be at least 1"),
    (["run", "munmap", "--pages", "many"], "not a whole number"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_a_message(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in WORKLOADS)


def test_version_and_bare_command(capsys):
    import ptelab

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"ptelab {ptelab.__version__}"
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "usage: ptelab" in out and "litmus" in out


def test_an_architecture_named_twice_runs_once_and_one_cpu_is_singular(capsys):
    assert main(["run", "munmap", "--arch", "x86,x86", "--pages", "4", "--cpus", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 pages, 1 CPU," in out
    header = next(line for line in out.splitlines() if "event" in line)
    assert header.count("x86") == 1


def test_rules_piped_are_not_folded():
    import subprocess
    import sys

    from ptelab.rules import RULES

    out = subprocess.run([sys.executable, "-m", "ptelab.cli", "rules"], capture_output=True, text=True).stdout
    assert all(any(line.split("│")[1].strip() == rule.id for line in out.splitlines() if line.count("│") > 2)
               for rule in RULES)
