"""The names the survey looks for, and what each one does to a PTE.

The surface is ptelab's (accessors.SURFACE), plus the batch forms of 6.12's
include/linux/pgtable.h (set_ptes 268, clear_young_dirty_ptes 489,
get_and_clear_full_ptes 681, clear_full_ptes 719, clear_not_present_full_ptes
784, wrprotect_ptes 853) and the modify_prot batch forms of later kernels.
"""

from __future__ import annotations

from ..accessors import SURFACE

BATCH = ("set_ptes", "clear_young_dirty_ptes", "get_and_clear_full_ptes", "clear_full_ptes",
         "clear_not_present_full_ptes", "wrprotect_ptes", "modify_prot_start_ptes", "modify_prot_commit_ptes")
MORE = ("ptep_clear", "pte_clear_not_present_full", "ptep_get_lockless", "flush_tlb_batched_pending")

ACCESSORS: tuple[str, ...] = tuple(dict.fromkeys((*SURFACE, *BATCH, *MORE)))

# What a call does, when it is not followed into a definition.
CLEAR = {"ptep_get_and_clear", "ptep_get_and_clear_full", "pte_clear", "ptep_clear", "get_and_clear_full_ptes",
         "clear_full_ptes", "ptep_modify_prot_start", "modify_prot_start_ptes"}
CLEAR_FLUSH = {"ptep_clear_flush"}  # clear, and flush before returning (when not followed)
SET = {"set_pte_at", "set_ptes"}
COMMIT = {"ptep_modify_prot_commit", "modify_prot_commit_ptes"}  # excepted by flush-before-reuse
READ = {"ptep_get", "ptep_get_lockless"}
START = {"ptep_modify_prot_start", "modify_prot_start_ptes"}
# What lazy-no-readback counts as writing an entry, and as reading one back (read-modify-writes too).
WRITES = SET | COMMIT | {"pte_clear", "pte_clear_not_present_full"}  # rules.py: lazy-no-readback's "how"
READS = {"ptep_get_and_clear", "ptep_get_and_clear_full", "ptep_set_wrprotect", "ptep_set_access_flags",
         "ptep_test_and_clear_young", "ptep_modify_prot_start"}
LAZY_ENTER = {"arch_enter_lazy_mmu_mode"}
LAZY_LEAVE = {"arch_leave_lazy_mmu_mode"}
# Flushes that are issued at once, even inside a lazy-MMU section (rules.py, flush-before-reuse).
FLUSH_NOW = {"tlb_flush_mmu", "tlb_flush_mmu_tlbonly"}
# Everything the inventory reports as "the flush that follows".
FLUSHES = {"flush_tlb_page", "flush_tlb_range", "flush_tlb_mm", "flush_tlb_fix_spurious_fault",
           "tlb_remove_tlb_entry", "tlb_remove_tlb_entries", "tlb_flush_pte_range", "tlb_flush_mmu",
           "tlb_flush_mmu_tlbonly", "tlb_finish_mmu", "ptep_clear_flush", "ptep_clear_flush_young",
           "set_tlb_ubc_flush_pending", "flush_tlb_kernel_range", "arch_leave_lazy_mmu_mode",
           "flush_tlb_batched_pending", "tlb_flush_rmaps"}

# Calls never followed into their definitions: their meaning is the accessor's.
LEAVES = (CLEAR | SET | READ | LAZY_ENTER | LAZY_LEAVE | FLUSHES
          | {"pte_clear_not_present_full", "ptep_set_wrprotect", "ptep_set_access_flags",
             "ptep_test_and_clear_young", "update_mmu_cache", "update_mmu_cache_range", "spin_lock",
             "spin_unlock", "pte_offset_map_lock", "pte_alloc_map_lock", "pte_unmap_unlock", "page_vma_mapped_walk",
             "page_vma_mapped_walk_done", "lockdep_assert_held"}) - {
    "ptep_clear", "get_and_clear_full_ptes", "clear_full_ptes", "ptep_modify_prot_start", "modify_prot_start_ptes",
    "ptep_clear_flush", "ptep_clear_flush_young"}
# Accessors whose definition is followed when the architecture's (or the generic) one has a body.
COMPOUND = {"ptep_clear_flush", "ptep_clear_flush_young", "ptep_modify_prot_start", "ptep_modify_prot_commit",
            "ptep_clear", "clear_young_dirty_ptes", "get_and_clear_full_ptes", "clear_full_ptes",
            "wrprotect_ptes", "modify_prot_start_ptes", "modify_prot_commit_ptes", "clear_not_present_full_ptes"}

LOCK = {"spin_lock", "spin_lock_nested", "spin_trylock", "pte_offset_map_lock", "pte_alloc_map_lock",
        "__pte_offset_map_lock", "page_vma_mapped_walk", "lockdep_assert_held"}
UNLOCK = {"spin_unlock", "pte_unmap_unlock", "page_vma_mapped_walk_done"}

# The value a call returns, for "is the entry stored valid?".
VALUE_READ = READ | {"READ_ONCE"}
VALUE_CLEAR = CLEAR | CLEAR_FLUSH
NONPRESENT_MAKERS = {"swp_entry_to_pte", "make_pte_marker", "__swp_entry_to_pte", "pte_swp_mksoft_dirty",
                     "pte_swp_mkuffd_wp", "pte_swp_clear_uffd_wp", "pte_swp_clear_soft_dirty",
                     "pte_swp_mkexclusive", "pte_swp_clear_exclusive", "make_pte_marker_entry",
                     "pte_mkuffd_wp_marker"}
# Locks that are not PTE locks though their variables are called ptl (a huge PMD's, a PUD's, hugetlb's).
OTHER_LOCKS = {"pmd_trans_huge_lock", "pmd_lock", "pud_trans_huge_lock", "pud_lock", "huge_pte_lock",
               "pmd_lockptr", "pud_lockptr", "huge_pte_lockptr"}
NEW_ENTRY = {"mk_pte", "pfn_pte", "folio_mk_pte", "mk_huge_pte", "pte_mkspecial", "pte_mkdevmap"}
# pte_* helpers that keep a present entry present (include/linux/pgtable.h and the arch headers).
PRESENT_KEEPERS_PREFIX = ("pte_mk", "pte_clear_", "pte_wrprotect", "pte_modify", "pte_advance_pfn")

VOCABULARY = set(ACCESSORS) | LOCK | UNLOCK | FLUSHES | LAZY_ENTER | LAZY_LEAVE

# Architecture primitives met when following an architecture's definition
# (arch/powerpc/include/asm/book3s/64/pgtable.h, pte_update: clears `clr`, sets `set`,
# and queues the hash invalidation of a hashed entry in hpte_need_flush).
ARCH_PRIMITIVES = {"powerpc": {"pte_update"}}


def arch_primitive_kind(arch: str | None, name: str, args: tuple[str, ...]) -> str | None:
    """'clear' when the architecture's primitive makes the entry invalid (powerpc: pte_update clearing
    _PAGE_PRESENT, or every bit), 'update' otherwise."""
    if arch is None or name not in ARCH_PRIMITIVES.get(arch, ()):
        return None
    if name == "pte_update" and len(args) >= 4:
        clr = args[3]
        if "_PAGE_PRESENT" in clr or clr.replace(" ", "") in ("~0UL", "~0", "~0ul"):
            return "clear"
        return "update"
    return "update"
