"""What a litmus body may name: accessors, pte_* helpers, page-table and lock helpers,
the mmu_gather, generic mm operations by their kernel names, user accesses, constants.

Each function is a `Function(call, params)`: `call(env, *args)` and the parameter
names (their number is checked when the file is read).  `env` is the running block:
its mm, its CPU, the world it runs in.
"""

from __future__ import annotations

import errno
import inspect
from dataclasses import dataclass
from functools import cached_property

from .. import pte as _pte
from ..accessors import SURFACE
from ..arch.generic import GenericArch
from ..machine.memory import PG_anon, PG_dirty, PG_swapbacked, PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..machine.spinlock import LockError, SpinLock
from ..mm.mm_types import MM, VMA, AddressSpace
from ..mm import madvise, memory, migrate, mmap, mmap_lock, mprotect, mremap, pgtable, rmap, swapfile, task_mmu
from ..mm import gup, page_writeback, truncate, vmscan
from ..mm.mm_types import vma_set_page_prot
from ..mm.fault import user_read, user_write
from ..mm.fork import dup_mm
from ..mmu_gather import (
    MmuGather,
    dec_tlb_flush_pending,
    inc_tlb_flush_pending,
    mm_tlb_flush_nested,
    tlb_finish_mmu,
    tlb_flush_mmu,
    tlb_flush_mmu_free,
    tlb_flush_mmu_tlbonly,
    tlb_gather_mmu,
    tlb_remove_page,
    tlb_remove_tlb_entry,
)


class BadArgument(Exception):
    """A body gave a function what it cannot take; the message says what, in kernel terms."""


@dataclass(frozen=True)
class Function:
    """A function a litmus body may call: the model's code, its parameters, what it does."""

    call: object
    params: tuple[str, ...]  # an optional parameter is written [name]
    doc: str = ""

    @property
    def required(self) -> int:
        return sum(1 for p in self.params if not p.startswith("["))

    def signature(self, name: str) -> str:
        return f"{name}({', '.join(self.params)})"

    @cached_property
    def kinds(self) -> tuple:
        """Per parameter: (test(env, value), what it must be, where to get one)."""
        return tuple(KINDS.get(p.strip("[]"), NUMBER) for p in self.params)

    def with_kind(self, param: str, kind: tuple) -> Function:
        """The same function, whose argument `param` must be of another kind."""
        fn = Function(self.call, self.params, self.doc)
        fn.__dict__["kinds"] = tuple(kind if p == param else k for p, k in zip(self.params, self.kinds))
        return fn

    @cached_property
    def tests(self) -> tuple:
        """Per parameter, its kind's test(env, value) (wrong() runs them at every call)."""
        return tuple(test for test, _, _ in self.kinds)

    def wrong(self, name: str, env, values) -> str | None:
        """What is wrong with the arguments of a call, or None: each is the kind of thing
        its parameter names (an mm, a vma, a page...) or a number."""
        tests, i = self.tests, 0
        for value in values:
            if not tests[i](env, value):
                _, what, hint = self.kinds[i]
                param = self.params[i].strip("[]")
                if value is None and param == "vma":
                    hint = "no vma contains the address after it (is it mapped?)"
                return f"{name}: argument {i + 1} ({param}) is {describe(value)}, not {what}; {hint}"
            i += 1
        return None


