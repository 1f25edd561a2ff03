"""Every run.py step declares its outputs (so a deleted output is redone), and smoke settings reach every stage:
the black-box commands name one extracted copy made with the smoke budget, the quality audit runs with K = 2."""
import os
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, ROOT)
import run  # noqa: E402
from unlearning.pipeline.launcher import Launcher, plan_sweep  # noqa: E402


def _plan(tmp_path, digits_pretrained, *extra):
    args = run.parse_args(["--methods", "negative_grad", "--stages", "pretrain", "unlearn", "rea", "blackbox",
                           "quality", "report", "--log_root", str(tmp_path / "logs"), "--device", "cpu", *extra])
    s = run.settings_from(args)
    return plan_sweep(s, Launcher(s["log_root"], dry_run=True)), s


def _arg(cmd, flag):
    return cmd[cmd.index(flag) + 1] if flag in cmd else None


@pytest.mark.parametrize("smoke", [False, True])
def test_every_step_declares_its_outputs(tmp_path, digits_pretrained, smoke):
    launcher, s = _plan(tmp_path, digits_pretrained, *(["--smoke"] if smoke else []))
    by_stage = {}
    for step in [st for st in launcher.steps if st.stage in s["stages"]]:
        outputs = step.outputs() if callable(step.outputs) else step.outputs
        assert outputs, (step.name, "declares no outputs")
        by_stage.setdefault(step.stage, []).append((step, outputs))
    assert {"pretrain", "unlearn", "rea", "blackbox", "quality", "report"} <= set(by_stage)
    (bb, bb_out), = by_stage["blackbox"]
    dfme, attack = bb.cmds
    # the two commands name one copy: the same DFME flags, and the attack's results sit under that copy's folder
    for flag in ("--query_budget", "--batch_size", "--eval_points"):
        assert _arg(dfme, flag) == _arg(attack, flag), flag
    assert os.sep + "dfme" + os.sep in bb_out[0] and bb_out[0].endswith("results.json")
    (q, q_out), = by_stage["quality"]
    assert ("_m-" in q_out[0]) and q_out[0].endswith("results.json")
    if smoke:
        assert _arg(dfme, "--query_budget") == "512" and _arg(q.cmds[0], "--K") == "2"
        assert f"{os.sep}smoke{os.sep}" in bb_out[0] and f"{os.sep}smoke{os.sep}" in q_out[0]
    else:
        assert _arg(dfme, "--query_budget") is None and _arg(q.cmds[0], "--K") is None


def test_the_smoke_settings_of_every_method_pass_its_check():
    """The smoke plan sends each method only the tiny settings it reads: every registry name, on every preset."""
    from config import SMOKE
    from unlearning.methods import check_settings, merge, method_names, method_settings
    from unlearning.pipeline.launcher import _smoke_unlearn_settings

    for dataset in ("digits", "cifar20"):
        for name in method_names():
            tiny = _smoke_unlearn_settings(SMOKE, name)
            check_settings(name, merge(method_settings(dataset, name), tiny))
    assert "fisher_samples" not in _smoke_unlearn_settings(SMOKE, "negative_grad")
    assert _smoke_unlearn_settings(SMOKE, "negative_grad_our")["replay"] == SMOKE["unlearn"]["replay"]
    assert _smoke_unlearn_settings(SMOKE, "retrain")["pretrain"] == SMOKE["unlearn"]["pretrain"]
