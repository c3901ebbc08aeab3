"""The transactional PTE interface: core code says what it wants done to a range.

The seed thread (linux-mm, 2008) asks for "starting a transaction, changing a -bunch-
of PTEs, then committing", each architecture "implementing the highest level interface
it needs and no higher".  Here:

    with PteTxn(vma, start, end) as t:      # takes the PTE lock(s), enters lazy MMU mode
        old = t.unmap(addr)                 # intents, one or more per entry
        t.protect(addr2, newprot)
        t.get(addr2)                        # reads see the transaction's own intents
    old.value                               # the entry as it was cleared, with its exact A/D

Intents are recorded, not applied: nothing is visible to another CPU, the hardware or a
lockless walker until commit, which applies them all under the locks, leaves lazy MMU
mode (the backend issues what it batched: ppc64's hash invalidations, Xen's multicall)
and makes one ranged TLB flush if any intent took away something a TLB may cache, all
before the locks are dropped.  So when commit returns no cached translation grants more
than the PTEs (G1), every cleared or changed entry's Accessed/Dirty state is returned
as the atomic accessor read it (G2), and other lock holders see all intents or none
(G3: they are applied under the locks they take).  An exception inside the block
discards every intent: the page tables are left as they were.  `t.commit()` may be
called inside the block to use the results while the locks are still held (zap frees
a dirty file page's rmap only then, as 6.12 mm/memory.c:1685-1689 flushes first).

The commit here is the generic one, built only from the backend's accessors (so debug
mode checks every call it makes), correct on every backend; see docs/txn.md for what
each backend gets from it and for the kernel's batch accessors expressed as intents.
A transaction over several PTE tables holds their locks in address order, as move_ptes
holds two (6.12 mm/mremap.c:175-185).
"""

from __future__ import annotations

from .machine.memory import PTE_TABLE_SHIFT
from .pte import (
    ARCH_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    PFN_SHIFT,
    PMD_SIZE,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_RW,
    pte_accessible,
    pte_dirty,
    pte_exec,
    pte_mkclean,
    pte_mkold,
    pte_mkwrite,
    pte_modify,
    pte_none,
    pte_pfn,
    pte_present,
    pte_user,
    pte_wrprotect,
    pte_write,
    pte_young,
)

# what relax may add (ptep_set_access_flags "only ever relaxes")
_RELAX_BITS = _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_RW


class TxnError(ValueError):
    """An intent the transaction cannot honour (outside the range, no PTE table, an
    intent the entry's state forbids): raised at the intent, so the block rolls back."""


class Result:
    """What an intent returns: known once the transaction has committed."""

    __slots__ = ("_value", "done")

    def __init__(self):
        self._value = None
        self.done = False

    @property
    def value(self):
        if not self.done:
            raise TxnError("the transaction has not committed yet")
        return self._value

    def _set(self, value) -> None:
        self._value, self.done = value, True


def weakens(old: int, new: int) -> bool:
    """Could a TLB filled from `old` grant more than `new`? (the flush the commit owes)"""
    if not pte_accessible(old):
        return False
    if not pte_accessible(new) or pte_pfn(new) != pte_pfn(old):
        return True
    return ((pte_write(old) and not pte_write(new)) or (pte_exec(old) and not pte_exec(new))
            or (pte_user(old) and not pte_user(new)))


def _chunks(start: int, end: int):
    addr = start
    while addr < end:
        next_ = min((addr & ~(PMD_SIZE - 1)) + PMD_SIZE, end)
        yield addr, next_
        addr = next_


