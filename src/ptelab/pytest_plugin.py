"""Litmus files as pytest tests: `pytest litmus/` checks every `*.litmus` on every architecture.

Installed with ptelab as a pytest plugin (entry point `pytest11`), so a kernel tree's own
litmus files run in its CI with plain `pytest`.  Each file gives one item per architecture,
`<file>::<test>[<arch>]`; an item passes only on an `ok` verdict (the search was complete and
every expectation held).  FAIL and INCONCLUSIVE (a bound cut the search) both fail the item,
with the herd-style verdict, the counterexample's step table and the command that replays it.

Options: `--litmus-arch x86,arm64|all` (ini `litmus_arch`), `--litmus-no-debug`.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("ptelab", "ptelab litmus tests")
    group.addoption("--litmus-arch", default=None,
                    help="architectures to check *.litmus files on: 'all' (default) or a,b,...")
    group.addoption("--litmus-no-debug", action="store_true",
                    help="check without debug mode (rules are then not checked per call)")
    parser.addini("litmus_arch", "architectures for *.litmus files ('all' or a,b,...)", default="all")


def pytest_configure(config):
    # an unknown architecture is a usage error before anything runs (pytest exits 4)
    if config.getoption("--litmus-arch"):
        _arches(config)


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".litmus":
        return LitmusFile.from_parent(parent, path=file_path)
    return None


def _arches(config) -> list[str]:
    from .arch import ARCHES

    spec = config.getoption("--litmus-arch") or config.getini("litmus_arch")
    if spec == "all":
        return list(ARCHES)
    names = list(dict.fromkeys(name.strip() for name in spec.split(",")))
    unknown = [n for n in names if n not in ARCHES]
    if unknown:
        raise pytest.UsageError(f"--litmus-arch: unknown architecture {unknown[0]!r}; "
                                f"accepted: all, {', '.join(ARCHES)}")
    return names


class LitmusFile(pytest.File):
    def collect(self):
        from .litmus import LitmusError, load

        try:
            test = load(self.path)
        except LitmusError as err:
            raise self.CollectError(str(err)) from None
        for arch in _arches(self.config):
            yield LitmusItem.from_parent(self, name=f"{test.name}[{arch}]", test=test, arch=arch)


class LitmusFailure(Exception):
    """A litmus verdict other than ok; its text is the whole report."""


class LitmusItem(pytest.Item):
    def __init__(self, *, test, arch, **kwargs):
        super().__init__(**kwargs)
        self.test = test
        self.arch = arch

    def runtest(self):
        from .explore.dpor import Bounds
        from .litmus.report import counterexample_lines, herd_block

        debug = not self.config.getoption("--litmus-no-debug")
        result = self.test.check(self.arch, "exhaustive", Bounds(), debug=debug)
        self.user_properties.append(("verdict", result.verdict))
        if result.ok:
            return
        lines = herd_block(self.test, result)
        if result.counterexamples:
            lines += counterexample_lines(self.test, result, debug)
        for example in result.counterexamples.values():
            lines.append(f"replay: ptelab litmus {self.path} --arch {self.arch} --replay '{example.schedule}'")
            break
        raise LitmusFailure("\n".join(lines))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, LitmusFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"litmus {self.test.name} on {self.arch}"
