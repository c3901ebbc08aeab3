"""`ptelab survey`: the call sites of the PTE accessors in a real kernel tree.

parse.py reads the tree (cpp.py's pre-pass, then tree-sitter-c; cached per
file), resolve.py picks the definitions that apply on an architecture, flow.py
walks every function that reaches an accessor, and report.py prints the result.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..rules import BY_ID
from . import configs, parse
from .flow import Finding, Site, Walker
from .resolve import Resolver
from .vocabulary import ACCESSORS, BATCH

# The kernel's arch/ directory of a ptelab backend (rules.py names backends): the backend's name up to
# its first "-" ("ppc64-2.6.27", "arm64-nocont"), through this table where the two names differ.
_KERNEL_DIR = {"ppc64": "powerpc", "ppc32": "powerpc", "xen": "x86"}


def kernel_arch(backend: str) -> str:
    prefix = backend.split("-")[0].split("+")[0]
    return _KERNEL_DIR.get(prefix, prefix)


class SurveyError(Exception):
    """Bad input: a message for the user (exit 2)."""


@dataclass
class Coverage:
    files: int = 0
    lines: int = 0
    dropped_lines: int = 0  # in #if branches the configuration did not take
    functions: int = 0
    with_errors: int = 0  # parsed, with ERROR nodes inside (the rest of the body is still read)
    lost: int = 0  # inside top-level ERROR nodes: not read at all
    lost_calls: int = 0  # accessor calls in text tree-sitter could not parse


@dataclass
class Survey:
    root: Path
    arch: str | None
    description: str
    sites: list[Site]
    findings: list[Finding]
    other_findings: list[Finding]  # findings of rules that do not matter on the architecture asked about
    coverage: dict[str, Coverage]
    lost_calls: list[tuple[str, int, str]]
    definitions: dict[str, str]  # accessor -> where the definition that applies is
    mirrored: list[str]  # kernel functions (with accessor calls) that ptelab's mm/ mirrors
    worklist: list[tuple[str, str, int]]  # (function, file, accessor calls) it does not
    seconds: dict[str, float] = field(default_factory=dict)
    parsed_files: int = 0

    def by_accessor(self) -> dict[str, list[Site]]:
        out: dict[str, list[Site]] = {name: [] for name in ACCESSORS}
        for site in self.sites:
            out[site.accessor].append(site)
        return out

    def few_users(self) -> dict[str, list[str]]:
        """Accessors called from one or two functions."""
        out = {}
        for name, sites in self.by_accessor().items():
            users = sorted({s.function for s in sites})
            if 1 <= len(users) <= 2:
                out[name] = users
        return out


def accepted_arches(root: Path) -> list[str]:
    arch = root / "arch"
    return sorted(p.name for p in arch.iterdir() if p.is_dir()) if arch.is_dir() else []


def check_tree(path: str | Path, arch: str | None) -> tuple[Path, str | None]:
    root = Path(path)
    if not root.exists():
        raise SurveyError(f"{path}: no such file or directory")
    if not root.is_dir():
        raise SurveyError(f"{path}: not a directory (give the top of a kernel source tree)")
    missing = [d for d in ("mm", "include/linux", "arch") if not (root / d).is_dir()]
    if missing:
        raise SurveyError(f"{path}: not a kernel source tree (no {', '.join(missing)})")
    if arch is not None:
        choices = accepted_arches(root)
        from ..arch import ARCHES
        directory = kernel_arch(arch) if arch in ARCHES else arch
        if directory not in choices:
            import difflib
            close = difflib.get_close_matches(arch, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SurveyError(f"unknown architecture {arch!r}{hint}; accepted: {', '.join(choices)} "
                              f"(or a ptelab backend: {', '.join(ARCHES)})")
        arch = directory
    return root, arch


def model_functions() -> set[str]:
    """The kernel functions ptelab's mm/ mirrors (its functions keep the kernel's names)."""
    from .. import mm
    names: set[str] = set()
    for info in pkgutil.iter_modules(mm.__path__):
        module = importlib.import_module(f"{mm.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                names.add(name)
            elif inspect.isclass(obj) and obj.__module__ == module.__name__:
                names.update(n for n, o in vars(obj).items() if inspect.isfunction(o) and not n.startswith("_"))
    return names


def rule_arches(rule_id: str) -> list[str]:
    rule = BY_ID.get(rule_id)
    return sorted({kernel_arch(a) for a in rule.archs}) if rule else []


def survey(path: str | Path, arch: str | None = None, use_cache: bool = True, progress=None) -> Survey:
    root, arch = check_tree(path, arch)
    t0 = time.perf_counter()
    tree = parse.load(root, use_cache=use_cache, progress=progress)
    t1 = time.perf_counter()
    resolver = Resolver(tree, arch, tree.names | frozenset(ACCESSORS))
    walker = Walker(resolver, arch)
    walked = [f for f in tree.functions() if f.ir is not None
              and not (f.path.startswith("arch/") and arch is not None and configs.excluded(f.path, arch))]
    for f in walked:
        walker.walk(f.name, f.path, f.line, f.ir, f.held)
    # A function called only with a PTE lock held (or only inside a lazy-MMU section) by the
    # functions of its file runs under it: walk it again in that state (twice, for a chain of two).
    entries: dict[tuple[str, str, int], object] = {}
    for _ in range(2):
        for f in walked:
            entry = walker.callers_state(f.path, f.name)
            if entry is not None and entries.get((f.path, f.name, f.line)) != entry:
                entries[(f.path, f.name, f.line)] = entry
                walker.forget(f.name, f.path)
                walker.walk(f.name, f.path, f.line, f.ir, f.held, entry)
    t2 = time.perf_counter()
    sites = sorted(walker.sites.values(), key=lambda s: (s.accessor, s.path, s.line))
    findings, other = [], []
    for finding in sorted(walker.findings.values(), key=lambda f: (f.rule, f.path, f.second.line)):
        (findings if arch is None or arch in rule_arches(finding.rule) else other).append(finding)
    coverage: dict[str, Coverage] = {}
    lost_calls = []
    for source in tree.files.values():
        c = coverage.setdefault(directory(source.path), Coverage())
        c.files += 1
        c.lines += source.lines
        c.dropped_lines += source.dropped_lines
        c.functions += len(source.functions) + source.lost_functions
        c.with_errors += sum(f.has_error for f in source.functions)
        c.lost += source.lost_functions
        c.lost_calls += len(source.lost_calls)
        lost_calls += [(source.path, line, name) for line, name in source.lost_calls]
    definitions = {}
    for name in ACCESSORS:
        d = resolver.definition(name)
        definitions[name] = d.where if d else "-"
    model = model_functions()
    mirrored, worklist = set(), {}
    for site in sites:
        if not site.path.startswith("mm/"):
            continue
        if site.function in model:
            mirrored.add(site.function)
        else:
            key = (site.function, site.path)
            worklist[key] = worklist.get(key, 0) + 1
    result = Survey(root, arch, configs.config_for(arch).description, sites, findings, other, coverage, lost_calls,
                    definitions, sorted(mirrored),
                    sorted(((f, p, n) for (f, p), n in worklist.items()), key=lambda w: (-w[2], w[0])),
                    {"read": t1 - t0, "walk": t2 - t1}, tree.parsed)
    return result


def litmus_skeleton(path: str | Path, function: str, arch: str | None = None, use_cache: bool = True) -> str:
    """A litmus skeleton of `function`'s PTE sequence (litmus.py)."""
    from .litmus import skeleton
    root, arch = check_tree(path, arch)
    tree = parse.load(root, use_cache=use_cache)
    candidates = [f for f in tree.functions() if f.name == function and f.ir is not None
                  and not (f.path.startswith("arch/") and configs.excluded(f.path, arch))]
    if not candidates:
        import difflib
        names = sorted({f.name for f in tree.functions() if f.ir is not None})
        close = difflib.get_close_matches(function, names, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SurveyError(f"no function {function!r} with PTE accessor calls in {root}{hint}")
    f = candidates[0]
    walker = Walker(Resolver(tree, arch, tree.names | frozenset(ACCESSORS)), arch, trace=function)
    walker.walk(f.name, f.path, f.line, f.ir, f.held)
    findings = [x for x in walker.findings.values() if x.rule == "flush-before-reuse"] or list(walker.findings.values())
    return skeleton(f.name, f.path, f.line, arch, walker.trace, findings[0] if findings else None)


def directory(path: str) -> str:
    parts = path.split("/")
    if parts[0] == "arch":
        return "/".join(parts[:3])
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


__all__ = ["Survey", "SurveyError", "survey", "BATCH"]
