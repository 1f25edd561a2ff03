"""The methods compute what the code they come from computes: each test checks one recipe detail against a hand
computation on a tiny model (docs/fidelity.md lists the details and where the reference sets them)."""
import copy
import dataclasses
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from unlearning.methods import classic as strategies
from unlearning.experiment import Experiment, load_model
from unlearning.methods import METHODS, Context, method_settings
from unlearning.methods.classic import distill_kl, fisher_diagonal, fisher_noise_variance, ssd_importances, unsir_noise_loss, wfisher_direction
from unlearning.methods.common import classifier_layer, mean_grad
from unlearning.training import Regulariser


@pytest.fixture(scope="module")
def small():
    """The digits experiment cut to 100 retain + 20 forget samples (two batches of 64 in SSD's pass)."""
    exp = Experiment("digits", device="cpu", forget_class=3)
    s = exp.split
    r, f = s.retain_train[:100], s.forget_train[:20]
    e = copy.copy(exp)
    e.split = dataclasses.replace(s, retain_train=r, forget_train=f, train_idx=torch.sort(torch.cat([r, f]))[0])
    return e


def _ctx(exp, weights, settings, dataset="digits", name=None):
    teacher, _ = load_model(weights, exp, net="resnet8")
    model = copy.deepcopy(teacher)
    teacher.requires_grad_(False)
    base = method_settings(dataset, name) if name else {}
    return Context(model=model, teacher=teacher, exp=exp, net="resnet8", reg=Regulariser(model), seed=0,
                   settings=dict(base, **settings))


def _grads(model, x, y):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.autograd.grad(F.cross_entropy(model(x), y), params)


