"""The kernel view of each architecture's state machine: small, and nothing a rule depends on lost."""

import pytest

from ptelab.arch import ARCHES
from ptelab.cli import main
from ptelab.kernel_view import drawn_edges, group, kernel_key, kernel_view
from ptelab.states import derive

# States a kernel developer reads on one screen (x86) or one page (every other backend).
MAX_STATES = {"x86": 20, "arm64": 20, "arm64-nocont": 20, "xen": 20, "ppc32": 30}
PAGE = 60
# The ppc64 hash variants do not fit a page yet (51-70 states; issue 18 stays open for it): a
# bound all the same, so that a change that grows them further is seen.
MAX_STATES.update({name: 80 for name in ARCHES if name.startswith("ppc64")})


@pytest.mark.parametrize("arch", list(ARCHES))
def test_kernel_view_is_small(arch):
    view = kernel_view(derive(arch))
    assert len(view.states) <= MAX_STATES.get(arch, PAGE)
    assert sum(view.lumped.values()) == len(derive(arch).states)


@pytest.mark.parametrize("arch", list(ARCHES))
def test_kernel_view_keeps_every_rule_breaking_transition(arch):
    """Each transition of the full machine that breaks a rule is an edge of the view, from
    and to the lumped states, labelled by its group and the same rules, and drawn red."""
    sm = derive(arch)
    view = kernel_view(sm)
    edges = set(view.edges)
    drawn = drawn_edges(view)
    breaking = [t for t in sm.transitions if t.rules]
    for t in breaking:
        source, target = kernel_key(t.source), kernel_key(t.target)
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
    """What powerpc adds is kept: a cleared entry whose HPTE is still valid is its own state."""
    names = kernel_view(derive("ppc64-6.12")).states
    assert any(name.startswith("none") and "hash r" in name for name in names)
    assert "none" not in [n.split(" [")[0] for n in kernel_view(derive("x86")).states if "[" in n]


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