class PteTxn:
    """A transaction over [start, end) of one vma's mm."""

    def __init__(self, vma, start: int, end: int, defer_flush=None, to=None):
        """to=(new_vma, new_start): the transaction also covers [new_start, new_start + end -
        start) of new_vma (same mm), the range `move` intents move entries to (mremap).
        defer_flush(addr, ptep): the caller owes the TLB flush of each entry the commit
        hands it, right after the entry changed, and makes it before anything it unmapped
        is freed (the mmu_gather's contract, asm-generic/tlb.h: zap passes
        tlb_remove_tlb_entry, whose architecture hook may act at once, as ppc32's does);
        the commit then makes no flush of its own, and G1 holds at the caller's flush."""
        if start & (PAGE_SIZE - 1) or end & (PAGE_SIZE - 1) or start >= end:
            raise TxnError(f"range [{start:#x}, {end:#x}) is not a page-aligned, non-empty range")
        self.vma, self.mm = vma, vma.mm
        self.machine = vma.mm.machine
        self.start, self.end = start, end
        self.ranges = [(start, end)]
        if to is not None:
            new_vma, new_start = to
            if new_vma.mm is not vma.mm or new_start & (PAGE_SIZE - 1):
                raise TxnError("a move's destination is a page-aligned range of the same mm")
            new_end = new_start + end - start
            if new_start < end and start < new_end:
                raise TxnError("a move's destination overlaps its source")
            self.ranges.append((new_start, new_end))
        self.intents: list[tuple] = []
        self.view: dict[int, int] = {}  # addr -> the entry as the intents so far leave it
        self.states: dict[int, list[int]] = {}  # addr -> the entry as each of its intents leaves it
        self.locks: list = []
        self.committed = False
        self.flushed = None  # (lo, hi) of the commit's flush, or None
        self.defer_flush = defer_flush
        self.contract = False  # G1 is promised at this transaction's return (see _apply)
        self.cleaned_in_place: set = set()  # the round's clean intents' pteps made in place

    # ---- opening and closing ----------------------------------------------------------
    def __enter__(self) -> "PteTxn":
        me = self.machine.this_cpu.id
        # every PTE table of every range, locked once each, in address order (as move_ptes
        # holds two, 6.12 mm/mremap.c:175-185; ordered, two transactions cannot deadlock)
        for lo in sorted(lo for start, end in self.ranges for lo, _ in _chunks(start, end)):
            ptep = self.mm.pte_offset(lo)
            if ptep is not None:
                ptl = self.machine.mem.ptl[ptep >> PTE_TABLE_SHIFT]
                if ptl not in self.locks:
                    ptl.lock(me)
                    self.locks.append(ptl)
        self.machine.arch.arch_enter_lazy_mmu_mode()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None and not self.committed:
                self._apply()
        finally:
            if not self.committed:  # rolled back: nothing was written
                self.machine.arch.arch_leave_lazy_mmu_mode()
            self._unlock()
            if self.contract:
                self.machine.operation_end()
        return False

    def commit(self) -> None:
        """Apply every intent now, keeping the locks until the block ends."""
        if self.committed:
            raise TxnError("the transaction has already committed")
        self._apply()

    def again(self) -> None:
        """After commit(), inside the block: a new transaction over the same range under the
        locks still held, its intents committed when the block ends (or by commit()).  What
        the kernel does when it decides on a second write only from the first's result,
        under the same lock (try_to_unmap_one puts back the entry of a lazily-freed page
        written since, 6.12 mm/rmap.c:1897-1908)."""
        if not self.committed:
            raise TxnError("again() follows a commit()")
        self.intents, self.view, self.committed = [], {}, False
        self.machine.arch.arch_enter_lazy_mmu_mode()

    def _unlock(self) -> None:
        me, debug = self.machine.this_cpu.id, self.machine.debug
        for ptl in reversed(self.locks):
            if debug is not None:
                debug.before_unlock(ptl)
            ptl.unlock(me)
        self.locks = []

    # ---- reading -----------------------------------------------------------------------
    def _ptep(self, addr: int) -> int:
        if addr & (PAGE_SIZE - 1) or not any(start <= addr < end for start, end in self.ranges):
            raise TxnError(f"{addr:#x} is not a page of the transaction's range")
        if self.committed:
            raise TxnError("the transaction has already committed")
        ptep = self.mm.pte_offset(addr)
        if ptep is None:
            raise TxnError(f"no PTE table maps {addr:#x}")
        return ptep

    def addresses(self):
        """Every page of the (source) range that a PTE table maps, in order: what core code
        walks (the pages of a range with no table have no entry to change)."""
        for lo, hi in _chunks(self.start, self.end):
            if self.mm.pte_offset(lo) is not None:
                yield from range(lo, hi, PAGE_SIZE)

    def get(self, addr: int) -> int:
        """The entry as this transaction's intents leave it (ptep_get otherwise)."""
        ptep = self._ptep(addr)
        if addr in self.view:
            return self.view[addr]
        return self.machine.arch.ptep_get(ptep)

    def _intent(self, op: str, addr: int, new: int, *args) -> Result:
        ptep = self._ptep(addr)
        result = Result()
        self.intents.append((op, addr, ptep, result, *args))
        self._view(addr, self.machine.arch.pte_as_set(new))
        return result

    def _view(self, addr: int, pte: int) -> None:
        self.view[addr] = pte
        self.states.setdefault(addr, []).append(pte)

    # ---- intents -----------------------------------------------------------------------
    def map(self, addr: int, pte: int, nr: int = 1) -> None:
        """set_ptes: nr entries, not valid now, map nr consecutive frames from pte's."""
        for i in range(nr):
            a = addr + (i << PAGE_SHIFT)
            if pte_present(self.get(a)):
                raise TxnError(f"map over the valid entry at {a:#x}: unmap it first")
        for i in range(nr):
            self._intent("map", addr + (i << PAGE_SHIFT), pte + (i << PFN_SHIFT), pte + (i << PFN_SHIFT))

    def unmap(self, addr: int) -> Result:
        """Clear the entry; the result is the old entry with its exact Accessed/Dirty."""
        self.get(addr)
        return self._intent("unmap", addr, 0)

    def protect(self, addr: int, newprot: int, dirty_writable: bool = False) -> Result:
        """pte_modify a present entry to newprot (and writable if dirty and dirty_writable,
        mprotect's dirty accounting); the result is the old entry."""
        cur = self.get(addr)
        if not pte_present(cur):
            raise TxnError(f"protect of the entry at {addr:#x}, which is not present")
        return self._intent("protect", addr, _protected(cur, newprot, dirty_writable), newprot, dirty_writable)

    def wrprotect(self, addr: int) -> None:
        cur = self.get(addr)
        if not pte_present(cur):
            raise TxnError(f"wrprotect of the entry at {addr:#x}, which is not present")
        self._intent("wrprotect", addr, pte_wrprotect(cur))

    def relax(self, addr: int, entry: int) -> None:
        """ptep_set_access_flags: add the Accessed, Dirty or write that `entry` has to a
        present entry of the same frame and protection (what the entry has more already,
        set by the hardware meanwhile, stays; so do the bits the backend keeps for itself,
        which a lockless hash_page may change: ARCH_MASK)."""
        cur = self.get(addr)
        keep = ~(_RELAX_BITS | ARCH_MASK)
        if not pte_present(cur) or entry & keep != cur & keep:
            raise TxnError(f"relax at {addr:#x} may only add Accessed, Dirty or write")
        add = entry & ~cur & _RELAX_BITS
        self._intent("relax", addr, cur | add, add)

    def age(self, addr: int) -> Result:
        """ptep_test_and_clear_young: the result is whether it was young."""
        cur = self.get(addr)
        return self._intent("age", addr, pte_mkold(cur) if pte_present(cur) else cur)

    def clean(self, addr: int, wrprotect: bool = False, mkold: bool = False) -> Result:
        """Clear Dirty, and write too with wrprotect (page_mkclean), and Accessed too with
        mkold (MADV_FREE's clear_young_dirty_ptes); the result is the old entry."""
        cur = self.get(addr)
        new = _cleaned(cur, wrprotect, mkold) if _needs_clean(cur, wrprotect, mkold) else cur
        return self._intent("clean", addr, new, wrprotect, mkold)

    def move(self, addr: int, new_addr: int) -> Result:
        """Move the entry at addr, whatever it holds, to new_addr (which must be none), in
        the range given by `to`; the result is the entry as it was cleared (A/D exact), and
        that is what lands at new_addr (move_pte: as is, 6.12 mm/mremap.c:212-229)."""
        cur = self.get(addr)
        if not pte_none(self.get(new_addr)):
            raise TxnError(f"move to {new_addr:#x}, which is not none")
        if new_addr == addr:
            raise TxnError("a move to the same address")
        self._ptep(new_addr)
        result = self._intent("move", addr, 0, new_addr, self.mm.pte_offset(new_addr))
        self._view(new_addr, cur)
        return result

    # ---- the generic commit ------------------------------------------------------------
    def _apply(self) -> None:
        """The generic commit.  An entry with several intents takes them in rounds (its
        k-th intent in round k), each round one lazy-MMU section closed by its flush, as
        no accessor may read back an entry written earlier in the same section (Xen may
        still hold the write in its multicall buffer); one intent per entry is one round."""
        if self.defer_flush is None and not self.contract and any(intent[0] in _TAKES for intent in self.intents):
            # G1 as an operation contract (explore/invariants.py): when the transaction
            # returns, no translation of an entry the commit saw under the locks, filled
            # before the write it saw, grants more than that entry.  A caller that owes the
            # flush (defer_flush) promises it at its own return instead; a transaction that
            # only maps, relaxes or ages takes nothing away and promises nothing (as a fault
            # has no contract: another operation's missing flush is not its to answer for).
            self.machine.operation_begin("txn commit")
            self.contract = True
        # G3 to lockless walkers, checked by the explorer while the commit writes
        # (explore/invariants.py, torn-transaction): what each entry may be seen holding
        self.machine.txns.append(self._observable())
        try:
            self._apply_rounds()
        finally:
            self.machine.txns.pop()

    def _observable(self) -> "Observable":
        mm = self.mm
        entries = {mm.pte_offset(addr): (addr, (mm.entry(addr), *states)) for addr, states in self.states.items()}
        moves = [(ptep, args[1]) for op, _, ptep, _, *args in self.intents if op == "move"]
        return Observable(self.machine.this_cpu.id, entries, moves)

    def _apply_rounds(self) -> None:
        arch = self.machine.arch
        rounds: list[list[tuple]] = []
        seen: dict[int, int] = {}
        for intent in self.intents:
            touched = (intent[1], intent[4]) if intent[0] == "move" else (intent[1],)
            k = max(seen.get(a, 0) for a in touched)
            for a in touched:
                seen[a] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(intent)
        for k, round_ in enumerate(rounds):
            if k:
                arch.arch_enter_lazy_mmu_mode()
            self._apply_round(round_)
        self.committed = True
        # the old entries reach the caller now, not at the clear that read them (G2)
        self.machine.handed_back([r._value for op, _, _, r, *_ in self.intents if op in _REWRITES and r.done])
        if not rounds:
            arch.arch_leave_lazy_mmu_mode()

    def _apply_round(self, intents) -> None:
        """One round: the backend's txn levels (arch/generic.py) decide how the writes are
        batched and flushed; the writes themselves are always the backend's accessors."""
        arch, vma, mm = self.machine.arch, self.vma, self.mm
        now = [arch.ptep_get(ptep) for _, _, ptep, *_ in intents]
        # the cleans the backend makes in place (arm64: txn_clean_run), each entry atomically
        self.cleaned_in_place = arch.txn_clean_in_place(
            mm, [(addr, ptep, *args) for op, addr, ptep, _, *args in intents if op == "clean"])
        rewritten = [(addr, ptep) for (op, addr, ptep, _, *args), cur in zip(intents, now)
                     if op not in arch.txn_in_place and _rewrites(op, cur, args)
                     and not (op == "clean" and ptep in self.cleaned_in_place)]
        runs = [(addr, ptep, op) for (op, addr, ptep, *_), cur in zip(intents, now)
                if op == "wrprotect" or op == "unmap" and arch.txn_unmap_run is not None and pte_present(cur)]
        arch.txn_round_begin(mm, arch.txn_round_out_of_use(mm, rewritten, runs))
        # any other clean is made by breaking first: the cleaned entry may be written only
        # once the clear is flushed (flush-before-reuse), so the round's cleans share one flush
        if arch.txn_break_before_make or any(op == "clean" and ptep not in self.cleaned_in_place
                                             for op, _, ptep, *_ in intents):
            span = self._break_then_make(intents)
        else:
            span = self._writes(intents, _APPLY)
        self._round_end(span)

    def _writes(self, intents, apply, defer: bool = True) -> tuple | None:
        """Each intent by the accessors `apply` names; the span of the entries that lost a
        permission (handed to defer_flush instead when the caller owes the flush and
        `defer`: a break is flushed by the commit itself, before its make)."""
        arch, vma, mm = self.machine.arch, self.vma, self.mm
        lo, hi = None, None
        i = 0
        while i < len(intents):
            op, addr, ptep, result, *args = intents[i]
            if op == "map":  # a run of maps of consecutive frames is one set_ptes
                i += _map_run(arch, mm, intents, i)
                continue
            if op == "clean" and ptep in self.cleaned_in_place:  # a run of them, one txn_clean_run
                n, span = _clean_run(arch, vma, intents, i, self.defer_flush if defer else None)
                lo, hi = _widen((lo, hi), span)
                i += n
                continue
            if op == "wrprotect" or op == "unmap" and arch.txn_unmap_run is not None and apply is _APPLY:
                # a run of consecutive entries is one wrprotect_ptes (clear_full_ptes)
                n, span = _run(arch, mm, intents, i, self.defer_flush if defer else None)
                lo, hi = _widen((lo, hi), span)
                i += n
                continue
            i += 1
            old, new = apply[op](arch, vma, mm, addr, ptep, *args)
            result._set(old if op != "age" else pte_young(old))
            lo, hi = _owe((lo, hi), self.defer_flush if defer else None, addr, ptep, old, new)
        return None if lo is None else (lo, hi)

    def _break_then_make(self, intents) -> tuple | None:
        """Break before make, once for the round: every entry the round rewrites is cleared
        (atomically: its old value exact), the lazy section ends so the backend issues what
        the clears batched, with the round's flush, and only then are the new entries
        written, in a new section.  No entry is made valid again while an invalidation of
        its old translation is still queued (flush-before-reuse)."""
        arch, vma, mm = self.machine.arch, self.vma, self.mm
        span = self._writes(intents, _BREAK, defer=False)
        makes = [(addr, ptep, _made(op, result._value, args)) for op, addr, ptep, result, *args in intents
                 if op == "protect" and pte_present(result._value)
                 or op == "clean" and ptep not in self.cleaned_in_place and _needs_clean(result._value, *args)]
        if not makes:
            return span
        self._round_end(span)
        arch.arch_enter_lazy_mmu_mode()
        arch.txn_round_begin(mm, [])  # the make's section: nothing valid to take out of use
        for addr, ptep, new in makes:
            arch.set_pte_at(mm, addr, ptep, new)
        return None

    def _round_end(self, span) -> None:
        arch = self.machine.arch
        if span is not None and arch.txn_flush_in_lazy:
            arch.flush_tlb_range(self.vma, *span)
        arch.arch_leave_lazy_mmu_mode()  # the backend issues what it batched
        if span is not None and not arch.txn_flush_in_lazy:
            arch.flush_tlb_range(self.vma, *span)
        if span is not None:
            lo, hi = span
            self.flushed = span if self.flushed is None else \
                (min(lo, self.flushed[0]), max(hi, self.flushed[1]))


