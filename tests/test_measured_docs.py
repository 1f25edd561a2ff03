"""A measured table in docs/ names the command, date and machine that produced it."""
import datetime as dt

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
