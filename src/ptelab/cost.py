"""`ptelab cost`: what one mm operation costs, legacy accessor code against the
transactional interface (txn.py), per backend and region size.

Each measurement boots a fresh machine (no debug mode: a cost figure is the model's,
not the checker's), maps and touches the region from every CPU, then counts only the
operation itself (the counters after minus before), and checks that the region reads
what it must afterwards, so a figure is never the cost of a wrong answer.
"""

from __future__ import annotations

from .arch import boot
from .mm.fault import SegmentationFault, user_read, user_write
from .mm.kernel import Kernel
from .mm.madvise import MADV_DONTNEED, MADV_FREE, do_madvise
from .mm.memory import do_anonymous_folio
from .mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap, vm_munmap
from .mm.mprotect import do_mprotect
from .mm.mremap import do_mremap
from .mm.task_mmu import clear_refs
from .mm.fork import dup_mm
from .mm.vmscan import reclaim_range
from .machine.counters import (
    ATOMIC_RMW,
    CONTPTE_FOLD,
    CONTPTE_UNFOLD,
    DSB_ISH,
    HASH_BATCH_FLUSH,
    HASH_INVALIDATE,
    IDTE,
    IPI,
    IPTE_GLOBAL,
    IPTE_LOCAL,
    IPTE_RANGE,
    PTC_GA,
    PTC_L,
    TLB_FLUSH_FULL,
    TLB_FLUSH_PAGE,
    TLB_FLUSH_REMOTE,
    TLBI_ASIDE1IS,
    TLBI_RVAE1IS,
    TLBI_RVALE1IS,
    TLBI_VAE1IS,
    TLBI_VALE1IS,
    TLBIE,
    XEN_HYPERCALL,
    XEN_MC_ENTRY,
    XEN_TLB_FLUSH,
)
from .pte import PAGE_SIZE, pte_write

# the counters the issue asks for, as machine/counters.py names them
TLBI = (TLBI_VALE1IS, TLBI_VAE1IS, TLBI_ASIDE1IS, TLBI_RVALE1IS, TLBI_RVAE1IS)
COST_COUNTERS = (TLB_FLUSH_PAGE, TLB_FLUSH_FULL, TLB_FLUSH_REMOTE, IPI, ATOMIC_RMW, XEN_HYPERCALL,
                 XEN_MC_ENTRY, XEN_TLB_FLUSH, HASH_INVALIDATE, HASH_BATCH_FLUSH, TLBIE, *TLBI, DSB_ISH,
                 CONTPTE_FOLD, CONTPTE_UNFOLD, IPTE_GLOBAL, IPTE_LOCAL, IPTE_RANGE, IDTE, PTC_L, PTC_GA)
# what no txn figure may exceed the legacy one in (issue 15: flushes, IPIs, hypercalls,
# invalidations), each a sum of counters: arm64's TLBIs count together, whatever their kind
NEVER_MORE = {
    "local flushes": (TLB_FLUSH_PAGE, TLB_FLUSH_FULL),
    "remote flushes": (TLB_FLUSH_REMOTE,),
    "IPIs": (IPI,),
    "hypercalls": (XEN_HYPERCALL,),
    "hash invalidations": (HASH_INVALIDATE,),
    "tlbie": (TLBIE,),
    "TLBI": TLBI,
    "IPTE/IDTE": (IPTE_GLOBAL, IPTE_LOCAL, IPTE_RANGE, IDTE),
    "ptc.l/ptc.ga": (PTC_L, PTC_GA),
}
APIS = ("legacy", "txn")
FOLIO_ORDER = 4  # the regions' large folios: 64 KiB, arm64's contiguous block with 4K pages (CONT_PTES)
FOLIO_PAGES = 1 << FOLIO_ORDER
SIZES = (1, 8, 64, 512, 4096)


class CostError(AssertionError):
    """The operation left the region in a wrong state: a model bug, never a figure."""


def _mprotect(mm, addr, pages):
    do_mprotect(mm, addr, pages * PAGE_SIZE, PROT_READ)


def _munmap(mm, addr, pages):
    vm_munmap(mm, addr, pages * PAGE_SIZE)


def _dontneed(mm, addr, pages):
    do_madvise(mm, addr, pages * PAGE_SIZE, MADV_DONTNEED)


