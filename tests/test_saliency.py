"""SalUn saliency masks: exact counts, deterministic ties, files, and masked unlearning."""
import json
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from unlearning import saliency as sal
from unlearning.cli import masks
from unlearning.files import file_fingerprint


def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))


# ----------------------------------------------------------------------------- counts and ranking
def test_kept_count_rounds_half_up():
    assert [sal.kept_count(t, 10) for t in (0.1, 0.25, 0.35, 1.0)] == [1, 3, 4, 10]
    assert sal.kept_count(0.5, 77559) == 38780 and sal.kept_count(0.3, 7) == 2


def test_every_ratio_keeps_exactly_round_t_p_entries():
    gen = torch.Generator().manual_seed(0)
    grads = {"a": torch.randn(17, 13, generator=gen), "b": torch.randn(31, generator=gen), "c": torch.randn(2, 3, 5, generator=gen)}
    P = 17 * 13 + 31 + 30
    masks = sal.saliency_masks(grads)
    assert sorted(masks) == [round(0.1 * i, 1) for i in range(1, 11)]
    for t, mask in masks.items():
        assert int(sum(m.sum().item() for m in mask.values())) == int(t * P + 0.5)
        assert {k: m.shape for k, m in mask.items()} == {k: g.shape for k, g in grads.items()}
        assert all(set(m.unique().tolist()) <= {0.0, 1.0} for m in mask.values())


def test_ranking_is_joint_over_all_parameters_by_absolute_gradient():
    grads = {"a": torch.tensor([[0.5, -3.0]]), "b": torch.tensor([1.0, 0.0, -2.0])}  # |g| order: a1, b2, b0, a0, b1
    m = sal.saliency_masks(grads, [0.4, 0.6])
    assert m[0.4]["a"].tolist() == [[0.0, 1.0]] and m[0.4]["b"].tolist() == [0.0, 0.0, 1.0]
    assert m[0.6]["a"].tolist() == [[0.0, 1.0]] and m[0.6]["b"].tolist() == [1.0, 0.0, 1.0]


def test_ties_are_broken_by_flat_position_and_masks_are_nested():
    grads = {"w": torch.full((3,), 0.2), "v": torch.full((2, 2), -0.2)}  # seven equal saliencies
    m = sal.saliency_masks(grads, [0.5, 0.2, 0.8])
    assert m[0.5]["w"].tolist() == [1, 1, 1] and m[0.5]["v"].tolist() == [[1, 0], [0, 0]]  # round(3.5) = 4
    assert m[0.2]["w"].tolist() == [1, 0, 0] and m[0.2]["v"].sum() == 0
    again = sal.saliency_masks({k: v.clone() for k, v in grads.items()}, [0.5])
    assert all(torch.equal(again[0.5][k], m[0.5][k]) for k in grads)
    gen = torch.Generator().manual_seed(1)
    rnd = {"x": torch.randn(50, generator=gen).round(decimals=1)}  # many ties
    nest = sal.saliency_masks(rnd)
    ratios = sorted(nest)
    for lo, hi in zip(ratios, ratios[1:]):
        assert torch.all(nest[lo]["x"] <= nest[hi]["x"])


@pytest.mark.parametrize("ratios, message", [
    ([0.0], r"mask ratio 0.0 is outside \(0, 1\]"), ([1.5], "outside"), ([float("nan")], "outside"),
    ([], "no mask ratios given"),
])
def test_bad_ratios(ratios, message):
    with pytest.raises(ValueError, match=message):
        sal.saliency_masks({"w": torch.ones(3)}, ratios)


def test_nan_gradients_are_refused():
    with pytest.raises(ValueError, match="NaN/inf"):
        sal.saliency_masks({"w": torch.tensor([1.0, float("nan")])}, [0.5])


# ----------------------------------------------------------------------------- the forget gradient
def test_forget_gradient_is_the_mean_gradient_and_leaves_the_model_alone():
    net = tiny_net()
    x, y = torch.randn(10, 5, generator=torch.Generator().manual_seed(2)), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    net.train()
    net[0].weight.grad = torch.full_like(net[0].weight, 7.0)
    stats = net[1].running_mean.clone()
    g = sal.forget_gradient(net, [(x[:3], y[:3]), (x[3:], y[3:])])
    assert net.training and torch.equal(net[1].running_mean, stats) and torch.all(net[0].weight.grad == 7.0)
    ref = tiny_net()
    ref.load_state_dict(net.state_dict())
    ref.eval()
    F.cross_entropy(ref(x), y).backward()
    for k, p in ref.named_parameters():
        assert torch.allclose(g[k], p.grad, atol=1e-6), k
    with pytest.raises(ValueError, match="the forget set is empty"):
        sal.forget_gradient(net, [])


