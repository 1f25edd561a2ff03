"""Boundary Shrink / Expanding, DELETE, SFR-on and PRU: registry entries, the entry point, and each one's invariant."""
import copy
import math

import pytest
from conftest import digits_cut
import torch
import torch.nn.functional as F

from unlearning.methods import recent as recent_methods
from unlearning.experiment import load_checkpoint, load_model
from unlearning.methods.orthogonal import orth_over_unlearn_and_replay
from unlearning.methods.over_unlearning import over_unlearn_and_replay
from unlearning.methods.replay import PHASE1, PHASE2
from unlearning.methods.recent import RECENT_METHODS, adaptive_forget_loss, fgsm_nearest_labels, pru_embedding_terms, redistributed_target, weight_distance
from unlearning.methods import Context, METHODS, get_method, method_names, method_settings
from unlearning.training import Regulariser
from unlearning.cli.unlearn import main

RECENT = [m["name"] for m in RECENT_METHODS]
TINY_PARA2 = {"boundary_shrink": 1, "boundary_expanding": 1, "delete": 1, "sfr_on": 6, "pru": 1, "weight_dist_reg": 1}


@pytest.fixture(scope="module")
def tiny():
    """digits cut to 48 retain + 16 forget samples."""
    return digits_cut(48, 16, 40)


def _context(exp, weights, name, mask=None, on_phase=None, **settings):
    teacher, _ = load_model(weights, exp, net="resnet8")
    model = copy.deepcopy(teacher)
    teacher.requires_grad_(False)
    s = dict(method_settings("digits", name), **settings)
    return Context(model=model, teacher=teacher, exp=exp, net="resnet8", reg=Regulariser(model, mask=mask),
                   seed=0, settings=s, mask=mask, on_phase=on_phase)


def _run(exp, weights, name, para2=None, **kw):
    ctx = _context(exp, weights, name, **kw)
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    p2 = ctx.settings.get("para2") if para2 is None else para2
    out = get_method(name).fn(ctx, ctx.settings.get("para1"), p2)
    return ctx, before, out


def _params_equal(model, state):
    return all(torch.equal(p, state[k]) for k, p in model.named_parameters())


# ----------------------------------------------------------------------------- registry
def test_registry_entries_and_generic_variants():
    names = method_names()
    for name in RECENT:
        entry = METHODS[name]
        assert entry.approximate and entry.gradient and entry.doc and entry.para1 and entry.para2
        our, orth = get_method(f"{name}_our"), get_method(f"{name}_orth")
        assert f"{name}_our" in names and f"{name}_orth" in names
        assert our.fn.func is over_unlearn_and_replay and our.fn.args[0] is entry  # the one wrapper
        assert orth.fn.func is orth_over_unlearn_and_replay and orth.fn.args[0] is entry
        for dataset in ("digits", "cifar20", "cifar100", "imagenet64"):
            s = method_settings(dataset, name)
            assert s["para1"] is not None and s["para2"] is not None
    assert method_settings("cifar20", "boundary_shrink")["para1"] == 1e-5  # the reference's values
    assert method_settings("cifar100", "pru")["para1"] == 4e-4
    assert method_settings("digits", "delete_our")["para1"] == 0.05  # the phase-1 override


# ----------------------------------------------------------------------------- every method through the entry point
@pytest.mark.parametrize("name", RECENT + [f"{n}_our" for n in RECENT])
def test_entry_point_runs_each_method_and_its_our(tmp_path, digits_pretrained, name):
    base = name[:-4] if name.endswith("_our") else name
    res = main("digits", argv=["-method", name, "--log_root", str(tmp_path), "-weight_path", digits_pretrained,
                               "--device", "cpu", "--para2", str(TINY_PARA2[base])])
    assert res["status"] == "done" and 0 <= res["metrics"]["UA"] <= 1
    assert [p["name"] for p in res["phases"]] == ([PHASE1, PHASE2] if name.endswith("_our") else ["unlearn"])
    pre, _ = load_checkpoint(digits_pretrained)
    last, meta = load_checkpoint(res["checkpoints"]["last"])
    assert meta["method"] == name
    assert {k: v.shape for k, v in last.items()} == {k: v.shape for k, v in pre.items()}
    assert not all(torch.equal(pre[k], last[k]) for k in pre)


@pytest.mark.parametrize("name", RECENT + [f"{n}_our" for n in RECENT])
def test_all_zero_mask_freezes_every_weight(tiny, digits_pretrained, name):
    teacher, _ = load_model(digits_pretrained, tiny, net="resnet8")
    zero = {k: torch.zeros_like(p) for k, p in teacher.named_parameters()}
    base = name[:-4] if name.endswith("_our") else name
    ctx, before, out = _run(tiny, digits_pretrained, name, para2=TINY_PARA2[base], mask=zero)
    assert _params_equal(out, before)


