"""finetune follows the reference's schedule (fit_one_cycle): a linear warm-up epoch, then lr × 0.8 from each
milestone epoch on, one learning rate per step checked against the hand-written sequence."""
import copy
import dataclasses

import pytest
from torch.optim.optimizer import register_optimizer_step_pre_hook

from unlearning.experiment import Experiment, load_model
from unlearning.methods import Context
from unlearning.methods.classic import finetune
from unlearning.training import Regulariser


@pytest.fixture(scope="module")
def small():
    exp = Experiment("digits", device="cpu", forget_class=3)
    s = exp.split
    r = s.retain_train[:64]  # two batches of 32: two steps per epoch
    e = copy.copy(exp)
    e.split = dataclasses.replace(s, retain_train=r)
    return e


def _finetune_lrs(exp, weights, settings, lr, epochs):
    """The learning rate of every optimiser step of finetune(lr, epochs)."""
    teacher, _ = load_model(weights, exp, net="resnet8")
    model = copy.deepcopy(teacher)
    ctx = Context(model=model, teacher=teacher, exp=exp, net="resnet8", reg=Regulariser(model), seed=0,
                  settings=settings)
    seen = []
    handle = register_optimizer_step_pre_hook(lambda opt, a, k: seen.append(opt.param_groups[0]["lr"]))
    try:
        finetune(ctx, lr, epochs)
    finally:
        handle.remove()
    return seen


def test_finetune_warms_up_then_decays_at_the_milestone(small, digits_pretrained):
    seen = _finetune_lrs(small, digits_pretrained, {"batch_size": 32, "milestones": [2], "gamma": 0.5}, 0.1, 3)
    # epoch 0: warm-up 0.05, 0.1 per step; epoch 1: 0.1; epoch 2 (milestone): 0.1 × 0.5
    assert seen == pytest.approx([0.05, 0.1, 0.1, 0.1, 0.05, 0.05], rel=1e-12)


def test_finetune_default_milestone_is_the_references_epoch_6(small, digits_pretrained):
    seen = _finetune_lrs(small, digits_pretrained, {"batch_size": 64}, 0.025, 7)
    assert seen == pytest.approx([0.025] * 6 + [0.025 * 0.8], rel=1e-12)
