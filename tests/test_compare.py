"""Architectures side by side (compare.py)."""

from ptelab.arch import ARCHES
from ptelab.compare import compare, extra_states, to_markdown
from ptelab.kernel_view import kernel_view
from ptelab.states import derive


def views():
    return {arch: kernel_view(derive(arch)) for arch in ARCHES}


def test_side_by_side_is_consistent():
    vs = views()
    shared, shared_moves, diffs = compare(vs)
    assert shared and all(set(shared) <= set(v.states) for v in vs.values())
    for d in diffs:
        legal = {(e.source, e.label, e.target) for e in vs[d.arch].edges if not e.rules}
        assert set(d.added_states) == set(vs[d.arch].states) - set(shared)
        assert set(d.added_moves) <= legal and not set(d.added_moves) & shared_moves
        for move in d.forbidden_moves:
            assert move not in legal
            assert any(move in {(e.source, e.label, e.target) for e in v.edges if not e.rules} for v in vs.values())


def test_powerpc_has_more_states_than_x86():
    vs = views()
    extra = extra_states(vs, "ppc64-6.12", "x86")
    assert any("hash" in s for s in extra)
    assert f"ppc64-6.12 has {len(extra)} states more than x86" in to_markdown(vs)
    assert not extra_states(vs, "x86", "ppc64-6.12")  # x86 adds nothing to powerpc
