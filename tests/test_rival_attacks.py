"""The rival papers' attacks (unlearning/rival_attacks.py) on tiny linear models whose answers are worked out by hand:
the prototypical relearning attack's blended row, CMIA's retained-class probabilities and its held-out scoring, and
retain-only relearning's curve."""
import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from datasets.base import ImageData
from datasets.split import build_split
from unlearning.attacks.rival import blend_prototype, cmia_attack, cmia_features, cmia_score, prototype_row, prototypical_relearning_attack, retain_relearning


class Linear2(nn.Module):
    """features(x) = the two input channels (1×1 images); logits = fc(features)."""

    def __init__(self, weight, bias):
        super().__init__()
        self.fc = nn.Linear(len(weight[0]), len(weight))
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(weight, dtype=torch.float32))
            self.fc.bias.copy_(torch.tensor(bias, dtype=torch.float32))

    def features(self, x):
        return x.flatten(1)

    def forward(self, x):
        return self.fc(self.features(x))


def toy_exp(points, labels, forget_class=2, num_classes=3):
    """A stand-in Experiment: 2-channel 1×1 images whose raw values are the features (scale 1, mean 0, std 1);
    train and test hold the same images."""
    x = torch.tensor(points, dtype=torch.uint8).view(-1, 2, 1, 1)
    data = ImageData(x=x, y=torch.tensor(labels), scale=1.0, mean=(0.0, 0.0), std=(1.0, 1.0))
    split = build_split("toy", data, data, num_classes, [], forget_class=forget_class, val_fraction=0.0)
    return SimpleNamespace(train=data, test=data, split=split, device=torch.device("cpu"))


