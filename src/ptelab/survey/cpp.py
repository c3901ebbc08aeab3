"""The C pre-pass: what tree-sitter-c cannot take from kernel C as it is.

Kernel C is written for gcc after cpp.  tree-sitter parses it without the
preprocessor, so before parsing this pass
  * chooses `#if`/`#ifdef` branches for a configuration (configs.py): a branch
    whose condition the configuration decides is kept or dropped; an undecided
    group at file level whose branches all balance their braces keeps every
    branch (both definitions of a function are then seen, each with its guard);
    any other undecided group keeps its first branch only;
  * blanks attribute and annotation macros (`__always_inline`, `__init`,
    `__must_hold(ptl)`...), recording the lock annotations;
  * turns iterator macros used as loops (`list_for_each_entry(...) {`) into
    `while (...)`, so they parse, and count as loops.
Lines are preserved (dropped text becomes spaces, newlines kept), so every
line number the survey prints is the source file's.  What was dropped is
counted, never silent: `Prepared.dropped_lines`.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

# Comments and string/char literals, replaced by spaces in the "mask" used to
# find directives, braces and macros in code only.
_NOISE = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
_DIRECTIVE = re.compile(r'^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif|define|undef)\b((?:[^\n\\]|\\.|\\\n)*)',
                        re.M)
_DEFINE = re.compile(r'\s*(\w+)(\()?')

# Attribute and annotation macros that expand to nothing tree-sitter needs
# (include/linux/compiler_types.h, compiler_attributes.h, init.h in 6.12).
ATTRIBUTE_WORDS = (
    "__always_inline __inline__ __inline __init __exit __initdata __initconst __exitdata __ref __meminit "
    "__meminitdata __always_unused __maybe_unused __used __weak __cold __hot noinline __noinline notrace "
    "__noreturn __must_check __pure __flatten __ro_after_init __read_mostly __rcu __user __iomem __kernel "
    "__percpu __force __nocast __bitwise __private __visible __init_or_module __sched __kprobes noinstr "
    "asmlinkage __latent_entropy __randomize_layout __packed __nonstring __malloc __safe __mm_init "
    "__noclone __no_kcsan __no_sanitize_address __no_kasan_or_inline __no_sanitize_or_inline "
    "__always_inline__ __deprecated __attribute_const__ __naked __noinstr __nocfi __head __ref_ok "
    "__cpuidle __irq_entry __softirqentry_text __init_memblock __initdata_memblock __meminitconst "
    "__kprobes __lockfunc __must_be_array __fastpath_inline __section_sched __noendbr __no_stack_protector "
    "__no_profile __counted_by_placeholder __assume_aligned_placeholder __cacheline_aligned "
    "__cacheline_aligned_in_smp ____cacheline_aligned ____cacheline_aligned_in_smp __page_aligned_data "
    "__page_aligned_bss __lsm_ro_after_init __initconst_or_module __always_unused__ __ro_after_init_scope "
    "__refdata __refconst __init_task_data __tracepoint_string STATIC"
).split()
# Annotations with arguments; the lock ones are recorded (sparse's context annotations).
ATTRIBUTE_CALLS = (
    "__must_hold __acquires __releases __cond_acquires __cond_releases __printf __scanf __section __aligned "
    "__alloc_size __counted_by __assume_aligned __diagnose_as __no_sanitize __nonstring __realloc_size "
    "__compiletime_error __compiletime_warning __malloc_like __access __designated_init_placeholder "
    "__sparse_force_placeholder __cleanup"
).split()
LOCK_ANNOTATIONS = ("__must_hold", "__acquires", "__releases", "__cond_acquires", "__cond_releases")

_WORD_SET = frozenset(ATTRIBUTE_WORDS)
_CALL_SET = frozenset(ATTRIBUTE_CALLS)
_UNDERSCORED = re.compile(r"\b(?:__\w+|noinline|notrace|noinstr|asmlinkage|STATIC)\b(\s*\()?")
# An iterator macro used as a loop statement: name(args) followed by a statement.
_FOR_EACH = re.compile(r'(?<![\w.>])(\w*for_?each\w*)\s*\(')
# SYSCALL_DEFINEn(name, type, arg, ...) and a macro argument that is a type (min_t, container_of...).
_SYSCALL = re.compile(r'\b(?:COMPAT_)?SYSCALL_DEFINE(\d)\(\s*(\w+)\s*(,?)')
_TYPE = r'(?:const\s+)?(?:(?:struct|union|enum)\s+\w+|(?:unsigned|signed)(?:\s+(?:char|short|int|long))*|' \
        r'(?:unsigned\s+)?(?:char|short|int|long\s+long|long)|[us](?:8|16|32|64)|size_t|ssize_t|pgoff_t|' \
        r'phys_addr_t|pte_t|pmd_t|pud_t|bool|void)(?:\s*\*+)?'
_TYPE_ARG = re.compile(r'[(,](\s*' + _TYPE + r'\s*)(?=[,)])')


@dataclass(frozen=True)
class Guard:
    """One condition a region of text depends on: `expr` must be `holds`."""

    expr: str
    holds: bool

    def __str__(self) -> str:
        return self.expr if self.holds else f"!({self.expr})"


@dataclass
class Define:
    name: str
    line: int
    params: tuple[str, ...] | None  # None: object-like
    value: str
    guards: tuple[Guard, ...]


@dataclass
class Prepared:
    text: str  # what tree-sitter parses: same lines as the source
    dropped_lines: int  # lines of branches not taken (all configurations' choices together)
    defines: list[Define]
    regions: list[tuple[int, int, tuple[Guard, ...]]]  # (first line, last line, guards) of kept undecided branches
    lock_annotations: list[tuple[int, str, str]]  # (line, annotation, argument)

    def guards_at(self, line: int) -> tuple[Guard, ...]:
        out: list[Guard] = []
        for first, last, guards in self.regions:
            if first <= line <= last:
                out.extend(guards)
        return tuple(out)


def mask(text: str) -> str:
    """The text with comments and literals blanked (newlines, and the backslashes before them, kept)."""
    return _NOISE.sub(_blank_keep_continuations, text)


def _blank_keep_continuations(m) -> str:
    return "\n".join(" " * (len(p) - 1) + "\\" if p.endswith("\\") else " " * len(p) for p in m.group().split("\n"))


def _blank(s: str) -> str:
    if "\n" not in s:
        return " " * len(s)
    return "\n".join(" " * len(p) for p in s.split("\n"))


# ---- #if expressions, three-valued (True, False, None: the configuration does not say)

_TOKEN = re.compile(r'\s*(?:(defined)\b|(IS_ENABLED|IS_BUILTIN|IS_MODULE|IS_REACHABLE)\s*\(\s*(\w+)\s*\)|'
                    r'(\d+)[uUlL]*|(\w+)|(&&|\|\||==|!=|<=|>=|[()!<>]))')


def evaluate(expr: str, known: dict[str, bool], defined: set[str] = frozenset()) -> bool | None:
    """Evaluate a #if expression: True, False, or None when it depends on something unknown."""
    tokens: list[tuple[str, str]] = []
    pos, expr = 0, expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            return None
        pos = m.end()
        if m.group(1):
            tokens.append(("defined", ""))
        elif m.group(2):
            value = known.get(m.group(3))
            tokens.append(("value", value if m.group(2) != "IS_MODULE" else (False if value is not None else None)))
        elif m.group(4):
            tokens.append(("value", int(m.group(4)) != 0))
        elif m.group(5):
            tokens.append(("name", m.group(5)))
        elif m.group(6):
            tokens.append(("op", m.group(6)))
        else:
            break
    try:
        value, rest = _or(tokens, known, defined)
    except (IndexError, ValueError):
        return None
    return value if not rest else None


