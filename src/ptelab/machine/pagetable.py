"""An address space as the MMU sees it: a context tag and a directory of PTE tables.

The upper levels (PGD/P4D/PUD) are folded: `pmd[va >> PMD_SHIFT]` is the pfn of
the PTE-table page that maps va, 512 entries covering 2 MiB, as on x86-64 and
ppc64 with 4K pages.  `context` tags the TLB entries (PCID/ASID, or the VSID's
context on powerpc) and `cpumask` is mm_cpumask(): the CPUs that may hold them.
The generic mm_struct (mm/mm_types.py) extends this.
"""

from ..pte import PMD_SHIFT, PAGE_SHIFT, PTRS_PER_PTE
from .memory import PTE_TABLE_SHIFT


def pte_index(va: int) -> int:
    return (va >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)


class PageDirectory:
    def __init__(self, machine):
        self.context = machine.new_context()
        machine.address_spaces[self.context] = self
        self.pmd: dict[int, int] = {}
        self.cpumask: set[int] = set()
        self.tlb_gen = 0  # x86 mm->context.tlb_gen: bumped by every flush of the mm
        self._tables = machine.mem.ptes

    def entry(self, va: int) -> int:
        """The entry mapping va now, 0 when no table maps it: a raw read, for the
        model's own checks and reports, not an access by code being modelled."""
        table = self._tables.get(self.pmd.get(va >> PMD_SHIFT))
        return 0 if table is None else table[pte_index(va)]

    def pte_offset(self, va: int):
        """pte_offset_map(): the PTE pointer for va, or None when no table maps it."""
        table = self.pmd.get(va >> PMD_SHIFT)
        if table is None:
            return None
        return (table << PTE_TABLE_SHIFT) | pte_index(va)
