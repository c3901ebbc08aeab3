"""Scheduling points: where one CPU's code may be interleaved with another's.

A sequential machine has none and pays nothing for them.  `instrument(machine)` makes
every access to shared state a point at which the explorer's controller (the one
`attach(ctl)` names) may run another CPU first:

- PTE loads, stores and atomic read-modify-writes: the backend's primitives
  (`_get`, `_set`, `_update`), and the accessors a backend inlines for speed, which
  here run the primitive they inline (X86.INLINED);
- the places a backend marks with `self._sched(...)`: a page walk, a hash-table
  search, insert or invalidation, each CPU's part of a TLB shootdown;
- PTE lock acquire and release (an acquire waits while another CPU holds the lock),
  mmap_lock and per-vma lock (rwsem) acquires and releases (an acquire waits until it
  can succeed), and an atomic update of a PTE whose software lock bit is set (ppc64 _PAGE_BUSY);
- a user access: the TLB lookup, with the load or store it makes.

Frame allocation and freeing, the struct page fields (refcount, mapcount, flags,
mapping, index) and a frame's content are not points, but every access to them is
recorded in the step's footprint: a free and an access through a stale TLB entry are
dependent, and so are try_to_unmap's mapcount test and a racing fault's rmap.

The controller also hears what the invariants need: which PTE each CPU wrote (and
counts the writes of each entry, machine/memory.py pte_seq), what each entry was
when an operation last saw it under its lock, where operations begin and return,
which old entries the accessors returned (their Dirty is then software's, as is a change
bit page_test_and_clear_dirty took from an s390 storage key), and which frames user
stores reached.
"""

from __future__ import annotations

from ..machine import Machine
from ..machine.memory import PTE_INDEX_MASK, PTE_TABLE_SHIFT, PhysicalMemory
from ..machine.rwsem import RwSemaphore
from ..machine.spinlock import RELEASED, SpinLock
from .footprint import OTHER_BITS

_CLASSES: dict[type, type] = {}


def explorable_class(cls: type) -> type:
    """The backend class with its primitives made scheduling points."""
    if cls in _CLASSES:
        return _CLASSES[cls]

    get = cls._get

    class Explorable(cls, Controlled):
        def _sched(self, loc, write, what, busy_wait=False, also=None, until=None):
            enabled = self._busy_clear(loc[1], busy_wait) if busy_wait else until
            self.ctl.point(loc, write, what, enabled, also)

        def _note(self, event):
            self.ctl.note(event)

        def _touch(self, loc, write):
            self.ctl.touch(loc, write)

        def _only_read(self, loc):
            self.ctl.only_read(loc)

        def _hash_bits_only(self, loc):
            self.ctl.hash_bits_only(loc)

        def fill_tlb(self, cpu, mm, va, ptep, pfn, writable, gen=None, seq=None):
            self.ctl.touch(("tlb", cpu.id), True)  # whether or not the point announced it
            return cls.fill_tlb(self, cpu, mm, va, ptep, pfn, writable, gen, seq)

        def _busy_clear(self, ptep, bits=True):
            """The step may run only while the entry's software lock bit (or `bits`) is clear."""
            table, i = self.tables[ptep >> PTE_TABLE_SHIFT], ptep & PTE_INDEX_MASK
            busy = self.BUSY if bits is True else bits
            return lambda: not table[i] & busy

        def _get(self, ptep):
            self.ctl.point(("pte", ptep), False, "load PTE")
            pte = get(self, ptep)
            self.ctl.pte_seen(ptep, pte)
            return pte

        ptep_get = _get

        def _get_compared(self, ptep):
            """A load whose value the caller uses only through pte_same and accessors that
            read no hash bit (GenericArch.ptep_get_compared): a read of the other bits."""
            self.ctl.point(("pte", ptep), OTHER_BITS, "load PTE")
            pte = get(self, ptep)
            self.ctl.pte_seen(ptep, pte)
            return pte

        ptep_get_compared = _get_compared

        def _defer(self, ptep):
            self.ctl.pte_written(ptep)

        def _set(self, ptep, pte, what=""):
            self.ctl.point(("pte", ptep), True, what or "store PTE")
            self.ctl.pte_written(ptep)
            if self.STORE_READS_TLBS:
                self._tlbs_read()
            cls._set(self, ptep, pte)
            self.ctl.pte_seen(ptep, get(self, ptep))

        def _tlbs_read(self):
            """The backend checks the store against every CPU's TLB (arm64's break-before-make):
            the step reads them, so it depends on every fill and flush."""
            for cpu in self.machine.cpus:
                self.ctl.touch(("tlb", cpu.id), False)

        def _update(self, mm, addr, ptep, clr, set_, what=""):
            enabled = self._busy_clear(ptep) if self.BUSY else None  # pte_update's ldarx loop
            self.ctl.point(("pte", ptep), True, what or "atomic RMW of PTE", enabled)
            self.ctl.pte_written(ptep)
            old = cls._update(self, mm, addr, ptep, clr, set_)
            self.ctl.pte_seen(ptep, (old & ~clr) | set_)
            return old

        def _cmpxchg(self, ptep, old, new):
            self.ctl.point(("pte", ptep), True, "cmpxchg PTE")
            if self.STORE_READS_TLBS:
                self._tlbs_read()
            found = cls._cmpxchg(self, ptep, old, new)
            if found == old:  # a failed compare-and-exchange writes nothing
                self.ctl.pte_written(ptep)
            return found

        def ptep_get_and_clear(self, mm, addr, ptep):
            if "ptep_get_and_clear" in self.INLINED:
                return self.ctl.returned(self._update(mm, addr, ptep, ~0, 0))
            return self.ctl.returned(cls.ptep_get_and_clear(self, mm, addr, ptep))

        def ptep_get_and_clear_full(self, mm, addr, ptep, full):
            return self.ctl.returned(cls.ptep_get_and_clear_full(self, mm, addr, ptep, full))

        def ptep_clear_flush(self, vma, addr, ptep):
            return self.ctl.returned(cls.ptep_clear_flush(self, vma, addr, ptep))

        def ptep_modify_prot_start(self, vma, addr, ptep):
            if "ptep_modify_prot_start" in self.INLINED:
                return self.ctl.returned(self._update(vma.mm, addr, ptep, ~0, 0))
            return self.ctl.returned(cls.ptep_modify_prot_start(self, vma, addr, ptep))

        def page_test_and_clear_dirty(self, pfn):
            dirty = cls.page_test_and_clear_dirty(self, pfn)
            if dirty:  # a store's record handed to software, as a returned dirty entry is
                self.ctl.dirty_taken(pfn)
            return dirty

        def ptep_modify_prot_commit(self, vma, addr, ptep, old_pte, pte):
            if "ptep_modify_prot_commit" in self.INLINED:
                self._set(ptep, pte)
            else:
                cls.ptep_modify_prot_commit(self, vma, addr, ptep, old_pte, pte)

    Explorable.__name__ = Explorable.__qualname__ = f"Explorable{cls.__name__}"
    _CLASSES[cls] = Explorable
    return Explorable