class Observable:
    """What a lockless walker (the MMU, hash_page, GUP-fast) may see of a committing
    transaction, entry by entry: its entry before the commit or as one of its intents leaves
    it, or something that grants less than one of those (none, PROT_NONE, an invalid mark:
    a break or ptep_modify_prot_start); never more.  A batch is not all-or-nothing to them in
    Linux: change_pte_range writes its entries one by one under the PTE lock (6.12
    mm/mprotect.c:86-294) and nothing stops the hardware walking between two; GUP-fast
    checks each entry alone (gup_fast_pte_range, mm/gup.c:2935-3024: ptep_get_lockless at
    :2947, the entry read again after taking the folio at :2984).  Across entries one thing
    is promised: a moved entry is cleared at its source before it is set at its destination
    (move_ptes, 6.12 mm/mremap.c:195 then :221), so no walker finds the frame at both."""

    __slots__ = ("cpu", "entries", "moves")

    def __init__(self, cpu: int, entries: dict, moves: list):
        self.cpu = cpu
        self.entries = entries  # ptep -> (addr, the entries it may be seen as)
        self.moves = moves  # (source ptep, destination ptep) of each move


def _protected(old: int, newprot: int, dirty_writable: bool) -> int:
    new = pte_modify(old, newprot)
    if dirty_writable and pte_dirty(new):
        new = pte_mkwrite(new)
    return new


