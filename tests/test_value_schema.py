"""One value schema: every setting has a kind, and the same check runs wherever a value enters (the method's
config entry, a --recipe, --settings, a CLI flag), as one error line before any computation."""
import os

import pytest
import torch

from unlearning.cli.unlearn import main
from unlearning.experiment import load_checkpoint, save_checkpoint
from unlearning.errors import CheckpointError
from unlearning.methods import METHODS, VARIANTS, load_recipe, method_names, method_settings
from unlearning.methods.schema import (ORTH_KINDS, REPLAY_KINDS, SETTING_KINDS, check_recipe, check_settings,
                                       inferred_kind, known_kinds)
from unlearning.methods.settings import SNAPSHOT_DATASETS
from unlearning.runtime import resolve_device
from unlearning.values import check, check_training_recipe, did_you_mean, flag_type


# ----------------------------------------------------------------------------- the kinds
def test_every_registered_setting_has_a_declared_kind():
    """A setting a method registers without a kind and without a SETTING_KINDS entry is only type-checked: the
    project's own methods declare every one."""
    undeclared = sorted((name, key) for name, m in METHODS.items() for key, reg in m.settings.items()
                        if len(reg) < 3 and key not in SETTING_KINDS)
    assert not undeclared, f"give these settings a kind in unlearning/methods/schema.py SETTING_KINDS: {undeclared}"
    for v in VARIANTS.values():
        table = {"replay": REPLAY_KINDS, "orth": ORTH_KINDS}[v.key]
        assert set(v.defaults) <= set(table), (v.key, sorted(set(v.defaults) - set(table)))


def test_every_preset_value_passes_its_own_check_unchanged():
    for dataset in SNAPSHOT_DATASETS:
        for name in method_names():
            s = method_settings(dataset, name)
            assert check_settings(name, s) == s, (dataset, name)


@pytest.mark.parametrize("value,kind,ok", [
    (1, "count", 1), (3.0, "epochs", 3), (0, "count0", 0), (0.5, "ratio", 0.5), (1.0, "ratio", 1.0),
    (True, "bool", True), ("adam", ("adam", "sgd"), "adam"), ([3, 5.0], "epoch_list", [3, 5]), (None, "optional_count", None),
])
def test_values_in_range_pass_normalised(value, kind, ok):
    assert check("x", value, kind) == ok and type(check("x", value, kind)) is type(ok)


@pytest.mark.parametrize("value,kind", [
    (0, "count"), (2.5, "epochs"), (-1, "count0"), (0.0, "ratio"), (1.5, "weight"), (float("nan"), "real"),
    (float("inf"), "nonneg"), (-1e-3, "nonneg"), (0, "lr"), ("1", "count"), (True, "count"), (1, "bool"),
    ("SGD", ("adam", "sgd")), ([1, -2], "epoch_list"), (3, "epoch_list"), (0, "optional_count"), (5, "text"),
])
def test_values_out_of_range_are_one_line_naming_the_value(value, kind):
    with pytest.raises(ValueError) as err:
        check("m setting k", value, kind)
    assert "m setting k" in str(err.value) and "\n" not in str(err.value)


def test_inferred_kinds_follow_the_default_type():
    assert [inferred_kind(v) for v in (True, 3, -1, 0.5, [1], "x")] == ["bool", "count0", "real", "real",
                                                                         "int_list", "text"]


def test_unknown_keys_are_refused_with_the_closest_known_one():
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        check_settings("negative_grad", dict(method_settings("digits", "negative_grad"), epoch=3))
    with pytest.raises(ValueError, match="replay has no setting 'lrr'.*did you mean 'lr'"):
        s = method_settings("digits", "negative_grad_our")
        check_settings("negative_grad_our", dict(s, replay=dict(s["replay"], lrr=0.1)))
    assert "stop_forget_acc" in known_kinds("negative_grad_our") and "stop_forget_acc" not in known_kinds("negative_grad")
    assert did_you_mean("negative_gradd", ["negative_grad", "retrain"]) == " (did you mean 'negative_grad'?)"
    assert did_you_mean("zzz", ["negative_grad"]) == ""


