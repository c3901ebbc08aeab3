"""Walking a function's PTE sequence: lazy-MMU sections, PTE locks, pending
clears, the flush that follows each call site, and the rules' static forms.

The walk is an abstract interpretation of the IR (ir.py): each path keeps
whether it is inside a lazy-MMU section, which PTE locks it holds, which entries
it cleared inside the current lazy section with no flush since, and where each
value it may store came from.  Branches are walked separately and joined; a
branch that ends in return/continue/break/goto does not reach the code after it;
a loop body is walked twice (the second time from the state its end and its
`continue`s give back).  A call of a static inline helper, or of a compound
accessor whose definition applies on the architecture (resolve.py), is walked
in place, its parameters bound to the caller's arguments, so a sequence hidden
in a helper is seen at the call site that runs it.

A finding is reported only where the walk shows the sequence on a path: it
may be infeasible for reasons the walk does not see (a condition that never
holds), so the report says "may break", and names the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..accessors import SURFACE
from . import vocabulary as V
from .resolve import Definition, Resolver

MAX_DEPTH = 6
_IDENT = re.compile(r'(?<![\w.>])([A-Za-z_]\w*)')
_COMPARE = re.compile(r'^([\w.>-]+)\s*(==|!=)\s*([\w.>-]+)$')
_CONSTANT = re.compile(r'^[A-Z_][A-Z0-9_]*$')


_CALL_TEXT = re.compile(r'^(\w+)\s*\((.*)\)$')


def _first_arg(text: str) -> str:
    depth = 0
    for i, c in enumerate(text):
        depth += (c in "([{") - (c in ")]}")
        if c == "," and depth == 0:
            return text[:i].strip()
    return text.strip()


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        if depth < 0:
            return False
    return depth == 0


@dataclass(frozen=True)
class Step:
    """One call, seen from the function the walk started in: the call written there, then the
    calls through helpers that led to it."""

    name: str
    path: str
    line: int
    via: tuple[tuple[str, str, int], ...] = ()  # (helper entered, its file, line of the call in it)

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def describe(self) -> str:
        hops = [f"{name} ({path}:{line})" for name, path, line in self.via]
        return " -> ".join(hops + [f"{self.name} ({self.where()})"])


@dataclass
class Site:
    accessor: str
    function: str
    path: str
    line: int
    args: tuple[str, ...]
    loop: bool
    lazy: str  # yes, no, maybe
    locks: tuple[str, ...]
    flushes: set[str] = field(default_factory=set)  # what follows before the unlock

    def flush_text(self) -> str:
        return ", ".join(sorted(self.flushes)) or "-"


@dataclass(frozen=True)
class Finding:
    rule: str
    function: str
    path: str
    line: int  # where the function is defined
    first: Step  # the clear, or the read
    second: Step  # the store
    lazy: Step | None
    note: str


@dataclass
class State:
    lazy: frozenset = frozenset({False})
    lazy_step: Step | None = None
    locks: frozenset = frozenset()
    pending: frozenset = frozenset()  # (pointer, Step) cleared in this lazy section, not flushed
    written: frozenset = frozenset()  # (pointer, Step) written in this lazy section (lazy-no-readback)
    starts: frozenset = frozenset()  # (pointer, Step) of a ptep_modify_prot_start not yet committed
    cleared: frozenset = frozenset()  # pointers cleared on every path since their last read (must)
    open: frozenset = frozenset()  # keys of sites waiting for their flush
    values: tuple = ()  # sorted ((variable, provenance), ...)

    def copy(self, **changes) -> "State":
        d = dict(self.__dict__)
        d.update(changes)
        return State(**d)

    def value(self, name: str):
        for k, v in self.values:
            if k == name:
                return v
        return None

    def with_value(self, name: str, prov) -> "State":
        values = tuple(sorted(((k, v) for k, v in self.values if k != name), key=lambda kv: kv[0]))
        if prov is not None:
            values = tuple(sorted(values + ((name, prov),), key=lambda kv: kv[0]))
        return self.copy(values=values)


def join(states: list[State | None]) -> State | None:
    states = [s for s in states if s is not None]
    if not states:
        return None
    if len(states) == 1:
        return states[0]
    first = states[0]
    values = dict(first.values)
    for s in states[1:]:
        other = dict(s.values)
        values = {k: v for k, v in values.items() if other.get(k) == v}
    return State(
        lazy=frozenset().union(*(s.lazy for s in states)),
        lazy_step=next((s.lazy_step for s in states if s.lazy_step is not None), None),
        locks=frozenset.intersection(*(s.locks for s in states)),
        pending=frozenset().union(*(s.pending for s in states)),
        written=frozenset().union(*(s.written for s in states)),
        starts=frozenset().union(*(s.starts for s in states)),
        cleared=frozenset.intersection(*(s.cleared for s in states)),
        open=frozenset().union(*(s.open for s in states)),
        values=tuple(sorted(values.items(), key=lambda kv: kv[0])),
    )


@dataclass
class _Out:
    end: State | None
    continues: list = field(default_factory=list)
    breaks: list = field(default_factory=list)
    returns: list = field(default_factory=list)


@dataclass
class _Frame:
    function: str  # the top-level function
    path: str  # file of the code being walked
    env: dict  # identifier -> canonical text in the top-level function
    via: tuple  # helpers entered
    stack: tuple  # names being walked (no recursion)
    loop: bool = False
    line_override: int | None = None  # a macro's events carry its #define's line
    events: list = field(default_factory=lambda: [0])


class Walker:
    def __init__(self, resolver: Resolver, arch: str | None, trace: str | None = None):
        self.resolver = resolver
        self.arch = arch
        self.trace_function = trace  # record the PTE sequence of this function, for a litmus skeleton
        self.trace: dict[Step, tuple] = {}
        # (file, callee) -> [(caller, locks held, lazy)] for the calls not walked in place
        self.calls: dict[tuple[str, str], list[tuple[str, frozenset, frozenset]]] = {}
        self.sites: dict[tuple, Site] = {}
        self.findings: dict[tuple, Finding] = {}
        self._fn_line = 0

    # ---- entry

    def walk(self, name: str, path: str, line: int, ir: tuple, held: tuple[str, ...] = (),
             entry: State | None = None) -> None:
        """Walk one function; `entry` is the state its callers call it in (callers_state), if known."""
        self._fn_line = line
        frame = _Frame(name, path, {}, (), (name,))
        state = entry or State()
        state = state.copy(locks=state.locks | frozenset(f"{h.lstrip('&')} (caller's: __must_hold/__releases)" for h in held))
        out = self._block(ir, state, frame)
        self._close(join([out.end, *out.returns]), "its caller releases the lock" if state.locks else "no unlock here")

    def callers_state(self, path: str, name: str) -> State | None:
        """The state every call of `name` from its own file is made in: the PTE locks all of them
        hold, and lazy-MMU mode if all of them are in a section; None when that says nothing."""
        calls = self.calls.get((path, name))
        if not calls:
            return None
        common = frozenset.intersection(*(locks for _, locks, _, _ in calls))
        lazy = all(l == {True} for _, _, l, _ in calls)
        if not common and not lazy:
            return None
        callers = sorted({c for c, _, _, _ in calls})
        who = ", ".join(callers[:3]) + (", ..." if len(callers) > 3 else "")
        first = min(line for _, _, _, line in calls)
        return State(lazy=frozenset({True}) if lazy else frozenset({False}),
                     lazy_step=Step(f"the lazy-MMU section of its caller {who}", path, first) if lazy else None,
                     locks=frozenset(f"{l.split(' ')[0]} (held by {who})" for l in common))

    def forget(self, function: str, path: str) -> None:
        """Drop a function's sites before it is walked again."""
        for key in [k for k in self.sites if k[0] == function and k[1] == path]:
            del self.sites[key]

    # ---- helpers

    def _canon(self, text: str, frame: _Frame) -> str:
        if not frame.env:
            return text
        return _IDENT.sub(lambda m: frame.env.get(m.group(1), m.group(1)), text)

    def _step(self, name: str, line: int, frame: _Frame) -> Step:
        line = frame.line_override or line
        if not frame.via:
            return Step(name, frame.path, line)
        return Step(name, frame.path, line, frame.via)

    def _close(self, state: State | None, why: str) -> None:
        if state is None:
            return
        for key in state.open:
            site = self.sites[key]
            if not site.flushes:
                site.flushes.add(why)

    def _flush(self, state: State, name: str) -> State:
        for key in state.open:
            self.sites[key].flushes.add(name)
        return state.copy(open=frozenset())

    # ---- statements

    def _block(self, items, state: State, frame: _Frame) -> _Out:
        out = _Out(state)
        for item in items:
            if out.end is None:
                break
            kind = item[0]
            if kind == "call":
                out.end = self._call(item[2], item[1], item[3], out.end, frame)
            elif kind == "assign":
                out.end = self._assign(item[2], item[3], out.end, frame)
            elif kind == "decl":
                if frame.via:
                    frame.env[item[2]] = f"{frame.stack[-1]}.{item[2]}"
            elif kind == "if":
                taken = self._decide(item[2], frame)
                a = self._block(item[3], out.end, frame) if taken is not False else _Out(None)
                b = self._block(item[4], out.end, frame) if taken is not True else _Out(None)
                self._merge(out, a, b)
                out.end = join([a.end, b.end])
            elif kind == "loop":
                out.end = self._loop(item, out.end, frame, out)
            elif kind == "jump":
                {"continue": out.continues, "break": out.breaks}.get(item[2], out.returns).append(out.end)
                out.end = None
        return out

    def _decide(self, cond: str, frame: _Frame) -> bool | None:
        """A condition the walk can decide: the configuration's runtime facts (powerpc hash:
        radix_enabled() is false), or a comparison of constants a helper's caller passed."""
        text = self._canon(cond, frame).strip()
        while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
            text = text[1:-1].strip()
        facts = self.resolver.runtime
        negate = text.startswith("!")
        core = text[1:].strip() if negate else text
        if core in facts:
            return facts[core] != negate
        m = _COMPARE.match(text)
        if m:
            left, op, right = m.group(1), m.group(2), m.group(3)
            if left == right:
                return op == "=="
            if _CONSTANT.match(left) and _CONSTANT.match(right):
                return op == "!="
        return None

    @staticmethod
    def _merge(out: _Out, *inner: _Out) -> None:
        for o in inner:
            out.continues += o.continues
            out.breaks += o.breaks
            out.returns += o.returns

    def _loop(self, item, state: State, frame: _Frame, out: _Out) -> State | None:
        _, line, pte_loop, head, body = item
        outer_loop = frame.loop
        frame.loop = outer_loop or pte_loop
        entry = state
        breaks: list = []
        for _ in range(2):
            inner = self._block(body, entry, frame)
            out.returns += inner.returns
            breaks += inner.breaks
            back = join([inner.end, *inner.continues])
            if back is not None:
                back = self._block(head, back, frame)
                out.returns += back.returns
                back = back.end
            entry = join([state, back])
        frame.loop = outer_loop
        return join([entry, *breaks])

    # ---- values

    def _assign(self, target: str, rhs, state: State, frame: _Frame) -> State:
        name = self._canon(target, frame)
        if name.isidentifier() and (state.pending or state.cleared or state.written or state.starts):
            # the pointers it moves are forgotten
            state = state.copy(pending=frozenset(p for p in state.pending if name not in _IDENT.findall(p[0])),
                               written=frozenset(p for p in state.written if name not in _IDENT.findall(p[0])),
                               starts=frozenset(p for p in state.starts if name not in _IDENT.findall(p[0])),
                               cleared=frozenset(c for c in state.cleared if name not in _IDENT.findall(c)))
        return state.with_value(name, self._provenance(rhs, state, frame))

    def _provenance(self, rhs, state: State, frame: _Frame):
        if rhs is None:
            return None
        if rhs[0] == "var":
            return state.value(self._canon(rhs[1], frame))
        if rhs[0] == "deref":
            return ("read", self._canon(rhs[1], frame))
        _, f, args = rhs
        args = tuple(self._canon(a, frame) for a in args)
        if f in V.VALUE_READ and args:
            return ("read", args[0])
        if (f in V.VALUE_CLEAR or V.arch_primitive_kind(self.arch, f, args) == "clear") and len(args) > 2:
            return ("clear", args[2])
        if f in V.NONPRESENT_MAKERS or f.startswith("pte_swp_"):
            return ("nonpresent",)
        if f in V.NEW_ENTRY:
            return ("new",)
        if f in V.OTHER_LOCKS:
            return ("lock", f)
        if f.startswith(V.PRESENT_KEEPERS_PREFIX) and args:
            nested = _CALL_TEXT.match(args[0])
            base = (self._provenance(("call", nested.group(1), (_first_arg(nested.group(2)),)), state, frame)
                    if nested else state.value(args[0]))
            if base is not None and base[0] in ("read", "readmk"):
                return ("readmk", base[1])
            if base is not None and base[0] in ("clear", "clearmk"):
                return ("clearmk", base[1])
            if base is not None and base[0] == "new":
                return base
        return None

    # ---- calls

    def _call(self, name: str, line: int, args: tuple, state: State, frame: _Frame) -> State:
        cargs = tuple(self._canon(a, frame) for a in args)
        step = self._step(name, line, frame)
        if not frame.via and name in V.ACCESSORS:
            key = (frame.function, frame.path, line, name, cargs)
            if key not in self.sites:
                lazy = state.lazy
                self.sites[key] = Site(name, frame.function, frame.path, frame.line_override or line, cargs,
                                       frame.loop, "yes" if lazy == {True} else "no" if lazy == {False} else "maybe",
                                       tuple(sorted(state.locks)))
            if name not in V.FLUSHES:  # a flush is not waiting for one
                state = state.copy(open=state.open | {key})
        if frame.function == self.trace_function and name in SURFACE and not any(
                v[0] in SURFACE for v in frame.via):
            self.trace.setdefault(step, (name, bool(state.locks), state.lazy == {True}))
        if name in V.COMMIT and len(cargs) > 2:
            state = state.copy(starts=frozenset(x for x in state.starts if x[0] != cargs[2]))
        elif len(cargs) > 2 and name in V.ACCESSORS and not set(frame.stack) & V.START:
            self._check_pairing_between(name, cargs[2], state, step, frame)
        definition = self._follow(name, frame)
        if not frame.via and name not in V.VOCABULARY:
            self.calls.setdefault((frame.path, name), []).append((frame.function, state.locks, state.lazy, line))
        if definition is not None:
            frame.events[0] += 1
            before = frame.events[0]
            inner = _Frame(frame.function, definition.path,
                           {p: (cargs[i] if i < len(cargs) else p) for i, p in enumerate(definition.params)},
                           frame.via + ((name, frame.path, frame.line_override or line),),
                           frame.stack + (name,), frame.loop,
                           definition.line if definition.macro else None, frame.events)
            out = self._block(definition.ir, state, inner)
            after = join([out.end, *out.returns])
            if after is not None:
                if frame.events[0] > before or name not in (V.CLEAR | V.COMMIT | V.CLEAR_FLUSH):
                    return self._started(name, cargs, after, step)
                state = after  # the definition did nothing the survey sees: the accessor's own meaning
            else:
                return state
        return self._started(name, cargs, self._leaf(name, cargs, state, step, frame), step)

    @staticmethod
    def _started(name: str, args: tuple, state: State, step: Step) -> State:
        if name in V.START and len(args) > 2:
            return state.copy(starts=state.starts | {(args[2], step)})
        return state

    def _follow(self, name: str, frame: _Frame) -> Definition | None:
        if name in V.LEAVES or name in frame.stack or len(frame.via) >= MAX_DEPTH:
            return None
        if name not in V.COMPOUND and name not in self.resolver.helpers:
            return None
        if V.arch_primitive_kind(self.arch, name, ("",) * 6) is not None:
            return None
        d = self.resolver.definition(name)
        if d is None:
            return None
        if name not in V.COMPOUND and not (d.macro or d.path.endswith(".h") or d.name in self.resolver.helpers):
            return None
        return d

    def _leaf(self, name: str, args: tuple, state: State, step: Step, frame: _Frame) -> State:
        if name in V.VOCABULARY or V.arch_primitive_kind(self.arch, name, args):
            frame.events[0] += 1
        if name in V.LAZY_ENTER:
            return state.copy(lazy=frozenset({True}), lazy_step=step)
        if name in V.LAZY_LEAVE:
            self._check_pairing_end(state, step, frame, "leaves the lazy-MMU section")
            state = self._flush(state, name)
            return state.copy(lazy=frozenset({False}), pending=frozenset(), written=frozenset())
        kind = V.arch_primitive_kind(self.arch, name, args)
        if len(args) > 0 and state.lazy == {True} and state.written:
            self._check_readback(name, args, state, step, frame)
        if state.lazy == {True} and len(args) > 2 and (name in V.WRITES or kind == "clear"):
            state = state.copy(written=state.written | {(args[2], step)})
        if (name in V.CLEAR or kind == "clear") and len(args) > 2:
            state = state.copy(cleared=state.cleared | {args[2]})
            if state.lazy == {True}:
                state = state.copy(pending=state.pending | {(args[2], step)})
            return state
        if name in V.CLEAR_FLUSH:
            return self._flush(state.copy(cleared=state.cleared | {args[2]} if len(args) > 2 else state.cleared), name)
        if name in V.SET and len(args) > 3:
            self._check_store(args[2], args[3], state, step, frame)
            return state.copy(cleared=state.cleared - {args[2]})
        if name in V.FLUSH_NOW:
            return self._flush(state, name).copy(pending=frozenset())
        if name in V.FLUSHES:
            return self._flush(state, name)
        if (name in V.LOCK or name in V.UNLOCK) and args and (state.value(args[0].lstrip("&")) or ("",))[0] == "lock":
            return state  # a huge PMD's or a PUD's lock, not a PTE lock
        if name in V.LOCK:
            lock = self._lock_name(name, args)
            return state.copy(locks=state.locks | {lock}) if lock else state
        if name in V.UNLOCK:
            lock = self._lock_name(name, args)
            if lock:
                self._check_pairing_end(state, step, frame, "releases the PTE lock")
                if state.lazy == {True}:
                    self._finding("flush-before-unlock", step, step, state, frame,
                                  f"{step.name} releases the PTE lock inside {section(state.lazy_step)}: the "
                                  f"updates and invalidations the section deferred are issued after it")
                self._close(state, "none before unlock")
                return state.copy(locks=frozenset(l for l in state.locks if l.split(" ")[0] != lock.split(" ")[0]),
                                  open=frozenset())
        return state

    @staticmethod
    def _lock_name(name: str, args: tuple) -> str | None:
        if name in ("pte_offset_map_lock", "pte_alloc_map_lock", "__pte_offset_map_lock") and len(args) > 3:
            return args[3].lstrip("&") + f" ({name})"
        if name == "pte_unmap_unlock" and len(args) > 1:
            return args[1].lstrip("&")
        if name in ("page_vma_mapped_walk", "page_vma_mapped_walk_done") and args:
            return args[0].lstrip("&").split("->")[0] + ".ptl" + (" (page_vma_mapped_walk)" if name == "page_vma_mapped_walk" else "")
        if args and re.search(r'ptl|page_table_lock', args[0]):
            return args[0].lstrip("&") + (" (lockdep_assert_held)" if name == "lockdep_assert_held" else "")
        return None

    # ---- the rules' static forms

    def _finding(self, rule: str, first: Step, second: Step, state: State, frame: _Frame, note: str) -> None:
        key = (rule, frame.function, first, second)
        self.findings.setdefault(key, Finding(rule, frame.function, _top_path(second, frame), self._fn_line,
                                              first, second, state.lazy_step, note))

    def _check_readback(self, name: str, args: tuple, state: State, step: Step, frame: _Frame) -> None:
        ptr = args[0] if name in V.READ else args[2] if len(args) > 2 and name in V.READS else None
        for pointer, write in state.written:
            if pointer == ptr:
                self._finding("lazy-no-readback", write, step, state, frame,
                              f"{write.name} writes the entry at {ptr} and {step.name} reads it back inside "
                              f"{section(state.lazy_step)}: with the writes batched until the section ends, "
                              f"it reads the old value")

    def _check_pairing_between(self, name: str, ptr: str, state: State, step: Step, frame: _Frame) -> None:
        for pointer, start in state.starts:
            if pointer == ptr and name not in V.READ:
                self._finding("prot-pairing", start, step, state, frame,
                              f"{step.name} touches the entry at {ptr} between {start.name} and its commit")

    def _check_pairing_end(self, state: State, step: Step, frame: _Frame, what: str) -> None:
        for pointer, start in state.starts:
            self._finding("prot-pairing", start, step, state, frame,
                          f"{step.name} {what} with the {start.name} of the entry at {pointer} not committed")

    def _check_store(self, ptr: str, value: str, state: State, step: Step, frame: _Frame) -> None:
        prov = state.value(value) if value.isidentifier() or "." in value or "->" in value else None
        if prov is None:
            m = re.match(r'(\w+)\s*\(', value)
            if m and (m.group(1) in V.NONPRESENT_MAKERS or m.group(1).startswith("pte_swp_")):
                prov = ("nonpresent",)
        if prov == ("nonpresent",):
            return
        if state.lazy == {True}:
            stored = {"clearmk": "the old entry, changed", "clear": "the old entry"}.get(
                prov[0] if prov else "", "an entry that may be valid")
            for pointer, clear in state.pending:
                if pointer == ptr:
                    self._finding("flush-before-reuse", clear, step, state, frame,
                                  f"{clear.name} clears the entry at {ptr} inside {section(state.lazy_step)}, and "
                                  f"{step.name} stores {stored} at the same address before any flush")
        if prov is not None and prov[0] == "readmk" and prov[1] == ptr and ptr not in state.cleared:
            self._finding("set-nonvalid", step, step, state.copy(lazy_step=None), frame,
                          f"{step.name} stores a value made from the entry read at {ptr} back over it with no "
                          f"clear between: the entry it overwrites may be valid")

def section(step: Step | None) -> str:
    if step is None:
        return "a lazy-MMU section"
    if step.name.startswith("the lazy-MMU section"):
        return f"{step.name} (call at {step.where()})"
    return f"the lazy-MMU section entered at {step.where()}"


def _top_path(step: Step, frame: _Frame) -> str:
    return step.via[0][1] if step.via else step.path
