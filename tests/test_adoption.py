"""run.py adopts a step whose outputs already exist for the same run identity (made by hand with the same command,
or by a sweep whose ledger is gone) instead of running it again, and only then: a checkpoint replaced by hand, an
input remade since, or a recorded argument that differs from the command makes the step run."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, ROOT)
import run  # noqa: E402
import config  # noqa: E402
from unlearning.cli import quality  # noqa: E402
from unlearning.cli.args import finish_args  # noqa: E402
from unlearning.files import file_fingerprint  # noqa: E402
from unlearning.paths import pretrained_path  # noqa: E402
from unlearning.pipeline.launcher import Launcher, adoption_problem, plan_sweep  # noqa: E402


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w" if isinstance(data, str) else "wb") as fh:
        fh.write(data)
    return path


@pytest.fixture
def made(tmp_path):
    """A source model, and a run folder whose results.json records it and its own last.pt by fingerprint."""
    src = _write(str(tmp_path / "pre" / "model.pt"), b"source weights")
    run_dir = tmp_path / "run"
    last = _write(str(run_dir / "last.pt"), b"unlearned weights")
    res = {"status": "done", "source_fingerprint": file_fingerprint(src), "model_fingerprint": file_fingerprint(last),
           "args": {"seed": 0, "method": "ft", "weight_path": src, "settings": {"epochs": 2}, "early_stop": False}}
    results = _write(str(run_dir / "results.json"), json.dumps(res))
    cmd = ["python", "forget.py", "-seed", "0", "-method", "ft", "-weight_path", src, "--settings", '{"epochs": 2}',
           "--device", "cpu"]
    return src, last, results, cmd


def test_outputs_recording_their_inputs_and_the_command_are_adopted(made):
    src, last, results, cmd = made
    assert adoption_problem([cmd], [results, last], [src]) == ""


def test_a_source_model_remade_since_is_another_input(made):
    src, last, results, cmd = made
    _write(src, b"source weights, retrained")
    assert "is not the one the outputs were made from" in adoption_problem([cmd], [results, last], [src])


def test_a_checkpoint_replaced_by_hand_is_not_taken_for_the_recorded_one(made):
    src, last, results, cmd = made
    _write(last, b"other weights")
    assert "is not the file its results record" in adoption_problem([cmd], [results, last], [src])


@pytest.mark.parametrize("flag, value", [("-seed", "1"), ("-method", "rl"), ("--settings", '{"epochs": 3}'),
                                         ("-weight_path", "/elsewhere/model.pt")])
def test_a_recorded_argument_other_than_the_commands_is_not_adopted(made, flag, value):
    src, last, results, cmd = made
    cmd = list(cmd)
    cmd[cmd.index(flag) + 1] = value
    assert "records" in adoption_problem([cmd], [results, last], [src])


def test_a_flag_given_that_was_recorded_off_is_not_adopted_and_ignored_flags_do_not_count(made):
    src, last, results, cmd = made
    assert "early_stop" in adoption_problem([cmd + ["--early_stop"]], [results, last], [src])
    assert adoption_problem([cmd + ["--quiet", "--log_root", "/x"]], [results, last], [src]) == ""


def test_a_missing_input_or_an_output_that_records_no_inputs(made, tmp_path):
    src, last, results, cmd = made
    assert "is missing" in adoption_problem([cmd], [results, last], [str(tmp_path / "nope.pt")])
    bare = _write(str(tmp_path / "bare" / "results.json"), json.dumps({"status": "done"}))
    assert "is not the one" in adoption_problem([cmd], [bare], [src])


def _sweep(log_root, stages):
    args = run.parse_args(["--smoke", "--methods", "negative_grad", "--stages", *stages, "--log_root", log_root,
                           "--device", "cpu", "--startup", "per_step"])
    s = run.settings_from(args)
    return plan_sweep(s, Launcher(s["log_root"], startup="per_step")), s


@pytest.mark.slow
def test_run_py_adopts_the_steps_a_user_ran_by_hand_and_reruns_one_whose_input_changed(tmp_path, capsys):
    log_root = str(tmp_path / "logs")
    stages = ["pretrain", "unlearn", "rea", "distribution"]
    planned, _ = _sweep(log_root, stages)
    by_stage = {st: [s for s in planned.steps if s.stage == st] for st in stages}
    for stage in stages:  # the commands run by hand, as the user would type them
        for step in by_stage[stage]:
            for cmd in step.cmds:
                subprocess.run([sys.executable, *cmd[1:]], cwd=ROOT, check=True, capture_output=True)
    outputs = {s.name: [os.path.join(ROOT, p) for p in (s.outputs() if callable(s.outputs) else s.outputs)]
               for s in planned.steps if s.stage in stages}
    stamps = {p: os.stat(p).st_mtime_ns for ps in outputs.values() for p in ps}
    assert not os.path.isdir(planned.ledger_dir)

    launcher, _ = _sweep(log_root, stages)
    steps = launcher.run(stages)
    out = capsys.readouterr().out
    assert [s.status for s in steps] == ["skipped"] * len(steps) and all(s.adopted for s in steps), out
    assert out.count("adopted ") == len(steps)
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps  # nothing was rerun
    ledgers = os.listdir(launcher.ledger_dir)
    assert len(ledgers) == len(steps)

    # a third sweep finds the ledger: skipped without adopting again
    again = _sweep(log_root, stages)[0].run(stages)
    assert all(s.status == "skipped" and not s.adopted for s in again)

    # the unlearned model replaced by hand after a fresh start (ledger gone): the unlearning runs again, and the
    # attack, whose input changed, with it
    for name in ledgers:
        os.remove(os.path.join(launcher.ledger_dir, name))
    (unl,) = by_stage["unlearn"]
    last = [p for p in outputs[unl.name] if p.endswith("last.pt")][0]
    with open(last, "ab") as fh:
        fh.write(b"\0")
    steps = _sweep(log_root, stages)[0].run(stages)
    status = {s.stage: s.status for s in steps}
    assert status == {"pretrain": "skipped", "unlearn": "done", "rea": "done", "distribution": "done"}, status
    assert "not adopted: " in capsys.readouterr().out


def test_a_value_no_folder_name_carries_must_be_recorded_as_the_command_resolves_it(made):
    src, last, results, cmd = made
    assert "records its recipe" in adoption_problem([cmd], [results, last], [src], {"recipe": {"epochs": 30}})
    res = json.load(open(results))
    _write(results, json.dumps(dict(res, recipe={"epochs": 3, "milestones": [1, 2]})))
    assert "record another recipe" in adoption_problem([cmd], [results, last], [src],
                                                       {"recipe": {"epochs": 30, "milestones": [1, 2]}})
    assert adoption_problem([cmd], [results, last], [src], {"recipe": {"milestones": (1, 2), "epochs": 3}}) == ""


def test_a_pretraining_made_by_hand_with_another_recipe_is_not_adopted(tmp_path, capsys):
    """pretrain/seed-0 is named by dataset, net, seed and l1 only: a hand run with --epochs 1 lands where the
    sweep's 30-epoch pretraining would, and its recorded recipe is what tells them apart."""
    from unlearning.cli.pretrain import main as pretrain_main

    log_root = str(tmp_path / "logs")
    pretrain_main("digits", ["--epochs", "1", "--milestones", "--log_root", log_root, "--quiet", "--device", "cpu"])
    args = run.parse_args(["--stages", "pretrain", "--log_root", log_root, "--device", "cpu"])
    s = run.settings_from(args)
    launcher = plan_sweep(s, Launcher(s["log_root"], dry_run=True))
    (step,) = launcher.run(["pretrain"])
    assert step.status == "planned" and not step.adopted
    assert "not adopted: the outputs record another recipe" in capsys.readouterr().out


