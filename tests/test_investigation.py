"""Over-unlearning options: phase lengths in optimiser steps / stopping rules, reset of the forget unit, `_orth`, overrides."""
import copy
import json
import math
import os

import pytest
from conftest import digits_cut
import torch
import torch.nn as nn

from unlearning.methods import output_unit as ou
from unlearning.experiment import load_model
from unlearning.methods.orthogonal import orth_over_unlearn_and_replay, orthogonality_penalty
from unlearning.methods.output_unit import reset_forget_unit
from unlearning.methods.phase_stopping import StepBudget, run_phase1
from unlearning.methods.replay import PHASE1, PHASE2, replay_steps
from unlearning.errors import UnknownMethodError
from unlearning.methods import Context, METHODS, get_method, load_recipe, method_settings
from unlearning.training import Regulariser

APPROXIMATE = [name for name, m in METHODS.items() if m.approximate]


@pytest.fixture(scope="module")
def tiny():
    """digits cut to 48 retain + 16 forget samples (one batch of 32 per epoch of D_f)."""
    return digits_cut(48, 16, 40)


def _ctx(exp, weights, name, settings=None, on_phase=None):
    teacher, _ = load_model(weights, exp, net="resnet8")
    model = copy.deepcopy(teacher)
    teacher.requires_grad_(False)
    s = method_settings("digits", name)
    s.update(settings or {})
    return Context(model=model, teacher=teacher, exp=exp, net="resnet8", reg=Regulariser(model), seed=0,
                   settings=s, on_phase=on_phase)


class _Count:
    """Independent count of executed optimiser steps on a model (post-step hook)."""

    def __init__(self, model):
        self.ids, self.n = {id(p) for p in model.parameters()}, 0

    def __enter__(self):
        from torch.optim.optimizer import register_optimizer_step_post_hook
        self.h = register_optimizer_step_post_hook(self._hook)
        return self

    def _hook(self, opt, args, kwargs):
        if any(id(p) in self.ids for g in opt.param_groups for p in g["params"]):
            self.n += 1

    def __exit__(self, *exc):
        self.h.remove()


@pytest.mark.parametrize("name,steps", [("negative_grad_our", 7), ("amnesiac_our", 5), ("badteacher_our", 3)])
def test_phase1_in_steps_makes_exactly_n_optimiser_steps(tiny, digits_pretrained, name, steps):
    ctx = _ctx(tiny, digits_pretrained, name, {"steps": steps, "stop_retain_acc": None})
    entry = get_method(name[:-4])
    with _Count(ctx.model) as c:
        log = run_phase1(entry, ctx, ctx.settings["para1"], ctx.settings["para2"])
    assert c.n == steps and log["phase1_steps"] == steps and log["phase1_stopped_by"] == f"{steps} steps"


def test_one_shot_method_ignores_steps(tiny, digits_pretrained):
    ctx = _ctx(tiny, digits_pretrained, "ssd_tuning_our", {"steps": 50})
    log = run_phase1(METHODS["ssd_tuning"], ctx, ctx.settings["para1"], ctx.settings["para2"])
    assert log["phase1_steps"] == 0 and log["phase1_rounds"] == 1 and "one-shot" in log["phase1_stopped_by"]


def test_stopping_rules(tiny, digits_pretrained):
    # a rule that holds at once stops before the first step; one that never holds runs to the cap
    ctx = _ctx(tiny, digits_pretrained, "negative_grad_our", {"stop_forget_acc": 1.01, "max_steps": 9})
    before = {k: v.clone() for k, v in ctx.model.named_parameters()}
    log = run_phase1(METHODS["negative_grad"], ctx, ctx.settings["para1"], ctx.settings["para2"])
    assert log["phase1_steps"] == 0 and "forget accuracy" in log["phase1_stopped_by"]
    # no weight moved (the forward pass before the refused step still updates BatchNorm's running statistics)
    assert all(torch.equal(v, before[k]) for k, v in ctx.model.named_parameters())
    ctx = _ctx(tiny, digits_pretrained, "negative_grad_our", {"stop_retain_acc": 0.0, "max_steps": 9})
    log = run_phase1(METHODS["negative_grad"], ctx, ctx.settings["para1"], ctx.settings["para2"])
    assert log["phase1_steps"] == 9


def test_replay_in_steps_makes_exactly_n_steps(tiny, digits_pretrained):
    ctx = _ctx(tiny, digits_pretrained, "negative_grad_our")
    with _Count(ctx.model) as c:
        assert replay_steps(ctx, ctx.model, {"steps": 11, "lr": 0.01}) == 11  # 48 retain / 32 = 2 batches a pass
    assert c.n == 11


def test_step_budget_ignores_other_optimisers():
    model, other = nn.Linear(2, 2), nn.Parameter(torch.zeros(2))
    opt_o = torch.optim.SGD([other], lr=0.1)
    with StepBudget(model, max_steps=0) as b:
        other.grad = torch.ones(2)
        opt_o.step()  # not the model's optimiser: neither counted nor stopped
    assert b.steps == 0 and torch.equal(other.detach(), -0.1 * torch.ones(2))


