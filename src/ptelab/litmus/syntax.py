"""The litmus file format (docs/litmus.md): header, initial state, C blocks, final clauses.

Everything but the bodies of the CPU blocks is read here; the bodies are C and go to
tree-sitter (litmus/body.py).  Every element keeps its offset in the file, so any
later error still points at the right line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import LitmusError, position

# a name may join parts with '-', '.' or '+' (architecture variants: ppc64-6.12+fix)
_TOKEN = re.compile(r'"[^"]*"|[A-Za-z_][A-Za-z0-9_]*(?:[-.][A-Za-z0-9_]+|\+[a-z][a-z0-9_]*)*|[0-9]+|\S')
_BRACE_OR_SKIP = re.compile(r"""/\*|//|["'{}]""")  # what braces() looks at; the rest it skips
_SKIP = re.compile(r"(?:\s+|/\*.*?\*/|//[^\n]*)*", re.S)

PAGE_WORDS = ("anon", "file", "private", "shared", "rw", "ro", "young", "old", "dirty", "clean",
              "hashed", "none", "swapped", "cached", "value", "index", "vma", "cont", "follows", "next")
CLAUSES = ("forbid", "exists", "expect")
APIS = ("legacy", "txn")  # `api NAME;`: the mm code a file's operations run (docs/txn.md)
MAX_NUMBER = 2**64 - 1  # a number in the header is an unsigned long
MAX_CPUS = 64  # cpu0 ... cpu63

# Page attributes that say the same thing (one of each group at most), and what each sets.
_GROUPS = {"anon": "kind", "file": "kind", "private": "sharing", "shared": "sharing",
           "rw": "write bit", "ro": "write bit", "young": "Accessed bit", "old": "Accessed bit",
           "dirty": "Dirty bit", "clean": "Dirty bit", "none": "entry", "swapped": "entry",
           "value": "content", "index": "index", "vma": "vma protection", "hashed": "hashed",
           "cached": "cached", "cont": "contiguous block", "follows": "place", "next": "table"}
# Attributes that describe a present entry's bits: a none or swapped entry has none of them.
_PRESENT_ONLY = ("young", "old", "dirty", "clean", "hashed")


@dataclass
class Page:
    """A page a litmus file declares, and its entry in the initial state."""

    name: str
    offset: int
    file: str | None = None  # None: anonymous
    shared: bool = False
    write: bool = True
    young: bool = True
    dirty: bool = False
    hashed: bool = False
    cached: bool = False  # a file page in the page cache even when its entry is none
    state: str = "present"  # present | none | swapped
    value: int = 0
    index: int | None = None
    vma_write: bool | None = None  # None: as the PTE
    cont: bool = False  # the first of 16 pages mapped as one aligned block (arm64 contpte)
    follows: str | None = None  # the page just below it in one vma (`follows A`)
    next_table: bool = False  # `next table`: it is the first entry of the next PTE table


@dataclass
class Fork:
    """`fork NAME;` in the declarations: the model's fork (dup_mm) makes mm NAME of the pages declared before it."""

    name: str
    offset: int
    pages: int  # how many pages were declared before it


@dataclass
class TlbEntry:
    """A TLB entry the initial state holds (`cpu1 has A in its TLB`)."""

    cpu: int
    page: str
    writable: bool
    offset: int


@dataclass
class Hardware:
    """A speculative TLB fill or drop, explored as an actor of its own."""

    cpu: int
    kind: str  # fill | drop
    page: str
    offset: int


@dataclass
class Block:
    """A litmus block: the code one CPU runs."""

    name: str
    cpu: int
    mm: str
    body: str  # from '{' to the matching '}'
    body_offset: int
    offset: int
    after: list[str] = field(default_factory=list)  # blocks whose end this one waits for


@dataclass
class Clause:
    """A forbid, exists or expect clause."""

    kind: str  # forbid | exists | expect
    offset: int
    outcomes: list[tuple[str, int]] = field(default_factory=list)  # names (invariants, rule ids)
    expr: str | None = None  # a C expression on the final state, with its parentheses
    expr_offset: int = 0
    archs: list[tuple[str, int]] = field(default_factory=list)  # expect only
    excluded: list[tuple[str, int]] = field(default_factory=list)  # expect all except ...


