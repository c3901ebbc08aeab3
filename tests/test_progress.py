"""Progress on long runs: shown on a terminal (stderr), never on stdout, and nothing at all when
the output is piped or JSON; the explorer's hook changes nothing the search finds."""

import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from ptelab.cli import main
from ptelab.explore import dpor
from ptelab.litmus import load
from ptelab.litmus.matrix import Matrix, Options

SUITE = Path(__file__).resolve().parent.parent / "litmus"
LONG = str(SUITE / "zap-dirty-shared-noflush.litmus")  # a few thousand executions on the hash MMUs


def _ptelab(argv, terminal: bool) -> tuple[int, str, str]:
    """Run ptelab in a new process, stdout piped; stderr a pseudo-terminal if `terminal`."""
    env = dict(os.environ, TERM="xterm", COLUMNS="200")
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_COMPATIBLE", None)
    command = [sys.executable, "-m", "ptelab.cli", *argv]
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        return done.returncode, done.stdout, done.stderr
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    err = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                data = os.read(leader, 1 << 16)
            except OSError:  # the process closed its end
                break
            if not data:
                break
            err += data
        elif process.poll() is not None:
            break
    os.close(leader)
    out = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(), out, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.decode(errors="replace"))


def _untimed(out: str) -> str:
    return re.sub(r"(?m)^Time (\S+) \d+\.\d\d$", r"Time \1 -", out)


def test_litmus_shows_the_current_search_on_a_terminal_and_nothing_on_stdout():
    # two processes: the workers' progress crosses a pipe (one process: the matrix test below)
    argv = ["litmus", LONG, "--arch", "ppc32,ppc64-2.6.27", "--executions", "500", "--jobs", "2"]
    status, out, err = _ptelab(argv, terminal=True)
    assert status == 3  # cut by --executions: inconclusive
    # the current test's executions, their rate and the distinct final states so far
    assert re.search(r"zap-dirty-shared-noflush on ppc32: [\d,]+ executions \([\d,]+/s\), \d+ distinct final state",
                     err), err[-2000:]
    assert "/2" in err  # and the tests done
    piped = _ptelab(argv, terminal=False)
    assert piped[0] == status and piped[2] == ""  # piped: nothing on stderr either
    assert _untimed(out) == _untimed(piped[1])  # stdout the same whether progress is shown or not
    assert "distinct final state" not in out and "\x1b" not in out


def test_the_progress_hook_changes_nothing_the_search_finds(monkeypatch):
    monkeypatch.setattr(dpor, "PROGRESS_EVERY", 0.0)  # called after every execution
    test = load(str(SUITE / "seed-mprotect.litmus"))
    calls = []
    hooked = test.check("ppc64-2.6.27", progress=lambda *so_far: calls.append(so_far))
    plain = test.check("ppc64-2.6.27")
    assert (hooked.verdict, hooked.executions, hooked.states, hooked.outcomes) == \
           (plain.verdict, plain.executions, plain.states, plain.outcomes)
    assert [c[0] for c in calls] == list(range(1, plain.executions + 1))
    assert calls[-1][1] == len(plain.states)  # the distinct final states, after the last execution
    assert all(later[2] >= earlier[2] for earlier, later in zip(calls, calls[1:]))  # seconds go forward


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_matrix_reports_cells_being_checked_and_never_one_handed_out(monkeypatch, jobs):
    monkeypatch.setattr(dpor, "PROGRESS_EVERY", 0.0)
    tests = [load(str(SUITE / name)) for name in ("seed-mprotect.litmus", "rule-lock-held.litmus")]
    heard, handed = [], []

    def progress(test, arch, executions, states, seconds):
        assert (test.litmus.path, arch) not in handed
        heard.append((test.name, arch, executions))

    options = Options("exhaustive", dpor.Bounds())
    with Matrix(tests, ["x86", "ppc32"], options, jobs, progress) as cells:
        for cell in cells:
            handed.append((cell.path, cell.arch))
            assert cell.verdict == "ok"
    assert {(name, arch) for name, arch, _ in heard} == {(t.name, a) for t in tests for a in ("x86", "ppc32")}


def _terminal(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich takes stderr for a terminal
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "200")


def test_states_shows_progress_on_a_terminal_only(monkeypatch, capsys):
    assert main(["states", "--arch", "x86"]) == 0
    piped = capsys.readouterr()
    assert piped.err == ""
    _terminal(monkeypatch)
    assert main(["states", "--arch", "x86"]) == 0  # derived already: said once
    shown = capsys.readouterr()
    assert re.search(r"deriving the x86 state machine: [\d,]+ states, [\d,]+ transitions", shown.err)
    assert shown.out == piped.out


def test_docs_shows_progress_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    from ptelab import report, states

    monkeypatch.setattr(report, "ARCHES", {"x86": None, "s390-6.12": None})  # two quick ones
    assert main(["docs", "--dir", str(tmp_path / "piped")]) == 0
    piped = capsys.readouterr()
    assert piped.err == ""
    _terminal(monkeypatch)
    monkeypatch.setattr(states, "_DERIVED", {})  # derived again, long enough to be drawn
    assert main(["docs", "--dir", str(tmp_path / "shown")]) == 0
    shown = capsys.readouterr()
    assert "state machine of x86" in shown.err and "state machine of s390-6.12" in shown.err
    assert "writing" in shown.err
    assert shown.out.replace("/shown/", "/piped/") == piped.out
