"""Reading a kernel tree: pre-pass, tree-sitter-c, and what each file holds.

For every C file of the survey's scope: its functions (name, lines, whether it is
a static inline helper, its #if guards, the names it calls), the macros that
matter for resolution, and its parse coverage (functions parsed whole, parsed
with ERROR nodes inside, lost inside top-level ERROR nodes, and the accessor
calls in lost text).  Function bodies are kept as IR (ir.py) for the functions
that call something of interest; everything is cached per file (size, mtime).
"""

from __future__ import annotations

import os
import pickle
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_c
from tree_sitter import Language, Parser, Query, QueryCursor

from . import configs, cpp
from .ir import function_ir
from .vocabulary import ARCH_PRIMITIVES, VOCABULARY

SCOPE = ("mm", "include", "fs", "arch/*/mm", "arch/*/include")
CACHE_VERSION = 3

_LANGUAGE = Language(tree_sitter_c.language())
_CALLS = Query(_LANGUAGE, "(call_expression function: (identifier) @f)")
# A function's head at column 0 (kernel style), inside text tree-sitter could not parse: a function lost.
_HEAD = re.compile(r'^(?!typedef\b|struct\b[^(]*$|return\b|if\b|else\b)[A-Za-z_][\w \t\*]*\b\w+\s*\([^;]*$', re.M)
_KEEP_DEFINE = re.compile(r'pte|tlb|lazy|HAVE_ARCH|pgtable|pmd|radix', re.I)
_DIRECT = frozenset(VOCABULARY).union(*ARCH_PRIMITIVES.values())
_VOCAB = re.compile(r'\b(' + "|".join(sorted(VOCABULARY, key=len, reverse=True)) + r')\s*\(')


@dataclass
class Function:
    name: str
    path: str
    line: int
    end: int
    static_inline: bool
    params: tuple[str, ...]
    guards: tuple[cpp.Guard, ...]
    calls: frozenset[str]
    has_error: bool
    held: tuple[str, ...] = ()  # locks the function's annotations say its caller holds
    ir: tuple | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class SourceFile:
    path: str
    stamp: tuple[int, int]
    lines: int
    dropped_lines: int
    functions: list[Function]
    lost_functions: int
    lost_calls: list[tuple[int, str]]  # accessor calls inside text tree-sitter could not parse
    defines: list[cpp.Define]
    ir_for: frozenset[str] = frozenset()


def scope_files(root: Path) -> list[str]:
    out: list[str] = []
    tops = [root / "mm", root / "include", root / "fs"]
    arch = root / "arch"
    if arch.is_dir():
        for a in sorted(arch.iterdir()):
            tops += [a / "mm", a / "include"]
    for top in tops:
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def _function_name(node) -> tuple[str | None, tuple[str, ...]]:
    decl = node.child_by_field_name("declarator")
    while decl is not None and decl.type != "function_declarator":
        decl = decl.child_by_field_name("declarator")
    if decl is None:
        return None, ()
    inner = decl.child_by_field_name("declarator")
    while inner is not None and inner.type not in ("identifier",):
        inner = inner.child_by_field_name("declarator")
    if inner is None:
        return None, ()
    params = []
    plist = decl.child_by_field_name("parameters")
    for p in (plist.named_children if plist is not None else []):
        d = p.child_by_field_name("declarator")
        while d is not None and d.type != "identifier":
            d = d.child_by_field_name("declarator")
        params.append(d.text.decode("latin-1") if d is not None else "")
    return inner.text.decode("latin-1"), tuple(params)


def _static_inline(node) -> bool:
    words = {c.text for c in node.children if c.type in ("storage_class_specifier",)}
    return b"static" in words and (b"inline" in words or b"__always_inline" in words)


def read_file(root: Path, rel: str, parser: Parser, stamp) -> tuple[SourceFile, object]:
    raw = (root / rel).read_bytes().decode("latin-1")
    prepared = cpp.prepare(raw, configs.file_known(rel))
    tree = parser.parse(prepared.text.encode("latin-1"))
    functions: list[Function] = []
    lost, lost_calls = 0, []
    annotations = prepared.lock_annotations

    def add(node):
        name, params = _function_name(node)
        if not name:
            return
        line, end = node.start_point[0] + 1, node.end_point[0] + 1
        body = node.child_by_field_name("body")
        calls = frozenset(sys.intern(n.text.decode("latin-1")) for n in
                          QueryCursor(_CALLS).captures(body).get("f", ())) if body is not None else frozenset()
        # sparse's annotations: __must_hold(l) and __releases(l) both say the caller holds l
        held = tuple(arg for (l, kind, arg) in annotations
                     if kind in ("__must_hold", "__releases") and line - 3 <= l <= line + 3)
        functions.append(Function(sys.intern(name), rel, line, end, _static_inline(node), params, prepared.guards_at(line),
                                  calls, node.has_error, held))

    for node in tree.root_node.children:
        if node.type == "function_definition":
            add(node)
        elif node.type == "ERROR":
            inner = [c for c in node.children if c.type == "function_definition"]
            for c in inner:
                add(c)
            etext = node.text.decode("latin-1")
            lost += max(0, len(_HEAD.findall(etext)) - len(inner))
            first = node.start_point[0] + 1
            for m in _VOCAB.finditer(etext):
                if not any(c.start_byte <= node.start_byte + m.start() < c.end_byte for c in inner):
                    lost_calls.append((first + etext.count("\n", 0, m.start()), m.group(1)))
    defines = [d for d in prepared.defines if _KEEP_DEFINE.search(d.name) or _KEEP_DEFINE.search(d.value)]
    return SourceFile(rel, stamp, raw.count("\n"), prepared.dropped_lines, functions, lost, lost_calls, defines), tree


