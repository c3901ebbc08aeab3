"""Counters for every event that costs on real hardware.

Backends add their own names with `describe`; an unknown name still counts (a
Counter), so a later backend never breaks an earlier table.
"""

from collections import Counter

TLB_FLUSH_PAGE = "tlb_flush_page"
TLB_FLUSH_FULL = "tlb_flush_full"
TLB_FLUSH_REMOTE = "tlb_flush_remote"
IPI = "ipi"
ATOMIC_RMW = "atomic_rmw"
PTE_LOCK = "pte_lock"
HW_WALK = "hw_walk"
PAGE_FAULT = "page_fault"
HASH_FAULT = "hash_fault"
HASH_INSERT = "hash_insert"
HASH_EVICT = "hash_evict"
HASH_INVALIDATE = "hash_invalidate"
TLBIE = "tlbie"
HASH_BATCH_FLUSH = "hash_batch_flush"
HASH_LOCK = "mmu_hash_lock"
XEN_HYPERCALL = "xen_hypercall"
XEN_MC_ENTRY = "xen_multicall_entry"
XEN_MMU_UPDATE = "xen_mmu_update"
XEN_TRAPPED_WRITE = "xen_trapped_write"
XEN_TLB_FLUSH = "xen_tlb_flush"
TLBI_VALE1IS = "tlbi_vale1is"
TLBI_VAE1IS = "tlbi_vae1is"
TLBI_ASIDE1IS = "tlbi_aside1is"
TLBI_RVALE1IS = "tlbi_rvale1is"
TLBI_RVAE1IS = "tlbi_rvae1is"
DSB_ISH = "dsb_ish"
CMPXCHG_RETRY = "cmpxchg_retry"
CONTPTE_FOLD = "contpte_fold"
CONTPTE_UNFOLD = "contpte_unfold"
IPTE_GLOBAL = "ipte"
IPTE_LOCAL = "ipte_local"
IDTE = "idte"
IPTE_RANGE = "ipte_range"
LAZY_INVALIDATE = "lazy_invalidate"
PTC_L = "ptc_l"
PTC_GA = "ptc_ga"
IA64_AD_FAULT = "ad_fault"
ISKE = "iske"
SSKE = "sske"
RRBE = "rrbe"

DESCRIPTIONS = {
    TLB_FLUSH_PAGE: "local single-page TLB invalidations (invlpg)",
    TLB_FLUSH_FULL: "local whole-context TLB flushes",
    TLB_FLUSH_REMOTE: "TLB flushes performed on another CPU's behalf",
    IPI: "inter-processor interrupts sent for shootdowns",
    ATOMIC_RMW: "locked read-modify-writes of a PTE (software or hardware walker)",
    PTE_LOCK: "PTE-lock acquisitions",
    HW_WALK: "hardware page-table walks (TLB misses)",
    PAGE_FAULT: "page faults taken to the generic fault handler",
    HASH_FAULT: "hash misses handled by hash_page",
    HASH_INSERT: "hash-table entries inserted",
    HASH_EVICT: "hash-table entries evicted from a full group",
    HASH_INVALIDATE: "hash-table entries invalidated",
    TLBIE: "broadcast tlbie instructions",
    HASH_BATCH_FLUSH: "per-CPU hash invalidation batches flushed",
    HASH_LOCK: "acquisitions of ppc32's global mmu_hash_lock (hash_page, flush_hash_pages)",
    XEN_HYPERCALL: "hypercalls (mmu_update, mmuext_op, multicall)",
    XEN_MC_ENTRY: "multicall entries issued",
    XEN_MMU_UPDATE: "PTE updates validated and made by the hypervisor",
    XEN_TRAPPED_WRITE: "direct PTE writes trapped and emulated by Xen",
    XEN_TLB_FLUSH: "TLB flush operations done by the hypervisor (MMUEXT_*)",
    TLBI_VALE1IS: "arm64 broadcast TLBIs of one page, last level (TLBI VALE1IS)",
    TLBI_VAE1IS: "arm64 broadcast TLBIs of one page, all levels (TLBI VAE1IS)",
    TLBI_ASIDE1IS: "arm64 broadcast TLBIs of a whole ASID (TLBI ASIDE1IS)",
    TLBI_RVALE1IS: "arm64 broadcast TLBIs of a range of pages, last level (TLBI RVALE1IS, FEAT_TLBIRANGE)",
    TLBI_RVAE1IS: "arm64 broadcast TLBIs of a range of pages, all levels (TLBI RVAE1IS, FEAT_TLBIRANGE)",
    DSB_ISH: "arm64 DSB ISH barriers completing this CPU's TLBIs",
    CMPXCHG_RETRY: "compare-and-exchange updates of a PTE that failed and looped",
    CONTPTE_FOLD: "arm64 contiguous blocks made (contpte_set_ptes or a fold)",
    CONTPTE_UNFOLD: "arm64 contiguous blocks unfolded (contpte_convert)",
    IPTE_GLOBAL: "s390 IPTEs: invalidate an entry and purge it from every CPU's TLB",
    IPTE_LOCAL: "s390 IPTEs with the local-clearing control (this CPU's TLB only)",
    IPTE_RANGE: "s390 IPTEs with the range option: up to 256 consecutive entries invalidated and purged",
    IDTE: "s390 IDTEs: purge a whole address space from every CPU's TLB",
    LAZY_INVALIDATE: "s390 lazy invalidations: the invalid bit set, the purge owed (flush_mm)",
    PTC_L: "ia64 local TLB purges (ptc.l)",
    PTC_GA: "ia64 global TLB purges broadcast by the hardware (ptc.ga)",
    IA64_AD_FAULT: "ia64 Access-bit and Dirty-bit faults handled in ivt.S",
    ISKE: "s390 ISKEs: a frame's storage key read (page_get_storage_key)",
    SSKE: "s390 SSKEs: a frame's storage key set (page_set_storage_key)",
    RRBE: "s390 RRBEs: a frame's reference bit read and reset",
}


class Counters(Counter):
    """Event name -> count."""

    def describe(self, name: str) -> str:
        return DESCRIPTIONS.get(name, name.replace("_", " "))