@pytest.mark.parametrize("how", ["zero", "reinit"])
def test_reset_forget_unit_changes_only_that_row(tiny, digits_pretrained, how):
    ctx = _ctx(tiny, digits_pretrained, "negative_grad_our")
    f = tiny.split.forget_index
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    reset_forget_unit(ctx, ctx.model, how)
    after = ctx.model.state_dict()
    for k, v in after.items():
        if k in ("fc.weight", "fc.bias"):
            rows = [i for i in range(v.shape[0]) if i != f]
            assert torch.equal(v[rows], before[k][rows]) and not torch.equal(v[f], before[k][f])
        else:
            assert torch.equal(v, before[k]), k
    bound = 1 / math.sqrt(after["fc.weight"].shape[1])
    if how == "zero":
        assert after["fc.weight"][f].abs().sum() == 0 and after["fc.bias"][f] == 0
    else:
        assert after["fc.weight"][f].abs().max() <= bound and abs(float(after["fc.bias"][f])) <= bound
    with pytest.raises(ValueError, match="reset_forget_unit must be None, 'zero' or 'reinit'"):
        reset_forget_unit(ctx, ctx.model, "shrink")


def test_orth_resolves_for_every_approximate_method():
    for base in APPROXIMATE:
        entry = get_method(f"{base}_orth")
        assert entry.base == base and entry.gradient and entry.doc
        assert entry.fn.func is orth_over_unlearn_and_replay and entry.fn.args[0] is METHODS[base]
        s = method_settings("digits", f"{base}_orth")
        assert "orth" in s and "replay" in s
    for ref in ("baseline", "retrain"):
        with pytest.raises(UnknownMethodError, match="unknown method"):
            get_method(f"{ref}_orth")


def test_orthogonality_penalty_hand_computed():
    eye = torch.eye(4).view(4, 1, 2, 2)  # four mutually orthogonal feature maps
    assert orthogonality_penalty([eye]).item() == 0.0
    # two samples with cosine 1/√2: off-diagonal entries (1/√2)² twice, over B(B−1) = 2 → 0.5 (scale-free)
    h = torch.tensor([[3.0, 0.0], [2.0, 2.0]])
    assert orthogonality_penalty([h]).item() == pytest.approx(0.5)
    assert orthogonality_penalty([h, h.view(2, 1, 2)]).item() == pytest.approx(1.0)  # summed over stages
    assert orthogonality_penalty([torch.ones(1, 5)]).item() == 0.0  # one sample: no pair


def test_orth_runs_both_phases(tiny, digits_pretrained):
    phases = []
    ctx = _ctx(tiny, digits_pretrained, "negative_grad_orth", on_phase=lambda n, m, s: phases.append(n))
    ctx.settings["orth"] = dict(ctx.settings["orth"], steps=3)
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    out = get_method("negative_grad_orth").fn(ctx, ctx.settings["para1"], ctx.settings["para2"])
    assert phases == [PHASE1, PHASE2] and out is ctx.model
    assert not all(torch.equal(v, before[k]) for k, v in out.state_dict().items())
    assert ctx.settings["_log"]["orth_steps"] == 3


def test_orth_needs_stage_outputs(tiny):
    ctx = Context(model=nn.Linear(64, 7), teacher=nn.Linear(64, 7), exp=tiny, net="mlp", reg=None,
                  settings={"orth": {}})
    with pytest.raises(ValueError, match="needs a model with stage_outputs"):
        orth_over_unlearn_and_replay(METHODS["amnesiac"], ctx, 0.001, 1)


def test_overrides_merge_over_config(tmp_path):
    recipe = load_recipe(json.dumps(
        {"OVER_UNLEARN": {"negative_grad": {"steps": 12}, "replay": {"steps": 99, "reset_forget_unit": "zero"}}}))
    s = method_settings("digits_shadow", "negative_grad_our", recipe=recipe)
    assert s["steps"] == 12 and s["para2"] == 0.0  # merged over the digits entry, other keys kept
    assert s["replay"]["steps"] == 400  # negative_grad's own replay length outranks the dataset's
    s = method_settings("digits_shadow", "amnesiac_our", recipe=recipe)
    assert s["replay"]["steps"] == 99 and s["replay"]["reset_forget_unit"] == "zero" and s["replay"]["l1"] > 0
    assert method_settings("digits", "negative_grad_orth", recipe=recipe)["replay"]["steps"] == 99  # `_orth`: the dataset's replay
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"UNLEARN": {"negative_grad": {"para1": 0.5}}}))
    recipe = load_recipe(str(path))
    assert method_settings("digits", "negative_grad", recipe=recipe)["para1"] == 0.5
    with pytest.raises(ValueError, match="neither a JSON object nor a readable JSON file"):
        load_recipe("{not json")
    with pytest.raises(ValueError, match="takes the keys UNLEARN and OVER_UNLEARN"):
        load_recipe(json.dumps({"REA": {}}))