# ----------------------------------------------------------------------------- Wfisher
def test_wfisher_direction_is_forget_share_times_gradient_difference():
    """Linear softmax model: the CE gradient of a sample is (softmax − onehot)·xᵀ, summed here by hand."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2, bias=False)
    xf, yf = torch.randn(2, 3), torch.tensor([0, 0])
    xr, yr = torch.randn(6, 3), torch.tensor([1, 0, 1, 1, 0, 1])

    def hand_mean(x, y):
        with torch.no_grad():
            err = F.softmax(model(x), 1) - F.one_hot(y, 2).float()
        return (err.T @ x).reshape(-1) / len(x)

    g_f = mean_grad(model, [(xf, yf)])
    g_r = mean_grad(model, [(xr[:4], yr[:4]), (xr[4:], yr[4:])])
    assert torch.allclose(g_f, hand_mean(xf, yf), atol=1e-6) and torch.allclose(g_r, hand_mean(xr, yr), atol=1e-6)
    v = wfisher_direction(g_f, g_r, 2, 6)
    assert torch.allclose(v, 0.25 * (hand_mean(xf, yf) - hand_mean(xr, yr)), atol=1e-6)
    # the retain term is not weighted by n_r / n (that would be 3× heavier than the forget share here)
    assert not torch.allclose(v, (2 * g_f - 6 * g_r) / 8, atol=1e-4)


def test_wfisher_applies_alpha_times_the_inverse_fisher_of_that_direction(small, digits_pretrained, monkeypatch):
    seen = {}

    def spy(G, v, damping=1.0, n=None):
        seen["v"] = v.clone()
        return v

    monkeypatch.setattr(strategies, "woodfisher_inverse_apply", spy)
    ctx = _ctx(small, digits_pretrained, {"grad_batch_size": 7}, name="Wfisher")
    before = torch.cat([p.detach().reshape(-1).clone() for p in ctx.model.parameters()])
    # hand: per-sample gradients in eval mode, averaged per set
    model = copy.deepcopy(ctx.model).eval()
    x = small.train.normalize(small.train.x)

    def mean_of(idx):
        rows = [torch.cat([g.reshape(-1) for g in _grads(model, x[i:i + 1], ctx.targets(i.view(1)))]) for i in idx]
        return torch.stack(rows).mean(0)

    n_f, n_r = len(small.split.forget_train), len(small.split.retain_train)
    v = n_f / (n_f + n_r) * (mean_of(small.split.forget_train) - mean_of(small.split.retain_train))
    strategies.Wfisher(ctx, 3.0, 8)
    after = torch.cat([p.detach().reshape(-1) for p in ctx.model.parameters()])
    assert torch.allclose(seen["v"], v, atol=1e-6)
    assert torch.allclose(after - before, 3.0 * v, atol=1e-5)


def test_paper_wfisher_values():
    assert method_settings("cifar20", "Wfisher")["para1"] == 50.0 and method_settings("cifar20", "Wfisher")["para2"] == 1000
    assert method_settings("cifar20", "Wfisher_our")["para1"] == 120.0


# ----------------------------------------------------------------------------- negative_grad
def test_negative_grad_is_plain_sgd_without_momentum_or_weight_decay(small, digits_pretrained, monkeypatch):
    """Two ascent epochs over a 20-image D_f in one batch: θ₂ = θ₁ + lr·∇CE(θ₁), θ₁ = θ₀ + lr·∇CE(θ₀) exactly."""
    ctx = _ctx(small, digits_pretrained, {"epochs": 2, "batch_size": 32}, name="negative_grad")
    opts = []
    real_step = ctx.reg.step

    def step(opt, loss):
        opts.append(opt)
        return real_step(opt, loss)

    monkeypatch.setattr(ctx.reg, "step", step)
    hand = copy.deepcopy(ctx.model).train()
    x = small.train.normalize(small.train.x[small.split.forget_train])
    y = ctx.targets(small.split.forget_train)
    lr = 0.05
    for _ in range(2):
        grads = _grads(hand, x, y)
        with torch.no_grad():
            for p, g in zip(hand.parameters(), grads):
                p.add_(lr * g)  # ascent on the CE
    strategies.negative_grad(ctx, lr, 0.0)
    opt = opts[0]
    assert len(opts) == 2 and all(o is opt for o in opts)
    assert opt.param_groups[0]["momentum"] == 0 and opt.param_groups[0]["weight_decay"] == 0
    assert all(opt.state[p].get("momentum_buffer") is None for p in ctx.model.parameters())
    for p, q in zip(ctx.model.parameters(), hand.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


# ----------------------------------------------------------------------------- SSD
def test_ssd_importance_is_the_class_ordered_eval_pass_in_batches_of_64(small, digits_pretrained):
    ctx = _ctx(small, digits_pretrained, {}, name="ssd_tuning")
    ctx.model.train()  # the method must switch to eval mode itself
    i_d, i_f = ssd_importances(ctx)
    assert ctx.model.training  # and restore the mode
    model = copy.deepcopy(ctx.model).eval()
    y_all = small.train.y
    # hand: retain sorted by class (stable), then forget; batches of 64 in that order
    r = sorted(small.split.retain_train.tolist(), key=lambda i: int(y_all[i]))
    order = torch.tensor(r + small.split.forget_train.tolist())
    assert [int(y_all[i]) for i in order[:100]] == sorted(int(y_all[i]) for i in order[:100])
    x = small.train.normalize(small.train.x)

    def hand(idx):
        acc = [torch.zeros_like(p) for p in model.parameters()]
        batches = [idx[b:b + 64] for b in range(0, len(idx), 64)]
        for b in batches:
            for a, g in zip(acc, _grads(model, x[b], ctx.targets(b))):
                a += g ** 2
        return [a / len(batches) for a in acc]

    for (k, v), h in zip(i_d.items(), hand(order)):
        assert torch.allclose(v, h, rtol=1e-4, atol=1e-12), k
    for (k, v), h in zip(i_f.items(), hand(small.split.forget_train)):
        assert torch.allclose(v, h, rtol=1e-4, atol=1e-12), k
    # the mixed-class pass is a different number (so this test can tell them apart)
    mixed, _ = ssd_importances(dataclasses.replace(ctx, settings=dict(ctx.settings, importance_order="mixed")))
    assert not all(torch.allclose(mixed[k], i_d[k], rtol=1e-3) for k in i_d)


def test_paper_ssd_values_are_what_the_launcher_passes():
    assert method_settings("cifar20", "ssd_tuning")["para1"] == 1.0  # the paper's launcher passes α = 1, λ = 1
    assert method_settings("cifar20", "ssd_tuning")["para2"] == 1.0
    assert method_settings("cifar20", "ssd_tuning")["importance_batch_size"] == 64
    assert method_settings("cifar20", "ssd_tuning_our")["para1"] == 0.005


# ----------------------------------------------------------------------------- Fisher forgetting
class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, bias=False)
        self.bn = nn.BatchNorm2d(3)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))).flatten(1))


class _Settings:
    def __init__(self, forget_index, **settings):
        self.split = type("S", (), {"forget_index": forget_index})()
        self.settings = settings

    def setting(self, key, default=None):
        return self.settings.get(key, default)


def test_fisher_forgetting_uses_the_true_fisher_and_golatkars_variance_rules():
    torch.manual_seed(0)
    model = _Net().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    x, y = torch.randn(5, 2, 4, 4), torch.tensor([0, 1, 2, 1, 0])
    got = fisher_diagonal(model, x, y, 3, "true", chunk_size=2)
    # hand: batch size 1, for every label y the CE gradient squared, weighted by p_y, mean over the samples
    hand = torch.zeros_like(got)
    for i in range(5):
        p = F.softmax(model(x[i:i + 1]), 1)[0].detach()
        for label in range(3):
            g = torch.cat([t.reshape(-1) for t in _grads(model, x[i:i + 1], torch.tensor([label]))])
            hand += p[label] * g ** 2
    hand /= 5
    assert torch.allclose(got, hand, rtol=1e-4, atol=1e-10)
    emp = fisher_diagonal(model, x, y, 3, "empirical", chunk_size=2)
    assert not torch.allclose(emp, hand, rtol=1e-2)

    fisher = strategies.unflatten(got, model)
    alpha, f = 1e-3, 1
    moments = fisher_noise_variance(_Settings(f, **METHODS["FisherForgetting"].defaults()), model, fisher, alpha)
    for k, p in model.named_parameters():
        mu, var = moments[k]
        head = k.startswith("head.")
        expect = alpha * torch.clamp(1.0 / (fisher[k] + 1e-8), max=1e2 if head else 1e3)
        if p.ndim > 1:  # averaged over the input dimension, kept per (output, kernel position)
            expect = expect.mean(dim=1, keepdim=True).expand_as(p).clone()
        expect_mu = p.detach().clone()
        if head:
            expect_mu[f] = 0.0
            expect[f] = 1e-4
        if head or p.ndim == 1:
            expect = expect * 10
        assert torch.allclose(var, expect, rtol=1e-6), k
        assert torch.equal(mu, expect_mu), k
    w = moments["conv.weight"][1]
    assert torch.equal(w[:, 0], w[:, 1]) and not torch.equal(w[0, 0, 0], w[0, 0, 1])
    assert torch.allclose(moments["head.weight"][1][f], torch.tensor(1e-3)) and moments["bn.weight"][1].gt(0).all()


def test_fisher_forgetting_moves_the_forget_row_to_small_noise_around_zero(small, digits_pretrained):
    ctx = _ctx(small, digits_pretrained, {"fisher_samples": 16}, name="FisherForgetting")
    head = classifier_layer(ctx.model)[1]
    f = small.split.forget_index
    before = head.weight.detach()[f].clone()
    strategies.FisherForgetting(ctx, 1e-8)
    row = head.weight.detach()[f]
    assert before.abs().max() > 0.1
    assert 0 < row.abs().max() < 0.2 and row.std() < 0.06  # N(0, 10·1e-4) noise, not exactly 0
    assert method_settings("cifar20", "FisherForgetting")["para1"] == 1e-8


# ----------------------------------------------------------------------------- SCRUB
def test_scrub_kl_carries_the_temperature_squared():
    s, t = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1]]), torch.tensor([[0.0, 2.0, 0.0], [1.0, 1.0, -1.0]])
    T = 4.0
    ps, pt = F.softmax(s / T, 1), F.softmax(t / T, 1)
    kl = (pt * (pt.log() - ps.log())).sum(1).mean()
    assert torch.allclose(distill_kl(s, t, T), kl * 16, rtol=1e-4)


def test_scrub_paper_recipe_adam_milestones_and_t2(small, digits_pretrained, monkeypatch):
    ctx = _ctx(small, digits_pretrained, {}, dataset="cifar20", name="SCRUB")
    assert ctx.settings["alpha"] == 0.1 and ctx.settings["gamma"] == 1.0 and ctx.settings["epochs"] == 9
    lrs, temps, opts = [], [], set()
    real_step, real_kl = ctx.reg.step, strategies.distill_kl

    def step(opt, loss):
        opts.add(type(opt).__name__)
        lrs.append(opt.param_groups[0]["lr"])
        return real_step(opt, loss)

    def kl(s, t, temperature):
        temps.append(temperature)
        return real_kl(s, t, temperature)

    monkeypatch.setattr(ctx.reg, "step", step)
    monkeypatch.setattr(strategies, "distill_kl", kl)
    lr = ctx.settings["para1"]
    strategies.SCRUB(ctx, lr, 2)
    # per epoch: max steps (1 batch of D_f) in epochs 1–2, then 2 batches of D_r; ×0.1 once an epoch passes 3, 5, 9
    per_epoch = [3, 3] + [2] * 7
    expect = [lr * 0.1 ** sum(e > m for m in (3, 5, 9)) for e in range(1, 10) for _ in range(per_epoch[e - 1])]
    assert opts == {"Adam"} and lrs == pytest.approx(expect)
    assert temps and set(temps) == {4.0}


# ----------------------------------------------------------------------------- UNSIR
def test_unsir_noise_penalty_is_per_image_squared_norm():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    nn.init.zeros_(model[1].weight), nn.init.zeros_(model[1].bias)
    noise = torch.stack([torch.full((3, 2, 2), 1.0), torch.full((3, 2, 2), 2.0)])
    loss = unsir_noise_loss(model, noise, torch.tensor([1, 1]), 0.1)
    # uniform logits: CE = log 4; squared norms 12·1 and 12·4, mean 30
    assert loss.item() == pytest.approx(-math.log(4) + 0.1 * 30, rel=1e-6)


def test_unsir_impair_mixes_noise_copies_with_per_class_retain_images(small, digits_pretrained, monkeypatch):
    settings = {"noise_batch_size": 4, "noise_copies": 3, "samples_per_class": 5, "noise_steps": 2,
                "impair_batch_size": 8, "repair_epochs": 0}
    ctx = _ctx(small, digits_pretrained, settings, name="UNSIR")
    f = small.split.forget_index
    seen = []
    real_ce = F.cross_entropy

    def ce(out, y, *a, **kw):
        if y.numel() > 1 and ctx.model.training:
            seen.append(y.clone())
        return real_ce(out, y, *a, **kw)

    monkeypatch.setattr(strategies.F, "cross_entropy", ce)
    strategies.UNSIR(ctx, 1e-4, 1e-4)
    labels = torch.cat(seen)
    counts = torch.unique(small.train.y[small.split.retain_train], return_counts=True)[1]
    assert int((labels == f).sum()) == 12  # 4 noise images × 3 copies, labelled as the forget class
    assert len(labels) == 12 + int(counts.clamp(max=5).sum()) and all(len(b) <= 8 for b in seen)
    settings = method_settings("cifar20", "UNSIR")
    assert settings["noise_steps"] == 25 and settings["optimizer"] == "adam" and settings["para1"] == 1e-4
    assert settings["samples_per_class"] == 500 and settings["noise_copies"] * settings["noise_batch_size"] == 2560


# ----------------------------------------------------------------------------- Bad Teacher
def test_badteacher_paper_settings():
    plain, our = method_settings("cifar20", "badteacher"), method_settings("cifar20", "badteacher_our")
    assert (plain["para1"], plain["para2"], plain["epochs"], plain["batch_size"]) == (1e-4, 0.3, 3, 256)
    assert (our["para1"], our["para2"], our["epochs"], our["batch_size"]) == (1e-4, 0.0001, 3, 256)
    assert method_settings("cifar20", "negative_grad")["epochs"] == 2
