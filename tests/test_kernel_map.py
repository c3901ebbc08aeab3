"""mm/ names its Linux 6.12 source, and docs/model.md's table says so too.

Every public function of ptelab.mm and ptelab.mmu_gather either cites the 6.12 file and
line range it mirrors (its docstring's first "path:first-last", with "6.12" in the
docstring and the kernel's name in parentheses when it differs) or says "Model's own".
The table in docs/model.md ("mm/ and Linux 6.12") lists exactly the functions that
cite, with the same file.  When the Debian 6.12 tree is on this machine, each cited
range lies inside its file and starts at the kernel function it names.
"""

import importlib
import inspect
import os
import pkgutil
import re
from pathlib import Path

import pytest

import ptelab.mm

ROOT = Path(__file__).resolve().parent.parent
LINUX = Path(os.environ.get("PTELAB_LINUX_6_12", "/work/linux/linux-source-6.12"))
CITE = re.compile(r"((?:mm|include|kernel|fs|arch)/[\w/.-]+\.[ch]):(\d+)-(\d+)(?: \(([A-Za-z_]\w*)\))?")
ROW = re.compile(r"^\| `(\w+)` \| `([\w/.-]+\.[ch]):(\d+)-(\d+)`")


def _functions():
    modules = [importlib.import_module(f"ptelab.mm.{m.name}") for m in pkgutil.iter_modules(ptelab.mm.__path__)]
    modules.append(importlib.import_module("ptelab.mmu_gather"))
    for module in modules:
        for name, fn in vars(module).items():
            if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith("_"):
                yield module.__name__, name, fn.__doc__ or ""


def _citations():
    cited = {}
    for module, name, doc in _functions():
        m = CITE.search(doc)
        if m and "6.12" in doc:
            cited[name] = (m.group(1), int(m.group(2)), int(m.group(3)), m.group(4) or name)
    return cited


def _table():
    text = (ROOT / "docs" / "model.md").read_text()
    section = text.split("## mm/ and Linux 6.12", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): (m.group(2), int(m.group(3)), int(m.group(4)))
            for m in map(ROW.match, section.splitlines()) if m}


def test_every_mm_function_cites_linux_6_12_or_says_it_is_the_models_own():
    bare = [f"{module}.{name}" for module, name, doc in _functions()
            if not (CITE.search(doc) and "6.12" in doc) and "Model's own" not in doc]
    assert bare == []


def test_the_table_in_model_md_lists_every_cited_function_with_its_file():
    cited, table = _citations(), _table()
    assert sorted(set(cited) - set(table)) == [], "cited in the code, missing from docs/model.md"
    assert sorted(set(table) - set(cited)) == [], "in docs/model.md, citing nothing in the code"
    wrong = {name: (table[name], cited[name][:3]) for name in table if table[name] != cited[name][:3]}
    assert wrong == {}


@pytest.mark.skipif(not (LINUX / "mm" / "memory.c").exists(), reason="no Linux 6.12 tree here")
def test_each_cited_range_is_in_its_file_and_names_the_kernel_function():
    bad = []
    for name, (path, first, last, kname) in _citations().items():
        lines = (LINUX / path).read_text(errors="replace").splitlines()
        if not 1 <= first <= last <= len(lines) or kname not in "\n".join(lines[first - 3:first + 2]):
            bad.append((name, path, first, last, kname))
    assert bad == []
