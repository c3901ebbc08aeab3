"""A mutation fuzzer for litmus files: bad input must give a clear error, never a crash.

Each mutant is a bundled litmus file with one token deleted, doubled or replaced (a number
by an awkward one, a name by another name the file or the grammar knows), two arguments
swapped, or a statement from a small pool put into a block.  A mutant is run as the
command would: read, compiled, explored with small bounds.  What it may do: be refused (a
LitmusError, which the command prints and exits 2 on), or run.  A defect is any other
exception, or output that shows Python's internals (an exception's class name, a
traceback, an object's repr).

    .venv/bin/python -m tests.litmus_fuzz --mutants 2000 --seed 1    # a longer campaign

tests/test_bad_input.py runs a few hundred mutants on every test run.
"""

from __future__ import annotations

import argparse
import random
import re
import signal
from collections import Counter
from pathlib import Path

SUITE = Path(__file__).resolve().parent.parent / "litmus"

# Words of Python that a user must never see (a class name of an exception, a repr).
INTERNALS = re.compile(r"Traceback|\b[A-Z]\w*(?:Error|Exception)\b|BadPageState|object has no attribute"
                       r"|NoneType|<lambda>|<function|\bheld by None\b|\.py\b|\bself\b")

_TOKEN = re.compile(r'"[^"\n]*"|[A-Za-z_]\w*|0x[0-9a-fA-F]+|\d+|//[^\n]*|/\*.*?\*/|\s+|.', re.S)
NUMBERS = ["0", "1", "-1", "5", "63", "64", "4096", "524288", "0x7fffffff", "18446744073709551616",
           "(1 << 62)", "(1 << 70)", "0x10000000", "3"]
NAMES = ["A", "B", "mm", "vma", "ptl", "tlb", "old", "page_of(A)", "pte_offset(A)", "NULL", "0",
         "P0", "cpu0", "cpu9", "anon", "file", "none", "swapped", "ro", "rw", "dirty", "value"]
STATEMENTS = [
    "spin_unlock(pte_lockptr(A));", "spin_lock(pte_lockptr(A)); spin_lock(pte_lockptr(A));",
    "put_page(page_of(A));", "put_page(A);", "get_page(5);", "set_pte_at(mm, A, A, 0);",
    "ptep_get(A);", "ptep_get(0);", "flush_tlb_page(A, A);", "zap_page_range(5, A, 4096);",
    # not munmap(): the model has no mmap_lock yet, so a munmap racing another block's fault
    # frees the table that fault is using, which the kernel excludes (a gap, not bad input)
    "tlb_finish_mmu(A);", "struct mmu_gather tlb; tlb_finish_mmu(&tlb);", "mprotect(A, A, 4096, 0);",
    "int x = 1 / 0;", "int x = 1 << 64;", "int x = 1 % 0;", "write(A, read(A) * read(A));",
    "PageDirty(4096);", "shrink_page(A);", "try_to_unmap(page_of(A), 0); try_to_unmap_flush();",
    "madvise(mm, A, 4096, 99);", "change_protection(vma, A, A + 4096, 0, 1);", "dup_mm(A);",
    "pte_mkwrite(mm);", "swp_entry(-1, -1);", "clear_refs(A);", "mapping_of(0);",
    "unmap_mapping_range(A, 0, 4096, 0);", "set_page_dirty(-1);", "handle_mm_fault(vma, 0, 1);",
    "page_remove_rmap(page_of(A));", "flush_tlb_range(vma, A, 0);", "ptep_modify_prot_start(vma, A, 7);",
]
CONDITIONS = ["forbid (1 / 0)", "exists (page_of(5) == 0)", "forbid (write(A, 2))", "exists (value(5))",
              "forbid (pte(0))", "exists (mapcount(A))", "forbid (P0.nope)", "exists (PageDirty(A))"]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def mutate(rng: random.Random, text: str) -> str:
    toks = tokens(text)
    words = [i for i, t in enumerate(toks) if not t.isspace() and not t.startswith(("/*", "//"))]
    kind = rng.randrange(7)
    if kind == 0:  # delete a token
        del toks[rng.choice(words)]
    elif kind == 1:  # double one
        i = rng.choice(words)
        toks.insert(i, toks[i])
    elif kind == 2:  # a number by an awkward one
        numbers = [i for i in words if toks[i][0].isdigit()] or words
        toks[rng.choice(numbers)] = rng.choice(NUMBERS)
    elif kind == 3:  # a name by another
        names = [i for i in words if toks[i][0].isalpha() or toks[i][0] == "_"] or words
        pool = NAMES + [toks[i] for i in names]
        toks[rng.choice(names)] = rng.choice(pool)
    elif kind == 4:  # swap two arguments of a call
        commas = [i for i in words if toks[i] == ","]
        if commas:
            i = rng.choice(commas)
            a, b = _prev_word(toks, i), _next_word(toks, i)
            if a is not None and b is not None:
                toks[a], toks[b] = toks[b], toks[a]
    elif kind == 5:  # a statement into a block
        opens = [i for i in words if toks[i] == "{"][1:] or words
        toks.insert(rng.choice(opens) + 1, "\n  " + rng.choice(STATEMENTS))
    else:  # a condition
        toks.append("\n" + rng.choice(CONDITIONS) + "\n")
    return "".join(toks)


