"""plain_table draws what rich draws on a pipe (cli prints the litmus matrix with it there)."""

import io

from hypothesis import given, settings, strategies as st
from rich.console import Console
from rich.table import Table as RichTable

from ptelab.plain_table import Table, on_pipe, plain

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.,:()", min_size=1, max_size=14)
texts = st.lists(words, min_size=1, max_size=8).map(" ".join)
cells = st.one_of(texts, st.tuples(st.sampled_from(["[green]ok[/]", "[bold red]FAIL[/]", "[yellow]INCONCLUSIVE[/]"]),
                                  texts).map(" ".join))


def _rich(title, caption, columns, rows) -> str:
    out = io.StringIO()
    table = RichTable(title=title or None, caption=caption or None)
    for header, justify in columns:
        table.add_column(header, justify=justify)
    for row in rows:
        table.add_row(*row)
    Console(file=out, width=400).print(table)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(title=st.one_of(st.just(""), texts), caption=st.one_of(st.just(""), texts),
       columns=st.lists(st.tuples(texts, st.sampled_from(["left", "center"])), min_size=1, max_size=5),
       data=st.data())
def test_the_same_text_as_rich(title, caption, columns, data):
    rows = data.draw(st.lists(st.lists(cells, min_size=len(columns), max_size=len(columns)), max_size=4))
    table = Table(title, caption)
    for header, justify in columns:
        table.add_column(header, justify)
    for row in rows:
        table.add_row(*row)
    text = table.render()
    if text is not None:  # None: the caller uses rich
        assert text + "\n" == _rich(title, caption, columns, rows)


def test_what_it_leaves_to_rich():
    assert plain("[green]ok[/] a") == "ok a" and plain("a [link=x]b[/]") is None
    table = Table("t")
    table.add_column("x")
    table.add_row("é")
    assert table.render() is None  # not ASCII: rich measures cells
    table = Table("t")
    table.add_column("x")
    table.add_row("a :v: b")
    assert table.render() is None  # rich would draw an emoji
    table = Table("a-title-longer-than-the-table")
    table.add_column("x")
    assert table.render() is None  # rich folds a word wider than the table
    wide = Table()
    wide.add_column("x" * 500)
    assert wide.render() is None


def test_a_pipe_is_not_a_terminal(monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert on_pipe(io.StringIO())
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not on_pipe(io.StringIO())
