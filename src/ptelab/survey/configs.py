"""Configurations: which `#if` branches the survey takes, per architecture.

A configuration is what `make defconfig` would decide for the few symbols that
choose between definitions of the page-table accessors; every other CONFIG_
symbol stays undecided (the pre-pass then keeps both branches where it can, see
cpp.py).  Files under arch/ARCH/ are read with ARCH's configuration, every other
file with BASE.  `exclude` lists the arch/ARCH subtrees of the other variants
(powerpc's nohash and 32-bit book3s headers are not included by a book3s64 build).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Generic code as built for a 64-bit SMP machine with an MMU (Debian's 6.12 configs).
BASE: dict[str, bool] = {
    "__KERNEL__": True, "__ASSEMBLY__": False, "__ASSEMBLER__": False, "__GENKSYMS__": False,
    "__CHECKER__": False, "__cplusplus": False, "BUILD_VDSO": False, "__VDSO__": False,
    "CONFIG_MMU": True, "CONFIG_SMP": True, "CONFIG_64BIT": True, "CONFIG_TRANSPARENT_HUGEPAGE": True,
    "CONFIG_HUGETLB_PAGE": True, "CONFIG_SWAP": True, "CONFIG_MIGRATION": True, "CONFIG_NUMA": True,
    "CONFIG_SPLIT_PTE_PTLOCKS": True, "CONFIG_MMU_NOTIFIER": True, "CONFIG_USERFAULTFD": True,
    "CONFIG_ZONE_DEVICE": True, "CONFIG_DEVICE_PRIVATE": True, "CONFIG_MEMCG": True, "CONFIG_KSM": True,
    "CONFIG_PROC_FS": True, "CONFIG_SHMEM": True, "CONFIG_COMPACTION": True, "CONFIG_LOCKDEP": False,
    "CONFIG_DEBUG_VM": False, "CONFIG_PREEMPT_RT": False,
}


@dataclass(frozen=True)
class ArchConfig:
    name: str  # the arch/ directory
    description: str
    known: dict[str, bool]
    exclude: tuple[str, ...] = ()  # paths under arch/NAME/ not built in this configuration
    model: tuple[str, ...] = ()  # ptelab backends this configuration corresponds to
    runtime: dict[str, bool] = field(default_factory=dict)  # conditions decided at boot, as C text


CONFIGS: dict[str, ArchConfig] = {
    "powerpc": ArchConfig(
        "powerpc", "powerpc64 book3s with the hash MMU (radix built in, hash chosen at boot)",
        {**BASE, "CONFIG_PPC64": True, "CONFIG_PPC32": False, "CONFIG_PPC_BOOK3S_64": True,
         "CONFIG_PPC_BOOK3S": True, "CONFIG_PPC_BOOK3S_32": False, "CONFIG_PPC_BOOK3E_64": False,
         "CONFIG_PPC_BOOK3E_MMU": False, "CONFIG_PPC_8xx": False, "CONFIG_40x": False, "CONFIG_44x": False,
         "CONFIG_PPC_E500": False, "CONFIG_PPC_85xx": False, "CONFIG_PPC_64S_HASH_MMU": True,
         "CONFIG_PPC_RADIX_MMU": True, "CONFIG_PPC_64K_PAGES": True, "CONFIG_PPC_4K_PAGES": False,
         "CONFIG_PPC_MM_SLICES": True, "CONFIG_PPC_PSERIES": True, "CONFIG_PPC_KUAP": True},
        exclude=("include/asm/nohash/", "include/asm/book3s/32/", "mm/nohash/", "mm/book3s32/", "mm/ptdump/8xx.c",
                 "mm/ptdump/bats.c"),
        model=("ppc64-6.12", "ppc64-6.12+fix", "ppc64-6.12+flush", "ppc64-2.6.27", "ppc64-2.6.27+fix"),
        # The hash MMU: radix_enabled() is false (arch/powerpc/include/asm/mmu.h, MMU_FTR_TYPE_RADIX clear).
        runtime={"radix_enabled()": False},
    ),
    "x86": ArchConfig(
        "x86", "x86-64 with paravirt (Xen PV guests included), as Debian builds it",
        {**BASE, "CONFIG_X86_64": True, "CONFIG_X86_32": False, "CONFIG_X86_PAE": False,
         "CONFIG_PARAVIRT": True, "CONFIG_PARAVIRT_XXL": True, "CONFIG_XEN_PV": True,
         "CONFIG_X86_5LEVEL": True},
        exclude=("include/asm/pgtable_32.h", "include/asm/pgtable-2level.h", "include/asm/pgtable-3level.h",
                 "include/asm/pgtable_32_types.h", "mm/pgtable_32.c"),
        model=("x86",),
    ),
    "arm64": ArchConfig(
        "arm64", "arm64 with 4K pages and contiguous PTEs",
        {**BASE, "CONFIG_ARM64": True, "CONFIG_ARM64_CONTPTE": True, "CONFIG_ARM64_4K_PAGES": True,
         "CONFIG_ARM64_64K_PAGES": False, "CONFIG_ARM64_16K_PAGES": False},
        model=("arm64",),
    ),
    "s390": ArchConfig(
        "s390", "s390x (64-bit)",
        {**BASE, "CONFIG_S390": True, "CONFIG_PGSTE": True, "CONFIG_KVM": True},
        model=("s390",),
    ),
}

GENERIC = ArchConfig("generic", "asm-generic fallbacks only: no architecture's overrides", dict(BASE))


def config_for(arch: str | None) -> ArchConfig:
    if arch is None:
        return GENERIC
    return CONFIGS.get(arch) or ArchConfig(arch, f"{arch} (no configuration: CONFIG_ symbols undecided)",
                                           dict(BASE))


def file_known(relpath: str) -> dict[str, bool]:
    """The configuration a file of the tree is read with."""
    parts = relpath.split("/")
    if parts[0] == "arch" and len(parts) > 1:
        return config_for(parts[1]).known
    return BASE


def excluded(relpath: str, arch: str | None) -> bool:
    """Whether arch/ARCH/... belongs to a variant the configuration does not build, or to another arch."""
    parts = relpath.split("/")
    if parts[0] != "arch" or len(parts) < 2:
        return False
    if arch is None or parts[1] != arch:
        return True
    rest = "/".join(parts[2:])
    return any(rest.startswith(prefix) for prefix in config_for(arch).exclude)
