from hypothesis import given
from hypothesis import strategies as st

from ptelab import pte as P

pfns = st.integers(min_value=0, max_value=(1 << 40) - 1)
prots = st.sampled_from([P.PAGE_NONE, P.PAGE_READONLY, P.PAGE_READONLY_EXEC, P.PAGE_SHARED, P.PAGE_SHARED_EXEC])
arch_bits = st.integers(min_value=0, max_value=0x7F).map(lambda b: b << P.ARCH_BITS_SHIFT)
flags = st.sets(st.sampled_from([P._PAGE_ACCESSED, P._PAGE_DIRTY, P._PAGE_SPECIAL])).map(sum)


@given(pfns, prots, arch_bits, flags, prots)
def test_pte_modify_keeps_frame_access_dirty_and_arch_bits(pfn, prot, arch, extra, newprot):
    pte = P.pfn_pte(pfn, prot) | arch | extra
    new = P.pte_modify(pte, newprot)
    assert P.pte_pfn(new) == pfn
    assert new & P.ARCH_MASK == arch & ~P._PAGE_HW_DIRTY  # a hardware Dirty becomes the software bit (arm64)
    assert P.pte_young(new) == (P.pte_young(pte) or bool(newprot & P._PAGE_ACCESSED))  # x86 PAGE_NONE has A
    assert P.pte_dirty(new) == P.pte_dirty(pte)
    assert P.pte_write(new) == bool(newprot & P._PAGE_RW)
    assert P.pte_exec(new) == bool(newprot & P._PAGE_EXEC)


@given(pfns, prots)
def test_modifiers_touch_only_their_bit(pfn, prot):
    pte = P.pfn_pte(pfn, prot)
    pairs = [(P.pte_mkwrite, P.pte_wrprotect, P.pte_write), (P.pte_mkdirty, P.pte_mkclean, P.pte_dirty),
             (P.pte_mkyoung, P.pte_mkold, P.pte_young)]
    for on, off, test in pairs:
        assert test(on(pte)) and not test(off(pte))
        assert P.pte_pfn(on(pte)) == P.pte_pfn(off(pte)) == pfn
        assert off(on(pte)) == off(pte)


@given(st.integers(0, P.MAX_SWAPFILES - 1), st.integers(0, (1 << 40) - 1))
def test_swap_entries_round_trip_and_are_not_none_or_present(type_, offset):
    entry = P.swp_entry(type_, offset)
    pte = P.swp_entry_to_pte(entry)
    assert P.pte_to_swp_entry(pte) == entry
    assert (P.swp_type(entry), P.swp_offset(entry)) == (type_, offset)
    assert not P.pte_none(pte) and not P.pte_present(pte) and P.is_swap_pte(pte)
    assert not P.is_migration_entry(entry)


def test_migration_entries():
    entry = P.make_migration_entry(42, write=True)
    assert P.is_migration_entry(entry) and P.is_write_migration_entry(entry)
    assert P.migration_entry_to_page(entry) == 42
    assert not P.is_write_migration_entry(P.make_migration_entry(42, write=False))


@given(arch_bits)
def test_pte_none_ignores_architecture_bits(arch):
    """ppc32 keeps _PAGE_HASHPTE in a cleared entry until the hash flush."""
    assert P.pte_none(arch)
    assert not P.pte_none(arch | P._PAGE_PRESENT)


def test_protnone_is_present_to_software_not_hardware():
    pte = P.pfn_pte(3, P.PAGE_NONE)
    assert P.pte_present(pte) and P.pte_protnone(pte) and not P.pte_accessible(pte)


def test_private_mappings_are_never_writable_in_their_ptes():
    assert not P.vm_get_page_prot(P.VM_READ | P.VM_WRITE) & P._PAGE_RW
    assert P.vm_get_page_prot(P.VM_READ | P.VM_WRITE | P.VM_SHARED) & P._PAGE_RW


def test_pte_str():
    assert P.pte_str(0) == "none"
    assert P.pte_str(P.pfn_pte(7, P.PAGE_SHARED) | P._PAGE_DIRTY) == "pfn 7 WUD"
    assert P.pte_str(P.swp_entry_to_pte(P.swp_entry(1, 9))) == "swap type 1 offset 9"
