"""The running kernel: one machine, its swap device, its files, reclaim's flush batch."""

from __future__ import annotations

from .mm_types import MM, AddressSpace
from .swapfile import SwapDevice


class Kernel:
    def __init__(self, machine):
        self.machine = machine
        self.swap = SwapDevice()
        self.files: dict[str, AddressSpace] = {}
        self.swap_cache: dict[int, int] = {}  # page -> its swap entry (folio->swap), mm/swap_state.c
        self.tlb_ubc: set[int] = set()  # current->tlb_ubc: CPUs owed a flush
        self.tlb_ubc_flush_required = False
        self.tlb_ubc_writable = False

    def new_mm(self) -> MM:
        return MM(self)

    def new_file(self, name: str, size: int) -> AddressSpace:
        """A file of `size` pages whose page i initially holds the value 0."""
        mapping = AddressSpace(name, size)
        self.files[name] = mapping
        return mapping