# ----------------------------------------------------------------------------- files
def test_save_and_load_round_trip_and_errors(tmp_path):
    net = tiny_net()
    grads = {k: torch.randn_like(p) for k, p in net.named_parameters()}
    paths = sal.save_masks(sal.saliency_masks(grads), str(tmp_path), {"net": "tiny"})
    assert [os.path.basename(p) for p in paths] == [f"mask_{t}.pt" for t in
                                                     ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1.0")]
    raw = torch.load(os.path.join(tmp_path, "mask_0.5.pt"), weights_only=True)
    assert set(raw) == {k for k, _ in net.named_parameters()} and all(v.dtype == torch.float32 for v in raw.values())
    loaded = sal.load_mask(os.path.join(tmp_path, "mask_0.5.pt"), net)
    assert all(torch.equal(loaded[k], raw[k]) for k in raw)
    info = json.load(open(os.path.join(tmp_path, "masks.json")))
    P = sum(p.numel() for p in net.parameters())
    assert info["net"] == "tiny" and info["files"]["mask_0.5.pt"] == {
        "ratio": 0.5, "kept": int(0.5 * P + 0.5), "total": P,
        "fingerprint": file_fingerprint(os.path.join(tmp_path, "mask_0.5.pt"))}  # the file as moved into place

    other = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 9))
    with pytest.raises(sal.MaskError, match="made for another network: 3.weight has shape"):
        sal.load_mask(paths[0], other)
    with pytest.raises(sal.MaskError, match=r"made for another network: no entry for \['fc.bias'"):
        sal.load_mask(paths[0], _named_fc())
    with pytest.raises(sal.MaskError, match="does not exist"):
        sal.load_mask(str(tmp_path / "mask_0.55.pt"), net)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(sal.MaskError, match="truncated or not a mask"):
        sal.load_mask(str(tmp_path / "junk.pt"), net)
    torch.save({k: v * 2 for k, v in raw.items()}, tmp_path / "twos.pt")
    with pytest.raises(sal.MaskError, match="not all 0 or 1"):
        sal.load_mask(str(tmp_path / "twos.pt"), net)


def _named_fc():
    m = nn.Module()
    m.fc = nn.Linear(2, 2)
    return m


# ----------------------------------------------------------------------------- on digits
def test_generate_mask_entry_point_on_digits(digits_pretrained, tmp_path):
    from unlearning.experiment import Experiment, load_model

    out = str(tmp_path / "masks")
    paths = masks.main(["-weight_path", digits_pretrained, "--out_dir", out, "--device", "cpu", "--batch_size", "50"])
    assert len(paths) == 10 and os.path.basename(paths[4]) == "mask_0.5.pt"
    model, _ = load_model(digits_pretrained, Experiment("digits", device="cpu", forget_class=3), net="resnet8")
    P = sum(p.numel() for p in model.parameters())
    for p in paths:
        t = float(os.path.basename(p)[5:-3])
        assert int(sum(m.sum().item() for m in sal.load_mask(p, model).values())) == int(t * P + 0.5)
    # the batch size of the accumulation does not change the ranking (beyond float ties): same top half
    again = masks.main(["-weight_path", digits_pretrained, "--out_dir", str(tmp_path / "b"), "--device", "cpu",
                      "--ratios", "0.5"])
    a, b = torch.load(paths[4], weights_only=True), torch.load(again[0], weights_only=True)
    agree = sum((a[k] == b[k]).sum().item() for k in a) / P
    assert agree > 0.99
    with pytest.raises(SystemExit, match=r"error: mask ratio 1.2 is outside \(0, 1\]"):
        masks.main(["-weight_path", digits_pretrained, "--ratios", "0.5", "1.2", "--out_dir", out])
    with pytest.raises(SystemExit, match="error: forget class 8 is an OOD class"):
        masks.main(["-weight_path", digits_pretrained, "--forget_class", "8", "--out_dir", out, "--device", "cpu"])


def test_amnesiac_with_a_half_mask_leaves_every_unmasked_weight_unchanged(digits_pretrained, tmp_path):
    """Through the unlearning entry point's --mask_path: generate_mask's file → load_mask → Regulariser."""
    from unlearning.experiment import load_checkpoint
    from unlearning.cli.unlearn import main as unlearn_main

    path = masks.main(["-weight_path", digits_pretrained, "--out_dir", str(tmp_path / "masks"), "--device", "cpu",
                     "--ratios", "0.5"])[0]
    res = unlearn_main("digits", argv=["-method", "amnesiac", "--para1", "0.01", "--para2", "1", "--mask_path", path,
                                       "-weight_path", digits_pretrained, "--log_root", str(tmp_path / "logs"),
                                       "--device", "cpu"])
    assert "mask-mask_0.5" in res["checkpoints"]["last"]
    before, _ = load_checkpoint(digits_pretrained)
    after, _ = load_checkpoint(res["checkpoints"]["last"])
    mask = torch.load(path, weights_only=True)
    changed = 0
    for k, m in mask.items():
        frozen = m == 0
        assert torch.equal(after[k][frozen], before[k][frozen]), k
        changed += (after[k][~frozen] != before[k][~frozen]).sum().item()
    assert changed > 0.9 * sum(m.sum().item() for m in mask.values())  # Adam did move the salient half

    other = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.ones(2, 2)}, other)
    with pytest.raises(SystemExit, match=r"error: mask .*other.pt was made for another network: no entry for"):
        unlearn_main("digits", argv=["-method", "amnesiac", "--mask_path", str(other), "-weight_path",
                                     digits_pretrained, "--log_root", str(tmp_path / "logs"), "--device", "cpu"])
