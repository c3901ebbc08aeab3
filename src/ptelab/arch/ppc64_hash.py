"""powerpc64 with the hashed page table (HPT): Linux 6.12 and 2.6.27, and proposed fixes.

The model's 4K pages are the CONFIG_PPC_4K_PAGES build (book3s/64/hash-4k.h), where
the hash slot of a hashed entry is kept in the PTE itself (H_PAGE_F_SECOND,
H_PAGE_F_GIX) and hash_page is __hash_page_4K; the 64K build keeps it in the second
half of the PTE page, which changes nothing below.  6.12 citations are Debian's
linux-source-6.12 (6.12.117), paths under arch/powerpc/ unless said.

The MMU never reads the Linux page tables.  It searches the hash table
(machine/hash_table.py); on a miss, or a store to a read-only HPTE, it traps to
hash_page_mm (mm/book3s64/hash_utils.c:1457), which runs *without* the PTE lock,
like a non-atomic hardware walker.  __hash_page_4K (mm/book3s64/hash_4k.c:21-129):

- sets H_PAGE_BUSY and _PAGE_ACCESSED (and _PAGE_DIRTY for a store) with a cmpxchg
  loop, backing off if BUSY was already set (:35-53); an entry that lacks
  _PAGE_PRESENT or the access takes a Linux page fault (check_pte_access, :43;
  hash_utils.c:1562-1568);
- if the PTE says H_PAGE_HASHPTE, it updates the recorded slot in place
  (hpte_updatepp, :67-77); if that slot no longer holds the page, or the PTE is not
  hashed, it inserts a new HPTE (:79-126: primary group, secondary, then evicts)
  and records "hashed" and the slot in the PTE.  hpte_insert (native_hpte_insert,
  mm/book3s64/hash_native.c:265) takes the first free slot of the group: it does not
  look for an HPTE of the same page;
- a page that is not both writable and dirty is hashed read-only
  (htab_convert_pte_flags, hash_utils.c:323), so the first store faults again and
  sets _PAGE_DIRTY: Dirty is tracked in the Linux PTE by software.

Every PTE change goes through pte_update (hash__pte_update, include/asm/book3s/64/
hash.h:186-220), an atomic RMW that, when the old entry was hashed, calls
hpte_need_flush (mm/book3s64/hash_tlb.c:40-134): outside lazy-MMU mode the hash entry
is invalidated at once; inside, it is queued in the per-CPU ppc64_tlb_batch (:103-133;
192 entries, one mm) and invalidated by __flush_tlb_pending (:144-156) when the batch
fills, on arch_leave_lazy_mmu_mode (include/asm/book3s/64/tlbflush-hash.h:44-56), or by
the mmu_gather's hash__tlb_flush (hash_tlb.c:158-171).  flush_tlb_page, flush_tlb_range
and flush_tlb_mm do nothing on hash (include/asm/book3s/64/tlbflush.h:71-127).

Variants (one class each):
- "ppc64-6.12": set_pte_at/set_ptes (mm/pgtable.c:192-225) strip _PAGE_HPTEFLAGS
  (set_pte_filter_hash, :82-95) and store (hash__set_pte_at, hash.h:264-272), clearing
  nothing; ptep_modify_prot_start only clears _PAGE_PRESENT and sets _PAGE_INVALID
  (mm/book3s64/pgtable.c:534-546), the commit is set_pte_at (:550-557); powerpc does
  not override clear_young_dirty_ptes (include/linux/pgtable.h:489-511).  Both leave
  a window, between the set and the end of the lazy section, in which the old HPTE is
  valid and the PTE says "not hashed": a store that faults on the old read-only HPTE
  inserts a second one (docs/findings/ppc64-hash-duplicate-hpte.md).
- "ppc64-2.6.27": set_pte_at clears a present entry with pte_update first; mprotect's
  ptep_modify_prot_start is the generic ptep_get_and_clear: the seed thread's bug.
- proposals: "ppc64-2.6.27+fix" (the seed thread's: start issues the pending
  invalidation), "ppc64-6.12+fix" and "ppc64-6.12+flush" (the finding's two fixes).
"""

