"""One-place method registration: the registry reproduces the published presets, the docs table is generated from
it, a method registered in a test module runs (with its `_our`) through the entry point, and the cosine schedules
are torch's CosineAnnealingLR with the numbers of the formula they replace."""
import json
import math
import os

import pytest
import torch

from conftest import ROOT
from unlearning import methods as strategies
from unlearning.methods import classic
from unlearning.methods.common import classifier_layer
import config
from unlearning.experiment import load_checkpoint
from unlearning.methods.replay import PHASE1, PHASE2, replay_lr
from unlearning.errors import UnknownMethodError
from unlearning.methods import Knob, docs_with_table, get_method, load_recipe, method_names, method_settings, registered
from unlearning.methods.settings import DOCS_PATH
from unlearning.cli.unlearn import main

SNAPSHOT = os.path.join(ROOT, "tests", "snapshots", "method_settings.json")
DATASETS = sorted(config.PRESETS)  # every dataset with a preset is in the snapshot


def _json(value):
    return json.loads(json.dumps(value, sort_keys=True))


def test_the_registry_reproduces_the_published_presets():
    """The registry reproduces the published presets: method_settings(dataset, name) of every dataset and every
    method, `_our` and `_orth` name equals the snapshot taken from the hand-written tables it replaced."""
    rows = json.load(open(SNAPSHOT))
    regen = "a method was added or a default changed: run python forget_full_class_strategies.py --write-snapshot " \
            "and check the diff of tests/snapshots/method_settings.json"
    assert {(ds, name) for ds, name, _ in rows} == {(ds, name) for ds in DATASETS for name in method_names()}, regen
    for ds, name, expected in rows:
        assert _json(method_settings(ds, name)) == expected, (ds, name, regen)


def test_a_recipe_merges_over_every_table():
    recipe = load_recipe('{"UNLEARN": {"finetune": {"para2": 1}}, "OVER_UNLEARN": {"replay": {"steps": 7}, '
                         '"negative_grad": {"max_steps": 3}, "orth": {"lam": 2.0}}}')
    for ds in ("digits", "cifar20"):
        plain = method_settings(ds, "finetune")
        assert method_settings(ds, "finetune", recipe) == dict(plain, para2=1)
        assert method_settings(ds, "negative_grad_our", recipe)["max_steps"] == 3
        our = method_settings(ds, "amnesiac_our", recipe)
        assert our["replay"] == dict(method_settings(ds, "amnesiac_our")["replay"], steps=7)
        assert method_settings(ds, "amnesiac_orth", recipe)["orth"]["lam"] == 2.0
    assert method_settings("digits", "finetune") == method_settings("digits", "finetune", None)  # nothing kept


@pytest.mark.parametrize("source,message", [
    ('{"UNLEARN": 5}', "recipe: UNLEARN must map method names to objects"),
    ('{"UNLEARN": {"finetune": 3}}', "recipe: UNLEARN must map method names to objects"),
    ('{"OVER_UNLEARN": []}', "recipe: OVER_UNLEARN must map"),
    ('{"REPLAY": {}}', "recipe takes the keys UNLEARN and OVER_UNLEARN"),
    ('[1]', "neither a JSON object nor a readable JSON file"),
    ('{bad', "neither a JSON object nor a readable JSON file"),
    ("/nonexistent/recipe.json", "neither a JSON object nor a readable JSON file"),
])
def test_a_bad_recipe_is_one_line(source, message):
    with pytest.raises(ValueError, match=message) as info:
        load_recipe(source)
    assert "\n" not in str(info.value)


def test_a_recipe_file_is_read(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"UNLEARN": {"negative_grad": {"para1": 0.5}}}))
    assert method_settings("digits", "negative_grad", load_recipe(str(path)))["para1"] == 0.5