def test_the_audit_refuses_a_pretrained_model_of_another_recipe_and_reuses_one_of_its_own(tmp_path):
    ckpt = pretrained_path(str(tmp_path), "digits", "resnet8", 0)
    _write(ckpt, b"weights")
    recipe = dict(config.PRESETS["digits"]["pretrain"], epochs=1)
    _write(os.path.join(os.path.dirname(ckpt), "results.json"), json.dumps({"status": "done", "recipe": recipe}))

    def audit(*flags):
        return finish_args(quality.parser("digits").parse_args(["--log_root", str(tmp_path), "--device", "cpu", *flags]))
    with pytest.raises(quality.StageError, match="another recipe"):
        quality.ensure_pretrained(audit(), 0)
    # the audit of that recipe (--pretrain_recipe, as a smoke sweep's audit gives it) reuses the model as it is
    assert quality.ensure_pretrained(audit("--pretrain_recipe", '{"epochs": 1}'), 0) == ckpt
    assert open(ckpt, "rb").read() == b"weights"


def test_a_nested_expected_value_such_as_the_t_sne_settings(made):
    src, last, results, cmd = made
    res = json.load(open(results))
    _write(results, json.dumps(dict(res, args=dict(res["args"], max_points=120))))
    assert "record another args.max_points (120)" in adoption_problem([cmd], [results, last], [src],
                                                                      {"args.max_points": 2000})
    assert adoption_problem([cmd], [results, last], [src], {"args.max_points": 120}) == ""


def test_the_distribution_step_expects_its_parser_defaults():
    from unlearning.cli.distribution import computed_settings

    got = computed_settings(["-method", "ft", "--max_points", "500"])
    assert got["args.max_points"] == 500 and got["args.perplexity"] == 30.0 and got["args.features"] == "penultimate"