from __future__ import annotations

from ..machine.counters import (
    ATOMIC_RMW,
    HASH_BATCH_FLUSH,
    HASH_EVICT,
    HASH_FAULT,
    HASH_INSERT,
    HASH_INVALIDATE,
    PAGE_FAULT,
    TLBIE,
)
from ..machine.hash_table import (
    HPTE_R_C,
    HPTE_R_N,
    HPTE_R_PP,
    HPTE_V_SECONDARY,
    HPTES_PER_GROUP,
    PP_RO,
    PP_RW,
    hpt_vpn,
)
from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..machine.spinlock import LockError
from ..machine.violation import DUPLICATE_HASH_ENTRY
from ..pte import (
    ARCH_BITS_SHIFT,
    PAGE_SHIFT,
    PFN_SHIFT,
    PMD_SHIFT,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_EXEC,
    _PAGE_PRESENT,
    _PAGE_PROTNONE,
    _PAGE_RW,
    _PAGE_USER,
    pte_present,
    pte_str,
)
from .generic import CYDP_CLEAR_DIRTY, CYDP_CLEAR_YOUNG, GenericArch
from .hash_mmu import HASH_OK, HASH_PAGE_FAULT, HashMmu

# Architecture bits of the Linux PTE (pte-hash64-4k.h keeps them in the low word too).
_PAGE_BUSY = 1 << ARCH_BITS_SHIFT
_PAGE_HASHPTE = 1 << (ARCH_BITS_SHIFT + 1)
_PAGE_F_SECOND = 1 << (ARCH_BITS_SHIFT + 2)
_PAGE_F_GIX_SHIFT = ARCH_BITS_SHIFT + 3
_PAGE_F_GIX = 0x7 << _PAGE_F_GIX_SHIFT
_PAGE_HPTEFLAGS = _PAGE_BUSY | _PAGE_HASHPTE | _PAGE_F_SECOND | _PAGE_F_GIX
# 6.12's _PAGE_INVALID (_RPAGE_SW0, include/asm/book3s/64/pgtable.h:52): set with
# _PAGE_PRESENT cleared between ptep_modify_prot_start and commit.  The model also sets
# its _PAGE_PROTNONE, its "present to software, not to hardware" bit, since pte_present
# counts _PAGE_INVALID (pgtable.h:498-511); this bit tells the entry from a PROT_NONE one.
_PAGE_INVALID = 1 << (ARCH_BITS_SHIFT + 6)

PPC64_TLB_BATCH_NR = 192


def htab_convert_pte_flags(pte: int) -> int:
    """Linux PTE -> HPTE R flags: user read/write only when writable *and* dirty."""
    rflags = HPTE_R_C
    if not pte & _PAGE_EXEC:
        rflags |= HPTE_R_N
    rflags |= PP_RW if pte & _PAGE_RW and pte & _PAGE_DIRTY else PP_RO
    return rflags


def pte_hash_slot(pte: int) -> tuple[bool, int]:
    """(secondary, index in group) recorded in a hashed PTE."""
    return bool(pte & _PAGE_F_SECOND), (pte & _PAGE_F_GIX) >> _PAGE_F_GIX_SHIFT


def hash_groups_for(pages: int) -> int:
    """Size the hash table as the kernel does: about one HPTE per two pages of RAM
    (htab_get_table_size), in groups of 8, a power of two, at least 256 groups."""
    groups = 256
    while groups * 16 < pages:
        groups *= 2
    return groups


class TlbBatch:
    """struct ppc64_tlb_batch: pending hash invalidations of one mm, per CPU."""

    __slots__ = ("active", "mm", "entries")

    def __init__(self):
        self.active = False
        self.mm = None
        self.entries: list[tuple[int, int]] = []  # (addr, old pte)


