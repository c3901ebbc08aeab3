"""The kernel view of each architecture's state machine: small, and nothing a rule depends on lost."""

import itertools
import re

import pytest
from hypothesis import given, settings, strategies as st

from ptelab.arch import ARCHES
from ptelab.arch.generic import GenericArch
from ptelab.cli import main
from ptelab.kernel_view import (LEGIBLE, coarsest_bisimulation, drawn_edges, group, kernel_key, kernel_view, pte_part,
                                 split, to_dot)
from ptelab.states import derive

# States a kernel developer reads on one screen (about 20: x86, and every backend with no
# structure of its own beyond the TLB) or on one page (about 30-40: every backend).
SCREEN, PAGE = 20, 40


def bound(arch: str) -> int:
    return SCREEN if ARCHES[arch].abstract_caches is GenericArch.abstract_caches else PAGE


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
    the dot text: an edge into a rule's box from a state or, with ltail, from every state of
    its class; a note 'L1, L2 breaks R from every state'; a red edge of the whole drawing."""
    ids = {f"K{i}": s for i, s in enumerate(view.states)}
    shown = set()
    if not split(view):
        for line in to_dot(view).splitlines():
            m = re.match(r'\s*(K\d+) -> K\d+ \[label="([^"]*)"', line)
            for part in m.group(2).split("\\n") if m else ():
                labels, _, rule = part.partition(" [")
                if rule:
                    shown |= {(ids[m.group(1)], label, rule.rstrip("]")) for label in labels.split(", ")}
        return shown
    text = to_dot(view, "rules")
    rules = dict(re.findall(r'^\s*(R\d+) \[label="([^"]*)"', text, re.M))
    clusters, current = {}, None
    for line in text.splitlines():
        if m := re.match(r"\s*subgraph (cluster_\d+)", line):
            current = m.group(1)
        elif line.strip() == "}":
            current = None
        elif (m := re.match(r'\s*(K\d+) \[label=', line)) and current:
            clusters.setdefault(current, []).append(ids[m.group(1)])
    for m in re.finditer(r'\s*(K\d+) -> (R\d+) \[label="([^"]*)"(?:, ltail=(cluster_\d+))?', text):
        sources = clusters[m.group(4)] if m.group(4) else [ids[m.group(1)]]
        shown |= {(s, label, rules[m.group(2)]) for s in sources for label in m.group(3).split(", ")}
    for labels, rule in re.findall(r"(?:\\l|label=\")([^\\\"]*?) breaks (\S+) from every state", text):
        shown |= {(s, label, rule) for s in view.states for label in labels.split(", ")}
    return shown


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
    rules = to_dot(view, "rules")
    assert rules.count("->") <= LEGIBLE and "[DUPLICATE HPTE]" in rules
    assert not [line for line in to_dot(view, "legal").splitlines() if "->" in line and "red" in line]
