"""Random walks against the derived PTE state machines (src/ptelab/states.py): is the machine complete?

    .venv/bin/python tools/hunt_states.py [--walks 2000] [--steps 60] [--seed 1] [ARCH ...]

Each walk applies random enabled operations (accessors on cpu0, hardware events on cpu1)
to one scenario and stops at its first step the derived machine does not list: a
(state, operation) pair that leads somewhere, or breaks a rule, the machine does not say.
Each unlisted pair found is printed once, with the walk that reaches it (a reproducer for
tests/test_states.py's KNOWN_GAPS) and the known gaps that account for it, by their
KNOWN_GAPS ids (the backend's name, then the gap's):

- multicall-buffer-fills (xen): the same walk (its operations by name) is listed when the
  multicall buffer never fills (MC_BATCH and MC_ARGS made huge, so nothing is issued before
  leave);
- insert-into-named-slot (ppc64): the walk and the derived machine's witness of the state
  (its shortest path) differ in whether a slot the queued invalidation names is the free
  slot hash_page's next insert takes (the first free slot of the primary group,
  native_hpte_insert);
- recorded-slot (ppc64): they differ in what the slot a hashed PTE records holds (the valid
  HPTE, ro or rw, or nothing);
- duplicate-count (ppc64): they differ in how many HPTEs a DUPLICATE has (the state says which
  kinds, ro+rw, not how many: an invalidation of one of three leaves a DUPLICATE).

A pair no known gap accounts for is UNEXPLAINED: the exit status is 1 if there is one.
The ppc64 explanations are necessary conditions (the two runs differ in that fact), not
proofs; the Xen one is a counterfactual run.  docs/model.md ("The derived PTE state machines")
says what the machine does not distinguish.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from ptelab.arch import ARCHES
from ptelab.machine.hash_table import HPTE_R_PP, HPTE_V_VALID, HPTES_PER_GROUP, PP_RW
from ptelab.states import OPS, derive, first_unlisted, replay, walk


def _before(arch: str, choices, step: int):
    """The live scenario just before step `step` of a walk."""
    scenario = None
    for scenario, *_ in walk(arch, choices[:step]):
        pass
    return scenario if scenario is not None else replay(arch, [])


def _unbounded_buffer_lists(sm, choices, step, listed) -> bool:
    """Xen: is the walk (its operations by name) listed through `step` when the multicall
    buffer never fills?"""
    from ptelab.arch import xen

    names = [op for _, _, op, _, _ in walk(sm.arch, choices[:step + 1])]
    batch, args = xen.MC_BATCH, xen.MC_ARGS
    xen.MC_BATCH, xen.MC_ARGS = 1 << 30, 1 << 30
    try:
        return first_unlisted(sm, names, listed) is None
    finally:
        xen.MC_BATCH, xen.MC_ARGS = batch, args


def _slot_kind(hpt, slot: int, vpn: int) -> str:
    if not hpt.v[slot] & HPTE_V_VALID or not hpt.matches(slot, vpn):
        return "free"
    return "rw" if hpt.entry(slot)[1] & HPTE_R_PP == PP_RW else "ro"


def _recorded_slot(s) -> str:
    """ppc64: what the slot the PTE records holds ("" when the PTE is not hashed)."""
    from ptelab.arch.ppc64_hash import pte_hash_slot

    arch = s.machine.arch
    pte = arch._arch.ptep_get(s.ptep)
    if not arch.hashed(pte):
        return ""
    vpn = arch.hpt.vpn(s.mm.context, s.addr)
    secondary, gix = pte_hash_slot(pte)
    return _slot_kind(arch.hpt, arch.hpt.group(vpn, secondary) + gix, vpn)


def _named_is_next_insert(s) -> bool:
    """ppc64: is a slot the queued invalidation of the page names the free slot hash_page's
    next insert takes?"""
    from ptelab.arch.ppc64_hash import pte_hash_slot

    arch = s.machine.arch
    batch = s.cpu0.arch_state
    if batch.mm is not s.mm:
        return False
    vpn = arch.hpt.vpn(s.mm.context, s.addr)
    base = arch.hpt.group(vpn, False)
    free = [slot for slot in range(base, base + HPTES_PER_GROUP) if not arch.hpt.v[slot] & HPTE_V_VALID]
    named = {arch.hpt.group(vpn, sec) + gix for sec, gix in (pte_hash_slot(p) for a, p in batch.entries if a == s.addr)}
    return bool(free) and free[0] in named


def _hptes(s) -> int:
    """ppc64: how many valid HPTEs map the page (more than one is a DUPLICATE)."""
    arch = s.machine.arch
    return len(arch.hpt.valid_slots(arch.hpt.vpn(s.mm.context, s.addr)))


def _differs(fact):
    """Do the walk and the derived machine's witness of the step's state (its shortest path)
    differ in `fact`?"""
    def explains(sm, choices, step, listed) -> bool:
        walked = _before(sm.arch, choices, step)
        witness = replay(sm.arch, sm.states[walked.abstract()])
        return fact(walked) != fact(witness)
    return explains


def _ppc64_hash(arch: str) -> bool:
    return arch.startswith("ppc64-")


# name -> (the backends it concerns, whether it accounts for an unlisted step)
KNOWN = {  # a gap's name is its id in KNOWN_GAPS after the backend's name
    "multicall-buffer-fills": (lambda arch: arch == "xen", _unbounded_buffer_lists),
    "insert-into-named-slot": (_ppc64_hash, _differs(_named_is_next_insert)),
    "recorded-slot": (_ppc64_hash, _differs(_recorded_slot)),
    "duplicate-count": (_ppc64_hash, _differs(_hptes)),
}


def explain(sm, choices, step, listed) -> list[str]:
    return [f"{sm.arch}-{name}" for name, (concerns, explains) in KNOWN.items()
            if concerns(sm.arch) and explains(sm, choices, step, listed)]


def hunt(arch: str, walks: int, steps: int, seed: int, out=print) -> tuple[int, int, int]:
    """Returns (steps walked, unlisted pairs, unexplained pairs)."""
    sm = derive(arch)
    listed = {(t.source, t.op, t.target, t.rules) for t in sm.transitions}
    rng = random.Random(seed)
    found: dict = {}
    taken = unexplained = 0
    for w in range(walks):
        choices = [rng.randrange(len(OPS)) for _ in range(steps)]
        hit = first_unlisted(sm, choices, listed)
        taken += steps if hit is None else hit[0] + 1
        if hit is None:
            continue
        step, state, op, target, rules = hit
        if (state, op) in found:
            continue
        names = explain(sm, choices, step, listed)
        found[(state, op)] = names
        unexplained += not names
        out(f"{arch}: walk {w}, step {step}: {', '.join(names) or 'UNEXPLAINED'}")
        out(f"  walk {choices[:step + 1]}")
        out(f"  from {state.label()}\n  by {op}\n  got {target.label()} {list(rules)}")
        for t in sm.transitions:
            if (t.source, t.op) == (state, op):
                out(f"  listed {t.target.label()} {list(t.rules)}")
    return taken, len(found), unexplained


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", nargs="*", help="backends (default: all)")
    parser.add_argument("--walks", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    unknown = [a for a in args.arch if a not in ARCHES]
    if unknown:
        parser.error(f"unknown architecture {unknown[0]!r} (known: {', '.join(ARCHES)})")
    bad = 0
    for arch in args.arch or list(ARCHES):
        start = time.process_time()
        sm = derive(arch)
        taken, pairs, unexplained = hunt(arch, args.walks, args.steps, args.seed)
        print(f"{arch}: {len(sm.states)} states; {args.walks} walks, {taken} steps: {pairs} unlisted "
              f"(state, operation) pairs, {unexplained} unexplained ({time.process_time() - start:.0f} CPU s)",
              flush=True)
        bad += unexplained
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
