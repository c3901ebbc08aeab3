"""The state machine of one PTE on each backend, derived from the model.

Nothing here is written per architecture.  A scenario of one page of one mm is
driven by every primitive (the accessors, run on cpu0 with the PTE lock held, as
core code runs them) and every hardware event (a load or store by cpu1, a TLB
entry dropped, a hash entry evicted) from every abstract state reached so far,
breadth first.  A state is reached again by replaying the shortest path that found
it on a fresh machine, so the result is what the backend really does.  The
abstraction keeps what the rules are about: the PTE (kind, write, Accessed,
Dirty, and what the architecture's accessors read beyond them: powerpc's "hashed", arm64's
Dirty recorded by the hardware alone), what cpu1's TLB holds, the valid hash entries
(read-only, read-write, or a duplicate), a queued invalidation, lazy-MMU mode,
an open modify_prot transaction, and the history debug mode judges by (a clear
no flush has covered yet; a write earlier in this lazy section; a dirty entry of
this page, which is not anonymous, cleared under the lock and owed a flush before
the unlock, debug.py dirty_shared), so that whether
a transition breaks a rule depends on the state alone (and a flush_tlb_* made
inside the lazy section, which counts only once the section is left).

Debug mode runs in recording mode, so a transition that breaks a rule is kept
and marked with the rule id, and the hardware model's invariants (a duplicate
hash entry) are recorded the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .arch import boot
from .machine.tlb import tlb_key
from .mm.kernel import Kernel
from .mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap
from .mm.pgtable import pte_alloc, pte_lockptr, spin_lock, spin_unlock
from .pte import (
    PAGE_READONLY,
    PAGE_SHARED,
    mk_pte,
    pte_dirty,
    pte_mkdirty,
    pte_mkyoung,
    pte_modify,
    pte_none,
    pte_present,
    pte_write,
    pte_young,
    swp_entry,
    swp_entry_to_pte,
)


@dataclass(frozen=True, order=True)
class State:
    pte: str
    tlb: str
    cache: str  # the architecture's own structures beyond the TLB (arch.abstract_caches, abstract_frame)
    pending: bool
    lazy: bool
    txn: str  # an open modify_prot transaction: what its start returned, or ""
    unflushed: str  # debug mode's history: a clear of this lazy section no flush has covered, or ""
    written: bool  # debug mode's history: written earlier in this lazy section
    deferred: bool  # debug mode's history: a flush_tlb_* in this lazy section, effective at leave
    owed: bool  # debug mode's history: a dirty shared clear under this lock no flush has covered

    def label(self) -> str:
        parts = [f"pte {self.pte}", f"cpu1 TLB {self.tlb}"]
        if self.cache != "-":
            parts.append(self.cache)
        if self.pending:
            parts.append("invalidation queued")
        if self.lazy:
            parts.append("lazy")
        if self.txn:
            parts.append(f"in modify_prot from {self.txn}")
        if self.unflushed:
            parts.append(f"unflushed clear of {self.unflushed}")
        if self.written:
            parts.append("written in section")
        if self.deferred:
            parts.append("flush deferred")
        if self.owed:
            parts.append("dirty clear owed a flush")
        return ", ".join(parts)


class Scenario:
    """One page (frame F) of one mm; kernel code on cpu0 holding the PTE lock."""

    def __init__(self, arch: str):
        self.machine = boot(arch, cpus=2, pages=64, debug=True)
        self.debug = self.machine.debug
        self.debug.record = []
        self.marks: list[str] = self.debug.record
        self.machine.violation = lambda invariant, detail, **where: self.marks.append(invariant)
        self.kernel = Kernel(self.machine)
        self.mm = self.kernel.new_mm()
        self.addr = vm_mmap(self.mm, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        self.vma = self.mm.find_vma(self.addr)
        self.ptep = pte_alloc(self.mm, self.addr)
        self.frame = self.machine.mem.alloc_page()
        self.cpu0, self.cpu1 = self.machine.cpus
        for cpu in self.machine.cpus:
            self.machine.switch_mm(cpu, self.mm)
        self.machine.this_cpu = self.cpu0
        spin_lock(self.mm, pte_lockptr(self.mm, self.ptep))
        self.prot_old = 0

    def _describe(self, pte) -> str:
        if pte_none(pte):
            text = "none"
        elif not pte_present(pte):
            text = "swap"
        else:
            bits = [name for test, name in ((pte_write, "W"), (pte_young, "A"), (pte_dirty, "D")) if test(pte)]
            text = "present " + ("".join(bits) or "-")
        words = self.machine.arch.pte_state_words(pte)
        return text + (" " + words if words else "")

    def _unflushed_kind(self) -> str:
        """What debug mode's flush-before-reuse judges by: whether a clear of this lazy
        section is unflushed, and whether a set_pte_at of this scenario would put back
        exactly what it cleared.  (No frame is freed here, so flush-before-free's wider
        record of unflushed clears decides nothing.)"""
        old = self.cpu0.debug.lazy_cleared.get((self.mm, self.addr))
        if old is None:
            return ""
        for name, prot in (("the rw entry", PAGE_SHARED), ("the ro entry", PAGE_READONLY)):
            if old == mk_pte(self.frame, prot):
                return name
        return "another entry"

    def abstract(self) -> State:
        arch = self.machine.arch
        pte = arch._arch.ptep_get(self.ptep)
        pte_text = self._describe(pte)
        written = arch.entry_as_written(self.mm, self.addr)
        if written != pte:  # a write the backend still holds (Xen's multicall buffer)
            pte_text += f" (written {self._describe(written)}, queued)"
        entry = self.cpu1.tlb.entries.get(tlb_key(self.mm.context, self.addr))
        tlb = "-" if entry is None else ("rw" if entry[2] else "r")
        debug = self.debug._cpu()
        caches = [text for text in (arch.abstract_caches(self.mm, self.addr), arch.abstract_frame(self.frame))
                  if text != "-"]
        return State(pte_text, tlb, ", ".join(caches) or "-",
                     arch.pending_invalidation(self.mm, self.addr), self.cpu0.lazy_mmu,
                     self._describe(self.prot_old) if debug.prot_pending is not None else "",
                     self._unflushed_kind(),
                     bool(debug.lazy_written) and self.ptep in debug.lazy_written,
                     any(mm is self.mm and start <= self.addr < end for mm, start, end in debug.deferred_flushes),
                     (self.mm, self.addr) in debug.dirty_shared)

    def apply(self, op: "Op") -> None:
        op.run(self)


@dataclass(frozen=True)
class Op:
    name: str
    run: object = field(compare=False)
    enabled: object = field(compare=False, default=lambda state: True)


def _set(prot):
    return lambda s: s.machine.arch.set_pte_at(s.mm, s.addr, s.ptep, mk_pte(s.frame, prot))


def _relax(s):
    arch = s.machine.arch
    current = arch._arch.ptep_get(s.ptep)
    arch.ptep_set_access_flags(s.vma, s.addr, s.ptep, pte_mkyoung(pte_mkdirty(current)), 1)


def _start(s):
    s.prot_old = s.machine.arch.ptep_modify_prot_start(s.vma, s.addr, s.ptep)


def _commit(prot):
    def run(s):
        s.machine.arch.ptep_modify_prot_commit(s.vma, s.addr, s.ptep, s.prot_old, pte_modify(s.prot_old, prot))
    return run


def _relock(s):
    ptl = pte_lockptr(s.mm, s.ptep)
    spin_unlock(s.mm, ptl)
    spin_lock(s.mm, ptl)


def _illegal(text: str) -> bool:
    """An architecturally illegal cache state (a duplicate hash entry, a TLB conflict), drawn red."""
    return "DUPLICATE" in text or "CONFLICT" in text


OPS = (
    Op("set_pte_at(rw)", _set(PAGE_SHARED), lambda st: not st.txn),
    Op("set_pte_at(ro)", _set(PAGE_READONLY), lambda st: not st.txn),
    Op("set_pte_at(swap)", lambda s: s.machine.arch.set_pte_at(s.mm, s.addr, s.ptep, swp_entry_to_pte(swp_entry(0, 1))),
       lambda st: not st.txn),
    Op("pte_clear", lambda s: s.machine.arch.pte_clear(s.mm, s.addr, s.ptep), lambda st: not st.txn),
    Op("ptep_get_and_clear", lambda s: s.machine.arch.ptep_get_and_clear(s.mm, s.addr, s.ptep), lambda st: not st.txn),
    Op("ptep_clear_flush", lambda s: s.machine.arch.ptep_clear_flush(s.vma, s.addr, s.ptep), lambda st: not st.txn),
    Op("ptep_set_wrprotect", lambda s: s.machine.arch.ptep_set_wrprotect(s.mm, s.addr, s.ptep),
       lambda st: not st.txn and st.pte.startswith("present")),
    Op("ptep_set_access_flags(+AD)", _relax, lambda st: not st.txn and st.pte.startswith("present")),
    Op("ptep_test_and_clear_young", lambda s: s.machine.arch.ptep_test_and_clear_young(s.vma, s.addr, s.ptep),
       lambda st: not st.txn and st.pte.startswith("present")),
    Op("ptep_modify_prot_start", _start, lambda st: not st.txn and st.pte.startswith("present")),
    Op("ptep_modify_prot_commit(ro)", _commit(PAGE_READONLY), lambda st: st.txn),
    Op("ptep_modify_prot_commit(rw)", _commit(PAGE_SHARED), lambda st: st.txn),
    Op("arch_enter_lazy_mmu_mode", lambda s: s.machine.arch.arch_enter_lazy_mmu_mode(),
       lambda st: not st.lazy and not st.txn),
    Op("arch_leave_lazy_mmu_mode", lambda s: s.machine.arch.arch_leave_lazy_mmu_mode(),
       lambda st: st.lazy and not st.txn),
    Op("flush_tlb_page", lambda s: s.machine.arch.flush_tlb_page(s.vma, s.addr), lambda st: not st.txn),
    Op("spin_unlock+spin_lock", _relock, lambda st: not st.txn),
    Op("cpu1 load", lambda s: s.machine.translate(s.cpu1, s.mm, s.addr, False)),
    Op("cpu1 store", lambda s: s.machine.translate(s.cpu1, s.mm, s.addr, True)),
    Op("cpu1 TLB drops the entry", lambda s: s.cpu1.tlb.flush_page(s.mm.context, s.addr),
       lambda st: st.tlb != "-"),
    Op("cache entry evicted", lambda s: s.machine.arch.evict_cached(s.mm, s.addr),
       lambda st: st.cache != "-"),
)
OPS_BY_NAME = {op.name: op for op in OPS}


@dataclass
class Transition:
    source: State
    op: str
    target: State
    rules: tuple[str, ...]


@dataclass
class StateMachine:
    arch: str
    states: dict[State, tuple[str, ...]]  # state -> shortest op path reaching it
    transitions: list[Transition]

    def ids(self) -> dict[State, str]:
        return {state: f"S{i}" for i, state in enumerate(self.states)}


def replay(arch: str, path) -> Scenario:
    scenario = Scenario(arch)
    for name in path:
        scenario.apply(OPS_BY_NAME[name])
    return scenario


def walk(arch: str, choices):
    """Follow a walk of operations from the initial state: each choice is an op's name, or
    an index into the ops enabled at that step (taken modulo their number, so any integer
    list is a walk).  Yields (scenario, state, op name, target, rules broken) per step; the
    scenario is the live one, after the step."""
    scenario = Scenario(arch)
    state = scenario.abstract()
    for choice in choices:
        if isinstance(choice, str):
            op = OPS_BY_NAME[choice]
        else:
            enabled = [op for op in OPS if op.enabled(state)]
            op = enabled[choice % len(enabled)]
        scenario.marks.clear()
        scenario.apply(op)
        target = scenario.abstract()
        yield scenario, state, op.name, target, tuple(sorted(set(scenario.marks)))
        state = target


def first_unlisted(sm: StateMachine, choices, listed=None):
    """The first step of a walk (see walk) that the derived machine does not list, as
    (step index, state, op name, target, rules), or None when it lists every step.
    `listed` is sm's transitions as a set, for a caller that asks many times."""
    if listed is None:
        listed = {(t.source, t.op, t.target, t.rules) for t in sm.transitions}
    for i, (_, state, op, target, rules) in enumerate(walk(sm.arch, choices)):
        if (state, op, target, rules) not in listed:
            return i, state, op, target, rules
    return None