class Ppc64Hash(HashMmu):
    name = "ppc64-6.12"
    description = "powerpc64 hash MMU (4K pages) as in Linux 6.12: MADV_FREE and mprotect can create a duplicate HPTE"
    kernel = "6.12"
    differs = ""
    # pte_update's "ldarx; and. H_PAGE_BUSY; bne- 1b" spins while hash_page holds the entry
    # (include/asm/book3s/64/hash.h:165-184); the explorer makes it wait (explore/points.py)
    BUSY = _PAGE_BUSY
    HASHPTE = _PAGE_HASHPTE

    def __init__(self, machine, hash_groups: int = 1 << 12):
        super().__init__(machine)
        self._init_hash(machine, hash_groups, hpt_vpn)
        for cpu in machine.cpus:
            cpu.arch_state = TlbBatch()

    @classmethod
    def attach(cls, machine, pages: int, hash_groups: int | None = None) -> "Ppc64Hash":
        return cls(machine, hash_groups=hash_groups or hash_groups_for(pages))

    # ---- the MMU: hash search, then hash_page ----------------------------------------
    def hash_page(self, mm, va: int, vpn: int, write: bool, nohpte: bool) -> int:
        """hash_page_mm and __hash_page_4K (mm/book3s64/hash_utils.c:1457, hash_4k.c:21-129):
        0 to retry the access, 1 to take a Linux page fault.  An entry between 6.12's
        ptep_modify_prot_start and commit (_PAGE_PRESENT clear, _PAGE_INVALID set) fails
        the access check: the Linux fault handler then waits for the PTE lock."""
        self.counters[HASH_FAULT] += 1
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        if table_pfn is None:
            return HASH_PAGE_FAULT
        table = self.tables[table_pfn]
        i = (va >> PAGE_SHIFT) & PTE_INDEX_MASK
        # __hash_page_4K retries while another CPU holds BUSY (hash_4k.c:40-41): the step waits for it
        loc = ("pte", (table_pfn << PTE_TABLE_SHIFT) | i)
        self._sched(loc, True, "hash_page: ldarx/stdcx. sets BUSY", busy_wait=True)
        old = table[i]
        access = _PAGE_PRESENT | _PAGE_USER | (_PAGE_RW if write else 0)  # hash_utils.c:1562
        if old & (_PAGE_BUSY | _PAGE_INVALID) or access & ~old:
            self._only_read(loc)  # READ_ONCE, no pte_xchg (hash_4k.c:36-43, 6.12)
        if old & _PAGE_BUSY:
            return HASH_OK  # another CPU is hashing it: retry
        if old & _PAGE_INVALID:
            return self._fault_on_invalid(table_pfn, i)
        if access & ~old:  # check_pte_access (hash_4k.c:43)
            return HASH_PAGE_FAULT
        new = old | _PAGE_BUSY | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
        if not (new ^ old) & ~_PAGE_HPTEFLAGS:  # Accessed (and Dirty) already set: BUSY only
            self._hash_bits_only(loc)
        table[i] = new  # ldarx/stdcx.
        self.counters[ATOMIC_RMW] += 1
        rflags = htab_convert_pte_flags(new)
        seq = self.mem.pte_seq.get((table_pfn << PTE_TABLE_SHIFT) | i, 0)  # the write hash_page read
        self._sched(("hash", vpn), True, "hash_page: update or insert the HPTE")
        if old & _PAGE_HASHPTE:  # hpte_updatepp on the recorded slot (hash_4k.c:67-77)
            secondary, gix = pte_hash_slot(old)
            slot = self.hpt.group(vpn, secondary) + gix
            before = self.hpt.r[slot], self.hpte_seq[slot]
            if self.hpt.update_pp(slot, vpn, rflags):
                self.hpte_seq[slot] = seq
                if (self.hpt.r[slot], seq) == before:  # the same protection, from the same write
                    self._only_read(("hash", vpn))
            else:
                old &= ~_PAGE_HPTEFLAGS
            if self.updatepp_flushes(nohpte):
                self._tlbie(mm, va)
        if not old & _PAGE_HASHPTE:  # hpte_insert, no lookup (hash_4k.c:79-126)
            slot = self._insert(mm, va, vpn, new >> PFN_SHIFT, rflags)
            self.hpte_seq[slot] = seq
            secondary = bool(self.hpt.v[slot] & HPTE_V_SECONDARY)
            new = (new & ~_PAGE_HPTEFLAGS) | _PAGE_HASHPTE
            new |= (_PAGE_F_SECOND if secondary else 0) | ((slot % HPTES_PER_GROUP) << _PAGE_F_GIX_SHIFT)
        self._sched(loc, True, "hash_page: store, clearing BUSY")
        if not (table[i] ^ new) & ~_PAGE_HPTEFLAGS:  # unless a plain store changed the entry meanwhile
            self._hash_bits_only(loc)
        table[i] = new & ~_PAGE_BUSY
        return HASH_OK

    def _fault_on_invalid(self, table_pfn: int, i: int) -> int:
        """An access to an entry between 6.12's ptep_modify_prot_start and commit fails
        check_pte_access (hash_utils.c:1568), and the Linux fault handler takes the PTE
        lock (handle_pte_fault, mm/memory.c:5756-5832: spin_lock :5798): it waits for the CPU that holds it
        between start and commit, finds the entry changed, and the access is retried.  If
        start and commit were split across two holds of the lock (prot-pairing broken),
        the entry may still be invalid: the access faults again and again until the commit,
        modelled as a wait for it."""
        self.counters[PAGE_FAULT] += 1
        ptl = self.mem.ptl[table_pfn]
        cpu_id = self.machine.this_cpu.id
        try:
            ptl.lock(cpu_id)  # explored: waits while held; sequentially: raises if held
        except LockError:
            return HASH_PAGE_FAULT  # run sequentially, nothing can release it: a fault
        ptl.unlock(cpu_id)
        self._sched(("pte", (table_pfn << PTE_TABLE_SHIFT) | i), False, "fault: retried until the commit",
                    busy_wait=_PAGE_INVALID)
        return HASH_OK

    def _insert(self, mm, va: int, vpn: int, pfn: int, rflags: int) -> int:
        self._note(f"HPTE insert: va {va:#x} -> pfn {pfn} {'rw' if rflags & HPTE_R_PP == PP_RW else 'ro'}")
        existing = self.hpt.valid_slots(vpn)
        if existing:
            self.machine.violation(
                DUPLICATE_HASH_ENTRY,
                f"hash_page inserts a second HPTE while slot {existing[0]} still maps the page",
                va=va, pfn=pfn, cpu=self.machine.this_cpu.id)
        hpt = self.hpt
        owner = (mm.context, va)
        slot = hpt.insert(vpn, pfn, rflags, False, owner)
        if slot < 0:
            slot = hpt.insert(vpn, pfn, rflags, True, owner)
        if slot < 0:
            hpt.evict(vpn)
            self.counters[HASH_EVICT] += 1
            slot = hpt.insert(vpn, pfn, rflags, False, owner)
        self.hpte_gen[slot] = self.mem.gen[pfn]
        self.counters[HASH_INSERT] += 1
        return slot

    # ---- invalidation ------------------------------------------------------------------
    @staticmethod
    def updatepp_flushes(nohpte: bool) -> bool:
        """Whether hash_page's hpte_updatepp ends with a tlbie, hit or miss: unless the fault
        found no HPTE (6.12 native_hpte_updatepp, mm/book3s64/hash_native.c:419-425: "Ensure it
        is out of the tlb too if it is not a nohpte fault"; hash_page and do_hash_fault set
        HPTE_NOHPTE_UPDATE for DSISR_NOHPTE, hash_utils.c:1684-1685 and 1712-1713, and
        __hash_page_4K passes the flags on, hash_4k.c:67-77; lines of Debian's 6.12.117 tree).
        A protection fault's update, read-only to writable, so drops every CPU's read-only
        translation of the page."""
        return not nohpte

    def flush_hash_page(self, mm, addr: int, pte: int) -> None:
        """Invalidate the HPTE a PTE recorded, then tlbie (broadcast) the page."""
        vpn = hpt_vpn(mm.context, addr)
        secondary, gix = pte_hash_slot(pte)
        self._sched(("hash", vpn), True, "invalidate the HPTE")
        slot = self.hpt.group(vpn, secondary) + gix
        if self.hpt.invalidate(slot, vpn):
            self.counters[HASH_INVALIDATE] += 1
            self._note(f"HPTE slot {slot} invalidated")
        self._tlbie(mm, addr)

    def _tlbie(self, mm, addr: int) -> None:
        self.counters[TLBIE] += 1
        # tlbie is one broadcast instruction, and the tlbsync; ptesync that follow it in
        # __flush_hash_table_range/native_hpte_invalidate wait until every CPU has done it
        # (Power ISA Book III-S, TLB management)
        self._sched(self._all_tlbs[0], True, "tlbie; tlbsync", also=self._all_tlbs)
        self._flush_everywhere(mm, addr)

    def hpte_need_flush(self, mm, addr: int, pte: int) -> None:
        batch = self.machine.this_cpu.arch_state
        if not batch.active:
            self.flush_hash_page(mm, addr, pte)
            return
        if batch.entries and batch.mm is not mm:
            self.flush_tlb_pending()
        batch.mm = mm
        batch.entries.append((addr, pte))
        self._note(f"HPTE invalidation of va {addr:#x} queued (lazy MMU batch)")
        if len(batch.entries) >= PPC64_TLB_BATCH_NR:
            self.flush_tlb_pending()

    def flush_tlb_pending(self) -> None:
        """__flush_tlb_pending: issue every queued invalidation of this CPU."""
        batch = self.machine.this_cpu.arch_state
        if not batch.entries:
            return
        self.counters[HASH_BATCH_FLUSH] += 1
        for addr, pte in batch.entries:
            self.flush_hash_page(batch.mm, addr, pte)
        batch.entries.clear()

    def describe_pte(self, pte: int, mm=None, va: int | None = None) -> str:
        """The hash bits by name (H_PAGE_BUSY, H_PAGE_HASHPTE, H_PAGE_F_SECOND/H_PAGE_F_GIX:
        arch/powerpc/include/asm/book3s/64/hash-4k.h:42-49, 6.12), with the HPTE slot the
        entry records when the page is known."""
        text = pte_str(pte & ~(_PAGE_HPTEFLAGS | _PAGE_INVALID))
        if pte & _PAGE_INVALID:
            text += " INVALID"
        if pte & _PAGE_BUSY:
            text += " BUSY"
        if pte & _PAGE_HASHPTE:
            secondary, gix = pte_hash_slot(pte)
            where = f"{'secondary' if secondary else 'primary'} group, index {gix}"
            if mm is not None and va is not None:
                where = f"slot {self.hpt.group(hpt_vpn(mm.context, va), secondary) + gix}: {where}"
            text += f" HASHPTE ({where})"
        return text

    def pending_invalidation(self, mm, addr: int) -> bool:
        """Is an invalidation of (mm, addr) queued on this CPU's batch?"""
        batch = self.machine.this_cpu.arch_state
        return batch.mm is mm and any(a == addr for a, _ in batch.entries)

    def abstract_caches(self, mm, addr: int) -> str:
        """The page's HPTEs (HashMmu), and which of them a queued invalidation names: the
        batch keeps the old PTE, whose recorded slot __flush_tlb_pending invalidates at leave
        if it still holds the page (flush_hash_page above; hash_tlb.c:103-133, 6.12), so of
        a DUPLICATE ro+rw the one it names goes and the other stays."""
        text = super().abstract_caches(mm, addr)
        batch = self.machine.this_cpu.arch_state
        if batch.mm is not mm:
            return text
        vpn = hpt_vpn(mm.context, addr)
        named = {self.hpt.group(vpn, secondary) + gix
                 for secondary, gix in (pte_hash_slot(pte) for a, pte in batch.entries if a == addr)}
        kinds = sorted({"rw" if self.hpt.entry(s)[1] & HPTE_R_PP == PP_RW else "ro"
                        for s in self.hpt.valid_slots(vpn) if s in named})
        return text + (f", queued invalidation of {'+'.join(kinds)}" if kinds else "")

    # ---- primitives ------------------------------------------------------------------
    def _update(self, mm, addr: int, ptep: int, clr: int, set_: int) -> int:
        """pte_update: atomic RMW, then queue the hash invalidation of a hashed entry."""
        old = super()._update(mm, addr, ptep, clr, set_)
        if old & _PAGE_HASHPTE:
            self.hpte_need_flush(mm, addr, old)
        return old

    # ---- accessors (6.12) -----------------------------------------------------------------
    def set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """mm/pgtable.c:192-225: set_pte_filter_hash strips _PAGE_HPTEFLAGS (:82-95) and
        hash__set_pte_at stores (include/asm/book3s/64/hash.h:264-272).  Nothing is
        cleared or invalidated: the entry must not be hardware-valid (VM_WARN_ON, :215)."""
        for i in range(nr):
            self._set(ptep + i, (pte + (i << PFN_SHIFT)) & ~_PAGE_HPTEFLAGS)

    def pte_clear(self, mm, addr: int, ptep: int) -> None:
        self._update(mm, addr, ptep, ~0, 0)  # include/asm/book3s/64/pgtable.h:440-444

    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        return self._update(mm, addr, ptep, ~0, 0)  # include/asm/book3s/64/pgtable.h:416-422

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        """mm/book3s64/pgtable.c:534-546: pte_update(_PAGE_PRESENT, _PAGE_INVALID).  The
        model's _PAGE_PROTNONE is its "present to software, not to hardware" bit, which
        is what _PAGE_INVALID is (pte_present, include/asm/book3s/64/pgtable.h:498-511).
        The entry stays hashed, with its slot; the old HPTE's invalidation is queued."""
        return self._update(vma.mm, addr, ptep, _PAGE_PRESENT, _PAGE_PROTNONE | _PAGE_INVALID)

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        if self._get(ptep) & _PAGE_RW:  # include/asm/book3s/64/pgtable.h:400-406
            self._update(mm, addr, ptep, _PAGE_RW, 0)

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        """include/asm/book3s/64/pgtable.h:351-366: a hashed entry is updated even when
        old, so that its HPTE is flushed and the next access sets Accessed again."""
        if not self._get(ptep) & (_PAGE_ACCESSED | _PAGE_HASHPTE):
            return 0
        return 1 if self._update(vma.mm, addr, ptep, _PAGE_ACCESSED, 0) & _PAGE_ACCESSED else 0

    def ptep_clear_flush_young(self, vma, addr: int, ptep: int) -> int:
        return self.ptep_test_and_clear_young(vma, addr, ptep)  # pgtable.h:384-385: no flush

    # ptep_clear_flush is the generic one (mm/pgtable-generic.c): its flush_tlb_page does
    # nothing on hash, so the invalidation pte_update queued is issued with the batch.

    def pte_same(self, a: int, b: int) -> bool:
        """hash__pte_same (include/asm/book3s/64/hash.h:246-249, which pte_same calls on hash,
        book3s/64/pgtable.h): equal but for _PAGE_HPTEFLAGS (H_PAGE_BUSY, H_PAGE_HASHPTE and
        the slot).  2.6.27's pte_same (include/asm-powerpc/pgtable-ppc64.h) masks the same
        bits.  A fault's recheck under the lock does not fail because hash_page hashed the
        entry meanwhile."""
        return not (a ^ b) & ~_PAGE_HPTEFLAGS

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        """mm/pgtable.c:243-255: if !pte_same(*ptep, entry), hash__ptep_set_access_flags
        (include/asm/book3s/64/hash.h:225-244) ORs the relaxed bits in with ldarx/stdcx.
        and flushes no hash entry (the HPTE catches up on the next hash fault, which
        updates its slot in place).  Its loop spins while H_PAGE_BUSY is set ("and. BUSY;
        bne- 1b"), as pte_update's does: hash_page's store clearing BUSY, which writes the
        whole entry it computed, never meets a change made in between."""
        changed = not self.pte_same(self.ptep_get_compared(ptep), entry)
        if changed:
            self._sched(("pte", ptep), True, "ldarx/stdcx. ORs the relaxed bits in", busy_wait=True)
            GenericArch._update(self, vma.mm, addr, ptep, 0,
                                entry & (_PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_RW | _PAGE_EXEC))
        return changed

    # txn (ptelab/txn.py): the commit clears every entry it rewrites (pte_update queues each
    # hashed one's invalidation in the lazy batch, hpte_need_flush above), ends the section so
    # the batch is issued (__flush_tlb_pending, tlbie; tlbsync; ptesync) and only then writes
    # the new entries: one batch for the round, issued before any of its slots can be hashed
    # again and before unlock.  Without it a commit inherits the duplicate HPTE of
    # ptep_modify_prot_start/commit (the seed thread on 2.6.27, and 6.12's commit, which strips
    # the slot while the invalidation is queued: tests/test_txn_arch.py) and, on
    # ppc64-2.6.27+fix, a batch per hashed entry (its start flushes each).
    txn_break_before_make = True

    def arch_enter_lazy_mmu_mode(self) -> None:
        """include/asm/book3s/64/tlbflush-hash.h:29-42: the batch becomes active."""
        cpu = self.machine.this_cpu
        cpu.lazy_mmu = True
        cpu.arch_state.active = True

    def arch_leave_lazy_mmu_mode(self) -> None:
        """tlbflush-hash.h:44-56: issue the batch, then deactivate it."""
        cpu = self.machine.this_cpu
        self.flush_tlb_pending()
        cpu.arch_state.active = False
        cpu.lazy_mmu = False

    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        """Hash: nothing to do here (tlbflush.h:71-127); the invalidations went through
        hpte_need_flush."""

    def flush_tlb_fix_spurious_fault(self, vma, addr: int, ptep: int) -> None:
        pass

    def tlb_flush(self, tlb) -> None:
        self.flush_tlb_pending()  # hash__tlb_flush, mm/book3s64/hash_tlb.c:158-171