def test_suppress_forget_unit_moves_only_that_unit_and_lowers_its_margin(tiny, digits_pretrained):
    ctx = _ctx(tiny, digits_pretrained, "negative_grad_our")
    f = tiny.split.forget_index
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    info = ou.suppress_forget_unit(ctx, ctx.model, steps=20, lr=0.5)
    after = ctx.model.state_dict()
    for k, v in after.items():  # BatchNorm statistics included: the features stay as they were
        if k in ("fc.weight", "fc.bias"):
            rows = [i for i in range(v.shape[0]) if i != f]
            assert torch.equal(v[rows], before[k][rows]) and not torch.equal(v[f], before[k][f])
        else:
            assert torch.equal(v, before[k]), k
    assert info["suppress_margin_after"] < info["suppress_margin_before"]  # pushed further below the others


def _driver():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "defence_investigation", os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments",
                                              "defence_investigation.py"))
    di = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(di)
    return di


def test_ood_normalised_statistic_is_scale_free():
    ood_normalised = _driver().ood_normalised
    res = {"per_lr": {"0.01": {"member_steps": [5, 10], "non_member_steps": [10, 20, 30]}}}
    out = ood_normalised(res, "0.01")["per_lr"]["0.01"]
    assert out["member_steps"] == [0.25, 0.5]  # ÷ median OOD 20
    assert out["non_member_steps"] == [10 / 25, 20 / 20, 30 / 15]  # leave-one-out medians 25, 20, 15
    slow = {"per_lr": {"0.01": {k: [3 * v for v in vs] for k, vs in res["per_lr"]["0.01"].items()}}}
    assert ood_normalised(slow, "0.01") == ood_normalised(res, "0.01")  # a model 3× slower scores the same


def test_investigation_conditions_change_one_thing():
    di = _driver()
    pinned = di.condition_overrides("C0_epochs")["OVER_UNLEARN"]
    assert pinned["orth"] == {"steps": 40, "lam": 1.0, "lr": 0.0025}  # C0–C4 keep the orth they ran with
    assert di.condition_overrides("C2_reset")["OVER_UNLEARN"]["replay"] == {"reset_forget_unit": "reinit"}
    c5, c7 = di.condition_overrides("C5_orth_strong"), di.condition_overrides("C7_orth_reset")
    assert c7["OVER_UNLEARN"]["orth"] == c5["OVER_UNLEARN"]["orth"] == {"steps": 108, "lam": 10.0}
    assert c7["OVER_UNLEARN"]["replay"] == {"reset_forget_unit": "reinit"} and "replay" not in c5["OVER_UNLEARN"]
    assert di.targets_of(["amnesiac"], di.CONDITIONS["C7_orth_reset"]["variants"]) == ["retrain", "amnesiac",
                                                                                       "amnesiac_orth"]
    c8 = di.condition_overrides("C8_stop_ra60")["OVER_UNLEARN"]
    assert c8["negative_grad"]["stop_retain_acc"] == 0.6 and c8["replay"] == {"steps": 3165}
    assert c8["negative_grad"]["replay"] == {"steps": 3165}  # over config's per-method 400
    # the conditions run before config's negative_grad recipe changed keep theirs: no rule, their replay length
    for cond, steps in (("C0_epochs", None), ("C1_steps_cifar", 3165), ("C5_orth_strong", None)):
        ng = di.condition_overrides(cond)["OVER_UNLEARN"]["negative_grad"]
        assert ng["stop_retain_acc"] is None and ng["replay"] == {"steps": steps}


def test_compact_table_lists_shared_rows_once():
    di = _driver()
    stat = [0.5, 0.1, 3]

    def row(cond, target, ta):
        return dict(condition=cond, target=target, TA=[ta, 0.0, 3], TA_pretrained=0.99, UA=[0.0, 0.0, 3], auc=stat,
                    ba=stat, cal_auc=stat, cal_ba=stat, cal_ba_norm=None, steps_f=[10.0, 1, 3], steps_ood=[20.0, 1, 3])
    rows = [row("C0_epochs", "retrain", 0.98), row("C0_epochs", "amnesiac_our", 0.97),
            row("C2_reset", "retrain", 0.98), row("C2_reset", "amnesiac_our", 0.96), row("C3_x10", "retrain", 0.97)]
    lines = di.compact_table(rows).splitlines()[2:]
    assert [ln.split(" | ")[0:2] for ln in lines] == [
        ["| all digits conditions", "retrain"], ["| C0_epochs", "amnesiac_our"], ["| C2_reset", "amnesiac_our"],
        ["| C3_x10", "retrain"]]
    assert " -3.0 " in lines[2] and lines[1].count("0.50 ± 0.10") == 4 and " 10 / 20 " in lines[1]