def _prev_word(toks, i):
    j = i - 1
    while j >= 0 and toks[j].isspace():
        j -= 1
    return j if j >= 0 else None


def _next_word(toks, i):
    j = i + 1
    while j < len(toks) and toks[j].isspace():
        j += 1
    return j if j < len(toks) else None


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def run(text: str, path: Path, arch: str = "x86", seconds: int = 10) -> tuple[str, str]:
    """('refused' | 'ran' | 'hang' | 'defect', what was printed or raised)."""
    from ptelab.explore.dpor import Bounds
    from ptelab.litmus import LitmusError, load
    from ptelab.litmus.report import counterexample_lines, herd_block

    path.write_text(text)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        test = load(path)
        r = test.check(arch, bounds=Bounds(max_steps=300, executions=20))
        out = "\n".join(herd_block(test, r) + counterexample_lines(test, r))
    except LitmusError as err:
        kind, out = "refused", str(err)
    except _Hang:
        return "hang", ""
    except Exception as err:  # noqa: BLE001 - what the fuzzer is looking for
        return "defect", f"{type(err).__name__}: {err}"
    else:
        kind = "ran"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if INTERNALS.search(out):
        return "defect", out
    return kind, out


def campaign(mutants: int, seed: int, workdir: Path, arch: str = "x86", seconds: int = 10):
    """Yield (file, mutant text, kind, output) for `mutants` mutants of the bundled suite."""
    rng = random.Random(seed)
    files = sorted(SUITE.glob("*.litmus"))
    for n in range(mutants):
        source = rng.choice(files)
        text = mutate(rng, source.read_text())
        kind, out = run(text, workdir / f"m{n}.litmus", arch, seconds)
        yield source.name, text, kind, out


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description="mutation-fuzz the bundled litmus suite")
    parser.add_argument("--mutants", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arch", default="x86")
    parser.add_argument("--save", help="a directory to keep one defective mutant per kind of defect")
    args = parser.parse_args()
    kinds, defects = Counter(), {}
    with tempfile.TemporaryDirectory() as tmp:
        for source, text, kind, out in campaign(args.mutants, args.seed, Path(tmp), args.arch):
            kinds[kind] += 1
            if kind == "defect":
                key = re.sub(r"\d+", "N", out.splitlines()[0])[:100]
                if key not in defects:
                    defects[key] = text
                    print(f"--- {source}: {out.splitlines()[0][:200]}")
    print(dict(kinds))
    if args.save:
        for i, (key, text) in enumerate(defects.items()):
            Path(args.save, f"defect-{i}.litmus").write_text(f"// {key}\n{text}")


if __name__ == "__main__":
    main()
