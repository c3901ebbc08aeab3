"""The safety invariants, checked after every step of every execution (DESIGN.md, explore).

- use-after-free, duplicate-hash-entry and break-before-make are seen by the hardware
  model itself, at the access, insertion or store that breaks them (Machine.translate,
  Ppc64Hash._insert, Arm64._check_make);
- stale-translation: a TLB entry or valid HPTE that grants more than the PTE it came
  from (not present, another frame, writable over a read-only entry, or a freed
  allocation) once no operation that changed that PTE is still running;
- lost-dirty: a user store left data in a frame that reclaim may now discard as clean:
  the data is not on the page's backing store (the file's block, the swap slot;
  writeback copies it there, mm/page_writeback.py, vmscan.py) and nothing records the
  frame dirty: no PTE mapping it is Dirty (pte_dirty), the page is not PG_dirty, the
  architecture keeps no record of it (dirty_recorded: a storage key, an HPTE's change
  bit), and no accessor has handed the Dirty bit back (a returned old entry) since the
  store.  A store that writeback's clean finds dirty is copied, so it is never lost;
  one after the clean is, unless something records it again.  An anonymous page with
  no swap slot has nothing to lose (add_to_swap marks it dirty before reclaim unmaps
  it); a MADV_FREE'd one is discarded when clean, so its stores are judged as a file's
  against an empty block.  It is judged when no operation is changing a watched PTE,
  since an operation holds the old entry it read or cleared until it returns;
- torn-transaction (G3 to lockless walkers, txn.Observable): while a transaction commits,
  each entry it changes holds its old value, one its intents leave, or something that
  grants less (none, PROT_NONE); and no moved frame is mapped at its source and its
  destination at once;
- gup-unmapped-page: a page GUP-fast keeps for an address is the one the entry maps there,
  as asked (writable for FOLL_WRITE), when it keeps it: GUP-fast judges one entry at one
  instant, its recheck (mm/gup.py);
- pin-replaced: while a write pin is held, the mm that was pinned maps no other page at the
  pinned address, unless it unmapped the page there (munmap, MADV_DONTNEED, truncation,
  reclaim): what fork's page_needs_cow_for_dma and write_protect_seq keep (mm/gup.py);
- deadlock, and a BUG (the model's own consistency checks: freeing a mapped page,
  unlocking a lock not held) end an execution too.

Only the pages the scenario names are watched: litmus tests are small.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..machine.coherence import grants_more, stale
from ..rules import BY_ID, INVARIANT
from ..machine.memory import PG_anon, PG_dirty, PG_swapbacked, PTE_TABLE_SHIFT
from ..machine.tlb import tlb_key
from ..machine.violation import (
    BREAK_BEFORE_MAKE,
    DUPLICATE_HASH_ENTRY,
    LOST_DIRTY,
    STALE_TRANSLATION,
    USE_AFTER_FREE,
)
from ..pte import PFN_SHIFT, PTRS_PER_PTE, _PAGE_PRESENT, pte_accessible, pte_dirty, pte_pfn, pte_present, pte_write, swp_offset
from ..txn import weakens
from .footprint import HASH_BITS

_OBSERVED = frozenset(("tlb", "hash", "frame", "data"))  # besides entries: what a check reads

DEADLOCK = "deadlock"
BUG = "bug"
TORN_TRANSACTION = "torn-transaction"
GUP_UNMAPPED_PAGE = "gup-unmapped-page"
PIN_REPLACED = "pin-replaced"
INVARIANTS = (USE_AFTER_FREE, STALE_TRANSLATION, LOST_DIRTY, DUPLICATE_HASH_ENTRY, BREAK_BEFORE_MAKE, DEADLOCK, BUG,
              TORN_TRANSACTION, GUP_UNMAPPED_PAGE, PIN_REPLACED)

# The rule whose breach leads to each invariant, when debug mode saw none broken first
# (the backend itself broke it, as 2.6.27's ptep_modify_prot_start does).
PREVENTED_BY = {
    USE_AFTER_FREE: "flush-before-free",
    STALE_TRANSLATION: "no-stale-translation",
    LOST_DIRTY: "atomic-clear",
    DUPLICATE_HASH_ENTRY: "flush-before-reuse",
    BREAK_BEFORE_MAKE: "break-before-make",
    DEADLOCK: "lock-held",
    BUG: None,
    TORN_TRANSACTION: None,  # the transaction's own commit (txn.py, a backend's txn levels)
    GUP_UNMAPPED_PAGE: None,  # GUP-fast's own recheck (mm/gup.py)
    PIN_REPLACED: None,  # fork's page_needs_cow_for_dma and write_protect_seq (mm/memory.py)
}


class Operation:
    """An mm operation running on an actor: what it promises at its return is checked over
    the entries it saw under their PTE lock (ptep -> (write seq, the entry as it saw it
    last))."""

    __slots__ = ("name", "where", "seen", "actor")

    def __init__(self, name: str, where: str, actor=None):
        self.name, self.where, self.seen, self.actor = name, where, {}, actor


@dataclass
class Violation:
    """A broken invariant: which, what was found, where (step, actor, CPU, address, frame), and who is to blame."""

    invariant: str
    detail: str
    va: int | None
    pfn: int | None
    cpu: int | None
    step: int
    rule: str | None  # the first rule debug mode saw broken in this execution, if any
    actor: str | None = None
    blame: bool = True  # False: no rule of the rulebook prevents it (a spin loop's livelock)
    broke: str | None = None  # the rule the check itself found broken (an operation's contract)
    own: str | None = None  # the caller alone is to blame, and why (a lock it took twice)

    @property
    def prevented_by(self) -> str | None:
        if self.own:
            return None
        if self.rule or self.broke:
            return self.rule or self.broke
        return PREVENTED_BY.get(self.invariant) if self.blame else None

    def _how(self, rule: str) -> str:
        """Who broke the rule, as far as the execution shows."""
        if self.rule:
            return "broken at an earlier step"
        if self.broke:
            return "broken by the code that ran: found at the operation's return, not checkable per call"
        if BY_ID.get(rule) is not None and BY_ID[rule].check == INVARIANT:
            return "no per-call check: the code that ran broke it"
        return ("debug mode saw no call break it: the backend breaks it, or the caller broke a rule "
                "the rulebook lacks")

    def describe(self) -> str:
        where = [f"step {self.step}"]
        if self.actor:
            where.append(self.actor)
        if self.cpu is not None:
            where.append(f"cpu{self.cpu}")
        if self.va is not None:
            where.append(f"va {self.va:#x}")
        if self.pfn is not None:
            where.append(f"frame {self.pfn}")
        text = f"{self.invariant}: {self.detail} ({', '.join(where)})"
        rule = self.prevented_by
        if self.own:
            text += f"\n  blame: the caller's own: {self.own}"
        elif rule:
            text += f"\n  rule: {rule} ({self._how(rule)})"
        else:
            text += "\n  rule: none in the rulebook prevents it"
        return text


class Invariants:
    def __init__(self, world, hash_bits: bool = False):
        # hash_bits: a write of an entry's hash bits only counts as a write of the entry, as it
        # did before after_step's docstring said why it need not (naive enumeration's checks, the
        # baseline tests/test_odpor.py compares the search against)
        self.writes = (True, HASH_BITS) if hash_bits else (True,)
        self.machine = world.machine
        self.mem = world.machine.mem
        self.watched = world.watched
        self.arch = self.machine.arch
        self.kernel = world.state.get("kernel")  # its swap cache and swap device, if the scenario has them
        # each watched page with its TLB key, computed once
        self.pages = [(mm, va, name, tlb_key(mm.context, va)) for mm, va, name in world.watched]
        # each watched page's PTE slot, kept when the table that held it is freed (munmap's
        # free_pgtables, 6.12 mm/vma.c:347-363, runs before tlb_finish_mmu flushes): the
        # operation that freed it still owes the flush of what it removed there
        self.slots = {key: mm.pte_offset(va) for mm, va, _, key in self.pages}
        # frame -> (va, cpu, made on a MADV_FREE'd page) of the last store whose Dirty
        # software has not taken
        self.stores: dict[int, tuple[int, int, bool]] = {}
        self.ptl = self.mem.ptl
        self.tables = self.mem.ptes
        self.writers: dict[tuple[int, int], str] = {}  # (ptep, seq) -> who made that write
        self.ended: list[Operation] = []  # operations that returned in this step

    # ---- what the execution reports ----------------------------------------------------
    def stored(self, pfn: int, va: int, cpu: int) -> None:
        self.stores[pfn] = (va, cpu, self.mem.flags[pfn] & (PG_anon | PG_swapbacked) == PG_anon)

    def returned(self, old: int) -> None:
        if old & _PAGE_PRESENT and pte_dirty(old):
            self.stores.pop(old >> PFN_SHIFT, None)

    def gup_took(self, execution, mm, addr: int, pfn: int, write: bool) -> None:
        """GUP-fast keeps its reference on pfn for addr: the entry maps it there now, as
        asked (a read of the entry by the step)."""
        ptep = mm.pte_offset(addr)
        pte = 0 if ptep is None else self._raw(ptep)
        if ptep is not None:
            execution.touch(("pte", ptep), False)
        if pte_accessible(pte) and pte_pfn(pte) == pfn and (pte_write(pte) or not write):
            return
        now = "no entry" if ptep is None else f"'{self.arch.describe_pte(pte)}'"
        execution.violation(GUP_UNMAPPED_PAGE, f"GUP-fast keeps frame {pfn} for {addr:#x}"
                            f"{' for write' if write else ''} while the entry there is {now}: the "
                            "reference was taken after the entry changed, and nothing read it again "
                            "(the recheck, 6.12 mm/gup.c:2983-2987)", addr, pfn)

    def freed(self, pfn: int) -> None:
        """The frame was freed, or software took its record of the stores (an s390 storage
        key's change bit): no store before this one can be lost any more."""
        self.stores.pop(pfn, None)

    # ---- operations and their contracts -------------------------------------------------
    def begin(self, actor, name: str) -> None:
        """An operation starts, inside those the actor is already in (madvise > mmu_gather):
        named after the outermost one only, so that a loop opening operations it never
        closes (a litmus body's tlb_gather_mmu) does not build ever longer names."""
        outer = actor.ops[0].name + " > " if actor.ops else ""  # the outermost has no " > "
        where = f"{actor.name}'s {outer}{name}" + (f" (line {actor.line})" if actor.line else "")
        actor.ops.append(Operation(outer + name, where, actor))

    def seen(self, actor, ptep: int, pte: int) -> None:
        """An operation's CPU read or wrote the entry; under its PTE lock, that is what the
        operation saw (and, from the write count, which translations are older)."""
        lock = self.ptl.get(ptep >> 9)
        if lock is not None and lock.owner == actor.cpu.id:
            seen = (self.mem.pte_seq.get(ptep, 0), pte)
            for op in actor.ops:
                op.seen[ptep] = seen

    def written(self, actor, ptep: int, seq: int) -> None:
        op = actor.ops[-1] if actor.ops else None
        where = op.where if op else actor.name + (f" (line {actor.line})" if actor.line else "")
        self.writers[(ptep, seq)] = (where, actor, op)

    def _slot(self, mm, va: int, key: int) -> int | None:
        """The page's PTE pointer; where no table maps it now, the slot it had last."""
        ptep = mm.pte_offset(va)
        if ptep is None:
            return self.slots.get(key)
        self.slots[key] = ptep
        return ptep

    def end(self, execution, actor) -> None:
        """An operation returns: its contract is checked after this step, which reads every
        cached translation of the watched pages it saw (so the reduction orders it against
        each fill and flush).  A replayed step was checked when it first ran."""
        if not actor.ops:  # a litmus body's tlb_finish_mmu without its tlb_gather_mmu
            return
        op = actor.ops.pop()
        if execution.replaying or not op.seen:
            return
        self.ended.append(op)
        touch = execution.touch
        for cpu in self.machine.cpus:
            touch(("tlb", cpu.id), False)
        for mm, va, _, key in self.pages:
            ptep = self._slot(mm, va, key)
            if ptep in op.seen:
                touch(("pte", ptep), False)
                for loc in self.arch.cache_locations(mm, va):
                    touch(loc, False)

    def _check_contracts(self, execution) -> None:
        """At an operation's return, no translation of an entry it saw under the PTE lock,
        filled from an earlier write of that entry than the one it saw, may grant more than
        the entry as it saw it last: after mprotect nothing grants more than the new
        protection, after a zap (munmap, MADV_DONTNEED, unmap_mapping_range) nothing it
        removed is usable, after page_mkclean nothing writes through an older writable
        translation.  Whatever else is in flight: this is how a flush another operation
        deferred, and this one skipped, is seen."""
        machine = self.machine
        ended, self.ended = self.ended, []
        for op in ended:
            for mm, va, name, key in self.pages:
                ptep = self._slot(mm, va, key)
                if ptep not in op.seen:
                    continue
                seq, pte = op.seen[ptep]
                cached = [(f"cpu{cpu.id} TLB", *entry[:3], cpu.id, entry[3])
                          for cpu in machine.cpus if (entry := cpu.tlb.entries.get(key)) is not None]
                cached += self.arch.cached_translations(mm, va)
                for where, pfn, gen, writable, cpu_id, filled in cached:
                    if filled >= seq:
                        continue
                    execution.checked(("frame", pfn))
                    problem = grants_more(machine, pte, pfn, gen, writable)
                    if problem:
                        left, broke = self._left_by(execution, op, mm, ptep, filled, writable, pfn)
                        detail = (f"{op.where} returned while {where} still holds {name} {problem} (filled "
                                  f"from an earlier write than the one it saw under the PTE lock; left "
                                  f"behind by {left})")
                        execution._record(STALE_TRANSLATION, detail, va, pfn, cpu_id)
                        execution.violations[-1].broke = broke
                        execution.violations[-1].blame = broke is not None
                        return

    def _left_by(self, execution, op, mm, ptep: int, filled: int, writable: bool, pfn: int) -> tuple:
        """Who wrote the entry first after the translation was filled, and which rule of the
        rulebook the returning operation, or that writer, broke (None: no rule prevents it):
        - the writer is another operation still in flight, which deferred its flush past the
          lock: a zap returning then owed the nested flush (flush-nested, mm_tlb_flush_nested);
          another operation owed a flush before that writer dropped the lock, if the
          translation is writable and its page not anonymous (flush-dirty-shared-before-unlock);
        - reclaim cleared the entry and its batched flush is still pending:
          flush-batched-pending;
        - the operation's own write: it returned without its flush (no-stale-translation)."""
        where, actor, writer_op = self.writers.get((ptep, filled + 1), ("the initial state", None, None))
        execution.checked(("tlb_flush_batched", mm.context))
        if actor is not None and actor is not op.actor and writer_op is not None and writer_op in actor.ops:
            if "mmu_gather" in op.name:
                return where, "flush-nested"  # mm_tlb_flush_nested, 6.12 mm/mmu_gather.c:472-496
            shared = writable and not self.mem.flags[pfn] & PG_anon
            return where, "flush-dirty-shared-before-unlock" if shared else None
        if getattr(mm, "tlb_flush_batched", False):
            return where, "flush-batched-pending"
        if actor is op.actor:
            return where, "no-stale-translation"
        return where, None

    # ---- the checks ----------------------------------------------------------------------
    def may_break(self, footprint: dict, actor) -> bool:
        """Whether a step can have broken an invariant the checks found whole before it: an
        operation ended, or the step wrote a TLB, the hash table, a frame, or an entry
        its own operation is not changing (an entry in flight is judged when its operation
        ends, and it keeps the lost-dirty check waiting until then)."""
        if actor.finished or self.ended:
            return True
        pins = self.machine.pins
        if pins and self._pins_written(footprint):
            return True
        txns = self.machine.txns
        for loc, write in footprint.items():
            if write not in self.writes:  # a read, or a write of hash bits only, which no check
                continue                   # reads (after_step's docstring)
            if txns and loc[0] == "pte" and any(loc[1] in t.entries for t in txns):
                return True  # an entry of a committing transaction: torn-transaction reads it
            kind = loc[0]
            if kind == "pte":
                if loc[1] not in actor.wrote:
                    return True
            elif kind in _OBSERVED:
                return True
        return False

    def after_step(self, execution) -> None:
        """The checks after a step.  They are part of the step: what they read is added to
        its footprint (execution.checked), so that the reduction orders the step against
        every step of another CPU that changes it, and a check answers the same in every
        interleaving the reduction treats as equivalent (a check is a read: Peled's
        visibility proviso, as dependence).  Without it an operation's end found a TLB entry
        stale in one order, and the order in which hash_page's store, independent of the end,
        put the PTE back first was never explored.

        The checks are a conjunction of conditions (a page's entry against one CPU's TLB,
        against the hardware's other caches; a store's frame against its records), each true
        after every step of an execution that has not stopped: one the step did not write is
        as true as it was, so only those the step wrote, and those found false, are read, and
        of a true one only what makes it true (the CPU runs another mm, its TLB has no entry
        for the page, an entry records the store): a step of another CPU that leaves that as
        it is cannot change the answer, so the two commute.

        A write of an entry's hash bits only (explore/footprint.py HASH_BITS: ppc64's
        H_PAGE_BUSY, H_PAGE_HASHPTE and the slot, 6.12 arch/powerpc/include/asm/book3s/64/
        hash-4k.h:42-49, which hash_page's ldarx/stdcx. and its final store change when
        nothing else changes, mm/book3s64/hash_4k.c:35-53, 121-127) writes no condition: each
        check reads only the entry's other bits (grants_more: present, frame, writable;
        lost-dirty: present, frame, Dirty; pin-replaced: present, frame; torn-transaction:
        txn.weakens' present, frame, write, exec, user; an operation's contract: the write
        count, which hash_page does not advance), so the step is no write of the entry here:
        after it every check answers as it did before it, and it reads nothing for them."""
        read = execution.checked
        writes = self.writes
        wrote = {loc for loc, write in execution.step.footprint.items() if write in writes}
        machine = self.machine
        if machine.pins and self._check_pins(execution, wrote):
            return
        if machine.txns and self._check_txns(execution, wrote):
            return
        in_flight = [actor.wrote for actor in execution.actors if actor.wrote]
        arch = self.arch
        quiet = True  # no watched PTE is being changed by an operation still running
        self._busy = ()  # what made it not quiet
        for mm, va, name, key in self.pages:
            ptep = self._slot(mm, va, key)
            if ptep is None:
                entry_locs, changed = (), False
            else:
                entry_locs = (("pte", ptep), ("in flight", ptep))
                changed = entry_locs[0] in wrote or entry_locs[1] in wrote
                if in_flight and _in_any(ptep, in_flight):
                    quiet = False
                    self._busy = entry_locs
                    if changed:
                        _read_all(read, entry_locs)
                    continue
            pte = None
            running = ("cpumask", mm.context)  # written when a CPU attaches or goes lazy
            for cpu in machine.cpus:
                tlb = ("tlb", cpu.id)
                touched = changed or running in wrote or tlb in wrote
                # a CPU that switched away from mm, or runs it lazily, uses none of its
                # entries; x86's switch_mm flushes them if a flush skipped it meanwhile
                if cpu.mm is not mm or cpu.is_lazy:
                    if touched:
                        read(running)
                    continue
                entry = cpu.tlb.entries.get(key)
                if entry is None:
                    if touched:
                        read(running)
                        read(tlb)
                    continue
                pte = arch.entry_as_written(mm, va) if pte is None else pte
                problem = grants_more(machine, pte, entry[0], entry[1], entry[2])
                frame = ("frame", entry[0])  # its allocation generation
                if problem or touched or frame in wrote:
                    _read_all(read, entry_locs, (running, tlb, frame))
                if problem:
                    where = f"{name}: cpu{cpu.id} TLB"
                    return execution._record(STALE_TRANSLATION, stale(where, mm.context, va, problem),
                                             va, entry[0], cpu.id)
            caches = arch.cache_locations(mm, va)
            touched = changed or _in_any_of(caches, wrote)
            cached = list(arch.cached_translations(mm, va))
            if not cached and touched:
                _read_all(read, caches)
            for where, pfn, gen, writable, cpu_id, _ in cached:
                pte = arch.entry_as_written(mm, va) if pte is None else pte
                problem = grants_more(machine, pte, pfn, gen, writable)
                if problem or touched or ("frame", pfn) in wrote:
                    _read_all(read, entry_locs, caches, (("frame", pfn),))
                if problem:
                    return execution._record(STALE_TRANSLATION, stale(f"{name}: {where}", mm.context, va, problem),
                                             va, pfn, cpu_id)
        if self.ended:
            self._check_contracts(execution)
            if execution.violations:
                return
        if self.stores:
            if quiet:
                self._check_dirty(execution, wrote)
            elif any(loc[0] in ("frame", "data", "pte", "in flight") for loc in wrote):
                _read_all(read, self._busy)  # the store's check waits for that entry's operation

    def _raw(self, ptep: int) -> int:
        table = self.tables.get(ptep >> PTE_TABLE_SHIFT)
        return 0 if table is None else table[ptep % PTRS_PER_PTE]

    def _pin_slots(self):
        """Each write pin held with the PTE pointer of its address now (None: no table)."""
        return [(mm, addr, pfn, mm.pte_offset(addr)) for mm, addr, pfn in self.machine.pins]

    def _pins_written(self, footprint: dict) -> bool:
        return any(footprint.get(("pte", ptep)) or footprint.get(("frame", pfn))
                   for _, _, pfn, ptep in self._pin_slots())

    def _check_pins(self, execution, wrote) -> bool:
        """pin-replaced: an entry of a pinned address this step wrote (or whose pin it took)
        maps no other frame than the pinned one."""
        for mm, addr, pfn, ptep in self._pin_slots():
            if ptep is None or (("pte", ptep) not in wrote and ("frame", pfn) not in wrote):
                continue
            execution.checked(("pte", ptep))
            pte = self._raw(ptep)
            if pte_present(pte) and pte_pfn(pte) != pfn:
                execution._record(PIN_REPLACED, f"mm {mm.context} maps frame {pte_pfn(pte)} at {addr:#x} while "
                                  f"frame {pfn}, pinned there for write, is still pinned: what is written "
                                  "through the pin is lost to the process (fork shared a pinned page: "
                                  "page_needs_cow_for_dma, 6.12 include/linux/mm.h:1958-1967, and "
                                  "write_protect_seq, mm/memory.c:1401, mm/gup.c:3401-3432)", addr, pte_pfn(pte))
                return True
        return False

    def _check_txns(self, execution, wrote) -> bool:
        """G3 to lockless walkers (txn.Observable): an entry of a committing transaction this
        step wrote may hold only what a walker is allowed to see of it; a moved frame never
        at both ends.  Only the entries the step wrote (and a move's other end) are read."""
        describe = self.arch.describe_pte
        written = sorted(loc[1] for loc in wrote if loc[0] == "pte")
        for txn in self.machine.txns:
            for ptep in written:
                if ptep not in txn.entries:
                    continue
                addr, allowed = txn.entries[ptep]
                pte = self._raw(ptep)
                if pte_accessible(pte) and all(weakens(pte, ok) for ok in allowed):
                    seen = ", ".join(f"'{describe(v)}'" for v in dict.fromkeys(allowed))
                    execution._record(TORN_TRANSACTION, f"cpu{txn.cpu}'s transaction left the entry at {addr:#x} "
                                      f"'{describe(pte)}', which grants more than each entry a walker may "
                                      f"see there ({seen})", addr, pte_pfn(pte), txn.cpu)
                    return True
            for src, dst in txn.moves:
                if ("pte", src) not in wrote and ("pte", dst) not in wrote:
                    continue
                execution.checked(("pte", src))
                execution.checked(("pte", dst))
                old, new = self._raw(src), self._raw(dst)
                if pte_accessible(old) and pte_accessible(new) and pte_pfn(old) == pte_pfn(new):
                    execution._record(TORN_TRANSACTION, f"cpu{txn.cpu}'s move maps frame {pte_pfn(new)} at "
                                      f"both {txn.entries[src][0]:#x} and {txn.entries[dst][0]:#x}: the source "
                                      "is cleared before the destination is set (move_ptes, 6.12 "
                                      "mm/mremap.c:195, then :221)", txn.entries[dst][0], pte_pfn(new), txn.cpu)
                    return True
        return False

    def _home(self, pfn: int, lazy: bool) -> tuple[int, str] | None:
        """What the frame's backing store holds for it, and its name; None when reclaim
        never discards the frame's data as clean, or may (a store made before MADV_FREE
        marked the page lazily freed: `lazy` is whether it was made after)."""
        mem = self.mem
        if mem.flags[pfn] & PG_anon:
            entry = self.kernel.swap_cache.get(pfn) if self.kernel is not None else None
            if entry is not None:
                return self.kernel.swap.read(entry), f"swap slot {swp_offset(entry)}"
            if mem.flags[pfn] & PG_swapbacked or not lazy:
                return None  # 6.12 mm/swap_state.c:211-222: add_to_swap marks it dirty
            # 6.12 mm/rmap.c:1861-1894 (try_to_unmap_one): a clean MADV_FREE'd page is
            # discarded, and read back as zeroes
            return 0, "nothing (MADV_FREE'd: a clean page is discarded and reads back zeroes)"
        mapping = mem.mapping[pfn]
        if mapping is None:
            return None  # out of the page cache (truncated): nothing to write back
        index = mem.index[pfn]
        return mapping.store.get(index, 0), f"block {index} of file {mapping.name!r}"

    def _check_dirty(self, execution, wrote: set) -> None:
        flags = self.mem.flags
        read = execution.checked
        # a store's condition is written by a write of its frame or of an entry (any entry
        # of a watched mm may record it dirty) or the end of an operation on an entry
        entries = any(loc[0] in ("pte", "in flight") for loc in wrote)
        for pfn, (store_va, cpu, lazy) in list(self.stores.items()):
            changed = entries or ("frame", pfn) in wrote or ("data", pfn) in wrote
            if changed:
                read(("frame", pfn))  # its flags, mapping and swap slot
                read(("data", pfn))  # its data and the store's record
            if flags[pfn] & PG_dirty or self.arch.dirty_recorded(pfn):
                del self.stores[pfn]
                continue
            home = self._home(pfn, lazy)
            data = self.mem.data[pfn]
            if home is None or home[0] == data:  # nothing to lose (yet): the data is on its backing store
                continue
            # any entry of a watched mm: mremap may have moved the page's entry elsewhere
            tables = [table for mm in {mm for mm, _, _ in self.watched} for table in mm.pmd.values()]
            recorded = self._dirty_entry(pfn, tables)
            if recorded is not None:
                if changed:  # one entry that records it is enough: the answer holds while it does
                    read(("pte", recorded))
                continue
            # nothing records it: every entry of every table was read
            read(("frame", pfn))
            read(("data", pfn))
            for table in tables:
                read(("frame", table))
                base = table << PTE_TABLE_SHIFT
                for i in range(PTRS_PER_PTE):
                    read(("pte", base | i))
            return execution._record(LOST_DIRTY, f"cpu{cpu}'s store to {store_va:#x} left frame {pfn} holding "
                                     f"{data}, {home[1]} holds {home[0]}, and no Dirty bit, page flag or "
                                     "returned entry records it: reclaim may discard the page as clean",
                                     store_va, pfn, cpu)

    def _dirty_entry(self, pfn: int, tables: list) -> int | None:
        """An entry of those tables that maps pfn Dirty (its pointer), or None."""
        ptes = self.mem.ptes
        for table in tables:
            for i, pte in enumerate(ptes[table]):
                if pte & _PAGE_PRESENT and pte >> PFN_SHIFT == pfn and pte_dirty(pte):
                    return (table << PTE_TABLE_SHIFT) | i
        return None

    def snapshot(self) -> tuple:
        """For the step table: each watched page's PTE, TLB entries, and the translations the
        hardware caches elsewhere (HPTEs...: the arch hook), as (where, pfn, writable)."""
        machine = self.machine
        arch = machine.arch
        rows = []
        for mm, va, name in self.watched:
            pte = mm.entry(va)
            key = tlb_key(mm.context, va)
            tlbs = tuple((cpu.id, cpu.tlb.entries.get(key)) for cpu in machine.cpus)
            cached = tuple((where, pfn, writable) for where, pfn, _, writable, *_ in arch.cached_translations(mm, va))
            rows.append((name, pte, tlbs, cached))
        return tuple(rows)


def _read_all(read, *groups) -> None:
    for group in groups:
        for loc in group:
            read(loc)


def _in_any(item, collections) -> bool:
    """Whether item is in one of the collections (any() without a generator: the checks run
    after most steps)."""
    for collection in collections:
        if item in collection:
            return True
    return False


def _in_any_of(items, collection) -> bool:
    """Whether one of the items is in the collection."""
    for item in items:
        if item in collection:
            return True
    return False
