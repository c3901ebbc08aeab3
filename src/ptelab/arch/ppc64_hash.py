"""powerpc64 with the hashed page table (HPT), as in 2.6.27 and as fixed after the seed thread.

The MMU never reads the Linux page tables.  It searches the hash table
(machine/hash_table.py); on a miss, or a store to a read-only HPTE, it traps to
hash_page (__hash_page_4K, arch/powerpc/mm/hash_low_64.S), which runs *without*
the PTE lock, like a non-atomic hardware walker:

- it sets _PAGE_BUSY and _PAGE_ACCESSED (and _PAGE_DIRTY for a store) with an
  ldarx/stdcx. loop, backing off if BUSY was already set;
- if the Linux PTE says _PAGE_HASHPTE, it updates the recorded slot in place
  (hpte_updatepp); if that slot no longer holds the page, or the PTE is not
  hashed, it inserts a new HPTE (primary group, then secondary, then evicts) and
  records "hashed" and the slot (_PAGE_F_SECOND, _PAGE_F_GIX) in the PTE;
- a page that is not both writable and dirty is hashed read-only
  (htab_convert_pte_flags, hash_utils_64.c), so the first store faults again and
  sets _PAGE_DIRTY: Dirty is tracked in the Linux PTE by software.

Every PTE change goes through pte_update (pgtable-ppc64.h), an atomic RMW that,
when the old entry was hashed, calls hpte_need_flush (tlb_64.c): outside lazy-MMU
mode the hash entry is invalidated at once; inside, it is queued in the per-CPU
ppc64_tlb_batch (192 entries, one mm) and invalidated by __flush_tlb_pending when
the batch fills, on arch_leave_lazy_mmu_mode, or by tlb_flush; the *_flush accessors
issue it at once, in lazy mode too.  flush_tlb_page,
flush_tlb_range and flush_tlb_mm are no-ops on hash (the batch does the work).

set_pte_at strips _PAGE_HPTEFLAGS from the new value, and if it finds a present
entry it clears it with pte_update (since 2007 without the synchronous flush it
once did, as the seed thread recalls: "that also changed").

Variants:
- "2.6.27": mprotect's ptep_modify_prot_start (generic: ptep_get_and_clear)
  clears a hashed PTE and queues its invalidation; the commit then writes the new
  valid entry while the old HPTE is still in the hash table.  A store that faults
  on the old read-only HPTE meanwhile finds the new PTE unhashed and inserts a
  second HPTE for the same page: the duplicate the seed thread describes.
- fixed: ptep_modify_prot_start issues the pending invalidation before returning
  when it cleared a hashed entry, "a powerpc specific variant of the start/commit
  hooks that does the flush", which is what the thread settles on.
"""

from __future__ import annotations

from ..machine.counters import (
    ATOMIC_RMW,
    HASH_BATCH_FLUSH,
    HASH_EVICT,
    HASH_FAULT,
    HASH_INSERT,
    HASH_INVALIDATE,
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
from ..machine.memory import PTE_INDEX_MASK
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
    _PAGE_RW,
    _PAGE_USER,
    pte_present,
    pte_str,
)
from .generic import GenericArch
from .hash_mmu import HASH_OK, HASH_PAGE_FAULT, HashMmu

