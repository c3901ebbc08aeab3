"""The words to write kernel sequences in a litmus body (docs/litmus.md "Kernel
sequences"): each is run in a one-block test whose condition checks what it did."""

import pytest

from ptelab.litmus.check import LitmusTest
from ptelab.litmus.syntax import parse

STATE = """{
  A: anon rw, young, dirty, value 7;
  F: file "f" shared, rw, young, dirty, value 5;
  N: anon none;
}"""

# word -> (body of P0, a condition every execution must meet)
WORDS = {
    "*ptep": ("pte_t v = *pte_offset(A);", "pte_write(P0.v) && pte_pfn(P0.v) == page_of(A)"),
    "READ_ONCE": ("pte_t v = READ_ONCE(*pte_offset(A)); int x = 3; int y = READ_ONCE(x);",
                  "pte_write(P0.v) && P0.y == 3"),
    "WRITE_ONCE": ("spinlock_t *ptl = pte_lockptr(A); spin_lock(ptl); pte_t *p = pte_offset(A); pte_t o = ptep_get_and_clear(mm, A, p); flush_tlb_page(vma, A);"
                   " WRITE_ONCE(*p, pte_wrprotect(o)); spin_unlock(ptl); int x = 0; WRITE_ONCE(x, 4);",
                   "!pte_write(pte(A)) && pte_present(pte(A)) && P0.x == 4"),
    "*ptep =": ("spinlock_t *ptl = pte_lockptr(A); spin_lock(ptl); pte_t *p = pte_offset(A); pte_t o = ptep_get_and_clear(mm, A, p); flush_tlb_page(vma, A);"
                " *p = pte_mkold(o); spin_unlock(ptl);", "!pte_young(pte(A)) && pte_present(pte(A))"),
    "set_pte": ("spinlock_t *ptl = pte_lockptr(A); spin_lock(ptl); pte_t *p = pte_offset(A); pte_t o = ptep_get_and_clear(mm, A, p); flush_tlb_page(vma, A);"
                " set_pte(p, pte_mkclean(o)); spin_unlock(ptl);", "!pte_dirty(pte(A)) && pte_present(pte(A))"),
    "pte_offset_map_lock": ("spinlock_t *ptl; pte_t *p = pte_offset_map_lock(mm, A, &ptl);"
                            " int same = p == pte_offset(A) && ptl == pte_lockptr(A); pte_unmap_unlock(p, ptl);",
                            "P0.same == 1"),
    "vm_normal_page": ("struct page *page = vm_normal_page(vma, A, ptep_get(pte_offset(A)));"
                       " int zero = vm_normal_page(vma, A, 0);",
                       "P0.page == page_of(A) && P0.zero == 0"),
    "make_writable_migration_entry": (
        "pte_t e = swp_entry_to_pte(make_writable_migration_entry(page_of(A)));"
        " int w = is_writable_migration_entry(pte_to_swp_entry(e)) && is_migration_entry(pte_to_swp_entry(e));"
        " int pg = pfn_swap_entry_to_page(pte_to_swp_entry(e));"
        " int r = is_writable_migration_entry(make_readable_migration_entry(page_of(A)));",
        "P0.w == 1 && P0.pg == page_of(A) && P0.r == 0"),
    "tlb_flush_mmu_tlbonly, tlb_flush_mmu_free": (
        "struct mmu_gather tlb; tlb_gather_mmu(&tlb, mm); spinlock_t *ptl = pte_lockptr(A); spin_lock(ptl);"
        " pte_t o = ptep_get_and_clear_full(mm, A, pte_offset(A), 0); tlb_remove_tlb_entry(&tlb, pte_offset(A), A);"
        " page_remove_rmap(page_of(A)); tlb_remove_page(&tlb, page_of(A)); tlb_flush_mmu_tlbonly(&tlb);"
        " spin_unlock(ptl); tlb_flush_mmu_free(&tlb); tlb_finish_mmu(&tlb);",
        "pte_none(pte(A))"),
    "inc_tlb_flush_pending, mm_tlb_flush_nested, dec_tlb_flush_pending": (
        "inc_tlb_flush_pending(mm); int one = mm_tlb_flush_nested(mm); inc_tlb_flush_pending(mm);"
        " int two = mm_tlb_flush_nested(mm); dec_tlb_flush_pending(mm); dec_tlb_flush_pending(mm);",
        "P0.one == 0 && P0.two == 1"),
    "set_tlb_ubc_flush_pending, flush_tlb_batched_pending, try_to_unmap_flush": (
        "spinlock_t *ptl = pte_lockptr(A); spin_lock(ptl); pte_t o = ptep_get_and_clear(mm, A, pte_offset(A));"
        " set_tlb_ubc_flush_pending(mm, o, A); set_page_dirty(page_of(A)); spin_unlock(ptl);"
        " spin_lock(ptl); flush_tlb_batched_pending(mm); spin_unlock(ptl); try_to_unmap_flush();",
        "pte_none(pte(A))"),
    "mmap_write_lock, vm_flags_clear, vma_set_page_prot": (
        "mmap_write_lock(mm); vm_flags_clear(find_vma(mm, A), VM_WRITE); vma_set_page_prot(find_vma(mm, A));"
        " change_protection(vma, A, A + PAGE_SIZE, PAGE_READONLY, 0); mmap_write_unlock(mm);",
        "!pte_write(pte(A)) && pte_present(pte(A))"),
    "vm_flags_set, vm_flags_reset, vma_start_write": (
        "mmap_write_lock(mm); vma_start_write(find_vma(mm, A)); vm_flags_reset(find_vma(mm, A), VM_READ);"
        " vm_flags_set(find_vma(mm, A), VM_WRITE); mmap_write_unlock(mm); write(A, 9);",
        "value(A) == 9"),
    "mmap_read_lock": ("mmap_read_lock(mm); int v = read(A); mmap_read_unlock(mm);", "P0.v == 7"),
    "mremap": ("unsigned long new = mremap(mm, A, PAGE_SIZE, 2 * PAGE_SIZE, MREMAP_MAYMOVE); int v = read(new);"
               " int bad = mremap(mm, A + 1, PAGE_SIZE, PAGE_SIZE, 0);",
               "P0.v == 7 && P0.new != A && P0.bad == -22"),
    "move_ptes": ("mmap_write_lock(mm); move_ptes(vma, A, A + PAGE_SIZE, find_vma(mm, N), N);"
                  " mmap_write_unlock(mm); int v = read(N);", "P0.v == 7 && pte_none(pte(A))"),
    "truncate_setsize": ("truncate_setsize(mapping_of(F), 0);", "pte_none(pte(F))"),
    "truncate_pagecache": ("truncate_pagecache(mapping_of(F), 0);", "pte_none(pte(F))"),
    "truncate_inode_pages_range": ("truncate_inode_pages_range(mapping_of(F), 0, -1);"
                                   " int gone = pte_none(ptep_get(pte_offset(F))); int v = read(F);",
                                   "P0.gone == 1 && P0.v == 5"),
    "migrate_page": ("struct page *new = migrate_page(page_of(A)); int v = read(A);",
                     "P0.new != 0 && P0.new != page_of(A) && P0.v == 7 && pte_pfn(pte(A)) == P0.new"),
    "try_to_migrate, migrate_folio, remove_migration_ptes": (
        "struct page *new = alloc_page(); get_page(page_of(A)); try_to_migrate(page_of(A));"
        " int mig = is_migration_entry(pte_to_swp_entry(ptep_get(pte_offset(A))));"
        " migrate_folio(new, page_of(A)); remove_migration_ptes(page_of(A), new); put_page(page_of(A));"
        " put_page(new); int v = read(A);",
        "P0.mig == 1 && P0.v == 7 && pte_pfn(pte(A)) == P0.new"),
    "add_to_swap": ("get_page(page_of(A)); swp_entry_t e = add_to_swap(page_of(A));"
                    " int u = try_to_unmap(page_of(A), 0);",
                    "P0.u == 1 && pte_to_swp_entry(pte(A)) == P0.e"),
    "pte_mkwrite(pte, vma)": ("pte_t w = pte_mkwrite(pte_wrprotect(ptep_get(pte_offset(A))), vma);"
                              " pte_t v = pte_mkwrite(pte_wrprotect(ptep_get(pte_offset(A))));"
                              " pte_t n = pte_mkwrite_novma(0);",
                              "pte_write(P0.w) && pte_write(P0.v)"),
    "smp_mb, smp_wmb, smp_rmb, barrier": ("smp_mb(); smp_wmb(); smp_rmb(); barrier(); int v = read(A);",
                                          "P0.v == 7"),
}