def test_the_docs_methods_table_is_the_generated_one():
    with open(os.path.join(ROOT, DOCS_PATH)) as fh:
        text = fh.read()
    assert docs_with_table(text) == text, "run: python forget_full_class_strategies.py --write-docs"
    for name in strategies.METHODS:
        assert f"\n| {name} |" in text


def test_the_docs_table_shows_both_presets_defaults():
    table = strategies.markdown_table()
    row = next(line for line in table.splitlines() if line.startswith("| finetune |"))
    assert "[paper 0.025; digits 0.05]" in row and "[paper 10; digits 5]" in row


# ----------------------------------------------------------------------------- a throw-away method
def _scale_forget_row(ctx, para1, para2):
    """Scale the forget class's output row and bias by para1 (a one-shot perturbation, masked like every update)."""
    name, fc = classifier_layer(ctx.model)
    f = ctx.split.forget_index
    delta = {k: torch.zeros_like(p) for k, p in ctx.model.named_parameters()}
    delta[f"{name}.weight"][f] = (float(para1) - 1) * fc.weight.detach()[f]
    delta[f"{name}.bias"][f] = (float(para1) - 1) * fc.bias.detach()[f]
    ctx.settings.setdefault("_log", {})["marker"] = ctx.setting("marker", None)
    return classic._apply_delta(ctx, ctx.model, delta)


REGISTRATION = dict(para1=Knob("real", "factor of the forget row", 0.5), gradient=False,
                    settings={"marker": ("plain", "a setting the method reads")},
                    our={"para1": -2.0, "marker": "over", "replay": {"epochs": 1}})


def test_a_registered_method_and_its_our_run_through_the_entry_point(tmp_path, digits_pretrained):
    argv = ["--log_root", str(tmp_path), "-weight_path", digits_pretrained, "--device", "cpu"]
    with registered("scale_forget_row", _scale_forget_row, **REGISTRATION):
        assert get_method("scale_forget_row_our").base == "scale_forget_row"
        assert "scale_forget_row_orth" in method_names()
        plain = main("digits", argv=["-method", "scale_forget_row", *argv])
        our = main("digits", argv=["-method", "scale_forget_row_our", *argv])
        strategies.check_knobs("scale_forget_row", 3.0, None)
        assert "| scale_forget_row |" in strategies.markdown_table()
    # the registration's values reach the method on digits (no config entry): para1, the setting, the _our overrides
    assert plain["status"] == "done" and plain["settings"]["para1"] == 0.5
    assert plain["settings"]["_log"]["marker"] == "plain"
    assert our["status"] == "done" and our["settings"]["para1"] == -2.0
    assert our["settings"]["_log"]["marker"] == "over"
    # digits' shared replay, shortened by the method's own replay key
    assert our["settings"]["replay"] == dict(method_settings("digits", "amnesiac_our")["replay"], epochs=1)
    assert [p["name"] for p in our["phases"]] == [PHASE1, PHASE2]
    pre, _ = load_checkpoint(digits_pretrained)
    last, meta = load_checkpoint(plain["checkpoints"]["last"])
    head = [k for k in pre if k.endswith(".weight") and pre[k].ndim == 2][-1]  # the output layer
    assert torch.allclose(last[head][3], 0.5 * pre[head][3]) and torch.equal(last[head][0], pre[head][0])
    assert meta["method"] == "scale_forget_row"
    assert plain["metrics"]["UA"] <= 1.0 and os.path.isfile(our["checkpoints"]["mid"])
    # gone afterwards: nothing leaks into other tests
    for name in ("scale_forget_row", "scale_forget_row_our"):
        with pytest.raises(UnknownMethodError):
            get_method(name)
    assert "scale_forget_row" not in strategies.KNOBS


def test_registering_a_name_twice_or_an_unknown_knob_kind_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        strategies.register("finetune", gradient=True)(_scale_forget_row)
    with pytest.raises(ValueError, match="knob kind"):
        strategies.register("x", Knob("speed", "m/s"), gradient=True)