def test_half_mask_moves_only_unmasked_weights(tiny, digits_pretrained):
    teacher, _ = load_model(digits_pretrained, tiny, net="resnet8")
    mask = {k: (torch.arange(p.numel()) % 2).view_as(p).float() for k, p in teacher.named_parameters()}
    for name in RECENT:
        ctx, before, out = _run(tiny, digits_pretrained, name, para2=TINY_PARA2[name], mask=mask)
        for k, p in out.named_parameters():
            frozen = mask[k] == 0
            assert torch.equal(p[frozen], before[k][frozen]), (name, k)
        assert not _params_equal(out, before), name


# ----------------------------------------------------------------------------- Boundary Shrink
def test_shrink_labels_are_the_nearest_other_class_even_when_the_forget_class_wins(tiny, digits_pretrained):
    teacher, _ = load_model(digits_pretrained, tiny, net="resnet8")
    f = tiny.split.forget_index
    with torch.no_grad():  # the forget class wins by 1000: the CE gradient is exactly 0, so no perturbation
        teacher.fc.bias[f] += 1000.0
    data = tiny.train
    raw = data.x[tiny.split.forget_train[:8]]
    labels = fgsm_nearest_labels(teacher, data, data.normalize(raw), torch.full((8,), f), 0.1, f)
    assert (labels != f).all()
    pixels = torch.round(raw.float() / data.scale * 255) / 255  # the 8-bit copy of the unperturbed images
    with torch.no_grad():
        logits = teacher.eval()(data.normalize(pixels * data.scale))
    assert (logits.argmax(1) == f).all()  # unmasked, every label would have been the forget class
    logits[:, f] = float("-inf")
    assert torch.equal(labels, logits.argmax(1))


def test_shrink_trains_on_adversarial_labels_never_the_forget_class(tiny, digits_pretrained, monkeypatch):
    seen = []
    real = recent_methods.fgsm_nearest_labels

    def spy(*a, **kw):
        out = real(*a, **kw)
        seen.append(out)
        return out

    monkeypatch.setattr(recent_methods, "fgsm_nearest_labels", spy)
    _run(tiny, digits_pretrained, "boundary_shrink", para2=2)
    labels = torch.cat(seen)
    assert len(labels) == 2 * len(tiny.split.forget_train)
    assert (labels != tiny.split.forget_index).all() and (labels < tiny.split.num_outputs).all()


# ----------------------------------------------------------------------------- Boundary Expanding
def test_expanding_drops_the_extra_unit_and_keeps_the_class_count(tiny, digits_pretrained):
    ctx, before, out = _run(tiny, digits_pretrained, "boundary_expanding", para2=10)
    assert out.fc.out_features == tiny.split.num_outputs
    assert {k: v.shape for k, v in out.state_dict().items()} == {k: v.shape for k, v in before.items()}
    assert not torch.equal(out.fc.weight, before["fc.weight"])  # the head itself was trained too
    x = tiny.train.normalize(tiny.train.x[tiny.split.forget_train])
    f = tiny.split.forget_index
    with torch.no_grad():  # D_f moved out of the forget class (into the discarded unit)
        assert F.softmax(out.eval()(x), 1)[:, f].mean() < F.softmax(ctx.teacher.eval()(x), 1)[:, f].mean()


# ----------------------------------------------------------------------------- DELETE and PRU's target
def test_redistributed_target_by_hand():
    p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    q = redistributed_target(p.log(), 0)
    assert torch.allclose(q, torch.tensor([[0.0, 0.6, 0.4], [0.0, 0.1 / 0.9, 0.8 / 0.9]]), atol=1e-6)
    masked = p.log().clone()
    masked[:, 0] = -1e10  # DELETE's form: the forget logit masked before the softmax
    assert torch.allclose(q, F.softmax(masked, 1), atol=1e-6)


@pytest.mark.parametrize("name", ["delete", "pru"])
def test_distillation_targets_give_the_forget_class_nothing(tiny, digits_pretrained, monkeypatch, name):
    seen = []
    real = recent_methods.redistributed_target
    monkeypatch.setattr(recent_methods, "redistributed_target", lambda t, f: seen.append((t, f, real(t, f))) or seen[-1][2])
    _run(tiny, digits_pretrained, name, para2=1)
    assert seen
    for logits, f, q in seen:
        assert f == tiny.split.forget_index and (q[:, f] == 0).all()
        assert torch.allclose(q.sum(1), torch.ones(len(q)))
        p = F.softmax(logits, 1)
        keep = [k for k in range(p.shape[1]) if k != f]
        assert torch.allclose(q[:, keep] * p[:, keep].sum(1, keepdim=True), p[:, keep], atol=1e-5)  # proportional