@dataclass
class LitmusFile:
    """A parsed litmus file."""

    path: str
    text: str
    name: str
    description: str
    pages: list[Page]
    forks: list[Fork]
    tlbs: list[TlbEntry]
    hardware: list[Hardware]
    blocks: list[Block]
    clauses: list[Clause]
    api: str | None = None  # `api txn;`: the mm code its operations run, whatever --api says

    def error(self, offset: int, message: str, choices=(), near: str = "") -> LitmusError:
        line, col = position(self.text, offset)
        return LitmusError(self.path, self.text, line, col, message, choices, near)


class _Reader:
    def __init__(self, path: str, text: str):
        self.path, self.text, self.pos = path, text, 0

    def error(self, offset, message, choices=(), near=""):
        line, col = position(self.text, offset)
        return LitmusError(self.path, self.text, line, col, message, choices, near)

    def _skip(self):
        self.pos = _SKIP.match(self.text, self.pos).end()

    def peek(self) -> tuple[str, int]:
        self._skip()
        m = _TOKEN.match(self.text, self.pos)
        return (m.group(), self.pos) if m else ("", self.pos)

    def next(self) -> tuple[str, int]:
        token, offset = self.peek()
        self.pos = offset + len(token)
        return token, offset

    def expect(self, wanted: str, what: str = "") -> int:
        token, offset = self.next()
        if token != wanted:
            raise self.error(offset, f"expected '{wanted}'{what}, found {_show(token)}")
        return offset

    def word(self, what: str) -> tuple[str, int]:
        token, offset = self.next()
        if not re.match(r"[A-Za-z_]", token or " "):
            raise self.error(offset, f"expected {what}, found {_show(token)}")
        return token, offset

    def number(self, what: str, limit: int = MAX_NUMBER) -> int:
        token, offset = self.next()
        if not (token.isascii() and token.isdigit()):
            raise self.error(offset, f"expected {what} (a number), found {_show(token)}")
        return _bounded(self, token, offset, what, limit)

    def string(self, what: str) -> str:
        """A string in double quotes, without them."""
        token, offset = self.next()
        if not token.startswith('"'):
            raise self.error(offset, f"expected {what} in double quotes, found {_show(token)}")
        if len(token) < 2 or not token.endswith('"'):
            raise self.error(offset, f"{what}: this '\"' is never closed")
        return token[1:-1]

    def cpu(self, token: str, offset: int) -> int:
        m = re.fullmatch(r"cpu([0-9]+)", token)
        if not m:
            raise self.error(offset, f"expected a CPU (cpu0, cpu1, ...), found {_show(token)}")
        return _bounded(self, m.group(1), offset, "a CPU number", MAX_CPUS - 1)

    def braces(self) -> tuple[str, int]:
        """The text from the '{' at the cursor to its matching '}'."""
        start = self.expect("{")
        depth, i, text = 0, start, self.text
        while True:
            m = _BRACE_OR_SKIP.search(text, i)
            if m is None:
                raise self.error(start, "this '{' is never closed")
            c, i = m.group(), m.start()
            if c in ("/*", "//", '"', "'"):
                close = {"/*": "*/", "//": "\n"}.get(c, c)
                end = text.find(close, i + len(c))
                i = len(text) if end < 0 else end + (len(close) if c != "//" else 0)
                continue
            depth += 1 if c == "{" else -1
            i += 1
            if depth == 0:
                self.pos = i
                return text[start:i], start


def _show(token: str) -> str:
    if len(token) > 40:
        token = token[:37] + "..."
    return f"'{token}'" if token else "the end of the file"


def _bounded(r: _Reader, digits: str, offset: int, what: str, limit: int) -> int:
    """The decimal number `digits`, refused past `limit` (and never converted when it has
    more digits than the limit: Python refuses to convert 4,300 digits)."""
    if len(digits.lstrip("0")) > len(str(limit)) or int(digits) > limit:
        raise r.error(offset, f"{what} goes from 0 to {limit}")
    return int(digits)