def _or(t, k, d):
    left, t = _and(t, k, d)
    while t and t[0] == ("op", "||"):
        right, t = _and(t[1:], k, d)
        left = True if (left is True or right is True) else (False if left is False and right is False else None)
    return left, t


def _and(t, k, d):
    left, t = _cmp(t, k, d)
    while t and t[0] == ("op", "&&"):
        right, t = _cmp(t[1:], k, d)
        left = False if (left is False or right is False) else (True if left is True and right is True else None)
    return left, t


def _cmp(t, k, d):
    left, t = _unary(t, k, d)
    if t and t[0][0] == "op" and t[0][1] in ("==", "!=", "<", ">", "<=", ">="):
        _, t = _unary(t[1:], k, d)
        return None, t  # numeric comparisons of macros: not decided here
    return left, t


def _unary(t, k, d):
    kind, value = t[0]
    if (kind, value) == ("op", "!"):
        inner, t = _unary(t[1:], k, d)
        return (None if inner is None else not inner), t
    if (kind, value) == ("op", "("):
        inner, t = _or(t[1:], k, d)
        if not t or t[0] != ("op", ")"):
            raise ValueError
        return inner, t[1:]
    if kind == "defined":
        t = t[1:]
        paren = t[0] == ("op", "(")
        if paren:
            t = t[1:]
        name = t[0][1]
        t = t[1:]
        if paren:
            if t[0] != ("op", ")"):
                raise ValueError
            t = t[1:]
        if name in d:
            return True, t
        return k.get(name), t
    if kind == "value":
        return value, t[1:]
    if kind == "name":
        return k.get(value), t[1:]
    raise ValueError


