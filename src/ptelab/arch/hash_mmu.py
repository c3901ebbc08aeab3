"""What the powerpc hash MMUs share, 64-bit (ppc64_hash.py) and 32-bit (ppc32_hash.py).

The MMU never reads the Linux page tables: it searches the hashed page table
(machine/hash_table.py) for the page's HPTE and loads its TLB from it (Power ISA Book
III-S, "Hashed Page Table Search"; the 32-bit Programming Environments manual, 7.6).
A miss, or a store to a read-only HPTE, is a storage interrupt that Linux handles in
hash_page (arch/powerpc/kernel/exceptions-64s.S do_hash_page; head_book3s_32.S), which
makes or updates the HPTE, and the access is retried.  The TLB is also filled
speculatively, but only from the hash table: hash_page runs for real accesses only.

A backend derived from HashMmu sets `HASHPTE` (its PTE's "hashed" bit), calls
`_init_hash` with its VSID scheme, and supplies `hash_page(mm, va, vpn, write)`.
"""

from __future__ import annotations

from ..pte import _PAGE_PRESENT, _PAGE_RW, _PAGE_USER
from ..machine.hash_table import HPTE_R_PP, HPTE_V_VALID, HPTES_PER_GROUP, PP_RW, HashPageTable
from .generic import GenericArch

HASH_OK, HASH_PAGE_FAULT = 0, 1  # hash_page: retry the access / take a Linux page fault


