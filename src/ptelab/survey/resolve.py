"""Which definition of a name applies on an architecture.

Order, as the kernel's headers arrange it: the architecture's own definition
(arch/ARCH/include, arch/ARCH/mm, minus the variants its configuration does not
build, configs.py), then include/asm-generic, then include/linux and mm/ (the
`#ifndef __HAVE_ARCH_...` fallbacks of include/linux/pgtable.h and
mm/pgtable-generic.c).  A definition whose #if guards the architecture's
configuration and macros decide false does not apply (a generic
`clear_young_dirty_ptes` is guarded by `#ifndef clear_young_dirty_ptes`, which
arm64 defines and powerpc does not).  `#define NAME OTHER` in the architecture's
headers redirects to OTHER; a function-like macro is followed like a static inline.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter_c
from tree_sitter import Language, Parser

from . import configs, cpp
from .ir import function_ir
from .parse import Function, Tree


@dataclass(frozen=True)
class Definition:
    name: str
    path: str
    line: int
    params: tuple[str, ...]
    ir: tuple
    macro: bool = False

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _tier(path: str) -> int:
    if path.startswith("arch/"):
        return 0
    if path.startswith("include/asm-generic/"):
        return 1
    return 2


class Resolver:
    def __init__(self, tree: Tree, arch: str | None, helpers: frozenset[str]):
        self.arch = arch
        self.known = configs.config_for(arch).known
        self.runtime = configs.config_for(arch).runtime
        self.helpers = helpers
        self.macros: set[str] = set()  # what the architecture's headers #define
        self.aliases: dict[str, str] = {}
        self.functions: dict[str, list[Function]] = {}
        self.defines: dict[str, list[tuple[str, cpp.Define]]] = {}
        for source in tree.files.values():
            if self._excluded(source.path):
                continue
            for d in source.defines:
                if source.path.startswith(f"arch/{arch}/include/") and self._applies(d.guards, check_macros=False):
                    self.macros.add(d.name)
                    if d.params is None and d.value.isidentifier() and d.value != d.name:
                        self.aliases[d.name] = d.value
                if d.params is not None and d.name in helpers:
                    self.defines.setdefault(d.name, []).append((source.path, d))
            for f in source.functions:
                if f.name in helpers:
                    self.functions.setdefault(f.name, []).append(f)
        self._cache: dict[str, Definition | None] = {}
        self._parser = Parser(Language(tree_sitter_c.language()))

    def _excluded(self, path: str) -> bool:
        return path.startswith("arch/") and configs.excluded(path, self.arch)

    def _applies(self, guards, check_macros: bool = True) -> bool:
        macros = self.macros if check_macros else set()
        for g in guards:
            value = cpp.evaluate(g.expr, self.known, macros)
            if value is not None and value != g.holds:
                return False
        return True

    def definition(self, name: str) -> Definition | None:
        if name in self._cache:
            return self._cache[name]
        self._cache[name] = None  # a recursive alias resolves to nothing
        target = self.aliases.get(name, name)
        found = self._find(target) if target == name else (self.definition(target) or self._find(name))
        self._cache[name] = found
        return found

    def _find(self, name: str) -> Definition | None:
        candidates: list[tuple[int, int, Definition]] = []
        for f in self.functions.get(name, ()):
            if self._applies(f.guards):
                candidates.append((_tier(f.path), 0 if f.path.endswith(".h") else 1,
                                   Definition(name, f.path, f.line, f.params, f.ir or ())))
        for path, d in self.defines.get(name, ()):
            if self._applies(d.guards) and d.value:
                ir = self._macro_ir(d.value)
                if ir is not None:
                    candidates.append((_tier(path), 0, Definition(name, path, d.line, d.params, ir, macro=True)))
        if not candidates:
            return None
        candidates.sort(key=lambda c: (c[0], c[1]))
        return candidates[0][2]

    def _macro_ir(self, value: str):
        body = value.strip()
        if body.startswith("do") and body.endswith("while (0)"):
            source = f"void __m(void) {{ {body}; }}"
        elif body.startswith("{") or body.startswith("({"):
            source = f"void __m(void) {{ {body.strip('()')} }}"
        else:
            source = f"void __m(void) {{ {body}; }}"
        tree = self._parser.parse(source.encode("latin-1"))
        fn = tree.root_node.children[0] if tree.root_node.children else None
        if fn is None or fn.type != "function_definition":
            return None
        return function_ir(fn.child_by_field_name("body"))
