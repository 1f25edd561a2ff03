"""Pieces several methods share: the output layer, mean (squared) gradients."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..evaluation import eval_mode
from ..per_sample import num_trainable, trainable


def classifier_layer(model):
    """(name, module) of the last nn.Linear layer (the output layer); None without one."""
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last = (name, mod)
    return last


def head_of(model, what: str = "this method"):
    """The output layer (the last nn.Linear) of a model that also has ``features(x)`` (the penultimate features):
    what the methods and attacks that split features from the head need."""
    found = classifier_layer(model)
    if found is None or not hasattr(model, "features"):
        raise ValueError(f"{type(model).__name__} needs features(x) and a final nn.Linear for {what}")
    return found[1]


def mean_squared_grads(model, loader) -> Dict[str, torch.Tensor]:
    """Mean over batches of the squared minibatch gradient of the CE (SSD's importance), in eval mode."""
    params = trainable(model)
    acc = {k: torch.zeros_like(p) for k, p in params.items()}
    n = 0
    with eval_mode(model):
        for x, y in loader:
            grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(params.values()))
            for k, g in zip(params, grads):
                acc[k] += g.detach() ** 2
            n += 1
    return {k: v / max(n, 1) for k, v in acc.items()}


def mean_grad(model, loader) -> torch.Tensor:
    """Flat mean per-sample gradient of the CE over a loader's samples (eval mode)."""
    params = list(trainable(model).values())
    total, n = torch.zeros(num_trainable(model), device=params[0].device), 0
    with eval_mode(model):
        for x, y in loader:
            grads = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), params)
            total += torch.cat([g.reshape(-1) for g in grads])
            n += len(y)
    return total / max(n, 1)
