"""The kernel developer's view of a derived PTE state machine (states.py): small enough to read.

The full machine keeps everything a rule's verdict depends on (cpu1's TLB, lazy-MMU mode,
an open modify_prot transaction, debug mode's history), hundreds of states.  The kernel
view lumps them to what a kernel developer distinguishes:

- the PTE: none, swap, or present read-only / writable, clean / Dirty (Accessed folded
  away: ptep_test_and_clear_young may clear it at any time);
- what the architecture adds, through its hooks (arch/generic.py): the PTE's own
  software bits (powerpc's "hashed"), its structures beyond the TLB (abstract_caches:
  a hash slot ro/rw, a DUPLICATE), an invalidation queued on the CPU's batch
  (pending_invalidation), a write still queued in a hypervisor batch (Xen);
- the TLB, lazy-MMU mode, the open transaction and debug mode's history folded away.

An edge of the view is there when some full state of its source class has it (an
existential abstraction, so nothing the full machine can do is lost); it is labelled by
the accessor or hardware event, grouped (set_pte_at(rw/ro/swap) is one label), and by
the rules the transition breaks from some lumped state: those edges are drawn red with
the rule ids.

An architecture's caches are named in its own words (kernel_view_cache): on the hash MMUs
not the slot or its PP bits but how the HPTE stands to the PTE (what "hashed" promises,
stale, stale writable, unrecorded); an architecturally illegal state (a DUPLICATE HPTE) is
one state, whatever the PTE: the ways into it are what a developer reads.

Then minimised (minimise): states whose PTE reads the same and that behave alike (a
bisimulation with respect to the edges' labels and rules, Kanellakis and Smolka's
partition refinement, seeded by the PTE part of the names) are one, named by what they
differ in ("ro [unrecorded HPTE or stale writable HPTE]").  It merges 42 states to 38 on the
ppc64-6.12 variants and nothing elsewhere: the lumping leaves states that some label or
rule tells apart.  Seeded by nothing, it would merge across PTE classes (x86: ro and rw,
6 states to 3), losing what a developer reads the view for; on the full machine, it
leaves hundreds of states (x86 426 to 142, ppc64-2.6.27 1,799 to 588): the lumping is what
makes the view small.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arch import ARCHES
from .states import StateMachine, _illegal

GROUPS = (  # (prefix of a full machine's op, its label in the kernel view)
    ("set_pte_at", "set_pte_at"),
    ("pte_clear", "clear"),
    ("ptep_get_and_clear", "clear"),
    ("ptep_clear_flush", "ptep_clear_flush"),
    ("ptep_set_wrprotect", "wrprotect"),
    ("ptep_set_access_flags", "set_access_flags"),
    ("ptep_test_and_clear_young", "test_and_clear_young"),
    ("ptep_modify_prot", "modify_prot"),
    ("arch_enter_lazy_mmu_mode", "lazy mode"),
    ("arch_leave_lazy_mmu_mode", "lazy mode"),
    ("flush_tlb_page", "flush_tlb_page"),
    ("spin_unlock", "unlock"),
    ("cpu1 load", "cpu1 load"),
    ("cpu1 store", "cpu1 store"),
    ("cpu1 TLB drops", "evict"),
    ("cache entry evicted", "evict"),
)


def group(op: str) -> str:
    return next((label for prefix, label in GROUPS if op.startswith(prefix)), op)


def _pte_class(text: str) -> str:
    if not text.startswith("present"):
        return text.split()[0]
    bits = text.split()[1]
    return ("rw" if "W" in bits else "ro") + (" dirty" if "D" in bits else "")


def kernel_key(state, arch: str) -> str:
    """The lumped state's name: the PTE class, then what the architecture adds (its caches
    in its own words: kernel_view_cache)."""
    shown, _, queued = state.pte.partition(" (written")
    words = [_pte_class(shown)] + shown.split()[2 if shown.startswith("present") else 1:]
    cache = ARCHES[arch].kernel_view_cache(words[0], "hashed" in words, state.cache)
    if _illegal(cache):  # an architecturally illegal state is one: the ways into it are what matter
        return f"[{cache}]"
    if cache:
        words.append(f"[{cache}]")
    if state.pending:
        words.append("invalidation queued")
    if queued:
        words.append("write queued in hypervisor batch")
    return " ".join(words)


@dataclass(frozen=True)
class Edge:
    source: str
    label: str
    target: str
    rules: tuple[str, ...]


@dataclass
class KernelView:
    arch: str
    states: list[str]  # the initial state first
    edges: list[Edge]
    lumped: dict[str, int]  # state -> how many full states it stands for
    merged: dict[str, list[str]] | None = None  # state -> the lumped states minimising made it of

    def members(self, state: str) -> list[str]:
        return (self.merged or {}).get(state, [state])


def coarsest_bisimulation(states, edges, seed) -> dict:
    """The coarsest bisimulation of a labelled transition system that refines `seed`
    (state -> what must match): state -> its block's number.  `edges` are
    (source, label, target) triples; the blocks are split by the set of (label, block of
    the target) of each state until nothing splits."""
    moves: dict = {state: set() for state in states}
    for source, label, target in edges:
        moves[source].add((label, target))
    numbers: dict = {}
    block = {state: numbers.setdefault(seed(state), len(numbers)) for state in states}
    while True:
        numbers = {}
        signature = {state: (block[state], frozenset((label, block[target]) for label, target in moves[state]))
                     for state in states}
        refined = {state: numbers.setdefault(signature[state], len(numbers)) for state in states}
        if len(numbers) == len(set(block.values())):
            return refined
        block = refined


def pte_part(name: str) -> str:
    """What minimising never merges across: the PTE's part of a kernel-view state's name, and
    for a cleared or swapped PTE, whether the hardware still translates it (a stale HPTE: on
    ppc32 the cleared-but-hash-pending state stays apart from 'none hashed')."""
    pte = name.split(" [")[0].replace(" invalidation queued", "").split(" write queued")[0]
    return pte + (" [stale]" if "[stale" in name and pte.split()[0] in ("none", "swap") else "")


def minimise(view: KernelView) -> KernelView:
    """One state per block of the coarsest bisimulation seeded by the PTE part of the names,
    named by what its states' names differ in (_merged_name; the initial state's block first)."""
    block = coarsest_bisimulation(view.states, [(e.source, (e.label, e.rules), e.target) for e in view.edges],
                                  pte_part)
    members: dict = {}
    for state in view.states:
        members.setdefault(block[state], []).append(state)
    if len(members) == len(view.states):
        return view
    name = {state: _merged_name(members[block[state]]) for state in view.states}
    order = {n: i for i, n in enumerate(dict.fromkeys(name.values()))}
    edges = sorted({Edge(name[e.source], e.label, name[e.target], e.rules) for e in view.edges},
                   key=lambda e: (order[e.source], order[e.target], e.label, e.rules))
    lumped: dict[str, int] = {}
    for state, count in view.lumped.items():
        lumped[name[state]] = lumped.get(name[state], 0) + count
    merged = {name[group[0]]: group for group in members.values() if len(group) > 1}
    return KernelView(view.arch, list(order), edges, lumped, merged)


def _merged_name(names: list[str]) -> str:
    """'ro [unrecorded HPTE]' and 'ro [stale writable HPTE]' as 'ro [unrecorded HPTE or stale
    writable HPTE]' when only the bracket differs; else the names joined with ' or ' (never
    '|': the names go in markdown tables)."""
    if len(names) == 1:
        return names[0]
    parts = [(n.partition(" [")[0], n.partition("[")[2].partition("]")) for n in names]
    if all(" [" in n for n in names) and len({(head, rest) for head, (_, _, rest) in parts}) == 1:
        head, (_, _, rest) = parts[0]
        return f"{head} [{' or '.join(inside for _, (inside, _, _) in parts)}]{rest}"
    return " or ".join(names)


def kernel_view(sm: StateMachine) -> KernelView:
    """The lumped machine (kernel_key), minimised."""
    return minimise(_lumped(sm))


def _lumped(sm: StateMachine) -> KernelView:
    key = {state: kernel_key(state, sm.arch) for state in sm.states}
    states = list(dict.fromkeys(key.values()))
    order = {state: i for i, state in enumerate(states)}
    edges = sorted({Edge(key[t.source], group(t.op), key[t.target], t.rules) for t in sm.transitions},
                   key=lambda e: (order[e.source], order[e.target], e.label, e.rules))
    lumped: dict[str, int] = {}
    for name in key.values():
        lumped[name] = lumped.get(name, 0) + 1
    return KernelView(sm.arch, states, edges, lumped)


def drawn_edges(view: KernelView) -> dict[tuple[str, str], tuple[list[str], dict[str, list[str]]]]:
    """What a diagram draws: one edge per (source, target), with the labels that move
    legally and, per rule broken, the labels that break it; a self-loop only when it
    breaks a rule."""
    drawn: dict = {}
    for e in view.edges:
        if e.source == e.target and not e.rules:
            continue
        legal, broken = drawn.setdefault((e.source, e.target), ([], {}))
        for labels in ([broken.setdefault(r, []) for r in e.rules] or [legal]):
            if e.label not in labels:
                labels.append(e.label)
    return drawn


def edge_text(legal: list[str], broken: dict[str, list[str]], sep: str) -> str:
    return sep.join([", ".join(legal)] * bool(legal) +
                    [f"{', '.join(labels)} [{rule}]" for rule, labels in sorted(broken.items())])


# What one drawing can carry and still be read on a page (graphviz's dot, labels at 8 pt):
# x86's whole view, 31 edges between 6 states, reads; ppc32's 85 legal edges between 18
# states, and ppc64's 190 between 34, are a tangle.  A view past either bound is drawn as an
# overview of its PTE classes, one drawing per class, and its rules broken (drawings).
EDGES_PER_DRAWING = 40
BOXES_PER_DRAWING = 20
HARDWARE = ("cpu1 load", "cpu1 store", "evict")  # labels of hardware events: drawn dashed


def everywhere(view: KernelView) -> dict[str, list[str]]:
    """Rule -> the labels that break it from every state of the view (an unlock in a lazy
    section, say): said once under the drawing, not drawn from each state."""
    sources: dict = {}
    for e in view.edges:
        for rule in e.rules:
            sources.setdefault((rule, e.label), set()).add(e.source)
    out: dict[str, list[str]] = {}
    for (rule, label), states in sorted(sources.items()):
        if len(states) == len(view.states) > 1:
            out.setdefault(rule, []).append(label)
    return out


def rule_sources(view: KernelView) -> dict[str, dict[str, list[str]]]:
    """Rule -> source state -> the labels that break it from there (its targets are in the
    tables), without what breaks it from every state (everywhere)."""
    common = everywhere(view)
    out: dict = {}
    for e in view.edges:
        for rule in e.rules:
            if e.label not in common.get(rule, ()):
                labels = out.setdefault(rule, {}).setdefault(e.source, [])
                if e.label not in labels:
                    labels.append(e.label)
    return out


def split(view: KernelView) -> bool:
    """Whether the view is too big for one drawing (EDGES_PER_DRAWING, BOXES_PER_DRAWING)."""
    return len(drawn_edges(view)) > EDGES_PER_DRAWING or len(view.states) > BOXES_PER_DRAWING


def _cluster(state: str) -> str:
    """The PTE class a state is drawn in (its cluster): none, swap, ro, rw, ro dirty, rw dirty."""
    return "" if _illegal(state) else " ".join(w for w in state.split()[:2] if w in ("none", "swap", "ro", "rw", "dirty"))


def pte_classes(view: KernelView) -> dict[str, list[str]]:
    """PTE class -> its states, in the view's order; an illegal state is a class of its own."""
    out: dict[str, list[str]] = {}
    for state in view.states:
        out.setdefault(_cluster(state) or state, []).append(state)
    return out


