from pathlib import Path

from ptelab.cli import main
from ptelab.report import stale_docs
from ptelab.rules import RULES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_generated_docs_are_up_to_date():
    stale = stale_docs(DOCS)
    assert not stale, f"run `ptelab docs`: {', '.join(map(str, stale))}"


def test_rules_cli(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert all(rule.id in out for rule in RULES)
    assert main(["rules", "prot-pairing"]) == 0
    assert "Xen" in capsys.readouterr().out
    assert main(["rules", "flush-befor-reuse"]) == 2
    assert "did you mean 'flush-before-reuse'" in capsys.readouterr().err


def test_states_cli(capsys):
    assert main(["states", "--arch", "x86", "--format", "json"]) == 0
    assert '"transitions"' in capsys.readouterr().out
    assert main(["states", "--arch", "x86", "--format", "svg"]) == 2
    assert "accepted: md, dot, json" in capsys.readouterr().err
