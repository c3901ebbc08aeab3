"""A CPU: its TLB, the mm it runs, and per-CPU architecture state (lazy-MMU batches)."""

from .tlb import TLB


class CPU:
    __slots__ = ("id", "tlb", "mm", "lazy_mmu", "arch_state", "debug")

    def __init__(self, cpu_id: int, tlb_capacity: int):
        self.id = cpu_id
        self.tlb = TLB(tlb_capacity)
        self.mm = None
        self.lazy_mmu = False
        self.arch_state = None
        self.debug = None  # debug mode's per-CPU bookkeeping

    def __repr__(self) -> str:
        return f"cpu{self.id}"
