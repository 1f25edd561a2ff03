"""The attack matrix: every attack (rows) against every method and defence (columns) of one group (dataset, net,
forget class), each cell the attack's score with its spread over seeds.

The report gathers the values (``Cell``: one number of one attack on one run, or one population statistic of the
quality stage) and this module lays them out: ``build`` → {group: Matrix}, ``to_markdown``, ``to_csv``, and the
figure (``unlearning.plots.plot_matrix``). Retrain is the reference column: an attack whose retrain cell is far from
chance reads class identity, not an unlearning trace, and its row says so.
"""
from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .tables import markdown_table

MISSING = "—"
REFERENCE = "retrain"
# an AUC row whose retrain cell is at least this far from 0.5 reads class identity (retrain never saw the class)
IDENTITY_MARGIN = 0.1
# kinds of row: "auc" (0.5 = chance), "accuracy" (0–1), both on the figure's 0–1 scale; "seconds" (a cost, table only)
SCORE_KINDS = ("auc", "accuracy")


@dataclass(frozen=True)
class Cell:
    group: tuple  # (dataset, net, forget)
    row: str  # the attack's matrix row label
    kind: str  # "auc" (0.5 = chance) or "accuracy"
    column: tuple  # the run identity without the seed (the report's IDENT values)
    label: str  # the column's label (the method, with its parameters where the name is not unique)
    value: Optional[float]
    seed: object = None  # one cell per seed; None for a population statistic (``note`` then says of what)
    note: str = ""


@dataclass
class Matrix:
    group: tuple
    columns: List[tuple] = field(default_factory=list)
    labels: Dict[tuple, str] = field(default_factory=dict)
    rows: List[str] = field(default_factory=list)
    kinds: Dict[str, str] = field(default_factory=dict)
    values: Dict[tuple, List[float]] = field(default_factory=lambda: defaultdict(list))  # (row, column) -> values
    notes: Dict[tuple, str] = field(default_factory=dict)

    def stats(self, row: str, column: tuple) -> Optional[tuple]:
        """(mean, sd or None, n) of a cell; None where empty."""
        vals = [v for v in self.values.get((row, column), []) if v is not None and math.isfinite(v)]
        if not vals:
            return None
        return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else None), len(vals)

    def reference(self) -> Optional[tuple]:
        """The retrain column with the most values (a column's 4th field is its method)."""
        found = [c for c in self.columns if len(c) > 3 and c[3] == REFERENCE]
        return max(found, key=lambda c: sum(len(v) for (r, col), v in self.values.items() if col == c), default=None)

    def reads_identity(self, row: str) -> bool:
        """An AUC row that scores on retrain: it tells the forget class from others without any trace."""
        ref = self.reference()
        st = self.stats(row, ref) if ref is not None else None
        return self.kinds.get(row) == "auc" and st is not None and abs(st[0] - 0.5) >= IDENTITY_MARGIN


def build(cells: Sequence[Cell], row_order: Sequence[str], column_order) -> Dict[tuple, Matrix]:
    """{group: Matrix}; rows in ``row_order`` (a label with a parenthesised qualifier at its label's place, labels
    not listed last), columns sorted by ``column_order``
    (a key function of (column, label))."""
    out: Dict[tuple, Matrix] = {}
    for c in cells:
        m = out.setdefault(c.group, Matrix(c.group))
        if c.column not in m.labels:
            m.columns.append(c.column)
            m.labels[c.column] = c.label
        if c.row not in m.kinds:
            m.rows.append(c.row)
            m.kinds[c.row] = c.kind
        m.values[(c.row, c.column)].append(c.value)
        if c.note:
            m.notes[(c.row, c.column)] = c.note
    rank = {r: i for i, r in enumerate(row_order)}

    def row_rank(r):  # a row named by a listed label with a qualifier ("… (lr 0.01)") sits at that label's place
        return min((i for label, i in rank.items() if r == label or r.startswith(label + " (")), default=len(rank)), r

    for m in out.values():
        m.rows.sort(key=row_rank)
        m.columns.sort(key=lambda col: column_order(col, m.labels[col]))
    return out


def cell_text(m: Matrix, row: str, column: tuple) -> str:
    st = m.stats(row, column)
    if st is None:
        return MISSING
    mean, sd, n = st
    digits = 1 if m.kinds.get(row) == "seconds" else 3
    note = m.notes.get((row, column))
    if note:
        return f"{mean:.{digits}f} ({note})"
    return f"{mean:.{digits}f} ± {sd:.{digits}f} (n={n})" if sd is not None else f"{mean:.{digits}f} (n=1)"


def _row_label(m: Matrix, row: str) -> str:
    return row + (" ⚠ scores on retrain: reads class identity" if m.reads_identity(row) else "")


def to_markdown(m: Matrix) -> str:
    cols = ["attack"] + [m.labels[c] for c in m.columns]
    body = [[_row_label(m, r)] + [cell_text(m, r, c) for c in m.columns] for r in m.rows]
    return markdown_table(cols, body) + "\n"


def to_csv(m: Matrix) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["attack", "kind"] + [m.labels[c] for c in m.columns])
    for r in m.rows:
        w.writerow([r, m.kinds[r]] + [cell_text(m, r, c) for c in m.columns])
    return buf.getvalue()


def reading() -> str:
    """What the cells mean (printed under every matrix)."""
    return ("Cells: mean ± sd over model seeds (n = seeds); a population statistic of the quality stage shows its "
            "model count (K) instead. AUC rows: 0.5 is chance; retrain (never trained on the forget class) is the "
            "reference, so a defence holds against an attack when its cell is as close to retrain's as retrain's "
            "own spread. Accuracy rows (PRA, retain-only relearning): the forget-class accuracy the attack brings "
            "back; retrain's value is what the attack achieves without any trace to revive. Cost rows (TA, UA, unlearning "
            "seconds) are the unlearning run's own metrics, the price of each column's privacy; seconds are not in "
            "the figure.\n")