def _run_length(intents, i: int, fits) -> int:
    """How many intents from intents[i] on are one run: the same operation on consecutive
    entries of one PTE table, each also `fits(k, intent)` (the k-th of the run)."""
    op, addr, ptep = intents[i][:3]
    n = 1
    while i + n < len(intents):
        o, a, p = intents[i + n][:3]
        if o != op or a != addr + (n << PAGE_SHIFT) or p != ptep + n \
                or (p >> PTE_TABLE_SHIFT) != (ptep >> PTE_TABLE_SHIFT) or not fits(n, intents[i + n]):
            break
        n += 1
    return n


def _map_run(arch, mm, intents, i: int) -> int:
    """set_ptes over the run of map intents starting at intents[i], consecutive entries of
    one PTE table mapping consecutive frames (arm64 folds an aligned block into a
    contiguous one there, arch/arm64/mm/contpte.c); the number of intents it took."""
    _, addr, ptep, _, pte = intents[i]
    n = _run_length(intents, i, lambda k, intent: intent[4] == pte + (k << PFN_SHIFT))
    olds = [arch.ptep_get(ptep + k) for k in range(n)]
    arch.set_ptes(mm, addr, ptep, pte, n)
    for k in range(n):
        intents[i + k][3]._set(olds[k])
    return n


