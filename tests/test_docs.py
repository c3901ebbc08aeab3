from pathlib import Path

from ptelab.cli import main
from ptelab.report import stale_docs
from ptelab.rules import RULES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_generated_docs_are_up_to_date():
    checked, stale = stale_docs(DOCS)
    assert checked and not stale, f"run `ptelab docs`: {', '.join(map(str, stale))}"


def test_docs_check_says_what_it_checked_and_names_a_missing_file_as_missing(tmp_path, capsys):
    assert main(["docs", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["docs", "--dir", str(tmp_path), "--check"]) == 0
    assert "all up to date" in capsys.readouterr().out
    victim = next(p for p in sorted(tmp_path.rglob("*.md")))
    victim.unlink()
    assert main(["docs", "--dir", str(tmp_path), "--check"]) == 1
    out, err = capsys.readouterr()
    assert f"{victim} is missing" in err and "1 to regenerate" in out


def test_rules_cli(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert all(rule.id in out for rule in RULES)
    assert main(["rules", "prot-pairing"]) == 0
    assert "Xen" in capsys.readouterr().out
    assert main(["rules", "flush-befor-reuse"]) == 2
    assert "did you mean 'flush-before-reuse'" in capsys.readouterr().err


def test_states_cli(capsys):
    assert main(["states", "--arch", "x86", "--view", "full", "--format", "json"]) == 0
    assert '"transitions"' in capsys.readouterr().out
    assert main(["states", "--arch", "x86", "--view", "full", "--format", "svg"]) == 2
    assert "accepted: md, dot, json" in capsys.readouterr().err