def parse(path: str, text: str) -> LitmusFile:
    r = _Reader(path, text)
    r.expect("PTE", " (a litmus file starts with: PTE <name>)")
    name, _ = r.word("the test's name")
    description = ""
    token, offset = r.peek()
    if token.startswith('"'):
        description = " ".join(r.string("the description").split())
    pages, forks, tlbs, hardware, api = _state(r)
    blocks = _blocks(r)
    clauses = _clauses(r)
    result = LitmusFile(path, text, name, description, pages, forks, tlbs, hardware, blocks, clauses, api)
    _check_names(result)
    return result


def _state(r: _Reader):
    pages, forks, tlbs, hardware, api = [], [], [], [], None
    r.expect("{", " (the initial state)")
    while True:
        token, offset = r.next()
        if token == "}":
            return pages, forks, tlbs, hardware, api
        if token == "api" and r.peek()[0] != ":":
            if api is not None:
                raise r.error(offset, f"the file already says 'api {api}': give it once")
            api, aoff = r.word("'legacy' or 'txn'")
            if api not in APIS:
                raise r.error(aoff, f"unknown api '{api}'; choose from: {', '.join(APIS)}", APIS, api)
        elif token == "fork":
            name, _ = r.word("a name for the forked mm")
            forks.append(Fork(name, offset, len(pages)))
        elif re.fullmatch(r"cpu\d+", token):
            cpu = r.cpu(token, offset)
            verb, voff = r.word("'has' or 'may'")
            if verb == "has":
                page, _ = r.word("a page name")
                writable = r.peek()[0] == "writable"
                if writable:
                    r.next()
                for w in ("in", "its", "TLB"):
                    r.expect(w, f" ({token} has {page} [writable] in its TLB)")
                tlbs.append(TlbEntry(cpu, page, writable, offset))
            elif verb == "may":
                kind, koff = r.word("'fill' or 'drop'")
                if kind not in ("fill", "drop"):
                    raise r.error(koff, f"unknown hardware event '{kind}'; choose from: fill, drop", ("fill", "drop"), kind)
                page, _ = r.word("a page name")
                hardware.append(Hardware(cpu, kind, page, offset))
            else:
                raise r.error(voff, f"expected 'has' or 'may' after {token}", ("has", "may"), verb)
        elif re.fullmatch(r"[A-Za-z_]\w*", token or " "):
            r.expect(":", f" (a page: {token}: anon|file \"name\" [flags])")
            pages.append(_page(r, token, offset))
            continue
        else:
            raise r.error(offset, f"expected a page, 'fork', a CPU or '}}', found {_show(token)}")
        r.expect(";")


def _page(r: _Reader, name: str, offset: int) -> Page:
    page = Page(name, offset)
    kind = None
    said: dict[str, tuple[str, int]] = {}  # group -> (attribute, offset)
    while True:
        token, toff = r.next()
        if token == ";":
            break
        if token == ",":
            continue
        group = _GROUPS.get(token)
        if group in said:
            first = said[group][0]
            again = "twice" if first == token else f"'{first}', then '{token}'"
            raise r.error(toff, f"page {name} says {again}: give its {group} once")
        if group is not None:
            said[group] = (token, toff)
        if token == "anon":
            kind = "anon"
        elif token == "file":
            page.file, kind = r.string("the file's name"), "file"
        elif token in ("private", "shared"):
            page.shared = token == "shared"
        elif token in ("rw", "ro"):
            page.write = token == "rw"
        elif token in ("young", "old"):
            page.young = token == "young"
        elif token in ("dirty", "clean"):
            page.dirty = token == "dirty"
        elif token == "hashed":
            page.hashed = True
        elif token == "cached":
            page.cached = True
        elif token == "cont":
            page.cont = True
        elif token in ("none", "swapped"):
            page.state = token
        elif token == "value":
            page.value = r.number("the page's content")
        elif token == "index":
            page.index = r.number("the page's index in its file")
        elif token == "follows":
            page.follows, _ = r.word("the page it follows")
        elif token == "next":
            r.expect("table", " ('next table': the page starts the next PTE table)")
            page.next_table = True
        elif token == "vma":
            prot, poff = r.next()
            if prot not in ("rw", "ro"):
                raise r.error(poff, "expected 'rw' or 'ro' after 'vma'")
            page.vma_write = prot == "rw"
        else:
            raise r.error(toff, f"unknown page attribute {_show(token)}; choose from: {', '.join(PAGE_WORDS)}",
                          PAGE_WORDS, token)
    if kind is None:
        raise r.error(offset, f"page {name} says neither 'anon' nor 'file \"name\"'")
    _consistent(r, page, kind, said)
    if kind == "anon" and page.shared:
        raise r.error(offset, f"page {name}: shared anonymous memory is not modelled; use a shared file")
    if page.cached and (kind != "file" or page.state != "none"):
        raise r.error(offset, f"page {name}: 'cached' is for a file page whose entry is none "
                      "(a mapped file page is always in the page cache)")
    if page.state == "swapped" and kind != "anon":
        raise r.error(offset, f"page {name}: only anonymous pages are swapped")
    if page.cont and (kind != "anon" or page.state != "present"):
        raise r.error(offset, f"page {name}: 'cont' is for a present anonymous page (16 pages of one block)")
    if page.next_table and page.follows is None:
        raise r.error(said["table"][1], f"page {name}: 'next table' places a page that follows "
                      "another (follows A, next table)")
    if page.follows is not None and page.index is not None:
        raise r.error(said["index"][1], f"page {name} follows {page.follows} in its vma, so its index "
                      f"is {page.follows}'s plus one: give none")
    return page


