"""`ptelab survey` on a real kernel tree: the first run (every file read and parsed) and runs
from the cache; and docs/survey-6.12.md, written from the same run.

    .venv/bin/python bench/bench_survey.py [TREE] [--arch powerpc] [--warm 3] [--doc docs/survey-6.12.md]

TREE defaults to /work/linux/linux-source-6.12.  Each run is its own process, with the cache in
a fresh temporary directory for the cold run (PTELAB_CACHE), so nothing of an earlier run is
reused; the survey runs in one process and one thread, so its CPU time is one core's time.
Reported per run: wall-clock seconds, CPU seconds (user + system of the child), and the
survey's own split (reading the tree / walking the functions).  On a machine whose cores
are shared, CPU time is the figure to compare with the targets (2 minutes cold, 10 s warm);
wall-clock time says how much the run waited for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_TREE = "/work/linux/linux-source-6.12"
CHILD = """
import json, sys
from ptelab.survey import survey
s = survey(sys.argv[1], sys.argv[2] or None)
print(json.dumps({"seconds": s.seconds, "parsed": s.parsed_files, "sites": len(s.sites),
                  "findings": len(s.findings)}))
"""


def run_once(tree: str, arch: str | None, cache: str) -> dict:
    env = dict(os.environ, PTELAB_CACHE=cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, tree, arch or ""], env=env, check=True,
                         capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = json.loads(out)
    result.update(wall=wall, cpu=cpu)
    return result


# The 6.12 duplicate-HPTE window on powerpc64 hash (issue 17): the call sites the survey must find.
WINDOWS_6_12 = {("madvise_free_pte_range", "mm/madvise.c"), ("change_pte_range", "mm/mprotect.c"),
                ("migrate_vma_collect_pmd", "mm/migrate_device.c")}


def check_6_12(s) -> bool:
    """Every call site with the 6.12 window is among the powerpc findings, migrate_vma_collect_pmd's at
    mm/migrate_device.c:204-210."""
    found = {(f.function, f.path) for f in s.findings if f.rule == "flush-before-reuse"}
    missing = WINDOWS_6_12 - found
    migrate = [f for f in s.findings if f.function == "migrate_vma_collect_pmd"]
    def top(step):  # the line of the call written in the function, before any helper
        return step.via[0][2] if step.via else step.line

    if not migrate or not all(204 <= top(f.first) <= 210 and 204 <= top(f.second) <= 210 for f in migrate):
        missing.add(("migrate_vma_collect_pmd", "lines 204-210"))
    print("the 6.12 duplicate-HPTE windows: " + ("all found" if not missing else f"MISSING {sorted(missing)}"))
    return not missing


def write_doc(tree: str, arch: str | None, cache: str, path: str) -> bool:
    os.environ["PTELAB_CACHE"] = cache
    from ptelab.survey import survey
    from ptelab.survey.report import markdown
    s = survey(tree, arch)
    ok = check_6_12(s) if "6.12" in str(tree) and arch == "powerpc" else True
    command = f"python bench/bench_survey.py {tree} --arch {arch} --doc {path}"
    notes = Path(__file__).parent / "survey-6.12-notes.md"
    text = markdown(s, command)
    if notes.exists() and "6.12" in str(tree):
        text += "\n" + notes.read_text()
    Path(path).write_text(text)
    print(f"wrote {path}: {len(s.findings)} findings, {len(s.sites)} call sites")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=DEFAULT_TREE)
    parser.add_argument("--arch", default="powerpc")
    parser.add_argument("--warm", type=int, default=3, help="runs from the cache (default 3)")
    parser.add_argument("--doc", default=None, help="also write the survey as Markdown to this file")
    args = parser.parse_args()
    if not Path(args.tree).is_dir():
        print(f"bench_survey: {args.tree}: no kernel tree there", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as cache:
        runs = [("cold", run_once(args.tree, args.arch, cache))]
        runs += [("warm", run_once(args.tree, args.arch, cache)) for _ in range(args.warm)]
        print(f"{'run':<6}{'wall s':>9}{'cpu s':>9}{'read s':>9}{'walk s':>9}{'parsed':>8}{'sites':>7}{'findings':>9}")
        for kind, r in runs:
            print(f"{kind:<6}{r['wall']:>9.1f}{r['cpu']:>9.1f}{r['seconds']['read']:>9.1f}"
                  f"{r['seconds']['walk']:>9.1f}{r['parsed']:>8}{r['sites']:>7}{r['findings']:>9}")
        if args.doc and not write_doc(args.tree, args.arch, cache, args.doc):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
