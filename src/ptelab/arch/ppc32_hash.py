"""powerpc 32-bit with the hashed page table (book3s32: 604, 7xx, 74xx), Linux 6.12.

Citations are arch/powerpc/ of linux-source-6.12 unless said: the PTE helpers in
include/asm/book3s/32/pgtable.h ("pgtable.h"), hash_page, create_hpte and
flush_hash_pages in mm/book3s32/hash_low.S, the flushes in mm/book3s32/tlb.c.  The
model is the SMP build with 32-bit PTEs (no CONFIG_PTE_64BIT).

The hash table is machine/hash_table.py's: groups (PTEGs) of 8 HPTEs, primary hash
"VSID xor page index" and the secondary its complement (hash_low.S:344-346, 366-369),
the same form as ppc64's with 256M segments; what differs is the VSID, made from the
context and the segment by CTX_TO_VSID (include/asm/book3s/32/mmu-hash.h:152), hence
`ppc32_vpn`.  Unlike ppc64 the PTE records no slot: only _PAGE_HASHPTE (pgtable.h:22),
"hash_page has made an HPTE for this pte", and whoever needs the HPTE searches both
groups for it.

- the hash bit is never cleared by the accessors: pte_update (pgtable.h:259-294) is a
  plain lwarx/stwcx. that flushes nothing, and pte_clear, ptep_get_and_clear
  (pgtable.h:216-217, 314-319) and set_pte_at (__set_pte_at, pgtable.h:540-555, after
  set_pte_filter_hash strips it from the new value, mm/pgtable.c:82-84, 192-225) keep
  it; the seed thread: "we never clear the hash bit until we flush the hash, ie,
  pte_clear doesn't clear the hash bit".  So a cleared entry can still be hashed
  (pte_none ignores the bit, _PTE_NONE_MASK, pgtable.h:38, 397), and the flush finds it;
- the flushes are flush_hash_pages (hash_low.S:473-606) over the range's PTEs
  (hash__flush_range, hash__flush_tlb_page, hash__flush_tlb_mm, hash__flush_gather:
  tlb.c:49-117): for each PTE with _PAGE_HASHPTE, clear the bit atomically, search the
  primary then the secondary PTEG for the page's HPTE, invalidate it, tlbie; all under
  the global mmu_hash_lock (mm/book3s32/mmu.c:49);
- a hash miss or a store to a read-only HPTE runs hash_page (hash_low.S:51-175) under
  mmu_hash_lock, not the PTE lock: it sets _PAGE_ACCESSED|_PAGE_HASHPTE (and
  _PAGE_DIRTY for a store) with lwarx/stwcx. after checking the access, then
  create_hpte (hash_low.S:313-457): if the old PTE was hashed, tlbie and look for the
  page's HPTE and overwrite its second word (frame and PP) in place; else take an empty
  slot of the primary, then the secondary PTEG, else evict the next primary slot
  (next_slot, round robin).  PP is user read/write only if _PAGE_RW and _PAGE_DIRTY
  (hash_low.S:318-324), so the first store faults again and sets Dirty;
- the mmu_gather's __tlb_remove_tlb_entry flushes a hashed entry as zap clears it
  (include/asm/tlb.h:43-50), and tlb_flush is hash__flush_gather
  (include/asm/book3s/32/tlbflush.h:30-37);
- ptep_test_and_clear_young flushes the HPTE of a hashed entry at once (pgtable.h:
  296-313); ptep_set_access_flags ORs the bits in and flush_tlb_page()s (pgtable.h:
  328-338; mm/pgtable.c:243-255); ptep_set_wrprotect only clears the bit (pgtable.h:
  321-326); modify_prot start/commit are the generic ones (ptep_get_and_clear and
  set_pte_at): there is no lazy-MMU batch on book3s32.

Because a cleared entry keeps its hash bit, a new entry written over it before the
flush is hashed too: hash_page finds the old HPTE and rewrites it, never inserting a
second one (the seed thread's ppc64 duplicate cannot happen here), but until the
flush or that rewrite the old HPTE still translates the old frame, whatever the PTE
now says.

2.6.27 kept the bit the same way, as the seed thread describes it: in
include/asm-powerpc/pgtable-ppc32.h (read at torvalds/linux 016b33c4, the file before
its 2.6.28 move to arch/powerpc/include) pte_clear is set_pte_at(__pte(0)), set_pte_at
is pte_update(ptep, ~_PAGE_HASHPTE, pte_val(pte) & ~_PAGE_HASHPTE), and
ptep_get_and_clear pte_update(ptep, ~_PAGE_HASHPTE, 0).  What 6.12 changed
(ptep_set_access_flags flushes the HPTE, where 2.6.27 flushed only the TLB with
flush_tlb_page_nohash; the 64-bit-PTE build flushes a still-hashed entry inside
set_pte_at) is not a rule's concern, so there is no 2.6.27 variant.  Not modelled: the 603's software
TLB reload, BATs, update_mmu_cache's hash preload (add_hash_page), kernel mappings.
"""