class HashMmu(GenericArch):
    HASHPTE = 0  # the PTE bit saying an HPTE was made from it

    def pte_access_permitted(self, pte: int, write: bool) -> bool:
        """6.12 arch/powerpc/include/asm/book3s/64/pgtable.h:528-541: present, user and readable
        (PROT_NONE is not), and writable for a write (pkeys, arch_pte_access_permitted, are not
        modelled); ppc32's (book3s/32/pgtable.h:425-436) asks no user bit, which every user
        entry of the model has."""
        need = _PAGE_PRESENT | _PAGE_USER | (_PAGE_RW if write else 0)
        return pte & need == need

    def _init_hash(self, machine, hash_groups: int, vpn) -> None:
        self.hpt = HashPageTable(hash_groups, vpn=vpn)
        nslots = hash_groups * HPTES_PER_GROUP
        self.hpte_gen = [0] * nslots
        self.hpte_seq = [0] * nslots  # the PTE write each HPTE was made from
        machine.hash_table = self.hpt
        self._all_tlbs = tuple(("tlb", cpu.id) for cpu in machine.cpus)

    def hash_page(self, mm, va: int, vpn: int, write: bool, nohpte: bool) -> int:
        """`nohpte`: the access found no HPTE (DSISR_NOHPTE), not one without the permission."""
        raise NotImplementedError(f"{self.name}: no hash_page")

    # ---- the MMU: hash search, then hash_page ----------------------------------------------
    def _fill_from(self, cpu, mm, va: int, slot: int, writable: bool):
        pfn, _ = self.hpt.entry(slot)
        return self.fill_tlb(cpu, mm, va, None, pfn, writable, self.hpte_gen[slot], self.hpte_seq[slot])

    def tlb_miss(self, cpu, mm, va: int, write: bool):
        vpn = self.hpt.vpn(mm.context, va)
        # The access is retried after each hash_page.  Two retries always suffice for a
        # legal hash table; with a duplicate entry (already reported) the search may keep
        # finding the stale one, which real hardware leaves undefined: give up, as a fault.
        for _ in range(3):
            self._sched(("hash", vpn), False, "hash table search", also=(("tlb", cpu.id),))
            slot = self.hpt.find(vpn)
            if slot >= 0:
                writable = self.hpt.entry(slot)[1] & HPTE_R_PP == PP_RW
                if writable or not write:
                    return self._fill_from(cpu, mm, va, slot, writable)
            self._only_read(("tlb", cpu.id))  # nothing filled (a fill says so itself: fill_tlb)
            # no valid HPTE found sets DSISR_NOHPTE, "no translation found"; one without the
            # permission, DSISR_PROTFAULT (6.12 arch/powerpc/include/asm/reg.h:309, 312)
            if self.hash_page(mm, va, vpn, write, slot < 0) == HASH_PAGE_FAULT:
                return None
        return None

    def _flush_everywhere(self, mm, va: int) -> None:
        """tlbie: every CPU's TLB drops the page.  One that holds no entry for it is only read
        (the step's footprint says so), so the flush and that CPU's steps commute unless one
        of them fills the entry."""
        for cpu, loc in zip(self.machine.cpus, self._all_tlbs):
            if cpu.tlb.holds(mm.context, va):
                cpu.tlb.flush_page(mm.context, va)
            else:
                self._only_read(loc)

    def tlb_prefetch(self, cpu, mm, va: int) -> None:
        """The MMU loads a TLB entry from the hash table on its own; it never runs
        hash_page, which only a real access's interrupt reaches."""
        vpn = self.hpt.vpn(mm.context, va)
        self._sched(("hash", vpn), False, "speculative hash search", also=(("tlb", cpu.id),))
        slot = self.hpt.find(vpn)
        if slot >= 0:
            self._fill_from(cpu, mm, va, slot, self.hpt.entry(slot)[1] & HPTE_R_PP == PP_RW)
        else:
            self._only_read(("tlb", cpu.id))

    # ---- what the explorer's invariants and the state machines ask of the hardware ---------
    def hashed(self, pte: int) -> bool:
        return bool(pte & self.HASHPTE)

    def _slot_translation(self, slot: int) -> tuple:
        pfn, rflags = self.hpt.entry(slot)
        return f"HPTE slot {slot}", pfn, self.hpte_gen[slot], rflags & HPTE_R_PP == PP_RW, self.hpte_seq[slot]

    def cached_translations(self, mm, va: int):
        """Every valid HPTE for (mm, va): the MMU uses it without looking at the PTE."""
        found = []
        for slot in self.hpt.valid_slots(self.hpt.vpn(mm.context, va)):
            where, pfn, gen, writable, seq = self._slot_translation(slot)
            found.append((where, pfn, gen, writable, None, seq))
        return found

    def cache_locations(self, mm, va: int) -> tuple:
        return (("hash", self.hpt.vpn(mm.context, va)),)

    def all_cached_translations(self):
        hpt = self.hpt
        for slot, v in enumerate(hpt.v):
            if v & HPTE_V_VALID:
                context, va = hpt.owner[slot]
                where, pfn, gen, writable, seq = self._slot_translation(slot)
                yield where, context, va, pfn, gen, writable, seq

    def abstract_caches(self, mm, addr: int) -> str:
        slots = self.hpt.valid_slots(self.hpt.vpn(mm.context, addr))
        if not slots:
            return "hash none"
        kinds = sorted({"rw" if self.hpt.entry(s)[1] & HPTE_R_PP == PP_RW else "ro" for s in slots})
        return "hash " + "+".join(kinds) + (" DUPLICATE" if len(slots) > 1 else "")

    @staticmethod
    def kernel_view_cache(pte_class: str, hashed: bool, cache: str) -> str:
        """The page's HPTEs as a powerpc developer tells them apart, against its PTE, not by
        slot or by their own PP bits:
        - nothing, when no HPTE is valid, or when every valid one is what the PTE's hashed
          bit promises and grants no more than the PTE (a read-only HPTE under a writable
          PTE is upgraded by hash_page on a store): "hashed" says it (_PAGE_HASHPTE,
          book3s/32/pgtable.h:22; H_PAGE_HASHPTE, whose pte_update queues the HPTE's
          invalidation, book3s/64/hash.h:216-217, 6.12);
        - "stale HPTE" / "stale writable HPTE": it grants more than the PTE (any access
          to a cleared or swapped entry, a store to a read-only one); with "hashed" on a
          cleared ppc32 entry this is the cleared-but-hash-pending state (the bit is kept
          until flush_hash_pages, pgtable.h:216-217, 314-319);
        - "unrecorded HPTE": it grants no more, but the PTE no longer records it (rewritten
          without the hashed bit; only a queued invalidation or an eviction removes it);
        - "DUPLICATE HPTE": two valid entries for one page, architecturally illegal."""
        if cache in ("-", "hash none"):
            return ""
        if "DUPLICATE" in cache:
            return "DUPLICATE HPTE"
        kinds = cache.split(",")[0].split()[1].split("+")  # before what the architecture adds after a comma
        present = pte_class not in ("none", "swap")
        if "rw" in kinds and not pte_class.startswith("rw"):
            return "stale writable HPTE"
        if not present:
            return "stale HPTE"
        return "" if hashed else "unrecorded HPTE"

    def evict_cached(self, mm, addr: int) -> bool:
        """The hash table evicts an entry (a full group: native_hpte_remove on ppc64, the
        round-robin next_slot of create_hpte on ppc32)."""
        slots = self.hpt.valid_slots(self.hpt.vpn(mm.context, addr))
        for slot in slots:
            self.hpt.v[slot] = 0
        return bool(slots)
