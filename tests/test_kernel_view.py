"""The kernel view of each architecture's state machine: small, and nothing a rule depends on lost."""

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from ptelab.arch import ARCHES
from ptelab.arch.generic import GenericArch
from ptelab.cli import main
from ptelab.kernel_view import (BOXES_PER_DRAWING, EDGES_PER_DRAWING, coarsest_bisimulation, drawings, drawn_edges,
                                 group, kernel_key, kernel_view, pte_classes, pte_part, split, to_dot)
from ptelab.states import _illegal, derive

# States a kernel developer reads on one screen (about 20: x86, and every backend with no
# structure of its own beyond the TLB) or on one page (about 30-40: every backend).
SCREEN, PAGE = 20, 40
# the hooks through which a backend shows the state machine a structure of its own (a hash
# table, a storage key, a hypervisor batch: arch/generic.py)
OWN_STRUCTURES = ("abstract_caches", "abstract_frame", "pending_invalidation", "entry_as_written")


def bound(arch: str) -> int:
    own = any(getattr(ARCHES[arch], hook) is not getattr(GenericArch, hook) for hook in OWN_STRUCTURES)
    return PAGE if own else SCREEN


@pytest.mark.parametrize("arch", list(ARCHES))
def test_kernel_view_is_small(arch):
    view = kernel_view(derive(arch))
    assert len(view.states) <= bound(arch)  # x86 included: one screen
    assert not any("|" in state for state in view.states)  # names go in markdown tables
    assert sum(view.lumped.values()) == len(derive(arch).states)


def image(view, sm) -> dict:
    """Each full state's state in the view: the one its lumped state (kernel_key) was merged into."""
    into = {member: state for state in view.states for member in view.members(state)}
    return {state: into[kernel_key(state, sm.arch)] for state in sm.states}


@pytest.mark.parametrize("arch", list(ARCHES))
def test_every_path_of_the_full_machine_is_a_path_of_the_view(arch):
    """Each transition of the full machine is an edge between the lumped states with its
    group's label and its rules, so every path, and every one that breaks a rule, is kept."""
    sm = derive(arch)
    view = kernel_view(sm)
    name = image(view, sm)
    assert name[next(iter(sm.states))] == view.states[0]
    edges = {(e.source, e.label, e.target, e.rules) for e in view.edges}
    for t in sm.transitions:
        assert (name[t.source], group(t.op), name[t.target], t.rules) in edges, (t.op, t.rules)


@pytest.mark.parametrize("arch", list(ARCHES))
def test_the_view_is_minimal(arch):
    """No two states whose PTE reads the same behave alike (labels and rules): none merges."""
    view = kernel_view(derive(arch))
    block = coarsest_bisimulation(view.states, [(e.source, (e.label, e.rules), e.target) for e in view.edges],
                                  pte_part)
    assert len(set(block.values())) == len(view.states)


def _naive_bisimulation(states, edges, seed):
    """The greatest bisimulation as a relation on pairs, refined until it holds still."""
    moves = {s: {(label, t) for source, label, t in edges if source == s} for s in states}
    related = {(a, b) for a in states for b in states if seed(a) == seed(b)}

    def matched(a, b):
        return all(any(la == lb and (ta, tb) in related for lb, tb in moves[b]) for la, ta in moves[a])
    while True:
        kept = {(a, b) for a, b in related if matched(a, b) and matched(b, a)}
        if kept == related:
            return related
        related = kept


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 7).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from("ab"), st.integers(0, n - 1)),
                         max_size=14), st.lists(st.integers(0, 1), min_size=n, max_size=n))))
def test_coarsest_bisimulation_against_naive_enumeration(system):
    n, edges, colour = system
    states = list(range(n))
    block = coarsest_bisimulation(states, edges, colour.__getitem__)
    naive = _naive_bisimulation(states, edges, colour.__getitem__)
    assert {(a, b) for a, b in itertools.product(states, states) if block[a] == block[b]} == naive


@pytest.mark.parametrize("arch", list(ARCHES))
def test_kernel_view_keeps_every_rule_breaking_transition(arch):
    """Each transition of the full machine that breaks a rule is an edge of the view, from
    and to the lumped states, labelled by its group and the same rules, and drawn red."""
    sm = derive(arch)
    view = kernel_view(sm)
    edges = set(view.edges)
    drawn = drawn_edges(view)
    breaking = [t for t in sm.transitions if t.rules]
    name = image(view, sm)
    for t in breaking:
        source, target = name[t.source], name[t.target]
        assert any(e.source == source and e.target == target and e.label == group(t.op) and e.rules == t.rules
                   for e in edges), (t.op, t.rules)
        _, broken = drawn[(source, target)]
        assert all(group(t.op) in broken[rule] for rule in t.rules)
    rules_full = {r for t in breaking for r in t.rules}
    assert rules_full == {r for e in view.edges for r in e.rules}


