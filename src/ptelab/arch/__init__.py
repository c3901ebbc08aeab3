"""Architecture backends, selectable by name (variants are names too)."""

from __future__ import annotations

from ..machine import Machine
from .arm64 import Arm64, Arm64NoCont
from .generic import GenericArch
from .ia64 import Ia64
from .ppc32_hash import Ppc32Hash
from .ppc64_hash import Ppc64Hash, Ppc64Hash_2_6_27, Ppc64Hash_2_6_27_fix, Ppc64Hash_6_12_fix, Ppc64Hash_6_12_flush
from .s390 import S390
from .x86 import X86
from .xen import Xen

ARCHES: dict[str, type[GenericArch]] = {
    cls.name: cls for cls in (X86, Ppc64Hash, Ppc64Hash_6_12_fix, Ppc64Hash_6_12_flush, Ppc64Hash_2_6_27,
                              Ppc64Hash_2_6_27_fix, Xen, Arm64, Arm64NoCont, Ppc32Hash, S390, Ia64)
}


class UnknownArch(ValueError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"unknown architecture {name!r}; choose from: {', '.join(ARCHES)}")


def arch_class(name: str) -> type[GenericArch]:
    try:
        return ARCHES[name]
    except KeyError:
        raise UnknownArch(name) from None


def boot(name: str, cpus: int = 2, pages: int = 4096, debug: bool = True, hash_groups: int | None = None) -> Machine:
    """A machine with `cpus` CPUs running the named backend, sized for `pages` of user
    memory (or given `hash_groups` HPTE groups), with debug mode (every rule checked on
    every accessor call) unless told not."""
    cls = arch_class(name)
    machine = Machine(ncpus=cpus)
    machine.arch = cls.attach(machine, pages, hash_groups)
    if debug:
        from ..debug import enable_debug

        enable_debug(machine)
    return machine
