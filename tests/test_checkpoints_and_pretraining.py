"""Checkpoints (atomic, metadata, weights_only, clear errors) and the pretraining recipe."""
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from unlearning.errors import CheckpointError
from unlearning.experiment import Experiment, load_checkpoint, load_model, save_checkpoint
from unlearning.paths import unlearn_dir
from unlearning.runtime import resolve_device
from unlearning.cli.pretrain import main as pretrain_main, weight_sparsity


@pytest.fixture(scope="module")
def exp():
    return Experiment("digits", device="cpu", forget_class=3)


def test_checkpoint_roundtrip_carries_metadata(tmp_path, exp):
    model = exp.new_model("resnet8")
    path = save_checkpoint(str(tmp_path / "m.pt"), model, exp.model_meta("resnet8", seed=3))
    loaded, meta = load_model(path, exp)
    assert meta["dataset"] == "digits" and meta["trained_classes"] == list(range(7)) and meta["ood_classes"] == [7, 8, 9]
    assert meta["arch"] == "resnet8" and meta["seed"] == 3
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    assert [f for f in os.listdir(tmp_path)] == ["m.pt"]  # no temporary file left behind


@pytest.mark.parametrize("key,value", [("dataset", "cifar20"), ("arch", "resnet20"), ("trained_classes", [0, 1, 2]),
                                        ("ood_classes", [9])])
def test_checkpoint_mismatch_is_a_clear_error(tmp_path, exp, key, value):
    meta = exp.model_meta("resnet8")
    meta[key] = value
    path = save_checkpoint(str(tmp_path / "m.pt"), exp.new_model("resnet8"), meta)
    with pytest.raises(CheckpointError, match=f"made for {key}="):
        load_model(path, exp, net="resnet8")


def test_truncated_checkpoint_is_a_clear_error(tmp_path, exp):
    path = save_checkpoint(str(tmp_path / "m.pt"), exp.new_model("resnet8"), exp.model_meta("resnet8"))
    data = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(str(tmp_path / "missing.pt"))


def test_same_seed_same_weights(tmp_path):
    args = ["--epochs", "2", "--milestones", "1", "--quiet", "--device", "cpu"]
    a = pretrain_main("digits", args + ["--log_root", str(tmp_path / "a")])
    b = pretrain_main("digits", args + ["--log_root", str(tmp_path / "b")])
    c = pretrain_main("digits", args + ["--log_root", str(tmp_path / "c"), "--seed", "1"])
    sa, sb, sc = (torch.load(r["checkpoint"], weights_only=True)["state_dict"] for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_pretrained_model_is_accurate_and_selected_on_validation(digits_pretrained):
    import json
    res = json.load(open(os.path.join(os.path.dirname(digits_pretrained), "results.json")))
    assert res["test_acc"] >= 0.95
    log = open(os.path.join(os.path.dirname(digits_pretrained), "train_log.tsv")).read().splitlines()
    assert log[0].split("\t") == ["epoch", "lr", "train_loss", "train_acc", "val_acc", "seconds"] and len(log) == 9
    best = max(float(line.split("\t")[4]) for line in log[1:])
    assert res["val_acc"] == pytest.approx(best)


def test_l1_makes_the_model_sparser(tmp_path, digits_pretrained, exp):
    res = pretrain_main("digits", ["--epochs", "8", "--milestones", "5", "7", "--quiet", "--device", "cpu",
                                   "--l1", "5e-4", "--log_root", str(tmp_path)])
    dense, _ = load_model(digits_pretrained, exp)
    assert res["sparsity_abs_lt_1e-3"] > weight_sparsity(dense) + 0.2


@pytest.mark.slow
def test_cli_errors_are_one_line():
    run = lambda *a: subprocess.run([sys.executable, "pretrain_model_digits.py", *a], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True)
    r = run("-classes", "20")
    assert r.returncode != 0 and r.stderr.strip() == "error: -classes 20 does not match digits, which has 10 classes"
    r = run("-net", "resnet9")
    assert r.returncode != 0 and "unknown network 'resnet9'" in r.stderr.strip().splitlines()[-1]
    r = subprocess.run([sys.executable, "pretrain_model_cifar20.py", "--data_root", "/nonexistent"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "pass --download" in r.stderr and "Traceback" not in r.stderr


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_run_folder_names_every_identifying_argument():
    d = unlearn_dir("log_files", "digits", "resnet8", 3, "amnesiac_our", 0.01, 5, "masks/mask_0.5.pt", 2, {"l1": 5e-5, "l2": 0})
    assert d == os.path.join("log_files", "digits", "resnet8", "forget_3", "amnesiac_our",
                             "p1-0.01_p2-5_mask-mask_0.5_seed-2_l1-5e-05")
