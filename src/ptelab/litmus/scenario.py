"""A litmus file as a scenario the explorer runs: its initial state, actors and final state.

The initial state is built by the model itself, so it is always one the kernel and
the hardware can reach: each page is mapped with mmap and faulted in by cpu0, its
entry is then cleared, flushed and set again with the declared bits, and the
declared translations are made by real accesses (which also hash the page on a
hash MMU).  `fork NAME` runs the model's fork.  What cannot be built that way (a
writable TLB entry of a read-only or clean entry) is refused with the declaration's
position.
"""

from __future__ import annotations

from ..debug import enable_debug
from ..explore.execution import ActorSpec, World
from ..machine import FAULT
from ..machine.memory import PG_anon, PG_dirty, PG_swapbacked, PTE_INDEX_MASK, PTE_TABLE_SHIFT
from ..mm.fault import user_access
from ..mm.fork import dup_mm
from ..mm.kernel import Kernel
from ..mm.filemap import filemap_fault
from ..mm.mm_types import anon_vma_prepare, linear_page_index, vma_set_page_prot
from ..mm.pgtable import pte_alloc
from ..mm.mmap import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    get_unmapped_area,
    vm_mmap,
)
from ..mm.rmap import page_add_new_anon_rmap
from ..mm.vmscan import shrink_page
from ..pte import (
    PAGE_SIZE,
    PFN_SHIFT,
    PMD_SIZE,
    VM_WRITE,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_HW_DIRTY,
    _PAGE_PRESENT,
    _PAGE_RW,
    mk_pte,
    pte_str,
)
from .body import _EXPR_PREFIX, _BODY_PREFIX, Compiler, Env
from .names import FUNCTIONS, PTE_HELPERS, READERS, Function

FILE_PAGES = 16  # a file's size in pages, or as many as its declared pages' indexes need
CONT_ORDER = 4  # a `cont` page's block: 16 pages, arm64's CONT_PTES with 4K pages
CONT_PAGES = 1 << CONT_ORDER