_DERIVED: dict[tuple[str, int], StateMachine] = {}


def derive(arch: str, max_states: int = 12000, progress=None) -> StateMachine:
    """Breadth-first over abstract states; every op from every state (deterministic, so
    cached: callers must not modify the result).  `progress`, if given, is called with the
    states found and the transitions tried after each state's ops."""
    key = (arch, max_states)
    if key not in _DERIVED:
        _DERIVED[key] = _derive(arch, max_states, progress)
    elif progress is not None:  # known already: said once
        progress(len(_DERIVED[key].states), len(_DERIVED[key].transitions))
    return _DERIVED[key]


def _derive(arch: str, max_states: int, progress) -> StateMachine:
    initial = Scenario(arch).abstract()
    states: dict[State, tuple[str, ...]] = {initial: ()}
    frontier = [initial]
    transitions: list[Transition] = []
    while frontier:
        next_frontier = []
        for state in frontier:
            for op in OPS:
                if not op.enabled(state):
                    continue
                scenario = replay(arch, states[state])
                scenario.marks.clear()
                scenario.apply(op)
                target = scenario.abstract()
                transitions.append(Transition(state, op.name, target, tuple(sorted(set(scenario.marks)))))
                if target not in states:
                    if len(states) >= max_states:
                        raise RuntimeError(f"{arch}: more than {max_states} abstract states")
                    states[target] = states[state] + (op.name,)
                    next_frontier.append(target)
            if progress is not None:
                progress(len(states), len(transitions))
        frontier = next_frontier
    return StateMachine(arch, states, transitions)


