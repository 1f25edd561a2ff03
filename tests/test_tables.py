"""The one Markdown table writer: hand-written expected text, alignment rules, and row-length errors."""
from __future__ import annotations

import pytest

from unlearning.tables import markdown_table


def test_markdown_table_hand_written():
    text = markdown_table(["method", "UA"], [["retrain", 0.5], ["ft", "—"]])
    assert text == "| method | UA |\n|---|---|\n| retrain | 0.5 |\n| ft | — |"


def test_markdown_table_alignment_and_empty_body():
    assert markdown_table(["a", "b", "c", "d"], [], align=[None, "l", "c", "r"]) == \
        "| a | b | c | d |\n|---|:---|:---:|---:|"


def test_markdown_table_rejects_ragged_rows_and_bad_alignment():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        markdown_table(["a", "b", "c"], [[1, 2]])
    with pytest.raises(ValueError, match="per column"):
        markdown_table(["a", "b"], [], align=["l"])
    with pytest.raises(ValueError, match="per column"):
        markdown_table(["a"], [], align=["left"])