# ---- the pass


@dataclass
class _Branch:
    kind: str  # if, ifdef, ifndef, elif, else
    cond: str
    value: bool | None
    line: int  # line of the directive
    start: int  # offset of the directive
    body: int = 0  # offset after the directive line
    end: int = 0  # offset of the next directive of the group

    def guard(self) -> Guard:
        if self.kind == "ifdef":
            return Guard(f"defined({self.cond})", True)
        if self.kind == "ifndef":
            return Guard(f"defined({self.cond})", False)
        return Guard(self.cond, True)


@dataclass
class _Group:
    depth: int  # brace depth of code at the #if
    branches: list[_Branch] = field(default_factory=list)


def _balanced(masked: str) -> bool:
    return masked.count("{") == masked.count("}") and masked.count("(") == masked.count(")")


def _condition(kind: str, rest: str) -> str:
    rest = re.sub(r'\\\n', ' ', rest).strip()
    rest = re.sub(r'/\*.*?\*/|//.*', '', rest).strip()
    if kind in ("ifdef", "ifndef"):
        return rest.split()[0] if rest.split() else ""
    return rest


def prepare(text: str, known: dict[str, bool]) -> Prepared:
    """Pre-process one file's text for `known` (CONFIG_ and macro values; others undecided)."""
    masked = mask(text)
    line_starts = [0] + [m.end() for m in re.finditer(r'\n', text)]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(line_starts, offset)

    blanks: list[tuple[int, int]] = []
    regions: list[tuple[int, int, tuple[Guard, ...]]] = []
    defines: list[Define] = []
    defined: set[str] = set()
    stack: list[_Group] = []
    depth, last = 0, 0
    dropped = 0
    # `live` is false inside a branch this file will certainly drop (a decided-false
    # condition): defines there do not count, braces there do not move the depth.
    for m in _DIRECTIVE.finditer(masked):
        kind = m.group(1)
        live = all(_counts(g) for g in stack)
        if live:
            depth += masked.count("{", last, m.start()) - masked.count("}", last, m.start())
        last = m.end()
        blanks.append((m.start(), m.end()))
        rest = text[m.start(2):m.end(2)]
        if kind in ("define", "undef"):
            if live:
                d = _DEFINE.match(rest)
                if d:
                    name = d.group(1)
                    if stack and kind == "define":  # an include guard: #ifndef X, #define X
                        b = stack[-1].branches[-1]
                        if b.kind == "ifndef" and b.cond == name and not masked[b.body:m.start()].strip():
                            b.value = True
                    if kind == "undef":
                        defined.discard(name)
                        continue
                    defined.add(name)
                    params = None
                    value = rest[d.end():]
                    if d.group(2):
                        close = value.find(")")
                        params = tuple(p.strip() for p in value[:close].split(",") if p.strip())
                        value = value[close + 1:]
                    guards = tuple(gd for g in stack for gd in _kept_guards(g))
                    defines.append(Define(name, line_of(m.start()), params, re.sub(r'\\\n', ' ', value).strip(),
                                          guards))
            continue
        if kind in ("if", "ifdef", "ifndef"):
            cond = _condition(kind, rest)
            value = evaluate(cond if kind == "if" else f"defined({cond})", known, defined)
            if kind == "ifndef" and value is not None:
                value = not value
            group = _Group(depth)
            group.branches.append(_Branch(kind, cond, value, line_of(m.start()), m.start(), m.end()))
            stack.append(group)
            continue
        if not stack:  # an #else or #endif without its #if: leave the text to tree-sitter
            continue
        group = stack[-1]
        group.branches[-1].end = m.start()
        if kind in ("elif", "else"):
            cond = _condition(kind, rest) if kind == "elif" else ""
            value = evaluate(cond, known, defined) if kind == "elif" else True
            group.branches.append(_Branch(kind, cond, value, line_of(m.start()), m.start(), m.end()))
            if _counts(group, upto=len(group.branches) - 1) and live:
                pass
            depth = group.depth  # every branch starts at the depth of the #if
            continue
        # endif: decide the group
        stack.pop()
        keep = _decide(group, masked)
        for i, b in enumerate(group.branches):
            if i not in keep:
                blanks.append((b.body, b.end))
                dropped += max(0, text.count("\n", b.body, b.end) - 1)
            else:
                guards = _branch_guards(group, i)
                if guards:
                    regions.append((line_of(b.body), line_of(b.end), guards))
        # the depth after the group: as after the branch the fallback keeps
        first = min(keep) if keep else None
        depth = group.depth
        if first is not None:
            b = group.branches[first]
            depth += masked.count("{", b.body, b.end) - masked.count("}", b.body, b.end)
        last = m.end()
    # unterminated groups: keep what is there
    locks: list[tuple[int, str, str]] = []
    for m in _UNDERSCORED.finditer(masked):
        word = m.group().rstrip(" \t\n(")
        if m.group(1) and word in _CALL_SET:
            close = _close_paren(masked, m.end() - 1)
            if close < 0:
                continue
            blanks.append((m.start(), close + 1))
            if word in LOCK_ANNOTATIONS:
                locks.append((line_of(m.start()), word, text[m.end():close].strip()))
        elif word in _WORD_SET:
            blanks.append((m.start(), m.start() + len(word)))
    types = [(m.start(1), m.end(1)) for m in _TYPE_ARG.finditer(masked) if not masked[m.start()] == "("
             or not masked[m.end():m.end() + 40].lstrip().startswith(")")]
    out = _apply(text, blanks + types)
    masked = _apply(masked, blanks + types)
    if types:  # a placeholder where a type was, so that the macro keeps its arity
        chars = list(out)
        for start, end in types:
            span = text[start:end]
            chars[start + len(span) - len(span.lstrip())] = "_"
        out = "".join(chars)
    out = _loops(out, masked)
    if "SYSCALL_DEFINE" in out:
        out = _syscalls(out)
    return Prepared(out, dropped, defines, regions, locks)


