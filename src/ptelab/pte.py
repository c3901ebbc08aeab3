"""The PTE value and the kernel's pte_* helpers.

A pte_t is a machine word in the kernel, and a plain Python int here: immutable,
hashable, and an order of magnitude cheaper than an object, which matters when a
workload rewrites a million entries.  The layout is the model's own, shared by
every backend, loosely after x86 (arch/x86/include/asm/pgtable_types.h):

    bit  0  PRESENT    the hardware may use the entry
    bit  1  RW         writable
    bit  2  USER       user-accessible
    bit  3  ACCESSED   "young": set by a hardware walker or a software fault
    bit  4  DIRTY      set on the first write through the entry
    bit  5  EXEC       executable (positive sense, unlike x86's NX)
    bit  6  SPECIAL    no struct page behind it (insert_pfn, remap_pfn_range)
    bit  7  PROTNONE   present to software, not to hardware (PROT_NONE, x86 _PAGE_PROTNONE)
    bit  8  SWP        non-present entry holding a swp_entry_t
    bits 9-14          architecture bits (powerpc: BUSY, HASHPTE, slot; arm64: PTE_CONT); only the
                       backend reads them
    bit 15  HW_DIRTY   the hardware recorded a store in the entry itself, apart from DIRTY: arm64's
                       DBM clears PTE_RDONLY (AP[2]), kept here inverted, so that a cleared bit is
                       what every other backend has (arch/arm64/include/asm/pgtable.h:123-125,
                       pte_hw_dirty/pte_sw_dirty/pte_dirty); the helpers below treat it as arm64's do
    bits 16-           page frame number, or the swp_entry_t of a non-present entry

pte_none() ignores the architecture bits, as ppc32 does with _PTE_NONE_MASK
(it never clears _PAGE_HASHPTE until the hash entry is flushed).
"""

from __future__ import annotations

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PTRS_PER_PTE = 512
PMD_SHIFT = PAGE_SHIFT + 9
PMD_SIZE = 1 << PMD_SHIFT

_PAGE_PRESENT = 1 << 0
_PAGE_RW = 1 << 1
_PAGE_USER = 1 << 2
_PAGE_ACCESSED = 1 << 3
_PAGE_DIRTY = 1 << 4
_PAGE_EXEC = 1 << 5
_PAGE_SPECIAL = 1 << 6
_PAGE_PROTNONE = 1 << 7
_PAGE_SWP = 1 << 8

ARCH_BITS_SHIFT = 9
ARCH_MASK = 0x7F << ARCH_BITS_SHIFT
_PAGE_HW_DIRTY = 1 << 15  # arm64: PTE_RDONLY clear (hardware-dirty); 0 on every other backend
PFN_SHIFT = 16
PFN_MASK = ~((1 << PFN_SHIFT) - 1)

# Bits kept across a change of protection (x86 _PAGE_CHG_MASK; powerpc adds _PAGE_HPTEFLAGS).
_PAGE_CHG_MASK = PFN_MASK | ARCH_MASK | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SPECIAL
_PAGE_PROT_MASK = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_EXEC | _PAGE_PROTNONE

pte_t = int
pgprot_t = int

# Protections, as the kernel's protection_map builds them (mm/mmap.c): a private
# mapping is never writable in its PTEs, so the first write takes a COW fault.
PAGE_NONE = _PAGE_PROTNONE | _PAGE_USER | _PAGE_ACCESSED
PAGE_READONLY = _PAGE_PRESENT | _PAGE_USER
PAGE_READONLY_EXEC = PAGE_READONLY | _PAGE_EXEC
PAGE_SHARED = _PAGE_PRESENT | _PAGE_USER | _PAGE_RW
PAGE_SHARED_EXEC = PAGE_SHARED | _PAGE_EXEC
PAGE_COPY = PAGE_READONLY
PAGE_COPY_EXEC = PAGE_READONLY_EXEC

# VMA flags (include/linux/mm.h)
VM_READ = 0x1
VM_WRITE = 0x2
VM_EXEC = 0x4
VM_SHARED = 0x8
VM_MAYWRITE = 0x20
VM_PFNMAP = 0x400