def _run(arch, mm, intents, i: int, defer_flush) -> tuple:
    """The run of wrprotect (or unmap) intents starting at intents[i], consecutive entries
    of one PTE table, by one batch accessor: wrprotect_ptes (include/linux/pgtable.h:835-864;
    fork's copy_present_ptes reads the batch, then calls it, mm/memory.c:958, 6.12; arm64
    write-protects whole contiguous blocks in place there, contpte.c:348-363), or the
    backend's txn_unmap_run (arm64: clear_full_ptes, each old entry; a none or non-present
    entry ends the run and is unmapped alone).  (intents taken, (lo, hi) of the entries
    that lost a permission and whose flush the commit owes, or (None, None))."""
    op, addr, ptep, _ = intents[i][:4]
    n = _run_length(intents, i, lambda k, intent: True)
    olds = [arch.ptep_get(ptep + k) for k in range(n)]
    if op == "unmap":
        n = next((k for k, old in enumerate(olds) if not pte_present(old)), n) or 1
        if not pte_present(olds[0]):
            old, new = _unmap(arch, None, mm, addr, ptep)
            intents[i][3]._set(old)
            return 1, (None, None)
        olds = arch.txn_unmap_run(mm, addr, ptep, n)
        news = [0] * n
    else:
        arch.wrprotect_ptes(mm, addr, ptep, n)
        news = [pte_wrprotect(old) for old in olds]
    span = (None, None)
    for k in range(n):
        intents[i + k][3]._set(olds[k])
        span = _owe(span, defer_flush, addr + (k << PAGE_SHIFT), ptep + k, olds[k], news[k])
    return n, span


