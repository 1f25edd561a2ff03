"""The training step's multi-tensor forms and the compiled / captured step: the λ₁ gradient as foreach ops and the
project's SGD give the per-parameter numbers bit for bit on the CPU; a compiled fit of a dataset whose size is not a
multiple of the batch compiles once (the last partial batch is dropped); the captured step trains like the eager one."""
from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch._dynamo.testing import CompileCounter

from datasets import ImageData
from unlearning import training
from unlearning.cli.args import base_parser, speed_flags
from unlearning.runtime import configure_speed
from unlearning.training import Loader, Regulariser, sgd, static_batches, train_supervised


def small_net(classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, classes))


def learnable(n=96, classes=3, seed=0):
    """8×8 one-channel images: class k is a fixed random pattern plus noise (a net learns it in a few epochs)."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.rand(classes, 1, 8, 8, generator=g) * 200
    y = torch.arange(n) % classes
    x = (patterns[y] + torch.rand(n, 1, 8, 8, generator=g) * 55).to(torch.uint8)
    return ImageData(x=x, y=y, fine=y.clone(), mean=(0.5,), std=(0.25,))


def batch(seed, n=12):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.arange(n) % 3


def test_l1_and_l2_gradients_as_foreach_ops_equal_autograds_bit_for_bit():
    """Regulariser.step adds λ₁·sign θ and 2λ₂(θ − θ₀) after backward; autograd through the penalised loss gives
    the same weights exactly (one penalty at a time: a sum of two terms does not depend on their order)."""
    for l1, l2 in ((1e-3, 0.0), (0.0, 1e-2)):
        direct, ref = small_net(), small_net()
        reg = Regulariser(direct, l1=l1, l2=l2)
        anchor = {k: p.detach().clone() for k, p in ref.named_parameters()}
        opt_d = torch.optim.SGD(direct.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        opt_r = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        for s in range(3):
            x, y = batch(s)
            reg.step(opt_d, F.cross_entropy(direct(x), y))
            loss = F.cross_entropy(ref(x), y)
            loss = loss + l1 * sum(p.abs().sum() for p in ref.parameters())
            loss = loss + l2 * sum(((p - anchor[k]) ** 2).sum() for k, p in ref.named_parameters())
            opt_r.zero_grad(set_to_none=True)
            loss.backward()
            opt_r.step()
        for (k, a), b in zip(direct.state_dict().items(), ref.state_dict().values()):
            assert torch.equal(a, b), (l1, l2, k)
        assert not torch.equal(direct[0].weight, small_net()[0].weight)  # it trained


def test_l1_reaches_a_weight_the_loss_does_not_use():
    """A parameter outside the forward still gets λ₁·sign θ (as through autograd)."""
    net = small_net()
    extra = nn.Parameter(torch.tensor([2.0, -3.0, 0.0]))
    net.register_parameter("extra", extra)
    reg = Regulariser(net, l1=0.5)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = batch(0)
    reg.step(opt, F.cross_entropy(net(x), y))
    assert torch.equal(extra.detach(), torch.tensor([2.0 - 0.05, -3.0 + 0.05, 0.0]))


def test_project_sgd_on_the_cpu_is_foreach_and_equals_the_per_parameter_loop():
    a, b = small_net(), small_net()
    opt_a = sgd(a.parameters(), 0.1, 0.9, 5e-4, torch.device("cpu"))
    assert opt_a.defaults["foreach"] is True and not opt_a.defaults["fused"]
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for s in range(3):
        for net, opt in ((a, opt_a), (b, opt_b)):
            x, y = batch(s)
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_static_batches_drop_only_the_last_partial_batch():
    data = learnable(100)
    loader = Loader(data, torch.arange(100), data.y, 32, shuffle=True, seed=3)
    static = static_batches(loader)
    assert len(loader) == 4 and len(static) == 3 and static is not loader and not loader.drop_last
    full = [y for _, y in Loader(data, torch.arange(100), data.y, 32, shuffle=True, seed=3)]
    kept = [y for _, y in static]
    assert [len(y) for y in kept] == [32, 32, 32]
    assert all(torch.equal(a, b) for a, b in zip(kept, full[:3]))  # the same batches, in the same order
    small = Loader(data, torch.arange(20), data.y[:20], 32)
    assert static_batches(small) is small and len(small) == 1  # fewer images than a batch: its one batch stays


def _fit(compile=False, capture=False, epochs=2, n=100, l1=0.0):
    data = learnable(n)
    model = small_net()
    loader = Loader(data, torch.arange(n), data.y, 32, shuffle=True, seed=0)
    recipe = {"epochs": epochs, "lr": 0.05, "milestones": [], "warmup_epochs": 1}

    def acc(m):
        m.eval()
        with torch.no_grad():
            out = (m(data.normalize(data.x)).argmax(1) == data.y).float().mean().item()
        m.train()
        return out
    out = train_supervised(model, loader, recipe, acc, l1=l1, progress=False, compile=compile, capture=capture)
    return out, model


@pytest.mark.parametrize("mode", ["compile", pytest.param("capture", marks=pytest.mark.slow)])
def test_a_compiled_fit_with_a_partial_last_batch_compiles_once(monkeypatch, mode):
    """100 images in batches of 32 (a last batch of 4): one compilation for the whole fit, however many epochs."""
    frames = []
    for epochs in (1, 3):
        torch._dynamo.reset()
        counter = CompileCounter()
        monkeypatch.setattr(training, "COMPILE_BACKEND", counter)
        out, _ = _fit(compile=mode == "compile", capture=mode == "capture", epochs=epochs)
        frames.append(counter.frame_count)
        assert out["history"][-1]["train_acc"] >= 0  # it ran; its sums count 96 images an epoch
    torch._dynamo.reset()
    assert frames[0] == frames[1] and frames[0] >= 1
    if mode == "compile":
        assert frames == [1, 1]  # the forward: one graph, one batch shape


def test_the_captured_fit_keeps_the_partial_batch_count_out_of_its_sums(monkeypatch):
    monkeypatch.setattr(training, "COMPILE_BACKEND", "eager")
    torch._dynamo.reset()
    out, _ = _fit(capture=True, epochs=1)
    torch._dynamo.reset()
    acc = out["history"][0]["train_acc"]
    assert abs(acc * 96 - round(acc * 96)) < 1e-9  # a count over 96 images, not 100


def test_capture_is_a_speed_flag_off_by_default():
    parser = base_parser("test")
    assert speed_flags(parser.parse_args([])) == {}
    assert speed_flags(parser.parse_args(["--capture"])) == {"capture": True}
    assert speed_flags(parser.parse_args(["--no-capture"])) == {"capture": False}
    assert configure_speed(torch.device("cpu"), say=lambda s: None).capture is False
    said = []
    assert configure_speed(torch.device("cpu"), capture=True, say=said.append).capture is True
    assert said and "--capture" in said[0]
    torch.set_autocast_enabled("cpu", False)


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")),
                    reason="inductor on the CPU needs a C++ compiler")
def test_the_captured_step_trains_like_the_eager_one_with_inductor():
    """torch.compile with inductor (C++ code on the CPU): the same accuracy within tolerance as the eager fit of the
    same batches (static batches in both, λ₁ on)."""
    torch._dynamo.reset()
    eager, _ = _fit(epochs=4, n=96, l1=1e-4)
    captured, model = _fit(capture=True, epochs=4, n=96, l1=1e-4)
    torch._dynamo.reset()
    assert eager["best_val_acc"] > 0.9  # learnable: the fixture can be learnt
    assert abs(captured["best_val_acc"] - eager["best_val_acc"]) <= 0.05
    for a, b in zip(eager["history"], captured["history"]):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-3 * max(1.0, a["train_loss"])