def _counts(group: _Group, upto: int | None = None) -> bool:
    """Whether the group's current branch is live text for depth and defines."""
    branches = group.branches if upto is None else group.branches[:upto + 1]
    current = branches[-1]
    if current.value is False:
        return False
    earlier = branches[:-1]
    if any(b.value is True for b in earlier):
        return False
    if any(b.value is None for b in earlier):
        return False  # the fallback keeps the first undecided branch
    return True


def _decide(group: _Group, masked: str) -> set[int]:
    """Indices of the branches to keep."""
    candidates: list[int] = []
    for i, b in enumerate(group.branches):
        if b.value is False:
            continue
        candidates.append(i)
        if b.value is True:
            break
    if not candidates:
        return set()
    if group.branches[candidates[0]].value is True:
        return {candidates[0]}
    if group.depth == 0 and len(candidates) > 1 and all(
            _balanced(masked[group.branches[i].body:group.branches[i].end]) for i in candidates):
        return set(candidates)
    return {candidates[0]}


def _kept_guards(group: _Group) -> list[Guard]:
    return list(_branch_guards(group, len(group.branches) - 1))


def _branch_guards(group: _Group, index: int) -> tuple[Guard, ...]:
    """What branch `index` of the group depends on, leaving out what the configuration decided."""
    out = []
    for j, b in enumerate(group.branches[:index + 1]):
        if b.value is not None or b.kind == "else":
            continue
        g = b.guard()
        out.append(g if j == index else Guard(g.expr, not g.holds))
    return tuple(out)