def _clean_run(arch, vma, intents, i: int, defer_flush) -> tuple:
    """The run of clean intents the backend makes in place starting at intents[i]
    (consecutive entries of one PTE table, the same flags): one txn_clean_run, each old
    entry exact.  Each entry it found young or dirty owes the flush, as 6.12's
    madvise_free_pte_range hands each to tlb_remove_tlb_entries (mm/madvise.c:775-778): a
    TLB may still hold a writable, dirty translation of it (or, of a contiguous block's
    entry, one made from a sibling: the old entries carry the block's Accessed and Dirty,
    so a block cleaned whole is flushed whole).  (intents taken, (lo, hi) the commit owes)."""
    op, addr, ptep, _, wrprotect, mkold = intents[i]
    n = _run_length(intents, i, lambda k, intent: tuple(intent[4:]) == (wrprotect, mkold))
    olds = arch.txn_clean_run(vma, addr, ptep, n, mkold)
    span = (None, None)
    for k in range(n):
        intents[i + k][3]._set(olds[k])
        if _needs_clean(olds[k], wrprotect, mkold):
            span = _owed(span, defer_flush, addr + (k << PAGE_SHIFT), ptep + k)
    return n, span


def _owe(span: tuple, defer_flush, addr: int, ptep: int, old: int, new: int) -> tuple:
    """An entry that lost a permission owes a flush: handed to `defer_flush` when the caller
    owes it, else added to the span (lo, hi) the commit flushes; the span as it now is."""
    if not weakens(old, new):
        return span
    return _owed(span, defer_flush, addr, ptep)


def _owed(span: tuple, defer_flush, addr: int, ptep: int) -> tuple:
    """The entry's flush, owed: to `defer_flush`, or added to the span."""
    if defer_flush is not None:
        defer_flush(addr, ptep)
        return span
    return _widen(span, (addr, addr + PAGE_SIZE))


def _widen(span: tuple, more: tuple) -> tuple:
    """The span (lo, hi) grown to cover `more` ((None, None): empty)."""
    if more[0] is None:
        return span
    if span[0] is None:
        return more
    return min(span[0], more[0]), max(span[1], more[1])