# ----------------------------------------------------------------------------- CosineAnnealingLR
def _old_cosine(lr, step, total):
    return lr * 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))


@pytest.mark.parametrize("total", [1, 2, 7, 46, 400])
def test_replay_cosine_is_the_old_formula(total):
    s = {"lr": 0.03, "schedule": "cosine"}
    got = [replay_lr(s, k, total, 4) for k in range(total)]
    assert got == pytest.approx([_old_cosine(0.03, k, total) for k in range(total)], rel=1e-12, abs=1e-15)


def _lrs_of(method, tiny_settings, ctx_factory):
    from torch.optim.optimizer import register_optimizer_step_pre_hook
    seen = []
    handle = register_optimizer_step_pre_hook(lambda opt, a, k: seen.append(opt.param_groups[0]["lr"]))
    try:
        ctx = ctx_factory(tiny_settings)
        strategies.get_method(method).fn(ctx, tiny_settings["para1"], tiny_settings["para2"])
    finally:
        handle.remove()
    return seen


@pytest.fixture(scope="module")
def ctx_factory(digits_pretrained):
    import copy
    import dataclasses

    from unlearning.experiment import Experiment, load_model
    from unlearning.training import Regulariser

    exp = Experiment("digits", device="cpu", forget_class=3)
    s = exp.split
    r, f = s.retain_train[:64], s.forget_train[:16]
    exp.split = dataclasses.replace(s, retain_train=r, forget_train=f, train_idx=torch.sort(torch.cat([r, f]))[0])
    teacher, _ = load_model(digits_pretrained, exp, net="resnet8")

    def make(settings):
        model = copy.deepcopy(teacher)
        return strategies.Context(model=model, teacher=teacher, exp=exp, net="resnet8", reg=Regulariser(model),
                                  seed=0, settings=dict(settings))
    return make


def test_weight_dist_reg_lr_is_the_old_cosine(ctx_factory):
    s = {"para1": 0.01, "para2": 2, "alpha": 1.0, "safeguard": "", "batch_size": 16}
    lrs = _lrs_of("weight_dist_reg", s, ctx_factory)
    total = 2 * 4  # 64 retain images / 16
    assert lrs == pytest.approx([_old_cosine(0.01, k, total) for k in range(total)], rel=1e-12, abs=1e-15)


def test_sfr_on_lr_and_ascent_weight_are_the_old_cosine(ctx_factory, monkeypatch):
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from unlearning.methods import recent as recent_methods
    s = {"para1": 0.02, "para2": 9, "forget_alpha": 25.0, "forget_freq": 4, "batch_size": 8}
    ctx = ctx_factory(s)
    # the adaptive loss made 1 (with a zero gradient): the ascent step's loss is −α_t
    monkeypatch.setattr(recent_methods, "adaptive_forget_loss", lambda logits, y, lambd: (logits * 0).sum() + 1.0)
    losses, real_step = [], ctx.reg.step

    def step(opt, loss):
        losses.append(float(loss.detach()))
        return real_step(opt, loss)
    ctx.reg.step = step
    lrs = []
    handle = register_optimizer_step_pre_hook(lambda opt, a, k: lrs.append(opt.param_groups[0]["lr"]))
    try:
        recent_methods.sfr_on(ctx, s["para1"], s["para2"])
    finally:
        handle.remove()
    # iterations 0, 4, 8 take an ascent step then a retain step at the same lr; the others one retain step
    expected_lrs, expected_alphas = [], []
    for k in range(9):
        expected_lrs += [_old_cosine(0.02, k, 9)] * (2 if k % 4 == 0 else 1)
        if k % 4 == 0:
            expected_alphas.append(_old_cosine(25.0, k, 9))
    assert lrs == pytest.approx(expected_lrs, rel=1e-12, abs=1e-15)
    assert [-v for v in losses if v < 0] == pytest.approx(expected_alphas, rel=1e-6)