def describe(value) -> str:
    """A value as a kernel developer names it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value) if -65536 < value < 65536 else hex(value)
    for cls, what in _OBJECTS.items():
        if isinstance(value, cls):
            return what
    return "not a value of C"


def _number(env, value) -> bool:
    return isinstance(value, int) and -2**63 <= value < 2**64


def _address(env, value) -> bool:
    return isinstance(value, int) and 0 <= value < 2**64


def _frame(env, value) -> bool:
    return isinstance(value, int) and 0 <= value < len(env.machine.mem.refcount)


def _ptep(env, value) -> bool:
    if not isinstance(value, int) or value < 0:
        return False
    table = env.machine.mem.ptes.get(value >> PTE_TABLE_SHIFT)
    return table is not None and (value & PTE_INDEX_MASK) < len(table)


def _entry(env, pte) -> bool:
    """An entry the kernel writes: none, one of a frame of the machine (present or
    PROT_NONE), a migration entry of such a frame, or a swap entry of a slot in use."""
    if not isinstance(pte, int) or not 0 <= pte < 2**64:
        return False
    if _pte.pte_none(pte):
        return True
    frames = len(env.machine.mem.refcount)
    if _pte.pte_present(pte):
        return _pte.pte_pfn(pte) < frames
    entry = _pte.pte_to_swp_entry(pte)
    if _pte.is_migration_entry(entry):
        return _pte.swp_offset(entry) < frames
    swap = env.world.state["kernel"].swap
    return _pte.swp_type(entry) == swap.type and _pte.swp_offset(entry) in swap.count


def _pgprot(env, prot) -> bool:
    return _number(env, prot) and bool(prot & (_pte._PAGE_PRESENT | _pte._PAGE_PROTNONE))


def _instance(cls):
    return lambda env, value: isinstance(value, cls)


class Ref:
    """`&ptl` handed to a function that returns a second value through it
    (pte_offset_map_lock's spinlock_t **ptlp)."""

    __slots__ = ("vars", "name")

    def __init__(self, vars_: dict, name: str):
        self.vars, self.name = vars_, name

    def set(self, value) -> None:
        self.vars[self.name] = value


NUMBER = (_number, "a number", "C's values here are 64-bit integers")
KINDS = {
    "mm": (_instance(MM), "an mm", "name one: mm, or a fork's name"),
    "vma": (_instance(VMA), "a vma", "write vma before the address (f(vma, A, ...)), or find_vma(mm, A)"),
    "ptl": (_instance(SpinLock), "a PTE lock", "pte_lockptr(A) gives one"),
    "mapping": (_instance(AddressSpace), "a file (struct address_space *)", "mapping_of(A) gives a file page's"),
    "page": (_frame, "a page (a frame number)", "page_of(A) gives one"),
    "ptep": (_ptep, "a PTE pointer", "pte_offset(A) gives one"),
    "addr": (_address, "an address", "a page's name is its address"),
    "tlb": (lambda env, tlb: isinstance(tlb, MmuGather) and tlb.mm is not None, "a gathering struct mmu_gather",
            "declare one (struct mmu_gather tlb;), start it with tlb_gather_mmu(&tlb, mm), pass &tlb"),
    "newprot": (_pgprot, "a page protection (pgprot_t)", "PAGE_NONE, PAGE_READONLY, PAGE_SHARED... as "
                "vm_get_page_prot() gives"),
    "new_vma": (_instance(VMA), "a vma", "find_vma(mm, addr) gives one"),
    "ptlp": (_instance(Ref), "&ptl (a local spinlock_t *)", "declare spinlock_t *ptl; and pass &ptl"),
    "nr": (lambda env, nr: isinstance(nr, int) and 1 <= nr <= _pte.PTRS_PER_PTE, "a number of entries",
           f"from 1 to {_pte.PTRS_PER_PTE}, the entries of one table"),
}
ENTRY = (_entry, "an entry the kernel makes", "none, a present or PROT_NONE entry of a frame of the "
         "machine, or a swap entry in use")
KINDS.update(dst=KINDS["page"], src=KINDS["page"], new_addr=KINDS["addr"], old_addr=KINDS["addr"])
# Parameters that are plain numbers (a new function's parameter is named here or in KINDS:
# tests/test_bad_input.py checks that every one is)
NUMERIC = ("a", "b", "advice", "dirty", "dirty_accountable", "domain", "end", "entry", "even_cows", "flags",
           "full", "gup_flags", "holebegin", "holelen", "len", "lend", "lstart", "new_len", "newsize", "nr_pages",
           "offset", "old_end", "old_len", "old_pte", "pfn", "prot", "pte", "pteval", "size", "start", "type_",
           "value")
_OBJECTS = {MM: "an mm", VMA: "a vma", SpinLock: "a PTE lock", AddressSpace: "a file (struct address_space *)",
            MmuGather: "a struct mmu_gather"}


def _accessor(name: str) -> Function:
    params = tuple(inspect.signature(getattr(GenericArch, name)).parameters)[1:]

    def call(env, *args):
        return getattr(env.machine.arch, name)(*args)
    return Function(call, params, SURFACE.get(name, ""))


def _pure(fn) -> Function:
    params = tuple(inspect.signature(fn).parameters)
    return Function(lambda env, *args: fn(*args), params, (fn.__doc__ or "").strip().split("\n")[0])


def _fn(params: str, doc: str):
    def wrap(call):
        return Function(call, tuple(params.split()), doc)
    return wrap


ACCESSORS = tuple(SURFACE) + ("pte_clear_not_present_full", "flush_tlb_fix_spurious_fault")

PTE_HELPERS = tuple(name for name in dir(_pte) if (name.startswith(("pte_", "is_", "swp_", "mk_pte", "pfn_pte"))
                                                    and inspect.isfunction(getattr(_pte, name))
                                                    and name not in ("pte_str",)))

CONSTANTS: dict[str, int] = {
    name: getattr(_pte, name) for name in dir(_pte)
    if name.isupper() or (name.startswith("_PAGE_") and isinstance(getattr(_pte, name), int))
}
CONSTANTS = {k: v for k, v in CONSTANTS.items() if isinstance(v, int)}
CONSTANTS.update(
    NULL=0, true=1, false=0,
    PROT_NONE=0, PROT_READ=mmap.PROT_READ, PROT_WRITE=mmap.PROT_WRITE,
    MADV_DONTNEED=madvise.MADV_DONTNEED, MADV_FREE=madvise.MADV_FREE,
    TTU_BATCH_FLUSH=rmap.TTU_BATCH_FLUSH, FAULT_FLAG_WRITE=1,
    MREMAP_MAYMOVE=mremap.MREMAP_MAYMOVE, MREMAP_FIXED=mremap.MREMAP_FIXED,
    FOLL_WRITE=gup.FOLL_WRITE, FOLL_GET=gup.FOLL_GET, FOLL_PIN=gup.FOLL_PIN, FOLL_FAST_ONLY=gup.FOLL_FAST_ONLY,
    ish=0b1011,  # dsb(ish): the Inner Shareable domain (CRm of DSB)
)


class NoPageTable(BadArgument):
    """A body named a PTE of an address no page table maps (any more)."""


def _table_of(mm, addr):
    ptep = mm.pte_offset(addr)
    if ptep is None:
        raise NoPageTable(f"no PTE table maps {addr:#x} (pte_offset_map() would return NULL)")
    return ptep


@_fn("addr", "the PTE pointer of addr in this block's mm (pte_offset_map)")
def _pte_offset(env, addr):
    return _table_of(env.mm, addr)


@_fn("mm addr", "the PTE pointer of addr in mm")
def _pte_offset_map(env, mm, addr):
    return _table_of(mm, addr)


@_fn("addr", "the split PTE lock of the table mapping addr in this block's mm")
def _pte_lockptr(env, addr):
    return pgtable.pte_lockptr(env.mm, _table_of(env.mm, addr))


@_fn("ptl", "take a PTE lock (waits while another CPU holds it)")
def _spin_lock(env, ptl):
    pgtable.spin_lock(env.mm, ptl)


@_fn("ptl", "release a PTE lock")
def _spin_unlock(env, ptl):
    # kernel/locking/spinlock_debug.c debug_spin_unlock(): "already unlocked", "wrong CPU"
    if ptl.owner != env.cpu.id:
        why = "already unlocked" if ptl.owner is None else f"wrong CPU (held by CPU#{ptl.owner})"
        raise LockError(f"{why} on CPU#{env.cpu.id}: {ptl.name}")
    pgtable.spin_unlock(env.mm, ptl)


@_fn("mm addr", "the vma of mm containing addr")
def _find_vma(env, mm, addr):
    return mm.find_vma(addr)


@_fn("addr", "a user load by this block's CPU: the value read (faults are handled)")
def _read(env, addr):
    return user_read(env.mm, env.cpu, addr)


@_fn("addr [value]", "a user store of value (default 1) by this block's CPU (faults are handled)")
def _write(env, addr, value=1):
    user_write(env.mm, env.cpu, addr, value)
    return value


@_fn("addr", "the frame page addr mapped in the initial state (struct page *)")
def _page_of(env, addr):
    frames = env.world.state["frames"]
    if addr not in frames:
        raise BadArgument(f"{describe(addr)} is not a page of the test; page_of takes a page's name")
    return frames[addr]


@_fn("addr", "the file (struct address_space *) mapped at addr")
def _mapping_of(env, addr):
    vma = env.mm.find_vma(addr)
    return vma.file if vma is not None else None


@_fn("page", "PageDirty")
def _page_dirty(env, page):
    return int(bool(env.machine.mem.flags[page] & PG_dirty))


@_fn("page", "set_page_dirty")
def _set_page_dirty(env, page):
    rmap.set_page_dirty(env.machine.mem, page)


@_fn("page", "get_page")
def _get_page(env, page):
    env.machine.mem.get_page(page)


@_fn("page", "put_page: the frame is freed when the last reference goes")
def _put_page(env, page):
    env.machine.mem.put_page(page)


@_fn("page", "page_remove_rmap")
def _page_remove_rmap(env, page):
    rmap.page_remove_rmap(env.machine.mem, page, env.mm)


@_fn("tlb mm", "tlb_gather_mmu")
def _tlb_gather_mmu(env, tlb, mm):
    tlb_gather_mmu(tlb, mm)


def _gather(fn, params: str) -> Function:
    return Function(lambda env, *args: fn(*args), tuple(params.split()), fn.__name__)


# ---- generic mm operations, by the kernel functions they mirror ---------------------
def _operation(name: str):
    """An mm operation that promises something at its return: the explorer checks the promise
    then (explore/invariants.py, operation contracts)."""
    def wrap(fn):
        def call(env, *args):
            machine = env.machine
            machine.operation_begin(name)
            result = fn(env, *args)
            machine.operation_end()
            return result
        return call
    return wrap


@_fn("mapping holebegin holelen even_cows", "mm/memory.c: unmap a file range from every mm")
@_operation("unmap_mapping_range")
def _unmap_mapping_range(env, mapping, holebegin, holelen, even_cows):
    memory.unmap_mapping_range(mapping, holebegin, holelen, bool(even_cows))


@_fn("page", "mm/rmap.c: write-protect and clean every PTE mapping page; returns how many")
@_operation("page_mkclean")
def _page_mkclean(env, page):
    return rmap.page_mkclean(env.machine.mem, page)


@_fn("page", "mm/page-writeback.c: page_mkclean, then clear PG_dirty; returns whether it was dirty")
@_operation("clear_page_dirty_for_io")
def _clear_page_dirty_for_io(env, page):
    return int(rmap.clear_page_dirty_for_io(env.machine.mem, page))


@_fn("page", "mm/filemap.c filemap_write_and_wait_range, one page: clear_page_dirty_for_io, then the "
              "write of its content to the file (at once, the earliest the I/O can read it); whether written")
@_operation("write_one_page")
def _write_one_page(env, page):
    if env.machine.mem.mapping[page] is None or env.machine.mem.flags[page] & PG_anon:
        raise BadArgument(f"write_one_page: page {page} is not a page of a file's page cache")
    return int(page_writeback.write_one_page(env.machine.mem, page))


@_fn("page flags", "mm/rmap.c: unmap page everywhere (TTU_BATCH_FLUSH defers the flush)")
def _try_to_unmap(env, page, flags):
    try:
        return int(rmap.try_to_unmap(env.world.state["kernel"], page, flags))
    except rmap.SwapCacheMissing as e:  # the caller's bug: shrink_page calls add_to_swap first
        raise BadArgument(str(e)) from None


@_fn("page", "mm/swap_state.c: give an anonymous page a swap slot (its swap entry for try_to_unmap)")
def _add_to_swap(env, page):
    kernel = env.world.state["kernel"]
    if not env.machine.mem.flags[page] & PG_anon or page in kernel.swap_cache:
        raise BadArgument(f"page {page} is not an anonymous page outside the swap cache")
    return swapfile.add_to_swap(kernel, page)


@_fn("", "mm/rmap.c: the deferred flush of try_to_unmap(TTU_BATCH_FLUSH)")
def _try_to_unmap_flush(env):
    rmap.try_to_unmap_flush(env.world.state["kernel"])


@_fn("page", "mm/vmscan.c: reclaim one page (unmap, swap or write back, free)")
def _shrink_page(env, page):
    return int(vmscan.shrink_page(env.world.state["kernel"], page))


@_fn("vma start size", "mm/memory.c: zap the PTEs of a range (MADV_DONTNEED)")
@_operation("zap_page_range")
def _zap_page_range(env, vma, start, size):
    memory.zap_page_range(vma, start, size)


@_fn("vma start end newprot dirty_accountable", "mm/mprotect.c: change_protection of a range")
@_operation("change_protection")
def _change_protection(env, vma, start, end, newprot, dirty_accountable):
    return mprotect.change_protection(vma, start, end, newprot, bool(dirty_accountable))


@_fn("vma addr flags", "mm/memory.c: handle a fault at addr (flags: FAULT_FLAG_WRITE)")
def _handle_mm_fault(env, vma, addr, flags):
    memory.handle_mm_fault(vma, addr, bool(flags & 1))


def _syscall(fn, *args) -> int:
    """A system call's return: 0, or -errno when it refuses (the model raises MmapError
    with the errno's name first: "EINVAL: ...")."""
    try:
        fn(*args)
    except mmap.MmapError as e:
        return -getattr(errno, str(e).split(":")[0], errno.EINVAL)
    return 0


@_fn("mm start len prot", "mm/mprotect.c: mprotect(2); 0 or -errno")
@_operation("mprotect")
def _mprotect(env, mm, start, length, prot):
    return _syscall(mprotect.do_mprotect, mm, start, length, prot)


@_fn("mm start len", "mm/mmap.c: munmap(2); 0 or -errno")
@_operation("munmap")
def _munmap(env, mm, start, length):
    return _syscall(mmap.vm_munmap, mm, start, length)


@_fn("mm start len advice", "mm/madvise.c: madvise(2), MADV_DONTNEED or MADV_FREE; 0 or -errno")
@_operation("madvise")
def _madvise(env, mm, start, length, advice):
    return _syscall(madvise.do_madvise, mm, start, length, advice)


@_fn("mm", "fs/proc/task_mmu.c: echo 1 > clear_refs (age every PTE)")
def _clear_refs(env, mm):
    return task_mmu.clear_refs(mm)


@_fn("mm", "kernel/fork.c: fork's copy of mm (copy_page_range); the child is not named")
def _dup_mm(env, mm):
    dup_mm(mm)


@_fn("start nr_pages gup_flags", "mm/gup.c gup_fast: GUP-fast of nr_pages from start in this block's mm; "
     "how many it took (the rest: gave up, the slow path is not modelled)")
def _gup_fast(env, start, nr_pages, gup_flags):
    if not 0 < nr_pages <= 16:
        raise BadArgument(f"gup_fast: nr_pages is {describe(nr_pages)}, not 1 to 16 (a test's pages)")
    try:
        return len(gup.gup_fast(env.mm, start, nr_pages, gup_flags))
    except gup.GupFlagsError as e:
        raise BadArgument(str(e)) from None


@_fn("page", "mm/gup.c unpin_user_page: give back a pin GUP-fast took")
def _unpin_user_page(env, page):
    gup.unpin_user_page(env.machine, page)  # of a page not pinned: a kernel BUG, the outcome `bug`


@_fn("page", "include/linux/mm.h folio_maybe_dma_pinned: the page's refcount has a pin's bias")
def _folio_maybe_dma_pinned(env, page):
    return int(gup.folio_maybe_dma_pinned(env.machine.mem, page))


# ---- the words to write kernel sequences by hand (docs/litmus.md "Kernel sequences") --------
@_fn("ptep", "a plain load of the entry: *ptep, READ_ONCE(*ptep)")
def _pte_load(env, ptep):
    return env.machine.arch._get(ptep)


@_fn("ptep pte", "a plain store of the entry: set_pte(ptep, pte), WRITE_ONCE(*ptep, pte), *ptep = pte")
def _pte_store(env, ptep, pte):
    env.machine.arch._set(ptep, pte)


@_fn("mm addr ptlp", "6.12 include/linux/mm.h pte_offset_map_lock, the pmd left out (the model folds "
     "the upper levels): the PTE pointer of addr in mm, its lock taken and stored in *ptlp")
def _pte_offset_map_lock(env, mm, addr, ptlp):
    ptep = _table_of(mm, addr)
    ptl = pgtable.pte_lockptr(mm, ptep)
    pgtable.spin_lock(mm, ptl)
    ptlp.set(ptl)
    return ptep


@_fn("ptep ptl", "pte_unmap_unlock: release the lock pte_offset_map_lock took")
def _pte_unmap_unlock(env, ptep, ptl):
    _spin_unlock.call(env, ptl)


@_fn("vma addr pte", "6.12 mm/memory.c vm_normal_page: the struct page * behind a present entry, "
     "NULL (0) for the zero page and special entries")
def _vm_normal_page(env, vma, addr, pte):
    if not _pte.pte_present(pte):
        return 0
    page = memory.vm_normal_page(vma, addr, pte)
    return 0 if page is None else page


@_fn("pte [vma]", "6.12 include/linux/pgtable.h pte_mkwrite(pte, vma) (the vma chooses shadow-stack "
     "entries, which the model has none of); the one-argument 2.6.27 form too")
def _pte_mkwrite(env, pte, vma=None):  # "[vma]": a bare `vma` is accepted and unused
    return _pte.pte_mkwrite(pte)


@_fn("", "a full memory barrier: a no-op, the model is sequentially consistent at its steps")
def _barrier(env):
    return None


@_fn("mm", "mmap_read_lock (waits while a writer holds mmap_lock)")
def _mmap_read_lock(env, mm):
    mmap_lock.mmap_read_lock(mm)


@_fn("mm", "mmap_read_unlock")
def _mmap_read_unlock(env, mm):
    mmap_lock.mmap_read_unlock(mm)


@_fn("mm", "mmap_write_lock (waits while anyone holds mmap_lock)")
def _mmap_write_lock(env, mm):
    mmap_lock.mmap_write_lock(mm)


@_fn("mm", "mmap_write_unlock (every vma this writer write-locked is unlocked too)")
def _mmap_write_unlock(env, mm):
    mmap_lock.mmap_write_unlock(mm)


@_fn("vma", "vma_start_write: under mmap_write_lock, waits for the faults holding the vma")
def _vma_start_write(env, vma):
    mmap_lock.vma_start_write(vma)


def _vm_flags(change):
    def call(env, vma, flags):
        mmap_lock.vma_start_write(vma)  # 6.12 include/linux/mm.h:884-897
        vma.flags = change(vma.flags, flags)
    return call


@_fn("vma", "vma_set_page_prot: the vma's page protection from its (new) flags")
def _vma_set_page_prot(env, vma):
    vma_set_page_prot(vma)


@_fn("mm addr old_len new_len flags [new_addr]", "mm/mremap.c: mremap(2); the new address or -errno")
def _mremap(env, mm, addr, old_len, new_len, flags, new_addr=None):
    try:
        return mremap.do_mremap(mm, addr, old_len, new_len, flags, new_addr)
    except mmap.MmapError as e:
        return -getattr(errno, str(e).split(":")[0], errno.EINVAL)


@_fn("vma old_addr old_end new_vma new_addr", "mm/mremap.c move_ptes (6.12: clear, set, flush the old "
     "range before unlocking); the caller holds mmap_lock and has made new_vma")
def _move_ptes(env, vma, old_addr, old_end, new_vma, new_addr):
    mremap.move_ptes(vma, old_addr, old_end, new_vma, new_addr)


@_fn("mapping newsize", "mm/truncate.c truncate_setsize: the file's new size in bytes, its pages past "
     "it unmapped and dropped")
def _truncate_setsize(env, mapping, newsize):
    truncate.truncate_setsize(env.machine.mem, mapping, newsize)


@_fn("mapping newsize", "mm/truncate.c truncate_pagecache (bytes): unmap, drop the cached pages, unmap")
def _truncate_pagecache(env, mapping, newsize):
    truncate.truncate_pagecache(env.machine.mem, mapping, newsize)


@_fn("mapping lstart lend", "mm/truncate.c truncate_inode_pages_range: drop the cached pages of bytes "
     "[lstart, lend] (lend -1: to the end)")
def _truncate_inode_pages_range(env, mapping, lstart, lend):
    truncate.truncate_inode_pages_range(env.machine.mem, mapping, lstart, lend)


@_fn("page", "mm/migrate.c: migrate one page (try_to_migrate, copy, remove_migration_ptes); the new "
     "page, or 0")
def _migrate_page(env, page):
    return migrate.migrate_page(env.world.state["kernel"], page) or 0


@_fn("page", "mm/rmap.c try_to_migrate: every PTE of page becomes a migration entry")
def _try_to_migrate(env, page):
    migrate.try_to_migrate(env.world.state["kernel"], page)


@_fn("src dst", "mm/migrate.c remove_migration_ptes: the migration entries of src become PTEs of dst")
def _remove_migration_ptes(env, src, dst):
    migrate.remove_migration_ptes(env.world.state["kernel"], src, dst)


@_fn("dst src", "mm/migrate.c migrate_folio: content, flags and page-cache slot of src to dst")
def _migrate_folio(env, dst, src):
    migrate.migrate_folio(env.machine.mem, dst, src)


@_fn("[flags]", "alloc_page: a new frame (anonymous, as a migration target)")
def _alloc_page(env, flags=0):
    return env.machine.mem.alloc_page(PG_anon | PG_swapbacked)


@_fn("mm pteval addr", "mm/rmap.c set_tlb_ubc_flush_pending: owe this mm's CPUs a flush of addr "
     "(reclaim's batch)")
def _set_tlb_ubc_flush_pending(env, mm, pteval, addr):
    rmap.set_tlb_ubc_flush_pending(env.world.state["kernel"], mm, pteval, addr)


@_fn("mm", "mm/rmap.c flush_tlb_batched_pending: flush what reclaim cleared and has not flushed")
def _flush_tlb_batched_pending(env, mm):
    rmap.flush_tlb_batched_pending(mm)


def _mm_word(fn) -> Function:
    return Function(lambda env, mm: fn(mm), ("mm",), fn.__doc__.strip().split("\n")[0] if fn.__doc__ else "")


@_fn("vma addr", "arm64 flush_tlb_page_nosync: TLBI VALE1IS, complete only at this CPU's dsb(ish); "
                 "elsewhere flush_tlb_page")
def _flush_tlb_page_nosync(env, vma, addr):
    env.machine.arch.flush_tlb_page_nosync(vma, addr)


@_fn("domain", "arm64 dsb(ish): this CPU's TLBIs are done on every CPU (not other CPUs'); nothing elsewhere")
def _dsb(env, domain):
    if domain != CONSTANTS["ish"]:
        raise BadArgument("dsb: only dsb(ish) is modelled")
    env.machine.arch.dsb_ish()


@_fn("mm addr ptep", "arm64 __ptep_set_wrprotect: write-protect one entry, blind to a contiguous block "
                     "(pgtable.h:1351-1355); elsewhere ptep_set_wrprotect")
def _ptep_set_wrprotect_noncont(env, mm, addr, ptep):
    env.machine.arch.ptep_set_wrprotect_noncont(mm, addr, ptep)


@_fn("mm addr ptep nr", "arm64 __wrprotect_ptes: write-protect nr entries, blind to contiguous blocks "
                        "(pgtable.h:1357-1364); elsewhere wrprotect_ptes")
def _wrprotect_ptes_noncont(env, mm, addr, ptep, nr):
    env.machine.arch.wrprotect_ptes_noncont(mm, addr, ptep, nr)


@_fn("mm", "kernel/sched/core.c context_switch: this block's CPU runs mm (switch_mm_irqs_off, then "
           "finish_task_switch's finish_arch_post_lock_switch)")
def _switch_mm(env, mm):
    env.machine.switch_mm(env.cpu, mm)


@_fn("mm", "switch_mm_irqs_off alone: this block's CPU attaches to mm without finish_arch_post_lock_switch "
           "(s390: the flush a lazy invalidation owes, mmu_context.h:100-113)")
def _switch_mm_irqs_off(env, mm):
    env.machine.switch_mm_irqs_off(env.cpu, mm)


FUNCTIONS: dict[str, Function] = {name: _accessor(name) for name in ACCESSORS}
for _name in ("set_pte_at", "set_ptes", "ptep_modify_prot_commit"):  # they write their `pte`
    FUNCTIONS[_name] = FUNCTIONS[_name].with_kind("pte", ENTRY)
FUNCTIONS.update({name: _pure(getattr(_pte, name)) for name in PTE_HELPERS})
FUNCTIONS.update({
    "pte_offset": _pte_offset, "pte_offset_map": _pte_offset_map, "pte_lockptr": _pte_lockptr,
    "spin_lock": _spin_lock, "spin_unlock": _spin_unlock, "find_vma": _find_vma,
    "read": _read, "write": _write, "page_of": _page_of, "mapping_of": _mapping_of,
    "PageDirty": _page_dirty, "set_page_dirty": _set_page_dirty, "get_page": _get_page,
    "put_page": _put_page, "page_remove_rmap": _page_remove_rmap,
    "tlb_gather_mmu": _tlb_gather_mmu.with_kind("tlb", (_instance(MmuGather), "a struct mmu_gather",
                                                        "declare one (struct mmu_gather tlb;) and pass &tlb")),
    "tlb_remove_tlb_entry": _gather(tlb_remove_tlb_entry, "tlb ptep addr"),
    "tlb_remove_page": _gather(tlb_remove_page, "tlb page"),
    "tlb_flush_mmu": _gather(tlb_flush_mmu, "tlb"),
    "tlb_finish_mmu": _gather(tlb_finish_mmu, "tlb"),
    "tlb_finish_mmu_unnested": Function(lambda env, tlb: tlb_finish_mmu(tlb, False), ("tlb",),
                                        "tlb_finish_mmu before Linux 4.13 (99baac21e458): no "
                                        "mm_tlb_flush_nested check, only the gathered range is flushed"),
    "unmap_mapping_range": _unmap_mapping_range, "page_mkclean": _page_mkclean,
    "clear_page_dirty_for_io": _clear_page_dirty_for_io, "write_one_page": _write_one_page,
    "try_to_unmap": _try_to_unmap,
    "try_to_unmap_flush": _try_to_unmap_flush, "shrink_page": _shrink_page,
    "zap_page_range": _zap_page_range, "change_protection": _change_protection,
    "handle_mm_fault": _handle_mm_fault, "mprotect": _mprotect, "munmap": _munmap,
    "madvise": _madvise, "clear_refs": _clear_refs, "dup_mm": _dup_mm,
    "add_to_swap": _add_to_swap,
    "flush_tlb_page_nosync": _flush_tlb_page_nosync, "dsb": _dsb,
    "__ptep_set_wrprotect": _ptep_set_wrprotect_noncont, "__wrprotect_ptes": _wrprotect_ptes_noncont,
    "switch_mm": _switch_mm, "switch_mm_irqs_off": _switch_mm_irqs_off,
    "gup_fast": _gup_fast, "unpin_user_page": _unpin_user_page,
    "folio_maybe_dma_pinned": _folio_maybe_dma_pinned,
})
# the words to write kernel sequences by hand
FUNCTIONS.update({
    "set_pte": _pte_store, "pte_offset_map_lock": _pte_offset_map_lock, "pte_unmap_unlock": _pte_unmap_unlock,
    "vm_normal_page": _vm_normal_page,
    "pte_mkwrite": _pte_mkwrite.with_kind("[vma]", (lambda env, v: v is None or isinstance(v, VMA), "a vma",
                                                     "write vma, or leave it out")),
    "pte_mkwrite_novma": _pure(_pte.pte_mkwrite),
    "make_readable_migration_entry": _pure(_pte.make_readable_migration_entry),
    "make_writable_migration_entry": _pure(_pte.make_writable_migration_entry),
    "is_writable_migration_entry": _pure(_pte.is_writable_migration_entry),
    "pfn_swap_entry_to_page": _pure(_pte.pfn_swap_entry_to_page),
    "smp_mb": _barrier, "smp_wmb": _barrier, "smp_rmb": _barrier, "barrier": _barrier,
    "mmap_read_lock": _mmap_read_lock, "mmap_read_unlock": _mmap_read_unlock,
    "mmap_write_lock": _mmap_write_lock, "mmap_write_unlock": _mmap_write_unlock,
    "vma_start_write": _vma_start_write,
    "vm_flags_set": Function(_vm_flags(lambda old, f: old | f), ("vma", "flags"),
                             "6.12 vm_flags_set: vma_start_write, then set the flags"),
    "vm_flags_clear": Function(_vm_flags(lambda old, f: old & ~f), ("vma", "flags"),
                               "6.12 vm_flags_clear: vma_start_write, then clear the flags"),
    "vm_flags_reset": Function(_vm_flags(lambda old, f: f), ("vma", "flags"),
                               "6.12 vm_flags_reset: vma_start_write, then the new flags"),
    "vma_set_page_prot": _vma_set_page_prot,
    "mremap": _mremap, "move_ptes": _move_ptes,
    "truncate_setsize": _truncate_setsize, "truncate_pagecache": _truncate_pagecache,
    "truncate_inode_pages_range": _truncate_inode_pages_range,
    "migrate_page": _migrate_page, "try_to_migrate": _try_to_migrate,
    "remove_migration_ptes": _remove_migration_ptes, "migrate_folio": _migrate_folio,
    "alloc_page": _alloc_page,
    "tlb_flush_mmu_tlbonly": _gather(tlb_flush_mmu_tlbonly, "tlb"),
    "tlb_flush_mmu_free": _gather(tlb_flush_mmu_free, "tlb"),
    "inc_tlb_flush_pending": _mm_word(inc_tlb_flush_pending),
    "dec_tlb_flush_pending": _mm_word(dec_tlb_flush_pending),
    "mm_tlb_flush_nested": Function(lambda env, mm: int(mm_tlb_flush_nested(mm)), ("mm",),
                                    "more than one TLB flush of mm in flight"),
    "flush_tlb_batched_pending": _flush_tlb_batched_pending,
    "set_tlb_ubc_flush_pending": _set_tlb_ubc_flush_pending,
})
PTE_LOAD, PTE_STORE = _pte_load, _pte_store.with_kind("pte", ENTRY)
FUNCTIONS["set_pte"] = PTE_STORE

# Types a declaration may name, and the value a declaration without initialiser gets.
TYPES = {"pte_t": 0, "int": 0, "long": 0, "unsigned": 0, "bool": 0, "spinlock_t": None,
         "pgprot_t": 0, "swp_entry_t": 0, "size_t": 0, "vm_flags_t": 0, "loff_t": 0}
STRUCTS = {"mmu_gather": MmuGather, "page": lambda: 0, "folio": lambda: 0, "vm_area_struct": lambda: None,
           "mm_struct": lambda: None, "address_space": lambda: None}
# What the explicit memory-model words do: nothing, the model is sequentially consistent at its
# steps (each step is one access to shared state, done in program order).
ONCE = ("READ_ONCE", "WRITE_ONCE")

# What a final condition may call: it reads the final state, and changes nothing.
READERS = ("page_of", "PageDirty", "mapping_of", "folio_maybe_dma_pinned", *PTE_HELPERS)
