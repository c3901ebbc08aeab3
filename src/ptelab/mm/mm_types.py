"""mm_struct, vm_area_struct, anon_vma and address_space (include/linux/mm_types.h, fs.h).

Reverse mapping works as in the kernel, without per-page lists: a page records its
`mapping` (an AnonVma or an AddressSpace) and `index`; the vmas attached to that
object say where it can be mapped, at vma.start + (index - vma.pgoff) pages.  An
anonymous vma's pgoff is its start address in pages, kept across mremap, so a
moved page is still found.  fork attaches the child's vmas to the parent's
anon_vma (the kernel chains a new anon_vma to it; the walk visits the same vmas).
"""

from __future__ import annotations

from bisect import bisect_right

from ..machine.pagetable import PageDirectory
from ..pte import PAGE_SHIFT, VM_SHARED, VM_WRITE, vm_get_page_prot


class AnonVma:
    def __init__(self):
        self.vmas: list[VMA] = []


class AddressSpace:
    """A file's page cache (`pages`: index -> pfn) over its backing store."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size
        self.pages: dict[int, int] = {}
        self.store: dict[int, int] = {}
        self.i_mmap: list[VMA] = []

    def __repr__(self) -> str:
        return f"<file {self.name}>"


class VMA:
    __slots__ = ("mm", "start", "end", "flags", "page_prot", "pgoff", "file", "anon_vma",
                 "vm_lock", "vm_lock_seq", "detached")

    def __init__(self, mm, start: int, end: int, flags: int, pgoff: int, file=None):
        self.mm = mm
        self.vm_lock = mm.machine.rwsem_class(f"vm_lock({start:#x})")  # the per-vma lock
        self.vm_lock_seq = -1  # == mm.mm_lock_seq while an mmap_lock writer has it locked
        self.detached = False  # removed from the mm (a fault that found it walks again)
        self.start = start
        self.end = end
        self.flags = flags
        self.pgoff = pgoff
        self.file = file
        self.anon_vma = None
        self.page_prot = 0
        vma_set_page_prot(self)

    def __repr__(self) -> str:
        return f"<vma {self.start:#x}-{self.end:#x} flags {self.flags:#x}>"


def vma_wants_writenotify(vma: VMA) -> bool:
    """6.12 mm/vma.c:1910-1939 (vma_wants_writenotify).
    Shared writable file mappings track dirtiness by write faults (mm/mmap.c)."""
    return bool(vma.file is not None and vma.flags & VM_SHARED and vma.flags & VM_WRITE)


def vma_set_page_prot(vma: VMA) -> None:
    """6.12 mm/mmap.c:81-93 (vma_set_page_prot)."""
    flags = vma.flags & ~VM_SHARED if vma_wants_writenotify(vma) else vma.flags
    vma.page_prot = vm_get_page_prot(flags)


def linear_page_index(vma: VMA, addr: int) -> int:
    """6.12 include/linux/pagemap.h:1067-1074 (linear_page_index)."""
    return ((addr - vma.start) >> PAGE_SHIFT) + vma.pgoff


def vma_address(vma: VMA, index: int) -> int | None:
    """6.12 mm/internal.h:1004-1022 (vma_address).
    Where `index` of the vma's object is mapped in it, if it is."""
    addr = vma.start + ((index - vma.pgoff) << PAGE_SHIFT)
    return addr if vma.start <= addr < vma.end else None


class MM(PageDirectory):
    """An mm_struct: the page tables (as the MMU sees them) plus the vmas."""

    def __init__(self, kernel):
        super().__init__(kernel.machine)
        self.kernel = kernel
        self.machine = kernel.machine
        self.vmas: list[VMA] = []
        self.tlb_flush_pending = 0
        self.tlb_flush_batched = False
        self.mmap_base = 0x10000000
        self.mmap_lock = kernel.machine.rwsem_class(f"mmap_lock(mm {self.context})")
        self.mm_lock_seq = 0  # mm_lock_seq: odd while mmap_lock is held for write
        self.write_protect_seq = 0  # odd while fork write-protects it (6.12 include/linux/mm_types.h:964-969)
        self.has_pinned = False  # MMF_HAS_PINNED: something pinned a page of it once (mm/gup.py)

    def find_vma(self, addr: int) -> VMA | None:
        """The vma containing addr, or None."""
        i = bisect_right(self.vmas, addr, key=lambda v: v.start) - 1
        if i >= 0 and addr < self.vmas[i].end:
            return self.vmas[i]
        return None

    def vmas_in(self, start: int, end: int) -> list[VMA]:
        return [v for v in self.vmas if v.start < end and v.end > start]

    def insert_vma(self, vma: VMA) -> None:
        self.machine.shared(("vmas", self.context), True)  # faults walk the list locklessly
        i = bisect_right(self.vmas, vma.start, key=lambda v: v.start)
        self.vmas.insert(i, vma)
        link_vma(vma)

    def remove_vma(self, vma: VMA) -> None:
        """The vma leaves the mm (vma_mark_detached): a fault that found it walks again."""
        self.machine.shared(("vmas", self.context), True)
        self.vmas.remove(vma)
        vma.detached = True

    def __repr__(self) -> str:
        return f"<mm context {self.context}>"


def link_vma(vma: VMA) -> None:
    """6.12 mm/vma.c:1626-1640 (vma_link): the vma joins its file's i_mmap and its anon_vma."""
    if vma.file is not None:
        vma.file.i_mmap.append(vma)
    if vma.anon_vma is not None:
        vma.anon_vma.vmas.append(vma)


def unlink_vma(vma: VMA) -> None:
    """6.12 mm/vma.c:1600-1611 (unlink_file_vma), and unlink_anon_vmas (mm/rmap.c:404-)."""
    if vma.file is not None:
        vma.file.i_mmap.remove(vma)
    if vma.anon_vma is not None:
        vma.anon_vma.vmas.remove(vma)


def anon_vma_prepare(vma: VMA) -> AnonVma:
    """6.12 include/linux/rmap.h:159-165 (anon_vma_prepare) with __anon_vma_prepare (mm/rmap.c:186-238)."""
    if vma.anon_vma is None:
        vma.anon_vma = AnonVma()
        vma.anon_vma.vmas.append(vma)
    return vma.anon_vma