def slug(pte_class: str) -> str:
    """A class's name in a file name: 'rw dirty' -> 'rw-dirty', '[DUPLICATE HPTE]' -> 'duplicate-hpte'."""
    return "-".join("".join(c if c.isalnum() else " " for c in pte_class.lower()).split())


def drawings(view: KernelView) -> dict[str, str]:
    """Every drawing of the view, by the suffix of its file name (`ARCH{suffix}.dot`): one
    drawing ("") when it fits (split); else "" the overview of its PTE classes, "-CLASS" per
    class its states and every legal move from them, "-rules" the rules broken.  Together
    they hold every edge of the view (drawn_edges)."""
    if not split(view):
        return {"": to_dot(view, "all")}
    out = {"": overview_dot(view)}
    for pte_class, states in pte_classes(view).items():
        if any(legal for (src, _), (legal, _) in drawn_edges(view).items() if src in states):
            out[f"-{slug(pte_class)}"] = class_dot(view, pte_class)
    out["-rules"] = rules_dot(view)
    return out


def _quote(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _head(view: KernelView, rankdir: str = "LR") -> list[str]:
    return [f'digraph "{view.arch}" {{', f"  rankdir={rankdir}; newrank=true; compound=true; nodesep=0.15; ranksep=0.5;",
            '  node [shape=box, fontsize=10, fontname="Helvetica", style=rounded];',
            '  edge [fontsize=8, fontname="Helvetica"];']


def _foot(view: KernelView, title: str, notes: list[str]) -> list[str]:
    return [f'  label="{view.arch}: {title}\\l' + "".join(f"{_quote(n)}\\l" for n in notes)
            + '"; labeljust=l; fontsize=10; fontname="Helvetica";', "}"]


def _style(legal: list[str], broken: dict) -> str:
    """An edge's colour: red when it only breaks rules, red beside black when it also moves
    legally, dashed gray for hardware events alone."""
    if not legal:
        return ", color=red, fontcolor=red"
    if broken:
        return ', color="black:red"'
    return ", style=dashed, color=gray40, fontcolor=gray30" if all(label in HARDWARE for label in legal) else ""


def _node(state_id: str, label: str, state: str, view: KernelView, indent: str = "  ") -> str:
    style = ", color=red, fontcolor=red, penwidth=2" if _illegal(state) else ""
    shape = ", peripheries=2" if state == view.states[0] else ""
    return f'{indent}{state_id} [label="{label}"{style}{shape}];'


def _merge(labels: list[str], more: list[str]) -> None:
    labels.extend(label for label in more if label not in labels)


def overview_dot(view: KernelView) -> str:
    """The PTE classes (none, swap, ro, rw, ro dirty, rw dirty; an illegal state its own),
    each box listing its states (the architecture's second dimension: its hash, its
    queues); an edge where some state of one class moves legally to some state of the
    other, labelled by those moves; a loop for moves between a class's own states; the
    ways into an illegal state in red with the rule they break."""
    classes = pte_classes(view)
    cid = {c: f"C{i}" for i, c in enumerate(classes)}
    of = {s: c for c, states in classes.items() for s in states}
    lines = _head(view, "TB") + _class_boxes(view)
    moves: dict = {}
    for (src, dst), (legal, broken) in drawn_edges(view).items():
        key = (of[src], of[dst])
        if legal:
            _merge(moves.setdefault(key, ([], {}))[0], legal)
        if _illegal(dst) and src != dst:  # the ways into an illegal state
            for rule, labels in broken.items():
                _merge(moves.setdefault(key, ([], {}))[1].setdefault(rule, []), labels)
    for (a, b), (legal, broken) in moves.items():
        lines.append(f'  {cid[a]} -> {cid[b]} [label="{_quote(edge_text(legal, broken, chr(92) + "n"))}"'
                     f'{_style(legal, broken)}];')
    notes = ["an edge: some state of one class moves to some state of the other by these operations; "
             "a loop: moves between a class's own states",
             f"every move from a class, state by state: {view.arch}-CLASS.dot; the rules broken: "
             f"{view.arch}-rules.dot; where each leads: the tables"]
    return "\n".join(lines + _foot(view, "PTE classes", notes)) + "\n"


def _within(state: str, pte_class: str) -> str:
    """A state as its class's box lists it: what it adds to the class ('+ hashed'), or the
    class's name when it adds nothing."""
    rest = state[len(pte_class):].strip() if state.startswith(pte_class) else state
    return f"+ {rest}" if rest else state


def _class_boxes(view: KernelView) -> list[str]:
    """A box C<n> per PTE class, listing its states ('K6 + hashed'); not present first, then
    clean, then dirty (the order dot places them in)."""
    ids = {s: f"K{i}" for i, s in enumerate(view.states)}
    classes = pte_classes(view)
    cid = {c: f"C{i}" for i, c in enumerate(classes)}
    layout = ("none", "swap", "ro", "rw", "ro dirty", "rw dirty")
    lines = []
    for c, states in sorted(classes.items(), key=lambda item: layout.index(item[0]) if item[0] in layout else 9):
        listed = "".join(f"{ids[s]} {_quote(_within(s, c))}\\l" for s in states)
        label = listed if states == [c] else f"PTE {_quote(c)}\\n{listed}"
        style = ", color=red, fontcolor=red, penwidth=2" if _illegal(c) else ""
        shape = ", peripheries=2" if view.states[0] in states else ""
        lines.append(f'  {cid[c]} [label="{label}"{style}{shape}];')
    return lines


def class_dot(view: KernelView, pte_class: str) -> str:
    """One PTE class in detail: its states and the legal moves between them; then, per other
    class it moves to, one edge from the class to a gray box listing the states reached
    there, labelled line by line 'K6: operations → K1, K2' (from K6, those operations lead
    to K1 or K2)."""
    classes = pte_classes(view)
    mine = classes[pte_class]
    ids = {s: f"K{i}" for i, s in enumerate(view.states)}
    cid = {c: f"C{i}" for i, c in enumerate(classes)}
    of = {s: c for c, states in classes.items() for s in states}
    lines = _head(view, "TB")  # the class's states stacked, the classes it leaves for in a row below
    boxed = len(mine) > 1
    if boxed:
        lines.append(f'  subgraph cluster_0 {{ label="PTE {_quote(pte_class)}"; fontsize=9; fontname="Helvetica"; '
                     'color=gray; style=dashed;')
    for state in mine:
        lines.append(_node(ids[state], f"{ids[state]} {_quote(state)}", state, view, "    " if boxed else "  "))
    if boxed:
        lines.append("  }")
    away: dict = {}  # other class -> source -> operations -> the states they lead to
    for (src, dst), (legal, _) in drawn_edges(view).items():
        if src not in mine or not legal:
            continue
        if of[dst] == pte_class:
            lines.append(f'  {ids[src]} -> {ids[dst]} [label="{_quote(", ".join(legal))}"{_style(legal, {})}];')
        else:
            away.setdefault(of[dst], {}).setdefault(src, {}).setdefault(tuple(legal), []).append(dst)
    for c, sources in away.items():
        reached = {dst for by_ops in sources.values() for dsts in by_ops.values() for dst in dsts}
        listed = "".join(f"{ids[s]} {_quote(_within(s, c))}\\l" for s in classes[c] if s in reached)
        lines.append(f'  {cid[c]} [label="PTE {_quote(c)}\\n{listed}", color=gray50, fontcolor=gray30];')
        text = "".join(f"{ids[src]}: {_quote(', '.join(ops))} → {', '.join(ids[d] for d in dsts)}\\l"
                       for src, by_ops in sources.items() for ops, dsts in by_ops.items())
        labels = [label for by_ops in sources.values() for ops in by_ops for label in ops]
        tail = ", ltail=cluster_0" if boxed else ""
        lines.append(f'  {ids[mine[-1]]} -> {cid[c]} [label="{text}"{tail}{_style(labels, {})}];')
    rows = [list(away)[i:i + 3] for i in range(0, len(away), 3)]  # three boxes a row: a page's width
    for row in rows:
        lines.append(f"  {{ rank=same; {'; '.join(cid[c] for c in row)}; }}")
    lines += [f"  {ids[state]} -> {cid[rows[0][0]]} [style=invis];" for state in mine if rows]  # below the class
    lines += [f"  {cid[a]} -> {cid[b]} [style=invis];" for upper, lower in zip(rows, rows[1:]) for a, b in zip(upper, lower)]
    notes = ["an edge to a gray box, line by line: from that state (K1: ...), the operations, → the states of "
             "that class they lead to", f"the rules broken: {view.arch}-rules.dot"]
    return "\n".join(lines + _foot(view, f"legal moves from PTE {pte_class}", notes)) + "\n"


def to_dot(view: KernelView, part: str = "") -> str:
    """The diagram: `part` "all" for every move in one drawing (what breaks a rule from every
    state said once under it), "rules" for the rule-breaking moves alone (rules_dot); "" for
    the first of `drawings` (the whole view when it fits, else its PTE classes).  States are
    grouped by PTE class, hardware events dashed."""
    if not part:
        return drawings(view)[""]
    if part == "rules":
        return rules_dot(view)
    ids = {s: f"K{i}" for i, s in enumerate(view.states)}
    lines = _head(view, "TB")
    clusters: dict[str, list[str]] = {}
    for state in view.states:
        clusters.setdefault(_cluster(state), []).append(state)
    for n, (cluster, states) in enumerate(clusters.items()):
        indent = "  "
        if cluster and len(clusters) > 2 and len(states) > 1:
            lines.append(f'  subgraph cluster_{n} {{ label="PTE {cluster}"; fontsize=9; fontname="Helvetica"; '
                         'color=gray; style=dashed;')
            indent = "    "
        for state in states:
            lines.append(_node(ids[state], _quote(state), state, view, indent))
        if indent != "  ":
            lines.append("  }")
    common = everywhere(view)  # what breaks a rule from every state said once, under the drawing
    notes = [f"{', '.join(labels)} breaks {rule} from every state" for rule, labels in common.items()]
    for (src, dst), (legal, broken) in drawn_edges(view).items():
        broken = {rule: kept for rule, labels in broken.items()
                  if (kept := [label for label in labels if label not in common.get(rule, ())])}
        if legal or broken:
            lines.append(f'  {ids[src]} -> {ids[dst]} [label="{_quote(edge_text(legal, broken, chr(92) + "n"))}"'
                         f'{_style(legal, broken)}];')
    return "\n".join(lines + _foot(view, "kernel view", notes)) + "\n"


def rules_dot(view: KernelView) -> str:
    """The rules broken, for a view drawn apart: the PTE classes' boxes (as in the overview),
    each rule a red box, one edge from a class to a rule it is broken from, labelled line by
    line 'K6, K9: operations' (or 'every state: ...' of the class); what breaks it from every
    state of the view said once under the drawing."""
    classes = pte_classes(view)
    ids = {s: f"K{i}" for i, s in enumerate(view.states)}
    cid = {c: f"C{i}" for i, c in enumerate(classes)}
    lines = _head(view) + _class_boxes(view)
    for n, (rule, sources) in enumerate(sorted(rule_sources(view).items())):
        lines.append(f'  R{n} [label="{rule}", color=red, fontcolor=red, shape=box, style=bold];')
        for c, states in classes.items():
            by_labels: dict = {}
            for state in states:
                if state in sources:
                    by_labels.setdefault(tuple(sorted(sources[state])), []).append(state)
            if not by_labels:
                continue
            text = "".join(
                f"{'every state' if len(froms) == len(states) > 1 else ', '.join(ids[f] for f in froms)}: "
                f"{_quote(', '.join(labels))}\\l" for labels, froms in by_labels.items())
            lines.append(f'  {cid[c]} -> R{n} [label="{text}", color=red, fontcolor=red];')
    notes = [f"{', '.join(labels)} breaks {rule} from every state" for rule, labels in everywhere(view).items()]
    notes.append("each edge, line by line: the states of the class (or every state of it) and the operations "
                 "that break the rule from there (where they lead: the tables)")
    return "\n".join(lines + _foot(view, "rules broken", notes)) + "\n"


def to_markdown(view: KernelView, full: StateMachine) -> str:
    ids = {s: f"K{i}" for i, s in enumerate(view.states)}
    drawn = drawn_edges(view)
    red = [k for k, (_, broken) in drawn.items() if broken]
    lines = [
        f"# PTE state machine: {view.arch} (kernel view)",
        "",
        "Generated by `ptelab docs` from the model (ptelab/states.py, lumped by ptelab/kernel_view.py): the",
        "PTE as none, swap, read-only or writable, clean or dirty, with what the architecture adds",
        "(its PTE bits, its caches beyond the TLB, a queued invalidation or hypervisor write); the TLB,",
        "lazy mode and debug mode's history folded away.  An edge exists when some lumped state has it;",
        "a rule id on an edge means the operation breaks that rule from some state lumped in its source.",
        "Then minimised: states whose PTE reads the same and that behave alike (the same labels and rules",
        "to the same states) are one, named 'a or b'.",
        f"{_drawn_as(view)}  The full machine ({len(full.states)} states, {len(full.transitions)}",
        f"transitions): `ptelab states --arch {view.arch} --view full --format json`.",
        "",
        f"{len(view.states)} states, {len(drawn)} drawn edges ({len(red)} of them breaking a rule).",
        "",
        "## States",
        "",
        "| id | state | full states lumped |",
        "|----|-------|-------------------:|",
    ]
    for state in view.states:
        lines.append(f"| {ids[state]} | {state}{' (initial)' if state == view.states[0] else ''} | {view.lumped[state]} |")
    lines += ["", "## Transitions", "", "| from | to | operations [rule broken] |", "|---|---|---|"]
    for (src, dst), (legal, broken) in drawn.items():
        lines.append(f"| {ids[src]} | {ids[dst]} | {edge_text(legal, broken, '; ')} |")
    return "\n".join(lines) + "\n"


def _drawn_as(view: KernelView) -> str:
    if not split(view):
        return f"The diagram is `{view.arch}.dot`."
    return (f"Drawn as `{view.arch}.dot` (its PTE classes, each listing its states), one "
            f"`{view.arch}-CLASS.dot` per class (its states and every legal move from them: "
            f"{', '.join(f'`{view.arch}{suffix}.dot`' for suffix in drawings(view) if suffix not in ('', '-rules'))}) "
            f"and `{view.arch}-rules.dot` (the rules broken from each state).")


VIEW_FORMATS = {"md": to_markdown, "dot": lambda view, full: "".join(drawings(view).values())}
