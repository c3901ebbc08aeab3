"""The per-architecture txn commits (issue 15 item 3): each backend's txn levels
(arch/generic.py: txn_round_begin, txn_break_before_make, txn_flush_in_lazy), checked

- by the explorer: the txn versions of mprotect and zap raced against a user store and
  the hardware on every backend, including the seed thread's powerpc case, where the
  generic commit inherits the duplicate HPTE of 2.6.27 (shown by its legacy run);
- by `ptelab cost`: what each level saves, on the backend that has it, against the
  legacy accessor code (and txn never costs more anywhere: tests/test_txn.py).
"""

from pathlib import Path

import pytest

from ptelab.arch import ARCHES, arch_class
from ptelab.arch.generic import GenericArch
from ptelab.cli import main
from ptelab.cost import group, measure
from ptelab.litmus import load
from ptelab.machine.counters import HASH_BATCH_FLUSH, IPTE_RANGE, XEN_HYPERCALL

FIXTURES = Path(__file__).parent / "fixtures" / "txn"
OPS = ["litmus/op-change-protection.litmus", "litmus/op-zap-page-range.litmus",
       "litmus/op-unmap-mapping-range.litmus", "litmus/mremap-fault-old-address.litmus",
       "litmus/op-clear-refs.litmus", "litmus/op-page-mkclean.litmus", "litmus/op-reclaim-madvise.litmus",
       pytest.param("litmus/zap-dirty-shared-flush.litmus", marks=pytest.mark.slow),  # 40 s: three CPUs
       "litmus/fork-cow.litmus",  # the write-protect fault's copy: unmap, then map, two rounds
       pytest.param("litmus/op-fault.litmus", marks=pytest.mark.slow),  # two CPUs faulting one page
       pytest.param("litmus/op-fault-file.litmus", marks=pytest.mark.slow),
       str(FIXTURES / "txn-seed-mprotect.litmus"),
       str(FIXTURES / "txn-arm64-cont-mprotect.litmus"),  # arm64: a block unfolded once
       # fork's copy, reclaim (batched unmap of a file page, swap-out of an anonymous one)
       "litmus/op-fork.litmus", "litmus/op-shrink-page.litmus", "litmus/op-try-to-unmap.litmus",
       str(FIXTURES / "txn-swap-out.litmus"),
       # transactions of three entries over two PTE tables (`follows`, `next table`)
       str(FIXTURES / "txn-mprotect-multi.litmus"), str(FIXTURES / "txn-fork-multi.litmus")]
ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("path", OPS)
def test_txn_operations_keep_every_invariant(path):
    test = load(ROOT / path if not Path(path).is_absolute() else path)
    for arch in ARCHES:
        result = test.check(arch, api="txn")
        assert result.verdict == "ok", (arch, result.problems)


def test_generic_commit_would_duplicate_the_seed_hpte(monkeypatch):
    """The txn test above can fail: the seed case is a duplicate HPTE in legacy 2.6.27,
    and the same in txn without ppc64's break-before-make level."""
    test = load(FIXTURES / "txn-seed-mprotect.litmus")
    old = [name for name, cls in ARCHES.items() if cls.txn_break_before_make
           and "duplicate-hash-entry" in test.check(name, api="legacy").outcomes]
    assert "ppc64-2.6.27" in old and "ppc64-6.12" in old
    seed = str(FIXTURES / "txn-seed-mprotect.litmus")
    for arch in old:
        assert main(["litmus", seed, "--arch", arch, "--api", "txn", "--jobs", "1"]) == 0
        assert main(["litmus", seed, "--arch", arch, "--jobs", "1"]) == 1  # legacy: FAIL
    # the variants are subclasses of one another: take the level away from all, then look
    for arch in old:
        monkeypatch.setattr(arch_class(arch), "txn_break_before_make", False)
    for arch in old:
        assert "duplicate-hash-entry" in test.check(arch, api="txn").outcomes


def _levels(cls) -> set[str]:
    return {name for name in ("txn_round_begin", "txn_break_before_make", "txn_flush_in_lazy")
            if getattr(cls, name) != getattr(GenericArch, name)}


def test_each_level_saves_where_it_is_overridden():
    pages = 600  # two PTE tables
    for name, cls in ARCHES.items():
        levels = _levels(cls)
        if "txn_flush_in_lazy" in levels:  # Xen: one multicall for the round, flush included
            costs = {api: measure(name, "mprotect", pages, api) for api in ("legacy", "txn")}
            assert costs["txn"][XEN_HYPERCALL] == 1 < costs["legacy"][XEN_HYPERCALL], name
        if "txn_break_before_make" in levels:  # hash: one batch per 192 invalidations
            costs = {api: measure(name, "mprotect", pages, api) for api in ("legacy", "txn")}
            assert costs["txn"][HASH_BATCH_FLUSH] <= -(-pages // 192), name
            assert group(costs["txn"], "hash invalidations") == group(costs["legacy"], "hash invalidations")
        if "txn_round_begin" in levels and name.startswith("s390"):  # one IPTE per run of <= 256
            for op in ("mprotect", "munmap", "madv-dontneed"):
                costs = {api: measure(name, op, pages, api) for api in ("legacy", "txn")}
                assert costs["txn"][IPTE_RANGE] <= 4 and group(costs["txn"], "IPTE/IDTE") <= 5, (name, op)
                assert group(costs["legacy"], "IPTE/IDTE") >= pages, (name, op)


def test_a_commit_that_skips_its_flush_is_caught(monkeypatch):
    """G1 (DESIGN.md) is checked by the explorer: the stale-translation invariant on every
    step and, at the transaction's return, its operation contract ('txn commit'); a commit
    that believes nothing lost a permission, and so flushes nothing, is caught wherever
    the backend's accessors do not purge by themselves (s390's IPTE, the hash MMUs' queued
    invalidations issued at the section's end)."""
    import ptelab.txn

    monkeypatch.setattr(ptelab.txn, "weakens", lambda old, new: False)
    test = load(ROOT / "litmus/op-change-protection.litmus")
    caught = [arch for arch in ARCHES if "stale-translation" in test.check(arch, api="txn").outcomes]
    assert len(caught) >= len(ARCHES) // 2, caught


@pytest.mark.parametrize("path", ["litmus/op-madv-free.litmus", "litmus/op-mprotect-hash.litmus",
                                  "litmus/op-reclaim-mprotect.litmus"])
def test_txn_removes_what_legacy_breaks(path):
    """Operations whose 6.12 (or 2.6.27) accessor code breaks something on some backend:
    MADV_FREE writes the cleaned entry over its own unflushed clear (flush-before-reuse
    everywhere, a duplicate HPTE on the hash MMUs), mprotect's hashed entry gets a second
    HPTE on ppc64, reclaim racing mprotect leaves a stale translation on ppc32.  On txn
    (a clean or protect is a break, one flush, then the make; the commit flushes before
    unlock) the explorer finds nothing, on any backend."""
    test = load(ROOT / path)
    assert any(test.check(arch).outcomes for arch in ARCHES)
    for arch in ARCHES:
        assert not test.check(arch, api="txn").outcomes, arch
