"""arm64 with FEAT_HAFDBS, as in Linux 6.12 (with and without the contpte code of 6.9+).

Hardware (Arm ARM, DDI 0487, D8: the VMSA):
- the walker sets the Access flag when it fills a TLB entry, and a store through a
  writable-clean entry (DBM set, AP[2] PTE_RDONLY set) clears PTE_RDONLY with an atomic
  update of the descriptor: that is how arm64 records Dirty, "hardware dirty" (D8.5,
  hardware management of the Access flag and dirty state); a faulting entry is never
  cached (D8.16), a read-only one may be;
- TLB maintenance is broadcast: TLBI ... IS reaches every CPU's TLB without an IPI, and
  is complete only when the *issuing* CPU's DSB ISH completes; a DSB on another CPU does
  not wait for it (D8.16, B2.3.12 DSB).  The model performs each pending TLBI at its
  issuer's DSB, the latest moment the architecture allows;
- a valid entry must not become another valid entry with another output address or
  contiguity while a translation of the old one may be cached, or a TLB may hold both:
  break-before-make (D8.17; pgattr_change_is_safe, arch/arm64/mm/mmu.c:122-159).  The
  model reports `break-before-make` at the software store (or walk) after which a CPU
  can hold two conflicting translations of one address;
- 16 entries with PTE_CONT mapping a naturally aligned 64 KiB block may be cached as one
  TLB entry, made from any of them (D8.7.1, quoted at arch/arm64/mm/contpte.c:442-444):
  when the entries differ in permissions, which one a walk uses is CONSTRAINED
  UNPREDICTABLE, so a walk of a read-only entry may cache the write permission of a
  writable sibling.  The model's walk uses the most permissive entry of the block (the
  outcome in which a stale grant shows; a walk that picks a less permissive one takes a
  spurious permission fault, which the fault path retries: not explored).  A permission
  change of a live entry (PTE_RDONLY, PTE_WRITE/DBM) needs no break-before-make, in a block
  or not (D8.17; pgattr_change_is_safe's mask, mmu.c:127-128): 6.12 write-protects whole
  blocks in place (contpte_wrprotect_ptes, contpte.c:348-363), correct once flushed;

The model's PTE layout (ptelab/pte.py) stands for arm64's bits as follows:
    PRESENT  = PTE_VALID            RW       = PTE_WRITE, which is PTE_DBM (pgtable-prot.h:16)
    DIRTY    = PTE_DIRTY (software, pgtable-prot.h:18)
    HW_DIRTY = PTE_RDONLY clear (AP[2], pgtable-hwdef.h:163), kept inverted so that the
               state every other backend has (bit clear) is arm64's read-only state
    ACCESSED = PTE_AF               EXEC = !PTE_UXN      PROTNONE = PTE_PRESENT_INVALID
    arch bit 14 = PTE_CONT (pgtable-hwdef.h:169)
The generic pte_* helpers treat HW_DIRTY as arm64's pte_wrprotect, pte_mkclean and
pte_modify do; this backend completes the other half of arm64's pte_mkdirty and
pte_mkwrite_novma (pgtable.h:210-234: a writable, software-dirty entry is stored with
PTE_RDONLY clear) on every value core code hands it.

Kernel (arch/arm64/include/asm/pgtable.h, tlbflush.h, mm/fault.c, mm/contpte.c, 6.12):
- a live entry is changed with cmpxchg loops (__ptep_set_access_flags, ___ptep_set_wrprotect,
  __ptep_test_and_clear_young) so that a hardware update in between is never lost; each
  failed compare-and-exchange is counted;
- ptep_get_and_clear is an xchg; flush_tlb_page/range/mm issue TLBI VALE1IS/VAE1IS/ASIDE1IS
  then DSB ISH; ptep_clear_flush_young and the batched unmap issue TLBIs without the DSB
  (the batch's DSB is arch_tlbbatch_flush; arch_flush_tlb_batched_pending is a whole
  flush_tlb_mm, since it may run on another CPU than the one that issued them);
- contpte (variant `arm64`): set_ptes of a whole aligned block of consecutive frames
  writes it contiguous; ptep_get ORs Accessed and Dirty across the block; anything that
  changes one entry of a block unfolds it first (contpte_convert: clear all 16, flush,
  write all 16: break-before-make), except Accessed/Dirty updates, which stay in place,
  and wrprotect_ptes of whole blocks, which write-protects them in place, unfolding only
  the blocks at the range's ends it covers in part (contpte.c:29-46, 348-363).
FEAT_TLBIRANGE is a CPU feature, not a variant (the same 6.12 kernel tests it at run time,
system_supports_tlb_range, cpufeature.h:825-828): a machine booted with the feature
`tlbirange` (`--cpu-feature tlbirange`) flushes a range with TLBI RVAE1IS/RVALE1IS
(Arm ARM DDI 0487, C5.5 "TLBI RVAE1IS, TLB Range Invalidate by VA, EL1, Inner Shareable":
[BaseADDR, BaseADDR + (NUM + 1) * 2^(5 * SCALE + 1) pages), present only with FEAT_TLBIRANGE),
as __flush_tlb_range_op splits it (tlbflush.h:408-445); without it, page by page up to
MAX_DVM_OPS pages, then one TLBI by ASID.
The txn commit (txn_round_begin) unfolds every contiguous block a round rewrites at once:
every block's entries cleared, one flush of the blocks and one DSB, then all written back
(contpte_convert's break-before-make, contpte.c:49-74, made once for the round); a block the
round write-protects (or unmaps) whole is not unfolded but changed in place, as
contpte_wrprotect_ptes (contpte_clear_full_ptes) does (txn_round_out_of_use); nor is a
block all of whose entries the round cleans without write-protect (MADV_FREE): they are
cleaned in place, each by a cmpxchg loop, as contpte_clear_young_dirty_ptes keeps the
block folded (contpte.c:366-393; txn_clean_in_place, txn_clean_run).
Not modelled: FEAT_LPA2's 64 KiB alignment of range operations (4 KiB pages, 48-bit VAs),
KPTI's second ASID (__tlbi_user), erratum
2645198's workaround in ptep_modify_prot_start, and refolding: a block is contiguous only
as set_ptes of a whole large folio writes it (contpte.c:240-282); __contpte_try_fold
(contpte.c:76-137), which folds a block again once one folio covers it with equal
entries, is not modelled.
"""

from __future__ import annotations