class Ppc64Hash_6_12_fix(Ppc64Hash):
    """The two changes docs/findings/ppc64-hash-duplicate-hpte.md proposes, neither in a kernel."""

    name = "ppc64-6.12+fix"
    description = "ppc64-6.12 with the duplicate-HPTE fixes: both keep the hash slot in the entry"
    proposal = True
    differs = ("clear_young_dirty_ptes clears Accessed/Dirty with pte_update, keeping the slot (instead of "
               "include/linux/pgtable.h:489-511); ptep_modify_prot_commit keeps H_PAGE_HASHPTE and the slot "
               "of a hashed old entry (instead of mm/book3s64/pgtable.c:550-557)")

    def clear_young_dirty_ptes(self, vma, addr: int, ptep: int, nr: int, flags: int) -> None:
        """A powerpc clear_young_dirty_ptes: one pte_update per entry.  The entry stays
        valid and hashed, so a hash fault before the batch is issued updates the old
        slot in place (hpte_updatepp) instead of inserting a second HPTE."""
        clr = (_PAGE_ACCESSED if flags & CYDP_CLEAR_YOUNG else 0) | (_PAGE_DIRTY if flags & CYDP_CLEAR_DIRTY else 0)
        for i in range(nr):
            self._update(vma.mm, addr + (i << PAGE_SHIFT), ptep + i, clr, 0)

    def ptep_modify_prot_commit(self, vma, addr: int, ptep: int, old_pte: int, pte: int) -> None:
        """Store the new entry with the old entry's H_PAGE_HASHPTE and slot.  Between start
        and commit no hash fault can touch the entry (it is not _PAGE_PRESENT), so a plain
        store loses nothing."""
        self._set(ptep, (pte & ~_PAGE_HPTEFLAGS) | (old_pte & _PAGE_HPTEFLAGS & ~_PAGE_BUSY))