from __future__ import annotations

from ..machine.counters import HASH_EVICT, HASH_FAULT, HASH_INSERT, HASH_INVALIDATE, HASH_LOCK, TLBIE
from ..machine.hash_table import (
    HPTE_R_C,
    PP_RO,
    PP_RW,
    SID_SHIFT,
)
from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..machine.spinlock import RELEASED
from ..pte import (
    ARCH_BITS_SHIFT,
    PAGE_SHIFT,
    PAGE_SIZE,
    PFN_SHIFT,
    PMD_SHIFT,
    PMD_SIZE,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_EXEC,
    _PAGE_PRESENT,
    _PAGE_RW,
    _PAGE_USER,
    pte_str,
)
from .hash_mmu import HASH_OK, HASH_PAGE_FAULT, HashMmu

_PAGE_HASHPTE = 1 << ARCH_BITS_SHIFT  # 0x002 in pgtable.h:22; an architecture bit of the model's PTE

MIN_N_HPTEG = 1024  # mm/book3s32/mmu.c:359


def ctx_to_vsid(context: int, esid: int) -> int:
    """CTX_TO_VSID (include/asm/book3s/32/mmu-hash.h:152)."""
    return (context * (897 * 16) + esid * 0x111) & 0xFFFFFF


def ppc32_vpn(context: int, ea: int) -> int:
    """VSID and page index: what the primary hash XORs (hash_low.S:344-346)."""
    return (ctx_to_vsid(context, ea >> SID_SHIFT) << (SID_SHIFT - PAGE_SHIFT)) | ((ea >> PAGE_SHIFT) & 0xFFFF)


def hash_groups_for(pages: int) -> int:
    """MMU_init_hw (mm/book3s32/mmu.c:366-373): one PTEG per 8 pages, a power of two, at
    least MIN_N_HPTEG."""
    groups = MIN_N_HPTEG
    while groups * 8 < pages:
        groups *= 2
    return groups


def hpte_rflags(pte: int) -> int:
    """create_hpte's second word (hash_low.S:316-324): user PP read/write only when
    _PAGE_RW and _PAGE_DIRTY; C is the PTE's Dirty (the bits match the hardware's)."""
    rflags = PP_RW if pte & _PAGE_RW and pte & _PAGE_DIRTY else PP_RO
    return rflags | (HPTE_R_C if pte & _PAGE_DIRTY else 0)