@pytest.mark.parametrize("word", WORDS)
def test_each_kernel_sequence_word_does_what_the_kernel_does(word, arch_name):
    body, cond = WORDS[word]
    text = f'PTE word\n"{word}"\n{STATE}\nP0 @ cpu0 {{\n  {body}\n}}\nforbid any_invariant\nforbid (!({cond}))\n'
    result = LitmusTest(parse("word.litmus", text)).check(arch_name)
    assert result.complete and result.ok, (result.problems, dict(result.states), dict(result.outcomes))


AFTER = """PTE after
"P1 starts once P0 returned"
{
  A: anon rw, young, dirty;
  cpu1 has A writable in its TLB;
}
P0 @ cpu0 {
  mprotect(mm, A, PAGE_SIZE, PROT_READ);
}
P1 @ cpu1 %s {
  int done = 0;
  write(A, 2);
  done = 1;
}
forbid any_invariant
"""


def test_a_block_after_another_starts_only_once_it_returned(arch_name):
    ordered = AFTER % "after P0" + "forbid (P1.done == 1)\n"  # mprotect returned: the store is refused
    assert LitmusTest(parse("after.litmus", ordered)).check(arch_name).ok
    racing = AFTER % "" + "exists (P1.done == 1)\nexists (P1.done == 0)\n"
    assert LitmusTest(parse("race.litmus", racing)).check(arch_name).ok