class Ppc64Hash_6_12_flush(Ppc64Hash_6_12_fix):
    name = "ppc64-6.12+flush"
    description = "ppc64-6.12+fix, but the commit issues the pending invalidations instead of keeping the slot"
    differs = ("ptep_modify_prot_commit of a hashed old entry issues this CPU's ppc64_tlb_batch "
               "(__flush_tlb_pending, mm/book3s64/hash_tlb.c:144-156) before set_pte_at")

    def ptep_modify_prot_commit(self, vma, addr: int, ptep: int, old_pte: int, pte: int) -> None:
        if old_pte & _PAGE_HASHPTE:
            self.flush_tlb_pending()
        self.set_pte_at(vma.mm, addr, ptep, pte)


class Ppc64Hash_2_6_27(Ppc64Hash):
    name = "ppc64-2.6.27"
    description = "powerpc64 hash MMU as in 2.6.27: mprotect can create a duplicate HPTE (the seed thread)"
    kernel = "2.6.27"
    differs = ("set_pte_at clears a present entry with pte_update first (include/asm-powerpc/pgtable-ppc64.h, "
               "2.6.27); ptep_modify_prot_start is the generic ptep_get_and_clear (include/asm-generic/pgtable.h); "
               "the *_flush accessors issue the batch at once (the seed thread)")

    def set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """set_pte_at as in include/asm-powerpc/pgtable-ppc64.h after the 2007 lazy-MMU
        batching patch: a present entry is only pte_clear'ed (its invalidation queued when
        in lazy mode); the synchronous flush_tlb_pending() it used to do was removed."""
        for i in range(nr):
            p = ptep + i
            if pte_present(self._get(p)):
                self.pte_clear(mm, addr + (i << PAGE_SHIFT), p)
            self._set(p, (pte + (i << PFN_SHIFT)) & ~_PAGE_HPTEFLAGS)

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        return self._update(vma.mm, addr, ptep, ~0, 0)  # the generic ptep_get_and_clear

    @staticmethod
    def updatepp_flushes(nohpte: bool) -> bool:
        """2.6.27's native_hpte_updatepp always ends with a tlbie ("Even if we miss, we need to
        invalidate the TLB ... Ensure it is out of the tlb too": arch/powerpc/mm/hash_native_64.c,
        2.6.27; HPTE_NOHPTE_UPDATE came later): a fault that found no HPTE too."""
        return True

    # "powerpc batches -everything- (unless it's called *_flush in which case the flush is
    # immediate)" (Benjamin Herrenschmidt, the seed thread): even inside lazy-MMU mode.
    def ptep_clear_flush(self, vma, addr: int, ptep: int) -> int:
        old = self._update(vma.mm, addr, ptep, ~0, 0)
        if old & _PAGE_HASHPTE:
            self.flush_tlb_pending()
        return old

    def ptep_clear_flush_young(self, vma, addr: int, ptep: int) -> int:
        young = self.ptep_test_and_clear_young(vma, addr, ptep)
        if young:
            self.flush_tlb_pending()
        return young


class Ppc64Hash_2_6_27_fix(Ppc64Hash_2_6_27):
    name = "ppc64-2.6.27+fix"
    description = "ppc64-2.6.27 with the seed thread's mprotect fix"
    proposal = True
    differs = ("ptep_modify_prot_start issues the pending hash invalidation of a hashed entry: \"a powerpc "
               "specific variant of the start/commit hooks that does the flush\" (the seed thread)")

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        old = self._update(vma.mm, addr, ptep, ~0, 0)
        if old & _PAGE_HASHPTE:
            self.flush_tlb_pending()
        return old