@pytest.mark.parametrize("arch", list(ARCHES))
def test_every_rule_breaking_edge_is_reachable_in_the_view(arch):
    """The paths to a broken rule survive the lumping: its source is reachable from the initial state."""
    view = kernel_view(derive(arch))
    seen, frontier = {view.states[0]}, [view.states[0]]
    while frontier:
        state = frontier.pop()
        for e in view.edges:
            if e.source == state and e.target not in seen:
                seen.add(e.target)
                frontier.append(e.target)
    assert {e.source for e in view.edges if e.rules} <= seen


def test_hash_states_stay_apart_from_their_pte_class():
    """What powerpc adds is kept, in its words: a cleared entry whose HPTE is still valid is
    its own state (on ppc32 still hashed: the cleared-but-hash-pending state), a stale
    writable HPTE under a read-only PTE too, and a duplicate HPTE is one illegal state."""
    for arch in ("ppc64-2.6.27", "ppc32"):
        names = kernel_view(derive(arch)).states
        assert any(name.startswith("none") and "[stale" in name for name in names)
        assert any(name.startswith("ro") and "[stale writable HPTE]" in name for name in names)
        assert not any("slot" in name or "hash ro" in name for name in names)
    assert any(n.startswith("none hashed [stale HPTE") for n in kernel_view(derive("ppc32")).states)
    assert "none hashed" in kernel_view(derive("ppc32")).states
    assert [n for n in kernel_view(derive("ppc64-2.6.27")).states if "DUPLICATE" in n] == ["[DUPLICATE HPTE]"]
    assert not any("[" in n for n in kernel_view(derive("x86")).states)


def test_states_cli_views(capsys):
    assert main(["states", "--arch", "x86"]) == 0
    out = capsys.readouterr().out
    assert "(kernel view)" in out and "rw dirty" in out
    assert main(["states", "--arch", "x86", "--view", "full", "--format", "json"]) == 0
    assert '"transitions"' in capsys.readouterr().out
    assert main(["states", "--arch", "x86", "--view", "kernl"]) == 2
    assert "did you mean 'kernel'" in capsys.readouterr().err
    assert main(["states", "--arch", "x86", "--format", "json"]) == 2
    assert "accepted: md, dot" in capsys.readouterr().err


def drawn_rule_breaks(view) -> set:
    """(source, label, rule) for every rule-breaking move the drawings show, read back from
    the dot text: a red edge of the whole drawing; split, an edge from a class's box (listing
    its states) into a rule's box, labelled line by line 'K6, K9: ops' or 'every state: ops';
    a note 'L1, L2 breaks R from every state'."""
    ids = {f"K{i}": s for i, s in enumerate(view.states)}
    shown = set()
    if not split(view):
        text = to_dot(view)
        for line in text.splitlines():
            m = re.match(r'\s*(K\d+) -> K\d+ \[label="([^"]*)"', line)
            for part in m.group(2).split("\\n") if m else ():
                labels, _, rule = part.partition(" [")
                if rule:
                    shown |= {(ids[m.group(1)], label, rule.rstrip("]")) for label in labels.split(", ")}
        return shown | _said_of_every_state(view, text)
    text = to_dot(view, "rules")
    rules = dict(re.findall(r'^\s*(R\d+) \[label="([^"]*)"', text, re.M))
    boxes = {node: [ids[k] for k in re.findall(r"(K\d+) ", _label(attrs))]
             for node, attrs in re.findall(r"^\s*(C\d+) \[(.*)\];$", text, re.M)}
    for node, rule, attrs in re.findall(r"^\s*(C\d+) -> (R\d+) \[(.*)\];$", text, re.M):
        for line in filter(None, _label(attrs).split("\\l")):
            froms, _, labels = line.partition(": ")
            sources = boxes[node] if froms == "every state" else [ids[k] for k in froms.split(", ")]
            shown |= {(s, label, rules[rule]) for s in sources for label in labels.split(", ")}
    return shown | _said_of_every_state(view, text)


def _said_of_every_state(view, text: str) -> set:
    """The notes under a drawing: 'L1, L2 breaks R from every state'."""
    return {(s, label, rule) for labels, rule in re.findall(r"(?:\\l|label=\")([^\\\"]*?) breaks (\S+) from every state",
                                                             text)
            for s in view.states for label in labels.split(", ")}


@pytest.mark.parametrize("arch", list(ARCHES))
def test_the_drawings_show_every_rule_breaking_move(arch):
    """Whether drawn whole or split (legal moves; rules broken), the drawings show, for every
    rule-breaking edge of the view, its source state, its label and its rule (where it
    leads is in the tables), and nothing breaking a rule that the view does not have."""
    view = kernel_view(derive(arch))
    expected = {(e.source, e.label, rule) for e in view.edges for rule in e.rules}
    assert drawn_rule_breaks(view) == expected