def build_ir(source: SourceFile, tree, names: frozenset[str]) -> None:
    """Keep the IR of the functions of `source` that call one of `names`."""
    wanted = {(f.name, f.line) for f in source.functions if f.ir is None and f.calls & names}
    if not wanted:
        return
    for node in _definitions(tree.root_node):
        line = node.start_point[0] + 1
        name, _ = _function_name(node)
        if (name, line) in wanted:
            for f in source.functions:
                if f.name == name and f.line == line:
                    f.ir = function_ir(node.child_by_field_name("body"))


def _definitions(root):
    for node in root.children:
        if node.type == "function_definition":
            yield node
        elif node.type == "ERROR":
            yield from (c for c in node.children if c.type == "function_definition")


@dataclass
class Tree:
    root: Path
    files: dict[str, SourceFile] = field(default_factory=dict)
    parsed: int = 0  # files parsed in this run (the others came from the cache)
    names: frozenset[str] = frozenset()  # the vocabulary and the helpers that reach it (interesting)

    def functions(self):
        for source in self.files.values():
            yield from source.functions


def _code_version() -> str:
    """A digest of the code that produces what the cache holds: a change to it invalidates the cache."""
    import hashlib
    here = Path(__file__).parent
    digest = hashlib.sha256(str(CACHE_VERSION).encode())
    for name in ("cpp.py", "parse.py", "ir.py", "configs.py", "vocabulary.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:12]


def cache_path(root: Path) -> Path:
    """$PTELAB_CACHE (default ~/.cache/ptelab)/survey/<tree>.<code digest>.pickle"""
    base = Path(os.environ.get("PTELAB_CACHE") or Path.home() / ".cache" / "ptelab")
    key = re.sub(r'[^\w-]', '_', str(root.resolve()).strip("/"))
    return base / "survey" / f"{key}.{_code_version()}.pickle"


def load(root: Path, use_cache: bool = True, progress=None) -> Tree:
    """Read every file of the scope, from the cache where the file has not changed."""
    cached: dict[str, SourceFile] = {}
    path = cache_path(root)
    if use_cache and path.exists():
        try:
            with path.open("rb") as f:
                cached = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            cached = {}
    parser = Parser(_LANGUAGE)
    tree = Tree(root)
    rels = scope_files(root)
    for i, rel in enumerate(rels):
        st = os.stat(root / rel)
        stamp = (st.st_size, st.st_mtime_ns)
        old = cached.get(rel)
        if old is not None and old.stamp == stamp:
            tree.files[rel] = old
        else:
            source, syntax = read_file(root, rel, parser, stamp)
            tree.files[rel] = source
            tree.parsed += 1
            build_ir(source, syntax, _DIRECT)  # the direct users now; the users of helpers below
        if progress:
            progress(i + 1, len(rels))
    names = tree.names = interesting(tree)
    for rel, source in tree.files.items():
        if source.ir_for == names:
            continue
        if any(f.ir is None and f.calls & names for f in source.functions):
            t = parser.parse(cpp.prepare((root / rel).read_bytes().decode("latin-1"),
                                         configs.file_known(rel)).text.encode("latin-1"))
            build_ir(source, t, names)
        source.ir_for = names
    if use_cache and (tree.parsed or set(cached) != set(tree.files)):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as f:
                pickle.dump(tree.files, f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
            for old in path.parent.glob(path.name.split(".")[0] + ".*.pickle"):  # the key has no dot
                if old != path:  # a cache written by another version of the survey's code
                    old.unlink()
        except OSError:
            pass
    return tree


def interesting(tree: Tree) -> frozenset[str]:
    """The vocabulary, and every helper (a static inline function or a function-like macro) that
    reaches it, transitively."""
    names = set(VOCABULARY).union(*ARCH_PRIMITIVES.values())
    helpers: dict[str, set[str]] = {}
    for f in tree.functions():
        if f.static_inline or f.name in VOCABULARY:
            helpers.setdefault(f.name, set()).update(f.calls)
    for source in tree.files.values():
        for d in source.defines:
            if d.params is not None:
                helpers.setdefault(d.name, set()).update(re.findall(r'\b(\w+)\s*\(', d.value))
    changed = True
    while changed:
        changed = False
        for name, calls in helpers.items():
            if name not in names and calls & names:
                names.add(name)
                changed = True
    return frozenset(names)