# ----------------------------------------------------------------------------- where values enter
def test_a_recipe_is_checked_when_it_is_read():
    with pytest.raises(ValueError, match="UNLEARN names 'negative_gradd'.*did you mean 'negative_grad'"):
        load_recipe({"UNLEARN": {"negative_gradd": {"epochs": 1}}})
    with pytest.raises(ValueError, match=r"UNLEARN.negative_grad.epochs -1 is out of range"):
        load_recipe({"UNLEARN": {"negative_grad": {"epochs": -1}}})
    with pytest.raises(ValueError, match=r"OVER_UNLEARN.replay.lr 0 is out of range"):
        load_recipe({"OVER_UNLEARN": {"replay": {"lr": 0}}})
    with pytest.raises(ValueError, match="keyed by the plain method"):
        load_recipe({"OVER_UNLEARN": {"negative_grad_our": {"epochs": 1}}})
    ok = load_recipe({"UNLEARN": {"negative_grad": {"epochs": 2.0}}, "OVER_UNLEARN": {"negative_grad": {
        "steps": 10, "replay": {"epochs": 1}}}})
    assert ok["UNLEARN"]["negative_grad"]["epochs"] == 2 and type(ok["UNLEARN"]["negative_grad"]["epochs"]) is int


@pytest.mark.parametrize("extra,needle", [
    (["--settings", '{"batch_size": 0}'], "negative_grad setting batch_size 0 is out of range"),
    (["--settings", '{"epochs": -1}'], "negative_grad setting epochs -1 is out of range"),
    (["--settings", '{"epoch": 3}'], "did you mean 'epochs'"),
    (["--recipe", '{"UNLEARN": {"negative_grad": {"momentum": 2}}}'], "momentum 2 is out of range"),
    (["--recipe", '{"UNLEARN": {"negativ_grad": {"epochs": 1}}}'], "did you mean 'negative_grad'"),
    (["--device", "cpu:1"], "--device cpu:1"),
])
def test_bad_values_stop_the_run_before_it_writes_anything(tmp_path, digits_pretrained, extra, needle):
    argv = ["-method", "negative_grad", "--log_root", str(tmp_path), "-weight_path", digits_pretrained,
            "--device", "cpu", *extra]
    with pytest.raises(SystemExit) as err:
        main("digits", argv=argv)
    msg = str(err.value.code)
    assert msg.startswith("error: ") and needle in msg and "\n" not in msg, msg
    written = [f for _, _, files in os.walk(tmp_path) for f in files]
    assert not written, written


@pytest.mark.parametrize("flag,value", [("--l1", "-1"), ("--l2", "-0.5"), ("--l2", "nan"), ("--l1", "x")])
def test_penalty_flags_are_checked_by_argparse(tmp_path, digits_pretrained, capsys, flag, value):
    with pytest.raises(SystemExit) as err:
        main("digits", argv=["-method", "negative_grad", "--log_root", str(tmp_path), flag, value])
    assert err.value.code == 2
    line = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(line) == 1 and flag in line[0] and "≥ 0" in line[0], line


def test_flag_type_casts_then_checks():
    assert flag_type("count", int)("3") == 3
    with pytest.raises(Exception, match="out of range"):
        flag_type("count", int)("0")


def test_devices_with_an_index_only_where_there_are_several():
    assert resolve_device("cpu").type == "cpu" and resolve_device("cpu:0").type == "cpu"
    for spec in ("cpu:1", "tpu", "cuda:x"):
        with pytest.raises(ValueError, match=f"--device {spec}"):
            resolve_device(spec)


def test_a_checkpoint_must_agree_on_every_split_field(tmp_path, digits_pretrained):
    """split_seed, val_fraction, num_classes (and any field Split.metadata adds) are compared, not only some."""
    state, meta = load_checkpoint(digits_pretrained)
    model = torch.nn.Linear(1, 1)
    expect = {k: meta[k] for k in ("dataset", "num_classes", "trained_classes", "ood_classes", "ood_fine",
                                   "val_fraction", "split_seed") if k in meta}
    assert load_checkpoint(digits_pretrained, expect=expect)[1] == meta
    for key, other in (("split_seed", 7), ("val_fraction", 0.25), ("num_classes", 3)):
        path = str(tmp_path / f"{key}.pt")
        save_checkpoint(path, model, dict(meta, **{key: other}))
        with pytest.raises(CheckpointError, match=f"made for {key}="):
            load_checkpoint(path, expect=expect)


@pytest.mark.parametrize("flag,value", [("--repeats", "0"), ("--jobs", "0"), ("--relearning_lr", "-0.01"),
                                        ("--seeds", "-1"), ("--forget_classes", "x"), ("--repeats", "2.5")])
