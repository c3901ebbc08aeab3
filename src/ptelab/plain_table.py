"""A table on a pipe or in a file, drawn as rich draws it there, without importing rich.

rich (its console, table, styles and emoji codes) was about a sixth of a litmus verdict's
start-up, and on a file or a pipe it draws nothing but text: the box `HEAVY_HEAD`, one space
of padding, the title above and the caption below centred on the table's width and wrapped
at its spaces, each cell as wide as its column's widest, left- or centre-justified.  That
text is drawn here, character for character (tests/test_plain_table.py compares it with
rich's).  `render()` returns None where rich would do more than that (a cell wider than the
400 columns `cli.output_console()` gives a pipe, a word wider than the table, characters
that are not printable ASCII or could be an emoji code, markup beyond `[style]...[/]`): the caller then uses rich.
"""

from __future__ import annotations

import os
import re
import sys

WIDTH = 400  # cli.output_console(): a pipe's console is this wide
_EMOJI = re.compile(r":\S*?:")  # rich.console's emoji codes, :smile: (rich/_emoji_replace.py)
_TAG = re.compile(r"\[(/|[a-z][a-z ]*)\]")  # [green] [bold red] [/]: all matrix_cell writes


def plain(markup: str) -> str | None:
    """The text of rich markup made only of style tags; None for anything else."""
    text = _TAG.sub("", markup)
    return None if "[" in text or "]" in text else text


def on_pipe(stream=None) -> bool:
    """The stream is not a terminal and nothing asks rich to treat it as one."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("TTY_COMPATIBLE") or os.environ.get("FORCE_COLOR") is not None:
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


class Table:
    def __init__(self, title: str = "", caption: str = ""):
        self.title, self.caption = title, caption
        self.headers: list[str] = []
        self.justify: list[str] = []
        self.rows: list[list[str]] = []

    def add_column(self, header: str, justify: str = "left") -> None:
        self.headers.append(header)
        self.justify.append(justify)

    def add_row(self, *cells: str) -> None:
        self.rows.append(list(cells))

    def render(self) -> str | None:
        rows = [[plain(cell) for cell in row] for row in self.rows]
        texts = [self.title, self.caption, *self.headers, *(c for row in rows for c in row)]
        if any(t is None or not _simple(t) for t in texts):
            return None
        widths = [max(len(cell) for cell in column) for column in zip(self.headers, *rows)]
        width = sum(widths) + 3 * len(widths) + 1
        if width > WIDTH:
            return None
        lines = []
        if self.title:
            title = _wrap(self.title, width)
            if title is None:
                return None
            lines += title
        lines.append(_rule("┏", "━", "┳", "┓", widths))
        lines.append(self._row(self.headers, widths, "┃"))
        lines.append(_rule("┡", "━", "╇", "┩", widths))
        lines += [self._row(row, widths, "│") for row in rows]
        lines.append(_rule("└", "─", "┴", "┘", widths))
        if self.caption:
            caption = _wrap(self.caption, width)
            if caption is None:
                return None
            lines += caption
        return "\n".join(lines)

    def _row(self, cells, widths, bar) -> str:
        return bar + bar.join(" " + _justify(c, w, j) + " " for c, w, j in zip(cells, widths, self.justify)) + bar


def _simple(text: str) -> bool:
    """Printable ASCII, and nothing rich could take for an emoji code (:name:)."""
    return all(" " <= ch <= "~" for ch in text) and _EMOJI.search(text) is None


def _justify(text: str, width: int, how: str) -> str:
    if how == "center":
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)
    return text + " " * (width - len(text))


def _rule(left: str, line: str, cross: str, right: str, widths) -> str:
    return left + cross.join(line * (w + 2) for w in widths) + right


def _wrap(text: str, width: int) -> list[str] | None:
    """Greedy wrapping at spaces, each line centred (rich's Text.wrap, justify center);
    None when a word is wider than the table (rich folds it)."""
    lines: list[str] = []
    line = ""
    for word in re.findall(r"\S+\s*", text) or [text]:
        bare = word.rstrip()
        if len(bare) > width:
            return None
        if line and len(line) + len(bare) > width:
            lines.append(line)
            line = ""
        line += word
    lines.append(line)
    return [_justify(line.rstrip(), width, "center") for line in lines]
