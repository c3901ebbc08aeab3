"""Architecture backends, selectable by name (variants are names too)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from ..machine import Machine
from .generic import GenericArch


class Registry(Mapping):
    """Backend name -> class, each backend's module imported the first time one of its
    classes is asked for (every backend at start-up was a sixth of a litmus verdict's
    start-up, issue 16).  Names, `in` and iteration (`ptelab list`, `--arch all`, the
    accepted names of an error message) import nothing; their order is the order here.
    tests/test_arch_registry.py checks each name is its class's `name`."""

    def __init__(self, entries: tuple[tuple[str, str, str], ...]):
        self._where = {name: (module, cls) for name, module, cls in entries}

    def __getitem__(self, name: str) -> type[GenericArch]:
        module, cls = self._where[name]
        return getattr(import_module(f".{module}", __name__), cls)

    def __contains__(self, name) -> bool:
        return name in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __repr__(self) -> str:
        return f"Registry({list(self._where)})"


ARCHES: Mapping[str, type[GenericArch]] = Registry((  # (name, module, class)
    ("x86", "x86", "X86"),
    ("ppc64-6.12", "ppc64_hash", "Ppc64Hash"),
    ("ppc64-6.12+fix", "ppc64_hash", "Ppc64Hash_6_12_fix"),
    ("ppc64-6.12+flush", "ppc64_hash", "Ppc64Hash_6_12_flush"),
    ("ppc64-2.6.27", "ppc64_hash", "Ppc64Hash_2_6_27"),
    ("ppc64-2.6.27+fix", "ppc64_hash", "Ppc64Hash_2_6_27_fix"),
    ("xen", "xen", "Xen"),
    ("arm64", "arm64", "Arm64"),
    ("arm64-nocont", "arm64", "Arm64NoCont"),
    ("ppc32", "ppc32_hash", "Ppc32Hash"),
    ("s390-6.12", "s390", "S390"),
    ("s390-2.6.27", "s390", "S390_2_6_27"),
    ("ia64", "ia64", "Ia64"),
))


class UnknownArch(ValueError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"unknown architecture {name!r}; choose from: {', '.join(ARCHES)}")


def arch_class(name: str) -> type[GenericArch]:
    try:
        return ARCHES[name]
    except KeyError:
        raise UnknownArch(name) from None


def boot(name: str, cpus: int = 2, pages: int = 4096, debug: bool = True, hash_groups: int | None = None,
         features=()) -> Machine:
    """A machine with `cpus` CPUs running the named backend, sized for `pages` of user
    memory (or given `hash_groups` HPTE groups), with debug mode (every rule checked on
    every accessor call) unless told not; its CPUs have `features` (machine.CPU_FEATURES,
    each used by the backends that know it, ignored by the others)."""
    cls = arch_class(name)
    machine = Machine(ncpus=cpus, features=features)
    machine.arch = cls.attach(machine, pages, hash_groups)
    if debug:
        from ..debug import enable_debug

        enable_debug(machine)
    return machine