@pytest.mark.parametrize("old, new, message", [
    ("P1 @ cpu1 %s {", "P1 @ cpu1 after P7 {", "'after P7': name a block defined before this one"),
    ("mprotect(mm, A, PAGE_SIZE, PROT_READ);", "spinlock_t *ptl; pte_t *p = pte_offset_map_lock(mm, A, ptl);",
     "returns the lock through its last argument: pass &ptl"),
    ("mprotect(mm, A, PAGE_SIZE, PROT_READ);", "WRITE_ONCE(*pte_offset(A));", "WRITE_ONCE takes 2 argument(s)"),
])
def test_the_new_words_refuse_bad_input_with_a_position(old, new, message):
    from ptelab.litmus.errors import LitmusError

    text = (AFTER % "%s").replace(old, new).replace("%s", "") + "forbid (P1.done == 1)\n"
    with pytest.raises(LitmusError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        LitmusTest(parse("bad.litmus", text)).check("x86")
    assert "bad.litmus:" in str(e.value)


SWITCH = """PTE switch
"cpu0 runs another process, then this one again"
{
  fork other;
  A: anon rw, young, dirty, value 7;
}
P0 @ cpu0 {
  switch_mm(other);
  WORD(mm);
  int v = read(A);
}
forbid any_invariant
forbid (P0.v != 7)
"""


@pytest.mark.parametrize("word", ["switch_mm", "switch_mm_irqs_off"])
def test_a_block_switches_its_cpu_to_another_mm_and_back(word, arch_name):
    result = LitmusTest(parse("switch.litmus", SWITCH.replace("WORD", word))).check(arch_name)
    assert result.complete and result.ok, (result.problems, dict(result.states))


def test_switch_mm_flushes_what_a_lazy_invalidation_owes_and_switch_mm_irqs_off_does_not():
    """s390-6.12: finish_arch_post_lock_switch's __tlb_flush_mm_lazy (mmu_context.h:100-113)."""
    from ptelab.arch import boot
    from ptelab.mm.fault import user_write
    from ptelab.mm.kernel import Kernel
    from ptelab.mm.pgtable import pte_offset_map_lock, spin_unlock
    from tests.conftest import anon_region

    for word, kept in (("switch_mm_irqs_off", True), ("switch_mm", False)):
        kernel = Kernel(boot("s390-6.12", cpus=2))
        machine = kernel.machine
        cpu0, cpu1 = machine.cpus
        mm, addr = anon_region(kernel, 1)
        other = kernel.new_mm()
        user_write(mm, cpu1, addr, 1)  # cpu1 caches a writable translation
        machine.switch_mm(cpu1, other)  # and leaves: cpu0 alone is attached
        user_write(mm, cpu0, addr, 2)
        with machine.on_cpu(cpu0):
            ptep, ptl = pte_offset_map_lock(mm, addr)
            machine.arch.ptep_set_wrprotect(mm, addr, ptep)  # lazy: no purge, a flush owed
            spin_unlock(mm, ptl)
        assert cpu1.tlb.holds(mm.context, addr)
        getattr(machine, word)(cpu1, mm)
        assert cpu1.tlb.holds(mm.context, addr) == kept, word
