"""The pytest plugin: `pytest litmus/` gives the verdicts `ptelab litmus` gives, one item per
test and architecture, and a failure carries the counterexample and its replay command."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "litmus"


def _pytest(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=900)


def _outcomes(output: str) -> dict[str, str]:
    """'path::test[arch]' -> PASSED | FAILED, from pytest's -rA summary."""
    return {m[2]: m[1] for m in re.finditer(r"^(PASSED|FAILED|ERROR) (\S+::\S+\])", output, re.M)}


@pytest.mark.slow
def test_the_bundled_suite_under_pytest_has_the_verdicts_of_ptelab_litmus():
    run = _pytest(str(SUITE))
    got = _outcomes(run.stdout)
    cli = subprocess.run([sys.executable, "-m", "ptelab.cli", "litmus", str(SUITE), "--arch", "all", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    expected = {f"litmus/{Path(r['file']).name}::{r['test']}[{r['arch']}]": "PASSED" if r["ok"] else "FAILED"
                for r in json.loads(cli.stdout)}
    assert got == expected


def test_a_failing_litmus_file_fails_its_item_with_the_counterexample_and_replay(tmp_path):
    seed = (SUITE / "seed-mprotect.litmus").read_text()
    # Without its expectation, 2.6.27's duplicate HPTE is a forbidden outcome that happens.
    (tmp_path / "seed.litmus").write_text(re.sub(r"^expect .*$", "", seed, flags=re.M))
    run = _pytest("--litmus-arch", "x86,ppc64-2.6.27", str(tmp_path / "seed.litmus"), cwd=tmp_path)
    got = _outcomes(run.stdout)
    assert got == {"seed.litmus::seed-mprotect[x86]": "PASSED",
                   "seed.litmus::seed-mprotect[ppc64-2.6.27]": "FAILED"}, run.stdout
    assert "duplicate-hash-entry" in run.stdout and "Traceback" not in run.stdout
    replay = re.search(r"replay: ptelab litmus (\S+) --arch (\S+) --replay '([^']+)'", run.stdout)
    assert replay, run.stdout
    again = subprocess.run([sys.executable, "-m", "ptelab.cli", "litmus", replay[1], "--arch", replay[2],
                            "--replay", replay[3]], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "duplicate-hash-entry" in again.stdout


def test_an_unknown_architecture_is_a_usage_error_listing_the_choices(tmp_path):
    run = _pytest("--litmus-arch", "sparc", str(SUITE / "seed-mprotect.litmus"), cwd=tmp_path)
    assert run.returncode == 4 and "accepted: all, x86" in run.stderr


def test_a_malformed_litmus_file_is_a_collection_error_with_its_position(tmp_path):
    (tmp_path / "bad.litmus").write_text("PTE bad\n{\n  A: anon rw;\n}\nP0 @ cpu0 {\n  write(A, 1)\n}\n")
    run = _pytest(str(tmp_path / "bad.litmus"), cwd=tmp_path)
    assert run.returncode == 2 and "bad.litmus:" in run.stdout and "Traceback" not in run.stdout
