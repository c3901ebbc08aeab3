"""The HTML report's structure, without a browser."""

import base64
import re
import shutil
import sys
from html.parser import HTMLParser

import pytest

from ptelab.cli import main
from ptelab.cost import OPERATIONS
from ptelab.html_report import SECTIONS, costs_section
from ptelab.kernel_view import drawings, kernel_view
from ptelab.rules import RULES
from ptelab.states import derive


class Outline(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.tags, self.external, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        for key in ("src", "href"):
            if attrs.get(key, "#").split(":")[0] in ("http", "https", "file", "//"):
                self.external.append(attrs[key])
        if tag == "link":
            self.external.append(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_report_page_structure(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # stderr taken for a terminal: progress shown there
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "200")
    from ptelab import states

    monkeypatch.delitem(states._DERIVED, ("ppc64-2.6.27", 6000), raising=False)  # derived while shown
    assert main(["report", "--out", str(tmp_path), "--arch", "x86,ppc64-2.6.27",
                 "--litmus", "litmus/rule-lock-held.litmus"]) == 0
    page = (tmp_path / "index.html").read_text()
    outline = Outline()
    outline.feed(page)
    text = " ".join(outline.text)
    assert [s for s in SECTIONS if s in outline.ids] == list(SECTIONS)
    assert not outline.external and "<script" not in page  # self-contained, nothing fetched
    assert all(rule.id in text for rule in RULES)
    assert "states-x86" in outline.ids and "states-ppc64-2.6.27" in outline.ids
    assert "matrix" in outline.ids and "rule-lock-held" in text
    # a counterexample drawn as a timeline: a lane per CPU and one for the hardware
    assert "cpu0" in text and "cpu1" in text and "hardware (TLB / cache)" in text and "lock-held" in text
    assert "--replay" in text
    assert "states more than x86" in text or "ppc64" in text
    # the findings rendered from their markdown, not shown as its source
    findings = [i for i in outline.ids if i.startswith("finding-")]
    assert findings and "<pre>#" not in page and "<h3>" in page
    assert "states-x86" in outline.ids  # each architecture's diagram in its own block
    if shutil.which("dot"):  # x86's 31 edges drawn whole; ppc64-2.6.27's: its PTE classes, each class
        # (its states and legal moves), its rules broken, each drawn, every edge in a table folded under them
        assert text.count("Too many edges for one drawing") == 1 and "every edge" in text
        parts = drawings(kernel_view(derive("ppc64-2.6.27")))  # its classes, each, its rules
        assert len(parts) > 3 and page.count("<svg") == 1 + len(parts) and "ppc64-2.6.27: rules broken" in text
        assert "ppc64-2.6.27: PTE classes" in text and "ppc64-2.6.27: legal moves from PTE rw dirty" in text
        assert "states-ppc64-2.6.27-rw-dirty" in outline.ids
    # the costs: a plot per operation (matplotlib installed) or its table, either way a heading each
    assert all(f"cost-{op}" in outline.ids for op in OPERATIONS)
    costs = page[page.index("<section id=costs>"):]
    costs = costs[:costs.index("</section>")]
    assert costs.count("data:image/svg+xml;base64,") == (len(OPERATIONS) if _has_matplotlib() else 0)
    assert "x86" in costs and "ppc64-2.6.27" in costs and "→" in costs
    captured = capsys.readouterr()
    assert "state machine of ppc64-2.6.27" in captured.err  # progress while it runs
    assert captured.out == f"wrote {tmp_path / 'index.html'}\n"  # and nothing else on stdout


def test_report_bad_litmus_path(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", "--out", str(tmp_path), "--litmus", str(tmp_path / "empty")]) == 2
    assert "no litmus files" in capsys.readouterr().err
    assert main(["report", "--out", str(tmp_path), "--litmus", str(tmp_path / "nothing")]) == 2
    assert "no such file" in capsys.readouterr().err


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_cost_plots_are_svg_in_the_page():
    if not _has_matplotlib():
        pytest.skip("matplotlib (ptelab[plot]) is not installed")
    section = costs_section(["x86", "s390-6.12"])
    images = re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", section)
    assert len(images) == len(OPERATIONS)
    svg = base64.b64decode(images[0]).decode()
    assert "<svg" in svg and "x86" in svg and "s390-6.12" in svg
    assert not re.search(r"(?:href|src)=[\"'](?:https?:|//)", svg)  # nothing fetched (namespaces aside)
    assert "<details>" in section  # the figures, folded under each plot


def test_costs_without_matplotlib_are_a_table(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    section = costs_section(["x86", "s390-6.12"])
    assert "data:image" not in section and "matplotlib is not installed" in section
    assert section.count("<table>") == len(OPERATIONS)
    assert re.search(r"<td>s390-6\.12</td><td>512</td>", section)  # a row per backend and size
