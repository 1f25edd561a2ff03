"""Markdown tables: the one writer behind every report, benchmark and experiment table."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

_RULES = {None: "---", "l": ":---", "c": ":---:", "r": "---:"}


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]],
                   align: Optional[Sequence[Optional[str]]] = None) -> str:
    """A GitHub-flavoured Markdown table: header line, rule line, one line per row; no trailing newline.

    Cells are written with ``str()`` as they are (a "|" inside a cell is not escaped, so callers keep cell text
    free of it). ``align`` gives one of None (renderer's default), "l", "c" or "r" per column.
    """
    header = [str(h) for h in header]
    align = [None] * len(header) if align is None else list(align)
    if len(align) != len(header) or any(a not in _RULES for a in align):
        raise ValueError(f"align needs None, 'l', 'c' or 'r' per column ({len(header)} columns), got {align}")
    lines = ["| " + " | ".join(header) + " |", "|" + "".join(_RULES[a] + "|" for a in align)]
    for row in rows:
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"a table row has {len(cells)} cells for {len(header)} columns: {cells}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
