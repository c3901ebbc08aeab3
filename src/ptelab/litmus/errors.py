"""Errors in a litmus file: file:line:col, the line, a caret, and a suggestion."""

from __future__ import annotations

import difflib


class LitmusError(Exception):
    def __init__(self, path: str, text: str, line: int, col: int, message: str, choices=(), near: str = ""):
        """`line` and `col` count from 1; `choices` are what would have been accepted,
        `near` the word a suggestion is looked for."""
        if near and choices:
            close = difflib.get_close_matches(near, list(choices), n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
        lines = text.splitlines()
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        self.path, self.line, self.col, self.message = path, line, col, message
        caret = " " * (col - 1) + "^"
        super().__init__(f"{path}:{line}:{col}: {message}\n  {source}\n  {caret}")


def position(text: str, offset: int) -> tuple[int, int]:
    """(line, col), both from 1, of a character offset."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col
