"""A measured table in docs/ names the command, date and machine that produced it."""
import datetime as dt

import pytest

from unlearning.measured_docs import this_command, write_measured


def test_page_names_its_command_date_and_machine(tmp_path):
    when = dt.datetime(2026, 11, 28, 5, 7, tzinfo=dt.timezone.utc)
    path = tmp_path / "results" / "t.md"
    write_measured(str(path), "A table", "| a |\n|---|\n| 1 |\n", command="python x.py --seeds 0 1", when=when,
                   where="test box")
    text = path.read_text()
    assert text == ("# A table\n\nWritten by `python x.py --seeds 0 1` on 2026-11-28 05:07 UTC (test box). "
                    "Rerun the command to rewrite this page; do not edit it by hand.\n\n| a |\n|---|\n| 1 |\n")


def test_this_command_quotes_arguments():
    assert this_command(["experiments/x.py", "--a", "two words"]) == "python experiments/x.py --a 'two words'"


@pytest.mark.slow
def test_benchmark_writes_the_table_it_prints(tmp_path, digits_pretrained, capsys):
    import importlib.util
    import os

    import torch

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("bench_rea_batched",
                                                  os.path.join(root, "benchmarks", "bench_rea_batched.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    page = tmp_path / "docs" / "results" / "rea_batched.md"
    threads = torch.get_num_threads()
    try:
        bench.main(["--model_path", digits_pretrained, "--repeats", "1", "--steps", "2", "--chunk", "4", "--loop",
                    "--docs", str(page)])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    text = page.read_text()
    lines = text.splitlines()
    assert lines[0] == "# ReA relearning engines against a one-thread sgemm reference"
    assert lines[2].startswith("Written by `python ") and "benchmarks/bench_rea_batched.py --model_path " in lines[2]
    assert f"--docs {page}` on " in lines[2]
    assert lines[2].endswith("Rerun the command to rewrite this page; do not edit it by hand.") and " UTC (" in lines[2]
    rows = [line for line in lines if line.startswith("| ")]
    assert rows[0].startswith("| engine | CPU s per target |") and len(rows) == 5  # header, 2 engines, early stop, loop
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| vmap_grad", "| vmap_sum", "| vmap_grad + early stop at τ",
                                                      "| loop"]
    assert rows[1].endswith("| (reference) |")
    assert all(r.endswith("| True (0 of 4 steps-to-τ differ) |") for r in rows[2:])  # 1 forget + 3 OOD runs
    assert "counts equal: True (0 of 4 steps-to-τ differ)" in printed


def test_script_command_of_a_call_from_python_names_its_arguments():
    from unlearning.measured_docs import script_command

    assert script_command("benchmarks/b.py", ["--n", "5"]) == "python benchmarks/b.py --n 5"