from ..machine.counters import (
    ATOMIC_RMW,
    CMPXCHG_RETRY,
    CONTPTE_FOLD,
    CONTPTE_UNFOLD,
    DSB_ISH,
    HW_WALK,
    TLBI_ASIDE1IS,
    TLBI_RVAE1IS,
    TLBI_RVALE1IS,
    TLBI_VAE1IS,
    TLBI_VALE1IS,
)
from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..machine.tlb import VPN_BITS, tlb_key
from ..machine.violation import BREAK_BEFORE_MAKE
from ..pte import (
    ARCH_BITS_SHIFT,
    PAGE_SHIFT,
    PAGE_SIZE,
    PFN_MASK,
    PFN_SHIFT,
    PMD_SHIFT,
    PTRS_PER_PTE,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_HW_DIRTY,
    _PAGE_PRESENT,
    _PAGE_RW,
    _PAGE_SPECIAL,
    _PAGE_USER,
    pte_dirty,
    pte_mkclean,
    pte_str,
    pte_young,
)
from .generic import CYDP_CLEAR_DIRTY, CYDP_CLEAR_YOUNG, GenericArch

PTE_CONT = 1 << (ARCH_BITS_SHIFT + 5)
CONT_PTES = 16  # CONFIG_ARM64_CONT_PTE_SHIFT 4 with 4K pages (pgtable-hwdef.h:84-86)
CONT_PTE_SIZE = CONT_PTES * PAGE_SIZE
MAX_DVM_OPS = PTRS_PER_PTE  # tlbflush.h:373


def _tlbi_range_pages(num: int, scale: int) -> int:
    """__TLBI_RANGE_PAGES (tlbflush.h:158-159): the pages one range operation covers."""
    return (num + 1) << (5 * scale + 1)


MAX_TLBI_RANGE_PAGES = _tlbi_range_pages(31, 3)  # tlbflush.h:160
_ALL = 1 << 48  # flush_tlb_mm: the whole ASID

# what a cmpxchg of __ptep_set_access_flags carries over (fault.c:222)
_ACCESS_FLAGS = _PAGE_HW_DIRTY | _PAGE_ACCESSED | _PAGE_RW | _PAGE_DIRTY
# bits the hardware or contpte's in-place updates may change in a live contiguous block
_LIVE_IN_BLOCK = _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_HW_DIRTY
# ... and without break-before-make: those and write permission (PTE_WRITE, PTE_RDONLY are
# in pgattr_change_is_safe's mask, mmu.c:127-128; Arm ARM D8.17 asks break-before-make for
# a change of output address, memory type, shareability or size (the contiguous bit), not
# of permissions).  mmu.c:139-141 forbids any change of a live contiguous kernel mapping;
# user blocks are write-protected in place by 6.12 itself (contpte.c:348-363).
_SAFE_IN_BLOCK = _LIVE_IN_BLOCK | _PAGE_RW


def _mkdirty_hw(pte: int) -> int:
    """arm64's pte_mkdirty/pte_mkwrite_novma: a writable, software-dirty entry has PTE_RDONLY
    clear (pgtable.h:210-234); the generic helpers cannot know, so values are completed here."""
    if pte & (_PAGE_RW | _PAGE_DIRTY | _PAGE_PRESENT) == _PAGE_RW | _PAGE_DIRTY | _PAGE_PRESENT:
        return pte | _PAGE_HW_DIRTY
    return pte


def _valid_cont(pte: int) -> bool:
    return pte & (_PAGE_PRESENT | PTE_CONT) == _PAGE_PRESENT | PTE_CONT


class Arm64Cpu:
    """Per CPU: the TLBIs it issued that no DSB of its own has completed yet, and which of
    its TLB's entries were filled from a contiguous block (key -> the block's first va)."""

    __slots__ = ("tlbi", "blocks")

    def __init__(self):
        self.tlbi: list[tuple[int, int, int]] = []  # (context, start, end)
        self.blocks: dict[int, int] = {}


