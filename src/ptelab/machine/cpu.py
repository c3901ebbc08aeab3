"""A CPU: its TLB, the mm it runs, and per-CPU architecture state (lazy-MMU batches)."""

from .tlb import TLB


class CPU:
    __slots__ = ("id", "tlb", "mm", "lazy_mmu", "arch_state", "debug", "is_lazy", "tlb_gen")

    def __init__(self, cpu_id: int, tlb_capacity: int):
        self.id = cpu_id
        self.tlb = TLB(tlb_capacity)
        self.mm = None
        self.lazy_mmu = False
        self.arch_state = None
        self.debug = None  # debug mode's per-CPU bookkeeping
        self.is_lazy = False  # lazy TLB: the mm stays loaded while no thread of it runs here
        self.tlb_gen: dict[int, int] = {}  # context -> the mm's tlb_gen this TLB is up to (x86)

    def __repr__(self) -> str:
        return f"cpu{self.id}"