# Architecture bits of the Linux PTE (pte-hash64-4k.h keeps them in the low word too).
_PAGE_BUSY = 1 << ARCH_BITS_SHIFT
_PAGE_HASHPTE = 1 << (ARCH_BITS_SHIFT + 1)
_PAGE_F_SECOND = 1 << (ARCH_BITS_SHIFT + 2)
_PAGE_F_GIX_SHIFT = ARCH_BITS_SHIFT + 3
_PAGE_F_GIX = 0x7 << _PAGE_F_GIX_SHIFT
_PAGE_HPTEFLAGS = _PAGE_BUSY | _PAGE_HASHPTE | _PAGE_F_SECOND | _PAGE_F_GIX

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
    name = "ppc64"
    description = "powerpc64 hash MMU, with the mprotect flush fix"
    kernel = "2.6.27"
    proposal = True  # the 2.6.27 code plus a flush no kernel shipped in this form
    differs = "ptep_modify_prot_start issues the pending hash invalidation (the seed thread's proposed fix)"
    fixed_modify_prot = True
    # pte_update's "ldarx; andi. _PAGE_BUSY; bne- 1b" spins while hash_page holds the entry
    # (include/asm-powerpc/pgtable-ppc64.h); the explorer makes it wait (explore/points.py)
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
    def hash_page(self, mm, va: int, vpn: int, write: bool) -> int:
        """__hash_page_4K: 0 to retry the access, 1 to take a Linux page fault."""
        self.counters[HASH_FAULT] += 1
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        if table_pfn is None:
            return HASH_PAGE_FAULT
        table = self.tables[table_pfn]
        i = (va >> PAGE_SHIFT) & PTE_INDEX_MASK
        # __hash_page_4K retries while another CPU holds BUSY: the step waits for it
        self._sched(("pte", (table_pfn << 9) | i), True, "hash_page: ldarx/stdcx. sets BUSY", busy_wait=True)
        old = table[i]
        if old & _PAGE_BUSY:
            return HASH_OK  # another CPU is hashing it: retry
        access = _PAGE_PRESENT | _PAGE_USER | (_PAGE_RW if write else 0)
        if access & ~old:
            return HASH_PAGE_FAULT
        new = old | _PAGE_BUSY | _PAGE_ACCESSED | (_PAGE_DIRTY if write else 0)
        table[i] = new  # ldarx/stdcx.
        self.counters[ATOMIC_RMW] += 1
        rflags = htab_convert_pte_flags(new)
        seq = self.mem.pte_seq.get((table_pfn << 9) | i, 0)  # the write hash_page read
        self._sched(("hash", vpn), True, "hash_page: update or insert the HPTE")
        if old & _PAGE_HASHPTE:
            secondary, gix = pte_hash_slot(old)
            slot = self.hpt.group(vpn, secondary) + gix
            if self.hpt.update_pp(slot, vpn, rflags):
                self.hpte_seq[slot] = seq
            else:
                old &= ~_PAGE_HPTEFLAGS
        if not old & _PAGE_HASHPTE:
            slot = self._insert(mm, va, vpn, new >> PFN_SHIFT, rflags)
            self.hpte_seq[slot] = seq
            secondary = bool(self.hpt.v[slot] & HPTE_V_SECONDARY)
            new = (new & ~_PAGE_HPTEFLAGS) | _PAGE_HASHPTE
            new |= (_PAGE_F_SECOND if secondary else 0) | ((slot % HPTES_PER_GROUP) << _PAGE_F_GIX_SHIFT)
        self._sched(("pte", (table_pfn << 9) | i), True, "hash_page: store, clearing BUSY")
        table[i] = new & ~_PAGE_BUSY
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
    def flush_hash_page(self, mm, addr: int, pte: int) -> None:
        """Invalidate the HPTE a PTE recorded, then tlbie (broadcast) the page."""
        vpn = hpt_vpn(mm.context, addr)
        secondary, gix = pte_hash_slot(pte)
        self._sched(("hash", vpn), True, "invalidate the HPTE")
        slot = self.hpt.group(vpn, secondary) + gix
        if self.hpt.invalidate(slot, vpn):
            self.counters[HASH_INVALIDATE] += 1
            self._note(f"HPTE slot {slot} invalidated")
        self.counters[TLBIE] += 1
        # tlbie is one broadcast instruction, and the tlbsync; ptesync that follow it in
        # __flush_hash_table_range/native_hpte_invalidate wait until every CPU has done it
        # (Power ISA Book III-S, TLB management)
        self._sched(self._all_tlbs[0], True, "tlbie; tlbsync", also=self._all_tlbs)
        for cpu in self.machine.cpus:
            cpu.tlb.flush_page(mm.context, addr)

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
        text = pte_str(pte & ~_PAGE_HPTEFLAGS)
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

    # ---- primitives ------------------------------------------------------------------
    def _update(self, mm, addr: int, ptep: int, clr: int, set_: int) -> int:
        """pte_update: atomic RMW, then queue the hash invalidation of a hashed entry."""
        old = super()._update(mm, addr, ptep, clr, set_)
        if old & _PAGE_HASHPTE:
            self.hpte_need_flush(mm, addr, old)
        return old

    # ---- accessors ---------------------------------------------------------------------
    def set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """set_pte_at as in include/asm-powerpc/pgtable-ppc64.h after the 2007 lazy-MMU
        batching patch: a present entry is only pte_clear'ed (its invalidation queued when
        in lazy mode); the synchronous flush_tlb_pending() it used to do was removed."""
        for i in range(nr):
            p = ptep + i
            if pte_present(self._get(p)):
                self.pte_clear(mm, addr + (i << PAGE_SHIFT), p)
            self._set(p, (pte + (i << PFN_SHIFT)) & ~_PAGE_HPTEFLAGS)

    def pte_clear(self, mm, addr: int, ptep: int) -> None:
        self._update(mm, addr, ptep, ~0, 0)

    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        return self._update(mm, addr, ptep, ~0, 0)

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        old = self._update(vma.mm, addr, ptep, ~0, 0)
        if self.fixed_modify_prot and old & _PAGE_HASHPTE:
            self.flush_tlb_pending()
        return old

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        if self._get(ptep) & _PAGE_RW:
            self._update(mm, addr, ptep, _PAGE_RW, 0)

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        if not self._get(ptep) & _PAGE_ACCESSED:
            return 0
        return 1 if self._update(vma.mm, addr, ptep, _PAGE_ACCESSED, 0) & _PAGE_ACCESSED else 0

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

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        """arch/powerpc/mm/pgtable.c: if !pte_same(*ptep, entry), __ptep_set_access_flags
        ORs the relaxed bits in with ldarx/stdcx. and flushes no hash entry (the HPTE
        catches up on the next hash fault, which updates its slot in place)."""
        changed = self._get(ptep) != entry
        if changed:
            self._sched(("pte", ptep), True, "ldarx/stdcx. ORs the relaxed bits in")
            GenericArch._update(self, vma.mm, addr, ptep, 0,
                                entry & (_PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_RW | _PAGE_EXEC))
        return changed

    # txn (ptelab/txn.py): the commit clears every entry it rewrites (pte_update queues each
    # hashed one's invalidation in the lazy batch, hpte_need_flush above), ends the section so
    # the batch is issued (__flush_tlb_pending, tlbie; tlbsync; ptesync) and only then writes
    # the new entries: one batch for the round, issued before any of its slots can be hashed
    # again and before unlock.  Without it a commit inherits the seed thread's duplicate HPTE
    # on 2.6.27 (its protect is modify_prot start/commit, tests/test_txn_arch.py) and, on
    # 6.12, a batch per hashed entry (the fixed ptep_modify_prot_start flushes each).
    txn_break_before_make = True

    def arch_enter_lazy_mmu_mode(self) -> None:
        cpu = self.machine.this_cpu
        cpu.lazy_mmu = True
        cpu.arch_state.active = True

    def arch_leave_lazy_mmu_mode(self) -> None:
        cpu = self.machine.this_cpu
        self.flush_tlb_pending()
        cpu.arch_state.active = False
        cpu.lazy_mmu = False

    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        """Hash: nothing to do here; the invalidations went through hpte_need_flush."""

    def flush_tlb_fix_spurious_fault(self, vma, addr: int, ptep: int) -> None:
        pass

    def tlb_flush(self, tlb) -> None:
        self.flush_tlb_pending()


class Ppc64Hash_2_6_27(Ppc64Hash):
    name = "ppc64-2.6.27"
    description = "powerpc64 hash MMU as in 2.6.27: mprotect can create a duplicate HPTE"
    kernel = "2.6.27"
    differs = "ptep_modify_prot_start is the generic get_and_clear (include/asm-generic/pgtable.h, 2.6.27)"
    fixed_modify_prot = False