def vm_get_page_prot(vm_flags: int) -> pgprot_t:
    """protection_map[] lookup (mm/mmap.c vm_get_page_prot)."""
    if not vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
        return PAGE_NONE
    prot = PAGE_READONLY
    if vm_flags & VM_WRITE and vm_flags & VM_SHARED:
        prot |= _PAGE_RW
    if vm_flags & VM_EXEC:
        prot |= _PAGE_EXEC
    return prot


# ---- construction -----------------------------------------------------------------

def pfn_pte(pfn: int, prot: pgprot_t) -> pte_t:
    return (pfn << PFN_SHIFT) | prot


def mk_pte(page: int, prot: pgprot_t) -> pte_t:
    """A page is named by its pfn in the model (struct page lives in mem_map[pfn])."""
    return (page << PFN_SHIFT) | prot


# ---- predicates -------------------------------------------------------------------

def pte_none(pte: pte_t) -> bool:
    return not pte & ~ARCH_MASK


def pte_present(pte: pte_t) -> bool:
    return bool(pte & (_PAGE_PRESENT | _PAGE_PROTNONE))


def pte_protnone(pte: pte_t) -> bool:
    return bool(pte & _PAGE_PROTNONE) and not pte & _PAGE_PRESENT


def pte_accessible(pte: pte_t) -> bool:
    """Could a TLB hold a translation derived from this entry? (x86 pte_accessible)"""
    return bool(pte & _PAGE_PRESENT)


def pte_write(pte: pte_t) -> bool:
    return bool(pte & _PAGE_RW)


def pte_dirty(pte: pte_t) -> bool:
    """Software or hardware dirty (arm64 pgtable.h:123-125: PTE_DIRTY || (PTE_WRITE && !PTE_RDONLY))."""
    return bool(pte & _PAGE_DIRTY) or pte & _HW_WRITABLE == _HW_WRITABLE


_HW_WRITABLE = _PAGE_RW | _PAGE_HW_DIRTY


def pte_hw_dirty(pte: pte_t) -> bool:
    """Dirty recorded by the hardware (arm64 pgtable.h:123); never on other backends."""
    return pte & _HW_WRITABLE == _HW_WRITABLE


def pte_sw_dirty(pte: pte_t) -> bool:
    return bool(pte & _PAGE_DIRTY)


def pte_young(pte: pte_t) -> bool:
    return bool(pte & _PAGE_ACCESSED)


def pte_exec(pte: pte_t) -> bool:
    return bool(pte & _PAGE_EXEC)


def pte_user(pte: pte_t) -> bool:
    return bool(pte & _PAGE_USER)


def pte_special(pte: pte_t) -> bool:
    return bool(pte & _PAGE_SPECIAL)


def pte_pfn(pte: pte_t) -> int:
    return pte >> PFN_SHIFT


def pte_same(a: pte_t, b: pte_t) -> bool:
    return a == b


# ---- modifiers (each returns a new value) ------------------------------------------

def pte_mkwrite(pte: pte_t) -> pte_t:
    return pte | _PAGE_RW


def pte_wrprotect(pte: pte_t) -> pte_t:
    """A hardware Dirty moves to the software bit, and the hardware may no longer write
    (arm64 pgtable.h:236-248, setting PTE_RDONLY)."""
    if pte_hw_dirty(pte):
        pte |= _PAGE_DIRTY
    return pte & ~(_PAGE_RW | _PAGE_HW_DIRTY)


def pte_mkdirty(pte: pte_t) -> pte_t:
    return pte | _PAGE_DIRTY


def pte_mkclean(pte: pte_t) -> pte_t:
    """Both kinds of Dirty go (arm64 pgtable.h:218-224 sets PTE_RDONLY too)."""
    return pte & ~(_PAGE_DIRTY | _PAGE_HW_DIRTY)


def pte_mkyoung(pte: pte_t) -> pte_t:
    return pte | _PAGE_ACCESSED


def pte_mkold(pte: pte_t) -> pte_t:
    return pte & ~_PAGE_ACCESSED


def pte_mkspecial(pte: pte_t) -> pte_t:
    return pte | _PAGE_SPECIAL


def pte_mkexec(pte: pte_t) -> pte_t:
    return pte | _PAGE_EXEC


def pte_modify(pte: pte_t, newprot: pgprot_t) -> pte_t:
    """Keep frame, Accessed, Dirty, special and arch bits; take the rest from newprot.  A
    hardware Dirty is kept as the software bit, since newprot sets PTE_RDONLY again (arm64
    pgtable.h:1151-1173; the backend clears it again for a writable, dirty entry)."""
    if pte_hw_dirty(pte):
        pte |= _PAGE_DIRTY
    return (pte & _PAGE_CHG_MASK & ~_PAGE_HW_DIRTY) | newprot