class Controlled:
    """What every explorable class shares: the controller of the running execution.  One
    execution runs at a time; `attach(ctl)` points them all at it (so a machine built for
    one execution and restored for the next needs no rewiring)."""

    __slots__ = ()
    ctl = None


def attach(ctl) -> None:
    Controlled.ctl = ctl


class _PageField(list, Controlled):
    """A struct page field array (one slot per frame) whose accesses land in the footprint,
    as accesses of ("frame", pfn)."""

    __slots__ = ()
    KIND = "frame"

    def __getitem__(self, pfn):
        if self.ctl.active:
            self.ctl.touch((self.KIND, pfn), False)
        return list.__getitem__(self, pfn)

    def __setitem__(self, pfn, value):
        if self.ctl.active:
            self.ctl.touch((self.KIND, pfn), True)
        list.__setitem__(self, pfn, value)


class _PageData(_PageField):
    """The frames' contents, a location of their own: ("data", pfn).  What a user store
    writes there is read by loads, the kernel's copies (COW, writeback, swap-out, migration)
    and the lost-dirty check, never by the checks of a translation (grants_more reads the
    frame's allocation: ("frame", pfn)), so a store no longer orders itself against every
    TLB fill and flush of the page through them."""

    __slots__ = ()
    KIND = "data"


PAGE_FIELDS = ("refcount", "mapcount", "flags", "mapping", "index")


class ExplorableSpinLock(SpinLock, Controlled):
    """A PTE lock whose acquire waits (is not enabled) while another CPU holds it."""

    __slots__ = ()

    def lock(self, owner: int) -> None:
        if self.owner == owner:  # only this CPU makes it so: no other actor's step matters
            SpinLock.lock(self, owner)  # RecursiveLock, before it waits for itself
        self.ctl.point(("lock", self.name), True, f"spin_lock({self.name})", self.free)
        self.ctl.touch((RELEASED, self.name), False)
        SpinLock.lock(self, owner)

    def unlock(self, owner: int) -> None:
        # A release never races with another CPU's acquire (that acquire is not enabled
        # until the release): it orders it (RELEASED); acquires race with each other.
        self.ctl.point(("unlock", self.name), True, f"spin_unlock({self.name})", None, ((RELEASED, self.name),))
        SpinLock.unlock(self, owner)

    def free(self) -> bool:
        return self.owner is None