def _mremap(mm, addr, pages):
    """mremap to a new place, one page longer (MREMAP_MAYMOVE): the region's new address."""
    return do_mremap(mm, addr, pages * PAGE_SIZE, (pages + 1) * PAGE_SIZE)


def _madv_free(mm, addr, pages):
    do_madvise(mm, addr, pages * PAGE_SIZE, MADV_FREE)


def _clear_refs(mm, addr, pages):
    clear_refs(mm)


def _fork(mm, addr, pages):
    dup_mm(mm)


def _swap_out(mm, addr, pages):
    """Reclaim of every page of the region (anonymous: swap-out, with the batched unmap
    flush where the architecture has it)."""
    if reclaim_range(mm.kernel, mm, addr, addr + pages * PAGE_SIZE) != pages:
        raise CostError("reclaim did not free every page of the region")


def _check_kept(mm, cpu, addr, pages):
    for i in range(pages):
        if user_read(mm, cpu, addr + i * PAGE_SIZE) != i + 1:
            raise CostError(f"page {i} lost its contents (no reclaim ran)")


def _check_moved(mm, cpu, addr, pages):
    for i in range(pages):
        if user_read(mm, cpu, addr + i * PAGE_SIZE) != i + 1:
            raise CostError(f"page {i} did not move with its contents")


def _check_readonly(mm, cpu, addr, pages):
    for i in range(pages):
        if user_read(mm, cpu, addr + i * PAGE_SIZE) != i + 1:
            raise CostError(f"page {i} lost its contents")
        try:
            user_write(mm, cpu, addr + i * PAGE_SIZE, 0)
        except SegmentationFault:
            continue
        raise CostError(f"page {i} is still writable after mprotect(PROT_READ)")


def _check_cow(mm, cpu, addr, pages):
    for i in range(pages):
        pte = mm.entry(addr + i * PAGE_SIZE)
        if pte_write(pte):
            raise CostError(f"page {i} is still writable in the parent after fork")
        if user_read(mm, cpu, addr + i * PAGE_SIZE) != i + 1:
            raise CostError(f"page {i} lost its contents")


def _check_gone(mm, cpu, addr, pages):
    for i in range(pages):
        try:
            user_read(mm, cpu, addr + i * PAGE_SIZE)
        except SegmentationFault:
            continue
        raise CostError(f"page {i} is still mapped after munmap")


def _check_zero(mm, cpu, addr, pages):
    for i in range(pages):
        if user_read(mm, cpu, addr + i * PAGE_SIZE) != 0:
            raise CostError(f"page {i} kept its contents after MADV_DONTNEED")


# name -> (operation, check afterwards, one line)
OPERATIONS = {
    "mprotect": (_mprotect, _check_readonly, "mprotect(PROT_READ) of a written anonymous region"),
    "munmap": (_munmap, _check_gone, "munmap of a written anonymous region"),
    "madv-dontneed": (_dontneed, _check_zero, "MADV_DONTNEED of a written anonymous region"),
    "mremap": (_mremap, _check_moved, "mremap of a written anonymous region to a new place, one page longer"),
    "madv-free": (_madv_free, _check_kept, "MADV_FREE of a written anonymous region (no reclaim after)"),
    "clear-refs": (_clear_refs, _check_kept, "/proc/PID/clear_refs over a written anonymous region"),
    "fork": (_fork, _check_cow, "fork of a process with a written anonymous region (copy_pte_range)"),
    "swap-out": (_swap_out, _check_kept, "reclaim of a written anonymous region to swap (read back after)"),
}


def measure(arch: str, operation: str, pages: int, api: str, cpus: int = 2, features=(),
            mthp: bool = False) -> dict[str, int]:
    """The counters of one operation over `pages` pages on `arch` with `api`, on CPUs with
    `features` (machine.CPU_FEATURES); with `mthp`, the region's first writes fault in 64 KiB
    large folios (_fault_folios), else page by page (6.12's default: no mTHP size enabled)."""
    machine = boot(arch, cpus=cpus, pages=pages + 64, debug=False, features=features)
    machine.api = api
    kernel = Kernel(machine)
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    if mthp:
        _fault_folios(mm, addr, pages)
    for i in range(pages):
        user_write(mm, machine.cpus[i % cpus], addr + i * PAGE_SIZE, i + 1)
    before = dict(machine.counters)
    op, check, _ = OPERATIONS[operation]
    moved = op(mm, addr, pages)  # mremap: where the region went
    after = dict(machine.counters)
    check(mm, machine.cpus[0], addr if moved is None else moved, pages)
    return {c: after.get(c, 0) - before.get(c, 0) for c in COST_COUNTERS}