def test_a_big_view_is_split_and_each_drawing_is_smaller():
    view = kernel_view(derive("ppc64-6.12"))
    assert split(view) and not split(kernel_view(derive("x86")))
    parts = drawings(view)
    assert list(parts) == ["", "-none", "-rw", "-ro", "-swap", "-rw-dirty", "-ro-dirty", "-duplicate-hpte", "-rules"]
    rules = parts["-rules"]
    assert rules.count("->") <= EDGES_PER_DRAWING and "[DUPLICATE HPTE]" in rules
    legal = [line for suffix, dot in parts.items() if suffix != "-rules" for line in dot.splitlines() if "->" in line]
    red = [line for line in legal if "red" in line]  # the ways into the illegal state, in the overview alone
    assert red and all("[duplicate-hash-entry]" in line and line in parts[""] for line in red)


def _label(attrs: str) -> str:
    return re.search(r'label="([^"]*)"', attrs).group(1)


def drawn_legal_moves(view) -> set:
    """(source, label, target) for every legal move the drawings show, read back from the dot
    text: in one drawing, the black part of each edge's label; split, in each class's drawing,
    an edge between two of its states, or an edge to another class's box whose label says,
    line by line, 'K6: ops → K1, K2'."""
    ids = {f"K{i}": s for i, s in enumerate(view.states)}
    shown = set()
    for suffix, text in drawings(view).items():
        if suffix in ("", "-rules") and split(view):
            continue
        for m in re.finditer(r"^\s*(K\d+) -> (K\d+) \[(.*)\];$", text, re.M):
            legal = [part for part in _label(m.group(3)).split("\\n") if " [" not in part]
            shown |= {(ids[m.group(1)], label, ids[m.group(2)]) for part in legal for label in part.split(", ")}
        for m in re.finditer(r"^\s*K\d+ -> C\d+ \[(label=.*)\];$", text, re.M):  # not the invisible ones
            for line in filter(None, _label(m.group(1)).split("\\l")):
                source, _, rest = line.partition(": ")
                ops, _, targets = rest.partition(" → ")
                shown |= {(ids[source], op, ids[t]) for op in ops.split(", ") for t in targets.split(", ")}
    return shown


@pytest.mark.parametrize("arch", list(ARCHES))
def test_the_drawings_hold_every_legal_move(arch):
    """Drawn whole or split into PTE classes, the drawings show every legal move of the view
    (source, operation, target: drawn_edges, legal self-loops aside) and nothing else; with
    the rules drawing (above), every edge of the view."""
    view = kernel_view(derive(arch))
    expected = {(src, label, dst) for (src, dst), (legal, _) in drawn_edges(view).items() for label in legal}
    assert drawn_legal_moves(view) == expected


@pytest.mark.parametrize("arch", [a for a in ARCHES if split(kernel_view(derive(a)))])
def test_the_overview_is_the_views_moves_between_pte_classes(arch):
    """Each edge of the overview is, label for label, the legal moves from some state of one
    class to some state of the other (a loop: between a class's own states), plus the ways
    into an illegal state in red; and each class box lists exactly its states."""
    view = kernel_view(derive(arch))
    classes = pte_classes(view)
    of = {s: c for c, states in classes.items() for s in states}
    text = drawings(view)[""]
    boxes = {node: re.findall(r"(K\d+) ", _label(attrs)) for node, attrs in re.findall(r"^\s*(C\d+) \[(.*)\];$", text, re.M)}
    ids = {f"K{i}": s for i, s in enumerate(view.states)}
    assert sorted(sorted(ids[k] for k in listed) for listed in boxes.values()) == sorted(map(sorted, classes.values()))
    named = {node: of[ids[listed[0]]] for node, listed in boxes.items()}
    shown = set()
    for a, b, attrs in re.findall(r"^\s*(C\d+) -> (C\d+) \[(.*)\];$", text, re.M):
        for part in _label(attrs).split("\\n"):
            labels, _, rule = part.partition(" [")
            shown |= {(named[a], label, named[b], rule.rstrip("]")) for label in labels.split(", ")}
    expected = {(of[src], label, of[dst], "") for (src, dst), (legal, _) in drawn_edges(view).items() for label in legal}
    expected |= {(of[src], label, of[dst], rule) for (src, dst), (_, broken) in drawn_edges(view).items()
                 if src != dst and _illegal(dst) for rule, labels in broken.items() for label in labels}
    assert shown == expected


DRAWINGS = sorted((Path(__file__).resolve().parent.parent / "docs" / "states").glob("*.dot"))


@pytest.mark.parametrize("path", DRAWINGS, ids=[p.name for p in DRAWINGS])
def test_every_drawing_reads_on_a_page(path):
    """The readability bound, on the drawings checked in (test_docs keeps them current): at
    most EDGES_PER_DRAWING edges and BOXES_PER_DRAWING boxes.  ppc64-6.12's legal moves were
    one drawing of 190 edges between 34 states, its rules one of 34 states and 4 rules."""
    text = path.read_text()
    edges = len(re.findall(r"^\s*\w+ -> \w+ \[(?!style=invis)", text, re.M))  # the invisible ones lay out
    boxes = len(re.findall(r"^\s*\w+ \[label=", text, re.M))
    assert edges <= EDGES_PER_DRAWING and boxes <= BOXES_PER_DRAWING
