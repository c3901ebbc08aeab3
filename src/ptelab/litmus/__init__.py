"""Litmus tests: scenarios as files (docs/litmus.md), checked by the explorer."""

from __future__ import annotations

from pathlib import Path

from .check import LitmusTest
from .errors import LitmusError, decode
from .syntax import parse


def load(path: str | Path) -> LitmusTest:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LitmusError(str(path), "", 0, 0, f"cannot read: {e.strerror or e}") from None
    return LitmusTest(parse(str(path), decode(str(path), data)))


def find(paths) -> list[Path]:
    """Litmus files named, or found (*.litmus, sorted) under directories named."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.rglob("*.litmus"))
        elif p.exists():
            files.append(p)
        else:
            raise LitmusError(str(p), "", 0, 0, "no such file or directory")
    return files