def maybe_mkwrite(pte: pte_t, vm_flags: int) -> pte_t:
    return pte | _PAGE_RW if vm_flags & VM_WRITE else pte


# ---- swap and migration entries (include/linux/swapops.h) -------------------------
# swp_entry_t is an int too: type in the low 5 bits, offset above.  Migration
# entries use the top swap types, as the kernel's SWP_MIGRATION_* do.

SWP_TYPE_BITS = 5
MAX_SWAPFILES = 30
SWP_MIGRATION_READ = 30
SWP_MIGRATION_WRITE = 31

swp_entry_t = int


def swp_entry(type_: int, offset: int) -> swp_entry_t:
    return (offset << SWP_TYPE_BITS) | type_


def swp_type(entry: swp_entry_t) -> int:
    return entry & ((1 << SWP_TYPE_BITS) - 1)


def swp_offset(entry: swp_entry_t) -> int:
    return entry >> SWP_TYPE_BITS


def swp_entry_to_pte(entry: swp_entry_t) -> pte_t:
    return (entry << PFN_SHIFT) | _PAGE_SWP


def pte_to_swp_entry(pte: pte_t) -> swp_entry_t:
    return pte >> PFN_SHIFT


def is_swap_pte(pte: pte_t) -> bool:
    return not pte_none(pte) and not pte_present(pte)


def make_migration_entry(page: int, write: bool) -> swp_entry_t:
    return swp_entry(SWP_MIGRATION_WRITE if write else SWP_MIGRATION_READ, page)


def is_migration_entry(entry: swp_entry_t) -> bool:
    return swp_type(entry) in (SWP_MIGRATION_READ, SWP_MIGRATION_WRITE)


def is_write_migration_entry(entry: swp_entry_t) -> bool:
    return swp_type(entry) == SWP_MIGRATION_WRITE


def migration_entry_to_page(entry: swp_entry_t) -> int:
    return swp_offset(entry)


# the 6.12 names (include/linux/swapops.h:263-291, 508-516); the model's entries carry no
# Accessed/Dirty bits (as on an architecture without migration_entry_supports_ad)
def make_readable_migration_entry(offset: int) -> swp_entry_t:
    return make_migration_entry(offset, False)


def make_writable_migration_entry(offset: int) -> swp_entry_t:
    return make_migration_entry(offset, True)


def is_writable_migration_entry(entry: swp_entry_t) -> bool:
    return is_write_migration_entry(entry)


def pfn_swap_entry_to_page(entry: swp_entry_t) -> int:
    return swp_offset(entry)


# ---- presentation ------------------------------------------------------------------

_FLAG_NAMES = (
    (_PAGE_RW, "W"), (_PAGE_USER, "U"), (_PAGE_ACCESSED, "A"), (_PAGE_DIRTY, "D"),
    (_PAGE_EXEC, "X"), (_PAGE_SPECIAL, "S"), (_PAGE_PROTNONE, "N"),
)


_FLAG_MEANINGS = {"W": "writable", "U": "user", "A": "accessed (young)", "D": "dirty", "X": "executable",
                  "S": "special", "N": "PROT_NONE"}
# The key to pte_str's letters, for a person reading a step table.
FLAG_KEY = ", ".join(f"{letter} {_FLAG_MEANINGS[letter]}" for _, letter in _FLAG_NAMES)


def pte_str(pte: pte_t) -> str:
    """A one-line rendering for tables and messages, e.g. 'pfn 7 WUAD'."""
    arch = (pte & ARCH_MASK) >> ARCH_BITS_SHIFT
    suffix = f" arch={arch:#x}" if arch else ""
    if pte_none(pte):
        return "none" + suffix
    if not pte_present(pte):
        entry = pte_to_swp_entry(pte)
        kind = "migration" if is_migration_entry(entry) else f"swap type {swp_type(entry)}"
        return f"{kind} offset {swp_offset(entry)}" + suffix
    flags = "".join(name for bit, name in _FLAG_NAMES if pte & bit)
    return f"pfn {pte_pfn(pte)} {flags or '-'}" + suffix