# ---- rendering -------------------------------------------------------------------------

def to_json(sm: StateMachine) -> str:
    ids = sm.ids()
    return json.dumps({
        "arch": sm.arch,
        "states": [{"id": ids[s], "label": s.label(), **s.__dict__, "witness": list(p)} for s, p in sm.states.items()],
        "transitions": [{"from": ids[t.source], "op": t.op, "to": ids[t.target], "rules": list(t.rules)}
                        for t in sm.transitions],
    }, indent=1)


def to_markdown(sm: StateMachine, examples: int = 3) -> str:
    """States, the legal transitions that move, and per rule the transitions that break it
    (counted, with the shortest examples): the reviewable form; json and dot are complete."""
    ids = sm.ids()
    legal = [t for t in sm.transitions if not t.rules and t.source != t.target]
    breaking: dict[str, list[Transition]] = {}
    for t in sm.transitions:
        for rule in t.rules:
            breaking.setdefault(rule, []).append(t)
    lines = [
        f"# PTE state machine: {sm.arch}",
        "",
        "Generated by `ptelab docs` from the model (ptelab/states.py): every accessor, run on cpu0 with",
        "the PTE lock held, and every hardware event on cpu1, applied to every reachable state.",
        f"The lumped, readable form: `ptelab states --arch {sm.arch}` (the kernel view).  The complete machine:",
        f"`ptelab states --arch {sm.arch} --view full --format json` (or `dot`).",
        "",
        f"{len(sm.states)} states, {len(sm.transitions)} transitions: {len(legal)} legal ones that change the",
        f"state, {sum(1 for t in sm.transitions if t.rules)} that break a rule or an invariant.",
        "",
        "## Rules broken",
        "",
        "| rule | transitions | shortest examples |",
        "|------|------------:|-------------------|",
    ]
    for rule, ts in sorted(breaking.items()):
        shortest = sorted(ts, key=lambda t: (len(sm.states[t.source]), t.op))[:examples]
        shown = "<br>".join(" → ".join(sm.states[t.source] + (t.op,)) for t in shortest)
        lines.append(f"| `{rule}` | {len(ts)} | {shown} |")
    lines += ["", "## States", "", "| id | state | shortest way here |", "|----|-------|-------------------|"]
    for state, path in sm.states.items():
        lines.append(f"| {ids[state]} | {state.label()} | {' → '.join(path) or '(initial)'} |")
    lines += ["", "## Legal transitions", "", "| from | operation | to |", "|---|---|---|"]
    for t in legal:
        lines.append(f"| {ids[t.source]} | {t.op} | {ids[t.target]} |")
    return "\n".join(lines) + "\n"


def to_dot(sm: StateMachine) -> str:
    ids = sm.ids()
    lines = [f'digraph "{sm.arch}" {{', "  rankdir=LR;", '  node [shape=box, fontsize=9, fontname="Helvetica"];',
             '  edge [fontsize=8, fontname="Helvetica"];']
    for state in sm.states:
        style = ', color=red, penwidth=2' if _illegal(state.cache) else ""
        text = state.label().replace(", ", "\\n")
        lines.append(f'  {ids[state]} [label="{ids[state]}\\n{text}"{style}];')
    edges: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for t in sm.transitions:
        if t.source == t.target and not t.rules:
            continue
        edges.setdefault((ids[t.source], ids[t.target], t.rules), []).append(t.op)
    for (src, dst, rules), ops in edges.items():
        label = "\\n".join(ops) + (f"\\n[{', '.join(rules)}]" if rules else "")
        color = ", color=red, fontcolor=red" if rules else ""
        lines.append(f'  {src} -> {dst} [label="{label}"{color}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


FORMATS = {"md": to_markdown, "dot": to_dot, "json": to_json}