def test_run_py_overrides_are_checked_before_planning(tmp_path, flag, value):
    """A run.py override out of range is argparse's one error line (never dropped for the preset's value)."""
    import subprocess
    import sys
    from conftest import ROOT
    r = subprocess.run([sys.executable, "run.py", flag, value, "--dry_run", "--log_root", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True)
    lines = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert r.returncode == 2 and len(lines) == 1 and flag in lines[0], r.stderr
    assert not os.listdir(tmp_path)


# ----------------------------------------------------------------------------- the training recipe, wherever it enters
def test_every_presets_training_recipe_passes_its_own_check():
    import config
    for name, preset in config.PRESETS.items():
        assert check_training_recipe(preset["pretrain"], name) == preset["pretrain"]


@pytest.mark.parametrize("flags, said", [(["--epochs", "0"], "--epochs"), (["--epochs", "-1"], "--epochs"),
                                         (["--batch_size", "0"], "--batch_size"), (["--lr", "0"], "--lr"),
                                         (["--lr", "nan"], "--lr"), (["--milestones", "5", "-3"], "--milestones")])
def test_pretraining_flags_out_of_range_are_argparse_errors(flags, said, capsys):
    from unlearning.cli.parsers import pretrain_parser
    with pytest.raises(SystemExit) as exit_:
        pretrain_parser("digits").parse_args(flags)
    assert exit_.value.code == 2 and said in capsys.readouterr().err


def test_a_runs_pretrain_setting_is_checked_key_by_key():
    assert check_settings("retrain", {"pretrain": {"epochs": 2.0}})["pretrain"] == {"epochs": 2}
    with pytest.raises(ValueError, match=r"retrain setting pretrain\.epochs 0 is out of range"):
        check_settings("retrain", {"pretrain": {"epochs": 0}})
    with pytest.raises(ValueError, match=r"has no setting 'epoch' \(did you mean 'epochs'\?\)"):
        check_settings("retrain", {"pretrain": {"epoch": 2}})
    with pytest.raises(ValueError, match="must be an object"):
        check_settings("retrain", {"pretrain": 5})
    with pytest.raises(ValueError, match=r"UNLEARN\.retrain\.pretrain\.batch_size 0 is out of range"):
        check_recipe({"UNLEARN": {"retrain": {"pretrain": {"batch_size": 0}}}}, "r.json")


def test_the_training_loop_refuses_a_recipe_that_came_round_every_check():
    from unlearning.training import train_supervised
    with pytest.raises(ValueError, match=r"training recipe\.epochs 0 is out of range"):
        train_supervised(torch.nn.Linear(2, 2), [], {"epochs": 0, "lr": 0.1}, lambda m: 1.0)


@pytest.mark.parametrize("flags", [["--confidence", "1"], ["--confidence", "0"], ["--max_fpr", "1.5"],
                                   ["--pretrain_recipe", "[1]"], ["--method_settings", "not json"]])
def test_the_audits_flags_are_refused_before_anything_runs(flags):
    from unlearning.cli.parsers import quality_parser
    with pytest.raises(SystemExit):
        quality_parser("digits").parse_args(flags)


@pytest.mark.parametrize("flags, said", [
    (["--pretrain_recipe", '{"epochs": 0}'], r"--pretrain_recipe\.epochs 0 is out of range"),
    (["--pretrain_recipe", '{"warmup_epochs": 2}'], "--pretrain_recipe has no setting 'warmup_epochs'"),
    (["--method_settings", '{"retrian": {}}'], r"names 'retrian', which the audit does not run \(did you mean 'retrain'"),
    (["--method_settings", '{"finetune": {"batch_size": 0}}'], r"finetune setting batch_size 0 is out of range"),
    (["--method_settings", '{"retrain": 3}'], "must be an object")])
def test_the_audits_settings_are_checked_when_its_scope_is_resolved(flags, said, tmp_path):
    from unlearning.cli import quality
    from unlearning.cli.args import finish_args
    args = finish_args(quality.parser("digits").parse_args(
        ["--log_root", str(tmp_path), "--device", "cpu", "--methods", "finetune", *flags]))
    with pytest.raises(ValueError, match=said):
        quality.resolve_scope(args)
    assert not os.listdir(tmp_path)  # nothing trained or written


@pytest.mark.parametrize("flag", ["-seed", "--attack_seed", "--first_seed", "--dfme_seed"])
def test_every_seed_flag_refuses_a_negative_seed(flag, capsys):
    from unlearning.cli import parsers
    owners = [p for p in (parsers.pretrain_parser("digits"), parsers.unlearn_parser("digits"),
                          parsers.rea_parser("digits"), parsers.rival_parser("digits"), parsers.quality_parser("digits"),
                          parsers.dfme_parser("digits")) if flag in p._option_string_actions]
    assert owners
    for p in owners:
        assert p.parse_args([flag, "3"]) is not None
        with pytest.raises(SystemExit):
            p.parse_args([flag, "-1"])
        assert "a seed: a whole number ≥ 0" in capsys.readouterr().err