class LitmusScenario:
    def __init__(self, litmus, api: str = "legacy"):
        self.litmus = litmus
        self.api = api  # the mm code its blocks call: "legacy" (accessors) or "txn" (ptelab/txn.py)
        cpus = [b.cpu for b in litmus.blocks] + [d.cpu for d in (*litmus.tlbs, *litmus.hardware)]
        self.ncpus = max(2, max(cpus) + 1)
        self.cpu_mm = {b.cpu: b.mm for b in litmus.blocks}
        names = [p.name for p in litmus.pages]
        mms = ["mm"] + [f.name for f in litmus.forks]
        self.globals = {name: _page_va(name) for name in names}
        self.globals.update({name: _mm(name) for name in mms})
        self.blocks = []
        self.locals = {}
        for block in litmus.blocks:
            compiler = Compiler(litmus, block.body_offset, _BODY_PREFIX, self.globals)
            self.blocks.append(compiler.block(block.body))
            self.locals[block.name] = dict(compiler.locals)
        self.hardware = [f"hw:cpu{h.cpu}:{h.kind}:{h.page}" for h in litmus.hardware]
        self.pages = {page.name: page for page in litmus.pages}
        self.groups = _vma_groups(litmus.pages)
        sizes = {}  # file -> (pages declared in it, 1 + the highest index declared)
        for page in litmus.pages:
            if page.file is not None:
                count, top = sizes.get(page.file, (0, 0))
                span = len(self.groups[page.name]) if page.follows is None else 1
                sizes[page.file] = (count + 1, max(top, (page.index or 0) + span))
        self.file_pages = {name: max(FILE_PAGES, *size) for name, size in sizes.items()}
        self.conditions = [self._condition(c) if c.expr else None for c in litmus.clauses]

    def _condition(self, clause):
        functions = {name: FUNCTIONS[name] for name in READERS}
        functions.update(FINAL_FUNCTIONS)
        fields = {name: list(locals_) for name, locals_ in self.locals.items()}
        refused = ("a condition only reads the final state: it may call " +
                   ", ".join(n for n in functions if n not in PTE_HELPERS) + " and the pte_* helpers")
        return Compiler(self.litmus, clause.expr_offset, _EXPR_PREFIX, self.globals, functions,
                        fields, refused).condition(clause.expr)

    def actor_names(self) -> list[str]:
        return [b.name for b in self.litmus.blocks] + self.hardware

    def where(self, actor) -> str:
        return f"{self.litmus.path}:{actor.line}" if actor.line else f"{self.litmus.path}: {actor.name}"

    # ---- the initial state ----------------------------------------------------------------
    def build(self, machine, debug: bool = True) -> World:
        machine.api = self.litmus.api or self.api  # a file that names its api keeps it
        kernel = Kernel(machine)
        mms = {"mm": kernel.new_mm()}
        # "vars" in the blocks' order whichever starts first: a state does not record that order
        # (the merged search tells states apart by their content, explore/state.py)
        state = {"kernel": kernel, "mms": mms, "va": {}, "frames": {}, "ended": set(),
                 "vars": {block.name: {} for block in self.litmus.blocks}}
        pages_in = {"mm": []}
        forks = list(self.litmus.forks)
        for i, page in enumerate(self.litmus.pages):
            while forks and forks[0].pages == i:
                self._fork(mms, pages_in, forks.pop(0))
            self._page(kernel, mms["mm"], page, state)
            pages_in["mm"].append(page.name)
        for fork in forks:
            self._fork(mms, pages_in, fork)
        for cpu in machine.cpus:
            machine.switch_mm(cpu, mms[self.cpu_mm.get(cpu.id, "mm")])
        for page in self.litmus.pages:
            if page.hashed and machine.hash_table is not None:
                self._fill(machine, machine.cpus[0], mms["mm"], page.name, state, False, page.offset)
                machine.cpus[0].tlb.flush_page(mms["mm"].context, state["va"][page.name])
        for decl in self.litmus.tlbs:
            cpu = machine.cpus[decl.cpu]
            self._fill(machine, cpu, cpu.mm, decl.page, state, decl.writable, decl.offset)
        for page in self.litmus.pages:  # a fill sets Accessed; an old page stays old
            if not page.young and page.state == "present":
                for mm_name, names in pages_in.items():
                    if page.name in names:
                        _clear_bits(mms[mm_name], state["va"][page.name], _PAGE_ACCESSED)
        mm = mms["mm"]
        for name, va in state["va"].items():
            pte = mm.entry(va)
            if va not in state["frames"]:  # a page declared none gets a fresh frame, for the test to map
                state["frames"][va] = pte >> PFN_SHIFT if pte & _PAGE_PRESENT else machine.mem.alloc_page(PG_anon)
        if debug:
            enable_debug(machine)
        watched = [(mms[m], state["va"][name], name if m == "mm" else f"{m}:{name}")
                   for m, names in pages_in.items() for name in names]
        cont = {page.name for page in self.litmus.pages if page.cont}  # a block's other pages too
        watched += [(mm_, va + k * PAGE_SIZE, f"{name}+{k}") for mm_, va, name in list(watched)
                    if name.split(":")[-1] in cont for k in range(1, CONT_PAGES)]
        actors = [ActorSpec(b.name, b.cpu) for b in self.litmus.blocks]
        actors += [ActorSpec(name, h.cpu) for name, h in zip(self.hardware, self.litmus.hardware)]
        return World(machine, actors, watched, state)

    def _fork(self, mms, pages_in, fork):
        mms[fork.name] = dup_mm(mms["mm"])
        pages_in[fork.name] = list(pages_in["mm"])

    def _page(self, kernel, mm, page, state):
        if page.cont:
            return self._cont_block(mm, page, state)
        group = self.groups[page.name]
        if page.follows is None:
            va = self._mmap(kernel, mm, page, group)
        else:
            va = state["va"][page.follows] + PAGE_SIZE
        state["va"][page.name] = va
        vma = mm.find_vma(va)
        if page.file is not None:
            vma.file.store[linear_page_index(vma, va)] = page.value
        machine = mm.machine
        if page.state == "none":
            pte_alloc(mm, va)  # the table exists: the test may set the entry
            if page.cached:
                pfn = filemap_fault(machine.mem, vma.file, linear_page_index(vma, va))
                machine.mem.data[pfn] = page.value
                state["frames"][va] = pfn
        else:
            write = page.file is None or page.write or (page.shared and page.dirty)
            cpu0 = machine.cpus[0]
            user_access(mm, cpu0, va, write, page.value)
            ptep = mm.pte_offset(va)
            table, i = machine.mem.ptes[ptep >> PTE_TABLE_SHIFT], ptep & PTE_INDEX_MASK
            pfn = table[i] >> PFN_SHIFT
            machine.mem.data[pfn] = page.value
            if page.file is not None and page.shared and not page.dirty:
                machine.mem.flags[pfn] &= ~PG_dirty
            # clear, flush, set again with the declared bits (no TLB or HPTE keeps the old one)
            old = machine.arch.ptep_get_and_clear(mm, va, ptep)
            # flush_tlb_range, as change_pte_range pairs them: s390-2.6.27 leaves a one-user
            # mm's purge to it (arch/s390/include/asm/pgtable.h:822-845, tlbflush.h:118-122)
            machine.arch.flush_tlb_range(vma, va, va + PAGE_SIZE)
            bits = (_PAGE_RW if page.write else 0) | (_PAGE_ACCESSED if page.young else 0) \
                | (_PAGE_DIRTY if page.dirty else 0)
            kept = old & ~(_PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_HW_DIRTY)  # HW_DIRTY: arm64's
            machine.arch.set_pte_at(mm, va, ptep, kept | bits)
            machine.arch.frame_state(pfn, page.young, page.dirty)  # s390-2.6.27's storage key
            if page.state == "swapped":
                if not shrink_page(kernel, pfn):
                    raise self.litmus.error(page.offset, f"page {page.name} could not be swapped out")
        last = group[-1] == page.name  # a vma shared by pages is made read-only once all are in
        if last and (page.vma_write is not None and not page.vma_write or page.vma_write is None and not page.write):
            vma.flags &= ~VM_WRITE
            vma_set_page_prot(vma)

    def _mmap(self, kernel, mm, page, group) -> int:
        """The vma of a page and of the pages that follow it (`follows`): one mmap of them all.
        With `next table`, placed so that the page saying it is the first entry of a PTE table
        (PMD_SIZE-aligned) and the one before it the last entry of the table below."""
        prot, length = PROT_READ | PROT_WRITE, len(group) * PAGE_SIZE
        split = [k for k, name in enumerate(group) if self.pages[name].next_table]
        addr, flags = 0, 0
        if split:
            below = split[0] * PAGE_SIZE
            addr = ((get_unmapped_area(mm, length + PMD_SIZE) + below + PMD_SIZE - 1) & ~(PMD_SIZE - 1)) - below
            flags = MAP_FIXED
        if page.file is None:
            return vm_mmap(mm, addr, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags)
        mapping = kernel.files.get(page.file) or kernel.new_file(page.file, self.file_pages[page.file])
        index = page.index if page.index is not None else len(mapping.pages)
        return vm_mmap(mm, addr, length, prot, (MAP_SHARED if page.shared else MAP_PRIVATE) | flags,
                       mapping, index)

    def _cont_block(self, mm, page, state):
        """`cont`: a 64 KiB-aligned anonymous vma of CONT_PAGES pages, mapped by one set_ptes
        of a naturally aligned block of consecutive frames (a large folio, as do_anonymous_page
        maps one: mm/memory.c alloc_anon_folio); arm64's contpte writes it as one contiguous
        block (contpte.c:240-282).  The page names the first; A + k * PAGE_SIZE the others."""
        machine = mm.machine
        size = CONT_PAGES * PAGE_SIZE
        va = (get_unmapped_area(mm, 2 * size) + size - 1) & ~(size - 1)
        vm_mmap(mm, va, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        vma = mm.find_vma(va)
        anon_vma_prepare(vma)
        ptep = pte_alloc(mm, va)
        first = machine.mem.alloc_block(CONT_ORDER, PG_anon | PG_swapbacked)
        for k in range(CONT_PAGES):
            machine.mem.data[first + k] = page.value
            page_add_new_anon_rmap(machine.mem, first + k, vma, va + k * PAGE_SIZE)
        bits = (_PAGE_RW if page.write else 0) | (_PAGE_ACCESSED if page.young else 0) \
            | (_PAGE_DIRTY if page.dirty else 0)
        machine.arch.set_ptes(mm, va, ptep, mk_pte(first, vma.page_prot & ~_PAGE_RW) | bits, CONT_PAGES)
        state["va"][page.name] = va
        if not page.write if page.vma_write is None else not page.vma_write:
            vma.flags &= ~VM_WRITE
            vma_set_page_prot(vma)

    def _fill(self, machine, cpu, mm, name, state, writable, offset):
        va = state["va"][name]
        pte = mm.entry(va)
        if not pte & _PAGE_PRESENT:
            raise self.litmus.error(offset, f"{name} is not present, so no CPU can hold it in its TLB")
        if writable and not machine.arch.writable_translation(pte):
            raise self.litmus.error(offset, f"a TLB entry of {name} is writable only if the entry is "
                                    f"writable and dirty; it is '{pte_str(pte)}'")
        previous, machine.this_cpu = machine.this_cpu, cpu
        try:
            if machine.translate(cpu, mm, va, writable) == FAULT:
                # Where software keeps Young (s390: an old entry is invalid to the hardware,
                # pgtable.h:1080-1090), a CPU holds a translation only after the fault that
                # made the entry young: the access the declaration stands for.
                if mm.machine.arch.software_young:
                    user_access(mm, cpu, va, writable)
                if machine.translate(cpu, mm, va, writable) == FAULT:
                    raise self.litmus.error(offset, f"cpu{cpu.id} cannot reach {name} ('{pte_str(pte)}')")
        finally:
            machine.this_cpu = previous

    # ---- running -----------------------------------------------------------------------------
    def run_actor(self, world, actor) -> None:
        machine = world.machine
        nblocks = len(self.blocks)
        if actor.index < nblocks:
            block = self.litmus.blocks[actor.index]
            ended = world.state["ended"]  # blocks whose body has returned
            for name in block.after:  # `P1 @ cpu1 after P0`: starts once P0's body has returned
                machine.wait_event(("block ended", name), lambda name=name: name in ended,
                                   f"{block.name} waits for {name} to end")
            env = Env(world, actor, world.state["mms"][block.mm])
            world.state["vars"][block.name] = env.vars
            try:
                self.blocks[actor.index](env)
            finally:
                machine.shared(("block ended", block.name), True)
                ended.add(block.name)
            return
        decl = self.litmus.hardware[actor.index - nblocks]
        cpu = machine.cpus[decl.cpu]
        va = world.state["va"][decl.page]
        if decl.kind == "fill":
            machine.arch.tlb_prefetch(cpu, cpu.mm, va)
        else:
            machine.arch.tlb_drop(cpu, cpu.mm, va)

    # ---- the final state ---------------------------------------------------------------------
    def observe(self, world) -> dict:
        """Every block's locals and every page's content: what the final clauses see."""
        final = {}
        for block in self.litmus.blocks:
            values = world.state["vars"].get(block.name, {})
            for name, typename in self.locals[block.name].items():
                value = values.get(name)
                if isinstance(value, int):
                    final[f"{block.name}.{name}"] = world.machine.arch.describe_pte(value) \
                        if typename == "pte_t" else value
        mm = world.state["mms"]["mm"]
        for name, va in world.state["va"].items():
            final[f"*{name}"] = _value(mm, va)
        return final

    def evaluate(self, index: int, world) -> bool:
        env = Env(world, None, world.state["mms"]["mm"])
        env.vars = {b.name: world.state["vars"].get(b.name, {}) for b in self.litmus.blocks}
        return bool(self.conditions[index](env))


def _vma_groups(pages) -> dict:
    """Each page's vma group: the names of the pages of its vma in address order (a page
    alone, or a page and those that `follow` it)."""
    groups = {}
    for page in pages:
        if page.follows is None:
            groups[page.name] = [page.name]
        else:
            groups[page.name] = groups[page.follows]
            groups[page.name].append(page.name)
    return groups


def _page_va(name):
    return lambda env: env.world.state["va"][name]


def _mm(name):
    return lambda env: env.world.state["mms"][name]


def _value(mm, va):
    pte = mm.entry(va)
    return mm.machine.mem.data[pte >> PFN_SHIFT] if pte & _PAGE_PRESENT else None


def _clear_bits(mm, va, bits):
    ptep = mm.pte_offset(va)
    if ptep is None:  # fork copied no entry of this vma (6.12 mm/memory.c:1330-1369 vma_needs_copy)
        return
    mm.machine.mem.ptes[ptep >> PTE_TABLE_SHIFT][ptep & PTE_INDEX_MASK] &= ~bits


FINAL_FUNCTIONS = {
    "pte": Function(lambda env, addr: env.mm.entry(addr), ("addr",), "the final entry of addr"),
    "value": Function(lambda env, addr: _value(env.mm, addr) or 0, ("addr",),
                      "what the frame addr maps holds at the end (0 if unmapped)"),
    "mapcount": Function(lambda env, page: env.machine.mem.mapcount[page], ("page",), "page_mapcount"),
}
