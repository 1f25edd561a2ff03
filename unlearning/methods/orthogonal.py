"""``<method>_orth``: orthogonal over-unlearning, then the replay of ``<method>_our``.

The later paper's over-unlearning: random labels on D_f + lam × an orthogonality penalty (mean squared off-diagonal
Gram entry of the L2-normalised, flattened outputs of the stages listed), Adam, ``steps`` optimiser steps; optionally
after the method with its plain settings. Then ``over_unlearning.run_replay``.

Settings ("orth": ``ORTH``; per method in its ``_our`` settings under "orth"):
    run_base    run <method> with its plain settings first (default True)
    steps       optimiser steps of the orthogonal over-unlearning (default 40)
    lr          its Adam learning rate (default 0.0025, the paper's amnesiac over-unlearning lr)
    lam         weight of the orthogonality penalty (default 1.0)
    stages      which stage outputs are penalised (default [-2, -1]: the last two)
    batch_size  D_f batch size (default: the preset's)
"""
from __future__ import annotations

import dataclasses
import functools
import time

import torch
import torch.nn.functional as F

from ..training import check_finite_model, cycle
from .registry import register_variant
from .replay import PHASE1, PHASE2, log_phase, run_replay

# every dataset: 108 steps (3 epochs of D_f at the CIFAR-20 scale) at lam 10, chosen on digits by the one-sided ReA
# against the negative_grad / amnesiac / badteacher / ssd_tuning variants at ≤ 0.4 pt of test accuracy
# (docs/findings.md); longer or stronger settings were no better
ORTH = {"run_base": True, "steps": 108, "lr": 0.0025, "lam": 10.0, "stages": [-2, -1]}


def orthogonality_penalty(features) -> torch.Tensor:
    """Σ over feature maps of the mean squared off-diagonal entry of the Gram matrix of the L2-normalised,
    flattened per-sample features (0 when the batch's features are mutually orthogonal, or for a single sample)."""
    total = None
    for h in features:
        z = F.normalize(h.flatten(1), dim=1)
        b = z.shape[0]
        gram = z @ z.T
        off = gram - torch.diag(torch.diagonal(gram))
        term = (off ** 2).sum() / max(b * (b - 1), 1)
        total = term if total is None else total + term
    return total


def _stage_features(model, x, stages):
    if not hasattr(model, "stage_outputs"):
        raise ValueError(f"the _orth variants need a model with stage_outputs(x) (the ResNets); "
                         f"{type(model).__name__} has none")
    outs = model.stage_outputs(x)
    return [outs[i] for i in stages]


def orthogonal_over_unlearn(ctx, model, settings: dict) -> dict:
    """Random labels on D_f (never the forget class) + lam · orthogonality penalty on the chosen stage outputs,
    Adam, exactly ``steps`` optimiser steps (cycling D_f). Retain accuracy may collapse (the replay repairs it)."""
    steps, lam = int(settings.get("steps", 40)), float(settings.get("lam", 1.0))
    stages = [int(i) for i in settings.get("stages", [-2, -1])]
    idx = ctx.split.forget_train
    loader = cycle(ctx.loader(idx, ctx.random_other_labels(len(idx), stream=41),
                              batch_size=settings.get("batch_size"), stream=41))
    opt = torch.optim.Adam(model.parameters(), lr=float(settings.get("lr", 0.0025)))
    model.train()
    for _ in range(steps):
        x, y = next(loader)
        feats = _stage_features(model, x, stages)
        ctx.reg.step(opt, F.cross_entropy(model(x), y) + lam * orthogonality_penalty(feats))
    check_finite_model(model)
    return {"orth_steps": steps, "orth_lam": lam, "orth_stages": stages}


def orth_over_unlearn_and_replay(entry, ctx, para1, para2):
    """``<method>_orth``: the method with its plain settings (unless orth.run_base is False), then the orthogonal
    over-unlearning (phase 1 ends), then the same replay as ``_our`` (phase 2)."""
    settings = ctx.settings.get("orth", {})
    if not hasattr(ctx.model, "stage_outputs"):
        raise ValueError(f"{entry.name}_orth needs a model with stage_outputs(x) (the ResNets); "
                         f"{type(ctx.model).__name__} has none")
    start = time.perf_counter()
    if settings.get("run_base", True):
        model = entry.fn(ctx, para1, para2)
        if model is not ctx.model:
            raise RuntimeError(f"{entry.name} must change ctx.model in place to be wrapped by _orth")
    log_phase(ctx, orthogonal_over_unlearn(ctx, ctx.model, settings))
    check_finite_model(ctx.model)
    seconds = time.perf_counter() - start
    if ctx.on_phase:
        ctx.on_phase(PHASE1, ctx.model, seconds)
    start = time.perf_counter()
    log_phase(ctx, run_replay(ctx, ctx.model, ctx.settings.get("replay", {})))
    seconds = time.perf_counter() - start
    if ctx.on_phase:
        ctx.on_phase(PHASE2, ctx.model, seconds)
    return ctx.model


def orth_variant(entry):
    """The registry entry ``<name>_orth`` for a method entry (generated, like ``our_variant``)."""
    return dataclasses.replace(
        entry, name=f"{entry.name}_orth", fn=functools.partial(orth_over_unlearn_and_replay, entry), gradient=True,
        base=entry.name,
        doc=f"Orthogonal over-unlearning & replay around {entry.name}: {entry.name} (its plain settings), then "
            "random labels on D_f + an orthogonality penalty on the normalised features of the last two stages "
            "(the 'orth' settings), then the replay of _our.",
    )


register_variant("_orth", orth_variant, "orth", ORTH)
