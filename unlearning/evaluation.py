"""Accuracies and predictions, batched, in eval mode without gradients."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn as nn


@contextlib.contextmanager
def eval_mode(*models: nn.Module):
    """Eval mode for the block (BatchNorm on running statistics, no dropout), then each model's own train/eval
    mode back, also when the block raises."""
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)


@torch.no_grad()
def predict(model: nn.Module, data, idx, batch_size: int = 1024, features: bool = False) -> torch.Tensor:
    """Logits (or penultimate features) of ``data[idx]``; restores the model's train/eval mode."""
    idx = torch.as_tensor(idx, dtype=torch.long).to(data.x.device)
    outs = []
    with eval_mode(model):
        for b in range(0, len(idx), batch_size):
            x = data.normalize(data.x[idx[b:b + batch_size]])
            outs.append((model.features(x) if features else model(x)).float())  # float32 under bf16 autocast too
    if not outs:
        return torch.empty(0)
    return torch.cat(outs)


def accuracy(model: nn.Module, data, idx, targets) -> float:
    """Fraction of ``data[idx]`` predicted as ``targets`` (nan for an empty set)."""
    if len(idx) == 0:
        return float("nan")
    pred = predict(model, data, idx).argmax(1)
    return (pred == torch.as_tensor(targets).to(pred.device)).float().mean().item()


def split_accuracy(model: nn.Module, exp, which: str) -> float:
    """Accuracy on a named subset of the experiment's split (e.g. 'retain_test', 'forget_train', 'val_idx')."""
    idx = getattr(exp.split, which)
    data = exp.test if which.endswith("_test") else exp.train
    return accuracy(model, data, idx, exp.split.targets(data.y[torch.as_tensor(idx).to(data.y.device)]))


# ----------------------------------------------------------------------------- entropy MIA on D_f
def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = torch.log_softmax(logits.float(), 1)
    return -(logp.exp() * logp).sum(1)


class EntropyMIA:
    """The prior attack: logistic regression on the softmax entropy; members = D_r, non-members = test data.

    The two fitting sets are balanced (a seeded subsample of D_r as large as the retain test set).
    """

    def __init__(self, model: nn.Module, exp, seed: int = 0):
        from sklearn.linear_model import LogisticRegression

        split = exp.split
        gen = torch.Generator().manual_seed(seed)
        n = min(len(split.retain_train), len(split.retain_test))
        members = split.retain_train[torch.randperm(len(split.retain_train), generator=gen)[:n]]
        non_members = split.retain_test[torch.randperm(len(split.retain_test), generator=gen)[:n]]
        h_in = softmax_entropy(predict(model, exp.train, members)).cpu().numpy()
        h_out = softmax_entropy(predict(model, exp.test, non_members)).cpu().numpy()
        X = np.concatenate([h_in, h_out])[:, None]
        y = np.concatenate([np.ones(len(h_in)), np.zeros(len(h_out))])
        self.clf = LogisticRegression(class_weight="balanced").fit(X, y)

    def member_rate(self, model: nn.Module, data, idx) -> float:
        """Fraction of ``data[idx]`` predicted 'member'."""
        if len(idx) == 0:
            return float("nan")
        h = softmax_entropy(predict(model, data, idx)).cpu().numpy()[:, None]
        return float(self.clf.predict(h).mean())


def entropy_mia(model: nn.Module, exp, seed: int = 0) -> float:
    """The efficacy table's MIA: fraction of D_f that an entropy attack on retain vs test data calls member."""
    return EntropyMIA(model, exp, seed).member_rate(model, exp.train, exp.split.forget_train)


def paper_entropy_mia(model: nn.Module, exp) -> float:
    """The paper's variant of the entropy MIA: logistic regression (balanced class weights) on the softmax entropy,
    members = all of D_r, non-members = the full test set of the trained classes (forget-class test images
    included); the fraction of D_f predicted member."""
    from sklearn.linear_model import LogisticRegression

    split = exp.split
    h_in = softmax_entropy(predict(model, exp.train, split.retain_train)).cpu().numpy()
    h_out = softmax_entropy(predict(model, exp.test, full_test_indices(exp))).cpu().numpy()
    X = np.concatenate([h_in, h_out])[:, None]
    y = np.concatenate([np.ones(len(h_in)), np.zeros(len(h_out))])
    clf = LogisticRegression(class_weight="balanced").fit(X, y)
    if len(split.forget_train) == 0:
        return float("nan")
    h_f = softmax_entropy(predict(model, exp.train, split.forget_train)).cpu().numpy()[:, None]
    return float(clf.predict(h_f).mean())


def full_test_indices(exp) -> torch.Tensor:
    """Test images of every trained class, the forget class included (OOD classes excluded): the paper's d_t set."""
    split = exp.split
    return torch.sort(torch.cat([torch.as_tensor(split.retain_test), torch.as_tensor(split.forget_test)]))[0]


def full_test_accuracy(model: nn.Module, exp) -> float:
    """The paper's d_t: accuracy on the full test set of the trained classes, forget class included (a forget-class
    image counts as correct only when predicted as the forget class)."""
    idx = full_test_indices(exp)
    data = exp.test
    return accuracy(model, data, idx, exp.split.targets(data.y[idx.to(data.y.device)]))


# ----------------------------------------------------------------------------- efficacy metrics (TA, UA, RA, MIA)
def efficacy_metrics(model: nn.Module, exp, seed: int = 0) -> dict:
    """TA (retain test), UA (D_f), RA (D_r), forget-test accuracy and the entropy MIA on D_f, as named floats, and
    the paper's versions next to ours: d_t (accuracy on the full test set, forget class included) and MIA_paper
    (non-members include the forget-class test images)."""
    return {
        "TA": split_accuracy(model, exp, "retain_test"),
        "UA": split_accuracy(model, exp, "forget_train"),
        "RA": split_accuracy(model, exp, "retain_train"),
        "forget_test_acc": split_accuracy(model, exp, "forget_test"),
        "MIA": entropy_mia(model, exp, seed),
        "d_t": full_test_accuracy(model, exp),
        "MIA_paper": paper_entropy_mia(model, exp),
    }