class Ppc32Hash(HashMmu):
    name = "ppc32"
    description = "powerpc 32-bit hash MMU: a cleared PTE keeps its hash bit until flush_hash_pages"
    kernel = "6.12"
    HASHPTE = _PAGE_HASHPTE

    def __init__(self, machine, hash_groups: int = MIN_N_HPTEG):
        super().__init__(machine)
        self._init_hash(machine, hash_groups, ppc32_vpn)
        self.mmu_hash_lock = None  # the CPU holding it (mm/book3s32/mmu.c:49)

    @classmethod
    def attach(cls, machine, pages: int, hash_groups: int | None = None) -> "Ppc32Hash":
        return cls(machine, hash_groups=hash_groups or hash_groups_for(pages))

    # ---- mmu_hash_lock -------------------------------------------------------------------
    def _hash_lock_free(self) -> bool:
        return self.mmu_hash_lock is None

    def _lock_hash(self, what: str) -> None:
        """The lwarx/stwcx. spin on mmu_hash_lock (hash_low.S:52-65, 517-530): the step
        waits while another CPU holds it."""
        self._sched(("lock", "mmu_hash_lock"), True, what, until=self._hash_lock_free)
        if self.mmu_hash_lock is not None:  # the step ran while another CPU held it: a model bug
            raise AssertionError(f"mmu_hash_lock taken by cpu{self.machine.this_cpu.id} "
                                 f"while cpu{self.mmu_hash_lock} holds it")
        self.mmu_hash_lock = self.machine.this_cpu.id
        self.machine.shared((RELEASED, "mmu_hash_lock"), False)  # after the release that let it in
        self.counters[HASH_LOCK] += 1

    def _unlock_hash(self) -> None:
        self.mmu_hash_lock = None  # "stw r0,0(r9)": made with the section's last step
        self.machine.shared((RELEASED, "mmu_hash_lock"), True)

    # ---- the MMU: hash search, then hash_page ----------------------------------------------
    def describe_pte(self, pte: int, mm=None, va: int | None = None) -> str:
        """_PAGE_HASHPTE by name (pgtable.h:22); the PTE records no slot."""
        text = pte_str(pte & ~_PAGE_HASHPTE)
        return text + " HASHPTE" if pte & _PAGE_HASHPTE else text

    def hash_page(self, mm, va: int, vpn: int, write: bool, nohpte: bool) -> int:
        """hash_page (hash_low.S:51-175): HASH_OK to retry the access, HASH_PAGE_FAULT for
        a Linux page fault."""
        self.counters[HASH_FAULT] += 1
        self._lock_hash("hash_page: take mmu_hash_lock")
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        if table_pfn is None:
            self._unlock_hash()  # .Lhash_page_out
            return HASH_PAGE_FAULT
        table = self.tables[table_pfn]
        i = (va >> PAGE_SHIFT) & PTE_INDEX_MASK
        ptep = (table_pfn << PTE_TABLE_SHIFT) | i
        self._sched(("pte", ptep), True, "hash_page: lwarx/stwcx. sets ACCESSED|HASHPTE")
        old = table[i]
        access = _PAGE_PRESENT | _PAGE_USER | (_PAGE_RW if write else 0)
        if access & ~old:
            self._only_read(("pte", ptep))  # the lwarx only, no stwcx. (hash_low.S:118-132, 6.12)
            self._unlock_hash()
            return HASH_PAGE_FAULT
        new = old | _PAGE_ACCESSED | _PAGE_HASHPTE | (_PAGE_DIRTY if write else 0)
        table[i] = new
        seq = self.mem.pte_seq.get(ptep, 0)  # the write hash_page read
        self.create_hpte(mm, va, vpn, new, old, seq)
        self._unlock_hash()
        return HASH_OK

    def create_hpte(self, mm, va: int, vpn: int, pte: int, old: int, seq: int) -> None:
        """hash_low.S:313-457, with mmu_hash_lock held."""
        self._sched(("hash", vpn), True, "create_hpte: rewrite or insert the HPTE", also=self._all_tlbs)
        hpt = self.hpt
        pfn, rflags = pte >> PFN_SHIFT, hpte_rflags(pte)
        if old & _PAGE_HASHPTE:
            self._tlbie(mm, va)  # hash_low.S:355
            slot = hpt.find(vpn)  # the primary PTEG, then the secondary
            if slot >= 0 and hpt.rewrite(slot, vpn, pfn, rflags):
                self.hpte_gen[slot], self.hpte_seq[slot] = self.mem.gen[pfn], seq
                self._note(f"HPTE slot {slot} rewritten in place: va {va:#x} -> pfn {pfn}")
                return
        else:
            for loc in self._all_tlbs:  # no tlbie: no TLB written
                self._only_read(loc)
        owner = (mm.context, va)
        slot = hpt.insert(vpn, pfn, rflags, False, owner)
        if slot < 0:
            slot = hpt.insert(vpn, pfn, rflags, True, owner)
        if slot < 0:  # both full: the next primary slot, round robin (next_slot, :400-415)
            hpt.evict(vpn)
            self.counters[HASH_EVICT] += 1
            slot = hpt.insert(vpn, pfn, rflags, False, owner)
        self.hpte_gen[slot], self.hpte_seq[slot] = self.mem.gen[pfn], seq
        self.counters[HASH_INSERT] += 1
        self._note(f"HPTE insert: va {va:#x} -> pfn {pfn} {'rw' if rflags & 0x3 == PP_RW else 'ro'}")

    def _tlbie(self, mm, va: int) -> None:
        """tlbie, broadcast to every CPU's TLB on SMP book3s32."""
        self.counters[TLBIE] += 1
        self._flush_everywhere(mm, va)

    # ---- flush_hash_pages -----------------------------------------------------------------
    def flush_hash_pages(self, mm, va: int, ptep: int, count: int) -> None:
        """hash_low.S:473-606: count PTEs of one table from ptep (mapping va on)."""
        locked = False
        for n in range(count):
            p, addr = ptep + n, va + n * PAGE_SIZE
            self._sched(("pte", p), False, "flush_hash_pages: load PTE")
            if not self.tables[p >> PTE_TABLE_SHIFT][p & PTE_INDEX_MASK] & _PAGE_HASHPTE:
                continue
            if not locked:
                self._lock_hash("flush_hash_pages: take mmu_hash_lock")
                locked = True
            old = self._update(mm, addr, p, _PAGE_HASHPTE, 0, "flush_hash_pages: lwarx/stwcx. clears HASHPTE")
            if not old & _PAGE_HASHPTE:
                continue
            vpn = ppc32_vpn(mm.context, addr)
            self._sched(("hash", vpn), True, "flush_hash_pages: invalidate the HPTE; tlbie",
                        also=self._all_tlbs)
            slot = self.hpt.find(vpn)
            if slot >= 0 and self.hpt.invalidate(slot, vpn):  # "should rarely fail to find it"
                self.counters[HASH_INVALIDATE] += 1
                self._note(f"HPTE slot {slot} invalidated")
            self._tlbie(mm, addr)
        if locked:
            self._unlock_hash()  # after TLBSYNC

    def flush_hash_entry(self, mm, ptep: int, addr: int) -> None:
        """pgtable.h:238-247."""
        self.flush_hash_pages(mm, addr, ptep, 1)

    def tlb_remove_tlb_entry(self, tlb, ptep: int, addr: int) -> None:
        """__tlb_remove_tlb_entry (arch/powerpc/include/asm/tlb.h:43-50): zap flushes a
        still-hashed entry at once, under the PTE lock, while its table is there."""
        if self._get(ptep) & _PAGE_HASHPTE:
            self.flush_hash_entry(tlb.mm, ptep, addr)

    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        """hash__flush_range (tlb.c:49-75): flush_hash_pages per PTE table of the range."""
        addr = start & ~(PAGE_SIZE - 1)
        while addr < end:
            chunk_end = min((addr & ~(PMD_SIZE - 1)) + PMD_SIZE, end)
            ptep = mm.pte_offset(addr)
            if ptep is not None:
                self.flush_hash_pages(mm, addr, ptep, (chunk_end - addr + PAGE_SIZE - 1) >> PAGE_SHIFT)
            addr = chunk_end

    def flush_tlb_mm(self, mm) -> None:
        """hash__flush_tlb_mm (tlb.c:80-94): every vma's range."""
        for vma in mm.vmas_in(0, 1 << 48):
            self.flush_tlb_mm_range(mm, vma.start, vma.end)

    def flush_tlb_fix_spurious_fault(self, vma, addr: int, ptep: int) -> None:
        pass

    # ---- accessors -------------------------------------------------------------------------
    def set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """mm/pgtable.c:192-225: the new value without the hash bit (set_pte_filter_hash),
        stored by pte_update keeping the entry's own (__set_pte_at, pgtable.h:553-554)."""
        pte &= ~_PAGE_HASHPTE
        for i in range(nr):
            self._update(mm, addr + (i << PAGE_SHIFT), ptep + i, ~_PAGE_HASHPTE, pte + (i << PFN_SHIFT))

    def pte_clear(self, mm, addr: int, ptep: int) -> None:
        self._update(mm, addr, ptep, ~_PAGE_HASHPTE, 0)  # pgtable.h:216-217

    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        return self._update(mm, addr, ptep, ~_PAGE_HASHPTE, 0)  # pgtable.h:314-319

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        self._update(mm, addr, ptep, _PAGE_RW, 0)  # pgtable.h:321-326: no flush

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        old = self._update(vma.mm, addr, ptep, _PAGE_ACCESSED, 0)  # pgtable.h:301-310
        if old & _PAGE_HASHPTE:
            self.flush_hash_entry(vma.mm, ptep, addr)
        return 1 if old & _PAGE_ACCESSED else 0

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        """mm/pgtable.c:243-255 with pte_same ignoring the hash bit (pgtable.h:342), then
        __ptep_set_access_flags (pgtable.h:328-338)."""
        changed = (self._get(ptep) ^ entry) & ~_PAGE_HASHPTE != 0
        if changed:
            self._update(vma.mm, addr, ptep, 0, entry & (_PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_RW | _PAGE_EXEC))
            self.flush_tlb_page(vma, addr)
        return changed