def _consistent(r: _Reader, page: Page, kind: str, said: dict) -> None:
    """Refuse attributes that no state the kernel reaches has together; a read-only vma
    makes the entry read-only unless it says otherwise."""
    name = page.name
    if page.vma_write is False and "write bit" not in said:
        page.write = False
    if page.state != "present":
        for word in _PRESENT_ONLY:
            if word in (t for t, _ in said.values()):
                raise r.error(said[_GROUPS[word]][1], f"page {name} is {page.state}: its entry is not "
                              f"present, so it has no '{word}' (a present entry's bit)")
    if page.vma_write is False and page.write and "write bit" in said:
        raise r.error(said["write bit"][1], f"page {name}: a writable entry in a read-only vma "
                      "(the kernel never makes one: the vma's protection bounds the entry's)")
    if page.index is not None and kind != "file":
        raise r.error(said["index"][1], f"page {name}: 'index' is the page's index in its file; "
                      "an anonymous page has none")


def _blocks(r: _Reader) -> list[Block]:
    blocks = []
    while True:
        token, offset = r.peek()
        if not re.fullmatch(r"P\d+", token):
            if not blocks:
                raise r.error(offset, f"expected a CPU block (P0 @ cpu0 {{ ... }}), found {_show(token)}")
            return blocks
        r.next()
        r.expect("@", f" ({token} @ cpuN {{ ... }})")
        cpu_token, coff = r.next()
        cpu = r.cpu(cpu_token, coff)
        mm = "mm"
        if r.peek()[0] == "in":
            r.next()
            mm, _ = r.word("the mm the block runs in")
        after = []
        if r.peek()[0] == "after":
            r.next()
            for name, noff in _names(r):
                if not any(b.name == name for b in blocks):
                    raise r.error(noff, f"'after {name}': name a block defined before this one",
                                  [b.name for b in blocks], name)
                after.append(name)
        body, body_offset = r.braces()
        if any(b.name == token for b in blocks):
            raise r.error(offset, f"block {token} is defined twice")
        if any(b.cpu == cpu for b in blocks):
            raise r.error(coff, f"cpu{cpu} already runs another block")
        blocks.append(Block(token, cpu, mm, body, body_offset, offset, after))


