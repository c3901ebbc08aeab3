"""Verdicts: ok only for a complete search, FAIL, or INCONCLUSIVE; the exit status says which."""

import json
from pathlib import Path

from ptelab import cli
from ptelab.cli import main
from ptelab.explore.dpor import Bounds
from ptelab.litmus import load

SUITE = Path(__file__).resolve().parent.parent / "litmus"
SEED = SUITE / "seed-mprotect.litmus"


def test_a_search_cut_by_a_bound_is_inconclusive_and_exits_3(capsys):
    further = {"--executions": "a larger --executions", "--preemptions": "a larger --preemptions, or none",
               "--max-steps": "a larger --max-steps", "--seconds": "a larger --seconds, or --jobs N"}
    for bound in (["--executions", "2"], ["--preemptions", "0"], ["--max-steps", "3"], ["--seconds", "0.001"]):
        assert main(["litmus", str(SEED), "--arch", "ppc64-6.12", "--jobs", "1", *bound]) == 3, bound
        out = capsys.readouterr().out
        assert "INCONCLUSIVE" in out and "Inconclusive" in out and " ok " not in out
        assert f"(to go further: {further[bound[0]]}" in out, (bound, out)  # the way past the bound
    assert main(["litmus", str(SEED), "--arch", "ppc64-6.12"]) == 0  # the complete search is ok


def test_a_missing_expected_outcome_of_a_cut_search_is_inconclusive_not_a_pass():
    test = load(SEED)
    result = test.check("ppc64-2.6.27", bounds=Bounds(executions=1))
    assert "duplicate-hash-entry" not in result.outcomes
    assert result.verdict == "INCONCLUSIVE" and not result.ok
    assert any("cut by executions" in u for u in result.unmet)
    complete = test.check("ppc64-2.6.27")
    assert complete.verdict == "ok"


def test_a_failure_found_before_the_cut_is_a_failure(tmp_path, capsys):
    path = tmp_path / "t.litmus"
    path.write_text(SEED.read_text().replace("expect ppc64-2.6.27", "expect x86"))
    assert main(["litmus", str(path), "--arch", "ppc64-2.6.27", "--executions", "30"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_random_mode_says_it_sampled_and_honours_executions_and_preemptions(capsys):
    test = load(SEED)
    result = test.check("ppc64-6.12", mode="random", runs=50, bounds=Bounds(executions=4, preemptions=0))
    assert result.executions == 4 and result.verdict == "INCONCLUSIVE"
    assert "preemptions" in result.cut and "executions" in result.cut
    assert main(["litmus", str(SEED), "--arch", "ppc64-6.12", "--mode", "random", "--runs", "20", "--json"]) == 3
    [record] = json.loads(capsys.readouterr().out)
    assert record["verdict"] == "INCONCLUSIVE" and record["sampled"] and not record["ok"]
    assert record["executions"] == 20


def test_no_preemption_means_each_sample_runs_actors_one_after_the_other():
    from ptelab.explore.pct import PCT

    test = load(SEED)
    seen = []
    PCT(test.scenario, "ppc64-6.12", Bounds(preemptions=0), seed=3, runs=30).run(lambda r: seen.append(r.schedule))
    for schedule in seen:  # without preemption an actor runs until it finishes or waits
        switches = sum(a != b for a, b in zip(schedule, schedule[1:]))
        assert switches <= len(set(schedule)) + 2, schedule


def test_an_internal_error_exits_4_never_1(monkeypatch, capsys):
    def broken(args):
        raise KeyError("a bug")
    monkeypatch.setattr(cli, "cmd_list", broken)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    for action in parser._subparsers._group_actions[0].choices.values():
        if action.get_default("func") is not None and action.prog.endswith("list"):
            action.set_defaults(func=broken)
    assert main(["list"]) == 4
    assert "internal error" in capsys.readouterr().err


SEVERAL = """PTE several
"an unlocked pte_clear: three outcomes in one execution"
{
  A: anon, rw;
  cpu1 has A in its TLB;
}
P0 @ cpu0 {
  pte_clear(mm, A, pte_offset(A));
}
P1 @ cpu1 {
  write(A, 1);
}
forbid any_invariant
"""


def test_output_is_the_same_whatever_the_hash_seed(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "several.litmus"
    path.write_text(SEVERAL)
    outputs = set()
    for seed in ("1", "2", "5"):  # before outcomes were ordered, these three printed three orders
        env = dict(os.environ, PYTHONHASHSEED=seed)
        run = subprocess.run([sys.executable, "-m", "ptelab.cli", "litmus", str(path), "--arch", "x86,ppc64-6.12",
                              "-v"], capture_output=True, text=True, env=env, check=False)
        assert run.returncode == 1, run.stderr
        outputs.add("\n".join(line for line in run.stdout.splitlines() if not line.startswith("Time ")))
    assert len(outputs) == 1