def _fault_folios(mm, addr: int, pages: int) -> None:
    """The region's first writes as 6.12 makes them with 64 KiB anonymous mTHP enabled
    (/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled, `never` by default): each
    naturally aligned 16 pages inside it one large folio,
    mapped by one set_ptes (do_anonymous_folio), contiguous on arm64 (contpte.c:240-282);
    the pages outside whole blocks fault one by one."""
    vma = mm.find_vma(addr)
    block = FOLIO_PAGES * PAGE_SIZE
    start = (addr + block - 1) & ~(block - 1)
    for a in range(start, addr + pages * PAGE_SIZE - block + 1, block):
        do_anonymous_folio(vma, a, FOLIO_ORDER)


def cost_table(arches, operations, sizes, progress=None, features=(), mthp: bool = False) -> list[dict]:
    """One row per (operation, arch, size): both APIs' counters."""
    rows = []
    for operation in operations:
        for arch in arches:
            for pages in sizes:
                row = {"operation": operation, "arch": arch, "pages": pages}
                for api in APIS:
                    row[api] = measure(arch, operation, pages, api, features=features, mthp=mthp)
                    if progress is not None:
                        progress()
                rows.append(row)
    return rows


def group(counters: dict[str, int], name: str) -> int:
    return sum(counters[c] for c in NEVER_MORE[name])


def worse(row: dict) -> list[str]:
    """The groups of NEVER_MORE in which txn costs more than legacy in this row."""
    return [g for g in NEVER_MORE if group(row["txn"], g) > group(row["legacy"], g)]


TABLE_COLUMNS = ("arch", "pages", *NEVER_MORE, "txn costs more")


def table_cells(row: dict) -> list[str]:
    """One measurement as a table row: each NEVER_MORE group legacy → txn, then what txn
    costs more in."""
    cells = [f"{group(row['legacy'], g):,} → {group(row['txn'], g):,}" for g in NEVER_MORE]
    return [row["arch"], f"{row['pages']:,}", *cells, ", ".join(worse(row)) or "-"]


def figures(rows: list[dict]):
    """Per operation, (operation, a matplotlib figure): a small plot per backend, legacy
    (dashed) and txn (solid) against the region size, the NEVER_MORE groups summed, both
    axes logarithmic and shared, so backends compare at a glance.  Needs matplotlib (the
    optional extra ptelab[plot]: ImportError without it); the caller closes each figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for operation in dict.fromkeys(r["operation"] for r in rows):
        arches = list(dict.fromkeys(r["arch"] for r in rows if r["operation"] == operation))
        columns = min(4, len(arches))
        lines = -(-len(arches) // columns)
        fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.4 * lines + 0.6), sharex=True,
                                 sharey=True, squeeze=False)
        for ax, arch in zip(axes.flat, arches):
            mine = [r for r in rows if r["operation"] == operation and r["arch"] == arch]
            sizes = [r["pages"] for r in mine]
            # txn wide and under, legacy dashed over it: where they are equal both show
            for api, style, color, width in (("txn", "-", "#1f5fbf", 3), ("legacy", "--", "#222222", 1)):
                total = [1 + sum(group(r[api], g) for g in NEVER_MORE) for r in mine]
                ax.plot(sizes, total, style, color=color, linewidth=width, marker="o", markersize=3, label=api)
            ax.set(xscale="log", yscale="log", title=arch)
            ax.title.set_fontsize("small")
            ax.tick_params(labelsize="x-small")
        for ax in list(axes.flat)[len(arches):]:
            ax.set_visible(False)
        axes[0][0].legend(fontsize="x-small")
        fig.suptitle(f"{operation}: legacy against txn", fontsize="medium")
        fig.supxlabel("pages", fontsize="small")
        fig.supylabel("1 + flushes, IPIs, hypercalls, invalidations", fontsize="small")
        fig.tight_layout()
        yield operation, fig


def close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def plot(rows: list[dict], directory) -> list:
    """One PNG per operation in `directory` (figures()); the paths written."""
    from pathlib import Path

    written = []
    for operation, fig in figures(rows):
        path = Path(directory) / f"cost-{operation}.png"
        fig.savefig(path)
        close(fig)
        written.append(path)
    return written