def _clauses(r: _Reader) -> list[Clause]:
    clauses = []
    while True:
        token, offset = r.next()
        if token == "":
            return clauses
        if token == ";":
            continue
        if token not in CLAUSES:
            raise r.error(offset, f"expected a final clause, found {_show(token)}; choose from: {', '.join(CLAUSES)}",
                          CLAUSES, token)
        clause = Clause(token, offset)
        if token == "expect":
            clause.archs = _names(r)
            if r.peek()[0] == "except":
                r.next()
                clause.excluded = _names(r)
            r.expect(":", " (expect ARCH[, ARCH] [except ARCH[, ARCH]]: OUTCOME[, OUTCOME] or (C))")
            if r.peek()[0] == "(":  # a condition expected on those architectures
                clause.expr, clause.expr_offset = _parens(r)
            else:
                clause.outcomes = _names(r)
        elif r.peek()[0] == "(":
            if token == "forbid" or token == "exists":
                text, start = _parens(r)
                clause.expr, clause.expr_offset = text, start
        elif token == "forbid":
            clause.outcomes = _names(r)
        else:
            raise r.error(r.peek()[1], "expected a condition in parentheses after 'exists'")
        clauses.append(clause)


def _names(r: _Reader) -> list[tuple[str, int]]:
    names = [r.word("a name")]
    while r.peek()[0] == ",":
        r.next()
        names.append(r.word("a name"))
    return names


def _parens(r: _Reader) -> tuple[str, int]:
    start = r.expect("(")
    depth, i, text = 1, start + 1, r.text
    while i < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    if depth:
        raise r.error(start, "this '(' is never closed")
    r.pos = i
    return text[start:i], start


def _check_names(f: LitmusFile) -> None:
    names = [p.name for p in f.pages]
    for page in f.pages:
        if names.count(page.name) > 1:
            raise f.error(page.offset, f"page {page.name} is declared twice")
    _check_follows(f)
    mms = ["mm"] + [fork.name for fork in f.forks]
    for decl in (*f.tlbs, *f.hardware):
        if decl.page not in names:
            raise f.error(decl.offset, f"undefined page '{decl.page}'", names, decl.page)
    for block in f.blocks:
        if block.mm not in mms:
            raise f.error(block.offset, f"block {block.name} runs in undefined mm '{block.mm}'", mms, block.mm)


def _vma_writable(page: Page) -> bool:
    return page.write if page.vma_write is None else page.vma_write


def _check_follows(f: LitmusFile) -> None:
    """`B: ..., follows A`: B is the page after A in A's vma, so it must be declared right
    after A's group, be the same kind of memory with the same vma protection, and no fork
    may come between them (the vma is built whole before any fork copies it)."""
    index = {p.name: i for i, p in enumerate(f.pages)}
    group_of: dict[str, int] = {}  # page -> index of its group's first page
    last: dict[int, int] = {}  # group -> index of its last page so far
    for i, page in enumerate(f.pages):
        if page.follows is None:
            group_of[page.name] = last[i] = i
            continue
        prev = page.follows
        where = page.offset
        if prev not in index or index[prev] >= i:
            raise f.error(where, f"page {page.name} follows '{prev}': name a page declared before it",
                          [p.name for p in f.pages[:i]], prev)
        lead = group_of[prev]
        if last[lead] != index[prev]:
            raise f.error(where, f"page {page.name} follows {prev}, which "
                          f"{f.pages[last[lead]].name} already follows; follow that one")
        if last[lead] != i - 1:
            raise f.error(where, f"page {page.name} follows {prev}: declare it right after {prev}")
        a = f.pages[lead]
        if page.cont or a.cont:
            raise f.error(where, f"page {page.name}: a 'cont' block is a vma of its own; nothing follows it")
        if (page.file, page.shared) != (a.file, a.shared):
            raise f.error(where, f"page {page.name} follows {prev} in one vma: give it the same kind "
                          f"of memory ({'anon' if a.file is None else repr(a.file)}, "
                          f"{'shared' if a.shared else 'private'})")
        if _vma_writable(page) != _vma_writable(a):
            raise f.error(where, f"page {page.name} follows {prev} in one vma, which is "
                          f"{'rw' if _vma_writable(a) else 'ro'}: say 'vma {'rw' if _vma_writable(a) else 'ro'}'")
        if page.next_table and any(p.next_table for p in f.pages[lead:i]):
            raise f.error(where, f"page {page.name}: one 'next table' per vma (a second table "
                          "boundary is 512 pages away)")
        if any(lead < fork.pages <= i for fork in f.forks):
            raise f.error(where, f"page {page.name}: a fork comes between it and {prev}, the vma "
                          "they share; declare the fork after both")
        group_of[page.name] = lead
        last[lead] = i