def test_pru_embedding_terms_by_hand():
    emb = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    between, within = pru_embedding_terms(emb, torch.tensor([1, 1, 4]), lamb=2.0)
    assert between.item() == pytest.approx(1 / (math.sqrt(10) / 2 + 1e-6))  # centres (1, 0) and (0, 3)
    assert within.item() == pytest.approx(2.0)  # the single-sample group adds nothing
    between, within = pru_embedding_terms(emb, torch.tensor([5, 5, 5]), lamb=1.0)
    assert between.item() == 0.0 and within.item() == pytest.approx((2 + 3 + math.sqrt(13)) / 3)


def test_pru_never_moves_the_output_layer(tiny, digits_pretrained):
    ctx, before, out = _run(tiny, digits_pretrained, "pru", para2=2)
    assert torch.equal(out.fc.weight, before["fc.weight"]) and torch.equal(out.fc.bias, before["fc.bias"])
    assert not _params_equal(out, before)


# ----------------------------------------------------------------------------- SFR-on
def test_sfr_adaptive_loss_is_the_harmonic_mean_at_lambda_one():
    logits = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]]))
    y = torch.tensor([0, 0, 1])
    ce = -torch.log(torch.tensor([0.5, 0.25, 0.1]))
    assert adaptive_forget_loss(logits, y, 1.0).item() == pytest.approx((3 / (1 / ce).sum()).item(), rel=1e-5)
    assert adaptive_forget_loss(logits, y, 0.0).item() == pytest.approx(ce.mean().item(), rel=1e-5)


def test_sfr_forget_steps_stay_inside_the_saliency_mask(tiny, digits_pretrained, monkeypatch):
    """A saliency mask of the output layer only, and the retain steps' CE multiplied by 0 (no weight decay): only
    the forget steps move weights, so only the output layer may change."""
    only_fc = None

    def fake_mask(ctx, model, threshold):
        nonlocal only_fc
        only_fc = {k: torch.full_like(p, float(k.startswith("fc."))) for k, p in model.named_parameters()}
        return only_fc

    monkeypatch.setattr(recent_methods, "fisher_ratio_mask", fake_mask)
    monkeypatch.setattr(recent_methods.F, "cross_entropy", _zero_unless_per_sample(F.cross_entropy))
    ctx, before, out = _run(tiny, digits_pretrained, "sfr_on", para2=6, forget_freq=1, weight_decay=0.0)
    for k, p in out.named_parameters():
        if k.startswith("fc."):
            assert not torch.equal(p, before[k])
        else:
            assert torch.equal(p, before[k]), k


def _zero_unless_per_sample(ce):
    """CE that is 0·CE for the mean-reduced retain loss (so retain steps move nothing) and real for the per-sample
    forget loss."""
    def wrapped(logits, y, *a, reduction="mean", **kw):
        out = ce(logits, y, *a, reduction=reduction, **kw)
        return out if reduction == "none" else out * 0.0
    return wrapped


# ----------------------------------------------------------------------------- weight-distance regularisation
def test_weight_distance_by_hand():
    model = torch.nn.Linear(2, 1)  # 3 weights
    anchor = [torch.zeros_like(p) for p in model.parameters()]
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
        model.bias.fill_(2.0)
    assert weight_distance(model, anchor).item() == pytest.approx(math.sqrt(9 / 3 + 1e-8))


def test_weight_dist_reg_runs_its_safeguard_then_moves_further(tiny, digits_pretrained, monkeypatch):
    calls = []
    scrub = METHODS["SCRUB"]
    monkeypatch.setattr(scrub, "fn", lambda ctx, p1, p2: calls.append((ctx.settings, p1, p2)) or ctx.model)
    _run(tiny, digits_pretrained, "weight_dist_reg", para2=1)
    assert len(calls) == 1 and calls[0][1:] == (method_settings("digits", "SCRUB")["para1"],
                                                 method_settings("digits", "SCRUB")["para2"])
    assert "safeguard" not in calls[0][0]  # the safeguard ran with its own settings
    dist = {}
    for alpha in (0.0, 50.0):
        ctx, before, out = _run(tiny, digits_pretrained, "weight_dist_reg", para2=2, safeguard=None, alpha=alpha)
        dist[alpha] = weight_distance(out, [p for p in ctx.teacher.parameters()]).item()
    assert dist[50.0] > dist[0.0]  # the distance term pushes away from the pretrained weights