# ----------------------------------------------------------------------------- PRA
def test_the_prototype_is_the_normalised_mean_not_the_mean_of_normalised_features():
    w, b = prototype_row(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
    # mean (1.5, 0.5), norm √2.5: (3, 1)/√10; normalising each first would give (1, 1)/√2
    assert torch.allclose(w, torch.tensor([3.0, 1.0]) / math.sqrt(10)) and float(b) == 0.0
    w, b = prototype_row(torch.tensor([[3.0, 0.0], [0.0, 4.0]]), metric="l2")  # mean (1.5, 2), unit (0.6, 0.8)
    assert torch.allclose(w, torch.tensor([1.2, 1.6])) and float(b) == pytest.approx(-1.0)
    w, _ = prototype_row(torch.tensor([[3.0, 0.0], [0.0, 4.0]]), normalize=False)
    assert torch.allclose(w, torch.tensor([1.5, 2.0]))


def test_blend_changes_only_the_forget_row_of_a_copy():
    model = Linear2([[1, 0], [0, 1], [1, 0]], [0.0, 0.0, 2.0])
    out = blend_prototype(model, torch.tensor([[3.0, 0.0], [0.0, 4.0]]), 2, alpha=0.5)
    # row ← ½·(1, 0) + ½·(0.6, 0.8) = (0.8, 0.4); bias ← ½·2 + ½·0 = 1
    assert torch.allclose(out.fc.weight[2], torch.tensor([0.8, 0.4]))
    assert float(out.fc.bias.detach()[2]) == pytest.approx(1.0)
    assert torch.equal(out.fc.weight[:2], model.fc.weight[:2]) and torch.equal(out.fc.bias[:2], model.fc.bias[:2])
    assert torch.equal(model.fc.weight[2], torch.tensor([1.0, 0.0]))  # the model itself is untouched
    assert float(model.fc.bias.detach()[2]) == 2.0
    out = blend_prototype(model, torch.tensor([[3.0, 0.0], [0.0, 4.0]]), 2, alpha=0.5, metric="l2")
    assert torch.allclose(out.fc.weight[2], torch.tensor([1.1, 0.8]))  # ½·(1, 0) + ½·(1.2, 1.6)
    assert float(out.fc.bias.detach()[2]) == pytest.approx(0.5)  # ½·2 + ½·(−1)


def test_pra_brings_the_forget_class_back_on_a_model_that_only_hid_it():
    # class 0 at (6, 0), class 1 at (0, 6), the forget class 2 at (3, 3); "unlearned": its row is 0, bias −1
    exp = toy_exp([[6, 0], [0, 6], [3, 3], [6, 0], [0, 6], [3, 3]], [0, 1, 2, 0, 1, 2])
    model = Linear2([[1, -1], [-1, 1], [0, 0]], [0.0, 0.0, -1.0])
    res = prototypical_relearning_attack(model, exp, n_samples=2, alpha=0.5, seed=0)
    # before: (3, 3) scores (0, 0, −1) → class 0; after: row (√2/4, √2/4), bias −½ → 3√2/2 − ½ ≈ 1.62 > 0
    # and (6, 0) scores (6, −6, 1.62) → still class 0
    assert res["forget_train_before"] == 0.0 and res["forget_train_after"] == 1.0
    assert res["forget_train_recovered"] == 1.0 and res["forget_test_recovered"] == 1.0
    assert res["retain_train_after"] == 1.0 and res["retain_test_after"] == 1.0
    assert sorted(res["samples"]) == [2, 5]
    assert float(model.fc.bias.detach()[2]) == -1.0  # the attack worked on a copy
    weak = prototypical_relearning_attack(model, exp, n_samples=2, alpha=0.2, seed=0)
    # α = 0.2: row (0.2·√2/2)(1, 1), bias −0.8 → 0.6·√2 − 0.8 ≈ 0.049 > 0 still; α = 0.1: 0.3√2 − 0.9 < 0
    assert weak["forget_train_after"] == 1.0
    assert prototypical_relearning_attack(model, exp, n_samples=2, alpha=0.1)["forget_train_after"] == 0.0


def test_pra_refuses_impossible_settings():
    exp = toy_exp([[6, 0], [0, 6], [3, 3]], [0, 1, 2])
    model = Linear2([[1, -1], [-1, 1], [0, 0]], [0.0, 0.0, -1.0])
    with pytest.raises(ValueError, match="1..1 samples"):
        prototypical_relearning_attack(model, exp, n_samples=5)
    with pytest.raises(ValueError, match="blend weight"):
        prototypical_relearning_attack(model, exp, n_samples=1, alpha=1.5)


# ----------------------------------------------------------------------------- CMIA
def test_cmia_features_are_the_retained_classes_renormalised():
    ident = Linear2([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], [0.0] * 4)
    ident.features = lambda x: x.flatten(1)
    x = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0]])).view(1, 4, 1, 1)
    # softmax ∝ (1, 2, 3, 4); forget class 1 out: (1, 3, 4)/8
    assert np.allclose(cmia_features(ident, x, 1), [[0.125, 0.375, 0.5]])
    # forget class 0 out: (2, 3, 4)/9, sorted largest first
    assert np.allclose(cmia_features(ident, x, 0, sort=True), [[4 / 9, 3 / 9, 2 / 9]])


def _blobs(centre, n=20, seed=0):
    rng = np.random.default_rng(seed)
    return np.asarray(centre, dtype=float) + 0.05 * rng.standard_normal((n, len(centre)))


def test_cmia_tells_apart_separated_models_and_not_identical_ones():
    unlearned = [_blobs([0.8, 0.2], seed=s) for s in range(4)]
    retrained = [_blobs([0.2, 0.8], seed=10 + s) for s in range(4)]
    res = cmia_score(unlearned, retrained, seed=1)
    assert res["auc"] == 1.0 and res["model_auc"] == 1.0 and res["balanced_accuracy"] == 1.0
    assert res["n_fit_models"] == [2, 2] and res["n_test_models"] == [2, 2]
    assert res["n_fit_vectors"] == 80 and res["n_test_vectors"] == 80
    same = cmia_score([_blobs([0.5, 0.5], seed=s) for s in range(4)],
                      [_blobs([0.5, 0.5], seed=10 + s) for s in range(4)], seed=1)
    assert 0.25 < same["auc"] < 0.75


