"""Errors in a litmus file: file:line:col, the line, a caret, and a suggestion.

A LitmusError is also the explorer's ScenarioError, so an error a block makes while it
runs (a division by zero, an argument of the wrong kind) leaves the explorer as it is,
with its position, and the command exits 2 on it like on any other bad input.
"""

from __future__ import annotations

from ..explore.execution import ScenarioError


class LitmusError(ScenarioError):
    def __init__(self, path: str, text: str, line: int, col: int, message: str, choices=(), near: str = ""):
        """`line` and `col` count from 1 (0: the file as a whole); `choices` are what would
        have been accepted, `near` the word a suggestion is looked for."""
        if near and choices:
            import difflib  # only on bad input: not imported at every start

            close = difflib.get_close_matches(near, list(choices), n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
        self.path, self.line, self.col, self.message = path, line, col, message
        if line <= 0:
            super().__init__(f"{path}: {message}")
            return
        lines = text.split("\n")  # lines as position() counts them: only '\n' ends one
        source = lines[line - 1] if line <= len(lines) else ""
        shown, caret = _echo(source, col)
        super().__init__(f"{path}:{line}:{col}: {message}\n  {shown}\n  {caret}")


def _echo(source: str, col: int) -> tuple[str, str]:
    """The line as printed, and the caret under column `col`: a tab stays a tab (in both, so
    they line up), any other character that does not print (a form feed, U+2028...) shows
    as a space."""
    shown = "".join(c if c == "\t" or c.isprintable() else " " for c in source)
    pad = "".join("\t" if c == "\t" else " " for c in shown[:col - 1])
    return shown, pad + " " * (col - 1 - len(pad)) + "^"


def position(text: str, offset: int) -> tuple[int, int]:
    """(line, col), both from 1, of a character offset."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def decode(path: str, data: bytes) -> str:
    """A file's text (UTF-8, any line ending read as '\\n'); invalid UTF-8 is an error at
    the line and column of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = _newlines(data[:e.start].decode("utf-8"))
        line, col = position(before, len(before))
        raise LitmusError(path, _newlines(data.decode("utf-8", "replace")), line, col,
                          f"invalid UTF-8 (byte {data[e.start]:#04x}): a litmus file is UTF-8 text") from None
    return _newlines(text)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
