"""The rulebook: what core code may and may not do to a PTE, as data.

Each rule says what it forbids in one sentence, why (which architecture breaks
without it, and how), which kernel functions depend on it, and how ptelab checks
it: `debug` rules are preconditions checked on every accessor call by debug mode
(ptelab/debug.py) whatever backend runs; `invariant` rules are safety invariants
checked on machine state (ptelab/machine/coherence.py, the hardware model itself,
and the explorer, ptelab/explore/).  docs/rules.md is generated from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

DEBUG = "debug"
INVARIANT = "invariant"


@dataclass(frozen=True)
class Rule:
    """A rule of the rulebook: what it says, why, where the kernel keeps it, how debug mode checks it."""

    id: str
    statement: str
    reason: str
    archs: tuple[str, ...]
    kernel: tuple[str, ...]
    check: str
    how: str
    shown_by: tuple[str, ...] = ()  # litmus tests, then unit tests, that show the failure it prevents


RULES: tuple[Rule, ...] = (
    Rule(
        "set-nonvalid",
        "set_pte_at and set_ptes only write over an entry that is not valid (none, swap or migration).",
        "powerpc64 hash records in a valid PTE whether and where it is hashed; overwriting it loses the "
        "slot, so the stale HPTE is never invalidated and a second one can be inserted (the seed thread). "
        "On x86 and Xen the overwritten entry may still be cached by a TLB or hypervisor shadow with no "
        "flush owed by anyone; arm64 needs break-before-make.  ppc32 keeps the hash bit, but its HPTE "
        "still translates the overwritten entry, and a Dirty hash_page set after the caller read the "
        "entry is overwritten.",
        ("ppc64-6.12", "ppc64-2.6.27", "x86", "xen", "arm64", "ppc32"),
        ("do_anonymous_page", "finish_fault", "insert_pfn", "remap_pte_range", "copy_pte_range",
         "move_ptes", "do_swap_page", "wp_page_copy"),
        DEBUG,
        "before set_pte_at/set_ptes: the entry must not be present",
        ("litmus/rule-set-nonvalid.litmus", "tests/test_debug.py::test_set_nonvalid",),
    ),
    Rule(
        "relax-only",
        "ptep_set_access_flags only adds Accessed, Dirty, write or exec to a valid entry of the same frame.",
        "x86 does not flush in ptep_set_access_flags (a stricter stale TLB entry only costs a spurious "
        "fault), so a removed permission would stay usable in TLBs; powerpc64 ORs the new bits into the "
        "PTE, so a removal is silently ignored.  Xen PV uses x86's (a set_pte hypercall only when dirty, "
        "arch/x86/mm/pgtable.c:502-512, no flush); ppc32 ORs the bits in too "
        "(arch/powerpc/include/asm/book3s/32/pgtable.h:328-338).",
        ("x86", "ppc64-6.12", "ppc64-2.6.27", "xen", "ppc32"),
        ("handle_pte_fault", "wp_page_reuse", "do_wp_page"),
        DEBUG,
        "before ptep_set_access_flags: same frame, and no protection or state bit of the current entry "
        "is missing from the new one",
        ("litmus/rule-relax-only.litmus", "tests/test_debug.py::test_relax_only",),
    ),
    Rule(
        "prot-pairing",
        "ptep_modify_prot_start and ptep_modify_prot_commit are strictly paired on one entry, nothing else "
        "touches that entry in between, and the pair completes under one hold of the PTE lock.",
        "Xen's start only reads the entry, which stays valid, and its commit is one MMU_PT_UPDATE_PRESERVE_AD "
        "request that keeps the A/D bits the hardware set meanwhile (arch/x86/xen/mmu_pv.c:351-373, 6.12): "
        "anything else written in between is overwritten, and writing the new entry any other way wipes "
        "a Dirty set after start (litmus/xen-commit-without-preserve-ad.litmus); "
        "powerpc64 queues the hash invalidation in start and must see the commit before the lock goes.",
        ("xen", "ppc64-6.12", "ppc64-2.6.27", "x86", "ppc32"),
        ("change_pte_range",),
        DEBUG,
        "start while a start is pending, commit without its start, another accessor on the entry in "
        "between, or unlock/leave lazy mode with a start pending",
        ("litmus/rule-prot-pairing.litmus", "litmus/xen-commit-without-preserve-ad.litmus",
         "tests/test_debug.py::test_prot_pairing",),
    ),
    Rule(
        "lock-held",
        "Every accessor that changes a user PTE runs with that PTE table's lock held by the calling CPU.",
        "Core code serialises faults, mprotect, zap and reclaim on the PTE lock; only hardware walkers "
        "and powerpc's hash_page (which uses _PAGE_BUSY instead) go without it.",
        ("x86", "ppc64-6.12", "ppc64-2.6.27", "xen", "ppc32", "s390", "arm64", "ia64"),
        ("every caller of a PTE-changing accessor",),
        DEBUG,
        "before every changing accessor: the PTE table's lock is held by this CPU",
        ("litmus/rule-lock-held.litmus", "tests/test_debug.py::test_lock_held",),
    ),
    Rule(
        "lazy-no-readback",
        "Inside a lazy-MMU section, no accessor reads an entry this CPU wrote in the same section.",
        "Xen batches writes into a multicall issued at arch_leave_lazy_mmu_mode (arch/x86/xen/mmu_pv.c:"
        "312-328, 2172-2178, 6.12): until then the page table still holds the old value, and code that "
        "reads back its own write sees it (a flush decided by the read-back is skipped: "
        "litmus/xen-lazy-readback.litmus).",
        ("xen",),
        ("change_pte_range", "copy_pte_range", "zap_pte_range", "remap_pte_range", "move_ptes"),
        DEBUG,
        "ptep_get or a read-modify-write of an entry written (set_pte_at, set_ptes, pte_clear, commit) "
        "earlier in the same lazy section",
        ("litmus/rule-lazy-no-readback.litmus", "litmus/xen-lazy-readback.litmus",
         "tests/test_xen.py::test_lazy_mode_queues_until_leave_and_a_read_back_sees_the_old_entry",
         "tests/test_debug.py::test_lazy_no_readback",),
    ),
    Rule(
        "flush-before-reuse",
        "Inside a lazy-MMU section, once a valid entry has been cleared, no valid entry is written to it "
        "until a flush covering it has been issued: ptep_clear_flush or the mmu_gather at once, "
        "flush_tlb_* and the batch itself at the end of the section (ptep_modify_prot_commit excepted: "
        "the architecture's start/commit owns that).",
        "powerpc64 hash: the clear only queues the invalidation of the old HPTE, and the new entry is "
        "written unhashed, so a store that faults on the old HPTE makes hash_page insert a second one: "
        "a duplicate hash entry, architecturally illegal (machine checks, partition killed). This is "
        "the bug of the seed thread, there in mprotect, and of 6.12's MADV_FREE. Inside lazy-MMU mode a hash MMU's flush_tlb_* "
        "do nothing: the batch is issued when the section ends. Outside a section the invalidation is "
        "immediate, and once the section has ended (before the PTE lock is released, flush-before-unlock) "
        "another CPU's fault may make the entry valid again before the x86 TLB flush: the old frame is "
        "still allocated until then (flush-before-free).  ppc32 never inserts a duplicate (the clear keeps "
        "_PAGE_HASHPTE, so hash_page rewrites the old HPTE), but that HPTE translates the old entry until "
        "flush_hash_pages, lazy section or not: a store through it after the entry was cleaned is lost "
        "(litmus/ppc32-reuse-before-flush.litmus shows the old frame outliving the call).",
        ("ppc64-6.12", "ppc64-2.6.27", "ppc32"),
        ("page_mkclean_one (flushes first)", "madvise_free_pte_range (does not)", "try_to_unmap_one"),
        DEBUG,
        "before set_pte_at/set_ptes of a valid entry: no clear of that entry made in the current "
        "lazy-MMU section is still unflushed",
        ("litmus/rule-flush-before-reuse.litmus", "litmus/op-madv-free.litmus", "tests/test_ppc64_mprotect_race.py::test_2_6_27_and_6_12_create_a_duplicate_hash_entry",
         "tests/test_madvise_free_race.py::test_hash_mmus_get_a_duplicate_hash_entry",
         "litmus/ppc32-reuse-before-flush.litmus", "tests/test_debug.py::test_flush_before_reuse"),
    ),
    Rule(
        "flush-before-free",
        "A frame that a cleared entry mapped is freed only after a flush covering that entry.",
        "Any TLB, hash entry or shadow still holding the translation reaches the frame after it was "
        "freed and reused: another process's memory.  The mmu_gather exists for this.",
        ("x86", "ppc64-6.12", "ppc64-2.6.27", "xen", "ppc32", "s390", "arm64", "ia64"),
        ("zap_pte_range + tlb_finish_mmu", "wp_page_copy", "shrink_folio_list", "try_to_unmap_one"),
        DEBUG,
        "when a frame is freed: no unflushed clear of an entry mapping it is pending; the hardware model "
        "also reports any access through a stale translation as use-after-free",
        ("litmus/unmap-free-before-flush.litmus", "tests/test_machine.py::test_unmap_without_flush_is_a_use_after_free",
         "tests/test_debug.py::test_flush_before_free"),
    ),
    Rule(
        "flush-before-unlock",
        "Lazy-MMU mode is left, and every deferred update issued, before the PTE lock is released.",
        "powerpc64 hash issues its queued invalidations at arch_leave_lazy_mmu_mode; after unlock another "
        "CPU may write a new entry over one whose old HPTE is still valid.  Xen's batched writes would be "
        "invisible to the next lock holder.  ppc32 has no batch, but a flush made after the unlock leaves "
        "a writable HPTE valid after the entry was cleared (lost dirty).",
        ("ppc64-6.12", "ppc64-2.6.27", "xen", "ppc32"),
        ("change_pte_range", "copy_pte_range", "zap_pte_range", "move_ptes", "madvise_free_pte_range"),
        DEBUG,
        "at PTE-lock release: this CPU is not in lazy-MMU mode and has no start pending",
        ("litmus/rule-flush-before-unlock.litmus", "tests/test_debug.py::test_flush_before_unlock",),
    ),
    Rule(
        "atomic-clear",
        "A present entry is cleared with an accessor that returns its old value atomically "
        "(ptep_get_and_clear and friends), never with pte_clear.",
        "x86's walker sets Dirty with a locked update at any time: a read followed by a plain clear loses "
        "a Dirty set in between, and the data written through it (lost dirty).",
        ("x86", "xen", "arm64", "ppc64-6.12", "ppc64-2.6.27", "ppc32"),
        ("zap_pte_range", "try_to_unmap_one", "ptep_clear_flush"),
        DEBUG,
        "before pte_clear/pte_clear_not_present_full: the entry must not be present",
        ("litmus/lost-dirty-nonatomic-clear.litmus", "tests/test_accessors.py::test_x86_walker_never_sets_dirty_on_a_cleared_entry",
         "tests/test_debug.py::test_atomic_clear"),
    ),
    Rule(
        "break-before-make",
        "A valid entry is never replaced by a valid entry of another frame unless a flush came between "
        "(not even through modify_prot commit), and on arm64 a live contiguous block is never changed "
        "in place but for Accessed, Dirty and write permission.",
        "arm64 requires break-before-make for a change of output address or contiguity: two TLB entries "
        "for one page with different frames or sizes is a TLB conflict abort or loss of coherency (Arm "
        "ARM D8.17; pgattr_change_is_safe, arch/arm64/mm/mmu.c:122-159); a TLBI breaks only once the "
        "DSB of the CPU that issued it completes.  A permission change needs none, but a block whose "
        "entries differ may be cached with any entry's permissions (D8.7.1): arm64 write-protects whole "
        "blocks only (contpte_wrprotect_ptes, arch/arm64/mm/contpte.c:348-363).",
        ("arm64", "arm64-nocont"),
        ("wp_page_copy (clears and flushes first)", "change_pte_range", "contpte_convert"),
        DEBUG,
        "before a valid write over a clear no flush has covered (set_pte_at, set_ptes, commit): same "
        "frame as the cleared entry (flush_tlb_page_nosync counts at this CPU's dsb); on arm64 also an "
        "invariant of the hardware model: a CPU that can hold two conflicting translations",
        ("litmus/rule-break-before-make.litmus", "litmus/arm64-bbm-set-then-flush.litmus",
         "litmus/arm64-dsb-wrong-cpu.litmus", "tests/test_debug.py::test_break_before_make"),
    ),
    Rule(
        "no-lost-dirty",
        "No store is lost: an entry the hardware may update (Accessed and Dirty) is changed in place only "
        "with an atomic update that keeps what the hardware wrote (xchg, a locked bit operation, a cmpxchg "
        "loop), never with a load and a store.",
        "arm64's MMU records Dirty by clearing PTE_RDONLY (DBM) and sets the Access flag, x86's walker sets "
        "Accessed and Dirty, at any moment: a store computed from an older load wipes them, and the data "
        "written in between is recorded nowhere (lost dirty).  arm64's accessors loop on cmpxchg "
        "(__ptep_set_access_flags, ___ptep_set_wrprotect, __ptep_test_and_clear_young).",
        ("x86", "arm64", "arm64-nocont"),
        ("__ptep_set_access_flags (arch/arm64/mm/fault.c:211-244)", "___ptep_set_wrprotect",
         "__ptep_test_and_clear_young", "__clear_young_dirty_ptes (not: a load and a store)"),
        INVARIANT,
        "the explorer's lost-dirty invariant; debug mode's set-nonvalid and atomic-clear forbid core code "
        "a store over a valid entry",
        ("litmus/arm64-rmw-lost-dirty.litmus", "litmus/arm64-cmpxchg-wrprotect.litmus",
         "litmus/op-madv-free.litmus"),
    ),
    Rule(
        "flush-dirty-shared-before-unlock",
        "A present, dirty entry of a page that is not anonymous (its Dirty goes to the page) is flushed "
        "from every TLB before the PTE lock is released once it is cleared (zap), and mremap flushes the "
        "old range before releasing the PTE locks whenever it moved a present entry; only reclaim's "
        "batched flush may wait, since it holds the page lock and flushes before writeback.",
        "page_mkclean (writeback) meets a zap only on the PTE lock: once the lock is dropped it finds the "
        "entry none, cleans the page and writes it out while another CPU still stores through its stale "
        "writable TLB entry, a store recorded nowhere (Linux 3.15, 1cf35d47712d 'mm: split tlb_flush_mmu() "
        "into tlb flushing and memory freeing parts'; 6.12 mm/memory.c:1495-1525 force_flush and "
        "1685-1687).  mremap moves the entry: a flush after the unlock lets a truncation of the new "
        "address free the page while the old TLB entry still reaches it (CVE-2018-18281, eb66ae030829 "
        "'mremap: properly flush TLB before releasing the page'; 6.12 mm/mremap.c:208-231).",
        ("x86", "xen", "arm64", "ppc32"),
        ("zap_pte_range", "move_ptes"),
        DEBUG,
        "at PTE-lock release: no present, dirty entry of a page that is not anonymous that this CPU "
        "cleared under the lock is still unflushed (reclaim's batch excepted); mremap's part is seen by "
        "the explorer (use-after-free)",
        ("litmus/zap-dirty-shared-noflush.litmus", "litmus/zap-dirty-shared-flush.litmus",
         "tests/test_contracts.py::test_debug_mode_sees_a_dirty_shared_clear_unflushed_at_unlock"),
    ),
    Rule(
        "flush-batched-pending",
        "An operation that takes a PTE lock to change entries of an mm, or to skip entries it finds none "
        "or not present, first flushes what reclaim cleared in that mm and has not flushed yet "
        "(flush_tlb_batched_pending), so it never returns while a translation reclaim left is cached.",
        "Reclaim's try_to_unmap(TTU_BATCH_FLUSH) clears entries and defers the shootdown past the PTE "
        "lock (x86, arm64: ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH).  mprotect, munmap, MADV_DONTNEED or mremap "
        "that then finds the entry not present has nothing to flush, and returns while a CPU can still "
        "use the old translation: a write after mprotect(PROT_READ), an access after munmap (Linux 4.12, "
        "3ea277194daa 'mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving "
        "stale TLB entries'; 6.12 mm/rmap.c:750-765, called from mm/memory.c:1602, mm/mprotect.c:108, "
        "mm/mremap.c:187, mm/madvise.c:443,674).",
        ("x86", "xen", "arm64"),
        ("zap_pte_range", "change_pte_range", "move_ptes", "madvise_free_pte_range", "madvise_cold_or_pageout_pte_range"),
        INVARIANT,
        "explorer: the operation's contract at its return (explore/invariants.py)",
        ("litmus/rule-flush-batched-pending.litmus", "litmus/rule-flush-batched-pending-fixed.litmus",
         "litmus/op-reclaim-madvise.litmus", "litmus/op-reclaim-mprotect.litmus",
         "tests/test_contracts.py::test_an_operation_that_skips_the_flush_reclaim_deferred_breaks_its_promise"),
    ),
    Rule(
        "flush-nested",
        "A zap that ends its mmu_gather while another flush of the same mm is still pending "
        "(mm_tlb_flush_nested) flushes the whole range, gathered or not, before it returns.",
        "Two zaps of one range race under the read side of mmap_lock (munmap's or MADV_FREE's against "
        "MADV_DONTNEED): the first clears the entries and drops the PTE lock with its flush deferred to "
        "tlb_finish_mmu; the second finds them none, gathers nothing, and would return while a CPU still "
        "uses what the first removed (Linux 4.13, 99baac21e458 'mm: fix MADV_[FREE|DONTNEED] TLB flush "
        "miss problem'; 6.12 mm/mmu_gather.c:472-498 tlb_finish_mmu, include/linux/mm_inline.h:514-524).",
        ("x86", "xen", "arm64", "ia64"),
        ("tlb_finish_mmu",),
        INVARIANT,
        "explorer: the zap's contract at its return (explore/invariants.py)",
        ("litmus/rule-flush-nested.litmus", "litmus/rule-flush-nested-fixed.litmus",
         "tests/test_contracts.py::test_a_zap_that_skips_the_nested_flush_breaks_its_promise"),
    ),
    Rule(
        "no-stale-translation",
        "When an operation that reduced or removed a mapping returns, no TLB, hash entry or shadow grants "
        "more than the PTE does.",
        "Every architecture: the callers of ptep_set_wrprotect (fork, flush_tlb_mm after the loop) and of "
        "change_protection (flush_tlb_range after) owe this flush, a pairing the seed thread calls fragile.",
        ("x86", "ppc64-6.12", "ppc64-2.6.27", "xen", "ppc32", "s390", "arm64", "ia64"),
        ("dup_mmap", "change_protection", "page_mkclean", "clear_refs_write"),
        INVARIANT,
        "machine/coherence.py after every operation of the property tests and workloads",
        ("litmus/rule-no-stale-translation.litmus", "litmus/arm64-cont-wrprotect-noflush.litmus",
         "litmus/arm64-cont-wrprotect-partial.litmus",
         "tests/test_mm_properties.py (translations_are_coherent, after every step)",),
    ),
    Rule(
        "no-duplicate-hash-entry",
        "A virtual page never has two valid entries in the hash table.",
        "Architecturally illegal on powerpc hash MMUs: anything from a wrong translation to a machine "
        "check or checkstop.  ppc32 cannot break it with the kernel's accessors: a cleared entry keeps "
        "_PAGE_HASHPTE until flush_hash_pages, and hash_page then looks for the old HPTE first.",
        ("ppc64-6.12", "ppc64-2.6.27"),
        ("hash_page", "everything that clears a hashed PTE"),
        INVARIANT,
        "hash_page's insertion checks the hash table (machine/hash_table.py)",
        ("litmus/seed-mprotect.litmus", "tests/test_ppc64_mprotect_race.py::test_2_6_27_and_6_12_create_a_duplicate_hash_entry",),
    ),
)

BY_ID = {rule.id: rule for rule in RULES}


@dataclass(frozen=True)
class Invariant:
    """An outcome the explorer reports (litmus `forbid`/`expect` names it): what it says, how
    it is checked, and the rules of the rulebook whose breach leads to it."""

    id: str
    statement: str
    how: str
    rules: tuple[str, ...] = ()
    shown_by: tuple[str, ...] = ()


# The outcomes that are not rule ids themselves (break-before-make is both: see its rule).
INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        "use-after-free",
        "No access, through a TLB entry, a hash-table entry or a page walk, reaches a frame that was freed.",
        "the hardware model, at the access: the translation's frame allocation is not the frame's current one",
        ("flush-before-free",),
        ("litmus/unmap-free-before-flush.litmus",),
    ),
    Invariant(
        "stale-translation",
        "Once no operation is changing a PTE, no CPU can use a translation of it that grants more than the "
        "PTE does (another frame, a write over a read-only entry, any access over a non-present one).",
        "the explorer, after every step, on every watched page: every TLB entry and cached translation "
        "against its PTE",
        ("no-stale-translation", "flush-before-unlock"),
        ("litmus/rule-no-stale-translation.litmus",),
    ),
    Invariant(
        "lost-dirty",
        "A user store that reached a frame stays recorded where software sees it (a Dirty PTE, PG_dirty, "
        "an old entry an accessor returned, the architecture's own record) until its data is on the "
        "backing store (the file's block, the swap slot): never may reclaim discard it as clean.",
        "the explorer, when no operation is changing a watched PTE: the frame's data against its "
        "backing store and every record of its dirtiness",
        ("atomic-clear",),
        ("litmus/lost-dirty-nonatomic-clear.litmus",),
    ),
    Invariant(
        "duplicate-hash-entry",
        "A virtual page never has two valid entries in the hash table.",
        "hash_page's insertion (the hardware model)",
        ("no-duplicate-hash-entry", "flush-before-reuse"),
        ("litmus/seed-mprotect.litmus",),
    ),
    Invariant(
        "deadlock",
        "Some CPU can always go on: no execution ends with every unfinished CPU waiting for a lock another "
        "holds, or spinning in a loop whose reads no CPU left can change (a livelock, named by its line).",
        "the explorer: no actor is enabled while some have not finished",
        (),
        ("litmus/spin-livelock.litmus",),
    ),
    Invariant(
        "torn-transaction",
        "While a transaction commits, a lockless walker (the MMU, hash_page, GUP-fast) finds each entry it "
        "changes as it was, as one of its intents leaves it, or granting less (none, PROT_NONE); never more, "
        "and never a moved frame at both its source and its destination.  A batch is not all-or-nothing to "
        "lockless walkers in Linux (change_pte_range writes entry by entry, 6.12 mm/mprotect.c:86-294; "
        "gup_fast_pte_range checks each entry alone, mm/gup.c:2935-3024); lock holders see all or nothing "
        "because the commit holds every PTE lock of its range.",
        "the explorer, after every step that writes an entry of a committing transaction (txn.Observable)",
    ),
    Invariant(
        "gup-unmapped-page",
        "A page GUP-fast keeps for an address is the page the entry maps there, granting what it asked "
        "(a write for FOLL_WRITE), at the moment it keeps its reference: it reads the entry, takes the "
        "reference, and reads the entry again, dropping the reference if it changed (6.12 "
        "mm/gup.c:2946-2987).  Each entry alone: of a range, it may take some pages before a transaction "
        "and some after, as any lockless walker (torn-transaction).",
        "the explorer, at the step GUP-fast keeps a reference (mm/gup.py)",
    ),
    Invariant(
        "pin-replaced",
        "While a page is pinned for write (pin_user_pages, FOLL_PIN | FOLL_WRITE), the mm that pinned it "
        "maps no other page at that address, unless it unmapped the page there (munmap, MADV_DONTNEED, "
        "truncation, reclaim): what is written through the pin (DMA) is what the process reads.  fork "
        "keeps it by copying a maybe-pinned anonymous page for the child instead of sharing it COW "
        "(page_needs_cow_for_dma, 6.12 include/linux/mm.h:1958-1967, mm/memory.c:1030-1045) and by "
        "making GUP-fast back off while it write-protects (write_protect_seq, mm/memory.c:1401-1419, "
        "mm/gup.c:3401-3432).",
        "the explorer, after every step that writes the entry of a pinned address (mm/gup.py)",
    ),
    Invariant(
        "bug",
        "The model's own consistency checks hold: no mapped page is freed, no lock is released that is not "
        "held.  A bug outcome is an error of the scenario or of ptelab, not of a rule.",
        "the machine model's assertions (BadPageState, LockError)",
    ),
)

INVARIANT_BY_ID = {invariant.id: invariant for invariant in INVARIANTS}