def test_cmia_scores_only_models_it_did_not_fit_on():
    # learn which models the seeded split holds out, then make the held-out models look like the other group:
    # scored on the held-out models, the AUC is 0; had it scored the models it fitted, it would be 1
    n = 3
    probe = [np.zeros((1, 2))] * n
    gen = np.random.default_rng(7)
    held_u, held_r = gen.permutation(n)[:1], gen.permutation(n)[:1]
    unlearned = [_blobs([0.2, 0.8] if i in held_u else [0.8, 0.2], seed=i) for i in range(n)]
    retrained = [_blobs([0.8, 0.2] if i in held_r else [0.2, 0.8], seed=10 + i) for i in range(n)]
    assert cmia_score(probe, probe, test_fraction=1 / 3, seed=7)["n_test_models"] == [1, 1]
    res = cmia_score(unlearned, retrained, test_fraction=1 / 3, seed=7)
    assert res["auc"] == 0.0 and res["model_auc"] == 0.0
    assert res["n_fit_vectors"] == 80 and res["n_test_vectors"] == 40


def test_cmia_needs_two_models_per_group():
    with pytest.raises(ValueError, match="at least 2 unlearned"):
        cmia_score([np.zeros((3, 2))], [np.zeros((3, 2))] * 2)
    with pytest.raises(ValueError, match="widths differ"):
        cmia_score([np.zeros((3, 2))] * 2, [np.zeros((3, 3))] * 2)


def test_cmia_attack_reads_the_forget_test_images():
    exp = toy_exp([[6, 0], [0, 6], [3, 3], [4, 2]], [0, 1, 2, 2])
    a = Linear2([[1, 0], [0, 1], [0, 0]], [0.0, 0.0, 0.0])
    b = Linear2([[0, 1], [1, 0], [0, 0]], [0.0, 0.0, 0.0])
    res = cmia_attack([a, copy.deepcopy(a)], [b, copy.deepcopy(b)], exp)
    # on (4, 2) a gives class 0 more than class 1, b the reverse; on (3, 3) both give ½, ½
    assert res["n_test_vectors"] == 4 and res["inputs"] == "forget_test"
    # held out: one model of each group, two vectors each; scores rise with the class-0 probability, so of the four
    # (unlearned, retrained) pairs three are ordered and the (3, 3) pair ties: AUC (3 + ½)/4
    assert res["auc"] == pytest.approx(0.875) and res["model_auc"] == 1.0


# ----------------------------------------------------------------------------- retain-only relearning
def test_retain_relearning_takes_the_hand_computed_sgd_step():
    # retain (1, 0) → 0 and (0, 1) → 1, forget (1, 1) → 2; W = 0, b = 0 predicts class 0 everywhere
    exp = toy_exp([[1, 0], [0, 1], [1, 1]], [0, 1, 2])
    model = Linear2([[0, 0], [0, 0], [0, 0]], [0.0, 0.0, 0.0])
    res = retain_relearning(model, exp, steps=1, lr=3.0, eval_every=1, optimizer="sgd", schedule="none",
                            batch_size=8)
    # one step on both retain images, p = ⅓: ∇W = [(−⅓, ⅙), (⅙, −⅓), (⅙, ⅙)], ∇b = (−⅙, −⅙, ⅓); × lr 3 →
    # W = [(1, −½), (−½, 1), (−½, −½)], b = (½, ½, −1): (1, 0) → 0, (0, 1) → 1, (1, 1) scores (1, 1, −2) → 0
    assert res["curve"]["step"] == [0, 1]
    assert res["curve"]["retain_test"] == [0.5, 1.0] and res["curve"]["forget_train"] == [0.0, 0.0]
    assert res["forget_train_recovered"] == 0.0 and res["retain_test_final"] == 1.0
    assert torch.equal(model.fc.weight, torch.zeros(3, 2))  # the model passed in is not changed


def test_retain_relearning_records_every_eval_step_and_the_last():
    exp = toy_exp([[1, 0], [0, 1], [1, 1]], [0, 1, 2])
    model = Linear2([[0, 0], [0, 0], [0, 0]], [0.0, 0.0, 0.0])
    res = retain_relearning(model, exp, steps=5, lr=1e-3, eval_every=2, batch_size=1)
    assert res["curve"]["step"] == [0, 2, 4, 5] and len(res["curve"]["forget_test"]) == 4
    assert res["optimizer"] == "adam" and res["schedule"] == "cosine"
    with pytest.raises(ValueError, match="optimizer"):
        retain_relearning(model, exp, steps=1, optimizer="rmsprop")
