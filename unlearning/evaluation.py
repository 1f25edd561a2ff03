"""Accuracies and predictions, batched, in eval mode without gradients."""
from __future__ import annotations

import torch
import torch.nn as nn


@torch.no_grad()
def predict(model: nn.Module, data, idx, batch_size: int = 1024, features: bool = False) -> torch.Tensor:
    """Logits (or penultimate features) of ``data[idx]``; restores the model's train/eval mode."""
    was_training = model.training
    model.eval()
    idx = torch.as_tensor(idx, dtype=torch.long).to(data.x.device)
    outs = []
    for b in range(0, len(idx), batch_size):
        x = data.normalize(data.x[idx[b:b + batch_size]])
        outs.append(model.features(x) if features else model(x))
    model.train(was_training)
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
