"""The architecture registry names its backends without importing them (start-up, issue 16)."""

import subprocess
import sys

from ptelab.arch import ARCHES, GenericArch, UnknownArch, arch_class


def test_each_name_is_its_class_name_and_each_once():
    classes = [ARCHES[name] for name in ARCHES]
    assert [cls.name for cls in classes] == list(ARCHES)
    assert all(issubclass(cls, GenericArch) for cls in classes)
    assert len(set(classes)) == len(classes) == len(ARCHES)


def test_an_unknown_name_lists_every_accepted_one():
    try:
        arch_class("vax")
    except UnknownArch as err:
        assert all(name in str(err) for name in ARCHES)
    else:
        raise AssertionError("vax is no backend")
    assert "vax" not in ARCHES and list(ARCHES.keys()) == list(ARCHES)


def test_a_verdict_on_one_backend_imports_neither_the_others_nor_rich(tmp_path):
    # a pipe: no terminal, so no progress bar and the matrix drawn without rich
    code = ("import sys; from ptelab.cli import main; "
            "status = main(['litmus', sys.argv[1], '--arch', 'x86', '--jobs', '1']); "
            "print(sorted(m for m in sys.modules if m.startswith(('ptelab.arch.', 'rich')))); sys.exit(status)")
    run = subprocess.run([sys.executable, "-c", code, "litmus/rule-lock-held.litmus"], capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin"}, cwd=__file__.rsplit("/tests/", 1)[0])
    assert run.returncode == 0, run.stderr
    assert "litmus verdicts" in run.stdout and "┏" in run.stdout
    assert run.stdout.splitlines()[-1] == "['ptelab.arch.generic', 'ptelab.arch.x86']"