def _unmap(arch, vma, mm, addr, ptep):
    old = arch.ptep_get(ptep)
    if pte_present(old):
        return arch.ptep_get_and_clear(mm, addr, ptep), 0
    if not pte_none(old):
        arch.pte_clear_not_present_full(mm, addr, ptep, 0)
    return old, 0


def _move(arch, vma, mm, addr, ptep, new_addr, new_ptep):
    """move_ptes' step (6.12 mm/mremap.c:204-230): the entry cleared atomically, then set
    as it was at the new address (a not-valid entry there)."""
    old = arch.ptep_get(ptep)
    if pte_none(old):
        return old, old
    old = arch.ptep_get_and_clear(mm, addr, ptep)
    arch.set_pte_at(mm, new_addr, new_ptep, old)
    return old, 0


def _protect(arch, vma, mm, addr, ptep, newprot, dirty_writable):
    old = arch.ptep_modify_prot_start(vma, addr, ptep)
    new = _protected(old, newprot, dirty_writable)
    arch.ptep_modify_prot_commit(vma, addr, ptep, old, new)
    return old, new


def _relax(arch, vma, mm, addr, ptep, add):
    old = arch.ptep_get(ptep)
    # dirty=1 whenever something is added: x86 stores only then (arch/x86/mm/pgtable.c:502-512,
    # 6.12), leaving Accessed alone to the hardware, and the intent promises the entry it names;
    # called even when nothing is added, as the fault handler calls it (a backend may mend more)
    arch.ptep_set_access_flags(vma, addr, ptep, old | add, int(bool(add)))
    return old, old | add


def _age(arch, vma, mm, addr, ptep):
    old = arch.ptep_get(ptep)
    if not pte_present(old):
        return old, old
    young = arch.ptep_test_and_clear_young(vma, addr, ptep)
    return (old | _PAGE_ACCESSED if young else old & ~_PAGE_ACCESSED), pte_mkold(old)


def _rewrites(op: str, cur: int, args) -> bool:
    """Does the intent replace a present entry with a value of its own (clear, rewrite,
    move, clean; age of a young entry, relax: what txn_round_begin is told)?  Not
    wrprotect, which keeps the rest of the entry as the hardware left it."""
    if not pte_present(cur):
        return False
    if op == "clean":
        return _needs_clean(cur, *args)
    if op == "age":
        return bool(pte_young(cur))
    if op == "relax":  # only if it adds something: a relax of nothing changes no entry (s390)
        return bool(args[0] & ~cur)
    return op in _REWRITES


def _needs_clean(pte: int, wrprotect: bool, mkold: bool) -> bool:
    """Has a clean anything to take from this entry?"""
    return bool(pte_present(pte) and (pte_dirty(pte) or wrprotect and pte_write(pte) or mkold and pte_young(pte)))


def _cleaned(pte: int, wrprotect: bool, mkold: bool) -> int:
    pte = pte_mkclean(pte)
    pte = pte_wrprotect(pte) if wrprotect else pte
    return pte_mkold(pte) if mkold else pte


def _break(arch, vma, mm, addr, ptep, *args):
    """The break of break-before-make for protect: the entry cleared, its old value exact."""
    return _unmap(arch, vma, mm, addr, ptep)


def _break_clean(arch, vma, mm, addr, ptep, wrprotect, mkold):
    """The break for clean: an entry with something to clean is cleared, its old value
    exact (not clear_young_dirty_ptes, whose generic form, include/linux/pgtable.h:489-511,
    6.12, writes the cleaned entry over its own unflushed clear in a lazy section: the
    MADV_FREE finding); the make writes the cleaned entry once the round's flush is issued."""
    old = arch.ptep_get(ptep)
    if not _needs_clean(old, wrprotect, mkold):
        return old, old
    return _unmap(arch, vma, mm, addr, ptep)


def _made(op: str, old: int, args) -> int:
    """The make of break-before-make: the entry protect or clean writes after the break."""
    return _protected(old, *args) if op == "protect" else _cleaned(old, *args)


_APPLY = {"unmap": _unmap, "protect": _protect,
          "relax": _relax, "age": _age, "move": _move}
_REWRITES = ("unmap", "protect", "clean", "move")
_TAKES = ("unmap", "protect", "wrprotect", "clean", "move")  # the intents that may take a permission away  # the intents that clear or rewrite an entry whole
_BREAK = {**_APPLY, "protect": _break, "clean": _break_clean}