class Arm64(GenericArch):
    name = "arm64"
    description = "arm64 (FEAT_HAFDBS): hardware AF/DBM, broadcast TLBI completed by DSB, contpte"
    kernel = "6.12"
    batched_unmap_tlb_flush = True  # arch/arm64/Kconfig:108
    contpte = True  # CONFIG_ARM64_CONTPTE (Kconfig:2412)
    STORE_READS_TLBS = True  # _check_make reads every TLB at a software store

    def pte_access_permitted(self, pte: int, write: bool) -> bool:
        """6.12 arch/arm64/include/asm/pgtable.h:176-180: PTE_VALID and PTE_USER, and pte_write
        for a write (POE overlays, por_el0_allows_pkey, are not modelled)."""
        need = _PAGE_PRESENT | _PAGE_USER
        return pte & need == need and (not write or bool(pte & _PAGE_RW))

    def __init__(self, machine):
        super().__init__(machine)
        for cpu in machine.cpus:
            cpu.arch_state = Arm64Cpu()
        # first frame of a block made contiguous -> the ptep of its first entry: where the
        # lost-dirty check finds a Dirty the hardware set on a sibling entry
        self.cont_blocks: dict[int, int] = {}

    # ---- primitives --------------------------------------------------------------------
    def _set(self, ptep: int, pte: int, what: str = "") -> None:
        table = self.tables[ptep >> PTE_TABLE_SHIFT]
        i = ptep & PTE_INDEX_MASK
        old = table[i]
        table[i] = pte
        if pte & _PAGE_PRESENT:
            self._check_make(ptep, old, pte)

    def _cmpxchg(self, ptep: int, old: int, new: int) -> int:
        """cmpxchg_relaxed on the entry: stores `new` if it holds `old`; returns what it held."""
        table = self.tables[ptep >> PTE_TABLE_SHIFT]
        i = ptep & PTE_INDEX_MASK
        found = table[i]
        self.counters[ATOMIC_RMW] += 1
        if found == old:
            table[i] = new
            if new & _PAGE_PRESENT:
                self._check_make(ptep, old, new)
        else:
            self.counters[CMPXCHG_RETRY] += 1
        return found

    def _xchg_clear(self, mm, addr: int, ptep: int) -> int:
        """__ptep_get_and_clear: xchg_relaxed(ptep, 0) (pgtable.h:1279-1287)."""
        return self._update(mm, addr, ptep, ~0, 0)

    # ---- the MMU -----------------------------------------------------------------------
    def tlb_miss(self, cpu, mm, va: int, write: bool):
        self.counters[HW_WALK] += 1
        table_pfn = mm.pmd.get(va >> PMD_SHIFT)
        if table_pfn is None:
            return None
        table = self.tables[table_pfn]
        i = (va >> PAGE_SHIFT) & PTE_INDEX_MASK
        # the descriptor read and its AF/dirty update are one atomic access (D8.5)
        self._sched(("pte", (table_pfn << PTE_TABLE_SHIFT) | i), True, "page walk", also=(("tlb", cpu.id),))
        pte = table[i]
        if pte & (_PAGE_PRESENT | _PAGE_USER) != _PAGE_PRESENT | _PAGE_USER:
            return None  # a translation fault: nothing is cached
        cont = bool(self.contpte and pte & PTE_CONT)
        s = self._block_source(table_pfn, i, pte) if cont else i
        used = table[s]  # the descriptor the TLB entry is made from (D8.7.1)
        new = used | _PAGE_ACCESSED  # hardware Access flag (HA)
        if write:
            if not used & (_PAGE_RW | _PAGE_HW_DIRTY):
                return None  # a permission fault: neither DBM nor write permission
            new |= _PAGE_HW_DIRTY  # DBM: the store clears PTE_RDONLY (HD)
        if new != used:
            table[s] = new
            self.counters[ATOMIC_RMW] += 1
            if s != i:  # a sibling's descriptor updated: the step writes it
                self._touch(("pte", (table_pfn << PTE_TABLE_SHIFT) | s), True)
        return self._fill(cpu, mm, va, table_pfn, i, pte >> PFN_SHIFT, bool(new & _PAGE_HW_DIRTY), cont)

    def _block_source(self, table_pfn: int, i: int, pte: int) -> int:
        """Which entry of entry i's contiguous block a walk of it makes the TLB entry from:
        any valid contiguous entry of the block mapping the block's frames may be used
        (Arm ARM D8.7.1; CONSTRAINED UNPREDICTABLE when they differ).  The most permissive
        one: writable and dirty (PTE_RDONLY clear), then writable-clean (DBM), then
        read-only; entry i itself among equals, so a block whose entries agree is walked as
        a page is.  The walk reads the siblings: they join its footprint."""
        table = self.tables[table_pfn]
        first = i & ~(CONT_PTES - 1)
        base_pfn = (pte >> PFN_SHIFT) - (i - first)
        best, rank = i, _permission_rank(pte)
        for j in range(first, first + CONT_PTES):
            if j == i:
                continue
            self._touch(("pte", (table_pfn << PTE_TABLE_SHIFT) | j), False)
            other = table[j]
            if not _valid_cont(other) or other >> PFN_SHIFT != base_pfn + j - first or not other & _PAGE_USER:
                continue
            if _permission_rank(other) > rank:
                best, rank = j, _permission_rank(other)
        return best

    def _fill(self, cpu, mm, va: int, table_pfn: int, i: int, pfn: int, writable: bool, cont: bool):
        """Cache the translation of entry i of table table_pfn, mapping va to pfn: one page,
        or the entries of its contiguous block that are valid, contiguous and map the
        block's frames, with the permissions of the entry the walk used (_block_source)."""
        blocks = cpu.arch_state.blocks
        ptep = (table_pfn << PTE_TABLE_SHIFT) | i
        if not cont:
            key = tlb_key(mm.context, va)
            self._check_fill(cpu, key, va, pfn, False)
            blocks.pop(key, None)
            return self.fill_tlb(cpu, mm, va, ptep, pfn, writable)
        table = self.tables[table_pfn]
        first = i & ~(CONT_PTES - 1)
        base_va = va - ((i - first) << PAGE_SHIFT)
        base_pfn = pfn - (i - first)
        mine = None
        for j in range(CONT_PTES):
            other = table[first + j]
            if not _valid_cont(other) or other >> PFN_SHIFT != base_pfn + j:
                continue
            v = base_va + (j << PAGE_SHIFT)
            key = tlb_key(mm.context, v)
            self._check_fill(cpu, key, v, base_pfn + j, True)
            entry = self.fill_tlb(cpu, mm, v, ptep - i + first + j, base_pfn + j, writable)
            blocks[key] = base_va
            if first + j == i:
                mine = entry
        return mine

    def _check_fill(self, cpu, key: int, va: int, pfn: int, block: bool) -> None:
        held = cpu.tlb.entries.get(key)
        if held is not None and (held[0] != pfn or (key in cpu.arch_state.blocks) != block):
            self.machine.violation(
                BREAK_BEFORE_MAKE, f"cpu{cpu.id}'s walk makes a translation of {va:#x} to frame {pfn}"
                f"{' (contiguous)' if block else ''} while it holds one to frame {held[0]}"
                f"{' (contiguous)' if key in cpu.arch_state.blocks else ''}: a TLB conflict",
                va=va, pfn=pfn, cpu=cpu.id)

    def _check_make(self, ptep: int, old: int, new: int) -> None:
        """Break-before-make (D8.17, mmu.c:122-159), once software has stored the valid entry
        `new` over `old`: no CPU may hold a translation, of an address `new` maps, that
        differs from it in frame or contiguity; nor of a live contiguous block whose
        attributes change in place (only Accessed, Dirty and write permission may change:
        _SAFE_IN_BLOCK; a block left with entries of different permissions is judged at the
        walk, _block_source)."""
        cont = bool(self.contpte and new & PTE_CONT)
        in_place = bool(self.contpte and (old | new) & PTE_CONT and old & _PAGE_PRESENT
                        and (old ^ new) & ~_SAFE_IN_BLOCK)
        cpus = [cpu for cpu in self.machine.cpus if cpu.tlb.entries]
        if not cpus:
            return
        where = self._va_of(ptep)
        if where is None:
            return
        context, va = where
        pfn = new >> PFN_SHIFT
        i = ptep & PTE_INDEX_MASK
        if cont or in_place:
            first = i & ~(CONT_PTES - 1)
            span = [(va - ((i - first - j) << PAGE_SHIFT), pfn - (i - first - j)) for j in range(CONT_PTES)]
        else:
            span = [(va, pfn)]
        for cpu in cpus:
            entries, blocks = cpu.tlb.entries, cpu.arch_state.blocks
            for v, want in span:
                key = tlb_key(context, v)
                held = entries.get(key)
                if held is None:
                    continue
                if in_place:
                    why = f"the entry of {va:#x} in a live contiguous block is changed in place"
                elif held[0] != want:
                    why = f"it holds a translation of {v:#x} to frame {held[0]}, the new entry maps {want}"
                elif (key in blocks) != cont:
                    why = f"it holds a {'contiguous' if key in blocks else 'page'} translation of {v:#x}, " \
                          f"the new entry is {'contiguous' if cont else 'a page'}"
                else:
                    continue
                self.machine.violation(
                    BREAK_BEFORE_MAKE, f"a valid entry is written while cpu{cpu.id} may still use an old "
                    f"translation: {why}; it can now hold both (a TLB conflict)", va=v, pfn=want, cpu=cpu.id)

    def _va_of(self, ptep: int):
        """(context, va) of the entry ptep: the address space whose directory holds its table."""
        table_pfn = ptep >> PTE_TABLE_SHIFT
        for context, pgd in list(self.machine.address_spaces.items()):
            for index, pfn in pgd.pmd.items():
                if pfn == table_pfn:
                    return context, (index << PMD_SHIFT) | ((ptep & PTE_INDEX_MASK) << PAGE_SHIFT)
        return None

    # ---- TLB maintenance (arch/arm64/include/asm/tlbflush.h) -----------------------------
    def _tlbi(self, kind: str, context: int, start: int, end: int) -> None:
        """TLBI <kind> IS: broadcast, pending on this CPU until its DSB ISH."""
        cpu = self.machine.this_cpu
        self._sched(("tlbi", cpu.id), True, kind.replace("_", " "))
        self.counters[kind] += 1
        cpu.arch_state.tlbi.append((context, start, end))

    def dsb_ish(self) -> None:
        """dsb(ish): every TLBI this CPU issued is now done on every CPU (not other CPUs' TLBIs)."""
        cpu = self.machine.this_cpu
        cpus = self.machine.cpus
        self._sched(("tlbi", cpu.id), True, "dsb(ish)", also=tuple(("tlb", c.id) for c in cpus))
        self.counters[DSB_ISH] += 1
        pending = cpu.arch_state.tlbi
        for context, start, end in pending:
            for target in cpus:
                _invalidate(target, context, start, end)
        pending.clear()

    def flush_tlb_page_nosync(self, vma, addr: int) -> None:
        """__flush_tlb_page_nosync (tlbflush.h:305-316): dsb(ishst); TLBI VALE1IS."""
        page = addr & ~(PAGE_SIZE - 1)
        self._tlbi(TLBI_VALE1IS, vma.mm.context, page, page + PAGE_SIZE)

    def flush_tlb_page(self, vma, addr: int) -> None:
        """tlbflush.h:324-329."""
        self.flush_tlb_page_nosync(vma, addr)
        self.dsb_ish()

    @property
    def tlbi_range(self) -> bool:
        """system_supports_tlb_range (cpufeature.h:825-828): the machine's CPUs have
        FEAT_TLBIRANGE (machine.CPU_FEATURES)."""
        return "tlbirange" in self.machine.features

    def _flush_tlb_range_nosync(self, mm, start: int, end: int, last_level: bool) -> None:
        """__flush_tlb_range_nosync (tlbflush.h:448-483): the whole ASID from MAX_DVM_OPS
        pages without FEAT_TLBIRANGE (beyond MAX_TLBI_RANGE_PAGES with it), else
        __flush_tlb_range_op."""
        start &= ~(PAGE_SIZE - 1)
        end = (end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        pages = (end - start) >> PAGE_SHIFT
        if not self.tlbi_range and pages >= MAX_DVM_OPS or pages > MAX_TLBI_RANGE_PAGES:
            self.flush_tlb_mm(mm)  # with its own DSB, as in the kernel
            return
        self._flush_tlb_range_op(mm.context, start, pages, last_level)

    def _flush_tlb_range_op(self, context: int, start: int, pages: int, last_level: bool) -> None:
        """__flush_tlb_range_op (tlbflush.h:408-445, stride one page, no LPA2): without
        FEAT_TLBIRANGE one TLBI per page; with it, from scale 3 down, the most pages one
        range operation of that scale covers, and a last odd page by a page TLBI."""
        kind = TLBI_VALE1IS if last_level else TLBI_VAE1IS
        scale = 3
        while pages > 0:
            if not self.tlbi_range or pages == 1:
                self._tlbi(kind, context, start, start + PAGE_SIZE)
                start += PAGE_SIZE
                pages -= 1
                continue
            num = (min(pages, _tlbi_range_pages(31, scale)) >> (5 * scale + 1)) - 1  # __TLBI_RANGE_NUM
            if num >= 0:
                n = _tlbi_range_pages(num, scale)
                self._tlbi(TLBI_RVALE1IS if last_level else TLBI_RVAE1IS, context, start, start + (n << PAGE_SHIFT))
                start += n << PAGE_SHIFT
                pages -= n
            scale -= 1

    def flush_tlb_range(self, vma, start: int, end: int) -> None:
        """tlbflush.h:485-505: not last-level only (VAE1IS), then the DSB."""
        self._flush_tlb_range_nosync(vma.mm, start, end, False)
        self.dsb_ish()

    def flush_tlb_mm_range(self, mm, start: int, end: int) -> None:
        self._flush_tlb_range_nosync(mm, start, end, True)
        self.dsb_ish()

    def flush_tlb_mm(self, mm) -> None:
        """tlbflush.h:293-303: TLBI ASIDE1IS, DSB ISH."""
        self._tlbi(TLBI_ASIDE1IS, mm.context, 0, _ALL)
        self.dsb_ish()

    def flush_tlb_fix_spurious_fault(self, vma, addr: int, ptep: int) -> None:
        """pgtable.h:53-59: nothing; the TLBIs are broadcast."""

    def tlb_flush(self, tlb) -> None:
        """arch/arm64/include/asm/tlb.h:58-78: a full-mm teardown that freed no page tables
        flushes nothing (its ASID is not reused before the allocator flushes every TLB)."""
        last_level = not tlb.tables
        if tlb.fullmm:
            if not last_level:
                self.flush_tlb_mm(tlb.mm)
            return
        if tlb.need_flush_all:
            self.flush_tlb_mm(tlb.mm)
            return
        self._flush_tlb_range_nosync(tlb.mm, tlb.start, tlb.end, last_level)
        self.dsb_ish()

    def tlb_drop(self, cpu, mm, va: int) -> None:
        """The TLB drops the entry covering va, all of a contiguous block's if it is one."""
        self._sched(("tlb", cpu.id), True, "the TLB drops an entry")
        _invalidate(cpu, mm.context, va & ~(PAGE_SIZE - 1), (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE)

    # ---- reclaim's deferred shootdown -----------------------------------------------------
    def arch_tlbbatch_add_pending(self, batch: set, mm, uaddr: int) -> None:
        """tlbflush.h:336-341: the TLBI now, its DSB in arch_tlbbatch_flush.  (arm64's struct
        arch_tlbflush_unmap_batch is empty, tlbbatch.h; the CPU set is debug mode's.)"""
        self.arch_tlbbatch_add_mm(batch, mm)
        page = uaddr & ~(PAGE_SIZE - 1)
        self._tlbi(TLBI_VALE1IS, mm.context, page, page + PAGE_SIZE)

    def arch_tlbbatch_flush(self, batch: set) -> None:
        """tlbflush.h:364-367: a DSB on the CPU that issued the batch's TLBIs."""
        self.dsb_ish()
        batch.clear()

    # ---- the accessors: the __ versions of pgtable.h (no contpte) --------------------------
    def _set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """__set_ptes (pgtable.h:423-440)."""
        for i in range(nr):
            self._set(ptep + i, pte + (i << PFN_SHIFT))

    def _ptep_set_wrprotect(self, mm, addr: int, ptep: int, pte: int) -> None:
        """___ptep_set_wrprotect (pgtable.h:1333-1349): a cmpxchg loop from the value given."""
        while True:
            old = pte
            wp = old
            if wp & (_PAGE_RW | _PAGE_HW_DIRTY) == _PAGE_RW | _PAGE_HW_DIRTY:
                wp |= _PAGE_DIRTY  # pte_wrprotect: hardware dirty moves to PTE_DIRTY
            wp &= ~(_PAGE_RW | _PAGE_HW_DIRTY)
            pte = self._cmpxchg(ptep, old, wp)
            if pte == old:
                return

    def _ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        """__ptep_test_and_clear_young (pgtable.h:1232-1247)."""
        pte = self._get(ptep)
        while True:
            old = pte
            pte = self._cmpxchg(ptep, old, old & ~_PAGE_ACCESSED)
            if pte == old:
                return 1 if pte & _PAGE_ACCESSED else 0

    def _ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        """__ptep_set_access_flags (arch/arm64/mm/fault.c:211-244): OR in the access flags
        and write permission, PTE_RDONLY to the most permissive of the two (here a plain OR,
        since the model keeps it inverted), with a cmpxchg loop; flush if dirty."""
        pte = self._get(ptep)
        if pte == entry:
            return 0
        entry &= _ACCESS_FLAGS
        while True:
            old = pte
            pte = self._cmpxchg(ptep, old, old | entry)
            if pte == old:
                break
        if dirty:
            self.flush_tlb_page(vma, addr)  # invalidate a stale read-only entry
        return 1

    def _clear_young_dirty_ptes(self, vma, addr: int, ptep: int, nr: int, flags: int) -> None:
        """__clear_young_dirty_ptes (pgtable.h:1366-1405): both flags, a plain load and store
        of the entry (__set_pte); one of them, a cmpxchg loop (__clear_young_dirty_pte)."""
        for p in range(ptep, ptep + nr):
            pte = self._get(p)
            if flags == CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY:
                self._set(p, pte_mkclean(pte & ~_PAGE_ACCESSED))
                continue
            while True:
                old = pte
                if flags & CYDP_CLEAR_YOUNG:
                    pte &= ~_PAGE_ACCESSED
                if flags & CYDP_CLEAR_DIRTY:
                    pte = pte_mkclean(pte)
                pte = self._cmpxchg(p, old, pte)
                if pte == old:
                    break

    # ---- the public accessors (pgtable.h:1631-1807 with CONFIG_ARM64_CONTPTE) ------------
    def ptep_get(self, ptep: int) -> int:
        pte = self._get(ptep)
        if self.contpte and _valid_cont(pte):
            return self._contpte_ptep_get(ptep, pte)
        return pte

    def set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        pte = _mkdirty_hw(pte) & ~PTE_CONT  # pte_mknoncont
        if not self.contpte:
            self._set_ptes(mm, addr, ptep, pte, nr)
        elif nr == 1:
            self._contpte_try_unfold(mm, addr, ptep, self._get(ptep))
            self._set_ptes(mm, addr, ptep, pte, 1)
            self._contpte_try_fold(mm, addr, ptep, pte)
        else:
            self._contpte_set_ptes(mm, addr, ptep, pte, nr)

    def pte_clear(self, mm, addr: int, ptep: int) -> None:
        if self.contpte:
            self._contpte_try_unfold(mm, addr, ptep, self._get(ptep))
        self._set(ptep, 0)

    def ptep_get_and_clear(self, mm, addr: int, ptep: int) -> int:
        if self.contpte:
            self._contpte_try_unfold(mm, addr, ptep, self._get(ptep))
        return self._xchg_clear(mm, addr, ptep)

    def get_and_clear_full_ptes_each(self, mm, addr: int, ptep: int, nr: int, full: int) -> list:
        """clear_full_ptes and get_and_clear_full_ptes (pgtable.h:1690-1717): one entry, its
        block unfolded first; more, contpte_clear_full_ptes/contpte_get_and_clear_full_ptes
        (contpte.c:284-300): only the blocks the range covers in part unfolded, whole blocks
        cleared entry by entry in place (an invalid entry needs no break-before-make; the
        caller flushes), each by __ptep_get_and_clear (pgtable.h:1289-1318)."""
        if self.contpte and nr == 1:
            self._contpte_try_unfold(mm, addr, ptep, self._get(ptep))
        elif self.contpte:
            self._contpte_try_unfold_partial(mm, addr, ptep, nr)
        olds = [self._xchg_clear(mm, addr + (i << PAGE_SHIFT), ptep + i) for i in range(nr)]
        return _gather_blocks(ptep, olds)

    def ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        if self.contpte and _valid_cont(self._get(ptep)):
            return self._contpte_ptep_test_and_clear_young(vma, addr, ptep)
        return self._ptep_test_and_clear_young(vma, addr, ptep)

    def ptep_clear_flush_young(self, vma, addr: int, ptep: int) -> int:
        """__ptep_clear_flush_young (pgtable.h:1249-1268): the TLBI without its DSB."""
        if self.contpte and _valid_cont(self._get(ptep)):
            young = self._contpte_ptep_test_and_clear_young(vma, addr, ptep)
            if young:  # contpte.c:327-345
                start = addr & ~(CONT_PTE_SIZE - 1)
                self._flush_tlb_range_nosync(vma.mm, start, start + CONT_PTE_SIZE, True)
            return young
        young = self._ptep_test_and_clear_young(vma, addr, ptep)
        if young:
            self.flush_tlb_page_nosync(vma, addr)
        return young

    def ptep_set_wrprotect(self, mm, addr: int, ptep: int) -> None:
        """pgtable.h:1775-1780: wrprotect_ptes(nr=1)."""
        self.wrprotect_ptes(mm, addr, ptep, 1)

    def wrprotect_ptes(self, mm, addr: int, ptep: int, nr: int) -> None:
        """pgtable.h:1751-1773 (without contpte, __wrprotect_ptes: pgtable.h:1824).  One
        entry: its block unfolded first; more: contpte_wrprotect_ptes (contpte.c:348-363),
        the blocks the range covers in part unfolded (contpte_try_unfold_partial,
        contpte.c:29-46), whole blocks write-protected in place, keeping PTE_CONT: "Until
        the flush, the page may or may not be wrprotected.  After the flush, it is
        guaranteed wrprotected" (the caller owes the flush, as for ptep_set_wrprotect)."""
        if self.contpte and nr == 1:
            pte = self._get(ptep)
            if pte & PTE_CONT:
                self._contpte_unfold(mm, addr, ptep, pte)
                pte &= ~PTE_CONT
            self._ptep_set_wrprotect(mm, addr, ptep, pte)
            return
        if self.contpte:
            self._contpte_try_unfold_partial(mm, addr, ptep, nr)
        self.wrprotect_ptes_noncont(mm, addr, ptep, nr)

    def ptep_set_wrprotect_noncont(self, mm, addr: int, ptep: int) -> None:
        """__ptep_set_wrprotect (pgtable.h:1351-1355): for callers that manage the contiguous
        bit themselves; on an entry of a live block it changes it in place."""
        self._ptep_set_wrprotect(mm, addr, ptep, self._get(ptep))

    def wrprotect_ptes_noncont(self, mm, addr: int, ptep: int, nr: int) -> None:
        """__wrprotect_ptes (pgtable.h:1357-1364): __ptep_set_wrprotect on each entry, blind
        to the contiguous bit: a block it covers in part keeps PTE_CONT with entries of
        different permissions, which no flush mends (contpte.c:350-358)."""
        for i in range(nr):
            self._ptep_set_wrprotect(mm, addr + (i << PAGE_SHIFT), ptep + i, self._get(ptep + i))

    def ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        entry = _mkdirty_hw(entry) & ~PTE_CONT
        if self.contpte and _valid_cont(self._get(ptep)):
            return self._contpte_ptep_set_access_flags(vma, addr, ptep, entry, dirty)
        return self._ptep_set_access_flags(vma, addr, ptep, entry, dirty)

    def clear_young_dirty_ptes(self, vma, addr: int, ptep: int, nr: int, flags: int) -> None:
        """pgtable.h:1797-1806; a range touching a block is widened to whole blocks and
        cleared in place, without unfolding (contpte.c:366-393)."""
        if self.contpte and (nr != 1 or self._get(ptep) & PTE_CONT):
            end = addr + (nr << PAGE_SHIFT)
            if self._get(ptep + nr - 1) & PTE_CONT:
                end = (end + CONT_PTE_SIZE - 1) & ~(CONT_PTE_SIZE - 1)
            if self._get(ptep) & PTE_CONT:
                ptep -= ((addr & (CONT_PTE_SIZE - 1)) >> PAGE_SHIFT)
                addr &= ~(CONT_PTE_SIZE - 1)
            nr = (end - addr) >> PAGE_SHIFT
        self._clear_young_dirty_ptes(vma, addr, ptep, nr, flags)

    def ptep_modify_prot_start(self, vma, addr: int, ptep: int) -> int:
        """arch/arm64/mm/mmu.c:1537-1549 (the erratum 2645198 workaround aside)."""
        return self.ptep_get_and_clear(vma.mm, addr, ptep)

    def ptep_modify_prot_commit(self, vma, addr: int, ptep: int, old_pte: int, pte: int) -> None:
        """mmu.c:1551-1555."""
        self.set_pte_at(vma.mm, addr, ptep, pte)

    # ---- contpte (arch/arm64/mm/contpte.c) -------------------------------------------------
    def _contpte_ptep_get(self, ptep: int, orig: int) -> int:
        """contpte.c:155-180: Accessed and Dirty gathered over the block."""
        first = ptep & ~(CONT_PTES - 1)
        for p in range(first, first + CONT_PTES):
            pte = self._get(p)
            if pte_dirty(pte):
                orig = _mkdirty_hw(orig | _PAGE_DIRTY)
            if pte_young(pte):
                orig |= _PAGE_ACCESSED
        return orig

    def _contpte_try_unfold(self, mm, addr: int, ptep: int, pte: int) -> None:
        """contpte_try_unfold (pgtable.h:1597-1602)."""
        if _valid_cont(pte):
            self._contpte_unfold(mm, addr, ptep, pte)

    def _contpte_try_unfold_partial(self, mm, addr: int, ptep: int, nr: int) -> None:
        """contpte.c:29-46: a block the range [ptep, ptep + nr) begins or ends inside of."""
        if ptep & (CONT_PTES - 1) or nr < CONT_PTES:
            self._contpte_try_unfold(mm, addr, ptep, self._get(ptep))
        if (ptep + nr) & (CONT_PTES - 1):
            last = ptep + nr - 1
            self._contpte_try_unfold(mm, addr + ((nr - 1) << PAGE_SHIFT), last, self._get(last))

    def _contpte_unfold(self, mm, addr: int, ptep: int, pte: int) -> None:
        """__contpte_try_unfold (contpte.c:140-153)."""
        self.counters[CONTPTE_UNFOLD] += 1
        self._contpte_convert(mm, addr, ptep, pte & ~PTE_CONT)

    def _contpte_try_fold(self, mm, addr: int, ptep: int, pte: int) -> None:
        """contpte_try_fold (pgtable.h:1575-1595) and __contpte_try_fold (contpte.c:76-137):
        not modelled (the module's docstring): a block unfolded stays unfolded."""

    def _contpte_convert(self, mm, addr: int, ptep: int, pte: int) -> None:
        """contpte.c:49-74: clear all 16 entries gathering Accessed and Dirty, flush the
        block (TLBI + DSB), then write all 16: break-before-make over the block."""
        first, start, pte = self._contpte_break(mm, addr, ptep, pte)
        self._flush_tlb_range_nosync(mm, start, start + CONT_PTE_SIZE, True)
        self.dsb_ish()
        self._contpte_make(mm, start, first, pte)

    def _contpte_break(self, mm, addr: int, ptep: int, pte: int) -> tuple[int, int, int]:
        """contpte.c:58-64: the block's 16 entries cleared, Accessed and Dirty gathered into
        `pte` (its frame moved to the block's first): (first ptep, first va, that entry)."""
        first = ptep & ~(CONT_PTES - 1)
        start = addr & ~(CONT_PTE_SIZE - 1)
        pfn = (pte >> PFN_SHIFT) & ~(CONT_PTES - 1)
        pte = (pfn << PFN_SHIFT) | (pte & ~PFN_MASK)
        for i in range(CONT_PTES):
            old = self._xchg_clear(mm, start + (i << PAGE_SHIFT), first + i)
            if pte_dirty(old):
                pte = _mkdirty_hw(pte | _PAGE_DIRTY)
            if pte_young(old):
                pte |= _PAGE_ACCESSED
        return first, start, pte

    def _contpte_make(self, mm, start: int, first: int, pte: int) -> None:
        """contpte.c:73: the block's 16 entries written from `pte`, once it is flushed."""
        self._set_ptes(mm, start, first, pte, CONT_PTES)
        if pte & PTE_CONT:
            self.cont_blocks[pte >> PFN_SHIFT] = first

    # ---- the transactional interface's level (txn.py, docs/txn.md) -------------------------
    # an age intent's ptep_test_and_clear_young clears the Access flag of a whole block in
    # place, never unfolding (contpte_ptep_test_and_clear_young, contpte.c:302-325)
    txn_in_place = ("age",)

    def txn_round_out_of_use(self, mm, rewritten: list, runs: list) -> list:
        """contpte_wrprotect_ptes' and contpte_(get_and_)clear_full_ptes' choice made for the
        whole round (contpte.c:284-300, 348-363): a contiguous block whose 16 entries the
        round write-protects, or unmaps, stays folded, and the round's wrprotect_ptes (or
        txn_unmap_run) changes it in place, its flush owed as usual (the commit's, or the
        caller's: fork's dup_mmap flush_tlb_mm, zap's mmu_gather); the entries of a block a
        run covers in part go to txn_round_begin, to be unfolded with the round's other
        blocks at once, instead of by contpte_try_unfold_partial block by block, each with
        its own flush and DSB (contpte.c:29-46)."""
        if not self.contpte:
            return rewritten
        blocks: dict[int, list] = {}
        for addr, ptep, op in runs:
            blocks.setdefault(ptep & ~(CONT_PTES - 1), []).append(op)
        whole = {b for b, ops in blocks.items() if len(ops) == CONT_PTES and len(set(ops)) == 1}
        kept = [(a, p) for a, p in rewritten if p & ~(CONT_PTES - 1) not in whole]
        partial = [(a, p) for a, p, op in runs if op == "wrprotect" and p & ~(CONT_PTES - 1) not in whole]
        return sorted(kept + partial) if partial or len(kept) != len(rewritten) else rewritten

    def txn_unmap_run(self, mm, addr: int, ptep: int, nr: int) -> list:
        """A run of unmap intents: clear_full_ptes (pgtable.h:1690-1700), each old entry."""
        return self.get_and_clear_full_ptes_each(mm, addr, ptep, nr, 0)

    def txn_clean_in_place(self, mm, cleans: list) -> set:
        """The cleans 6.12's clear_young_dirty_ptes makes in place on arm64 (pgtable.h:1797-1806:
        MADV_FREE's, without write-protect; the entry is cleaned live, no break, and arm64 has
        no lazy-MMU batch in 6.12 for a clean to be written over): an entry outside a block,
        and the entries of a contiguous block all 16 of which the round cleans with the same
        flags, kept folded as contpte_clear_young_dirty_ptes keeps it ("We can safely clear
        access/dirty without needing to unfold", contpte.c:366-393).  A block cleaned in part
        is broken and unfolded as before: contpte_clear_young_dirty_ptes would widen the
        clean to the whole block, which a transaction's intents do not ask for."""
        flags = {ptep: (wrprotect, mkold) for _, ptep, wrprotect, mkold in cleans if not wrprotect}
        kept = set()
        for ptep, f in flags.items():
            first = ptep & ~(CONT_PTES - 1)
            if not (self.contpte and _valid_cont(self._get(ptep))) \
                    or all(flags.get(first + j) == f for j in range(CONT_PTES)):
                kept.add(ptep)
        return kept

    def txn_clean_run(self, vma, addr: int, ptep: int, nr: int, mkold: bool) -> list:
        """A run of cleans in place (txn_clean_in_place), each entry by __clear_young_dirty_pte's
        cmpxchg loop (pgtable.h:1366-1383), keeping PTE_CONT (Accessed and Dirty are not
        attributes D8.17 asks break-before-make for): a Dirty the hardware sets between the
        read and the write makes the cmpxchg fail and is read again, so the returned old
        entry is exact (G2).  6.12 itself, asked for both flags, stores the cleaned entry
        with a plain __set_pte (pgtable.h:1392-1393), which may overwrite such a Dirty
        (op-madv-free.litmus); the transaction promises the exact old entry, so it takes
        the loop.  Each old entry of a block carries the block's Accessed and Dirty
        (_gather_blocks: contpte_ptep_get, contpte.c:155-180), so the commit owes the
        flush of every entry of a block that had anything to clean: a translation of any
        of them may have been made from a dirty sibling (D8.7.1)."""
        olds = []
        for p in range(ptep, ptep + nr):
            pte = self._get(p)
            while pte & _PAGE_PRESENT and (pte_dirty(pte) or mkold and pte_young(pte)):
                new = pte_mkclean(pte & ~_PAGE_ACCESSED if mkold else pte)
                found = self._cmpxchg(p, pte, new)
                if found == pte:
                    break
                pte = found
            olds.append(pte)
        return _gather_blocks(ptep, olds)

    def txn_round_begin(self, mm, rewritten: list) -> None:
        """Every contiguous block an entry of `rewritten` lies in is unfolded, all at once:
        contpte_convert's break for each (contpte.c:58-64), then one flush of the blocks
        (adjacent blocks flushed as one range: one TLBI RVALE1IS with FEAT_TLBIRANGE) and
        one DSB, then each block written back entry by entry (:73), where the accessors
        would unfold block by block, each with its own flush and DSB (pgtable.h:1597-1602).
        The entries then keep the block's Accessed and Dirty, as after contpte_convert, so
        the round's clears return what they would have.  A block is not folded again
        (__contpte_try_fold is not modelled)."""
        if not self.contpte:
            return
        firsts = {}
        for addr, ptep in rewritten:
            pte = self._get(ptep)
            if _valid_cont(pte):
                firsts.setdefault(ptep & ~(CONT_PTES - 1), (addr, ptep, pte))
        if not firsts:
            return
        broken = []
        for addr, ptep, pte in firsts.values():
            self.counters[CONTPTE_UNFOLD] += 1
            broken.append(self._contpte_break(mm, addr, ptep, pte & ~PTE_CONT))
        runs: list[list[int]] = []  # [start, end) of runs of adjacent blocks
        for _, start, _ in sorted(broken, key=lambda b: b[1]):
            if runs and runs[-1][1] == start:
                runs[-1][1] = start + CONT_PTE_SIZE
            else:
                runs.append([start, start + CONT_PTE_SIZE])
        for start, end in runs:
            self._flush_tlb_range_nosync(mm, start, end, True)
        self.dsb_ish()
        for first, start, pte in broken:
            self._contpte_make(mm, start, first, pte)

    def _contpte_set_ptes(self, mm, addr: int, ptep: int, pte: int, nr: int) -> None:
        """contpte.c:240-282: the entries are not present; each whole, aligned block of
        consecutive frames is written contiguous."""
        if not pte & _PAGE_PRESENT:
            self._set_ptes(mm, addr, ptep, pte, nr)
            return
        end = addr + (nr << PAGE_SHIFT)
        pfn = pte >> PFN_SHIFT
        prot = pte & ~PFN_MASK
        while addr != end:
            nxt = min((addr + CONT_PTE_SIZE) & ~(CONT_PTE_SIZE - 1), end)
            n = (nxt - addr) >> PAGE_SHIFT
            entry = (pfn << PFN_SHIFT) | prot
            if not (addr | nxt | (pfn << PAGE_SHIFT)) & (CONT_PTE_SIZE - 1):
                entry |= PTE_CONT
                self.counters[CONTPTE_FOLD] += 1
                self.cont_blocks[pfn] = ptep
            self._set_ptes(mm, addr, ptep, entry, n)
            addr, ptep, pfn = nxt, ptep + n, pfn + n

    def _contpte_ptep_test_and_clear_young(self, vma, addr: int, ptep: int) -> int:
        """contpte.c:302-325: Accessed cleared over the whole block, without unfolding."""
        first = ptep & ~(CONT_PTES - 1)
        start = addr & ~(CONT_PTE_SIZE - 1)
        young = 0
        for i in range(CONT_PTES):
            young |= self._ptep_test_and_clear_young(vma, start + (i << PAGE_SHIFT), first + i)
        return young

    def _contpte_ptep_set_access_flags(self, vma, addr: int, ptep: int, entry: int, dirty: int) -> int:
        """contpte.c:395-489: in place over the block unless write permission changes."""
        first = ptep & ~(CONT_PTES - 1)
        want = entry & _ACCESS_FLAGS
        if all(self._get(p) & _ACCESS_FLAGS == want for p in range(first, first + CONT_PTES)):
            return 0
        orig = self._get(ptep) & ~PTE_CONT
        if orig & _PAGE_RW == entry & _PAGE_RW:
            start = addr & ~(CONT_PTE_SIZE - 1)
            for i in range(CONT_PTES):
                self._ptep_set_access_flags(vma, start + (i << PAGE_SHIFT), first + i, entry, 0)
            if dirty:
                self._flush_tlb_range_nosync(vma.mm, start, start + CONT_PTE_SIZE, True)
                self.dsb_ish()
        else:
            self._contpte_unfold(vma.mm, addr, ptep, orig)
            self._ptep_set_access_flags(vma, addr, ptep, entry, dirty)
        return 1

    # ---- what the explorer's invariants ask of the hardware --------------------------------
    def dirty_recorded(self, pfn: int) -> bool:
        """A store through a contiguous TLB entry dirties the entry it was filled from, which
        may be a sibling's: ptep_get ORs the block (contpte.c:155-180), and so does this."""
        first = self.cont_blocks.get(pfn & ~(CONT_PTES - 1))
        if first is None:
            return False
        table = self.tables.get(first >> PTE_TABLE_SHIFT)
        if table is None:
            return False
        i = first & PTE_INDEX_MASK
        base = pfn & ~(CONT_PTES - 1)
        block = table[i:i + CONT_PTES]
        if not all(_valid_cont(p) and p >> PFN_SHIFT == base + j for j, p in enumerate(block)):
            return False
        return any(pte_dirty(p) for p in block)

    def pte_state_words(self, pte: int) -> str:
        """A present entry whose Dirty only the hardware recorded (pte_hw_dirty, PTE_RDONLY
        clear, without pte_sw_dirty's PTE_DIRTY: pgtable.h:123-125): "hw-dirty".
        __ptep_set_access_flags with pte_mkdirty's entry (PTE_DIRTY set) then finds it not
        pte_same, ORs PTE_DIRTY in and flushes; with both bits, it returns at once
        (mm/fault.c:211-244)."""
        hw_only = pte & (_PAGE_PRESENT | _PAGE_HW_DIRTY | _PAGE_DIRTY) == _PAGE_PRESENT | _PAGE_HW_DIRTY
        return "hw-dirty" if hw_only else ""

    def describe_pte(self, pte: int, mm=None, va: int | None = None) -> str:
        """arm64's bits by name: PTE_RDONLY clear (hardware dirty, pgtable-hwdef.h:163) as
        HWDIRTY, PTE_CONT (pgtable-hwdef.h:169) as CONT (6.12)."""
        text = pte_str(pte & ~(_PAGE_HW_DIRTY | PTE_CONT))
        if pte & _PAGE_HW_DIRTY:
            text += " HWDIRTY"
        if pte & PTE_CONT:
            text += " CONT"
        return text


def _gather_blocks(ptep: int, olds: list) -> list:
    """The old entries of [ptep, ptep + len(olds)), each of a contiguous block given the
    Accessed and Dirty of the block's entries among them: a store through a block's TLB
    entry dirtied whichever entry it was made from (D8.7.1), so each old entry of a block
    reports the block's, as contpte_ptep_get does (contpte.c:155-180) and as
    get_and_clear_full_ptes merges them."""
    gathered: dict[int, int] = {}
    for i, old in enumerate(olds):
        if _valid_cont(old):  # pte_dirty of each: a hardware Dirty is PTE_RDONLY clear with PTE_WRITE
            first = (ptep + i) & ~(CONT_PTES - 1)
            gathered[first] = gathered.get(first, 0) | old & _PAGE_ACCESSED | (_PAGE_DIRTY if pte_dirty(old) else 0)
    return [_gather_into(old, gathered[(ptep + i) & ~(CONT_PTES - 1)]) if _valid_cont(old) else old
            for i, old in enumerate(olds)]


def _gather_into(pte: int, bits: int) -> int:
    """pte with the Accessed and Dirty that `bits` (entries of its block OR-ed) hold."""
    if pte_dirty(bits):
        pte = _mkdirty_hw(pte | _PAGE_DIRTY)
    return pte | bits & _PAGE_ACCESSED


def _permission_rank(pte: int) -> int:
    """How much a walk through the entry may do: 2 write (PTE_RDONLY clear), 1 write once
    the hardware clears PTE_RDONLY (DBM), 0 read (pgtable.h:343-356)."""
    if pte & _PAGE_HW_DIRTY:
        return 2
    return 1 if pte & _PAGE_RW else 0


def _invalidate(cpu, context: int, start: int, end: int) -> None:
    """A TLBI performed on `cpu`: every entry of context in [start, end), and the whole of
    any contiguous block entry covering one of them (one TLB entry, D8.7.1)."""
    tlb, blocks = cpu.tlb, cpu.arch_state.blocks
    if end - start >= _ALL:
        tlb.flush_context(context)
        for key in [k for k in blocks if k >> VPN_BITS == context]:
            del blocks[key]
        return
    for va in range(start, end, PAGE_SIZE):
        base = blocks.get(tlb_key(context, va))
        if base is not None:
            for v in range(base, base + CONT_PTE_SIZE, PAGE_SIZE):
                key = tlb_key(context, v)
                if blocks.get(key) == base:
                    del blocks[key]
                    tlb.entries.pop(key, None)
    tlb.flush_range(context, start, end)


class Arm64NoCont(Arm64):
    name = "arm64-nocont"
    description = "arm64 (FEAT_HAFDBS) without CONFIG_ARM64_CONTPTE: no contiguous entries"
    differs = "CONFIG_ARM64_CONTPTE off: ptep_get, set_ptes... are the __ versions (pgtable.h:1809-1827)"
    contpte = False