class ExplorableRwSemaphore(RwSemaphore, Controlled):
    """mmap_lock or a per-vma lock.  An acquire is a point that waits (is not enabled)
    until it can succeed: a read while no writer holds it, a write while nobody does.
    Read acquires are reads of the semaphore (two readers commute), write acquires
    writes; releases, as the spinlock's, never race with an acquire they enable.  A
    read trylock does not wait, and its result depends on the writer's release too: it
    reads it (a reader's release changes nothing a read trylock sees)."""

    __slots__ = ()

    def down_read(self, owner: int) -> None:
        self.ctl.point(("rwsem", self.name), False, f"down_read({self.name})", self.read_free)
        self.ctl.touch((RELEASED, self.name), False)
        RwSemaphore.down_read(self, owner)

    def down_read_trylock(self, owner: int) -> bool:
        self.ctl.point(("rwsem", self.name), False, f"down_read_trylock({self.name})")
        self.ctl.touch(("unlock", self.name), False)
        return RwSemaphore.down_read_trylock(self, owner)

    def up_read(self, owner: int) -> None:
        self.ctl.point(("up_read", self.name, owner), True, f"up_read({self.name})")
        RwSemaphore.up_read(self, owner)

    def down_write(self, owner: int) -> None:
        self.ctl.point(("rwsem", self.name), True, f"down_write({self.name})", self.write_free)
        self.ctl.touch((RELEASED, self.name), False)
        RwSemaphore.down_write(self, owner)

    def up_write(self, owner: int) -> None:
        self.ctl.point(("unlock", self.name), True, f"up_write({self.name})", None, ((RELEASED, self.name),))
        RwSemaphore.up_write(self, owner)


class ExplorableMachine(Machine, Controlled):
    def shared(self, loc, write):
        self.ctl.touch(loc, write)

    def switch_mm(self, cpu, pgd):
        """A CPU attaching to an address space is a point: what another CPU's accessors
        decide from mm_cpumask (s390's lazy invalidation) depends on its order with it.  It
        waits while the architecture says (s390: an invalidation of the mm in progress)."""
        self.ctl.point(("cpumask", pgd.context), True, f"switch_mm: cpu{cpu.id} attaches",
                       self.arch.attach_ready(pgd))
        Machine.switch_mm(self, cpu, pgd)

    def switch_mm_irqs_off(self, cpu, pgd):
        self.ctl.point(("cpumask", pgd.context), True, f"switch_mm_irqs_off: cpu{cpu.id} attaches")
        Machine.switch_mm_irqs_off(self, cpu, pgd)

    def wait_event(self, loc, condition, what):
        """A sleep: a point that reads loc, enabled once condition() holds (a deadlock
        when nothing else can make it hold)."""
        self.ctl.point(loc, False, what, condition)
        if not self.ctl.active:
            Machine.wait_event(self, loc, condition, what)

    def translate(self, cpu, pgd, va, write):
        """A user access: the TLB lookup is a point; the frame it reached is in the step."""
        ctl = self.ctl
        ctl.point(("tlb", cpu.id), False, "store" if write else "load")
        pfn = Machine.translate(self, cpu, pgd, va, write)
        if pfn >= 0:
            ctl.touch(("frame", pfn), False)  # its allocation (Machine.translate's use-after-free)
            if write:
                # The store's data and its record for lost-dirty (Invariants.stored)
                ctl.touch(("data", pfn), True)
                # Whether the store's Dirty is still recorded depends on its order with the
                # changes of the entry it went through (lost-dirty): it reads that entry.
                ptep = pgd.pte_offset(va)
                if ptep is not None:  # its Dirty bit: no hash bit
                    ctl.touch(("pte", ptep), OTHER_BITS)
                ctl.user_stored(pfn, va, cpu.id)
        return pfn

    def operation_begin(self, name):
        self.ctl.operation_begin(name)

    def gup_took(self, mm, addr, pfn, write):
        self.ctl.gup_took(mm, addr, pfn, write)

    def operation_end(self):
        self.ctl.operation_end()

    def handed_back(self, olds):
        for old in olds:
            self.ctl.returned(old)


class ExplorableMemory(PhysicalMemory, Controlled):
    def alloc_page(self, flags: int = 0) -> int:
        pfn = PhysicalMemory.alloc_page(self, flags)
        self.ctl.touch(("frame", pfn), True)
        return pfn

    def note(self, event: str) -> None:
        self.ctl.note(event)

    def _free(self, pfn: int) -> None:
        self.ctl.touch(("frame", pfn), True)
        PhysicalMemory._free(self, pfn)
        self.ctl.frame_freed(pfn)


def instrument(machine) -> None:
    """Make `machine` (its backend not yet wrapped by debug mode) explorable under the
    controller `attach` names."""
    arch = machine.arch
    arch.__class__ = explorable_class(type(arch))
    machine.__class__ = ExplorableMachine
    mem = machine.mem
    mem.__class__ = ExplorableMemory
    mem.lock_class = ExplorableSpinLock
    machine.rwsem_class = ExplorableRwSemaphore
    for lock in mem.ptl.values():
        lock.__class__ = ExplorableSpinLock
    for name in PAGE_FIELDS:
        setattr(mem, name, _PageField(getattr(mem, name)))
    mem.data = _PageData(mem.data)
