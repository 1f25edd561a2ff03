"""A stage writes only into its own folders: an --out_dir holding another stage's results is refused before any
computation, and what is there stays as it was."""
import hashlib
import os

import pytest

from unlearning.cli.distribution import main as distribution_main
from unlearning.errors import OutputError
from unlearning.files import check_stage_owner, write_json


def _digest(path):
    return hashlib.sha1(open(path, "rb").read()).hexdigest()


def test_a_folder_with_another_stages_results_is_refused(tmp_path):
    write_json(str(tmp_path / "results.json"), {"status": "done", "stage": "unlearn"})
    check_stage_owner(str(tmp_path), "unlearn")  # its own: a rerun may replace it
    with pytest.raises(OutputError, match="holds the results of the unlearn stage"):
        check_stage_owner(str(tmp_path), "distribution")
    check_stage_owner(str(tmp_path / "empty"), "distribution")  # nothing there yet
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{trunc")
    check_stage_owner(str(tmp_path / "bad"), "distribution")  # not a finished result of any stage


def test_distribution_into_an_unlearning_run_folder_is_one_error_line(tmp_path, digits_pretrained):
    run = tmp_path / "run"
    results = str(run / "results.json")
    write_json(results, {"status": "done", "stage": "unlearn", "metrics": {"TA": 0.9}})
    before = _digest(results)
    with pytest.raises(SystemExit) as err:
        distribution_main(["-dataset", "digits", "--model_path", digits_pretrained, "--out_dir", str(run),
                           "--device", "cpu"])
    msg = str(err.value.code)
    assert msg.startswith("error: ") and "unlearn stage" in msg and "\n" not in msg
    assert _digest(results) == before and sorted(os.listdir(run)) == ["results.json"]