def _close_paren(masked: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, min(len(masked), open_at + 4000)):
        c = masked[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _apply(text: str, blanks: list[tuple[int, int]]) -> str:
    if not blanks:
        return text
    blanks.sort()
    parts, pos = [], 0
    for start, end in blanks:
        start = max(start, pos)
        if end <= start:
            continue
        parts.append(text[pos:start])
        parts.append(_blank(text[start:end]))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _syscalls(text: str) -> str:
    """`SYSCALL_DEFINE3(mprotect, unsigned long, start, ...)` becomes `long sys_mprotect(unsigned long start, ...)`."""
    parts, pos = [], 0
    for m in _SYSCALL.finditer(text):
        open_at = text.index("(", m.start())
        close = _close_paren(text, open_at)
        if close < 0:
            continue
        args = [a.strip() for a in text[open_at + 1:close].split(",")]
        pairs = [f"{args[i]} {args[i + 1]}" for i in range(1, len(args) - 1, 2)]
        parts.append(text[pos:m.start()])
        parts.append(f"long sys_{args[0]}(" + ", ".join(pairs or ["void"]) + ")"
                     + "\n" * text.count("\n", open_at, close))
        pos = close + 1
    parts.append(text[pos:])
    return "".join(parts)


class _Match:
    def __init__(self, start: int, end: int, name: str):
        self._start, self._end, self._name = start, end, name

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, _: int) -> str:
        return self._name


def _iterators(masked: str):
    """Calls of names containing for_each/foreach: faster than one regex with a leading \\w*."""
    for m in _EACH.finditer(masked):
        left = m.start()
        while left and (masked[left - 1].isalnum() or masked[left - 1] == "_"):
            left -= 1
        if left and masked[left - 1] in ".>":
            continue
        right = m.end()
        while right < len(masked) and (masked[right].isalnum() or masked[right] == "_"):
            right += 1
        after = right
        while after < len(masked) and masked[after] in " \t":
            after += 1
        if after < len(masked) and masked[after] == "(":
            yield _Match(left, after + 1, masked[left:right])


_EACH = re.compile(r'for_?each')


def _loops(text: str, masked: str) -> str:
    """`name_for_each(args) stmt` at a statement's start becomes `while (name_for_each(args)) stmt`."""
    parts, pos = [], 0
    for m in _iterators(masked):
        if m.start() < pos:
            continue
        before = masked[max(0, m.start() - 400):m.start()].rstrip()
        if before and before[-1] not in ";{}:)":
            continue
        if before.endswith(")") and not re.search(r'\b(if|else|while|for)\s*\([^;{}]*\)$', before[-300:]):
            continue
        if m.group(1).startswith(("define", "DEFINE")):
            continue
        close = _close_paren(masked, m.end() - 1)
        if close < 0:
            continue
        after = masked[close + 1:close + 200].lstrip()
        if after.startswith(";") or after.startswith(")") or after.startswith(","):
            continue
        parts.append(text[pos:m.start()])
        parts.append("while (" + text[m.start():close + 1] + ")")
        pos = close + 1
    parts.append(text[pos:])
    return "".join(parts)
