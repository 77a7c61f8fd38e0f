"""Plain-text tables for the terminal: aligned columns, numbers right-aligned, no dependencies."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)(\.\d+)?%?$")


def clip(text: str, width: int) -> str:
    """One line of at most ``width`` characters (an ellipsis marks a cut)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells for {len(headers)} columns: {row!r}")
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    # A column is numeric when every cell is a number or "-" (absent), and at least one is a number.
    numeric = [
        any(_NUMBER.match(r[i]) for r in rows) and all(_NUMBER.match(r[i]) or r[i] == "-" for r in rows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])
